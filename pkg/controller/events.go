package controller

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/p4ctl/p4ctl/pkg/cluster"
)

// StatusEventInterval is the least time between two rounds of device and
// topology events: changes within it are coalesced into one event per
// device (and one for the topology), so a reconcile writing 50,000
// entries in batches tells a watcher a handful of times, not once per
// batch.
const StatusEventInterval = 250 * time.Millisecond

// statusEvents turns changes of the devices' status and of the topology
// into watch events (Event.Device, Event.Topology): the workers and sync
// mark what changed (mark, markTopology: cheap, never blocking, safe
// under any lock), and the controller's eventLoop publishes, at most
// every StatusEventInterval, an event for each marked device whose status
// differs in what a watcher shows (statusKey) from what it last
// published.
type statusEvents struct {
	mu       sync.Mutex
	dirty    map[string]bool
	topology bool
	kick     chan struct{} // something is marked (buffered 1)
	// last is the status last published per device (eventLoop's own).
	last map[string]statusKey
}

func newStatusEvents() *statusEvents {
	return &statusEvents{dirty: map[string]bool{}, kick: make(chan struct{}, 1), last: map[string]statusKey{}}
}

// mark notes that device's status may have changed.
func (e *statusEvents) mark(device string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.dirty[device] = true
	e.mu.Unlock()
	signal(e.kick)
}

// markTopology notes that the links or hosts changed.
func (e *statusEvents) markTopology() {
	if e == nil {
		return
	}
	e.mu.Lock()
	e.topology = true
	e.mu.Unlock()
	signal(e.kick)
}

// take returns and clears what is marked.
func (e *statusEvents) take() ([]string, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	devs := slices.Sorted(maps.Keys(e.dirty))
	clear(e.dirty)
	t := e.topology
	e.topology = false
	return devs, t
}

// statusKey is what a watcher of a device's status sees change: write
// progress alone (WriteDone) is not an event, the start and end of a
// write are.
type statusKey struct {
	statusFields
	entries map[string]int
}

type statusFields struct {
	present                     bool // this node holds a session to it
	master                      string
	epoch                       uint64
	connected, primary, inSync  bool
	writing                     bool
	lastError, denialLog, flows string
	cookie, modelIndex          uint64
}

func (k statusKey) equal(o statusKey) bool {
	return k.statusFields == o.statusFields && maps.Equal(k.entries, o.entries)
}

// statusKeyOf is device's statusKey as Devices would report it.
func (c *Controller) statusKeyOf(device string) statusKey {
	c.mu.Lock()
	defer c.mu.Unlock()
	a := c.assign[device]
	k := statusKey{statusFields: statusFields{master: a.Member, epoch: a.Epoch}}
	w := c.workers[device]
	if w == nil {
		return k
	}
	st := w.status()
	c.flowLogSupport(w.dev, &st)
	k.present, k.connected, k.primary, k.inSync, k.writing = true, st.Connected, st.Primary, st.InSync, st.WriteTotal > 0
	k.lastError, k.denialLog, k.flows = st.LastError, st.DenialLog, st.FlowLog
	k.cookie, k.modelIndex, k.entries = st.PipelineCookie, st.ModelIndex, st.Entries
	return k
}

// eventLoop publishes the marked changes until ctx ends (Run runs it).
func (c *Controller) eventLoop(ctx context.Context) {
	e := c.events
	for {
		select {
		case <-ctx.Done():
			return
		case <-e.kick:
		}
		devs, topology := e.take()
		var out []Event
		for _, d := range devs {
			k := c.statusKeyOf(d)
			if last, ok := e.last[d]; ok && last.equal(k) {
				continue
			}
			if !k.present && k.master == "" {
				delete(e.last, d) // gone from the model: forget it
			} else {
				e.last[d] = k
			}
			out = append(out, Event{Device: d})
		}
		if topology {
			out = append(out, Event{Topology: true})
		}
		if len(out) > 0 {
			c.mu.Lock()
			for _, ev := range out {
				// A watcher whose buffer is full misses these rather
				// than a model or leadership event they would push out
				// (publish drops the oldest).
				for ch := range c.subs {
					select {
					case ch <- ev:
					default:
					}
				}
			}
			c.mu.Unlock()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(StatusEventInterval):
		}
	}
}

// markAssignments marks the devices whose master changed from prev to
// now. Callers hold mu.
func (c *Controller) markAssignments(prev, now cluster.Assignments) {
	for d, a := range now {
		if prev[d] != a {
			c.events.mark(d)
		}
	}
	for d := range prev {
		if _, ok := now[d]; !ok {
			c.events.mark(d)
		}
	}
}
