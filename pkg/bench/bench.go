// Package bench measures how fast a P4Runtime device takes and gives back
// table entries through pkg/p4rt, next to the reference limit of the
// protobuf codec itself, and how much controller heap the desired entries
// take. It backs `p4ctl bench`.
package bench

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Config is one benchmark run.
type Config struct {
	Target      string // name for the report ("sim" or the address)
	Addr        string
	DeviceID    uint64
	DialOptions []grpc.DialOption
	Pipeline    *pipeline.Pipeline
	Entries     int
	Batch       int
	InFlight    int
	// Batch1Sample is how many entries are also written one per Write RPC
	// to report the naive client's rate (0: skip).
	Batch1Sample int
	// Progress, if set, hears about each phase's advance.
	Progress func(phase string, done, total int)
	// Force runs on a device another client is primary of, taking
	// mastership from it; without it such a device is refused
	// (ErrOccupied) before anything is written.
	Force bool
}

// Result is what a run measured. Rates are entries per second.
type Result struct {
	Target                string  `json:"target"`
	Entries               int     `json:"entries"`
	Batch                 int     `json:"batch"`
	InFlight              int     `json:"inflight"`
	WireBytesPerEntry     float64 `json:"wire_bytes_per_entry"`
	ProtoLimitEntriesPerS float64 `json:"proto_limit_entries_per_s"`
	WriteEntriesPerS      float64 `json:"write_entries_per_s"`
	ReadEntriesPerS       float64 `json:"read_entries_per_s"`
	ReconcileNoopS        float64 `json:"reconcile_noop_s"`
	HeapBytesPerEntry     float64 `json:"heap_bytes_per_entry"`
	Batch1Entries         int     `json:"batch1_entries,omitempty"`
	Batch1EntriesPerS     float64 `json:"batch1_entries_per_s,omitempty"`
	// The ceiling: the same batched writes into CeilingTable, the
	// simplest exact table, in the same run; the policy write rate is
	// measured against it.
	CeilingEntries     int     `json:"ceiling_entries"`
	CeilingEntriesPerS float64 `json:"ceiling_entries_per_s"`
	WriteOfCeiling     float64 `json:"write_of_ceiling"`
}

// Table is the table the benchmark fills: identity-pair rules of one
// destination port, exact match on (source identity, destination
// identity, protocol, port), the controller's most numerous kind.
const Table = "ingress.policy_port"

// CeilingTable is an exact table of the simplest shape (two exact
// fields), whose raw insert rate a device run reports as its ceiling.
const CeilingTable = "ingress.l2"

// policyEntry is entry i: a distinct (source, destination) identity pair.
func policyEntry(in *pipeline.Info, i int) (*p4v1.TableEntry, error) {
	U := pipeline.Uint
	return in.NewEntry(Table).
		Exact("src_identity", U(uint64(i)&0xffff)).
		Exact("dst_identity", U(uint64(i)>>16&0xffff)).
		Exact("ip_proto", U(6)).
		Exact("l4_dst_port", U(5432)).
		Action("policy_port_allow", pipeline.P("rank", U(1614))).Build()
}

