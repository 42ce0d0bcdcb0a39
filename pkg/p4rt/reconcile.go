package p4rt

import (
	"bytes"
	"context"
	"fmt"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Plan is the difference between what a device holds and what it should
// hold: table-entry updates and, when the reconcile covered them,
// multicast group updates.
type Plan struct {
	Insert []*p4v1.TableEntry
	Modify []*p4v1.TableEntry
	Delete []*p4v1.TableEntry
	Groups GroupPlan

	// A plan made from an EntrySet names its inserts by position in the
	// set instead of holding them as messages (a first fill is the whole
	// set).
	set       *EntrySet
	insertIdx []uint32
}

// Counts returns the number of table-entry inserts, modifies and deletes.
func (p Plan) Counts() (inserts, modifies, deletes int) {
	return len(p.Insert) + len(p.insertIdx), len(p.Modify), len(p.Delete)
}

// Empty reports whether the device already holds the desired entries.
func (p Plan) Empty() bool {
	i, m, d := p.Counts()
	return i+m+d+p.Groups.Len() == 0
}

// TableCounts is a plan's table-entry updates per table id.
type TableCounts struct{ Insert, Modify, Delete int }

// PerTable returns the plan's table-entry updates by table id.
func (p Plan) PerTable() map[uint32]TableCounts {
	out := map[uint32]TableCounts{}
	for _, e := range p.Insert {
		c := out[e.GetTableId()]
		c.Insert++
		out[e.GetTableId()] = c
	}
	for _, i := range p.insertIdx {
		id := be32(p.set.vals[i].key)
		c := out[id]
		c.Insert++
		out[id] = c
	}
	for _, e := range p.Modify {
		c := out[e.GetTableId()]
		c.Modify++
		out[e.GetTableId()] = c
	}
	for _, e := range p.Delete {
		c := out[e.GetTableId()]
		c.Delete++
		out[e.GetTableId()] = c
	}
	return out
}

func (p Plan) String() string {
	i, m, d := p.Counts()
	s := fmt.Sprintf("%d inserts, %d modifies, %d deletes", i, m, d)
	if g := p.Groups; g.Len() > 0 {
		s += fmt.Sprintf("; multicast groups: %d inserts, %d modifies, %d deletes", len(g.Insert), len(g.Modify), len(g.Delete))
	}
	return s
}

// Diff compares the desired entries with the installed ones. Entries are
// matched by key (table, match, priority) and compared by action after
// normalization, so a target that echoes values padded to the field width
// or in another order does not cause rewrites. Counter data and other
// read-only fields never count as a difference. desired must not hold two
// entries with one key.
func Diff(desired, installed []*p4v1.TableEntry) Plan {
	have := make(map[string]*p4v1.TableEntry, len(installed))
	for _, e := range installed {
		have[pipeline.EntryKey(e)] = e
	}
	var p Plan
	for _, want := range desired {
		k := pipeline.EntryKey(want)
		got, ok := have[k]
		if !ok {
			p.Insert = append(p.Insert, want)
			continue
		}
		delete(have, k)
		if !sameAction(want, got) {
			p.Modify = append(p.Modify, want)
		}
	}
	for _, e := range installed {
		if _, stale := have[pipeline.EntryKey(e)]; stale {
			p.Delete = append(p.Delete, e)
		}
	}
	return p
}

// sameAction compares two entries' actions as values: same action, same
// params by id with canonically equal values. It allocates nothing; it runs
// once per desired entry on every reconcile.
func sameAction(a, b *p4v1.TableEntry) bool {
	x, y := a.GetAction().GetAction(), b.GetAction().GetAction()
	if x == nil || y == nil {
		// Action profiles are not used by p4ctl; fall back to a full compare.
		return proto.Equal(pipeline.NormalizeEntry(a).GetAction(), pipeline.NormalizeEntry(b).GetAction())
	}
	if x.GetActionId() != y.GetActionId() || len(x.GetParams()) != len(y.GetParams()) {
		return false
	}
	for _, p := range x.GetParams() {
		found := false
		for _, q := range y.GetParams() {
			if q.GetParamId() == p.GetParamId() {
				found = bytes.Equal(pipeline.Canonical(p.GetValue()), pipeline.Canonical(q.GetValue()))
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func entryUpdates(typ p4v1.Update_Type, es []*p4v1.TableEntry) []*p4v1.Update {
	ups := make([]*p4v1.Update, len(es))
	for i, e := range es {
		ups[i] = &p4v1.Update{Type: typ, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
	}
	return ups
}

// WritePlan applies p in an order that never leaves a reference dangling
// and lets a full table make room first:
//
//  1. multicast groups inserted and modified (entries may name them);
//  2. table entries deleted;
//  3. table entries modified;
//  4. table entries inserted;
//  5. multicast groups deleted (no entry names them any more).
//
// Each phase finishes before the next starts. The error names the phase.
func (s *Session) WritePlan(ctx context.Context, p Plan, o BulkOptions) error {
	phases := []struct {
		name string
		ups  []*p4v1.Update
		set  bool // the EntrySet inserts, encoded straight from the set
	}{
		{"multicast group INSERT", groupUpdates(p4v1.Update_INSERT, p.Groups.Insert), false},
		{"multicast group MODIFY", groupUpdates(p4v1.Update_MODIFY, p.Groups.Modify), false},
		{"DELETE", entryUpdates(p4v1.Update_DELETE, p.Delete), false},
		{"MODIFY", entryUpdates(p4v1.Update_MODIFY, p.Modify), false},
		{"INSERT", entryUpdates(p4v1.Update_INSERT, p.Insert), false},
		{"INSERT", nil, true},
		{"multicast group DELETE", groupUpdates(p4v1.Update_DELETE, p.Groups.Delete), false},
	}
	for _, ph := range phases {
		var err error
		switch {
		case ph.set && len(p.insertIdx) > 0:
			err = s.writeIndexed(ctx, p.set, p.insertIdx, p4v1.Update_INSERT, o)
		case len(ph.ups) > 0:
			err = s.writeBulk(ctx, ph.ups, o)
		}
		if err != nil {
			return fmt.Errorf("%s phase: %w", ph.name, err)
		}
	}
	return nil
}
