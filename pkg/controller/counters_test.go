package controller

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// policyPortEntry is leaf1's entry of table in the compiled state whose
// port field (l4_dst_port or l4_src_port) is port.
func policyPortEntry(t *testing.T, c *Controller, table, field string, port uint64) *p4v1.TableEntry {
	t.Helper()
	c.mu.Lock()
	es, _, err := c.compiler.DeviceEntries("leaf1")
	in := c.compiler.DeviceInfo("leaf1")
	c.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := in.Table(table)
	f, _ := tb.Field(field)
	for _, e := range es {
		if e.GetTableId() != tb.ID {
			continue
		}
		for _, m := range e.GetMatch() {
			if v, _ := pipeline.ToUint64(m.GetExact().GetValue()); m.GetFieldId() == f.ID && v == port {
				return e
			}
		}
	}
	t.Fatalf("no %s entry with %s %d", table, field, port)
	return nil
}

func policyHits(t *testing.T, c *Controller, policy string) (packets, bytes uint64, rules []RuleCounters, dc DeviceCounters) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := c.Counters(ctx, "leaf1", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != 1 || out[0].Error != "" {
		t.Fatalf("counters %+v", out)
	}
	for _, p := range out[0].Policies {
		if p.Policy == policy {
			return p.Packets, p.Bytes, p.Rules, out[0]
		}
	}
	return 0, 0, nil, out[0]
}

// TestPolicyCounters: hits the device counts on a policy's entries, in
// both directions, are summed on the policy and its rule; a later read
// adds only what is new; a counter that goes down is a reset, reported,
// and what it counts after is still added; Prometheus shows the totals,
// within the series cap.
func TestPolicyCounters(t *testing.T) {
	_, c, d1, _, _ := exampleInSync(t)
	fwd := policyPortEntry(t, c, "ingress.policy_port", "l4_dst_port", 8080)
	rev := policyPortEntry(t, c, "ingress.reply_port", "l4_src_port", 8080)
	if !d1.srv.AddDirectCounter(fwd, 10, 1000) || !d1.srv.AddDirectCounter(rev, 5, 300) {
		t.Fatal("the sim does not hold the compiled entries")
	}
	p, b, rules, dc := policyHits(t, c, "web-to-app")
	// Its three rules are listed; only rule 0 (tcp 8080, 8443) was hit.
	if p != 15 || b != 1300 || len(rules) != 3 || rules[0] != (RuleCounters{Rule: 0, Packets: 15, Bytes: 1300}) ||
		rules[1] != (RuleCounters{Rule: 1}) || rules[2] != (RuleCounters{Rule: 2}) {
		t.Fatalf("web-to-app: %d packets %d bytes, rules %+v; want 15, 1300 on rule 0 and rules 1, 2 at 0", p, b, rules)
	}
	if dc.Entries == 0 || dc.Resets != 0 || dc.Unknown != 0 {
		t.Errorf("device counters %+v", dc)
	}

	d1.srv.AddDirectCounter(fwd, 3, 100)
	if p, b, _, _ := policyHits(t, c, "web-to-app"); p != 18 || b != 1400 {
		t.Errorf("after 3 more packets: %d packets %d bytes, want 18, 1400", p, b)
	}

	// The forward entry's counter starts again (rewritten, say) and counts
	// 2 packets.
	d1.srv.AddDirectCounter(fwd, -13+2, -1100+50)
	p, b, _, dc = policyHits(t, c, "web-to-app")
	if p != 20 || b != 1450 {
		t.Errorf("after a reset and 2 packets: %d packets %d bytes, want 20, 1450", p, b)
	}
	if dc.Resets != 1 || dc.ResetEntries != 1 || dc.LastReset.IsZero() {
		t.Errorf("reset not reported: %+v", dc)
	}

	// Prometheus, with room for two series: leaf1's first two policies
	// by name get theirs, the rest is summed as _other.
	c.cfg.MaxCounterSeries = 2
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	check := func(policy string, want float64, present bool) {
		t.Helper()
		got, ok := metricValue(t, reg, "p4ctl_policy_packets_total", map[string]string{"device": "leaf1", "policy": policy})
		if ok != present || ok && got != want {
			t.Errorf("p4ctl_policy_packets_total{leaf1,%s} = %v (present %v), want %v (present %v)", policy, got, ok, want, present)
		}
	}
	check("app-to-db", 0, true)
	check("batch-peers", 0, true)
	check("web-to-app", 0, false)
	check("_other", 20, true)
	db := policyPortEntry(t, c, "ingress.policy_port", "l4_dst_port", 5432)
	d1.srv.AddDirectCounter(db, 7, 700)
	policyHits(t, c, "app-to-db")
	check("app-to-db", 7, true)
	check("_other", 20, true)
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %+v", err, problems)
	}
}

