package controller

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// TestReconcileBudgetShares: a reconcile takes its entries' share of the
// budget, at most all of it; another waits until enough is given back, or
// gives up with its context; without a bound nothing waits.
func TestReconcileBudgetShares(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gone, stop := context.WithCancel(ctx)
	stop()

	b := newReconcileBudget(1000 * desiredBytesPerEntry)
	for _, tc := range []struct{ entries, want int }{{0, 1}, {10, 10}, {1000, 1000}, {5000, 1000}} {
		if got := b.share(tc.entries); got != int64(tc.want)*desiredBytesPerEntry {
			t.Errorf("share(%d) = %d, want %d", tc.entries, got, tc.want*desiredBytesPerEntry)
		}
	}
	r1, err := b.acquire(ctx, 600, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.acquire(gone, 500, nil, nil); err == nil {
		t.Fatal("600 + 500 entries' shares taken from a budget of 1000")
	}
	r2, err := b.acquire(ctx, 400, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.held.Load(); got != 1000*desiredBytesPerEntry {
		t.Errorf("held %d, want %d", got, 1000*desiredBytesPerEntry)
	}
	// A device larger than the budget waits for all of it, then runs.
	big := make(chan error, 1)
	go func() {
		r, err := b.acquire(ctx, 1_000_000, nil, nil)
		if err == nil {
			r()
		}
		big <- err
	}()
	r1()
	r1() // a second release gives nothing back twice
	select {
	case err := <-big:
		t.Fatalf("the large device ran with 400 entries' share still held (err %v)", err)
	case <-time.After(50 * time.Millisecond):
	}
	r2()
	if err := <-big; err != nil {
		t.Fatal(err)
	}
	if got := b.held.Load(); got != 0 {
		t.Errorf("held %d after every share was given back", got)
	}

	free := newReconcileBudget(0)
	for range 100 {
		if _, err := free.acquire(gone, 1_000_000, nil, nil); err != nil {
			t.Fatalf("an unbounded budget refused: %v", err)
		}
	}
}

// TestReconcileBudgetLease: a share not given back within the lease is
// given back then, once, and the reconcile's own release later gives
// nothing back twice.
func TestReconcileBudgetLease(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := newReconcileBudget(100 * desiredBytesPerEntry)
	b.lease = 50 * time.Millisecond
	lapsed := make(chan struct{})
	wedged, err := b.acquire(ctx, 100, nil, func() { close(lapsed) })
	if err != nil {
		t.Fatal(err)
	}
	next, err := b.acquire(ctx, 100, nil, nil) // waits for the lease's end
	if err != nil {
		t.Fatal(err)
	}
	await(t, lapsed, time.Second, "the lapse reported")
	if got := b.lapsed.Load(); got != 1 {
		t.Errorf("%d lapsed shares, want 1", got)
	}
	wedged() // its write ended at last: nothing more to give back
	next()
	if got := b.held.Load(); got != 0 {
		t.Errorf("held %d, want 0", got)
	}
	// All of it is free: a whole-budget share is taken at once.
	gone, stop := context.WithTimeout(ctx, 20*time.Millisecond)
	defer stop()
	r, err := b.acquire(gone, 100, nil, nil)
	if err != nil {
		t.Fatalf("the budget is not whole again: %v", err)
	}
	r()
}

// TestReconcileMemoryBounds: devices that write slowly reconcile one at
// a time when the budget holds one device's share, from the build until
// the write ends, and all at once without a bound; either way every
// device comes into sync.
func TestReconcileMemoryBounds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		memory int64
		most   func(int32) bool
	}{
		{"one device's share", 1, func(n int32) bool { return n == 1 }},
		{"no bound", -1, func(n int32) bool { return n >= 2 }}, // the three overlap unless one finished before another connected
	} {
		t.Run(tc.name, func(t *testing.T) {
			slow := p4rtsim.Options{DeviceID: 1, WriteDelay: 300 * time.Millisecond}
			devs := map[string]*simDevice{"leaf1": startSimWith(t, "", slow), "leaf2": startSimWith(t, "", slow), "leaf3": startSimWith(t, "", slow)}
			n := node(t, "n1", t.TempDir(), true)
			waitLeader(t, n)
			var inside, most atomic.Int32
			var mu sync.Mutex
			holding := map[string]bool{}
			cfg := Config{Node: n, Targets: pipeline.Embedded, ReconcileWorkers: 3, ReconcileMemory: tc.memory}
			c := runControllerSetUp(t, cfg, func(c *Controller) {
				c.onBudget = func(dev string, d int) {
					mu.Lock()
					holding[dev] = d > 0
					mu.Unlock()
					raise(&most, inside.Add(int32(d)))
				}
			})
			// Watch the devices' status for a reconcile reported queued.
			var sawQueued atomic.Bool
			stopWatch := make(chan struct{})
			watched := make(chan struct{})
			go func() {
				defer close(watched)
				for {
					for _, st := range c.Devices() {
						if st.Queued {
							sawQueued.Store(true)
						}
					}
					select {
					case <-stopWatch:
						return
					case <-time.After(20 * time.Millisecond):
					}
				}
			}()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := c.Apply(ctx, "example.yaml", threeLeaves(t, devs)); err != nil {
				t.Fatal(err)
			}
			model := func() *policy.Model { m, _ := n.Model(); return m }
			inSync(t, c, devs, model)
			if got := most.Load(); !tc.most(got) {
				mu.Lock()
				defer mu.Unlock()
				t.Fatalf("%d reconciles held the budget at once (ReconcileMemory %d; last seen %v)", got, tc.memory, maps.Clone(holding))
			}
			close(stopWatch)
			<-watched
			if got := sawQueued.Load(); got != (tc.memory > 0) {
				t.Errorf("a device reported queued: %v, want %v", got, tc.memory > 0)
			}
			for _, st := range c.Devices() {
				if st.Queued {
					t.Errorf("%s still queued once every device is in sync", st.Name)
				}
			}
			// A reconcile reports the device in sync, then gives its
			// share back.
			eventually(t, 10*time.Second, func() bool { return c.budget.held.Load() == 0 },
				func() string { return fmt.Sprintf("%d bytes of the budget still held", c.budget.held.Load()) })
		})
	}
}
