package policy

import (
	"fmt"
	"maps"
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

// available is how many more identities can be active.
func (a *allocator) available() int { return MaxIdentities - len(a.active) }
