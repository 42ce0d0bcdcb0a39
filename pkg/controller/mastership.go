package controller

import (
	"context"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// Mastership is partitioned: each device has one master among the
// members, kept in the replicated state (cluster.Assignments) and chosen
// by the raft leader with rendezvous hashing over the members that
// answer raft's heartbeats. Only the master holds a session to the device
// (others too with Config.BackupSessions) and writes it, with an election
// id made from the device's epoch, so a master that lost the device
// without hearing of it is outranked on the switch by the new one.

// DefaultMemberDownAfter is how long a member may fail raft's heartbeats
// before the leader moves its devices to the other members.
const DefaultMemberDownAfter = 3 * time.Second

// MasterElectionID is the election id of a device's master at epoch
// (cluster.Assignment.Epoch): ElectionPrefix in the upper half of the
// high word and the epoch's low 32 bits below it. Epochs exceed every
// raft term (see cluster.Assignment), so a master outranks the term-based
// ids p4ctl leaders used before epochs, which a device may remember.
func MasterElectionID(epoch uint64) p4rt.ElectionID {
	return p4rt.ElectionID{High: ElectionPrefix | epoch&0xffffffff}
}

// Rendezvous picks each device's master among members (highest random
// weight: the member whose hash with the device scores highest). Adding
// a member moves only the devices it now scores highest on (about
// 1/(n+1) of them); removing one moves only its own. No member: no
// assignment.
func Rendezvous(devices, members []string) map[string]string {
	out := make(map[string]string, len(devices))
	if len(members) == 0 {
		return out
	}
	seeds := make([]uint64, len(members))
	for i, m := range members {
		h := fnv.New64a()
		h.Write([]byte(m))
		seeds[i] = h.Sum64()
	}
	for _, d := range devices {
		h := fnv.New64a()
		h.Write([]byte(d))
		dh := h.Sum64()
		best, bestScore := "", uint64(0)
		for i, m := range members {
			s := mix(seeds[i] ^ dh)
			if best == "" || s > bestScore || (s == bestScore && m < best) {
				best, bestScore = m, s
			}
		}
		out[d] = best
	}
	return out
}

// mix is a 64-bit finalizer (splitmix64's): every input bit affects every
// output bit, so scores of one device under different members are
// independent.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// assignMoves is what must change in cur to reach want: devices whose
// master differs, and devices cur has that want does not ("").
func assignMoves(cur cluster.Assignments, want map[string]string) map[string]string {
	moves := map[string]string{}
	for d, m := range want {
		if cur[d].Member != m {
			moves[d] = m
		}
	}
	for d := range cur {
		if _, ok := want[d]; !ok {
			moves[d] = ""
		}
	}
	return moves
}

// kickAssign asks the leader's assignment loop to look again.
func (c *Controller) kickAssign() { signal(c.assignKick) }

// assignLoop runs on every node and acts while it leads (once caught
// up): it keeps the replicated assignment equal to rendezvous hashing of
// the model's devices over the live members, looking again when the
// devices, the members or their liveness change.
func (c *Controller) assignLoop(ctx context.Context) {
	grace := c.cfg.MemberDownAfter
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.assignKick:
		case <-c.cfg.Node.MembersChanged():
		case <-timer.C:
		}
		next := time.Hour
		c.mu.Lock()
		leader := c.leader
		c.mu.Unlock()
		if leader {
			if err := c.rebalance(ctx, grace); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.log.Warn("device assignment not committed; trying again", "err", err)
				next = time.Second
			}
			if at := c.cfg.Node.NextMemberDown(grace); !at.IsZero() {
				next = min(next, max(time.Until(at), time.Millisecond))
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
	}
}

// rebalance commits the assignment rendezvous hashing gives now, if it
// differs from the replicated one.
func (c *Controller) rebalance(ctx context.Context, grace time.Duration) error {
	m, _ := c.cfg.Node.Model()
	devices := slices.Sorted(maps.Keys(m.Devices))
	members := c.cfg.Node.LiveMembers(grace)
	cur := c.cfg.Node.Assignments()
	moves := assignMoves(cur, Rendezvous(devices, members))
	if len(moves) == 0 {
		return nil
	}
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.cfg.Node.Assign(actx, moves); err != nil {
		return err
	}
	moved := 0
	for d, to := range moves {
		if cur[d].Member != "" && to != "" {
			moved++
		}
	}
	c.log.Info("devices assigned", "changes", len(moves), "moved", moved, "live_members", members, "per_member", c.cfg.Node.Assignments().PerMember())
	return nil
}