// TestPolicyCountersAcrossChanges: the counts read before a change are
// carried over it, not counted again. A policy edited in place (a rule
// added in front of the one that makes the counted entries) keeps its
// entries, whose hits go to their rule's new number from then on, and the
// device's counter index is brought up to date from the last one, not
// built again; a change that touches none of the device's counted entries
// (an endpoint no policy selects, on another device) leaves the index as
// it was.
func TestPolicyCountersAcrossChanges(t *testing.T) {
	_, c, d1, d2, model := exampleInSync(t)
	fwd := policyPortEntry(t, c, "ingress.policy_port", "l4_dst_port", 8080)
	if !d1.srv.AddDirectCounter(fwd, 10, 1000) {
		t.Fatal("the sim does not hold the compiled entries")
	}
	if p, _, rules, _ := policyHits(t, c, "web-to-app"); p != 10 || rules[0].Packets != 10 {
		t.Fatalf("web-to-app: %d packets, rules %+v; want 10 on rule 0", p, rules)
	}
	index := func() *policy.CounterIndex {
		d := c.counters.device("leaf1")
		d.read.Lock()
		defer d.read.Unlock()
		return d.index
	}
	apply := func(file string, docs []byte) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := c.Apply(ctx, file, docs); err != nil {
			t.Fatal(err)
		}
		inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	}
	before := index()

	// A UDP rule in front: tcp 8080 and 8443 become rule 1.
	doc := strings.Replace(string(exampleFor(t, d1.addr, d2.addr)), "  - {proto: tcp, ports: [8080, 8443]}\n",
		"  - {proto: udp, ports: [53]}\n  - {proto: tcp, ports: [8080, 8443]}\n", 1)
	apply("example.yaml", []byte(doc))
	d1.srv.AddDirectCounter(fwd, 3, 100)
	p, b, rules, dc := policyHits(t, c, "web-to-app")
	if p != 13 || b != 1100 {
		t.Errorf("after the change and 3 packets: %d packets %d bytes, want 13, 1100 (the 10 before carried over)", p, b)
	}
	if len(rules) < 2 || rules[1] != (RuleCounters{Rule: 1, Packets: 3, Bytes: 100}) {
		t.Errorf("rules %+v: want the 3 new packets on rule 1, tcp's number now", rules)
	}
	if dc.Resets != 0 || dc.Unknown != 0 {
		t.Errorf("device counters %+v", dc)
	}
	after := index()
	if after == before || !after.Extends(before) {
		t.Errorf("the index was built again (extends the last one: %v), not brought up to date", after.Extends(before))
	}

	// An endpoint of its own identity on leaf2, which no policy selects.
	apply("extra.yaml", []byte("kind: Port\ndevice: leaf2\nport: 2\nsegment: prod\nrole: promiscuous\n---\n"+
		"kind: Endpoint\nname: lone\nsegment: prod\nmac: 02:00:00:00:02:02\nips: [10.0.2.2]\ndevice: leaf2\nport: 2\nlabels: {role: lone}\n"))
	d1.srv.AddDirectCounter(fwd, 2, 50)
	if p, b, _, _ := policyHits(t, c, "web-to-app"); p != 15 || b != 1150 {
		t.Errorf("after another change and 2 packets: %d packets %d bytes, want 15, 1150", p, b)
	}
	if index() != after {
		t.Error("a change that touched none of leaf1's counted entries changed its index")
	}
}

