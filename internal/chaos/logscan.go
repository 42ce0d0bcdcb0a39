package chaos

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
)

// The run only adds endpoints, so a reconcile that deletes table entries
// removes entries of the committed model (a new leader reconciling the
// devices to a model its state machine has not caught up with). Deletions
// restored a moment later are too short for the monitor's samples; the
// nodes log every full reconcile's plan, and the logs are read for them.

// reconcileLine matches the controller's log of a full reconcile.
var reconcileLine = regexp.MustCompile(`^time=(\S+) .*msg="device reconciled" node=(\S+) device=(\S+) .*plan="(\d+) inserts, (\d+) modifies, (\d+) deletes`)

// removal is one reconcile that deleted entries.
type removal struct {
	time, node, device string
	deletes            int
}

func (r removal) String() string {
	return fmt.Sprintf("%s: %s's reconcile of %s deleted %d entries", r.time, r.node, r.device, r.deletes)
}

// reconcileRemovals returns the reconciles of a node log that deleted
// entries, bounded by the log's lines.
func reconcileRemovals(r io.Reader) ([]removal, error) {
	var out []removal
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		m := reconcileLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		d, err := strconv.Atoi(m[6])
		if err != nil || d == 0 {
			continue
		}
		out = append(out, removal{time: m[1], node: m[2], device: m[3], deletes: d})
	}
	return out, sc.Err()
}

// logRemovals reads every node's log for reconciles that deleted entries.
func (c *cluster) logRemovals() ([]removal, error) {
	var out []removal
	for _, n := range c.nodes {
		f, err := os.Open(n.proc.logPath)
		if err != nil {
			return out, err
		}
		rs, err := reconcileRemovals(f)
		f.Close()
		if err != nil {
			return out, fmt.Errorf("%s: %w", n.proc.logPath, err)
		}
		out = append(out, rs...)
	}
	return out, nil
}
