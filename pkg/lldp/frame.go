// Package lldp is p4ctl's LLDP (IEEE 802.1AB): frames encoded and decoded
// on gopacket's layers, a neighbor table that ages entries out by their
// TTL, and a speaker that sends and hears LLDP on Linux interfaces. The
// controller uses the frames for link discovery through the switches'
// packet I/O; the host agent uses the speaker and the table.
package lldp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// EtherType is LLDP's Ethernet type.
const EtherType = 0x88cc

// MulticastMAC is the nearest-bridge group address LLDP frames go to; no
// bridge forwards it.
var MulticastMAC = net.HardwareAddr{0x01, 0x80, 0xc2, 0x00, 0x00, 0x0e}

// Chassis and port ID subtypes (802.1AB-2009, 8.5.2.2 and 8.5.3.2) that
// p4ctl reads specially; others are kept as opaque bytes.
const (
	ChassisMAC     = uint8(layers.LLDPChassisIDSubTypeMACAddr)
	ChassisNetwork = uint8(layers.LLDPChassisIDSubTypeNetworkAddr)
	ChassisIfName  = uint8(layers.LLDPChassisIDSubtypeIfaceName)
	ChassisLocal   = uint8(layers.LLDPChassisIDSubTypeLocal)
	PortMAC        = uint8(layers.LLDPPortIDSubtypeMACAddr)
	PortNetwork    = uint8(layers.LLDPPortIDSubtypeNetworkAddr)
	PortIfName     = uint8(layers.LLDPPortIDSubtypeIfaceName)
	PortLocal      = uint8(layers.LLDPPortIDSubtypeLocal)
)

// MaxTTL is the largest TTL an LLDPDU carries (a 16-bit count of seconds).
const MaxTTL = 65535 * time.Second

// Frame is one LLDPDU. IDs are raw bytes (as strings); ChassisString and
// PortString render them by subtype.
type Frame struct {
	ChassisIDSubtype uint8
	ChassisID        string
	PortIDSubtype    uint8
	PortID           string
	// TTL is how long the receiver keeps this information, in whole
	// seconds; 0 means the sender is shutting down: forget it now.
	TTL                 time.Duration
	PortDescription     string
	SystemName          string
	SystemDescription   string
	ManagementAddresses []netip.Addr
}

// ChassisString renders the chassis ID: a MAC or network address as such,
// other subtypes as text.
func (f Frame) ChassisString() string {
	return renderID(f.ChassisIDSubtype == ChassisMAC, f.ChassisIDSubtype == ChassisNetwork, f.ChassisID)
}

// PortString renders the port ID like ChassisString.
func (f Frame) PortString() string {
	return renderID(f.PortIDSubtype == PortMAC, f.PortIDSubtype == PortNetwork, f.PortID)
}

func renderID(mac, network bool, id string) string {
	switch {
	case mac && len(id) == 6:
		return net.HardwareAddr(id).String()
	case network && len(id) >= 1:
		if a, ok := netip.AddrFromSlice([]byte(id[1:])); ok {
			return a.String()
		}
	}
	return id
}

func (f Frame) check() error {
	switch {
	case f.ChassisIDSubtype < 1 || f.ChassisIDSubtype > 7:
		return fmt.Errorf("chassis ID subtype %d is not 1-7", f.ChassisIDSubtype)
	case len(f.ChassisID) < 1 || len(f.ChassisID) > 255:
		return fmt.Errorf("chassis ID of %d bytes (want 1-255)", len(f.ChassisID))
	case f.PortIDSubtype < 1 || f.PortIDSubtype > 7:
		return fmt.Errorf("port ID subtype %d is not 1-7", f.PortIDSubtype)
	case len(f.PortID) < 1 || len(f.PortID) > 255:
		return fmt.Errorf("port ID of %d bytes (want 1-255)", len(f.PortID))
	case f.TTL < 0 || f.TTL > MaxTTL:
		return fmt.Errorf("TTL %s out of range 0-%s", f.TTL, MaxTTL)
	case f.TTL%time.Second != 0:
		return fmt.Errorf("TTL %s is not whole seconds", f.TTL)
	}
	for name, s := range map[string]string{"port description": f.PortDescription, "system name": f.SystemName, "system description": f.SystemDescription} {
		if len(s) > 255 {
			return fmt.Errorf("%s of %d bytes (at most 255)", name, len(s))
		}
	}
	return nil
}

// Marshal encodes f as an Ethernet frame from src to the LLDP multicast
// address.
func (f Frame) Marshal(src net.HardwareAddr) ([]byte, error) {
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("lldp: %w", err)
	}
	if len(src) != 6 {
		return nil, fmt.Errorf("lldp: source MAC %q is not 6 bytes", src)
	}
	l := &layers.LinkLayerDiscovery{
		ChassisID: layers.LLDPChassisID{Subtype: layers.LLDPChassisIDSubType(f.ChassisIDSubtype), ID: []byte(f.ChassisID)},
		PortID:    layers.LLDPPortID{Subtype: layers.LLDPPortIDSubType(f.PortIDSubtype), ID: []byte(f.PortID)},
		TTL:       uint16(f.TTL / time.Second),
	}
	add := func(t layers.LLDPTLVType, v []byte) {
		l.Values = append(l.Values, layers.LinkLayerDiscoveryValue{Type: t, Length: uint16(len(v)), Value: v})
	}
	if f.PortDescription != "" {
		add(layers.LLDPTLVPortDescription, []byte(f.PortDescription))
	}
	if f.SystemName != "" {
		add(layers.LLDPTLVSysName, []byte(f.SystemName))
	}
	if f.SystemDescription != "" {
		add(layers.LLDPTLVSysDescription, []byte(f.SystemDescription))
	}
	for _, a := range f.ManagementAddresses {
		// Address string length (subtype + address), IANA family, the
		// address, interface numbering unknown (1) with number 0, no OID.
		family := byte(1)
		if a.Is6() {
			family = 2
		}
		b := a.AsSlice()
		v := append([]byte{byte(1 + len(b)), family}, b...)
		v = append(v, 1, 0, 0, 0, 0, 0)
		add(layers.LLDPTLVMgmtAddress, v)
	}
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: MulticastMAC, EthernetType: layers.EthernetTypeLinkLayerDiscovery}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{}, eth, l); err != nil {
		return nil, fmt.Errorf("lldp: %w", err)
	}
	return buf.Bytes(), nil
}