// masterLocked reports whether this node masters dev, and the election
// id it writes it with then; otherwise the backup id. Callers hold mu.
//
// A node out of touch with the cluster (no leader heard from within
// MemberDownAfter, see contactLoop) masters nothing: the leader may be
// giving its devices to others, and it cannot know.
func (c *Controller) masterLocked(dev string) (p4rt.ElectionID, bool) {
	if a, ok := c.assign[dev]; ok && a.Member == c.cfg.Node.ID() && c.contact {
		return MasterElectionID(a.Epoch), true
	}
	return c.backupElection(), false
}

// backupElection is this node's id on a device it does not master: a
// low id of its own (below any master's), so members differ.
func (c *Controller) backupElection() p4rt.ElectionID { return c.backupElectionFor(c.cfg.Node.ID()) }

func (*Controller) backupElectionFor(id string) p4rt.ElectionID {
	h := fnv.New32a()
	h.Write([]byte(id))
	return p4rt.ElectionID{Low: 1 + uint64(h.Sum32())}
}

// wantsSessionLocked reports whether this node holds a session to dev:
// it masters it, or backups are configured. Callers hold mu.
func (c *Controller) wantsSessionLocked(dev string) bool {
	if c.cfg.BackupSessions {
		return true
	}
	return c.assign[dev].Member == c.cfg.Node.ID()
}

// Assignments are the devices' masters as this node last saw them.
func (c *Controller) Assignments() cluster.Assignments {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.assign
}

// catchUp waits until the node's state machine has applied what the
// cluster committed and this controller has compiled it: a member taking
// a device over must not write it a model older than its previous master
// did. A leader that caught up with its term's barrier (c.leader) knows
// the commit index; any other node asks raft (cluster.Node.CatchUp).
func (c *Controller) catchUp(ctx context.Context) error {
	c.mu.Lock()
	caughtUp := c.leader
	c.mu.Unlock()
	var err error
	if caughtUp {
		err = c.cfg.Node.WaitCommitted(ctx)
	} else {
		err = c.cfg.Node.CatchUp(ctx)
	}
	if err != nil {
		return err
	}
	// The model's revision now: entries that change no model (a
	// member's API address) move the log index without a change signal,
	// so the revision is what is waited for, and it only grows.
	_, target := c.cfg.Node.ModelRevision()
	for {
		c.mu.Lock()
		seen := c.seenRevision
		c.mu.Unlock()
		if seen >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// inContact reports whether this node is in touch with the cluster: it
// leads, or it heard from the leader within MemberDownAfter. The leader
// moves a member's devices only after MemberDownAfter without its
// heartbeats, so a member cut off stops writing before another member
// starts (as long as raft's heartbeat timeout is below MemberDownAfter).
func (c *Controller) inContact() bool {
	n := c.cfg.Node
	if n.IsLeader() {
		return true
	}
	if id, _ := n.Leader(); id == "" {
		return false
	}
	return time.Since(n.LastContact()) < c.cfg.MemberDownAfter
}

// contactLoop follows inContact: when it changes, every worker arbitrates
// again with its new role (a node cut off becomes every device's backup,
// and its writes in flight are cancelled).
func (c *Controller) contactLoop(ctx context.Context) {
	t := time.NewTicker(max(c.cfg.MemberDownAfter/20, 10*time.Millisecond))
	defer t.Stop()
	for {
		in := c.inContact()
		c.mu.Lock()
		if in != c.contact {
			c.contact = in
			for _, w := range c.workers {
				w.roleChanged()
			}
			c.log.Info("contact with the cluster", "in_contact", in)
		}
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// MemberDown reports whether member's devices are moving off it: this
// node leads and the member has failed raft's heartbeats for longer than
// MemberDownAfter. Followers do not see heartbeats and report false.
func (c *Controller) MemberDown(member string) bool {
	if !c.cfg.Node.IsLeader() || member == c.cfg.Node.ID() {
		return false
	}
	down, _ := c.cfg.Node.MemberDown(member, c.cfg.MemberDownAfter)
	return down
}

// DefaultProbeInterval is how often masters send LLDP probes out of their
// devices' ports (Config.ProbeInterval's default).
const DefaultProbeInterval = 5 * time.Second

// ProbeTTL is how long a link learned from one LLDP probe is held: four
// probe intervals.
func (c *Controller) ProbeTTL() time.Duration { return 4 * c.cfg.ProbeInterval }
