package swx

import (
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// The CPU port carries the controller headers of the P4Info in front of
// the frame: packet_out on the way in, packet_in on the way out, each its
// fields' bits in order, big-endian, padded to whole bytes.

func headerLen(m *pipeline.PacketMetadata) int { return (headerBits(m) + 7) / 8 }

// PacketOutFrame is the frame a packet-out puts into the CPU port: the
// packet_out header from its metadata, then the payload.
func PacketOutFrame(info *pipeline.Info, po *p4v1.PacketOut) ([]byte, error) {
	m, ok := info.PacketMetadata("packet_out")
	if !ok {
		return nil, errors.New("the pipeline declares no packet_out header")
	}
	vals := map[uint32][]byte{}
	for _, md := range po.GetMetadata() {
		vals[md.GetMetadataId()] = md.GetValue()
	}
	n := headerLen(m)
	acc := new(big.Int)
	for _, f := range m.Fields {
		v := new(big.Int).SetBytes(vals[f.ID])
		if v.BitLen() > int(f.Bitwidth) {
			return nil, fmt.Errorf("packet_out.%s: value 0x%x is wider than %d bits", f.Name, v, f.Bitwidth)
		}
		acc.Lsh(acc, uint(f.Bitwidth)).Or(acc, v)
	}
	pad := n*8 - headerBits(m)
	acc.Lsh(acc, uint(pad))
	out := make([]byte, n, n+len(po.GetPayload()))
	acc.FillBytes(out)
	return append(out, po.GetPayload()...), nil
}

func headerBits(m *pipeline.PacketMetadata) int {
	bits := 0
	for _, f := range m.Fields {
		bits += int(f.Bitwidth)
	}
	return bits
}

// PacketIn reads a frame the pipeline sent to the CPU port: the packet_in
// header's fields as metadata, the rest as the payload.
func PacketIn(info *pipeline.Info, frame []byte) (*p4v1.PacketIn, error) {
	m, ok := info.PacketMetadata("packet_in")
	if !ok {
		return nil, errors.New("the pipeline declares no packet_in header")
	}
	n := headerLen(m)
	if len(frame) < n {
		return nil, fmt.Errorf("a %d-byte frame from the CPU port is shorter than packet_in (%d)", len(frame), n)
	}
	acc := new(big.Int).SetBytes(frame[:n])
	acc.Rsh(acc, uint(n*8-headerBits(m)))
	md := make([]*p4v1.PacketMetadata, len(m.Fields))
	for i := len(m.Fields) - 1; i >= 0; i-- {
		f := m.Fields[i]
		mask := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(f.Bitwidth)), big.NewInt(1))
		v := new(big.Int).And(acc, mask)
		acc.Rsh(acc, uint(f.Bitwidth))
		md[i] = &p4v1.PacketMetadata{MetadataId: f.ID, Value: canonical(v)}
	}
	return &p4v1.PacketIn{Payload: append([]byte(nil), frame[n:]...), Metadata: md}, nil
}

// canonical is v's bytes without leading zeros, 0 as one zero byte.
func canonical(v *big.Int) []byte {
	if v.Sign() == 0 {
		return []byte{0}
	}
	return v.Bytes()
}

// Limiter is the CPU path's rate limit: at most Rate packet-ins a second
// with bursts of Burst. The SWX pipeline has no meter the PNA program can
// use on DPDK 22.11 and no clock to age registers by, so the limit the
// v1model main keeps in its registers is kept here, where the frames
// leave the data plane's ring; the ring itself (4096 frames) drops what
// the server does not read in time.
type Limiter struct {
	Rate  float64
	Burst float64

	mu      sync.Mutex
	tokens  float64
	last    time.Time
	dropped uint64
}

