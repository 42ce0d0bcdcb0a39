package p4rt

import (
	"context"
	"fmt"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// EntrySet is a device's desired table entries held compactly: each entry
// is its canonical key (pipeline.EntryKey) and action (pipeline.ActionKey)
// bytes, so a million policy entries take about a hundred megabytes, not
// the gigabyte the protobuf objects would. Entries become protobuf
// messages only while they are being written.
//
// An EntrySet is not safe for concurrent use.
type EntrySet struct {
	index map[string]uint32 // key -> position in vals
	vals  []setVal
	gen   uint32
}

type setVal struct {
	key, action string
	seen        uint32 // reconcile generation that last saw the entry on the device
}

// NewEntrySet returns an empty set sized for n entries.
func NewEntrySet(n int) *EntrySet {
	return &EntrySet{index: make(map[string]uint32, n), vals: make([]setVal, 0, n)}
}

// Add puts e in the set; an entry with the same key is an error.
func (s *EntrySet) Add(e *p4v1.TableEntry) error {
	k := pipeline.EntryKey(e)
	if _, dup := s.index[k]; dup {
		return fmt.Errorf("duplicate entry in table id %d (same match and priority)", e.GetTableId())
	}
	s.index[k] = uint32(len(s.vals))
	s.vals = append(s.vals, setVal{key: k, action: pipeline.ActionKey(e)})
	return nil
}

// AddEncoded puts in the set the entry whose compact form is key and
// action (pipeline.EntryKey and pipeline.ActionKey), as Add does with the
// message: a key already in the set is an error. Callers that hold
// entries in compact form (the policy compiler's device snapshots) fill a
// set without building a message per entry; the set keeps the strings.
func (s *EntrySet) AddEncoded(key, action string) error {
	if _, dup := s.index[key]; dup {
		return fmt.Errorf("duplicate entry in table id %d (same match and priority)", pipeline.KeyTableID(key))
	}
	s.index[key] = uint32(len(s.vals))
	s.vals = append(s.vals, setVal{key: key, action: action})
	return nil
}

// Set puts e in the set, replacing an entry with the same key.
func (s *EntrySet) Set(e *p4v1.TableEntry) {
	k := pipeline.EntryKey(e)
	if i, ok := s.index[k]; ok {
		s.vals[i].action = pipeline.ActionKey(e)
		return
	}
	s.index[k] = uint32(len(s.vals))
	s.vals = append(s.vals, setVal{key: k, action: pipeline.ActionKey(e)})
}

// Delete removes the entry with e's key, if present.
func (s *EntrySet) Delete(e *p4v1.TableEntry) {
	k := pipeline.EntryKey(e)
	i, ok := s.index[k]
	if !ok {
		return
	}
	last := len(s.vals) - 1
	if int(i) != last {
		s.vals[i] = s.vals[last]
		s.index[s.vals[i].key] = i
	}
	s.vals = s.vals[:last]
	delete(s.index, k)
}

// Len is the number of entries.
func (s *EntrySet) Len() int { return len(s.vals) }

// Each calls fn with every entry, decoded, in no particular order.
func (s *EntrySet) Each(fn func(*p4v1.TableEntry) error) error {
	for _, v := range s.vals {
		e, err := pipeline.DecodeEntry(v.key, v.action)
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// ReconcileDevice makes the device's entries in the given tables and its
// multicast groups equal to desired and groups, in one plan written in
// dependency order (see WritePlan).
func (s *Session) ReconcileDevice(ctx context.Context, desired *EntrySet, groups []*p4v1.MulticastGroupEntry, o BulkOptions, tableIDs ...uint32) (Plan, error) {
	p, err := s.PlanDevice(ctx, desired, groups, tableIDs...)
	if err != nil || p.Empty() {
		return p, err
	}
	return p, s.WritePlan(ctx, p, o)
}

// PlanDevice is the first half of ReconcileDevice: it reads the device's
// multicast groups and the entries of the given tables and works out the
// plan, without writing. Callers that report progress write it with
// WritePlan (and BulkOptions.OnBatch) before desired changes.
func (s *Session) PlanDevice(ctx context.Context, desired *EntrySet, groups []*p4v1.MulticastGroupEntry, tableIDs ...uint32) (Plan, error) {
	installed, err := s.ReadGroups(ctx)
	if err != nil {
		return Plan{}, err
	}
	gp, err := DiffGroups(groups, installed)
	if err != nil {
		return Plan{}, fmt.Errorf("p4rt %s: reconcile: %w", s.addr, err)
	}
	p, err := s.PlanSet(ctx, desired, tableIDs...)
	if err != nil {
		return Plan{}, err
	}
	p.Groups = gp
	return p, nil
}

// PlanSet works out what would make the device's entries in the given
// tables equal to desired, without writing. It streams the device's
// entries and compares each against the set as it arrives in wire form;
// nothing is decoded into messages but the differences. The plan names
// its inserts by position in desired: write it before desired changes.
func (s *Session) PlanSet(ctx context.Context, desired *EntrySet, tableIDs ...uint32) (Plan, error) {
	if len(tableIDs) == 0 {
		return Plan{}, fmt.Errorf("p4rt %s: reconcile: no tables named", s.addr)
	}
	desired.gen++
	gen := desired.gen
	p := Plan{Held: make(map[uint32]int, len(tableIDs)), Sizes: s.tableSizes(tableIDs)}
	for _, id := range tableIDs {
		p.Held[id] = 0
	}
	err := s.ReadKeys(ctx, tableIDs, func(key, action []byte) error {
		p.Held[pipeline.KeyTableID(key)]++
		i, ok := desired.index[string(key)] // no allocation for the lookup
		if !ok {
			e, err := pipeline.DecodeEntry(string(key), string(action))
			if err != nil {
				return err
			}
			p.Delete = append(p.Delete, e)
			return nil
		}
		v := &desired.vals[i]
		v.seen = gen
		if string(action) != v.action {
			e, err := pipeline.DecodeEntry(v.key, v.action)
			if err != nil {
				return err
			}
			p.Modify = append(p.Modify, e)
		}
		return nil
	})
	if err != nil {
		return Plan{}, err
	}
	want := make(map[uint32]bool, len(tableIDs))
	for _, id := range tableIDs {
		want[id] = true
	}
	p.set = desired
	for i, v := range desired.vals {
		if v.seen == gen || len(v.key) < 4 {
			continue
		}
		if want[pipeline.KeyTableID(v.key)] {
			p.insertIdx = append(p.insertIdx, uint32(i))
		}
	}
	return p, nil
}

// tableSizes returns the P4Info sizes of the given tables in the pipeline
// the device runs, or nil when the session does not know that pipeline.
func (s *Session) tableSizes(tableIDs []uint32) map[uint32]int64 {
	in := s.running.Load()
	if in == nil {
		return nil
	}
	out := make(map[uint32]int64, len(tableIDs))
	for _, id := range tableIDs {
		if t, ok := in.TableByID(id); ok && t.Size > 0 {
			out[id] = t.Size
		}
	}
	return out
}

// TableCounts returns the number of entries in the set per table id.
func (s *EntrySet) TableCounts() map[uint32]int {
	out := map[uint32]int{}
	for _, v := range s.vals {
		if len(v.key) >= 4 {
			out[pipeline.KeyTableID(v.key)]++
		}
	}
	return out
}
