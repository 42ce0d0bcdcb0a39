package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// Policy hit counters: the direct counters of every device's policy
// entries, read over P4Runtime on an interval (by the leader) and on
// demand (by any node: reads need no mastership), summed per rule and
// per policy through the compiler's CounterIndex.
//
// Totals are kept as sums of what each read added, entry by entry, so
// they survive what resets a device's counters: an entry rewritten, a
// pipeline pushed, a switch restarted. An entry whose counter went down
// since the last read was reset; what it counted between that read and
// the reset is lost, and the reset is reported (DeviceCounters.Resets),
// not hidden. A node's totals start from the device's counters when it
// first reads them.

// RuleCounters are one rule's hits on one device.
type RuleCounters struct {
	Rule    int    `json:"rule"` // index in the policy's rules; -1 when not known
	Packets uint64 `json:"packets"`
	Bytes   uint64 `json:"bytes"`
}

// PolicyCounters are one policy's hits on one device.
type PolicyCounters struct {
	Policy  string         `json:"policy"`
	Packets uint64         `json:"packets"`
	Bytes   uint64         `json:"bytes"`
	Rules   []RuleCounters `json:"rules,omitempty"`
}

// DeviceCounters are what this node has read of one device's counters.
type DeviceCounters struct {
	Device string `json:"device"`
	// ReadAt is when the last read ended (zero before the first), Took
	// how long it took, Entries how many counted entries it returned.
	ReadAt  time.Time     `json:"read_at"`
	Took    time.Duration `json:"took"`
	Entries int           `json:"entries"`
	// Unknown counts entries the device returned that the model does not
	// have (being written or deleted), in the last read; they are not
	// summed.
	Unknown int `json:"unknown"`
	// Resets counts the reads that found counters gone down (entries
	// rewritten, a pipeline pushed, the switch restarted); LastReset is
	// the last such read and ResetEntries how many entries it found reset.
	Resets       uint64           `json:"resets"`
	LastReset    time.Time        `json:"last_reset,omitzero"`
	ResetEntries int              `json:"reset_entries"`
	Error        string           `json:"error,omitempty"`
	Policies     []PolicyCounters `json:"policies"`
}

type hits struct{ packets, bytes uint64 }

func (h *hits) add(d hits) { h.packets += d.packets; h.bytes += d.bytes }

// seen is an entry's counter as last read; packets < 0: not read yet.
type seen struct{ packets, bytes int64 }

// devCounters is one device's counter state.
type devCounters struct {
	// read serializes reads of the device and guards what reads alone
	// use: the index, the model it is of, and each entry's counts as
	// last read.
	read  sync.Mutex
	index *policy.CounterIndex
	model *policy.Model
	last  []seen // by index entry

	// mu guards what reads answer from.
	mu       sync.Mutex
	rules    map[policy.RuleRef]*hits
	policies map[string]*hits
	st       DeviceCounters
}

// counterStore holds every device's counters and the Prometheus series
// admitted so far.
type counterStore struct {
	mu     sync.Mutex
	devs   map[string]*devCounters
	series map[[2]string]bool // (device, policy) with a series of its own
}

func newCounterStore() *counterStore {
	return &counterStore{devs: map[string]*devCounters{}, series: map[[2]string]bool{}}
}

func (s *counterStore) device(name string) *devCounters {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.devs[name]
	if d == nil {
		d = &devCounters{rules: map[policy.RuleRef]*hits{}, policies: map[string]*hits{}, st: DeviceCounters{Device: name}}
		s.devs[name] = d
	}
	return d
}

// ErrNotConnected is returned for a read of a device this node holds no
// session to.
var ErrNotConnected = errors.New("no P4Runtime session to the device")

// ReadCounters reads device dev's policy counters now and adds them to
// its totals. It may be called from any goroutine; reads of one device
// are serialized.
func (c *Controller) ReadCounters(ctx context.Context, dev string) error {
	c.mu.Lock()
	w := c.workers[dev]
	c.mu.Unlock()
	if w == nil {
		return fmt.Errorf("device %s: %w", dev, ErrNoDevice)
	}
	w.mu.Lock()
	s := w.sess
	w.mu.Unlock()
	d := c.counters.device(dev)
	d.read.Lock()
	defer d.read.Unlock()
	fail := func(err error) error {
		d.mu.Lock()
		d.st.Error = err.Error()
		d.mu.Unlock()
		return fmt.Errorf("device %s: counters: %w", dev, err)
	}
	if s == nil {
		return fail(ErrNotConnected)
	}
	idx, last, m, err := c.counterIndex(dev, d)
	if err != nil {
		return fail(err)
	}
	start := time.Now()
	delta := make([]hits, len(idx.Attrs))
	entries, unknown, reset := 0, 0, 0
	err = s.ReadCounters(ctx, idx.Tables, func(key []byte, packets, bytes int64) error {
		e, a, ok := idx.Entry(key)
		if !ok {
			unknown++
			return nil
		}
		entries++
		prev := last[e]
		dp, db := packets, bytes
		if prev.packets >= 0 {
			if packets < prev.packets || bytes < prev.bytes {
				reset++ // counted from zero again since the last read
			} else {
				dp, db = packets-prev.packets, bytes-prev.bytes
			}
		}
		last[e] = seen{packets, bytes}
		delta[a].add(hits{uint64(dp), uint64(db)})
		return nil
	})
	// What a failed read got through is kept: each entry's last value
	// moved with the hits it added.
	took := time.Since(start)
	d.index, d.model, d.last = idx, m, last
	d.mu.Lock()
	defer d.mu.Unlock()
	for a, h := range delta {
		attr := &idx.Attrs[a]
		// Every rule with entries on the device is listed, hits or not.
		counted := map[string]bool{}
		for _, r := range attr.Rules {
			rh := d.rules[r]
			if rh == nil {
				rh = &hits{}
				d.rules[r] = rh
			}
			rh.add(h)
			if !counted[r.Policy] {
				counted[r.Policy] = true
				ph := d.policies[r.Policy]
				if ph == nil {
					ph = &hits{}
					d.policies[r.Policy] = ph
				}
				ph.add(h)
			}
		}
	}
	if err != nil {
		d.st.Error = err.Error()
		return fmt.Errorf("device %s: counters: %w", dev, err)
	}
	now := time.Now()
	d.st.ReadAt, d.st.Took, d.st.Entries, d.st.Unknown, d.st.Error = now, took, entries, unknown, ""
	if reset > 0 {
		d.st.Resets++
		d.st.LastReset, d.st.ResetEntries = now, reset
		c.log.Info("policy counters reset on the device", "device", dev, "entries", reset)
	}
	return nil
}

