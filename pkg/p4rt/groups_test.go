package p4rt_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func group(id uint32, ports ...uint32) *p4v1.MulticastGroupEntry {
	g := &p4v1.MulticastGroupEntry{MulticastGroupId: id}
	for _, p := range ports {
		r := pipeline.Replica(p)
		r.Instance = 1
		g.Replicas = append(g.Replicas, r)
	}
	return g
}

func TestDiffGroups(t *testing.T) {
	withMeta := group(1, 1, 2)
	withMeta.Metadata = []byte{7}
	cases := []struct {
		name               string
		desired, installed []*p4v1.MulticastGroupEntry
		ins, mod, del      int
		err                string
	}{
		{name: "equal", desired: []*p4v1.MulticastGroupEntry{group(1, 1, 2)}, installed: []*p4v1.MulticastGroupEntry{group(1, 1, 2)}},
		{name: "replica order does not matter", desired: []*p4v1.MulticastGroupEntry{group(1, 1, 2, 3)}, installed: []*p4v1.MulticastGroupEntry{group(1, 3, 1, 2)}},
		{name: "replica added", desired: []*p4v1.MulticastGroupEntry{group(1, 1, 2, 3)}, installed: []*p4v1.MulticastGroupEntry{group(1, 1, 2)}, mod: 1},
		{name: "metadata differs", desired: []*p4v1.MulticastGroupEntry{withMeta}, installed: []*p4v1.MulticastGroupEntry{group(1, 1, 2)}, mod: 1},
		{name: "missing and stale", desired: []*p4v1.MulticastGroupEntry{group(2, 1)}, installed: []*p4v1.MulticastGroupEntry{group(1, 1)}, ins: 1, del: 1},
		{name: "duplicate desired id", desired: []*p4v1.MulticastGroupEntry{group(2, 1), group(2, 3)}, err: "multicast group 2 is desired twice"},
		{name: "reserved id", desired: []*p4v1.MulticastGroupEntry{group(0, 1)}, err: "id 0 is reserved"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := p4rt.DiffGroups(c.desired, c.installed)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Insert) != c.ins || len(p.Modify) != c.mod || len(p.Delete) != c.del {
				t.Errorf("plan +%d ~%d -%d, want +%d ~%d -%d", len(p.Insert), len(p.Modify), len(p.Delete), c.ins, c.mod, c.del)
			}
		})
	}
}

// recorder is a p4rtsim device that notes each Write's updates as
// "TYPE kind" strings (runs of the same one collapsed), and each table
// entry update in full, in the order the device received them.
type recorder struct {
	*p4rtsim.Server
	mu      sync.Mutex
	log     []string
	entries []recorded
}

type recorded struct {
	typ p4v1.Update_Type
	e   *p4v1.TableEntry
}

func (r *recorder) Write(ctx context.Context, req *p4v1.WriteRequest) (*p4v1.WriteResponse, error) {
	r.mu.Lock()
	for _, u := range req.GetUpdates() {
		kind := "entry"
		if u.GetEntity().GetPacketReplicationEngineEntry() != nil {
			kind = "group"
		}
		if te := u.GetEntity().GetTableEntry(); te != nil {
			r.entries = append(r.entries, recorded{u.GetType(), te})
		}
		s := fmt.Sprintf("%s %s", u.GetType(), kind)
		if len(r.log) == 0 || r.log[len(r.log)-1] != s {
			r.log = append(r.log, s)
		}
	}
	r.mu.Unlock()
	return r.Server.Write(ctx, req)
}

func startRecorder(t *testing.T) (*recorder, grpc.DialOption) {
	r := &recorder{Server: p4rtsim.New(p4rtsim.Options{DeviceID: 1})}
	lis := bufconn.Listen(1 << 20)
	gs := grpc.NewServer(r.ServerOptions()...)
	p4v1.RegisterP4RuntimeServer(gs, r)
	go gs.Serve(lis)
	t.Cleanup(gs.Stop)
	return r, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
}