// ceilingEntry is entry i of the ceiling table: a distinct (segment, MAC).
func ceilingEntry(in *pipeline.Info, i int) (*p4v1.TableEntry, error) {
	U := pipeline.Uint
	mac := []byte{2, 0, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}
	return in.NewEntry(CeilingTable).Exact("segment", U(1)).Exact("dst_mac", mac).
		Action("forward", pipeline.P("port", U(1))).Build()
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// Run opens a primary session (taking over the device with an election id
// derived from the clock), pushes the pipeline (which empties the device's
// tables), then measures writing, reading back and no-op reconciling
// cfg.Entries entries.
func Run(ctx context.Context, cfg Config) (Result, error) {
	r := Result{Target: cfg.Target, Entries: cfg.Entries, Batch: cfg.Batch, InFlight: cfg.InFlight}
	in := cfg.Pipeline.Info
	tbl, ok := in.Table(Table)
	if !ok {
		return r, fmt.Errorf("pipeline has no table %s", Table)
	}
	progress := func(phase string, done, total int) {
		if cfg.Progress != nil {
			cfg.Progress(phase, done, total)
		}
	}

	// Whose device is it? Nothing is built or written before the answer.
	occ, err := Inspect(ctx, cfg.Addr, cfg.DeviceID, cfg.DialOptions)
	if err != nil {
		return r, err
	}
	if occ.Primary && !cfg.Force {
		return r, refusal(cfg.Addr, occ)
	}

	// The desired entries, as the controller holds them.
	before := heapInUse()
	desired := p4rt.NewEntrySet(cfg.Entries)
	for i := 0; i < cfg.Entries; i++ {
		e, err := policyEntry(in, i)
		if err != nil {
			return r, err
		}
		if err := desired.Add(e); err != nil {
			return r, err
		}
		if i%50000 == 0 {
			progress("build", i, cfg.Entries)
		}
	}
	r.HeapBytesPerEntry = float64(int64(heapInUse())-int64(before)) / float64(cfg.Entries)

	// chunks feeds fn the desired entries as INSERT updates, chunk by
	// chunk, so that only one chunk exists as protobuf messages at a time.
	chunks := func(size int, fn func([]*p4v1.Update) error) error {
		buf := make([]*p4v1.Update, 0, size)
		err := desired.Each(func(e *p4v1.TableEntry) error {
			buf = append(buf, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}})
			if len(buf) == size {
				err := fn(buf)
				buf = make([]*p4v1.Update, 0, size)
				return err
			}
			return nil
		})
		if err == nil && len(buf) > 0 {
			err = fn(buf)
		}
		return err
	}

	// The same WriteRequests the write phase sends, through the codec
	// alone: the reference limit. Only marshal + unmarshal are timed.
	var wire int
	var codec time.Duration
	err = chunks(cfg.Batch, func(ups []*p4v1.Update) error {
		req := &p4v1.WriteRequest{DeviceId: cfg.DeviceID, ElectionId: &p4v1.Uint128{High: 1}, Updates: ups}
		start := time.Now()
		b, err := proto.Marshal(req)
		if err != nil {
			return err
		}
		var back p4v1.WriteRequest
		if err := proto.Unmarshal(b, &back); err != nil {
			return err
		}
		codec += time.Since(start)
		wire += len(b)
		return nil
	})
	if err != nil {
		return r, err
	}
	r.ProtoLimitEntriesPerS = float64(cfg.Entries) / codec.Seconds()
	r.WireBytesPerEntry = float64(wire) / float64(cfg.Entries)
	progress("codec", cfg.Entries, cfg.Entries)

	s, err := p4rt.Open(ctx, cfg.Addr, p4rt.Options{DeviceID: cfg.DeviceID, ElectionID: takeover(occ), DialOptions: cfg.DialOptions})
	if err != nil {
		return r, err
	}
	defer s.Close()
	if err := s.SetPipeline(ctx, cfg.Pipeline); err != nil {
		return r, err
	}

	o := p4rt.BulkOptions{BatchSize: cfg.Batch, InFlight: cfg.InFlight}
	if cfg.Progress != nil {
		var mu sync.Mutex
		written := 0
		o.OnBatch = func(n int) {
			mu.Lock()
			defer mu.Unlock()
			written += n
			progress("write", written, cfg.Entries)
		}
	}
	start := time.Now()
	// The controller's bulk write path: WriteRequests encoded from the
	// compact set.
	if err := s.WriteSet(ctx, desired, p4v1.Update_INSERT, o); err != nil {
		return r, fmt.Errorf("write: %w", err)
	}
	r.WriteEntriesPerS = float64(cfg.Entries) / time.Since(start).Seconds()

	start = time.Now()
	n := 0
	// The controller's bulk read path: wire bytes to canonical keys.
	err = s.ReadKeys(ctx, []uint32{tbl.ID}, func(_, _ []byte) error { n++; return nil })
	if err != nil {
		return r, fmt.Errorf("read: %w", err)
	}
	r.ReadEntriesPerS = float64(n) / time.Since(start).Seconds()
	if n != cfg.Entries {
		return r, fmt.Errorf("read back %d entries, wrote %d", n, cfg.Entries)
	}
	progress("read", cfg.Entries, cfg.Entries)

	start = time.Now()
	// The controller's reconcile: read back and compare; an equal device
	// gets no write.
	plan, err := s.PlanSet(ctx, desired, tbl.ID)
	if err != nil {
		return r, fmt.Errorf("reconcile: %w", err)
	}
	r.ReconcileNoopS = time.Since(start).Seconds()
	if !plan.Empty() {
		return r, fmt.Errorf("no-op reconcile wanted writes: %v", plan)
	}
	progress("reconcile", cfg.Entries, cfg.Entries)

	// The ceiling, with the same batches: as many entries as the policy
	// phase, or as the ceiling table holds.
	if ct, ok := in.Table(CeilingTable); ok {
		n := cfg.Entries
		if ct.Size > 0 && int64(n) > ct.Size {
			n = int(ct.Size)
		}
		ceiling := p4rt.NewEntrySet(n)
		for i := 0; i < n; i++ {
			e, err := ceilingEntry(in, i)
			if err != nil {
				return r, err
			}
			if err := ceiling.Add(e); err != nil {
				return r, err
			}
		}
		o.OnBatch = nil
		start = time.Now()
		if err := s.WriteSet(ctx, ceiling, p4v1.Update_INSERT, o); err != nil {
			return r, fmt.Errorf("ceiling write: %w", err)
		}
		r.CeilingEntries = n
		r.CeilingEntriesPerS = float64(n) / time.Since(start).Seconds()
		r.WriteOfCeiling = r.WriteEntriesPerS / r.CeilingEntriesPerS
		progress("ceiling", n, n)
	}

	if cfg.Batch1Sample > 0 {
		n := cfg.Batch1Sample
		start = time.Now()
		for i := 0; i < n; i++ {
			e, err := policyEntry(in, cfg.Entries+i)
			if err != nil {
				return r, err
			}
			if err := s.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}); err != nil {
				return r, fmt.Errorf("batch-1 write %d: %w", i, err)
			}
			if i%200 == 0 {
				progress("batch-1", i, n)
			}
		}
		r.Batch1Entries = n
		r.Batch1EntriesPerS = float64(n) / time.Since(start).Seconds()
	}
	return r, nil
}