// counterRounds bounds how many times a read brings its device's index
// to the compiled model: more than one when the model moves on while the
// index is built. The read then counts with the index it has, which is
// correct for the model it is of (entries the device holds of a newer one
// are unknown for now); the next read brings it on.
const counterRounds = 3

// counterIndex returns device dev's counter index, of the model compiled
// now (as far as counterRounds allow: m is the model it is of), and each
// of its entries' counts as last read. The index is brought up to date
// from the last one by what changed since: mu is held only to take that
// (Compiler.PrepareCounterIndex: the rows that changed, or a hold on the
// device's rows), and the index is built without it, so that counters do
// not hold up compiles, reconciles and writes. Callers hold d.read.
func (c *Controller) counterIndex(dev string, d *devCounters) (idx *policy.CounterIndex, last []seen, m *policy.Model, err error) {
	idx, last, m = d.index, d.last, d.model
	for range counterRounds {
		c.mu.Lock()
		if idx != nil && c.compiler.Model() == m {
			c.mu.Unlock()
			break
		}
		u, err := c.compiler.PrepareCounterIndex(idx, m, dev)
		c.mu.Unlock()
		if err != nil {
			return nil, nil, nil, err
		}
		n := u.Build()
		idx, last, m = n, carried(n, idx, last), u.Model()
	}
	return idx, last, m, nil
}

// carried is last, the counts read of old's entries (old may be nil),
// for the entries of n: kept where n extends old (the same numbers), else
// mapped entry by entry (Carry); an entry new to n is not read yet.
func carried(n, old *policy.CounterIndex, last []seen) []seen {
	if n.Extends(old) {
		for len(last) < n.Len() {
			last = append(last, seen{packets: -1})
		}
		return last
	}
	out := make([]seen, n.Len())
	for i := range out {
		out[i].packets = -1
	}
	n.Carry(old, func(o, e int) { out[e] = last[o] })
	return out
}

// Counters reports this node's counters of device dev (every device when
// empty), reading them first when refresh is set.
func (c *Controller) Counters(ctx context.Context, dev string, refresh bool) ([]DeviceCounters, error) {
	c.mu.Lock()
	names := slices.Sorted(maps.Keys(c.workers))
	c.mu.Unlock()
	if dev != "" {
		if !slices.Contains(names, dev) {
			return nil, fmt.Errorf("device %s: %w", dev, ErrNoDevice)
		}
		names = []string{dev}
	}
	if refresh {
		for _, n := range names {
			if err := c.ReadCounters(ctx, n); err != nil && ctx.Err() != nil {
				return nil, err
			}
			// Other failures are in the device's Error.
		}
	}
	out := make([]DeviceCounters, 0, len(names))
	for _, n := range names {
		out = append(out, c.counters.device(n).snapshot())
	}
	return out, nil
}

func (d *devCounters) snapshot() DeviceCounters {
	d.mu.Lock()
	defer d.mu.Unlock()
	st := d.st
	rules := make(map[string][]RuleCounters, len(d.policies))
	for r, rh := range d.rules {
		rules[r.Policy] = append(rules[r.Policy], RuleCounters{Rule: r.Rule, Packets: rh.packets, Bytes: rh.bytes})
	}
	st.Policies = make([]PolicyCounters, 0, len(d.policies))
	for _, name := range slices.Sorted(maps.Keys(d.policies)) {
		h := d.policies[name]
		pc := PolicyCounters{Policy: name, Packets: h.packets, Bytes: h.bytes, Rules: rules[name]}
		slices.SortFunc(pc.Rules, func(a, b RuleCounters) int { return a.Rule - b.Rule })
		st.Policies = append(st.Policies, pc)
	}
	return st
}

// countersLoop reads the counters of the devices this node masters each
// interval (backup sessions read on demand only, so a device is read
// once per interval in the cluster).
func (c *Controller) countersLoop(ctx context.Context) {
	if c.cfg.CounterReadInterval < 0 {
		return
	}
	t := time.NewTicker(c.cfg.CounterReadInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.mu.Lock()
		var names []string
		for _, n := range slices.Sorted(maps.Keys(c.workers)) {
			if _, master := c.masterLocked(n); master {
				names = append(names, n)
			}
		}
		c.mu.Unlock()
		for _, n := range names {
			if err := c.ReadCounters(ctx, n); err != nil && ctx.Err() == nil {
				c.log.Debug("policy counters", "device", n, "err", err)
			}
		}
	}
}
