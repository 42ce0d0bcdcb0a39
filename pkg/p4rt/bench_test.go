package p4rt_test

import (
	"context"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func l2b(b *testing.B, in *pipeline.Info, i uint64) *p4v1.TableEntry {
	e, err := in.NewEntry("ingress.l2").Exact("segment", pipeline.Uint(1)).Exact("dst_mac", pipeline.Uint(i)).
		Action("forward", pipeline.P("port", pipeline.Uint(i%500))).Build()
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkDiff100k diffs 100,000 desired entries against an equal
// read-back: the no-op reconcile's compute cost.
func BenchmarkDiff100k(b *testing.B) {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		b.Fatal(err)
	}
	const n = 100_000
	desired := make([]*p4v1.TableEntry, n)
	for i := range desired {
		desired[i] = l2b(b, p.Info, uint64(i))
	}
	b.ReportAllocs()
	for b.Loop() {
		if plan := p4rt.Diff(desired, desired); !plan.Empty() {
			b.Fatal(plan)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkWriteBulkSim inserts and deletes 10,000 entries per iteration
// through p4rtsim over in-memory gRPC, 1000 per batch, 4 RPCs in flight.
func BenchmarkWriteBulkSim(b *testing.B) {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		b.Fatal(err)
	}
	s := primary(b, startSim(b, p4rtsim.Options{}), p)
	const n = 10_000
	ins := make([]*p4v1.Update, n)
	del := make([]*p4v1.Update, n)
	for i := range ins {
		e := l2b(b, p.Info, uint64(i))
		ins[i] = &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
		del[i] = &p4v1.Update{Type: p4v1.Update_DELETE, Entity: ins[i].Entity}
	}
	ctx := context.Background()
	o := p4rt.BulkOptions{BatchSize: 1000, InFlight: 4}
	b.ReportAllocs()
	for b.Loop() {
		if err := s.WriteBulk(ctx, ins, o); err != nil {
			b.Fatal(err)
		}
		if err := s.WriteBulk(ctx, del, o); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(2*float64(n)*float64(b.N)/b.Elapsed().Seconds(), "updates/s")
}

func policyB(b *testing.B, in *pipeline.Info, i uint64) *p4v1.TableEntry {
	U := pipeline.Uint
	e, err := in.NewEntry("ingress.policy_proto").
		Exact("src_identity", U(i&0xffff)).
		Exact("dst_identity", U(i>>16&0xffff)).
		Exact("ip_proto", U(6)).
		Action("policy_proto_allow", pipeline.P("rank", U(10))).Build()
	if err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkReconcileSetNoop reconciles 100,000 exact policy entries
// that the device (p4rtsim over in-memory gRPC) already holds: the read,
// the compare, and no write. Client and target share the CPUs.
func BenchmarkReconcileSetNoop(b *testing.B) {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		b.Fatal(err)
	}
	s := primary(b, startSim(b, p4rtsim.Options{TableSize: 1 << 20}), p)
	const n = 100_000
	set := p4rt.NewEntrySet(n)
	for i := range n {
		if err := set.Add(policyB(b, p.Info, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	o := p4rt.BulkOptions{BatchSize: 1000, InFlight: 4}
	if err := s.WriteSet(ctx, set, p4v1.Update_INSERT, o); err != nil {
		b.Fatal(err)
	}
	tbl, _ := p.Info.Table("ingress.policy_proto")
	b.ReportAllocs()
	for b.Loop() {
		plan, err := s.ReconcileSet(ctx, set, o, tbl.ID)
		if err != nil {
			b.Fatal(err)
		}
		if !plan.Empty() {
			b.Fatal(plan)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkReadCounters100k reads the direct counters of 100,000 exact
// policy entries from p4rtsim over in-memory gRPC, summing them as a
// counter poll would; the client keeps no per-entry state.
func BenchmarkReadCounters100k(b *testing.B) {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		b.Fatal(err)
	}
	s := primary(b, startSim(b, p4rtsim.Options{TableSize: 1 << 20}), p)
	const n = 100_000
	set := p4rt.NewEntrySet(n)
	for i := range n {
		if err := set.Add(policyB(b, p.Info, uint64(i))); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()
	if err := s.WriteSet(ctx, set, p4v1.Update_INSERT, p4rt.BulkOptions{BatchSize: 1000, InFlight: 4}); err != nil {
		b.Fatal(err)
	}
	tbl, _ := p.Info.Table("ingress.policy_proto")
	b.ReportAllocs()
	for b.Loop() {
		got := 0
		if err := s.ReadCounters(ctx, []uint32{tbl.ID}, func(_ []byte, packets, _ int64) error {
			got++
			return nil
		}); err != nil {
			b.Fatal(err)
		}
		if got != n {
			b.Fatalf("read %d counters, want %d", got, n)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
