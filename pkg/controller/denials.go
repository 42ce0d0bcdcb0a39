package controller

import (
	"context"
	"encoding/binary"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// The denied-flow log: a pipeline that reports denials (the v1model main:
// a denial_t digest, rate-limited in the data plane; the PNA main on
// DPDK: the denied frame itself as a packet-in marked in packet_in._pad,
// rate-limited by the server, denialframes.go) tells the primary
// controller of a sample of the packets it denied; the controller keeps
// them as flow records, one per (device, segment, source, destination,
// protocol, destination port), with first and last seen and a count of
// reports, names their endpoints and identities from the compiled model,
// and traces the first report of each again through the compiled entries
// to say which step denied it.

// DenialDigest is the name of the digest a pipeline reports denials with.
const DenialDigest = "denial_t"

// Denial is one denied flow.
type Denial struct {
	Device    string     `json:"device"`
	Segment   string     `json:"segment"`
	InPort    uint32     `json:"in_port"`
	Src       netip.Addr `json:"src"`
	Dst       netip.Addr `json:"dst"`
	Proto     int        `json:"proto"`
	SPort     uint16     `json:"sport"` // of the first report
	DPort     uint16     `json:"dport"`
	TCPFlags  uint8      `json:"tcp_flags"`
	SrcID     uint16     `json:"src_identity"`
	DstID     uint16     `json:"dst_identity"`
	SrcName   string     `json:"src_endpoint,omitempty"`
	DstName   string     `json:"dst_endpoint,omitempty"`
	DeniedBy  string     `json:"denied_by"` // acl, policy or default, as the switch says
	Rank      uint16     `json:"rank,omitempty"`
	Policy    string     `json:"policy,omitempty"` // the deciding policy, by the trace
	Trace     string     `json:"trace"`            // the trace's verdict and reason at the first report
	First     time.Time  `json:"first_seen"`
	Last      time.Time  `json:"last_seen"`
	Count     uint64     `json:"count"` // reports: the switch samples, so packets are at least this many
	Seq       uint64     `json:"seq"`   // the log's change counter when this record last changed
	Dissented bool       `json:"trace_disagrees,omitempty"`
}

// denialLog is the node's flow records, at most maxDenials, the least
// recently seen evicted first.
type denialLog struct {
	reportLog[Denial] // its mu guards records, seq and reports

	max     int
	records map[reportKey]*Denial
	seq     uint64
	reports map[[2]string]uint64 // (device, segment) -> reports, for metrics
}

const maxDenials = 10000

func newDenialLog() *denialLog {
	l := &denialLog{max: maxDenials, records: map[reportKey]*Denial{}, reports: map[[2]string]uint64{}}
	l.init("denial")
	return l
}

// configureDenials turns the device's denial digest on after the
// pipeline reached it, or says why there is none.
func (w *worker) configureDenials(ctx context.Context, s *p4rt.Session, p *pipeline.Pipeline) {
	w.configureFlows(ctx, s, p)
	d, ok := p.Info.Digest(DenialDigest)
	if !ok {
		w.update(func(st *DeviceStatus) {
			if _, marked := denialMark(p); marked {
				// Nothing to configure: the marked packet-ins come on the
				// stream, to the primary.
				st.DenialLog = "on"
				return
			}
			st.DenialLog = fmt.Sprintf("not supported: the %s pipeline reports no denials (no %s digest, no denial mark in packet_in)", w.dev.Target, DenialDigest)
		})
		return
	}
	state := configureReportDigest(ctx, s, d.ID)
	w.update(func(st *DeviceStatus) { st.DenialLog = state })
}

// digest takes one digest list from the device: acknowledged at once,
// then each denial logged.
func (w *worker) digest(s *p4rt.Session, l *p4v1.DigestList) {
	if err := s.AckDigest(l); err != nil {
		w.c.log.Debug("digest ack", "device", w.dev.Name, "err", err)
	}
	p, err := w.c.cfg.Targets(w.dev.Target)
	if err != nil {
		return
	}
	if w.flowDigest(p, l) {
		return
	}
	d, ok := p.Info.Digest(DenialDigest)
	if !ok || d.ID != l.GetDigestId() {
		w.c.denials.invalid(w.c, w.dev.Name, "unknown digest", fmt.Sprintf("digest id %d is not %s", l.GetDigestId(), DenialDigest))
		return
	}
	for _, data := range l.GetData() {
		vals, err := d.Decode(data)
		if err != nil {
			w.c.denials.invalid(w.c, w.dev.Name, "malformed", err.Error())
			continue
		}
		w.c.logDenial(w.dev.Name, vals, time.Now())
		w.c.logFlow(w.dev.Name, vals, time.Now(), true)
	}
}

func u64(b []byte) uint64 {
	v, _ := pipeline.ToUint64(b)
	return v
}

func addrOf(b []byte, v6 bool) (netip.Addr, bool) {
	var a [16]byte
	if len(b) > 16 {
		return netip.Addr{}, false
	}
	copy(a[16-len(b):], b)
	if v6 {
		return netip.AddrFrom16(a), true
	}
	if binary.BigEndian.Uint64(a[:8]) != 0 || binary.BigEndian.Uint32(a[8:12]) != 0 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4([4]byte(a[12:])), true
}

var deniedBy = map[uint64]string{1: "acl", 2: "policy", 3: "default"}

// logDenial adds one report to the log. A report naming an identity or
// segment the compiled model does not have is counted and logged once
// (the model may have changed since the switch sent it), never trusted.
// A report without a rank field (a marked packet-in, which carries none)
// takes the rank of the policy entry the trace finds deciding.
func (c *Controller) logDenial(dev string, v map[string][]byte, now time.Time) {
	l := c.denials
	k, by, ok := l.keyOf(c, dev, v, "denied_by")
	if !ok {
		return
	}
	src, dst, seg := k.src, k.dst, k.segment
	srcID, dstID := uint32(u64(v["src_identity"])), uint32(u64(v["dst_identity"]))
	c.mu.Lock()
	name, reason, detail := c.checkReportLocked(seg, srcID, dstID)
	c.mu.Unlock()
	if reason != "" {
		l.invalid(c, dev, reason, detail)
		return
	}

	l.mu.Lock()
	seen := l.againLocked(k, now)
	l.mu.Unlock()
	if seen {
		return
	}

	// A new flow: name what the report says, and trace it.
	r := &Denial{Device: dev, InPort: uint32(u64(v["ingress_port"])), Src: src, Dst: dst, Proto: int(k.proto),
		SPort: uint16(u64(v["l4_src"])), DPort: k.dport, TCPFlags: uint8(u64(v["tcp_flags"])),
		SrcID: uint16(u64(v["src_identity"])), DstID: uint16(u64(v["dst_identity"])), DeniedBy: by, Rank: uint16(u64(v["rank"])),
		First: now, Last: now, Count: 1}
	c.mu.Lock()
	r.SrcName, _ = c.compiler.EndpointAt(seg, src)
	r.DstName, _ = c.compiler.EndpointAt(seg, dst)
	res, terr := c.compiler.Trace(dev, policy.Packet{InPort: r.InPort, Src: src, Dst: dst, Proto: r.Proto, SPort: r.SPort, DPort: r.DPort, TCPFlags: r.TCPFlags})
	c.mu.Unlock()
	r.Segment = name
	switch {
	case terr != nil:
		r.Trace = "not traced: " + terr.Error()
	default:
		r.Trace = res.Verdict + ": " + res.Reason
		r.Policy = res.Policy
		r.Dissented = res.Verdict != policy.VerdictDeny
		if _, given := v["rank"]; !given && by == "policy" {
			r.Rank = res.Rank
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.againLocked(k, now) { // another report of the flow came first
		return
	}
	if len(l.records) >= l.max {
		l.evictLocked()
	}
	l.seq++
	r.Seq = l.seq
	l.records[k] = r
	l.reports[[2]string{dev, name}]++
	if r.Dissented {
		c.log.Warn("a denied flow traces as not denied (the model changed since?)", "device", dev, "src", src, "dst", dst, "trace", r.Trace)
	}
	l.sendLocked(*r)
}

// againLocked counts a report of a flow the log has, if it has it.
// Callers hold mu.
func (l *denialLog) againLocked(k reportKey, now time.Time) bool {
	r := l.records[k]
	if r == nil {
		return false
	}
	r.Last, r.Count = now, r.Count+1
	l.seq++
	r.Seq = l.seq
	l.reports[[2]string{k.device, r.Segment}]++
	l.sendLocked(*r)
	return true
}

// evictLocked drops the least recently seen record. Callers hold mu.
func (l *denialLog) evictLocked() {
	var oldest reportKey
	var at time.Time
	first := true
	for k, r := range l.records {
		if first || r.Last.Before(at) {
			oldest, at, first = k, r.Last, false
		}
	}
	delete(l.records, oldest)
}

// Denials returns the flow records of device dev (every device when
// empty) last seen at or after since, least recently seen first.
func (c *Controller) Denials(dev string, since time.Time) []Denial {
	l := c.denials
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Denial
	for _, r := range l.records {
		if (dev == "" || r.Device == dev) && !r.Last.Before(since) {
			out = append(out, *r)
		}
	}
	slices.SortFunc(out, func(a, b Denial) int {
		if c := a.Last.Compare(b.Last); c != 0 {
			return c
		}
		return int(a.Seq - b.Seq)
	})
	return out
}

// FollowDenials returns a channel of every record as it changes (new, or
// seen again) and a function that ends it. The channel holds 256; a
// follower that falls behind loses the oldest.
func (c *Controller) FollowDenials() (<-chan Denial, func()) {
	return c.denials.follow()
}

// denialCounts are the reports per (device, segment) and the ones not
// logged per (device, reason), for metrics.
func (l *denialLog) counts() (reports, dropped map[[2]string]uint64, records int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.reports), maps.Clone(l.dropped), len(l.records)
}

// ProtoName is a protocol's name in denial records.
func ProtoName(p int) string {
	switch p {
	case policy.ProtoTCP:
		return "tcp"
	case policy.ProtoUDP:
		return "udp"
	case policy.ProtoICMP:
		return "icmp"
	case policy.ProtoICMPv6:
		return "icmpv6"
	}
	return strconv.Itoa(p)
}
