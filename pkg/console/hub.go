package console

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// The hub is the console's one subscription to the node, shared by every
// open page: one Watch stream whatever the number of event streams, the
// fabric view read again only when the Watch says what changed (a
// device's status: Devices; the links or hosts: Topology; the model or
// the leader: all) and every FabricInterval for safety, and one loop
// reading the policy counters every CounterInterval while a counters
// stream is open. Pages get what changed: each subscriber has a mailbox
// where a newer fabric view or model index replaces one not sent yet, so
// a slow browser never holds the others up.

// hubLinger is how long the Watch stays open after the last page left,
// so that moving from page to page does not open a new one each time.
const hubLinger = 5 * time.Second

// fabricGap is the least time between two reads of the fabric view:
// events within it are coalesced into one read.
const fabricGap = 100 * time.Millisecond

type hub struct {
	c *Console

	mu sync.Mutex
	// The Watch and the fabric, while open (gen counts the openings, so
	// that an old one's goroutines know they are old).
	gen        uint64
	cancel     context.CancelFunc // nil: no Watch open
	subs       map[*watchSub]struct{}
	fabricSubs int
	index      uint64
	haveIndex  bool
	fabric     []byte // the fabric view last sent (JSON; nil: none, or stale)
	need       int    // parts of the fabric to read again (needModel ...)
	kick       chan struct{}
	linger     *time.Timer

	// The counters loop, while a counters stream is open.
	cgen     uint64
	ccancel  context.CancelFunc
	csubs    map[*counterSub]struct{}
	counters *CountersView // the last read (nil: none yet)
	ckick    chan struct{}
}

func newHub(c *Console) *hub {
	return &hub{c: c, subs: map[*watchSub]struct{}{}, csubs: map[*counterSub]struct{}{}, kick: make(chan struct{}, 1), ckick: make(chan struct{}, 1)}
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// watchSub is one event stream's mailbox.
type watchSub struct {
	fabric bool
	notify chan struct{} // something was posted (buffered 1)

	mu      sync.Mutex
	leaders []EventLeader
	model   *EventModel
	view    json.RawMessage
	err     error
	what    string // what failed
}

func (s *watchSub) post(f func(*watchSub)) {
	s.mu.Lock()
	f(s)
	s.mu.Unlock()
	signal(s.notify)
}

// take empties the mailbox.
func (s *watchSub) take() (leaders []EventLeader, model *EventModel, view json.RawMessage, what string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	leaders, model, view, what, err = s.leaders, s.model, s.view, s.what, s.err
	s.leaders, s.model, s.view = nil, nil, nil
	return
}

// subscribe opens a page's subscription, opening the Watch if none is
// open (its error is the page's). The page hears the model index (and,
// with fabric, the fabric view) at once when the hub has them.
func (h *hub) subscribe(fabric bool) (*watchSub, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		// The cluster's view: the devices' status as their masters tell
		// it, the topology as the leader learns it.
		watch, err := h.c.o.API.Watch(ctx, &p4ctlv1.WatchRequest{Cluster: true})
		if err != nil {
			cancel()
			return nil, err
		}
		h.gen++
		h.cancel = cancel
		h.need = needAll
		go h.watch(ctx, h.gen, watch)
		go h.fabricLoop(ctx, h.gen)
	}
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	s := &watchSub{fabric: fabric, notify: make(chan struct{}, 1)}
	h.subs[s] = struct{}{}
	if h.haveIndex {
		idx := h.index
		s.post(func(s *watchSub) { s.model = &EventModel{Index: idx} })
	}
	if fabric {
		h.fabricSubs++
		if h.fabric != nil {
			v := h.fabric
			s.post(func(s *watchSub) { s.view = v })
		} else {
			h.need = needAll
			signal(h.kick)
		}
	}
	return s, nil
}

// unsubscribe ends a page's subscription; the Watch closes hubLinger
// after the last.
func (h *hub) unsubscribe(s *watchSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	if s.fabric {
		if h.fabricSubs--; h.fabricSubs == 0 {
			h.fabric = nil // not kept up to date while nobody looks
		}
	}
	if len(h.subs) == 0 && h.cancel != nil && h.linger == nil {
		gen := h.gen
		h.linger = time.AfterFunc(hubLinger, func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			if h.gen == gen && len(h.subs) == 0 && h.cancel != nil {
				h.stopLocked()
			}
		})
	}
}

// stopLocked closes the Watch and forgets what it told. Callers hold mu.
func (h *hub) stopLocked() {
	if h.cancel != nil {
		h.cancel()
		h.cancel = nil
	}
	if h.linger != nil {
		h.linger.Stop()
		h.linger = nil
	}
	h.gen++
	clear(h.subs)
	h.fabricSubs, h.haveIndex, h.fabric, h.need = 0, false, nil, 0
}

// failLocked ends every subscription of the watch with an error event
// (the pages reconnect, opening a new Watch). Callers hold mu.
func (h *hub) failLocked(what string, err error, onlyFabric bool) {
	for s := range h.subs {
		if onlyFabric && !s.fabric {
			continue
		}
		s.post(func(s *watchSub) { s.what, s.err = what, err })
		delete(h.subs, s)
		if s.fabric {
			h.fabricSubs--
		}
	}
	if !onlyFabric || len(h.subs) == 0 {
		h.stopLocked()
		return
	}
	h.fabric = nil
}

// close ends everything (the console stops serving).
func (h *hub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.stopLocked()
	h.stopCountersLocked()
}

