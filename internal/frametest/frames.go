// Package frametest is the traffic of the data-plane test tiers
// (bmv2-tests, swx-tests): it builds the frames a test sends into a switch,
// each carrying a token, recognises them by that token where they come out,
// and draws the random flows the differential test checks against
// policy trace.
package frametest

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// Host is a test endpoint attached to a switch port.
type Host struct {
	Name string
	Port uint32
	MAC  net.HardwareAddr
	IP4  netip.Addr
	IP6  netip.Addr
}

// MustMAC parses a MAC address, panicking on a malformed one.
func MustMAC(s string) net.HardwareAddr {
	m, err := net.ParseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

// Flow describes one test packet from Src to Dst.
type Flow struct {
	Src, Dst Host
	SrcMAC   net.HardwareAddr // overrides Src.MAC (spoofing)
	DstMAC   net.HardwareAddr // overrides Dst.MAC
	SrcIP    netip.Addr       // overrides the source address (spoofing)
	V6       bool
	Proto    layers.IPProtocol // TCP, UDP, ICMPv4 or ICMPv6
	SPort    uint16
	DPort    uint16
	SYN, ACK bool
	Token    string // payload, unique per test packet
}

// WithToken is f carrying tok.
func (f Flow) WithToken(tok string) Flow { f.Token = tok; return f }

// Frame is f as an Ethernet frame, lengths and checksums filled in; it
// fails tb on a flow it cannot build.
func (f Flow) Frame(tb testing.TB) []byte {
	tb.Helper()
	b, err := f.build()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (f Flow) build() ([]byte, error) {
	smac := f.Src.MAC
	if f.SrcMAC != nil {
		smac = f.SrcMAC
	}
	dmac := f.Dst.MAC
	if f.DstMAC != nil {
		dmac = f.DstMAC
	}
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac}
	var netl gopacket.NetworkLayer
	var ls []gopacket.SerializableLayer
	if f.V6 {
		src := f.Src.IP6
		if f.SrcIP.IsValid() {
			src = f.SrcIP
		}
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: f.Proto, SrcIP: src.AsSlice(), DstIP: f.Dst.IP6.AsSlice()}
		netl = ip
		ls = append(ls, eth, ip)
	} else {
		src := f.Src.IP4
		if f.SrcIP.IsValid() {
			src = f.SrcIP
		}
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: f.Proto, SrcIP: src.AsSlice(), DstIP: f.Dst.IP4.AsSlice()}
		netl = ip
		ls = append(ls, eth, ip)
	}
	switch f.Proto {
	case layers.IPProtocolTCP:
		tcp := &layers.TCP{SrcPort: layers.TCPPort(f.SPort), DstPort: layers.TCPPort(f.DPort), SYN: f.SYN, ACK: f.ACK, Window: 1024, Seq: 1}
		if err := tcp.SetNetworkLayerForChecksum(netl); err != nil {
			return nil, err
		}
		ls = append(ls, tcp)
	case layers.IPProtocolUDP:
		udp := &layers.UDP{SrcPort: layers.UDPPort(f.SPort), DstPort: layers.UDPPort(f.DPort)}
		if err := udp.SetNetworkLayerForChecksum(netl); err != nil {
			return nil, err
		}
		ls = append(ls, udp)
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
	case layers.IPProtocolICMPv6:
		icmp := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		if err := icmp.SetNetworkLayerForChecksum(netl); err != nil {
			return nil, err
		}
		ls = append(ls, icmp, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	default:
		return nil, fmt.Errorf("flow: unsupported protocol %v", f.Proto)
	}
	ls = append(ls, gopacket.Payload(f.Token))
	return serialize(ls...)
}

func serialize(ls ...gopacket.SerializableLayer) ([]byte, error) {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		return nil, fmt.Errorf("serialize: %w", err)
	}
	return buf.Bytes(), nil
}

// ARPRequest is a broadcast ARP who-has for target from src, with token as
// trailer so that the copies can be recognised.
func ARPRequest(tb testing.TB, src Host, target netip.Addr, token string) []byte {
	tb.Helper()
	eth := &layers.Ethernet{SrcMAC: src.MAC, DstMAC: layers.EthernetBroadcast, EthernetType: layers.EthernetTypeARP}
	arp := &layers.ARP{
		AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: layers.ARPRequest, SourceHwAddress: src.MAC, SourceProtAddress: src.IP4.AsSlice(),
		DstHwAddress: make([]byte, 6), DstProtAddress: target.AsSlice(),
	}
	b, err := serialize(eth, arp, gopacket.Payload(token))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// LLDP is a minimal LLDPDU from src (chassis id, port id, TTL, end) whose
// port id carries token.
func LLDP(src net.HardwareAddr, token string) []byte {
	b := []byte{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e} // nearest bridge
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

// ContainsToken reports whether b carries tok exactly, not as the prefix
// of a longer one (":1" does not match ":10").
func ContainsToken(b []byte, tok string) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(tok))
		if j < 0 {
			return false
		}
		end := i + j + len(tok)
		if end == len(b) || b[end] < '0' || b[end] > '9' {
			return true
		}
		i = end
	}
}
