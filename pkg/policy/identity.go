package policy

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"weak"
)

// MaxIdentities is how many identities the pipeline's 16-bit identity
// field holds (0 means unknown).
const MaxIdentities = 65535

// allocator hands out identity ids and keeps them sticky: an identity
// that goes away and comes back (an endpoint flapping, a relabel undone)
// gets its old id again, so that devices are not rewritten for nothing,
// and a full recompile gives every existing identity the id it had. Ids
// of identities that are gone are reused only when no never-used id is
// left.
type allocator struct {
	byKey  map[identKey]uint32
	owner  map[uint32]identKey // id -> key it was last given to
	active map[uint32]bool
	next   uint32 // lowest id never handed out
}

func newAllocator() *allocator {
	return &allocator{byKey: map[identKey]uint32{}, owner: map[uint32]identKey{}, active: map[uint32]bool{}, next: 1}
}

// sticky returns an allocator for a recompile: every key keeps the id it
// has here, and no id is active yet.
func (a *allocator) sticky() *allocator {
	return &allocator{byKey: maps.Clone(a.byKey), owner: maps.Clone(a.owner), active: map[uint32]bool{}, next: a.next}
}

// alloc returns key's id, active from now on. It panics when all ids are
// active: callers check Available first.
func (a *allocator) alloc(key identKey) uint32 {
	if id, ok := a.byKey[key]; ok && !a.active[id] {
		a.active[id] = true
		return id
	}
	var id uint32
	if a.next <= MaxIdentities {
		id = a.next
		a.next++
	} else {
		// Reuse the id of an identity that is gone.
		for cand := uint32(1); cand <= MaxIdentities; cand++ {
			if !a.active[cand] {
				id = cand
				break
			}
		}
		if id == 0 {
			panic(fmt.Sprintf("policy: more than %d identities", MaxIdentities))
		}
		delete(a.byKey, a.owner[id])
	}
	a.byKey[key] = id
	a.owner[id] = key
	a.active[id] = true
	return id
}

func (a *allocator) release(key identKey, id uint32) {
	delete(a.active, id)
}

// identityTable is a model's identity ids: part of the replicated state,
// so that every controller node compiles the same model to the same
// entries and a new leader finds the devices already equal to its own
// compilation. Model.With updates it deterministically from the previous
// model's table and the endpoints that changed, with the same sticky rule
// as allocator; a table is never changed once a model holds it.
type identityTable struct {
	byKey map[identKey]uint32
	owner map[uint32]identKey // id -> key it was last given to
	refs  map[identKey]int    // endpoints per active key
	next  uint32              // lowest id never handed out
}

func newIdentityTable() *identityTable {
	return &identityTable{byKey: map[identKey]uint32{}, owner: map[uint32]identKey{}, refs: map[identKey]int{}, next: 1}
}

func endpointKey(e *Endpoint) identKey { return identKey{e.Segment, labelsKey(e.Labels)} }

// update returns the table after removed endpoints leave and added ones
// arrive. New keys get ids in (segment, labels) order, so every node that
// applies the same change computes the same ids.
func (t *identityTable) update(removed, added []*Endpoint) (*identityTable, error) {
	if len(removed) == 0 && len(added) == 0 {
		return t, nil
	}
	n := &identityTable{byKey: maps.Clone(t.byKey), owner: maps.Clone(t.owner), refs: maps.Clone(t.refs), next: t.next}
	for _, e := range removed {
		k := endpointKey(e)
		if n.refs[k]--; n.refs[k] <= 0 {
			delete(n.refs, k)
		}
	}
	var fresh []identKey
	for _, e := range added {
		k := endpointKey(e)
		n.refs[k]++
		if n.refs[k] == 1 {
			if _, ok := n.byKey[k]; !ok {
				fresh = append(fresh, k)
			}
		}
	}
	if len(n.refs) > MaxIdentities {
		return nil, fmt.Errorf("%d distinct (segment, labels) identities; the pipeline holds %d: %w", len(n.refs), MaxIdentities, ErrCapacity)
	}
	slices.SortFunc(fresh, func(a, b identKey) int {
		if c := strings.Compare(a.seg, b.seg); c != 0 {
			return c
		}
		return strings.Compare(a.labels, b.labels)
	})
	cand := uint32(1)
	for _, k := range fresh {
		var id uint32
		if n.next <= MaxIdentities {
			id = n.next
			n.next++
		} else {
			// Reuse the lowest id whose identity is gone.
			for ; cand <= MaxIdentities; cand++ {
				if n.refs[n.owner[cand]] == 0 {
					break
				}
			}
			id = cand
			cand++
			delete(n.byKey, n.owner[id])
		}
		n.byKey[k] = id
		n.owner[id] = k
	}
	return n, nil
}

// id is key's id, if the key is active.
func (t *identityTable) id(k identKey) (uint32, bool) {
	if t.refs[k] == 0 {
		return 0, false
	}
	id, ok := t.byKey[k]
	return id, ok
}

// IdentityRecord is one identity id as snapshots keep it: the segment, an
// opaque key of the label set, and the id. Ids of identities that are gone
// are kept too, so that they come back with the same id.
type IdentityRecord struct {
	Segment string `json:"segment"`
	Labels  string `json:"labels"`
	ID      uint32 `json:"id"`
}

// IdentityState is a model's identity ids, for snapshots.
type IdentityState struct {
	Records []IdentityRecord `json:"records"`
	Next    uint32           `json:"next"`
}

// Identities returns m's identity ids, for a snapshot.
func (m *Model) Identities() IdentityState {
	t := m.identities()
	st := IdentityState{Next: t.next, Records: make([]IdentityRecord, 0, len(t.byKey))}
	for _, id := range slices.Sorted(maps.Keys(t.owner)) {
		k := t.owner[id]
		st.Records = append(st.Records, IdentityRecord{Segment: k.seg, Labels: k.labels, ID: id})
	}
	return st
}

// WithIdentities returns m with the identity ids of a snapshot, checked:
// ids in range and unique, every identity of m's endpoints given one.
func (m *Model) WithIdentities(st IdentityState) (*Model, error) {
	t := newIdentityTable()
	t.next = st.Next
	if t.next == 0 || t.next > MaxIdentities+1 {
		return nil, fmt.Errorf("identity state: next id %d out of range", st.Next)
	}
	for _, r := range st.Records {
		k := identKey{r.Segment, r.Labels}
		switch {
		case r.ID == 0 || r.ID > MaxIdentities || r.ID >= t.next:
			return nil, fmt.Errorf("identity state: id %d out of range (next %d)", r.ID, t.next)
		case t.owner[r.ID] != (identKey{}):
			return nil, fmt.Errorf("identity state: id %d given twice", r.ID)
		}
		if _, dup := t.byKey[k]; dup {
			return nil, fmt.Errorf("identity state: segment %s labels %q listed twice", r.Segment, r.Labels)
		}
		t.byKey[k], t.owner[r.ID] = r.ID, k
	}
	for _, e := range m.Endpoints {
		k := endpointKey(e)
		if _, ok := t.byKey[k]; !ok {
			return nil, fmt.Errorf("identity state: endpoint %s's identity (segment %s) has no id", e.Name, e.Segment)
		}
		t.refs[k]++
	}
	n := *m
	n.ids, n.base, n.touched = t, weak.Pointer[Model]{}, nil
	return &n, nil
}

// identities is m's table (empty for a model not made by NewModel or
// With, whose endpoints then have no ids).
func (m *Model) identities() *identityTable {
	if m.ids != nil {
		return m.ids
	}
	return newIdentityTable()
}
