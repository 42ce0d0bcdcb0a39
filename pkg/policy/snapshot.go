package policy

import (
	"fmt"
	"maps"
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// DeviceSnapshot is one device's compiled rows as the compiler held them
// when Snapshot took it, with what turns them into the device's entries
// and groups. It is immutable and safe for concurrent use, and it stays
// valid however the compiler moves on: it holds the compiler's row sets
// themselves (one per place on the device: its own rows, its segments',
// its identities' and those of the destinations it reaches), and the
// compiler copies a set a snapshot holds before it changes it
// (Compiler.rowsToWrite). So taking one costs a reference per place, not
// a copy of the rows, and the entries are built from it afterwards,
// outside whatever lock guards the compiler.
type DeviceSnapshot struct {
	name  string
	model *Model // models are immutable once compiled
	info  *pipeline.Info
	lim   pipeline.Limits
	sets  []*rowSet // never written again
	rows  int
}

// Snapshot takes device name's snapshot. It reads the compiler, so it
// needs the same exclusion as Update; the snapshot then needs none. The
// first later change to each place it holds pays for a copy of that
// place's rows.
func (c *Compiler) Snapshot(name string) (*DeviceSnapshot, error) {
	return c.snapshot(name, true)
}

// snapshot takes device name's snapshot; unless hold, the places are not
// marked held, and the snapshot is valid only until the compiler next
// changes (DeviceEntries, which builds at once).
func (c *Compiler) snapshot(name string, hold bool) (*DeviceSnapshot, error) {
	dev, ok := c.devIdx[name]
	if _, known := c.model.Devices[name]; !ok || !known {
		return nil, fmt.Errorf("unknown device %q", name)
	}
	in, err := c.info(c.model, name)
	if err != nil {
		return nil, err
	}
	s := &DeviceSnapshot{name: name, model: c.model, info: in, lim: limitsOf(c.model, name)}
	for pl, set := range c.rows {
		if !c.placeOn(dev, pl) {
			continue
		}
		s.sets = append(s.sets, set)
		s.rows += set.len()
		if hold {
			c.held[pl] = true
		}
	}
	return s, nil
}

// Device is the name of the snapshot's device.
func (s *DeviceSnapshot) Device() string { return s.name }

// Rows is the number of rows on the device: its number of entries, but
// for port class rows that take one entry per block of their range
// (pipeline.Limits.RangeAsMask).
func (s *DeviceSnapshot) Rows() int { return s.rows }

// keyedRow is a row's key and value.
type keyedRow struct {
	k rowKey
	v rowVal
}

// sorted returns the device's rows sorted by table and key.
func (s *DeviceSnapshot) sorted() []keyedRow {
	out := make([]keyedRow, 0, s.rows)
	for _, set := range s.sets {
		for k, r := range set.all() {
			out = append(out, keyedRow{k, r.val})
		}
	}
	slices.SortFunc(out, func(x, y keyedRow) int { return compareKeys(x.k, y.k) })
	return out
}

// Entries builds the device's entries as P4Runtime messages, sorted by
// table and key.
func (s *DeviceSnapshot) Entries() ([]*p4v1.TableEntry, error) {
	rows := s.sorted()
	out := make([]*p4v1.TableEntry, 0, len(rows))
	for _, r := range rows {
		es, err := r.k.entries(s.info, r.v, s.lim)
		if err != nil {
			return nil, fmt.Errorf("device %s: %w", s.name, err)
		}
		out = append(out, es...)
	}
	return out, nil
}

// EachEncoded calls fn with each of the device's entries in compact form,
// its pipeline.EntryKey and pipeline.ActionKey, in the order of Entries,
// without building the messages. The bytes are valid only during the
// call. It stops at fn's first error and returns it.
func (s *DeviceSnapshot) EachEncoded(fn func(key, action []byte) error) error {
	enc := newRowEncoder(s.info, s.lim)
	for _, r := range s.sorted() {
		err := enc.encode(r.k, r.v, fn)
		if err != nil {
			return fmt.Errorf("device %s: %w", s.name, err)
		}
	}
	return nil
}

// Counts is the number of entries per table on the device, as
// Compiler.Counts at the snapshot.
func (s *DeviceSnapshot) Counts() map[string]int {
	var n [numTables]int
	for _, set := range s.sets {
		for k := range set.all() {
			if k.t < numTables {
				n[k.t] += k.blocks(s.lim)
			}
		}
	}
	out := map[string]int{}
	for t, c := range n {
		if c > 0 {
			out[tableNames[t]] = c
		}
	}
	return out
}

// Groups is the device's multicast groups, by id.
func (s *DeviceSnapshot) Groups() []*p4v1.MulticastGroupEntry {
	var out []*p4v1.MulticastGroupEntry
	g := groupsOf(s.model, s.name)
	for _, id := range slices.Sorted(maps.Keys(g)) {
		out = append(out, groupEntry(id, g[id]))
	}
	return out
}
