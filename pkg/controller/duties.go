package controller

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/p4ctl/p4ctl/pkg/cluster"
)

// Duties is what a serving node does about its own leadership, beside
// the device work of its Controller: while it leads it publishes its API
// address in the replicated state (so followers can forward to it and
// clients find it), and the first time it leads it applies the files it
// was started with (`p4ctl serve --apply`).
type Duties struct {
	Node       *cluster.Node
	Controller *Controller
	// NodeID and APIAddr are this node's id and the address its API
	// listens on.
	NodeID, APIAddr string
	// Apply is files of policy documents to apply once, on first
	// leadership. A file that cannot be read or applied is logged and
	// skipped; the others are still applied.
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

// applyFiles applies d.Apply in order.
func (d *Duties) applyFiles(ctx context.Context, log *slog.Logger) {
	for _, f := range d.Apply {
		b, err := os.ReadFile(f)
		if err != nil {
			log.Error("apply", "file", f, "err", err)
			continue
		}
		c, done := context.WithTimeout(ctx, 60*time.Second)
		res, err := d.Controller.Apply(c, f, b)
		done()
		if err != nil {
			log.Error("apply", "file", f, "err", err)
			continue
		}
		log.Info("applied", "file", f, "objects", res.Objects, "index", res.Index)
	}
}
