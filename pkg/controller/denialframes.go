package controller

import (
	"encoding/binary"
	"fmt"
	"math/bits"
	"net"
	"net/netip"
	"time"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// Denials as packet-ins. A pipeline without a denial digest may report a
// denial by sending the denied frame itself to the CPU port, marked in
// packet_in._pad (the PNA main on DPDK, p4src/pna/main.p4: p4c-dpdk
// implements no digest; pipeline.Target.DenialMark). The frame carries
// what the digest's fields would say but the segment and the identities,
// which the controller reads from the compiled model as the switch's
// tables give them (policy.Compiler.Classify). The report then goes the
// digest's way: the same fields, the same records in the denial log and
// the flow log. The P4Runtime server rate-limits these as the v1model main
// does its digest (cmd/p4ctl-swx); unmarked packet-ins (LLDP, ARP, policy
// punts) are not denials.

// denialMark is the bit of packet_in._pad by which p marks a denied frame,
// when p's target has one and p's packet_in header has the fields to
// carry it (ingress_port, and a _pad wide enough).
func denialMark(p *pipeline.Pipeline) (uint64, bool) {
	mark := uint64(p.Target.DenialMark)
	if mark == 0 || p.Info == nil {
		return 0, false
	}
	md, ok := p.Info.PacketMetadata("packet_in")
	if !ok {
		return 0, false
	}
	var port, pad bool
	for _, f := range md.Fields {
		switch f.Name {
		case "ingress_port":
			port = true
		case "_pad":
			pad = int(f.Bitwidth) >= bits.Len64(mark)
		}
	}
	return mark, port && pad
}

// deniedFrame is what a denied frame's headers say, normalised as the
// pipeline normalises its flow fields (p4src/include/ingress.p4).
type deniedFrame struct {
	srcMAC       net.HardwareAddr
	src, dst     netip.Addr
	proto        uint8
	sport, dport uint16
	flags        uint8
}

// decodeDeniedFrame reads an Ethernet frame's IPv4 or IPv6 header and its
// L4 header as the pipeline's parser does (p4src/include/parser.p4):
// fixed-size headers at fixed offsets, no length or checksum checked, L4
// only after an IPv4 header without options that is not a later
// fragment, or directly after the IPv6 header (no extension headers
// walked); ports of TCP and UDP, flags of TCP. It reads the bytes itself
// rather than through gopacket's decoders, which check IHL and the total
// length against the frame: a frame crafted to fail those checks is still
// denied by the switch, and must not be left out of the log. A frame the
// parser could not have taken to a verdict (no IP, a header cut short) is
// an error.
func decodeDeniedFrame(b []byte) (deniedFrame, error) {
	var f deniedFrame
	if len(b) < 14 {
		return f, fmt.Errorf("a %d-byte frame", len(b))
	}
	f.srcMAC = net.HardwareAddr(b[6:12])
	var l4 []byte
	parseL4 := false
	switch etype := binary.BigEndian.Uint16(b[12:14]); etype {
	case etherIPv4:
		h := b[14:]
		if len(h) < 20 {
			return f, fmt.Errorf("ipv4: a %d-byte header", len(h))
		}
		f.src, f.dst = netip.AddrFrom4([4]byte(h[12:16])), netip.AddrFrom4([4]byte(h[16:20]))
		f.proto = h[9]
		ihl, fragOffset := h[0]&0xf, binary.BigEndian.Uint16(h[6:8])&0x1fff
		l4, parseL4 = h[20:], ihl == 5 && fragOffset == 0
	case etherIPv6:
		h := b[14:]
		if len(h) < 40 {
			return f, fmt.Errorf("ipv6: a %d-byte header", len(h))
		}
		f.src, f.dst = netip.AddrFrom16([16]byte(h[8:24])), netip.AddrFrom16([16]byte(h[24:40]))
		f.proto = h[6]
		l4, parseL4 = h[40:], true
	default:
		return f, fmt.Errorf("ethertype 0x%04x is not IPv4 or IPv6", etype)
	}
	if !parseL4 {
		return f, nil
	}
	need := 0
	switch {
	case f.proto == policy.ProtoTCP:
		need = 20
	case f.proto == policy.ProtoUDP:
		need = 8
	case f.proto == policy.ProtoICMP && f.src.Is4(), f.proto == policy.ProtoICMPv6 && f.src.Is6():
		need = 4
	}
	if len(l4) < need {
		return f, fmt.Errorf("%s: a %d-byte header", ProtoName(int(f.proto)), len(l4))
	}
	if f.proto == policy.ProtoTCP || f.proto == policy.ProtoUDP {
		f.sport, f.dport = binary.BigEndian.Uint16(l4[0:2]), binary.BigEndian.Uint16(l4[2:4])
	}
	if f.proto == policy.ProtoTCP {
		f.flags = l4[13] // CWR ECE URG ACK PSH RST SYN FIN
	}
	return f, nil
}

const (
	etherIPv4 = 0x0800
	etherIPv6 = 0x86DD
)

// logDeniedFrame logs a denied frame the switch sent as a packet-in,
// marked with reason (DENIED_BY_*), as the digest's report of it would
// be logged: in the denial log and the flow log.
func (c *Controller) logDeniedFrame(dev string, port uint32, reason uint64, frame []byte, now time.Time) {
	f, err := decodeDeniedFrame(frame)
	if err != nil {
		c.denials.invalid(c, dev, "malformed", "denied frame: "+err.Error())
		c.flows.invalid(c, dev, "malformed", "denied frame: "+err.Error())
		return
	}
	c.mu.Lock()
	seg, srcID, dstID, err := c.compiler.Classify(dev, port, f.srcMAC, f.src, f.dst)
	c.mu.Unlock()
	if err != nil {
		c.denials.invalid(c, dev, "unknown segment", "denied frame: "+err.Error())
		c.flows.invalid(c, dev, "unknown segment", "denied frame: "+err.Error())
		return
	}
	version := uint64(4)
	if f.src.Is6() {
		version = 6
	}
	U := pipeline.Uint
	// The digest's fields (denial_t), but rank: the frame carries none,
	// and logDenial takes it from the trace.
	v := map[string][]byte{
		"segment": U(uint64(seg)), "ingress_port": U(uint64(port)),
		"src_identity": U(uint64(srcID)), "dst_identity": U(uint64(dstID)),
		"ip_version": U(version), "src_addr": f.src.AsSlice(), "dst_addr": f.dst.AsSlice(),
		"ip_proto": U(uint64(f.proto)), "l4_src": U(uint64(f.sport)), "l4_dst": U(uint64(f.dport)),
		"tcp_flags": U(uint64(f.flags)), "denied_by": U(reason),
	}
	c.logDenial(dev, v, now)
	c.logFlow(dev, v, now, true)
}
