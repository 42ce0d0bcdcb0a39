package bmv2tests

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/internal/frametest"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// flowWorld: one switch, a default-allow segment with web, app, db and a
// scanner, all promiscuous (PVLAN out of the way), no policy yet.
const flowWorld = `kind: Device
name: leaf1
address: LEAF1_ADDR
---
kind: Segment
name: shop
id: 30
default: allow
---
kind: Port
device: leaf1
port: 1
segment: shop
role: promiscuous
---
kind: Port
device: leaf1
port: 2
segment: shop
role: promiscuous
---
kind: Port
device: leaf1
port: 3
segment: shop
role: promiscuous
---
kind: Port
device: leaf1
port: 4
segment: shop
role: promiscuous
---
kind: Endpoint
name: web-1
segment: shop
mac: 02:00:00:00:1e:01
ips: [10.30.0.1]
device: leaf1
port: 1
labels: {app: shop, tier: web}
---
kind: Endpoint
name: app-1
segment: shop
mac: 02:00:00:00:1e:02
ips: [10.30.0.2]
device: leaf1
port: 2
labels: {app: shop, tier: app}
---
kind: Endpoint
name: db-1
segment: shop
mac: 02:00:00:00:1e:03
ips: [10.30.0.3]
device: leaf1
port: 3
labels: {app: shop, tier: db}
---
kind: Endpoint
name: scanner
segment: shop
mac: 02:00:00:00:1e:04
ips: [10.30.0.4]
device: leaf1
port: 4
labels: {tier: scanner}
`

