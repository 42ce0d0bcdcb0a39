package cluster

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Assignment says which member masters a device, and since when: Epoch is
// the index plus the term of the raft entry that gave the device to that
// member. Epochs grow with every entry and exceed every raft term (so
// they outrank election ids made from terms), and a member keeps its epoch for as long as it keeps the
// device, so a member that lost a device and did not hear of it (cut off
// from the cluster) holds an older epoch than the device's new master:
// used as the P4Runtime election id, the epoch fences it out.
type Assignment struct {
	Member string `json:"member"`
	Epoch  uint64 `json:"epoch"`
}

// Assignments are the devices' masters, by device name. A map returned by
// Node.Assignments is never modified: a change replaces it.
type Assignments map[string]Assignment

// PerMember counts the devices each member masters.
func (a Assignments) PerMember() map[string]int {
	out := map[string]int{}
	for _, as := range a {
		out[as.Member]++
	}
	return out
}

// applyAssign applies an "assign" command at index: each named device
// goes to its member ("" removes the device's assignment). A device that
// changes member gets epoch; one given to the member it has
// keeps its epoch. Callers hold f.mu.
func (f *fsm) applyAssignLocked(moves map[string]string, epoch uint64) {
	next := maps.Clone(f.assign)
	if next == nil {
		next = Assignments{}
	}
	for dev, member := range moves {
		switch cur, ok := next[dev]; {
		case member == "":
			delete(next, dev)
		case ok && cur.Member == member:
		default:
			next[dev] = Assignment{Member: member, Epoch: epoch}
		}
	}
	f.assign = next
}

func (f *fsm) assignments() Assignments {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.assign
}

// Assignments are the devices' masters as the replicated state holds
// them now (see Assign). The map must not be modified.
func (n *Node) Assignments() Assignments { return n.fsm.assignments() }

// Assign moves devices to members in the replicated state, all in one
// entry: moves maps a device to its new master ("" forgets the device).
// It must run on the leader. Devices whose master changes get a new
// epoch: the entry's index plus its term.
func (n *Node) Assign(ctx context.Context, moves map[string]string) error {
	if len(moves) == 0 {
		return nil
	}
	_, err := n.propose(ctx, command{Op: "assign", Assign: moves})
	return err
}

// liveness tracks, on the leader, which members answer raft's
// heartbeats: raft reports each failed heartbeat and the first success
// after failures, and a member whose failures began longer ago than the
// caller's grace is down.
//
// A new leader has sent no heartbeat to the leader it replaces before
// its term, but it heard that leader's last one: when its own first
// heartbeat to the old leader fails too, the old leader's failures are
// counted from that last contact rather than from the new term, so
// that a dead leader's devices move as soon after its death as a dead
// follower's do. A first heartbeat that succeeds (a leadership transfer,
// a short partition) leaves nothing counted.
type liveness struct {
	self string // this member's id; not written after newLiveness

	mu      sync.Mutex           // guards the fields below
	failing map[string]time.Time // member -> first failed heartbeat since its last success
	leader  string               // the leader as last observed ("" between terms)
	// The previous leader, and when this member last heard from it, as
	// observed when that leader fell silent; kept for the term this
	// member then leads.
	lost      string
	lastHeard time.Time
	// suspect is, in this member's term as leader, the previous leader
	// and its last contact, until a heartbeat to it fails (it is then
	// failing since that contact) or succeeds.
	suspect     string
	suspectFrom time.Time

	changed chan struct{} // a member failed or resumed (buffered 1)
}

func newLiveness(self string) *liveness {
	return &liveness{self: self, failing: map[string]time.Time{}, changed: make(chan struct{}, 1)}
}

