package controller

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// What the denied-flow log (denials.go) and the flow log (flows.go) have
// in common: both are fed by the switches' reports of flows (a denial
// feeds both), configure their digests alike, read what a report says of
// its flow alike, count and warn of the reports they cannot log alike,
// and send their records, as they change, to followers.

// configureReportDigest turns the report digest id on, and says whether
// the log it feeds is on, in DeviceStatus.DenialLog's terms.
func configureReportDigest(ctx context.Context, s *p4rt.Session, id uint32) string {
	if err := s.ConfigureDigest(ctx, id, p4rt.DigestConfig{MaxTimeout: 100 * time.Millisecond, MaxListSize: 64, AckTimeout: time.Second}); err != nil {
		return "off: " + err.Error()
	}
	return "on"
}

// reportKey is the flow a log keeps a record of: one per (device,
// segment, source, destination, protocol, destination port).
type reportKey struct {
	device   string
	segment  uint16
	src, dst netip.Addr
	proto    uint8
	dport    uint16
}

// reportLog is the part of a log the two share; R is the log's record.
// The log embeds it, and its mu guards the log's own fields too.
type reportLog[R any] struct {
	kind string // what the log calls a report in warnings: "denial", "flow"

	mu      sync.Mutex           // guards subs, dropped, warned, and the embedding log's fields
	subs    map[chan R]struct{}  // the followers
	dropped map[[2]string]uint64 // (device, reason) -> reports not logged
	warned  map[string]bool      // the (device, reason)s warned of once
}

// init readies an empty log whose warnings call a report kind.
func (l *reportLog[R]) init(kind string) {
	l.kind = kind
	l.subs = map[chan R]struct{}{}
	l.dropped = map[[2]string]uint64{}
	l.warned = map[string]bool{}
}

// invalid counts a report that is not logged, and logs the first of each
// kind per device.
func (l *reportLog[R]) invalid(c *Controller, dev, reason, detail string) {
	l.mu.Lock()
	l.dropped[[2]string{dev, reason}]++
	once := !l.warned[dev+"\x00"+reason]
	l.warned[dev+"\x00"+reason] = true
	l.mu.Unlock()
	if once {
		c.log.Warn(l.kind+" report not logged (logged once per device and reason)", "device", dev, "reason", reason, "detail", detail)
	}
}

// keyOf reads the flow report v names, and who decided it from field
// byField (denied_by, or decided_by): a report that is malformed is
// counted as invalid and ok is false.
func (l *reportLog[R]) keyOf(c *Controller, dev string, v map[string][]byte, byField string) (k reportKey, by string, ok bool) {
	version := u64(v["ip_version"])
	if version != 4 && version != 6 {
		l.invalid(c, dev, "malformed", fmt.Sprintf("ip_version %d", version))
		return k, "", false
	}
	src, ok1 := addrOf(v["src_addr"], version == 6)
	dst, ok2 := addrOf(v["dst_addr"], version == 6)
	if !ok1 || !ok2 {
		l.invalid(c, dev, "malformed", "an IPv4 report with an address wider than 32 bits")
		return k, "", false
	}
	by, ok = deniedBy[u64(v[byField])]
	if !ok {
		l.invalid(c, dev, "malformed", fmt.Sprintf("%s %d", byField, u64(v[byField])))
		return k, "", false
	}
	return reportKey{device: dev, segment: uint16(u64(v["segment"])), src: src, dst: dst, proto: uint8(u64(v["ip_proto"])), dport: uint16(u64(v["l4_dst"]))}, by, true
}

// checkReportLocked checks that the compiled model has the segment and
// identities a report names (identity 0 is "no endpoint" and always
// known): the segment's name, or the reason and detail the report is
// not logged for. Callers hold c.mu.
func (c *Controller) checkReportLocked(seg uint16, srcID, dstID uint32) (name, reason, detail string) {
	name, segOK := c.compiler.SegmentByID(seg)
	_, _, _, srcOK := c.compiler.IdentityOf(srcID)
	_, _, _, dstOK := c.compiler.IdentityOf(dstID)
	switch {
	case !segOK:
		return name, "unknown segment", fmt.Sprintf("segment id %d", seg)
	case !srcOK && srcID != 0 || !dstOK && dstID != 0:
		return name, "unknown identity", fmt.Sprintf("identities %d -> %d", srcID, dstID)
	}
	return name, "", ""
}

// sendLocked sends r to every follower; one that falls behind loses the
// oldest. Callers hold mu.
func (l *reportLog[R]) sendLocked(r R) {
	for ch := range l.subs {
		sendDropOldest(ch, r)
	}
}

// follow returns a channel of every record as it changes (new, or seen
// again) and a function that ends it. The channel holds 256; a follower
// that falls behind loses the oldest.
func (l *reportLog[R]) follow() (<-chan R, func()) {
	ch := make(chan R, 256)
	l.mu.Lock()
	l.subs[ch] = struct{}{}
	l.mu.Unlock()
	return ch, func() {
		l.mu.Lock()
		delete(l.subs, ch)
		l.mu.Unlock()
	}
}