// watch relays the node's events to the pages and marks what of the
// fabric view they make stale.
func (h *hub) watch(ctx context.Context, gen uint64, st p4ctlv1.Controller_WatchClient) {
	for {
		e, err := st.Recv()
		h.mu.Lock()
		if h.gen != gen {
			h.mu.Unlock()
			return
		}
		if err != nil {
			if ctx.Err() == nil {
				h.failLocked("watch", err, false)
			}
			h.mu.Unlock()
			return
		}
		switch ev := e.GetEvent().(type) {
		case *p4ctlv1.Event_ModelIndex:
			h.index, h.haveIndex = ev.ModelIndex, true
			for s := range h.subs {
				s.post(func(s *watchSub) { s.model = &EventModel{Index: ev.ModelIndex} })
			}
			h.need |= needModel | needDevices
		case *p4ctlv1.Event_Leader:
			for s := range h.subs {
				s.post(func(s *watchSub) { s.leaders = append(s.leaders, EventLeader{Leader: ev.Leader}) })
			}
			h.need |= needAll // forwarded elsewhere now, or answered here
		case *p4ctlv1.Event_Device:
			h.need |= needDevices
		case *p4ctlv1.Event_Topology:
			h.need |= needTopology
		}
		signal(h.kick)
		h.mu.Unlock()
	}
}

// fabricLoop reads what of the fabric view the events made stale (all of
// it every FabricInterval), while a page shows the fabric, and sends the
// view to those pages when it changed.
func (h *hub) fabricLoop(ctx context.Context, gen uint64) {
	safety := time.NewTicker(h.c.o.FabricInterval)
	defer safety.Stop()
	var parts fabricParts
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.kick:
		case <-safety.C:
			h.mu.Lock()
			h.need = needAll
			h.mu.Unlock()
		}
		h.mu.Lock()
		need := h.need
		if h.gen != gen || h.fabricSubs == 0 || need == 0 {
			h.mu.Unlock()
			continue
		}
		if h.fabric == nil {
			need = needAll // nobody looked for a while
		}
		h.need = 0
		h.mu.Unlock()
		fctx, cancel := context.WithTimeout(ctx, apiTimeout)
		err := h.c.fetchFabric(fctx, &parts, need)
		cancel()
		var b []byte
		if err == nil {
			b, err = json.Marshal(parts.view())
		}
		h.mu.Lock()
		switch {
		case h.gen != gen, h.fabricSubs == 0: // nobody to tell: not kept
		case err != nil:
			if ctx.Err() == nil {
				h.c.o.Logger.Warn("console: fabric view not read", "err", err)
				h.failLocked("fabric", err, true)
			}
			parts = fabricParts{}
		case !bytes.Equal(b, h.fabric):
			h.fabric = b
			for s := range h.subs {
				if s.fabric {
					s.post(func(s *watchSub) { s.view = b })
				}
			}
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(fabricGap):
		}
	}
}

// counterSub is one counters stream's mailbox.
type counterSub struct {
	notify chan struct{}
	mu     sync.Mutex
	view   *CountersView
	err    error
}

func (s *counterSub) post(v *CountersView, err error) {
	s.mu.Lock()
	s.view, s.err = v, err
	s.mu.Unlock()
	signal(s.notify)
}

func (s *counterSub) take() (*CountersView, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.view, s.err
	s.view = nil
	return v, err
}

// subscribeCounters opens a counters stream's subscription, starting the
// counters loop if none runs. The last view read comes at once, or the
// first read's (or its error).
func (h *hub) subscribeCounters() *counterSub {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := &counterSub{notify: make(chan struct{}, 1)}
	h.csubs[s] = struct{}{}
	if h.ccancel == nil {
		ctx, cancel := context.WithCancel(context.Background())
		h.cgen++
		h.ccancel = cancel
		go h.countersLoop(ctx, h.cgen)
	} else if h.counters != nil {
		s.post(h.counters, nil)
	}
	return s
}

func (h *hub) unsubscribeCounters(s *counterSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.csubs, s)
	if len(h.csubs) == 0 {
		h.stopCountersLocked()
	}
}

func (h *hub) stopCountersLocked() {
	if h.ccancel != nil {
		h.ccancel()
		h.ccancel = nil
	}
	h.cgen++
	clear(h.csubs)
	h.counters = nil
}

// readCountersNow makes the counters loop read at once (the switches
// were just read).
func (h *hub) readCountersNow() { signal(h.ckick) }

// countersLoop reads the policy counters every CounterInterval (and when
// kicked) and sends them to every counters stream when they changed; an
// error ends every stream (the browsers reconnect).
func (h *hub) countersLoop(ctx context.Context, gen uint64) {
	tick := time.NewTicker(h.c.o.CounterInterval)
	defer tick.Stop()
	var last []byte
	for {
		cctx, cancel := context.WithTimeout(ctx, apiTimeout)
		v, err := h.c.countersView(cctx, "", "", false)
		cancel()
		h.mu.Lock()
		if h.cgen != gen {
			h.mu.Unlock()
			return
		}
		if err != nil {
			for s := range h.csubs {
				s.post(nil, err)
			}
			h.stopCountersLocked()
			h.mu.Unlock()
			return
		}
		if b, _ := json.Marshal(v); !bytes.Equal(b, last) {
			last, h.counters = b, v
			for s := range h.csubs {
				s.post(v, nil)
			}
		}
		h.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		case <-h.ckick:
		}
	}
}
