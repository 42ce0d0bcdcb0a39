package p4rtsim_test

// Direct counters and the read paths through modifies and compactions.

import (
	"context"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func policyEntry(t *testing.T, in *pipeline.Info, i int, action string, rank uint64) *p4v1.TableEntry {
	t.Helper()
	U := pipeline.Uint
	e, err := in.NewEntry("ingress.policy_port").Exact("src_identity", U(uint64(i%50+1))).Exact("dst_identity", U(uint64(i/50+1))).
		Exact("ip_proto", U(17)).Exact("l4_dst_port", U(uint64(53+i))).Action(action, pipeline.P("rank", U(rank))).Build()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readAll reads entities and returns what came back, keyed by EntryKey,
// with the counter data folded into the table entry.
func readAll(t *testing.T, s *p4rt.Session, entities ...*p4v1.Entity) map[string]*p4v1.TableEntry {
	t.Helper()
	out := map[string]*p4v1.TableEntry{}
	err := s.Read(context.Background(), entities, func(e *p4v1.Entity) error {
		te := e.GetTableEntry()
		if dc := e.GetDirectCounterEntry(); dc != nil {
			te = proto.Clone(dc.GetTableEntry()).(*p4v1.TableEntry)
			te.CounterData = dc.GetData()
		}
		if te != nil {
			out[pipeline.EntryKey(te)] = te
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDirectCountersAndReadPaths modifies entries of a counted table in
// place and into new places, deletes most of them (compacting the
// table's storage), and checks after each step that every read path (the
// prepared-bytes bulk read, the message read, direct counter entries and
// single-entry reads) gives the same entries and counters.
func TestDirectCountersAndReadPaths(t *testing.T) {
	sim, dial := startSim(t, p4rtsim.Options{TableSize: 10000})
	p := embedded(t)
	s := mustOpen(t, dial, 1)
	ctx := context.Background()
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	tbl, _ := p.Info.Table("ingress.policy_port")
	const n = 2000
	want := map[string]*p4v1.TableEntry{}
	var ups []*p4v1.Update
	for i := range n {
		e := policyEntry(t, p.Info, i, "policy_port_allow", 1)
		if i%3 == 0 { // written with counter data, which the target keeps
			e.CounterData = &p4v1.CounterData{PacketCount: int64(i), ByteCount: int64(100 * i)}
		}
		ups = append(ups, update(p4v1.Update_INSERT, e))
		want[pipeline.EntryKey(e)] = e
	}
	if err := s.Write(ctx, ups...); err != nil {
		t.Fatal(err)
	}
	counter := func(e *p4v1.TableEntry) *p4v1.CounterData {
		if c := e.GetCounterData(); c != nil {
			return c
		}
		return &p4v1.CounterData{}
	}
	check := func(step string) {
		t.Helper()
		q := func() *p4v1.Entity {
			return &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: tbl.ID, CounterData: &p4v1.CounterData{}}}}
		}
		groups := &p4v1.Entity{Entity: &p4v1.Entity_PacketReplicationEngineEntry{PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{
			Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{MulticastGroupEntry: &p4v1.MulticastGroupEntry{}}}}}
		direct := &p4v1.Entity{Entity: &p4v1.Entity_DirectCounterEntry{DirectCounterEntry: &p4v1.DirectCounterEntry{TableEntry: &p4v1.TableEntry{TableId: tbl.ID}}}}
		for _, tc := range []struct {
			path     string
			entities []*p4v1.Entity
		}{
			{"prepared bytes", []*p4v1.Entity{q()}},
			{"messages", []*p4v1.Entity{q(), groups}},
			{"direct counters", []*p4v1.Entity{direct}},
		} {
			got := readAll(t, s, tc.entities...)
			if len(got) != len(want) {
				t.Fatalf("%s, %s read: %d entries, want %d", step, tc.path, len(got), len(want))
			}
			for k, w := range want {
				g := got[k]
				if g == nil {
					t.Fatalf("%s, %s read: entry %v missing", step, tc.path, w)
				}
				wc := proto.Clone(w).(*p4v1.TableEntry)
				wc.CounterData = counter(w)
				if !proto.Equal(g, wc) {
					t.Fatalf("%s, %s read:\n%v\nwant\n%v", step, tc.path, g, wc)
				}
			}
		}
		// Single entries, by their keys.
		singles := 0
		for _, w := range want {
			if singles++; singles > 50 {
				break
			}
			q := proto.Clone(w).(*p4v1.TableEntry)
			q.Action, q.CounterData = nil, &p4v1.CounterData{}
			got := readAll(t, s, &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: q}})
			if g := got[pipeline.EntryKey(w)]; len(got) != 1 || !proto.Equal(g.GetCounterData(), counter(w)) || !proto.Equal(g.GetAction(), w.GetAction()) {
				t.Fatalf("%s, single read of %v: %v", step, w, got)
			}
		}
	}
	check("inserted")

	// The data plane counts.
	i := 0
	for _, w := range want {
		if i++; i%2 == 0 {
			continue
		}
		if !sim.AddDirectCounter(w, 2, 300) {
			t.Fatalf("AddDirectCounter(%v): no entry", w)
		}
		c := counter(w)
		w.CounterData = &p4v1.CounterData{PacketCount: c.GetPacketCount() + 2, ByteCount: c.GetByteCount() + 300}
	}
	check("counted")

	// Modifies: a same-size action (in place) and a wider param (moved).
	ups = ups[:0]
	i = 0
	for k, w := range want {
		m := proto.Clone(w).(*p4v1.TableEntry)
		m.CounterData = nil // a modify without counter data keeps the counter
		m.GetAction().GetAction().ActionId = func() uint32 {
			a, _ := p.Info.Action("policy_port_deny")
			return a.ID
		}()
		if i++; i%2 == 0 {
			m.GetAction().GetAction().Params[0].Value = pipeline.Uint(60000)
		}
		ups = append(ups, update(p4v1.Update_MODIFY, m))
		m = proto.Clone(m).(*p4v1.TableEntry)
		m.CounterData = w.CounterData
		want[k] = m
	}
	if err := s.Write(ctx, ups...); err != nil {
		t.Fatal(err)
	}
	check("modified")

	// Deletes: most entries go, the storage is compacted.
	ups = ups[:0]
	i = 0
	for k, w := range want {
		if i++; i%5 != 0 {
			ups = append(ups, update(p4v1.Update_DELETE, w))
			delete(want, k)
		}
	}
	if err := s.Write(ctx, ups...); err != nil {
		t.Fatal(err)
	}
	check("deleted")

	// Direct counter writes, then everything goes.
	ups = ups[:0]
	for _, w := range want {
		c := &p4v1.CounterData{PacketCount: 7, ByteCount: 700}
		ups = append(ups, &p4v1.Update{Type: p4v1.Update_MODIFY, Entity: &p4v1.Entity{Entity: &p4v1.Entity_DirectCounterEntry{
			DirectCounterEntry: &p4v1.DirectCounterEntry{TableEntry: w, Data: c}}}})
		w.CounterData = c
	}
	if err := s.Write(ctx, ups...); err != nil {
		t.Fatal(err)
	}
	check("counters written")
	ups = ups[:0]
	for k, w := range want {
		ups = append(ups, update(p4v1.Update_DELETE, w))
		delete(want, k)
	}
	if err := s.Write(ctx, ups...); err != nil {
		t.Fatal(err)
	}
	check("emptied")
}
