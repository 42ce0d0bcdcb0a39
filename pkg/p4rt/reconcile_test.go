package p4rt_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func l2(t *testing.T, in *pipeline.Info, seg, mac, port uint64) *p4v1.TableEntry {
	t.Helper()
	m := pipeline.Uint(mac)
	e, err := in.NewEntry("ingress.l2").Exact("segment", pipeline.Uint(seg)).Exact("dst_mac", m).
		Action("forward", pipeline.P("port", pipeline.Uint(port))).Build()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func embedded(t testing.TB) *pipeline.Pipeline { return p4rttest.Pipeline(t) }

func TestDiff(t *testing.T) {
	in := embedded(t).Info
	padded := proto.Clone(l2(t, in, 1, 0xa, 3)).(*p4v1.TableEntry)
	padded.Match[1].GetExact().Value = []byte{0, 0, 0, 0, 0, 0xa} // as a target echoes a bit<48>
	padded.GetAction().GetAction().Params[0].Value = []byte{0, 3}
	padded.CounterData = &p4v1.CounterData{PacketCount: 9}
	cases := []struct {
		name                string
		desired, installed  []*p4v1.TableEntry
		ins, mod, del, want int
	}{
		{name: "equal", desired: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3)}, installed: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3)}},
		{name: "padded echo is equal", desired: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3)}, installed: []*p4v1.TableEntry{padded}},
		{name: "missing", desired: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3), l2(t, in, 1, 0xb, 4)}, installed: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3)}, ins: 1},
		{name: "stale", desired: nil, installed: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3)}, del: 1},
		{name: "changed action", desired: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 4)}, installed: []*p4v1.TableEntry{padded}, mod: 1},
		{name: "segment is part of the key", desired: []*p4v1.TableEntry{l2(t, in, 2, 0xa, 3)}, installed: []*p4v1.TableEntry{l2(t, in, 1, 0xa, 3)}, ins: 1, del: 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := p4rt.Diff(c.desired, c.installed)
			if len(p.Insert) != c.ins || len(p.Modify) != c.mod || len(p.Delete) != c.del {
				t.Errorf("plan %v, want %d inserts, %d modifies, %d deletes", p, c.ins, c.mod, c.del)
			}
		})
	}
}

func startSim(t testing.TB, o p4rtsim.Options) grpc.DialOption {
	_, dial := p4rttest.StartSim(t, o)
	return dial
}

func primary(t testing.TB, dial grpc.DialOption, p *pipeline.Pipeline) *p4rt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1}, DialOptions: dialOpts(dial)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBulkWritersMapErrorsToInputIndex writes the same updates through
// both bulk paths (messages and the compact EntrySet) and expects the same
// error: every failed update at its input position, in order.
func TestBulkWritersMapErrorsToInputIndex(t *testing.T) {
	p := embedded(t)
	dup := []int{7, 1234, 2499} // already on the device: in different batches
	o := p4rt.BulkOptions{BatchSize: 100, InFlight: 3}
	paths := []struct {
		name  string
		write func(s *p4rt.Session, es []*p4v1.TableEntry) error
	}{
		{"messages", func(s *p4rt.Session, es []*p4v1.TableEntry) error {
			ups := make([]*p4v1.Update, len(es))
			for i, e := range es {
				ups[i] = &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
			}
			return s.WriteBulk(context.Background(), ups, o)
		}},
		{"entry set", func(s *p4rt.Session, es []*p4v1.TableEntry) error {
			set := p4rt.NewEntrySet(len(es))
			for _, e := range es {
				if err := set.Add(e); err != nil {
					t.Fatal(err)
				}
			}
			return s.WriteSet(context.Background(), set, p4v1.Update_INSERT, o)
		}},
	}
	for _, path := range paths {
		t.Run(path.name, func(t *testing.T) {
			s := primary(t, startSim(t, p4rtsim.Options{}), p)
			var es []*p4v1.TableEntry
			for i := uint64(0); i < 2500; i++ {
				es = append(es, l2(t, p.Info, 1, i, 1))
			}
			for _, i := range dup {
				if err := s.Write(context.Background(), &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: es[i]}}}); err != nil {
					t.Fatal(err)
				}
			}
			err := path.write(s, es)
			var we *p4rt.WriteError
			if !errors.As(err, &we) {
				t.Fatalf("err = %v, want *WriteError", err)
			}
			if statusCode(we.Err) != codes.Unknown {
				t.Errorf("Err = %v, want the first failing batch's UNKNOWN", we.Err)
			}
			var got []int
			for _, u := range we.Updates {
				if u.Code != codes.AlreadyExists {
					t.Errorf("update %d: %v", u.Index, u.Code)
				}
				got = append(got, u.Index)
			}
			if fmt.Sprint(got) != fmt.Sprint(dup) {
				t.Errorf("failed indexes %v, want %v", got, dup)
			}
		})
	}
}

