package controller

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// The flow log: the first packets of flows, allowed (a flow_t digest) and
// denied (the denial_t digest, which also feeds the denied-flow log of
// denials.go), as the switch reports them to the device's master,
// rate-limited in the data plane (p4src/v1model/main.p4: a flow at most
// once per 8.4 s epoch, a source at most 16 reports per epoch). The
// master keeps one record per (device, segment, source, destination,
// protocol, destination port) with the switch's verdict, first and last
// seen and a count of reports, at most Config.MaxFlowRecords
// (DefaultMaxFlowRecords), the least recently seen evicted first (an LRU
// list, so a report costs the same when the log is full).
//
// What decided, and what the staged policies would decide, are judged
// from the model when a record is read or followed (policy.Evaluator,
// rebuilt when the model changes), so they always say what the current
// model means: "allowed by web-to-app; would be denied by staged
// web-lockdown".
//
// The log is not replicated. After a failover the new master configures
// the digests when it reconciles the device, and the log of that device
// is rebuilt on it from new reports: a flow still running is reported
// again in the first epoch after that (at most 8.4 s, within the source's
// budget), so the gap is the failover plus one epoch. A member that
// mastered the device before and is still up keeps its records, and the
// cluster-wide Flows stream merges every member's.

// FlowDigest is the name of the digest a pipeline reports allowed flows
// with; denials come with DenialDigest.
const FlowDigest = "flow_t"

// DefaultMaxFlowRecords is how many flow records a node keeps unless
// Config.MaxFlowRecords says otherwise.
const DefaultMaxFlowRecords = 50000

// FlowRecord is one flow as the log holds it: what the switch reported,
// and (set by Flows and FollowFlows) what the model says of it.
type FlowRecord struct {
	Device    string     `json:"device"`
	Segment   string     `json:"segment"`
	InPort    uint32     `json:"in_port"`
	Src       netip.Addr `json:"src"`
	Dst       netip.Addr `json:"dst"`
	Proto     int        `json:"proto"`
	SPort     uint16     `json:"sport"` // of the first report
	DPort     uint16     `json:"dport"`
	SrcID     uint16     `json:"src_identity"`
	DstID     uint16     `json:"dst_identity"`
	SrcName   string     `json:"src_endpoint,omitempty"`
	DstName   string     `json:"dst_endpoint,omitempty"`
	Verdict   string     `json:"verdict"`    // allow or deny, as the switch reported it
	DecidedBy string     `json:"decided_by"` // acl, policy or default, as the switch says
	Rank      uint16     `json:"rank,omitempty"`
	First     time.Time  `json:"first_seen"`
	Last      time.Time  `json:"last_seen"`
	Count     uint64     `json:"count"` // reports (a sample: packets are at least this many)
	Seq       uint64     `json:"seq"`

	// Judged from the current model.
	Policy        string `json:"policy,omitempty"` // the enforced policy that decides it; empty: the default
	Reply         bool   `json:"reply,omitempty"`  // a reply entry allows it: the reverse of an allowed flow
	Disagrees     bool   `json:"model_disagrees,omitempty"`
	StagedVerdict string `json:"staged_verdict,omitempty"` // with the staged policies; set when the segment has some
	StagedPolicy  string `json:"staged_policy,omitempty"`
	StagedByStage bool   `json:"staged_decides,omitempty"` // a staged policy decides it
}

// flowEntry is a record in the LRU list (front: most recently seen).
type flowEntry struct {
	FlowRecord
	key        reportKey
	prev, next *flowEntry
}

type flowLog struct {
	reportLog[FlowRecord] // its mu guards max, records, head, tail, seq, reports and evicted

	max        int
	records    map[reportKey]*flowEntry
	head, tail *flowEntry
	seq        uint64
	reports    map[[3]string]uint64 // (device, segment, verdict) -> reports
	evicted    uint64

	evalMu   sync.Mutex // guards eval
	eval     *policy.Evaluator
	reportsD *prometheus.Desc
	droppedD *prometheus.Desc
	recordsD *prometheus.Desc
	evictedD *prometheus.Desc
}