// TestFlowLogWorkflow: the observe, stage, enforce workflow on BMv2 with
// real frames. A default-allow segment is observed (a flow log entry per
// new flow, allowed by the default; a TCP packet that starts no flow is
// not reported); a 10,000-packet scan gives a bounded sample; the
// policies suggested from the observed flows are applied staged (no
// entry changes, traffic unchanged); a staged deny blocks nothing and is
// reported as what it would deny; the impact of flipping the segment to
// deny is shown before and after promoting; promoted and flipped, the
// observed flows pass and the rest is dropped.
func TestFlowLogWorkflow(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	sw, err := Start(ctx, Config{Ports: []uint32{1, 2, 3, 4}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Stop)
	node := leaderNode(ctx, t, "bmv2-flows")
	ctl := controller.New(controller.Config{Node: node, Targets: pipeline.Embedded, RetryInterval: 200 * time.Millisecond,
		DialOptions: func(*policy.Device) []grpc.DialOption {
			return []grpc.DialOption{grpc.WithContextDialer(netnsDialer(sw.NS))}
		}})
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(cctx) }()
	t.Cleanup(func() { ccancel(); <-done })
	apply := func(name, docs string) {
		t.Helper()
		res, err := ctl.Apply(ctx, name, []byte(docs))
		if err != nil {
			t.Fatalf("apply %s: %v", name, err)
		}
		// The controller compiles the committed change, then the switch
		// is brought to it.
		waitFor(t, ctx, func() bool {
			ds := ctl.Devices()
			return ctl.ModelIndex() >= res.Index && len(ds) == 1 && ds[0].InSync && ds[0].ModelIndex >= res.Index
		}, func() string { return fmt.Sprintf("devices %+v", ctl.Devices()) })
	}
	apply("world.yaml", strings.ReplaceAll(flowWorld, "LEAF1_ADDR", GRPCAddr))
	if st := deviceStatus(ctl, "leaf1"); st.FlowLog != "on" || st.DenialLog != "on" {
		t.Fatalf("leaf1: flow log %q, denial log %q", st.FlowLog, st.DenialLog)
	}

	web := host{Name: "web-1", Port: 1, MAC: frametest.MustMAC("02:00:00:00:1e:01"), IP4: netip.MustParseAddr("10.30.0.1")}
	app := host{Name: "app-1", Port: 2, MAC: frametest.MustMAC("02:00:00:00:1e:02"), IP4: netip.MustParseAddr("10.30.0.2")}
	db := host{Name: "db-1", Port: 3, MAC: frametest.MustMAC("02:00:00:00:1e:03"), IP4: netip.MustParseAddr("10.30.0.3")}
	scanner := host{Name: "scanner", Port: 4, MAC: frametest.MustMAC("02:00:00:00:1e:04"), IP4: netip.MustParseAddr("10.30.0.4")}
	n := 0
	tok := func() string { n++; return fmt.Sprintf("p4ctl-flows-%d-%06d.", os.Getpid(), n) }
	switches := []*Switch{sw}
	sendTCP := func(src, dst host, dport uint16, syn, ack bool) string {
		t.Helper()
		k := tok()
		if err := sw.Ports[src.Port].Send(flow{Src: src, Dst: dst, Proto: layers.IPProtocolTCP, SPort: 40000, DPort: dport, SYN: syn, ACK: ack, Token: k}.Frame(t)); err != nil {
			t.Fatal(err)
		}
		return k
	}
	expect := func(what string, k string, want ...string) {
		t.Helper()
		if got := collect(switches, k, len(want)); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: delivered to %v, want %v", what, got, want)
		}
	}
	find := func(since time.Time, src, dst string, dport uint16) (controller.FlowRecord, bool) {
		for _, r := range ctl.Flows(controller.FlowFilter{Since: since}) {
			if r.SrcName == src && r.DstName == dst && r.DPort == dport {
				return r, true
			}
		}
		return controller.FlowRecord{}, false
	}

	// 1. Observe: a flow log entry per new flow.
	t0 := time.Now()
	expect("web to app tcp/8080 (default allow)", sendTCP(web, app, 8080, true, false), "leaf1/2")
	expect("app to db tcp/5432", sendTCP(app, db, 5432, true, false), "leaf1/3")
	expect("web to app tcp/8080 again", sendTCP(web, app, 8080, true, false), "leaf1/2")
	expect("an ACK web to app tcp/8081 (no flow start)", sendTCP(web, app, 8081, false, true), "leaf1/2")
	var rec controller.FlowRecord
	waitFor(t, ctx, func() bool {
		var ok1, ok2 bool
		rec, ok1 = find(t0, "web-1", "app-1", 8080)
		_, ok2 = find(t0, "app-1", "db-1", 5432)
		return ok1 && ok2
	}, func() string { return fmt.Sprintf("flows %+v", ctl.Flows(controller.FlowFilter{})) })
	t.Logf("observe: a new flow was in the flow log %s after its first packet", rec.First.Sub(t0).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	rec, _ = find(t0, "web-1", "app-1", 8080)
	if rec.Verdict != "allow" || rec.DecidedBy != "default" || rec.Count != 1 || rec.Segment != "shop" {
		t.Errorf("web->app record %+v: want allow by default, one report (the second SYN is in the same epoch)", rec)
	}
	if r, ok := find(t0, "web-1", "app-1", 8081); ok {
		t.Errorf("a TCP ACK was reported as a flow: %+v", r)
	}

	// 2. A scan of 10,000 ports, allowed by the default: a bounded sample.
	scanStart := time.Now()
	drained := make(chan int)
	stopDrain := make(chan struct{})
	go func() {
		got := 0
		for {
			select {
			case f := <-sw.Frames():
				if strings.Contains(string(f.Data), fmt.Sprintf("p4ctl-flows-%d-", os.Getpid())) {
					got++
				}
			case <-stopDrain:
				drained <- got
				return
			}
		}
	}()
	for i := range 10000 {
		sendTCP(scanner, db, uint16(30000+i), true, false)
		if i%10 == 9 {
			time.Sleep(5 * time.Millisecond)
		}
	}
	sendTook := time.Since(scanStart)
	time.Sleep(2 * time.Second)
	close(stopDrain)
	delivered := <-drained
	reports, records := uint64(0), 0
	for _, r := range ctl.Flows(controller.FlowFilter{Since: scanStart}) {
		if r.SrcName == "scanner" {
			reports += r.Count
			records++
		}
	}
	epochs := int(sendTook/(8388608*time.Microsecond)) + 2
	t.Logf("scan: 10,000 SYNs in %s, %d delivered, %d flow reports (%d records); the limit is 16 per source per 8.4 s epoch (%d epochs at most)",
		sendTook.Round(time.Millisecond), delivered, reports, records, epochs)
	if reports == 0 || reports > uint64(16*epochs) {
		t.Errorf("scan: %d reports, want 1-%d", reports, 16*epochs)
	}

	// 3. Suggest from the observed flows of web, app and db (not the
	// scanner's), applied staged: nothing changes on the switch.
	webAppDB, _ := policy.ParseSelector("tier in (web, app, db)")
	var observed []policy.ObservedFlow
	for _, r := range ctl.Flows(controller.FlowFilter{From: webAppDB, HasFrom: true}) {
		observed = append(observed, policy.ObservedFlow{Flow: policy.Flow{Segment: r.Segment, Src: r.Src, Dst: r.Dst, Proto: r.Proto, SPort: r.SPort, DPort: r.DPort},
			SrcName: r.SrcName, DstName: r.DstName, Count: r.Count, Last: r.Last, Verdict: r.Verdict})
	}
	sugg, err := policy.Suggest(ctl.Model(), "shop", observed, true, policy.DefaultPriority)
	if err != nil {
		t.Fatal(err)
	}
	var objs []policy.Object
	for _, p := range sugg.Policies {
		objs = append(objs, p)
	}
	suggested := string(policy.Marshal(objs))
	t.Logf("suggest: %d policies for %d observed flows:\n%s", len(sugg.Policies), sugg.Flows, suggested)
	if len(sugg.Policies) != 2 || sugg.Flows != 2 {
		t.Errorf("suggested %d policies for %d flows, want 2 for 2", len(sugg.Policies), sugg.Flows)
	}
	before := deviceStatus(ctl, "leaf1").Entries
	apply("suggested.yaml", suggested)
	if after := deviceStatus(ctl, "leaf1").Entries; fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("staged policies changed the switch's entries: %v -> %v", before, after)
	}

	// 4. A staged deny blocks nothing, and the flow log says what it
	// would do.
	apply("no-ssh.yaml", "kind: Policy\nname: web-no-ssh\nsegment: shop\npriority: 300\nmode: staged\nfrom: \"tier: web\"\nto: \"\"\nrules:\n  - {proto: tcp, ports: [22], action: deny}\n")
	if after := deviceStatus(ctl, "leaf1").Entries; fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("a staged deny changed the switch's entries: %v -> %v", before, after)
	}
	t4 := time.Now()
	expect("web to app tcp/22 with a staged deny (not enforced)", sendTCP(web, app, 22, true, false), "leaf1/2")
	waitFor(t, ctx, func() bool { _, ok := find(t4, "web-1", "app-1", 22); return ok },
		func() string { return fmt.Sprintf("flows %+v", ctl.Flows(controller.FlowFilter{})) })
	rec, _ = find(t4, "web-1", "app-1", 22)
	if rec.Verdict != "allow" || rec.StagedVerdict != "deny" || rec.StagedPolicy != "web-no-ssh" || !rec.StagedByStage {
		t.Errorf("staged deny record %+v", rec)
	}
	if rec, _ := find(t0, "web-1", "app-1", 8080); rec.StagedVerdict != "allow" || !rec.StagedByStage {
		t.Errorf("web->app 8080 with the staged suggestion: %+v", rec)
	}
	t.Logf("staged: web-1 -> app-1 tcp/22 delivered; flow log: %s, would be %s by staged %s", rec.Verdict, rec.StagedVerdict, rec.StagedPolicy)

	// 5. Impact of flipping the segment to deny, staged policies not
	// enforced yet: every observed flow would be denied.
	flip := "kind: Segment\nname: shop\nid: 30\ndefault: deny\n"
	impact := func() (denied int, groups []policy.ImpactGroup) {
		objs, err := policy.Parse("flip.yaml", strings.NewReader(flip))
		if err != nil {
			t.Fatal(err)
		}
		cur := ctl.Model()
		next, _, err := cur.With(objs, nil)
		if err != nil {
			t.Fatal(err)
		}
		var all []policy.ObservedFlow
		for _, r := range ctl.Flows(controller.FlowFilter{}) {
			all = append(all, policy.ObservedFlow{Flow: policy.Flow{Segment: r.Segment, Src: r.Src, Dst: r.Dst, Proto: r.Proto, SPort: r.SPort, DPort: r.DPort},
				SrcName: r.SrcName, DstName: r.DstName, Count: r.Count, Last: r.Last})
		}
		groups = policy.Impact(cur, next, all)
		for _, g := range groups {
			if g.After.Verdict == policy.VerdictDeny {
				denied += g.Flows
			}
		}
		return denied, groups
	}
	d1, g1 := impact()
	t.Logf("impact of the flip before promote: %d observed flows would be denied in %d groups", d1, len(g1))

	// 6. Promote (mode enforce, one change), then the flip's impact is
	// only what nobody suggested: the scanner's flows and web's ssh.
	promoted := strings.ReplaceAll(suggested, "mode: staged\n", "")
	apply("promote.yaml", promoted+"---\nkind: Policy\nname: web-no-ssh\nsegment: shop\npriority: 300\nfrom: \"tier: web\"\nto: \"\"\nrules:\n  - {proto: tcp, ports: [22], action: deny}\n")
	d2, g2 := impact()
	for _, g := range g2 {
		if g.From != "tier=scanner" {
			t.Errorf("after promote, the flip would still deny %+v", g)
		}
	}
	t.Logf("impact of the flip after promote: %d observed flows would be denied (%d groups, all the scanner's)", d2, len(g2))
	if d2 >= d1 || d2 != records {
		t.Errorf("flip impact %d before promote, %d after; want the scanner's %d records after", d1, d2, records)
	}
	apply("flip.yaml", flip)

	// 7. Enforced: the observed flows pass, the rest is dropped.
	expect("web to app tcp/8080 (suggested, enforced)", sendTCP(web, app, 8080, true, false), "leaf1/2")
	expect("app to db tcp/5432 (suggested, enforced)", sendTCP(app, db, 5432, true, false), "leaf1/3")
	reply := tok()
	if err := sw.Ports[db.Port].Send(flow{Src: db, Dst: app, Proto: layers.IPProtocolTCP, SPort: 5432, DPort: 40000, SYN: true, ACK: true, Token: reply}.Frame(t)); err != nil {
		t.Fatal(err)
	}
	expect("db replies to app (the reply entry of the suggested allow)", reply, "leaf1/2")
	expect("web to app tcp/22 (promoted deny)", sendTCP(web, app, 22, true, false))
	expect("scanner to db (never suggested)", sendTCP(scanner, db, 30001, true, false))
	expect("web to db tcp/5432 (never observed)", sendTCP(web, db, 5432, true, false))
	expect("app to db tcp/5433 (never observed)", sendTCP(app, db, 5433, true, false))
}
