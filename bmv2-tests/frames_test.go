package bmv2tests

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// host is a test endpoint attached to a switch port.
type host struct {
	name string
	port uint32
	mac  net.HardwareAddr
	ip4  netip.Addr
	ip6  netip.Addr
}

func mustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// flow describes one test packet.
type flow struct {
	src, dst   host
	srcMAC     net.HardwareAddr // overrides src.mac (spoofing)
	srcIP      netip.Addr       // overrides the source address (spoofing)
	v6         bool
	proto      layers.IPProtocol
	sport      uint16
	dport      uint16
	syn, ack   bool
	token      string // payload, unique per test packet
	dstMACOver net.HardwareAddr
}

func serialize(t *testing.T, ls ...gopacket.SerializableLayer) []byte {
	t.Helper()
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return buf.Bytes()
}

func (f flow) frame(t *testing.T) []byte {
	t.Helper()
	smac := f.src.mac
	if f.srcMAC != nil {
		smac = f.srcMAC
	}
	dmac := f.dst.mac
	if f.dstMACOver != nil {
		dmac = f.dstMACOver
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac}
	var netl gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	if f.v6 {
		src := f.src.ip6
		if f.srcIP.IsValid() {
			src = f.srcIP
		}
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: f.proto, SrcIP: src.AsSlice(), DstIP: f.dst.ip6.AsSlice()}
		netl = ip
		ls = append(ls, eth, ip)
	} else {
		src := f.src.ip4
		if f.srcIP.IsValid() {
			src = f.srcIP
		}
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: f.proto, SrcIP: src.AsSlice(), DstIP: f.dst.ip4.AsSlice()}
		netl = ip
		ls = append(ls, eth, ip)
	}
	switch f.proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), SYN: f.syn, ACK: f.ack, Window: 1024, Seq: 1}
		if err := tcp.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)}
		if err := udp.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		if err := icmp.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	default:
		t.Fatalf("flow: unsupported protocol %v", f.proto)
	}
	ls = append(ls, gopacket.Payload(f.token))
	return serialize(t, ls...)
}

// arpRequest is a broadcast ARP who-has from src, with token as trailer so
// the copies can be recognised.
func arpRequest(t *testing.T, src host, target netip.Addr, token string) []byte {
	eth := &layers.Ethernet{SrcMAC: src.mac, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: src.mac, SourceProtAddress: src.ip4.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice(),
	}
	return serialize(t, eth, arp, gopacket.Payload(token))
}

// lldpFrame is a minimal LLDPDU (chassis id, port id, TTL, end) whose port
// id carries token.
func lldpFrame(src net.HardwareAddr, token string) []byte {
	dst := net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}
	b := append([]byte{}, dst...)
	b = append(b, src...)
	b = binary.BigEndian.AppendUint16(b, 0x88cc)
	tlv := func(typ byte, v []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(typ)<<9|uint16(len(v)))
		b = append(b, v...)
	}
	tlv(1, append([]byte{4}, src...))   // chassis id: MAC address
	tlv(2, append([]byte{7}, token...)) // port id: locally assigned
	tlv(3, []byte{0, 120})              // TTL
	tlv(0, nil)                         // end
	return b
}
