// Package p4rttest is a conformance suite for P4Runtime targets: the same
// arbitration, write and read cases run against p4rtsim in every test run
// and against simple_switch_grpc in the BMv2 tier, so that the simulator
// the controller is tested on keeps behaving like the real switch.
package p4rttest

import (
	"context"
	"errors"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Target is a P4Runtime device to test.
type Target struct {
	Addr     string
	DeviceID uint64
	// DialOptions reach Addr (a bufconn or network-namespace dialer).
	DialOptions []grpc.DialOption
	Pipeline    *pipeline.Pipeline
	// ElectionBase offsets every election id the suite uses, so that runs
	// against one long-lived target never reuse ids of earlier runs.
	ElectionBase uint64
	// FullTableCode is the per-update code the target gives an insert into
	// a full table. The spec says RESOURCE_EXHAUSTED (the default); BMv2
	// answers UNKNOWN.
	FullTableCode codes.Code
	// NoReconcile is set for a target that refuses RECONCILE_AND_COMMIT
	// (Stratum answers UNIMPLEMENTED; BMv2 fails it, see
	// pipeline.Target.Reconcile): the upgrade case then expects
	// VERIFY_AND_COMMIT.
	NoReconcile bool
	// Rebuild, if set, makes another build of the same program from a
	// device config, for the upgrade case; nil appends a newline (BMv2's
	// JSON). A target whose config is a protobuf (dpdk) needs its own.
	Rebuild func(deviceConfig []byte) []byte
}

// Run runs every case against tgt as subtests.
func Run(t *testing.T, tgt Target) {
	t.Run("Arbitration", func(t *testing.T) { testArbitration(t, tgt) })
	t.Run("WriteSemantics", func(t *testing.T) { testWriteSemantics(t, tgt) })
	t.Run("ReadBackCanonical", func(t *testing.T) { testReadBack(t, tgt) })
	t.Run("TableFull", func(t *testing.T) { testTableFull(t, tgt) })
	t.Run("PipelineCookie", func(t *testing.T) { testCookie(t, tgt) })
	t.Run("MulticastGroups", func(t *testing.T) { testGroups(t, tgt) })
	t.Run("PipelineUpgrade", func(t *testing.T) { testUpgrade(t, tgt) })
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (tgt Target) open(t *testing.T, election uint64) (*p4rt.Session, error) {
	t.Helper()
	s, err := p4rt.Open(ctxT(t), tgt.Addr, p4rt.Options{
		DeviceID:    tgt.DeviceID,
		ElectionID:  p4rt.ElectionID{High: tgt.ElectionBase, Low: election},
		DialOptions: tgt.DialOptions,
	})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func (tgt Target) primary(t *testing.T, election uint64) *p4rt.Session {
	t.Helper()
	s, err := tgt.open(t, election)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPipeline(ctxT(t), tgt.Pipeline); err != nil {
		t.Fatal(err)
	}
	return s
}

// HasCode reports whether err or an error it wraps is a gRPC status with
// code c.
func HasCode(err error, c codes.Code) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok && s.Code() == c {
			return true
		}
	}
	return false
}

func segmentEntry(t *testing.T, in *pipeline.Info, seg uint64) *p4v1.TableEntry {
	t.Helper()
	e, err := in.NewEntry("ingress.segments").Exact("segment", pipeline.Uint(seg)).
		Action("set_segment", pipeline.P("default_allow", pipeline.Uint(0)), pipeline.P("flood_group", pipeline.Uint(seg))).Build()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func update(typ p4v1.Update_Type, e *p4v1.TableEntry) *p4v1.Update {
	return &p4v1.Update{Type: typ, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
}

func testArbitration(t *testing.T, tgt Target) {
	first := tgt.primary(t, 100)
	if _, err := tgt.open(t, 50); !errors.Is(err, p4rt.ErrNotPrimary) {
		t.Errorf("lower election id: err = %v, want ErrNotPrimary", err)
	}
	if _, err := tgt.open(t, 100); err == nil || !HasCode(err, codes.InvalidArgument) {
		t.Errorf("duplicate election id: err = %v, want INVALID_ARGUMENT", err)
	}
	second, err := tgt.open(t, 200)
	if err != nil {
		t.Fatalf("higher election id: %v", err)
	}
	e := segmentEntry(t, tgt.Pipeline.Info, 1)
	if err := first.Write(ctxT(t), update(p4v1.Update_INSERT, e)); !HasCode(err, codes.PermissionDenied) {
		t.Errorf("write from the deposed primary: err = %v, want PERMISSION_DENIED", err)
	}
	if err := second.Write(ctxT(t), update(p4v1.Update_INSERT, e)); err != nil {
		t.Errorf("write from the new primary: %v", err)
	}
}

func testWriteSemantics(t *testing.T, tgt Target) {
	s := tgt.primary(t, 300)
	in := tgt.Pipeline.Info
	wide := segmentEntry(t, in, 9)
	wide.Match[0].GetExact().Value = []byte{1, 0, 0} // 17 bits into bit<16>
	err := s.Write(ctxT(t),
		update(p4v1.Update_INSERT, segmentEntry(t, in, 1)), // 0 ok
		update(p4v1.Update_INSERT, segmentEntry(t, in, 1)), // 1 exists
		update(p4v1.Update_DELETE, segmentEntry(t, in, 2)), // 2 missing
		update(p4v1.Update_MODIFY, segmentEntry(t, in, 3)), // 3 missing
		update(p4v1.Update_INSERT, wide),                   // 4 too wide
		update(p4v1.Update_INSERT, segmentEntry(t, in, 5)), // 5 ok: after failures
	)
	var we *p4rt.WriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want *WriteError", err)
	}
	want := map[int]codes.Code{1: codes.AlreadyExists, 2: codes.NotFound, 3: codes.NotFound, 4: codes.InvalidArgument}
	got := map[int]codes.Code{}
	for _, u := range we.Updates {
		got[u.Index] = u.Code
	}
	for i, c := range want {
		if got[i] != c {
			t.Errorf("update %d: code %v, want %v (all: %v)", i, got[i], c, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("failed updates %v, want exactly %v", got, want)
	}
	n := countTable(t, s, in, "ingress.segments")
	if n != 2 {
		t.Errorf("segments table holds %d entries, want 2 (updates 0 and 5 applied)", n)
	}
}

func readTable(t *testing.T, s *p4rt.Session, in *pipeline.Info, name string) []*p4v1.TableEntry {
	t.Helper()
	tb, ok := in.Table(name)
	if !ok {
		t.Fatalf("no table %s", name)
	}
	var out []*p4v1.TableEntry
	err := s.Read(ctxT(t), []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: tb.ID}}}},
		func(e *p4v1.Entity) error { out = append(out, e.GetTableEntry()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func countTable(t *testing.T, s *p4rt.Session, in *pipeline.Info, name string) int {
	return len(readTable(t, s, in, name))
}

func testReadBack(t *testing.T, tgt Target) {
	s := tgt.primary(t, 400)
	in := tgt.Pipeline.Info
	U := pipeline.Uint
	var written []*p4v1.TableEntry
	build := func(b *pipeline.EntryBuilder) {
		e, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		written = append(written, e)
	}
	build(in.NewEntry("ingress.acl_v4").Ternary("segment", U(10), U(0xffff)).Ternary("ip_proto", U(6), U(0xff)).
		Ternary("l4_dst_port", U(5432), U(0xffff)).Priority(100).Action("acl_allow"))
	hi := uint64(8080)
	if tgt.Pipeline.Target.Limits.RangeAsMask {
		hi = 8015 // an aligned block: all a range is there
	}
	build(in.NewEntry("ingress.dst_port_class").Exact("segment", U(10)).Exact("ip_proto", U(6)).
		Range("l4_dst_port", U(8000), U(hi)).Priority(1).Action("set_dst_port_class", pipeline.P("port_class", U(8000))))
	build(in.NewEntry("ingress.policy_port").Exact("src_identity", U(1)).Exact("dst_identity", U(2)).Exact("ip_proto", U(6)).
		Exact("l4_dst_port", U(5432)).Action("policy_port_allow", pipeline.P("rank", U(1614))))
	build(in.NewEntry("ingress.dst_identity_v4").Exact("segment", U(10)).LPM("dst_ip", []byte{10, 1, 0, 0}, 16).
		Action("set_dst_identity", pipeline.P("identity", U(7))))
	build(in.NewEntry("ingress.l2").Exact("segment", U(10)).Exact("dst_mac", []byte{2, 0, 0, 0, 0, 1}).
		Action("forward", pipeline.P("port", U(3))))
	var ups []*p4v1.Update
	for _, e := range written {
		ups = append(ups, update(p4v1.Update_INSERT, e))
	}
	if err := s.Write(ctxT(t), ups...); err != nil {
		t.Fatal(err)
	}
	for _, e := range written {
		tb, _ := in.TableByID(e.TableId)
		got := readTable(t, s, in, tb.Name)
		if len(got) != 1 {
			t.Fatalf("table %s: read %d entries, want 1", tb.Name, len(got))
		}
		// Targets may echo values padded to the field width; compare the
		// normalized forms, as the reconciler does.
		if g, w := pipeline.NormalizeEntry(got[0]), pipeline.NormalizeEntry(e); !proto.Equal(g, w) {
			t.Errorf("table %s: read back\n%v\nwant\n%v", tb.Name, g, w)
		}
		if pipeline.EntryKey(got[0]) != pipeline.EntryKey(e) {
			t.Errorf("table %s: read-back key differs from written key", tb.Name)
		}
	}
}

func testTableFull(t *testing.T, tgt Target) {
	s := tgt.primary(t, 500)
	in := tgt.Pipeline.Info
	tb, _ := in.Table("ingress.segments")
	size := int(tb.Size)
	const batch = 1000
	for lo := 0; lo < size; lo += batch {
		var ups []*p4v1.Update
		for seg := lo; seg < min(lo+batch, size); seg++ {
			ups = append(ups, update(p4v1.Update_INSERT, segmentEntry(t, in, uint64(seg))))
		}
		if err := s.Write(ctxT(t), ups...); err != nil {
			t.Fatalf("filling segments up to %d: %v", size, err)
		}
	}
	want := tgt.FullTableCode
	if want == codes.OK {
		want = codes.ResourceExhausted
	}
	err := s.Write(ctxT(t), update(p4v1.Update_INSERT, segmentEntry(t, in, uint64(size))))
	var we *p4rt.WriteError
	if !errors.As(err, &we) || len(we.Updates) != 1 || we.Updates[0].Code != want {
		t.Fatalf("insert into a full table (%d entries): err = %v, want %v", size, err, want)
	}
	if n := countTable(t, s, in, "ingress.segments"); n != size {
		t.Errorf("full table holds %d entries after the refused insert, want %d", n, size)
	}
}

func testCookie(t *testing.T, tgt Target) {
	tgt.primary(t, 600)
	conn, err := grpc.NewClient(tgt.Addr, append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, tgt.DialOptions...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := p4v1.NewP4RuntimeClient(conn).GetForwardingPipelineConfig(ctxT(t), &p4v1.GetForwardingPipelineConfigRequest{
		DeviceId: tgt.DeviceID, ResponseType: p4v1.GetForwardingPipelineConfigRequest_COOKIE_ONLY})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.GetConfig().GetCookie().GetCookie(); got != tgt.Pipeline.Cookie {
		t.Errorf("cookie %#x, want %#x", got, tgt.Pipeline.Cookie)
	}
}

func mcGroup(id uint32, ports ...uint32) *p4v1.MulticastGroupEntry {
	g := &p4v1.MulticastGroupEntry{MulticastGroupId: id}
	for _, p := range ports {
		g.Replicas = append(g.Replicas, pipeline.Replica(p))
	}
	return g
}

func groupUpdate(typ p4v1.Update_Type, g *p4v1.MulticastGroupEntry) *p4v1.Update {
	return &p4v1.Update{Type: typ, Entity: &p4v1.Entity{Entity: &p4v1.Entity_PacketReplicationEngineEntry{
		PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{MulticastGroupEntry: g}}}}}
}

// testGroups reconciles multicast groups together with the table entries
// that name them, and checks that the target echoes groups in a form the
// reconciler takes as equal (a second reconcile writes nothing).
func testGroups(t *testing.T, tgt Target) {
	s := tgt.primary(t, 700)
	in := tgt.Pipeline.Info
	segs, _ := in.Table("ingress.segments")
	o := p4rt.BulkOptions{BatchSize: 100, InFlight: 2}
	set := p4rt.NewEntrySet(2)
	for _, seg := range []uint64{1, 2} {
		if err := set.Add(segmentEntry(t, in, seg)); err != nil {
			t.Fatal(err)
		}
	}
	groups := []*p4v1.MulticastGroupEntry{mcGroup(1, 1, 2, 3), mcGroup(2, 4)}
	for round, want := range []string{"write", "no-op"} {
		plan, err := s.ReconcileDevice(ctxT(t), set, groups, o, segs.ID)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if (want == "no-op") != plan.Empty() {
			t.Errorf("round %d: plan %v, want %s", round, plan, want)
		}
	}
	got, err := s.ReadGroups(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	if p, err := p4rt.DiffGroups(groups, got); err != nil || p.Len() != 0 {
		t.Errorf("device groups %v differ from the desired ones (%v)", got, err)
	}

	// A changed replica set is one MODIFY, and then equal again.
	groups[0] = mcGroup(1, 3, 1)
	plan, err := s.ReconcileDevice(ctxT(t), set, groups, o, segs.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Groups.Modify) != 1 || plan.Groups.Len() != 1 {
		t.Errorf("replica change: plan %v, want one group MODIFY", plan)
	}
	if plan, err := s.ReconcileDevice(ctxT(t), set, groups, o, segs.ID); err != nil || !plan.Empty() {
		t.Errorf("after the change: plan %v, err %v; want no-op", plan, err)
	}

	err = s.Write(ctxT(t), groupUpdate(p4v1.Update_INSERT, mcGroup(2, 5)), groupUpdate(p4v1.Update_DELETE, mcGroup(9)))
	var we *p4rt.WriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want *WriteError", err)
	}
	codesGot := map[int]codes.Code{}
	for _, u := range we.Updates {
		codesGot[u.Index] = u.Code
	}
	if codesGot[0] != codes.AlreadyExists || codesGot[1] != codes.NotFound {
		t.Errorf("existing group insert, missing group delete: codes %v, want 0: ALREADY_EXISTS, 1: NOT_FOUND", codesGot)
	}
}

// testUpgrade pushes a new build of the pipeline (same program, another
// cookie) onto a device that holds entries: RECONCILE_AND_COMMIT keeps
// them; a target without it gets VERIFY_AND_COMMIT and starts empty.
// The original pipeline is put back at the end.
func testUpgrade(t *testing.T, tgt Target) {
	s := tgt.primary(t, 800)
	ctx := ctxT(t)
	in := tgt.Pipeline.Info
	if err := s.SetPipeline(ctx, tgt.Pipeline); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.SetPipeline(context.Background(), tgt.Pipeline); err != nil {
			t.Errorf("restore the pipeline: %v", err)
		}
	})
	if err := s.Write(ctx, update(p4v1.Update_INSERT, segmentEntry(t, in, 31))); err != nil {
		t.Fatal(err)
	}
	target := tgt.Pipeline.Target
	target.Reconcile = !tgt.NoReconcile
	cfg := append(append([]byte{}, tgt.Pipeline.DeviceConfig...), '\n')
	if tgt.Rebuild != nil {
		cfg = tgt.Rebuild(tgt.Pipeline.DeviceConfig)
	}
	up := &pipeline.Pipeline{Target: target, Info: in, DeviceConfig: cfg, Cookie: tgt.Pipeline.Cookie ^ 0x1}
	push, err := s.EnsurePipeline(ctx, up)
	if err != nil {
		t.Fatal(err)
	}
	want, entries := p4rt.PushReconcile, 1
	if tgt.NoReconcile {
		want, entries = p4rt.PushVerifyCommit, 0
	}
	if push != want {
		t.Errorf("push %q, want %q", push, want)
	}
	if n := countTable(t, s, in, "ingress.segments"); n != entries {
		t.Errorf("after the upgrade ingress.segments holds %d entries, want %d", n, entries)
	}
	if cookie, ok, err := s.PipelineCookie(ctx); err != nil || !ok || cookie != up.Cookie {
		t.Errorf("cookie %#x (%v, %v), want %#x", cookie, ok, err, up.Cookie)
	}
}