// TestPolicyCountersWhileChanging: reads taken while changes are
// compiled, whose indexes are brought up to date outside the
// controller's lock as the compiler moves on, count every hit once.
func TestPolicyCountersWhileChanging(t *testing.T) {
	_, c, d1, d2, model := exampleInSync(t)
	fwd := policyPortEntry(t, c, "ingress.policy_port", "l4_dst_port", 8080)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stop, done := make(chan struct{}), make(chan struct{})
	reads := 0
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if err := c.ReadCounters(ctx, "leaf1"); err != nil {
				t.Error(err)
				return
			}
			reads++
		}
	}()
	ports := "8080, 8443"
	for i := range 4 {
		d1.srv.AddDirectCounter(fwd, 1, 10)
		ports += fmt.Sprintf(", %d", 9100+i)
		doc := strings.Replace(string(exampleFor(t, d1.addr, d2.addr)), "ports: [8080, 8443]", "ports: ["+ports+"]", 1)
		if _, err := c.Apply(ctx, "example.yaml", []byte(doc)); err != nil {
			t.Fatal(err)
		}
		inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	}
	close(stop)
	<-done
	if reads < 4 {
		t.Errorf("only %d reads while the changes were compiled", reads)
	}
	if p, b, _, dc := policyHits(t, c, "web-to-app"); p != 4 || b != 40 || dc.Resets != 0 {
		t.Errorf("%d packets %d bytes, %d resets, after %d reads; want 4, 40, 0", p, b, dc.Resets, reads)
	}
}

// metricValue is the value of the series of metric name with labels.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
					continue series
				}
			}
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// counterWorld is one device with 2*side endpoints, each an identity of
// its own, and one policy from the first half to the second on ports
// tcp ports: side*side*ports policy_port entries and as many reply_port
// entries, all counted.
func counterWorld(addr string, side, ports int) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: Device\nname: leaf1\naddress: %s\n---\nkind: Segment\nname: prod\nid: 10\ndefault: deny\n", addr)
	for i := range 2 * side {
		half := "a"
		if i >= side {
			half = "b"
		}
		fmt.Fprintf(&b, "---\nkind: Port\ndevice: leaf1\nport: %d\nsegment: prod\nrole: promiscuous\n", i+1)
		fmt.Fprintf(&b, "---\nkind: Endpoint\nname: e%d\nsegment: prod\nmac: 02:00:00:00:%02x:%02x\nips: [10.9.%d.%d]\ndevice: leaf1\nport: %d\nlabels: {side: %s, n: \"%d\"}\n",
			i, i/256, i%256, i/256, i%256, i+1, half, i)
	}
	var ps []string
	for p := range ports {
		ps = append(ps, fmt.Sprint(20000+p))
	}
	fmt.Fprintf(&b, "---\nkind: Policy\nname: a-to-b\nsegment: prod\nfrom: {side: a}\nto: {side: b}\nrules:\n  - {proto: tcp, ports: [%s]}\n", strings.Join(ps, ", "))
	return []byte(b.String())
}

// BenchmarkPolicyCounters1M: one read of a device's 1,000,000 counted
// entries (500,000 policy_port, 500,000 reply_port) from the simulator,
// summed per policy and rule; the index is built before the timer. B/op
// includes the simulator's encoding of its responses, in the same
// process (BenchmarkReadCounters100k in pkg/p4rt measures that part with
// the client's parse).
func BenchmarkPolicyCounters1M(b *testing.B) {
	d := startSim(b, "")
	n := node(b, "n1", b.TempDir(), true)
	waitLeader(b, n)
	c := New(Config{Node: n, Targets: pipeline.Embedded, RetryInterval: 200 * time.Millisecond, CounterReadInterval: -1})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	b.Cleanup(func() { cancel(); <-done })
	actx, acancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer acancel()
	res, err := c.Apply(actx, "world.yaml", counterWorld(d.addr, 100, 50))
	if err != nil {
		b.Fatal(err)
	}
	eventually(b, 10*time.Minute, func() bool {
		st := c.Devices()
		return len(st) == 1 && st[0].InSync && st[0].ModelIndex >= res.Index
	}, func() string { return fmt.Sprintf("%+v", c.Devices()) })
	heap := func() uint64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	start := time.Now()
	if err := c.ReadCounters(actx, "leaf1"); err != nil { // builds the index
		b.Fatal(err)
	}
	first := time.Since(start)
	kept := heap() - before
	out, _ := c.Counters(actx, "leaf1", false)
	entries := out[0].Entries
	if entries != 1000000 {
		b.Fatalf("%d counted entries, want 1,000,000", entries)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.ReadCounters(actx, "leaf1"); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	// The index and each entry's last counts, held between reads.
	b.ReportMetric(float64(kept)/float64(entries), "kept-B/entry")
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/read")
	// The first read builds the index (under the controller's lock).
	b.ReportMetric(float64(first.Milliseconds()), "first-read-ms")
}