// ErrNotLLDP is returned by Parse for an Ethernet frame of another type.
var ErrNotLLDP = errors.New("not an LLDP frame")

// Parse decodes an Ethernet frame holding an LLDPDU. The mandatory TLVs
// must come first and in order (chassis ID, port ID, TTL), each once.
func Parse(frame []byte) (Frame, error) {
	if len(frame) < 14 {
		return Frame{}, fmt.Errorf("lldp: frame of %d bytes is shorter than an Ethernet header", len(frame))
	}
	if et := binary.BigEndian.Uint16(frame[12:14]); et != EtherType {
		return Frame{}, fmt.Errorf("lldp: ethertype %#04x: %w", et, ErrNotLLDP)
	}
	payload := frame[14:]
	if err := checkOrder(payload); err != nil {
		return Frame{}, fmt.Errorf("lldp: %w", err)
	}
	p := gopacket.NewPacket(payload, layers.LayerTypeLinkLayerDiscovery, gopacket.DecodeOptions{NoCopy: true, SkipDecodeRecovery: false})
	if el := p.ErrorLayer(); el != nil {
		return Frame{}, fmt.Errorf("lldp: %v", el.Error())
	}
	l, _ := p.Layer(layers.LayerTypeLinkLayerDiscovery).(*layers.LinkLayerDiscovery)
	info, _ := p.Layer(layers.LayerTypeLinkLayerDiscoveryInfo).(*layers.LinkLayerDiscoveryInfo)
	if l == nil || info == nil {
		return Frame{}, errors.New("lldp: no LLDPDU decoded")
	}
	f := Frame{
		ChassisIDSubtype: uint8(l.ChassisID.Subtype), ChassisID: string(l.ChassisID.ID),
		PortIDSubtype: uint8(l.PortID.Subtype), PortID: string(l.PortID.ID),
		TTL:             time.Duration(l.TTL) * time.Second,
		PortDescription: info.PortDescription, SystemName: info.SysName, SystemDescription: info.SysDescription,
	}
	for _, v := range l.Values {
		if v.Type != layers.LLDPTLVMgmtAddress || len(v.Value) < 2 {
			continue
		}
		n := int(v.Value[0]) // subtype + address
		if n < 2 || len(v.Value) < 1+n {
			continue
		}
		if a, ok := netip.AddrFromSlice(v.Value[2 : 1+n]); ok && (v.Value[1] == 1 && a.Is4() || v.Value[1] == 2 && a.Is6()) {
			f.ManagementAddresses = append(f.ManagementAddresses, a)
		}
	}
	if err := f.check(); err != nil {
		return Frame{}, fmt.Errorf("lldp: %w", err)
	}
	return f, nil
}

// checkOrder walks the TLV headers: chassis ID, port ID and TTL first and
// in that order, none of them again, and an End TLV before the data ends
// (what follows End is padding).
func checkOrder(b []byte) error {
	want := []layers.LLDPTLVType{layers.LLDPTLVChassisID, layers.LLDPTLVPortID, layers.LLDPTLVTTL}
	names := map[layers.LLDPTLVType]string{layers.LLDPTLVChassisID: "chassis ID", layers.LLDPTLVPortID: "port ID", layers.LLDPTLVTTL: "TTL"}
	for i := 0; ; i++ {
		if len(b) < 2 {
			return errors.New("LLDPDU ends without an End TLV")
		}
		t := layers.LLDPTLVType(b[0] >> 1)
		n := int(b[0]&1)<<8 | int(b[1])
		if len(b) < 2+n {
			return fmt.Errorf("TLV %d (type %d) of %d bytes runs past the frame", i+1, t, n)
		}
		switch {
		case i < len(want) && t != want[i]:
			return fmt.Errorf("TLV %d is type %d; the %s TLV must come there", i+1, t, names[want[i]])
		case i >= len(want) && names[t] != "":
			return fmt.Errorf("a second %s TLV (TLV %d)", names[t], i+1)
		case t == layers.LLDPTLVTTL && n != 2:
			return fmt.Errorf("TTL TLV of %d bytes (want 2)", n)
		case t == layers.LLDPTLVEnd:
			if i < len(want) {
				return errors.New("the End TLV comes before the mandatory TLVs")
			}
			return nil
		}
		b = b[2+n:]
	}
}

// String is a one-line summary for logs.
func (f Frame) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chassis %s port %s ttl %s", f.ChassisString(), f.PortString(), f.TTL)
	if f.SystemName != "" {
		fmt.Fprintf(&b, " system %q", f.SystemName)
	}
	return b.String()
}
