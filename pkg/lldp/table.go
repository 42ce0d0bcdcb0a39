package lldp

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// Neighbor is what one remote port last said on one local interface.
type Neighbor struct {
	LocalInterface string
	Frame
	LastUpdate time.Time
	ExpiresAt  time.Time
}

type neighborKey struct{ local, chassis, port string }

// keyOf identifies the remote port f describes, as heard on local.
func keyOf(local string, f Frame) neighborKey {
	return neighborKey{local, f.ChassisID + "\x00" + string(f.ChassisIDSubtype), f.PortID + "\x00" + string(f.PortIDSubtype)}
}

// DefaultMaxPerInterface bounds the neighbors kept per interface.
const DefaultMaxPerInterface = 32

// Table holds the neighbors heard on each interface until their TTL runs
// out. It is safe for concurrent use. Its owner calls Expire when
// NextExpiry comes (the speaker does); nothing in it runs by itself.
type Table struct {
	max int

	mu      sync.Mutex
	entries map[neighborKey]*Neighbor
	dropped uint64 // frames refused because an interface was full
	changes chan struct{}
	owner   chan struct{} // the same signal for the table's owner (Speaker.Run)
}

// NewTable returns an empty table keeping at most maxPerInterface
// neighbors per interface (DefaultMaxPerInterface when 0 or less).
func NewTable(maxPerInterface int) *Table {
	if maxPerInterface <= 0 {
		maxPerInterface = DefaultMaxPerInterface
	}
	return &Table{max: maxPerInterface, entries: map[neighborKey]*Neighbor{}, changes: make(chan struct{}, 1), owner: make(chan struct{}, 1)}
}

// Changes signals (coalesced) after neighbors were added, changed or
// removed.
func (t *Table) Changes() <-chan struct{} { return t.changes }

func (t *Table) notify() {
	for _, ch := range []chan struct{}{t.changes, t.owner} {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Update records frame f heard on interface local at now, and reports
// whether the table changed (a refresh with the same content only moves
// the expiry). A TTL of 0 removes the neighbor. A new neighbor on an
// interface that already has the maximum is refused and counted, as
// 802.1AB's tooManyNeighbors: what is known is kept, not displaced.
func (t *Table) Update(local string, f Frame, now time.Time) bool {
	k := keyOf(local, f)
	t.mu.Lock()
	defer t.mu.Unlock()
	old, ok := t.entries[k]
	if f.TTL == 0 {
		if ok {
			delete(t.entries, k)
			t.notify()
		}
		return ok
	}
	if !ok && t.countOn(local) >= t.max {
		t.dropped++
		return false
	}
	n := &Neighbor{LocalInterface: local, Frame: f, LastUpdate: now, ExpiresAt: now.Add(f.TTL)}
	t.entries[k] = n
	changed := !ok || !sameFrame(old.Frame, f)
	if changed {
		t.notify()
	}
	return changed
}

func (t *Table) countOn(local string) int {
	n := 0
	for k := range t.entries {
		if k.local == local {
			n++
		}
	}
	return n
}

func sameFrame(a, b Frame) bool {
	return a.ChassisIDSubtype == b.ChassisIDSubtype && a.ChassisID == b.ChassisID && a.PortIDSubtype == b.PortIDSubtype &&
		a.PortID == b.PortID && a.TTL == b.TTL && a.PortDescription == b.PortDescription && a.SystemName == b.SystemName &&
		a.SystemDescription == b.SystemDescription && slices.Equal(a.ManagementAddresses, b.ManagementAddresses)
}

// Expire removes the neighbors whose TTL ran out by now, and reports
// whether any was.
func (t *Table) Expire(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.entries)
	for k, e := range t.entries {
		if !now.Before(e.ExpiresAt) {
			delete(t.entries, k)
		}
	}
	if len(t.entries) != n {
		t.notify()
		return true
	}
	return false
}

// RemoveInterface forgets every neighbor heard on local (the interface
// went away or down).
func (t *Table) RemoveInterface(local string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.entries)
	for k := range t.entries {
		if k.local == local {
			delete(t.entries, k)
		}
	}
	if len(t.entries) != n {
		t.notify()
		return true
	}
	return false
}

// untilExpiry is how long the table's owner may wait before calling
// Expire: until the next neighbor expires (at least a millisecond), or an
// hour when none is kept.
func (t *Table) untilExpiry() time.Duration {
	if at := t.NextExpiry(); !at.IsZero() {
		return max(time.Until(at), time.Millisecond)
	}
	return time.Hour
}

// NextExpiry is when the next neighbor expires (zero when none is kept).
func (t *Table) NextExpiry() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next time.Time
	for _, e := range t.entries {
		if next.IsZero() || e.ExpiresAt.Before(next) {
			next = e.ExpiresAt
		}
	}
	return next
}

// Neighbors returns every neighbor, by interface, chassis and port.
func (t *Table) Neighbors() []Neighbor {
	t.mu.Lock()
	out := make([]Neighbor, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, *e)
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Neighbor) int {
		return cmp.Or(cmp.Compare(a.LocalInterface, b.LocalInterface), cmp.Compare(a.ChassisID, b.ChassisID), cmp.Compare(a.PortID, b.PortID))
	})
	return out
}

// Dropped is how many new neighbors were refused because their interface
// already had the maximum.
func (t *Table) Dropped() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.dropped
}

// Replace makes the table hold exactly ns (a mirror of another LLDP
// agent's table), keeping at most the per-interface maximum, and reports
// whether what it holds changed; a refresh that only moves expiries is
// not a change.
func (t *Table) Replace(ns []Neighbor) bool {
	next := make(map[neighborKey]*Neighbor, len(ns))
	per := map[string]int{}
	dropped := uint64(0)
	for _, n := range ns {
		k := keyOf(n.LocalInterface, n.Frame)
		if _, dup := next[k]; !dup {
			if per[n.LocalInterface] >= t.max {
				dropped++
				continue
			}
			per[n.LocalInterface]++
		}
		next[k] = &n
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.dropped += dropped
	changed := len(next) != len(t.entries)
	for k, n := range next {
		if old, ok := t.entries[k]; !ok || !sameFrame(old.Frame, n.Frame) {
			changed = true
		}
	}
	t.entries = next
	if changed {
		t.notify()
	}
	return changed
}