func newFlowLog(max int) *flowLog {
	if max <= 0 {
		max = DefaultMaxFlowRecords
	}
	l := &flowLog{max: max, records: map[reportKey]*flowEntry{}, reports: map[[3]string]uint64{},
		reportsD: prometheus.NewDesc("p4ctl_flow_reports_total", "Flow starts the switches reported (a sample, rate-limited in the data plane), by segment and the switch's verdict.",
			[]string{"device", "segment", "verdict"}, nil),
		droppedD: prometheus.NewDesc("p4ctl_flow_reports_dropped_total", "Flow reports not logged: malformed, or naming a segment or identity the model does not have.",
			[]string{"device", "reason"}, nil),
		recordsD: prometheus.NewDesc("p4ctl_flow_records", "Flow records held (at most the cap; the least recently seen are evicted).", nil, nil),
		evictedD: prometheus.NewDesc("p4ctl_flow_records_evicted_total", "Flow records evicted to keep the log within its cap.", nil, nil),
	}
	l.init("flow")
	return l
}

// configureFlows turns the device's flow digest on after the pipeline
// reached it, or says why there is none.
func (w *worker) configureFlows(ctx context.Context, s *p4rt.Session, p *pipeline.Pipeline) {
	d, ok := p.Info.Digest(FlowDigest)
	if !ok {
		w.update(func(st *DeviceStatus) { st.FlowLog = noFlowDigest(w.dev.Target) })
		return
	}
	state := configureReportDigest(ctx, s, d.ID)
	w.update(func(st *DeviceStatus) { st.FlowLog = state })
}

// noFlowDigest is DeviceStatus.FlowLog of a device whose target's
// pipeline has no flow digest.
func noFlowDigest(target string) string {
	return fmt.Sprintf("not supported: the %s pipeline reports no allowed flows (no %s digest)", target, FlowDigest)
}

// flowLogSupport says, before the pipeline reached the device (or when
// it never will: a target without a build), whether its target's
// pipeline has the flow digest at all.
func (c *Controller) flowLogSupport(dev *policy.Device, st *DeviceStatus) {
	if st.FlowLog != "" || dev == nil {
		return
	}
	p, err := c.cfg.Targets(dev.Target)
	if err != nil {
		return
	}
	if _, ok := p.Info.Digest(FlowDigest); !ok {
		st.FlowLog = noFlowDigest(dev.Target)
	}
}

// flowDigest logs the allowed flows of digest list l if it is the flow
// digest, and says whether it was.
func (w *worker) flowDigest(p *pipeline.Pipeline, l *p4v1.DigestList) bool {
	d, ok := p.Info.Digest(FlowDigest)
	if !ok || d.ID != l.GetDigestId() {
		return false
	}
	now := time.Now()
	for _, data := range l.GetData() {
		vals, err := d.Decode(data)
		if err != nil {
			w.c.flows.invalid(w.c, w.dev.Name, "malformed", err.Error())
			continue
		}
		w.c.logFlow(w.dev.Name, vals, now, false)
	}
	return true
}