// Allow reports whether one more packet-in may go now.
func (l *Limiter) Allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Rate <= 0 {
		return true
	}
	if l.last.IsZero() {
		l.tokens = l.Burst
	} else {
		l.tokens = min(l.Burst, l.tokens+now.Sub(l.last).Seconds()*l.Rate)
	}
	l.last = now
	if l.tokens < 1 {
		l.dropped++
		return false
	}
	l.tokens--
	return true
}

// Dropped is how many packet-ins the limit dropped.
func (l *Limiter) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// DenialReport is the bit of packet_in's padding that marks a denied
// frame the PNA main sent to the CPU port; the bits below are the reason
// (DENIED_BY_*). The controller reads it from the dpdk target profile
// (pipeline.Target.DenialMark) and logs such packet-ins as denials.
const DenialReport = 0x80

// DenialLimiter is the v1model main's rate limit on denial reports, kept
// by the server because the SWX pipeline gives the program no clock: a
// flow (ingress port, source, destination, protocol, destination port) is
// reported once per epoch of 2^23 us (8.4 s), a source at most
// SourceBudget times per epoch.
type DenialLimiter struct {
	SourceBudget int

	mu      sync.Mutex
	epoch   int64
	flows   map[string]bool
	sources map[string]int
	dropped uint64
}

// Allow reports whether the denied frame (an Ethernet frame, from
// ingressPort) is reported now.
func (l *DenialLimiter) Allow(now time.Time, ingressPort uint64, frame []byte) bool {
	src, flow := flowKeys(ingressPort, frame)
	l.mu.Lock()
	defer l.mu.Unlock()
	if e := now.UnixMicro() >> 23; e != l.epoch || l.flows == nil {
		l.epoch, l.flows, l.sources = e, map[string]bool{}, map[string]int{}
	}
	budget := l.SourceBudget
	if budget <= 0 {
		budget = 16
	}
	if l.flows[flow] || l.sources[src] >= budget {
		l.dropped++
		return false
	}
	l.flows[flow] = true
	l.sources[src]++
	return true
}

// Dropped is how many denial reports the limit dropped.
func (l *DenialLimiter) Dropped() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.dropped
}

// flowKeys are a frame's source and flow as the denial limit counts them.
// A frame that does not parse as IPv4 or IPv6 is one flow per port.
func flowKeys(port uint64, b []byte) (src, flow string) {
	p := fmt.Sprint(port, "/")
	if len(b) < 14 {
		return p, p
	}
	etype, off := uint16(b[12])<<8|uint16(b[13]), 14
	if etype == 0x88B5 && len(b) >= off+6 { // the fabric tag: its own ethertype last
		etype, off = uint16(b[off+4])<<8|uint16(b[off+5]), off+6
	}
	var s, d []byte
	var proto byte
	var l4 int
	switch {
	case etype == 0x0800 && len(b) >= off+20:
		ihl := int(b[off]&0xf) * 4
		s, d, proto, l4 = b[off+12:off+16], b[off+16:off+20], b[off+9], off+ihl
	case etype == 0x86DD && len(b) >= off+40:
		s, d, proto, l4 = b[off+8:off+24], b[off+24:off+40], b[off+6], off+40
	default:
		return p, p
	}
	var dport uint16
	if (proto == 6 || proto == 17) && len(b) >= l4+4 {
		dport = uint16(b[l4+2])<<8 | uint16(b[l4+3])
	}
	src = p + string(s)
	return src, fmt.Sprint(src, "/", string(d), "/", proto, "/", dport)
}

// PacketInPort is a packet-in's ingress_port and _pad metadata.
func PacketInPort(info *pipeline.Info, pi *p4v1.PacketIn) (port, pad uint64, ok bool) {
	m, found := info.PacketMetadata("packet_in")
	if !found {
		return 0, 0, false
	}
	vals, err := m.DecodeMetadata(pi.GetMetadata())
	if err != nil {
		return 0, 0, false
	}
	port, ok = vals["ingress_port"]
	return port, vals["_pad"], ok
}
