package controller

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// flowDigests are the embedded BMv2 pipeline's flow and denial digests.
func flowDigests(t testing.TB) (flow, denial *pipeline.Digest) {
	t.Helper()
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	f, ok1 := p.Info.Digest(FlowDigest)
	d, ok2 := p.Info.Digest(DenialDigest)
	if !ok1 || !ok2 {
		t.Fatal("the embedded pipeline lacks the flow or denial digest")
	}
	return f, d
}

// flowReport is one report's fields (decided_by for flow_t, denied_by for
// denial_t).
func flowReport(seg, src, dst uint64, proto, dport uint64, by uint64, denied bool) map[string]uint64 {
	v := map[string]uint64{"segment": seg, "ingress_port": 1, "src_identity": src, "dst_identity": dst, "ip_version": 4,
		"ip_proto": proto, "l4_src": 40000, "l4_dst": dport, "tcp_flags": 2}
	if denied {
		v["denied_by"] = by
	} else {
		v["decided_by"] = by
	}
	return v
}

// TestFlowLog: allowed and denied reports from the simulated switch
// become flow records, counted per flow, named from the model, judged
// (the deciding policy), filtered by device, verdict, policy, selectors
// and time, followed live, and counted for Prometheus; get devices says
// the flow log is on.
func TestFlowLog(t *testing.T) {
	_, c, d1, _, _ := exampleInSync(t)
	for _, s := range c.Devices() {
		if s.Name == "leaf1" && s.FlowLog != "on" {
			t.Fatalf("flow log %q, want on", s.FlowLog)
		}
	}
	fd, dd := flowDigests(t)
	web, app, db := identityOf(t, c, "web-1"), identityOf(t, c, "app-1"), identityOf(t, c, "db-1")
	follow, stop := c.FollowFlows()
	defer stop()
	inject := func(d *pipeline.Digest, v map[string]uint64, src, dst string) {
		t.Helper()
		if !d1.srv.InjectDigest(d.ID, denialData(t, d, v, src, dst)) {
			t.Fatal("the sim did not send the digest (not configured?)")
		}
	}
	for range 3 {
		inject(fd, flowReport(10, web, app, 6, 8080, 2, false), "10.0.0.1", "10.0.0.3")
	}
	inject(fd, flowReport(10, app, db, 6, 5432, 2, false), "10.0.0.3", "10.0.0.4")
	inject(dd, flowReport(10, web, db, 6, 5432, 3, true), "10.0.0.1", "10.0.0.4")
	eventually(t, 5*time.Second, func() bool {
		fs := c.Flows(FlowFilter{})
		return len(fs) == 3 && fs[2].Device != "" && c.Flows(FlowFilter{Verdict: "allow", Policy: "web-to-app"})[0].Count == 3
	}, func() string { return fmt.Sprintf("%+v", c.Flows(FlowFilter{})) })
	// The denial still reaches the denied-flow log.
	if len(c.Denials("", time.Time{})) != 1 {
		t.Errorf("denials %+v", c.Denials("", time.Time{}))
	}
	sel := func(s string) policy.Selector {
		x, err := policy.ParseSelector(s)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	for _, tc := range []struct {
		name string
		f    FlowFilter
		want []string // "src->dst/dport verdict policy"
	}{
		{"all", FlowFilter{}, []string{"web-1->app-1/8080 allow web-to-app", "app-1->db-1/5432 allow app-to-db", "web-1->db-1/5432 deny -"}},
		{"deny", FlowFilter{Verdict: "deny"}, []string{"web-1->db-1/5432 deny -"}},
		{"policy", FlowFilter{Policy: "app-to-db"}, []string{"app-1->db-1/5432 allow app-to-db"}},
		{"from web", FlowFilter{From: sel("tier: web"), HasFrom: true}, []string{"web-1->app-1/8080 allow web-to-app", "web-1->db-1/5432 deny -"}},
		{"to db from app", FlowFilter{From: sel("tier in (app)"), HasFrom: true, To: sel("tier: db"), HasTo: true}, []string{"app-1->db-1/5432 allow app-to-db"}},
		{"other device", FlowFilter{Device: "leaf2"}, nil},
		{"future", FlowFilter{Since: time.Now().Add(time.Hour)}, nil},
	} {
		var got []string
		for _, r := range c.Flows(tc.f) {
			got = append(got, fmt.Sprintf("%s->%s/%d %s %s", r.SrcName, r.DstName, r.DPort, r.Verdict, orDash(r.Policy)))
		}
		if strings.Join(got, ";") != strings.Join(tc.want, ";") {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
	select {
	case r := <-follow:
		if r.Src != netip.MustParseAddr("10.0.0.1") || r.Policy != "web-to-app" {
			t.Errorf("followed %+v", r)
		}
	case <-time.After(time.Second):
		t.Error("nothing followed")
	}
	// Bad reports: counted, not logged.
	inject(fd, with(flowReport(10, web, app, 6, 9999, 2, false), map[string]uint64{"src_identity": 999}), "10.0.0.1", "10.0.0.3")
	inject(fd, with(flowReport(10, web, app, 6, 9999, 2, false), map[string]uint64{"decided_by": 9}), "10.0.0.1", "10.0.0.3")
	inject(fd, flowReport(77, web, app, 6, 9999, 2, false), "10.0.0.1", "10.0.0.3")
	eventually(t, 5*time.Second, func() bool {
		c.flows.mu.Lock()
		defer c.flows.mu.Unlock()
		return c.flows.dropped[[2]string{"leaf1", "unknown identity"}] == 1 && c.flows.dropped[[2]string{"leaf1", "malformed"}] == 1 &&
			c.flows.dropped[[2]string{"leaf1", "unknown segment"}] == 1
	}, func() string { return fmt.Sprintf("dropped %v", c.flows.dropped) })
	if n := len(c.Flows(FlowFilter{})); n != 3 {
		t.Errorf("%d records after bad reports", n)
	}
	c.flows.mu.Lock()
	if n := c.flows.reports[[3]string{"leaf1", "prod", "allow"}]; n != 4 {
		t.Errorf("allow reports %d, want 4", n)
	}
	c.flows.mu.Unlock()
	eventually(t, 5*time.Second, func() bool { return d1.srv.UnackedDigests(fd.ID) == 0 },
		func() string { return "flow digest lists left unacknowledged" })
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// TestFlowLogStaged: a staged policy changes no entry on the device; the
// records show what it would decide, and its hits; promoting it (mode
// enforce) writes its entries and makes it the enforced decision.
func TestFlowLogStaged(t *testing.T) {
	_, c, d1, _, model := exampleInSync(t)
	fd, _ := flowDigests(t)
	web, app := identityOf(t, c, "web-1"), identityOf(t, c, "app-1")
	// A follower from before the staged policy (its records are judged
	// on the model of when each is sent, through MatchFlow).
	follow, stopFollow := c.FollowFlows()
	defer stopFollow()
	d1.srv.InjectDigest(fd.ID, denialData(t, fd, flowReport(10, web, app, 6, 8443, 2, false), "10.0.0.1", "10.0.0.3"))
	d1.srv.InjectDigest(fd.ID, denialData(t, fd, flowReport(10, web, app, 6, 8080, 2, false), "10.0.0.1", "10.0.0.3"))
	eventually(t, 5*time.Second, func() bool { return len(c.Flows(FlowFilter{})) == 2 }, func() string { return "" })

	before, writes := d1.read(t), d1.srv.Writes()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	staged := "kind: Policy\nname: web-lockdown\nsegment: prod\npriority: 300\nmode: staged\nfrom: \"tier: web\"\nto: \"tier: app\"\nrules:\n  - {proto: tcp, ports: [8443], action: deny}\n"
	if _, err := c.Apply(ctx, "staged.yaml", []byte(staged)); err != nil {
		t.Fatal(err)
	}
	inSync(t, c, map[string]*simDevice{"leaf1": d1}, model)
	if after := d1.read(t); !maps.Equal(after, before) {
		t.Fatalf("a staged policy changed the device's entries")
	}
	if w := d1.srv.Writes(); w != writes {
		t.Fatalf("a staged policy was written: %d write RPCs, %d before", w, writes)
	}
	// The follower's next report of the flow is judged on the model with
	// the staged policy, not on the one it subscribed under.
	for len(follow) > 0 {
		<-follow
	}
	d1.srv.InjectDigest(fd.ID, denialData(t, fd, flowReport(10, web, app, 6, 8443, 2, false), "10.0.0.1", "10.0.0.3"))
	select {
	case r := <-follow:
		if !c.MatchFlow(FlowFilter{}, &r) || r.StagedVerdict != "deny" || r.StagedPolicy != "web-lockdown" {
			t.Errorf("followed after staging: %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the follower got no record")
	}
	fs := c.Flows(FlowFilter{Policy: "web-lockdown"})
	if len(fs) != 1 || fs[0].DPort != 8443 || fs[0].Verdict != "allow" || fs[0].Policy != "web-to-app" || fs[0].StagedVerdict != "deny" || !fs[0].StagedByStage {
		t.Fatalf("staged view: %+v", fs)
	}
	if fs := c.Flows(FlowFilter{StagedOnly: true}); len(fs) != 1 {
		t.Errorf("staged-only: %+v", fs)
	}
	hits := c.StagedHits()
	if len(hits) != 1 || hits[0].Policy != "web-lockdown" || hits[0].Flows != 1 || hits[0].Changed != 1 {
		t.Errorf("staged hits %+v", hits)
	}
	// The same name as an enforced policy: refused, nothing changes.
	if _, err := c.Apply(ctx, "bad.yaml", []byte(strings.ReplaceAll(staged, "web-lockdown", "web-to-app"))); err == nil || !strings.Contains(err.Error(), "is enforced") {
		t.Errorf("staged over enforced: %v", err)
	}
	// Promote.
	if _, err := c.Apply(ctx, "promote.yaml", []byte(strings.ReplaceAll(staged, "mode: staged", "mode: enforce"))); err != nil {
		t.Fatal(err)
	}
	inSync(t, c, map[string]*simDevice{"leaf1": d1}, model)
	if after := d1.read(t); maps.Equal(after, before) {
		t.Errorf("promoting changed no entry")
	}
	fs = c.Flows(FlowFilter{Policy: "web-lockdown"})
	if len(fs) != 1 || fs[0].Policy != "web-lockdown" || !fs[0].Disagrees || fs[0].StagedVerdict != "" {
		t.Errorf("after promote: %+v", fs)
	}
}

// TestFlowLogEvictionAndRestart: the log holds at most its cap, evicting
// the least recently seen; a master that restarts (or a new one after
// failover) starts an empty log and rebuilds it from the next reports.
func TestFlowLogEvictionAndRestart(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c, stop := runController(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
		t.Fatal(err)
	}
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, func() *policy.Model { m, _ := n.Model(); return m })
	fd, _ := flowDigests(t)
	web, app := identityOf(t, c, "web-1"), identityOf(t, c, "app-1")
	c.flows.mu.Lock()
	c.flows.max = 3
	c.flows.mu.Unlock()
	for port := range uint64(5) {
		d1.srv.InjectDigest(fd.ID, denialData(t, fd, flowReport(10, web, app, 6, 1000+port, 2, false), "10.0.0.1", "10.0.0.3"))
		// Port 1000 is seen again after each new one: it stays.
		d1.srv.InjectDigest(fd.ID, denialData(t, fd, flowReport(10, web, app, 6, 1000, 2, false), "10.0.0.1", "10.0.0.3"))
	}
	// Done when both evictions happened and the last report (port 1000,
	// its sixth) is in: the digests are handled one by one, in order.
	eventually(t, 5*time.Second, func() bool {
		if c.FlowLogStats().Evicted != 2 {
			return false
		}
		for _, r := range c.Flows(FlowFilter{}) {
			if r.DPort == 1000 {
				return r.Count == 6
			}
		}
		return false
	}, func() string { return fmt.Sprintf("%+v %+v", c.FlowLogStats(), c.Flows(FlowFilter{})) })
	var ports []uint16
	for _, r := range c.Flows(FlowFilter{}) {
		ports = append(ports, r.DPort)
	}
	if fmt.Sprint(ports) != "[1003 1004 1000]" {
		t.Errorf("held %v, want [1003 1004 1000]", ports)
	}

	// The master goes away; another controller masters the device.
	stop()
	c2, _ := runController(t, n)
	eventually(t, 10*time.Second, func() bool {
		for _, s := range c2.Devices() {
			if s.Name == "leaf1" && s.FlowLog == "on" {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("%+v", c2.Devices()) })
	if len(c2.Flows(FlowFilter{})) != 0 {
		t.Fatal("a new master's log is not empty")
	}
	d1.srv.InjectDigest(fd.ID, denialData(t, fd, flowReport(10, web, app, 6, 1000, 2, false), "10.0.0.1", "10.0.0.3"))
	eventually(t, 5*time.Second, func() bool { return len(c2.Flows(FlowFilter{})) == 1 }, func() string { return "" })
}

// BenchmarkFlowReports: reports the controller logs per second (a mix of
// new flows and flows seen again, as a scan under the data plane's limits
// gives), and the heap per held record.
func BenchmarkFlowReports(b *testing.B) {
	c := New(Config{Node: node(b, "n1", b.TempDir(), true), Targets: pipeline.Embedded})
	c.flows = newFlowLog(DefaultMaxFlowRecords)
	objs, err := policy.Parse("example.yaml", strings.NewReader(string(exampleFor(b, "127.0.0.1:1", "127.0.0.1:2"))))
	if err != nil {
		b.Fatal(err)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		b.Fatal(err)
	}
	c.source = m
	if _, err := c.compiler.Update(m); err != nil {
		b.Fatal(err)
	}
	vals := func(i int) map[string][]byte {
		v := map[string][]byte{}
		for k, x := range flowReport(10, 0, 0, 6, uint64(1+i%20000), 2, false) {
			v[k] = pipeline.Uint(x)
		}
		v["src_addr"] = netip.AddrFrom4([4]byte{10, 0, 0, byte(1 + i%2)}).AsSlice()
		v["dst_addr"] = netip.AddrFrom4([4]byte{10, 0, 1, byte(i % 200)}).AsSlice()
		return v
	}
	now := time.Now()
	b.ResetTimer()
	for i := range b.N {
		c.logFlow("leaf1", vals(i), now, false)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reports/s")

	// Heap per record: fill a fresh log with distinct flows.
	const n = 20000
	c.flows = newFlowLog(n)
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	for i := range n {
		v := vals(i)
		v["dst_addr"] = netip.AddrFrom4([4]byte{10, 0, byte(1 + i/250), byte(i % 250)}).AsSlice()
		c.logFlow("leaf1", v, now, false)
	}
	runtime.GC()
	runtime.ReadMemStats(&m1)
	if got := c.FlowLogStats().Records; got != n {
		b.Fatalf("%d records", got)
	}
	b.ReportMetric(float64(m1.HeapAlloc-m0.HeapAlloc)/n, "B/record")
}

// TestFlowLogNotSupported: a device whose target's pipeline has no flow
// digest (PNA/DPDK, Tofino) is reported as such before anything reaches
// it; BMv2's is not judged until its digest is configured.
func TestFlowLogNotSupported(t *testing.T) {
	c := New(Config{Node: node(t, "n1", t.TempDir(), true), Targets: pipeline.Embedded})
	for _, tc := range []struct{ target, want string }{
		{"dpdk", "not supported: the dpdk pipeline reports no allowed flows (no flow_t digest)"},
		{"tofino", "not supported: the tofino pipeline reports no allowed flows (no flow_t digest)"},
		{"bmv2", ""},
	} {
		var st DeviceStatus
		c.flowLogSupport(&policy.Device{Name: "d", Target: tc.target}, &st)
		if st.FlowLog != tc.want {
			t.Errorf("%s: %q, want %q", tc.target, st.FlowLog, tc.want)
		}
	}
}
