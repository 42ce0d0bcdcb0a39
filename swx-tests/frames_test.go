package swxtests

import (
	"encoding/binary"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// host is a test endpoint on a pipeline port.
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

// flow is one test packet.
type flow struct {
	src, dst host
	srcMAC   net.HardwareAddr // spoofing
	srcIP    netip.Addr       // spoofing
	v6       bool
	proto    layers.IPProtocol
	sport    uint16
	dport    uint16
	syn, ack bool
	token    string
}

func (f flow) tok(t string) flow { f.token = t; return f }

func udp(src, dst host, dport uint16) flow {
	return flow{src: src, dst: dst, proto: layers.IPProtocolUDP, sport: 40000, dport: dport}
}

func tcp(src, dst host, sport, dport uint16, syn, ack bool) flow {
	return flow{src: src, dst: dst, proto: layers.IPProtocolTCP, sport: sport, dport: dport, syn: syn, ack: ack}
}

func (f flow) frame(t testing.TB) []byte {
	t.Helper()
	smac := f.src.mac
	if f.srcMAC != nil {
		smac = f.srcMAC
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: f.dst.mac}
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
		u := &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)}
		if err := u.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, u)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		if err := icmp.SetNetworkLayerForChecksum(netl); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	default:
		t.Fatalf("flow: protocol %v", f.proto)
	}
	ls = append(ls, gopacket.Payload(f.token))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lldpFrame is a minimal LLDPDU whose port id carries token.
func lldpFrame(src net.HardwareAddr, token string) []byte {
	b := append([]byte{}, 0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e)
	b = append(b, src...)
	b = binary.BigEndian.AppendUint16(b, 0x88cc)
	tlv := func(typ byte, v []byte) {
		b = binary.BigEndian.AppendUint16(b, uint16(typ)<<9|uint16(len(v)))
		b = append(b, v...)
	}
	tlv(1, append([]byte{4}, src...))
	tlv(2, append([]byte{7}, token...))
	tlv(3, []byte{0, 120})
	tlv(0, nil)
	return b
}
