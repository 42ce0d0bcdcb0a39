package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// fault is one thing the nemesis did.
type fault struct {
	target  string        // "node n2" or "device sw1"
	leader  bool          // the node killed was the leader
	struck  time.Time     // kill -9
	healed  time.Time     // restarted and serving again (zero if not)
	down    time.Duration // planned time down
	restart error         // the restart failed
}

func (f fault) String() string {
	s := f.target
	if f.leader {
		s += " (leader)"
	}
	if f.restart != nil {
		return s + ": restart failed: " + f.restart.Error()
	}
	return fmt.Sprintf("%s down %s", s, f.healed.Sub(f.struck).Round(100*time.Millisecond))
}

// between is a uniform random duration in [lo, hi].
func between(rng *rand.Rand, lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(hi-lo)+1))
}

// nemesis kills one process at a time, every FaultMinInterval to
// FaultMaxInterval until the deadline: a node (the leader with
// probability 1/2), and once, between a quarter and three quarters of
// the run, a device. Each victim is restarted after DownMin to DownMax
// and is serving again before the next fault.
func (c *cluster) nemesis(ctx context.Context, start, deadline time.Time) []fault {
	rng := rand.New(rand.NewPCG(uint64(c.cfg.Seed), 0x6e656d65))
	run := deadline.Sub(start)
	deviceAt := start.Add(run/4 + between(rng, 0, run/2))
	deviceDone := false
	var faults []fault
	maxFaults := int(run/c.cfg.FaultMinInterval) + 1
	for len(faults) < maxFaults {
		wait := between(rng, c.cfg.FaultMinInterval, c.cfg.FaultMaxInterval)
		if time.Now().Add(wait).After(deadline) {
			break
		}
		select {
		case <-ctx.Done():
			return faults
		case <-time.After(wait):
		}
		// The device fault takes the first turn after its time, or this
		// turn if it is the last one.
		last := time.Now().Add(c.cfg.FaultMinInterval).After(deadline)
		var f fault
		if !deviceDone && (!time.Now().Before(deviceAt) || last) {
			deviceDone = true
			f = c.killDevice(ctx, rng, c.devs[rng.IntN(len(c.devs))])
		} else {
			f = c.killNode(ctx, rng)
		}
		faults = append(faults, f)
		c.logf("fault %d at %s: %s", len(faults), f.struck.Sub(start).Round(100*time.Millisecond), f)
		if f.restart != nil {
			break // a process that does not come back ends the faults
		}
	}
	return faults
}

func (c *cluster) killNode(ctx context.Context, rng *rand.Rand) fault {
	var f fault
	victim := c.nodes[rng.IntN(len(c.nodes))]
	l := c.leader(ctx)
	if rng.IntN(2) == 0 && l != nil {
		victim = l
	}
	f.leader = victim == l
	f.target = "node " + victim.id
	f.down = between(rng, c.cfg.DownMin, c.cfg.DownMax)
	f.struck = time.Now()
	if err := victim.proc.kill(); err != nil {
		f.restart = err
		return f
	}
	sleep(ctx, f.down)
	if f.restart = c.startNode(ctx, victim, false); f.restart == nil {
		f.healed = time.Now()
	}
	return f
}

func (c *cluster) killDevice(ctx context.Context, rng *rand.Rand, d *device) fault {
	f := fault{target: "device " + d.name}
	f.down = between(rng, c.cfg.DownMin, c.cfg.DownMax)
	f.struck = time.Now()
	if err := d.proc.kill(); err != nil {
		f.restart = err
		return f
	}
	sleep(ctx, f.down)
	if f.restart = c.startDevice(ctx, d); f.restart == nil {
		f.healed = time.Now()
	}
	return f
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
