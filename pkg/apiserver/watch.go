package apiserver

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// Device status is spread over the cluster as mastership is (fanout.go):
// a node's controller tells of its own sessions, and only the leader
// learns links and hosts. A Watch with cluster relays the device and
// topology events of every other member's own Watch.

// relayRetry is how long a member's relayed stream waits before it is
// opened again, and memberCheck how often the members are looked at
// again (raft's configuration, in memory).
const (
	relayRetry  = time.Second
	memberCheck = 5 * time.Second
)

// relayMembers relays, on the returned channel, the device and topology
// events of every other member until ctx ends. It returns once each
// member's stream has sent its first event or failed (within
// memberCallTimeout); a member that joins later is followed from then.
func (s *Server) relayMembers(ctx context.Context) <-chan *p4ctlv1.Event {
	out := make(chan *p4ctlv1.Event, 64)
	running := map[string]context.CancelFunc{}
	update := func(ready *sync.WaitGroup) {
		want := map[string]bool{}
		for _, m := range s.node.Status().Members {
			if m.ID != s.node.ID() {
				want[m.ID] = true
			}
		}
		for id, cancel := range running {
			if !want[id] {
				cancel()
				delete(running, id)
			}
		}
		for _, id := range slices.Sorted(maps.Keys(want)) {
			if running[id] != nil {
				continue
			}
			mctx, cancel := context.WithCancel(ctx)
			running[id] = cancel
			if ready != nil {
				ready.Add(1)
			}
			go s.relayMember(mctx, id, out, ready)
		}
	}
	var ready sync.WaitGroup
	update(&ready)
	ready.Wait()
	go func() {
		tick := time.NewTicker(memberCheck)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				update(nil)
			}
		}
	}()
	return out
}

// relayMember follows member's own Watch into out until ctx ends,
// opening it again after a failure; ready (if not nil) is done once the
// first attempt has its first event or failed. A stream opened again
// missed what the member said meanwhile: every device the member masters
// and the topology are then said to have changed.
func (s *Server) relayMember(ctx context.Context, member string, out chan<- *p4ctlv1.Event, ready *sync.WaitGroup) {
	done := func() {
		if ready != nil {
			ready.Done()
			ready = nil
		}
	}
	defer done()
	send := func(e *p4ctlv1.Event) bool {
		select {
		case out <- e:
			return true
		case <-ctx.Done():
			return false
		}
	}
	for attempt := 0; ctx.Err() == nil; attempt++ {
		err := func() error {
			c, err := s.memberClient(member)
			if err != nil {
				return err
			}
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			slow := time.AfterFunc(memberCallTimeout, cancel) // a member that does not answer
			st, err := c.Watch(sctx, &p4ctlv1.WatchRequest{})
			if err == nil {
				_, err = st.Recv() // the member's model index: subscribed
			}
			if !slow.Stop() || err != nil {
				return err
			}
			done()
			if attempt > 0 {
				for d, a := range s.node.Assignments() {
					if a.Member == member && !send(&p4ctlv1.Event{Event: &p4ctlv1.Event_Device{Device: d}}) {
						return nil
					}
				}
				if !send(&p4ctlv1.Event{Event: &p4ctlv1.Event_Topology{Topology: true}}) {
					return nil
				}
			}
			for {
				e, err := st.Recv()
				if err != nil {
					return err
				}
				switch e.GetEvent().(type) {
				case *p4ctlv1.Event_Device, *p4ctlv1.Event_Topology:
					if !send(e) {
						return nil
					}
				}
			}
		}()
		done()
		if ctx.Err() != nil {
			return
		}
		if s.log != nil && attempt == 0 {
			s.log.Debug("watch: a member's events not relayed; trying again", "member", member, "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(relayRetry):
		}
	}
}