func segmentEntry(t *testing.T, in *pipeline.Info, seg, grp uint64) *p4v1.TableEntry {
	t.Helper()
	e, err := in.NewEntry("ingress.segments").Exact("segment", pipeline.Uint(seg)).
		Action("set_segment", pipeline.P("default_allow", pipeline.Uint(0)), pipeline.P("flood_group", pipeline.Uint(grp))).Build()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReconcileDeviceOrder moves a segment's flooding from group 10 to
// group 20: the new group must exist before the entry names it, and the
// old one must outlive every entry naming it.
func TestReconcileDeviceOrder(t *testing.T) {
	p := embedded(t)
	rec, dial := startRecorder(t)
	s := primary(t, dial, p)
	ctx := context.Background()
	segs, _ := p.Info.Table("ingress.segments")
	l2t, _ := p.Info.Table("ingress.l2")
	o := p4rt.BulkOptions{BatchSize: 2, InFlight: 2}

	first := p4rt.NewEntrySet(2)
	for _, e := range []*p4v1.TableEntry{segmentEntry(t, p.Info, 1, 10), l2(t, p.Info, 1, 0xa, 3)} {
		if err := first.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	plan, err := s.ReconcileDevice(ctx, first, []*p4v1.MulticastGroupEntry{group(10, 1, 2)}, o, segs.ID, l2t.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(rec.log, ", "), "INSERT group, INSERT entry"; got != want {
		t.Errorf("first fill wrote %q, want %q (plan %v)", got, want, plan)
	}

	rec.log = nil
	second := p4rt.NewEntrySet(2)
	for _, e := range []*p4v1.TableEntry{segmentEntry(t, p.Info, 1, 20), l2(t, p.Info, 1, 0xb, 3)} {
		if err := second.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	plan, err = s.ReconcileDevice(ctx, second, []*p4v1.MulticastGroupEntry{group(20, 2, 1)}, o, segs.ID, l2t.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The l2 table has room: its new entry goes in before the old one
	// goes out.
	want := "INSERT group, MODIFY entry, INSERT entry, DELETE entry, DELETE group"
	if got := strings.Join(rec.log, ", "); got != want {
		t.Errorf("move wrote %q, want %q (plan %v)", got, want, plan)
	}

	rec.log = nil
	plan, err = s.ReconcileDevice(ctx, second, []*p4v1.MulticastGroupEntry{group(20, 1, 2)}, o, segs.ID, l2t.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !plan.Empty() || len(rec.log) != 0 {
		t.Errorf("equal device: plan %v, writes %v", plan, rec.log)
	}
	groups, err := s.ReadGroups(ctx)
	if err != nil || len(groups) != 1 || groups[0].GetMulticastGroupId() != 20 {
		t.Errorf("device groups %v (err %v), want only group 20", groups, err)
	}
}

func TestCountsAndPlanPerTable(t *testing.T) {
	p := embedded(t)
	s := primary(t, startSim(t, p4rtsim.Options{}), p)
	ctx := context.Background()
	segs, _ := p.Info.Table("ingress.segments")
	l2t, _ := p.Info.Table("ingress.l2")
	set := p4rt.NewEntrySet(5)
	for _, e := range []*p4v1.TableEntry{segmentEntry(t, p.Info, 1, 1), segmentEntry(t, p.Info, 2, 2),
		l2(t, p.Info, 1, 0xa, 1), l2(t, p.Info, 1, 0xb, 2), l2(t, p.Info, 2, 0xc, 3)} {
		if err := set.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	want := map[uint32]int{segs.ID: 2, l2t.ID: 3}
	if got := set.TableCounts(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("set counts %v, want %v", got, want)
	}
	plan, err := s.PlanSet(ctx, set, segs.ID, l2t.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantPlan := map[uint32]p4rt.TableCounts{segs.ID: {Insert: 2}, l2t.ID: {Insert: 3}}
	if got := plan.PerTable(); fmt.Sprint(got) != fmt.Sprint(wantPlan) {
		t.Errorf("plan per table %v, want %v", got, wantPlan)
	}
	if err := s.WritePlan(ctx, plan, p4rt.BulkOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := s.CountEntries(ctx, segs.ID, l2t.ID)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("device counts %v, want %v", got, want)
	}
}
