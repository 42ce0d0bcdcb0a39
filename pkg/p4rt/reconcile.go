package p4rt

import (
	"bytes"
	"context"
	"errors"
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

	// Held is how many entries the device held in each table when the
	// plan was made (PlanSet counts every table it reads, Diff every table
	// of the installed entries), and Sizes is each table's size in the
	// P4Info of the pipeline the device runs (PlanSet fills it when the
	// session pushed that pipeline or found it running: SetPipeline,
	// EnsurePipeline). WritePlan orders each table's updates by them; see
	// DeletesFirst.
	Held  map[uint32]int
	Sizes map[uint32]int64

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
		id := pipeline.KeyTableID(p.set.vals[i].key)
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
// entries with one key. The plan's Held counts the installed entries; set
// its Sizes for WritePlan to write inserts before deletes.
func Diff(desired, installed []*p4v1.TableEntry) Plan {
	have := make(map[string]*p4v1.TableEntry, len(installed))
	for _, e := range installed {
		have[pipeline.EntryKey(e)] = e
	}
	p := Plan{Held: map[uint32]int{}}
	for _, e := range installed {
		p.Held[e.GetTableId()]++
	}
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

// DeletesFirst reports whether WritePlan deletes the plan's stale entries
// of table before it inserts the new ones: only when the table might not
// hold its inserts on top of what it held (Held plus the table's inserts
// over Sizes), or when either count is unknown. Otherwise the inserts go
// first, so that a rule replaced by one with another key (an ACL entry
// whose priority changed, say) is never missing from the device.
func (p Plan) DeletesFirst(table uint32) bool {
	return p.deletesFirst(table, p.PerTable()[table].Insert)
}

func (p Plan) deletesFirst(table uint32, inserts int) bool {
	held, ok := p.Held[table]
	size := p.Sizes[table]
	return !ok || size <= 0 || int64(held)+int64(inserts) > size
}

// WritePlan applies p in an order that never leaves a reference dangling,
// keeps a replaced rule in force until its replacement is, and lets a
// full table make room first:
//
//  1. multicast groups inserted and modified (entries may name them);
//  2. table entries deleted, of the tables that need room for their
//     inserts (DeletesFirst);
//  3. table entries modified;
//  4. table entries inserted;
//  5. table entries deleted, of every other table;
//  6. multicast groups deleted (no entry names them any more).
//
// Each phase finishes before the next starts. The only references a
// device checks are entries naming multicast groups (p4ctl uses no action
// profiles), so phases 1 and 6 are the only order kept between tables;
// within a phase, batches of all tables go out together. The error names
// the phase; the indexes of its *WriteError are positions in p.Insert (or
// in the set's inserts), p.Modify, p.Delete or the group lists.
func (s *Session) WritePlan(ctx context.Context, p Plan, o BulkOptions) error {
	ins := p.PerTable()
	var early, late []int // positions in p.Delete
	first := map[uint32]bool{}
	for id, c := range ins {
		first[id] = c.Delete > 0 && p.deletesFirst(id, c.Insert)
	}
	for i, e := range p.Delete {
		if first[e.GetTableId()] {
			early = append(early, i)
		} else {
			late = append(late, i)
		}
	}
	deletes := func(pos []int) []*p4v1.TableEntry {
		es := make([]*p4v1.TableEntry, len(pos))
		for i, j := range pos {
			es[i] = p.Delete[j]
		}
		return es
	}
	phases := []struct {
		name string
		ups  []*p4v1.Update
		pos  []int // positions of ups in the plan's list, when not 0..n-1
		set  bool  // the EntrySet inserts, encoded straight from the set
	}{
		{name: "multicast group INSERT", ups: groupUpdates(p4v1.Update_INSERT, p.Groups.Insert)},
		{name: "multicast group MODIFY", ups: groupUpdates(p4v1.Update_MODIFY, p.Groups.Modify)},
		{name: "DELETE (making room)", ups: entryUpdates(p4v1.Update_DELETE, deletes(early)), pos: early},
		{name: "MODIFY", ups: entryUpdates(p4v1.Update_MODIFY, p.Modify)},
		{name: "INSERT", ups: entryUpdates(p4v1.Update_INSERT, p.Insert)},
		{name: "INSERT", set: true},
		{name: "DELETE", ups: entryUpdates(p4v1.Update_DELETE, deletes(late)), pos: late},
		{name: "multicast group DELETE", ups: groupUpdates(p4v1.Update_DELETE, p.Groups.Delete)},
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
			var we *WriteError
			if ph.pos != nil && errors.As(err, &we) {
				for i := range we.Updates {
					we.Updates[i].Index = ph.pos[we.Updates[i].Index]
				}
			}
			return fmt.Errorf("%s phase: %w", ph.name, err)
		}
	}
	return nil
}
