package p4rt_test

import (
	"context"
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestReadCounters: the raw counter read gives every entry of a policy
// table its key and counts, as the protobuf read of the same entries
// does; a table without a direct counter is refused by the device.
func TestReadCounters(t *testing.T) {
	p := embedded(t)
	sim, dial := p4rttest.StartSim(t, p4rtsim.Options{})
	s := primary(t, dial, p)
	ctx := context.Background()
	tb, _ := p.Info.Table("ingress.policy_port")
	var ups []*p4v1.Update
	var err error
	want := map[string][2]int64{}
	var entries []*p4v1.TableEntry
	for i := uint64(0); i < 300; i++ {
		e, err := p.Info.NewEntry("ingress.policy_port").Exact("src_identity", pipeline.Uint(i%17+1)).Exact("dst_identity", pipeline.Uint(i/17+1)).
			Exact("ip_proto", pipeline.Uint(6)).Exact("l4_dst_port", pipeline.Uint(80+i)).Action("policy_port_allow", pipeline.P("rank", pipeline.Uint(9))).Build()
		if err != nil {
			t.Fatal(err)
		}
		entries = append(entries, e)
		ups = append(ups, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}})
	}
	if err := s.WriteBulk(ctx, ups, p4rt.BulkOptions{}); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		pk, by := int64(i%5), int64(i%5)*(64+int64(i))
		if pk > 0 && !sim.AddDirectCounter(e, pk, by) {
			t.Fatalf("entry %d not in the sim", i)
		}
		want[string(pipeline.EntryKey(e))] = [2]int64{pk, by}
	}
	got := map[string][2]int64{}
	if err := s.ReadCounters(ctx, []uint32{tb.ID}, func(key []byte, packets, bytes int64) error {
		got[string(key)] = [2]int64{packets, bytes}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("read %d counters, want %d", len(got), len(want))
	}
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("entry %x: read %v, want %v", k, got[k], w)
		}
	}
	// The protobuf read of the same request agrees.
	n := 0
	err = s.Read(ctx, []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: tb.ID, CounterData: &p4v1.CounterData{}}}}},
		func(en *p4v1.Entity) error {
			te := en.GetTableEntry()
			c := te.GetCounterData()
			if w := want[string(pipeline.EntryKey(te))]; c.GetPacketCount() != w[0] || c.GetByteCount() != w[1] {
				t.Errorf("protobuf read %v, raw read %v", c, w)
			}
			n++
			return nil
		})
	if err != nil || n != len(want) {
		t.Fatalf("protobuf read: %d entries, %v", n, err)
	}
	l2, _ := p.Info.Table("ingress.l2")
	fwd, err := p.Info.NewEntry("ingress.l2").Exact("segment", pipeline.Uint(1)).Exact("dst_mac", pipeline.Uint(0xa)).
		Action("forward", pipeline.P("port", pipeline.Uint(3))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBulk(ctx, []*p4v1.Update{{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: fwd}}}}, p4rt.BulkOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := s.ReadCounters(ctx, []uint32{l2.ID}, func([]byte, int64, int64) error { return nil }); err == nil || !strings.Contains(err.Error(), "counter") {
		t.Errorf("table without a direct counter: err = %v", err)
	}
}
