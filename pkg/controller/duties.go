package controller

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"time"

	"github.com/p4ctl/p4ctl/pkg/cluster"
)

// Duties is what a serving node does about its own leadership, beside
// the device work of its Controller: while it leads it publishes its API
// address in the replicated state (so followers can forward to it and
// clients find it), and the first time it leads it applies the files it
// was started with (`p4ctl serve --apply`) if the cluster's model has
// never been changed: a boot file seeds a new cluster, and a node
// restarted with the same flags does not revert what was changed since.
type Duties struct {
	Node       *cluster.Node
	Controller *Controller
	// NodeID and APIAddr are this node's id and the address its API
	// listens on.
	NodeID, APIAddr string
	// Apply is files of policy documents to apply on first leadership
	// into a model no change ever reached (revision 0). A file that
	// cannot be read or applied is logged and skipped; the others are
	// still applied.
	Apply []string
	// Applied, if set, is called once after the files were applied (or
	// at once if there are none) on the node that applied them.
	Applied func()
	Logger  *slog.Logger
	// Every is how often leadership is checked besides the controller's
	// events (default 500ms).
	Every time.Duration
}

// Run does the duties until ctx ends. It is called once, from its own
// goroutine; it blocks, and returns nil when ctx ends.
func (d *Duties) Run(ctx context.Context) error {
	log := d.Logger
	if log == nil {
		log = slog.Default()
	}
	every := d.Every
	if every <= 0 {
		every = 500 * time.Millisecond
	}
	events, unsub := d.Controller.Subscribe()
	defer unsub()
	applied := false
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if d.Node.IsLeader() {
			d.publish(ctx, log)
			if !applied {
				applied = true
				d.applyFiles(ctx, log)
				if d.Applied != nil {
					d.Applied()
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-events:
		case <-tick.C:
		}
	}
}

// publish records this node's API address, when it leads and the state
// does not hold it yet.
func (d *Duties) publish(ctx context.Context, log *slog.Logger) {
	if d.Node.APIAddr(d.NodeID) == d.APIAddr {
		return
	}
	c, done := context.WithTimeout(ctx, 10*time.Second)
	defer done()
	if err := d.Node.SetAPIAddr(c, d.NodeID, d.APIAddr); err != nil {
		log.Warn("publish API address", "err", err)
	}
}

// applyFiles applies d.Apply in order, if the model was never changed.
func (d *Duties) applyFiles(ctx context.Context, log *slog.Logger) {
	if len(d.Apply) == 0 {
		return
	}
	// A restarted leader applies its log only once it commits in its
	// term: wait for that, or the model looks new when it is not.
	c, done := context.WithTimeout(ctx, 30*time.Second)
	err := d.Node.Barrier(c)
	done()
	if err != nil {
		log.Error("boot files not applied: the log could not be caught up", "files", d.Apply, "err", err)
		return
	}
	if rev := d.Node.Revision(); rev != 0 {
		log.Info("boot files not applied: the cluster's model has changes (--apply seeds a new cluster only)", "files", d.Apply, "revision", rev)
		return
	}
	for i, f := range d.Apply {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Error("apply", "file", f, "err", err)
			continue
		}
		c, done := context.WithTimeout(ctx, 60*time.Second)
		var res Result
		if i == 0 {
			// Into the model found empty, or not at all: a client's change
			// that got there first wins.
			res, err = d.Controller.applyAt(c, f, b, 0)
		} else {
			res, err = d.Controller.Apply(c, f, b)
		}
		done()
		if errors.Is(err, cluster.ErrStale) {
			log.Info("boot files not applied: another change reached the model first", "files", d.Apply)
			return
		}
		if err != nil {
			log.Error("apply", "file", f, "err", err)
			continue
		}
		log.Info("applied", "file", f, "objects", res.Objects, "index", res.Index)
	}
}