// observe is raft's observer callback: it runs on raft's goroutines and
// never blocks. lastContact is raft's LastContact as the observation is
// handled: on a follower whose leader just fell silent, when it last
// heard from it.
func (l *liveness) observe(o raft.Observation, lastContact time.Time) {
	l.mu.Lock()
	switch d := o.Data.(type) {
	case raft.FailedHeartbeatObservation:
		id := string(d.PeerID)
		if _, ok := l.failing[id]; ok {
			l.mu.Unlock()
			return
		}
		since := time.Now()
		if id == l.suspect {
			since = l.suspectFrom
			l.suspect = ""
		}
		l.failing[id] = since
	case raft.ResumedHeartbeatObservation:
		delete(l.failing, string(d.PeerID))
		if string(d.PeerID) == l.suspect {
			l.suspect = ""
		}
	case raft.PeerObservation:
		if d.Removed {
			delete(l.failing, string(d.Peer.ID))
			if string(d.Peer.ID) == l.suspect {
				l.suspect = ""
			}
		}
	case raft.LeaderObservation:
		// Another leader's view of its followers is not ours.
		clear(l.failing)
		l.suspect = ""
		id := string(d.LeaderID)
		switch {
		case id == "":
			if l.leader != "" && l.leader != l.self && !lastContact.IsZero() {
				l.lost, l.lastHeard = l.leader, lastContact
			}
		case id == l.self:
			if l.lost != "" && l.lost != l.self {
				l.suspect, l.suspectFrom = l.lost, l.lastHeard
			}
			l.lost = ""
		default:
			l.lost = ""
		}
		l.leader = id
	default:
		l.mu.Unlock()
		return
	}
	l.mu.Unlock()
	select {
	case l.changed <- struct{}{}:
	default:
	}
}

// down reports whether member has failed heartbeats for longer than grace.
func (l *liveness) down(member string, grace time.Duration, now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	since, ok := l.failing[member]
	return ok && now.Sub(since) >= grace, since
}

// nextDown is when the earliest failing member passes grace (zero if
// none is failing).
func (l *liveness) nextDown(grace time.Duration, now time.Time) time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	var next time.Time
	for _, since := range l.failing {
		if at := since.Add(grace); at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// LiveMembers is, on the leader, the members of the raft configuration
// that answered raft's last heartbeat or have not failed for grace yet,
// sorted; the leader is one. On a follower it is every member (a
// follower does not see the others' heartbeats).
func (n *Node) LiveMembers(grace time.Duration) []string {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil
	}
	now := time.Now()
	var out []string
	leader := n.IsLeader()
	for _, srv := range f.Configuration().Servers {
		id := string(srv.ID)
		if leader && id != n.cfg.ID {
			if d, _ := n.live.down(id, grace, now); d {
				continue
			}
		}
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

// MembersChanged signals (buffered 1) when a member's heartbeats start
// failing or resume, or the configuration changes; with NextMemberDown
// it tells the leader when to look at LiveMembers again.
func (n *Node) MembersChanged() <-chan struct{} { return n.live.changed }

// NextMemberDown is when the next failing member will count as down
// under grace (zero if none is failing).
func (n *Node) NextMemberDown(grace time.Duration) time.Time {
	return n.live.nextDown(grace, time.Now())
}

// MemberDown says whether member has failed raft's heartbeats for longer
// than grace as this node (the leader) sees it, and since when.
func (n *Node) MemberDown(member string, grace time.Duration) (bool, time.Time) {
	return n.live.down(member, grace, time.Now())
}

// CatchUp waits until this node's state machine has applied every entry
// the cluster had committed when it was called, as far as this node
// knows: on the leader, a barrier; on a follower, raft's commit index
// as the leader last told it (WaitCommitted).
func (n *Node) CatchUp(ctx context.Context) error {
	if n.IsLeader() {
		return n.Barrier(ctx)
	}
	return n.WaitCommitted(ctx)
}

// WaitCommitted waits until the state machine has applied every command
// up to raft's commit index as this node knows it now. A new leader
// learns the true commit index only once an entry of its own term
// commits: it calls Barrier instead.
func (n *Node) WaitCommitted(ctx context.Context) error {
	return n.WaitApplied(ctx, n.lastCommand(n.raft.CommitIndex()))
}

// lastCommand is the index of the last command entry at or before index:
// raft's own entries (no-ops, barriers, configurations) never reach the
// state machine, so its index stops at the command before them. Entries
// the log no longer has are in the snapshot the state machine restored.
func (n *Node) lastCommand(index uint64) uint64 {
	for i := index; i > 0 && index-i < 1024; i-- {
		var l raft.Log
		if err := n.store.GetLog(i, &l); err != nil {
			return 0
		}
		if l.Type == raft.LogCommand {
			return i
		}
	}
	return 0
}
