package p4rt

// Session methods that only tests use: the protobuf-message paths the
// controller does not take (it plans from an EntrySet and writes the plan,
// see doc.go), kept to check those paths against the message forms.

import (
	"context"
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// WriteBulk is the batched writer WritePlan uses.
func (s *Session) WriteBulk(ctx context.Context, updates []*p4v1.Update, o BulkOptions) error {
	return s.writeBulk(ctx, updates, o)
}

// ReadTables reads every entry of the given tables (all tables if none).
func (s *Session) ReadTables(ctx context.Context, tableIDs ...uint32) ([]*p4v1.TableEntry, error) {
	if len(tableIDs) == 0 {
		tableIDs = []uint32{0}
	}
	q := make([]*p4v1.Entity, len(tableIDs))
	for i, id := range tableIDs {
		q[i] = &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: id}}}
	}
	var out []*p4v1.TableEntry
	err := s.Read(ctx, q, func(e *p4v1.Entity) error {
		if te := e.GetTableEntry(); te != nil {
			out = append(out, te)
		}
		return nil
	})
	return out, err
}

// Reconcile makes the device's entries in the given tables equal to
// desired with the fewest writes: it reads the tables back, diffs, and
// writes the plan. It returns the plan it wrote; an equal device gets no
// write at all.
func (s *Session) Reconcile(ctx context.Context, desired []*p4v1.TableEntry, o BulkOptions, tableIDs ...uint32) (Plan, error) {
	if len(tableIDs) == 0 {
		seen := map[uint32]bool{}
		for _, e := range desired {
			if !seen[e.GetTableId()] {
				seen[e.GetTableId()] = true
				tableIDs = append(tableIDs, e.GetTableId())
			}
		}
		slices.Sort(tableIDs)
		if len(tableIDs) == 0 {
			return Plan{}, nil
		}
	}
	installed, err := s.ReadTables(ctx, tableIDs...)
	if err != nil {
		return Plan{}, err
	}
	p := Diff(desired, installed)
	p.Sizes = s.tableSizes(tableIDs)
	if p.Empty() {
		return p, nil
	}
	return p, s.WritePlan(ctx, p, o)
}

// ReconcileSet makes the device's entries in the given tables equal to
// desired: PlanSet, then WritePlan. A device that is already equal gets no
// write.
func (s *Session) ReconcileSet(ctx context.Context, desired *EntrySet, o BulkOptions, tableIDs ...uint32) (Plan, error) {
	p, err := s.PlanSet(ctx, desired, tableIDs...)
	if err != nil || p.Empty() {
		return p, err
	}
	return p, s.WritePlan(ctx, p, o)
}

// CountEntries reads the given tables and returns how many entries the
// device holds in each (every table named is in the map, 0 if empty).
func (s *Session) CountEntries(ctx context.Context, tableIDs ...uint32) (map[uint32]int, error) {
	out := make(map[uint32]int, len(tableIDs))
	for _, id := range tableIDs {
		out[id] = 0
	}
	err := s.ReadKeys(ctx, tableIDs, func(key, _ []byte) error {
		if len(key) >= 4 {
			out[pipeline.KeyTableID(key)]++
		}
		return nil
	})
	return out, err
}