func TestReconcileIsMinimalAndIdempotent(t *testing.T) {
	p := embedded(t)
	s := primary(t, startSim(t, p4rtsim.Options{}), p)
	ctx := context.Background()
	var desired []*p4v1.TableEntry
	for i := uint64(0); i < 3000; i++ {
		desired = append(desired, l2(t, p.Info, 1, i, 1))
	}
	o := p4rt.BulkOptions{BatchSize: 500, InFlight: 2}
	plan, err := s.Reconcile(ctx, desired, o)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Insert) != 3000 || len(plan.Modify)+len(plan.Delete) != 0 {
		t.Fatalf("first reconcile: %v", plan)
	}
	plan, err = s.Reconcile(ctx, desired, o)
	if err != nil || !plan.Empty() {
		t.Fatalf("second reconcile: %v, %v; want no writes", plan, err)
	}
	// Change a little: one action, one removed, one added.
	desired[10] = l2(t, p.Info, 1, 10, 2)
	removed := desired[20]
	desired = append(desired[:20], desired[21:]...)
	desired = append(desired, l2(t, p.Info, 2, 5, 3))
	plan, err = s.Reconcile(ctx, desired, o, removed.TableId)
	if err != nil {
		t.Fatal(err)
	}
	if len(plan.Insert) != 1 || len(plan.Modify) != 1 || len(plan.Delete) != 1 {
		t.Fatalf("delta reconcile: %v, want 1/1/1", plan)
	}
	installed, err := s.ReadTables(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after := p4rt.Diff(desired, installed); !after.Empty() {
		t.Fatalf("device differs from desired after reconcile: %v", after)
	}
}

func dialOpts(d grpc.DialOption) []grpc.DialOption { return []grpc.DialOption{d} }

func statusCode(err error) codes.Code { return status.Code(err) }

func TestReconcileSet(t *testing.T) {
	p := embedded(t)
	s := primary(t, startSim(t, p4rtsim.Options{}), p)
	ctx := context.Background()
	tbl, _ := p.Info.Table("ingress.l2")
	set := p4rt.NewEntrySet(3000)
	for i := uint64(0); i < 3000; i++ {
		if err := set.Add(l2(t, p.Info, 1, i, 1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := set.Add(l2(t, p.Info, 1, 5, 9)); err == nil {
		t.Error("Add accepted a second entry with an existing key")
	}
	o := p4rt.BulkOptions{BatchSize: 400, InFlight: 2}
	plan, err := s.ReconcileSet(ctx, set, o, tbl.ID)
	if ins, mod, del := plan.Counts(); err != nil || ins != 3000 || mod+del != 0 {
		t.Fatalf("first reconcile: %v, %v", plan, err)
	}
	if plan, err = s.ReconcileSet(ctx, set, o, tbl.ID); err != nil || !plan.Empty() {
		t.Fatalf("second reconcile: %v, %v; want no writes", plan, err)
	}
	// Someone else changes the device behind our back: one modified, one
	// deleted, one extra entry.
	other := []*p4v1.Update{
		{Type: p4v1.Update_MODIFY, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: l2(t, p.Info, 1, 7, 4)}}},
		{Type: p4v1.Update_DELETE, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: l2(t, p.Info, 1, 8, 1)}}},
		{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: l2(t, p.Info, 3, 1, 1)}}},
	}
	if err := s.Write(ctx, other...); err != nil {
		t.Fatal(err)
	}
	plan, err = s.ReconcileSet(ctx, set, o, tbl.ID)
	if ins, mod, del := plan.Counts(); err != nil || ins != 1 || mod != 1 || del != 1 {
		t.Fatalf("repair reconcile: %v, %v; want 1/1/1", plan, err)
	}
	var desired []*p4v1.TableEntry
	set.Each(func(e *p4v1.TableEntry) error { desired = append(desired, e); return nil })
	installed, err := s.ReadTables(ctx, tbl.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := p4rt.Diff(desired, installed); !d.Empty() {
		t.Fatalf("device differs after repair: %v", d)
	}
}