// logFlow adds one report to the flow log: denied when it came as a
// denial. Reports naming what the model does not have are counted and
// logged once, as denials are.
func (c *Controller) logFlow(dev string, v map[string][]byte, now time.Time, denied bool) {
	l := c.flows
	byField, verdict := "decided_by", policy.VerdictAllow
	if denied {
		byField, verdict = "denied_by", policy.VerdictDeny
	}
	k, by, ok := l.keyOf(c, dev, v, byField)
	if !ok {
		return
	}

	l.mu.Lock()
	if e := l.records[k]; e != nil && e.Verdict == verdict {
		l.touchLocked(e, now)
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()

	srcID, dstID := uint32(u64(v["src_identity"])), uint32(u64(v["dst_identity"]))
	c.mu.Lock()
	name, reason, detail := c.checkReportLocked(k.segment, srcID, dstID)
	var srcName, dstName string
	if reason == "" {
		srcName, _ = c.compiler.EndpointAt(k.segment, k.src)
		dstName, _ = c.compiler.EndpointAt(k.segment, k.dst)
	}
	c.mu.Unlock()
	if reason != "" {
		l.invalid(c, dev, reason, detail)
		return
	}
	r := FlowRecord{Device: dev, Segment: name, InPort: uint32(u64(v["ingress_port"])), Src: k.src, Dst: k.dst, Proto: int(k.proto),
		SPort: uint16(u64(v["l4_src"])), DPort: k.dport, SrcID: uint16(srcID), DstID: uint16(dstID), SrcName: srcName, DstName: dstName,
		Verdict: verdict, DecidedBy: by, Rank: uint16(u64(v["rank"])), First: now, Last: now, Count: 1}

	l.mu.Lock()
	defer l.mu.Unlock()
	if e := l.records[k]; e != nil {
		if e.Verdict == verdict { // another report of the flow came first
			l.touchLocked(e, now)
			return
		}
		// The verdict changed (a policy change): the record starts again.
		l.unlinkLocked(e)
		delete(l.records, k)
	}
	for len(l.records) >= l.max {
		l.evictOldestLocked()
	}
	e := &flowEntry{FlowRecord: r, key: k}
	l.seq++
	e.Seq = l.seq
	l.records[k] = e
	l.pushFrontLocked(e)
	l.reports[[3]string{dev, name, verdict}]++
	l.publishLocked(e.FlowRecord)
}

// touchLocked counts another report of e and makes it the most recently
// seen. Callers hold mu.
func (l *flowLog) touchLocked(e *flowEntry, now time.Time) {
	e.Last, e.Count = now, e.Count+1
	l.seq++
	e.Seq = l.seq
	l.unlinkLocked(e)
	l.pushFrontLocked(e)
	l.reports[[3]string{e.Device, e.Segment, e.Verdict}]++
	l.publishLocked(e.FlowRecord)
}

// pushFrontLocked makes e the most recently seen. Callers hold mu.
func (l *flowLog) pushFrontLocked(e *flowEntry) {
	e.prev, e.next = nil, l.head
	if l.head != nil {
		l.head.prev = e
	}
	l.head = e
	if l.tail == nil {
		l.tail = e
	}
}

// unlinkLocked takes e out of the list. Callers hold mu.
func (l *flowLog) unlinkLocked(e *flowEntry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.prev, e.next = nil, nil
}

// evictOldestLocked drops the least recently seen record. Callers hold
// mu.
func (l *flowLog) evictOldestLocked() {
	e := l.tail
	if e == nil {
		return
	}
	l.unlinkLocked(e)
	delete(l.records, e.key)
	l.evicted++
}

// publishLocked sends r, judged, to every follower. Callers hold mu.
func (l *flowLog) publishLocked(r FlowRecord) {
	if len(l.subs) == 0 {
		return
	}
	if ev := l.evalCached(); ev != nil {
		judge(ev, &r)
	}
	l.sendLocked(r)
}

// evaluator is the evaluator of the controller's current model, built
// again when the model changed.
func (c *Controller) evaluator() *policy.Evaluator {
	m := c.Model()
	l := c.flows
	l.evalMu.Lock()
	defer l.evalMu.Unlock()
	if l.eval == nil || l.eval.Model() != m {
		l.eval = policy.NewEvaluator(m)
	}
	return l.eval
}

func (l *flowLog) evalCached() *policy.Evaluator {
	l.evalMu.Lock()
	defer l.evalMu.Unlock()
	return l.eval
}

// judge fills in what the model says of r: the deciding enforced policy,
// whether it is a reply, whether the model disagrees with the switch, and
// with the staged policies, what they would decide.
func judge(ev *policy.Evaluator, r *FlowRecord) {
	f := policy.Flow{Segment: r.Segment, Src: r.Src, Dst: r.Dst, Proto: r.Proto, SPort: r.SPort, DPort: r.DPort}
	d := ev.Decide(f, false)
	r.Policy, r.Reply = d.Policy, d.Reply
	r.Disagrees = d.Verdict != r.Verdict && !(d.Verdict == policy.VerdictPunt)
	r.StagedVerdict, r.StagedPolicy, r.StagedByStage = "", "", false
	if ev.HasStaged(r.Segment) {
		s := ev.Decide(f, true)
		r.StagedVerdict, r.StagedPolicy, r.StagedByStage = s.Verdict, s.Policy, s.Staged
	}
}

// FlowFilter selects flow records. Zero values select everything.
type FlowFilter struct {
	Device  string
	Segment string
	Since   time.Time
	Verdict string // allow or deny: the switch's verdict
	Policy  string // the deciding policy, enforced or staged
	// From and To select the records whose source (destination) endpoint
	// has labels the selector matches, in the current model; a record
	// without that endpoint is not selected.
	From, To   policy.Selector
	HasFrom    bool
	HasTo      bool
	NoReplies  bool // leave out the replies of allowed flows
	StagedOnly bool // only records the staged policies would decide otherwise
}

func (f *FlowFilter) match(ev *policy.Evaluator, r *FlowRecord) bool {
	switch {
	case f.Device != "" && r.Device != f.Device,
		f.Segment != "" && r.Segment != f.Segment,
		r.Last.Before(f.Since),
		f.Verdict != "" && r.Verdict != f.Verdict,
		f.Policy != "" && r.Policy != f.Policy && r.StagedPolicy != f.Policy,
		f.NoReplies && r.Reply,
		f.StagedOnly && (r.StagedVerdict == "" || r.StagedVerdict == r.Verdict):
		return false
	}
	for _, side := range []struct {
		has  bool
		sel  policy.Selector
		addr netip.Addr
	}{{f.HasFrom, f.From, r.Src}, {f.HasTo, f.To, r.Dst}} {
		if !side.has {
			continue
		}
		e := ev.Endpoint(r.Segment, side.addr)
		if e == nil || !side.sel.Matches(e.Labels) {
			return false
		}
	}
	return true
}

// Flows returns the records f selects, judged on the current model,
// least recently seen first.
func (c *Controller) Flows(f FlowFilter) []FlowRecord {
	ev := c.evaluator()
	l := c.flows
	l.mu.Lock()
	out := make([]FlowRecord, 0, len(l.records))
	for e := l.tail; e != nil; e = e.prev {
		out = append(out, e.FlowRecord)
	}
	l.mu.Unlock()
	n := 0
	for i := range out {
		judge(ev, &out[i])
		if f.match(ev, &out[i]) {
			out[n] = out[i]
			n++
		}
	}
	return out[:n]
}

// MatchFlow judges r on the current model, as a follower should see it,
// and reports whether f selects it.
func (c *Controller) MatchFlow(f FlowFilter, r *FlowRecord) bool {
	// Judged again on the model of now: publishLocked judged it on the
	// evaluator it had cached, which a model change since leaves behind.
	ev := c.evaluator()
	judge(ev, r)
	return f.match(ev, r)
}

// FollowFlows returns a channel of every record as it changes (new, or
// seen again), judged, and a function that ends it. The channel holds
// 256; a follower that falls behind loses the oldest.
func (c *Controller) FollowFlows() (<-chan FlowRecord, func()) {
	c.evaluator() // so that publishLocked has one
	return c.flows.follow()
}

// StagedHits are, per policy, the flow records (and their reports) a
// policy decides when the staged policies are added: for staged policies,
// their hits in the flow log, as `get policies --counters` shows them.
type StagedHits struct {
	Policy  string `json:"policy"`
	Flows   int    `json:"flows"`
	Reports uint64 `json:"reports"`
	Changed int    `json:"changed"` // flows whose verdict it changes
}

// StagedHits counts, for every staged policy, the held flows it would
// decide.
func (c *Controller) StagedHits() []StagedHits {
	byName := map[string]*StagedHits{}
	for _, r := range c.Flows(FlowFilter{NoReplies: true}) {
		if !r.StagedByStage {
			continue
		}
		h := byName[r.StagedPolicy]
		if h == nil {
			h = &StagedHits{Policy: r.StagedPolicy}
			byName[r.StagedPolicy] = h
		}
		h.Flows++
		h.Reports += r.Count
		if r.StagedVerdict != r.Verdict {
			h.Changed++
		}
	}
	out := make([]StagedHits, 0, len(byName))
	for _, h := range byName {
		out = append(out, *h)
	}
	slices.SortFunc(out, func(a, b StagedHits) int {
		switch {
		case a.Policy < b.Policy:
			return -1
		case a.Policy > b.Policy:
			return 1
		}
		return 0
	})
	return out
}

func (l *flowLog) describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{l.reportsD, l.droppedD, l.recordsD, l.evictedD} {
		ch <- d
	}
}

func (l *flowLog) collect(ch chan<- prometheus.Metric) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, n := range l.reports {
		ch <- prometheus.MustNewConstMetric(l.reportsD, prometheus.CounterValue, float64(n), k[0], k[1], k[2])
	}
	for k, n := range l.dropped {
		ch <- prometheus.MustNewConstMetric(l.droppedD, prometheus.CounterValue, float64(n), k[0], k[1])
	}
	ch <- prometheus.MustNewConstMetric(l.recordsD, prometheus.GaugeValue, float64(len(l.records)))
	ch <- prometheus.MustNewConstMetric(l.evictedD, prometheus.CounterValue, float64(l.evicted))
}

// FlowLogStats are the log's size and cap.
type FlowLogStats struct {
	Records, Max int
	Evicted      uint64
}

// FlowLogStats reports the log's size, cap and evictions.
func (c *Controller) FlowLogStats() FlowLogStats {
	l := c.flows
	l.mu.Lock()
	defer l.mu.Unlock()
	return FlowLogStats{Records: len(l.records), Max: l.max, Evicted: l.evicted}
}
