package controller

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// runControllerHooked runs a controller of cfg, as runControllerCfg, with
// onBuild set before it starts.
func runControllerHooked(t *testing.T, cfg Config, onBuild func(device string)) *Controller {
	t.Helper()
	return runControllerSetUp(t, cfg, func(c *Controller) { c.onBuild = onBuild })
}

// runControllerSetUp runs a controller of cfg, as runControllerCfg, after
// setUp has set its test hooks.
func runControllerSetUp(t *testing.T, cfg Config, setUp func(*Controller)) *Controller {
	t.Helper()
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 200 * time.Millisecond
	}
	c := New(cfg)
	setUp(c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return c
}

// await waits for ch to close, failing the test after d.
func await(t *testing.T, ch <-chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("not within %s: %s", d, what)
	}
}

// devicesAnswer calls c.Devices() and fails the test if it does not
// return within d (it would not if a build held the controller's lock).
func devicesAnswer(t *testing.T, c *Controller, d time.Duration) []DeviceStatus {
	t.Helper()
	got := make(chan []DeviceStatus, 1)
	go func() { got <- c.Devices() }()
	select {
	case st := <-got:
		return st
	case <-time.After(d):
		t.Fatalf("Devices() did not answer within %s while a device's desired state was being built", d)
		return nil
	}
}

// statusOf is device name's status.
func statusOf(c *Controller, name string) DeviceStatus {
	for _, st := range c.Devices() {
		if st.Name == name {
			return st
		}
	}
	return DeviceStatus{}
}

// TestBuildDoesNotBlockOthers: while leaf1's desired state is being built
// (held there by the test, its snapshot taken), the API answers, leaf2 is
// reconciled, and a change to leaf1 is committed and compiled. Once the
// build goes on, leaf1 is reconciled to its snapshot and then gets the
// change as a delta: a delta compiled after the snapshot is applied after
// it, not lost.
func TestBuildDoesNotBlockOthers(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	entered, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	c := runControllerHooked(t, Config{Node: n, Targets: pipeline.Embedded, ReconcileWorkers: 2}, func(dev string) {
		if dev != "leaf1" {
			return
		}
		held := false
		first.Do(func() { held = true })
		if held {
			close(entered)
			<-release
		}
	})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free) // before the controller stops (cleanups run last first)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	first1, err := c.Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr))
	if err != nil {
		t.Fatal(err)
	}
	await(t, entered, 30*time.Second, "leaf1's build did not start")
	model := func() *policy.Model { m, _ := n.Model(); return m }

	// leaf1's build is held: the rest goes on.
	devicesAnswer(t, c, 10*time.Second)
	inSync(t, c, map[string]*simDevice{"leaf2": d2}, model)
	change, err := c.Apply(ctx, "more.yaml", []byte("kind: Endpoint\nname: web-9\nsegment: prod\nmac: 02:00:00:00:00:09\nips: [10.0.0.9]\ndevice: leaf1\nport: 2\nlabels: {app: shop, tier: web}\n"))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return c.ModelIndex() >= change.Index },
		func() string {
			return fmt.Sprintf("the change (index %d) was not compiled: at %d", change.Index, c.ModelIndex())
		})
	if st := devicesAnswer(t, c, 10*time.Second); len(st) != 2 {
		t.Fatalf("status %+v", st)
	}
	if st := statusOf(c, "leaf1"); st.InSync {
		t.Fatalf("leaf1 in sync before its build went on: %+v", st)
	}
	if got := len(d1.read(t)); got != 0 {
		t.Fatalf("leaf1 holds %d entries before its build went on", got)
	}

	free()
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	eventually(t, 10*time.Second, func() bool {
		st := statusOf(c, "leaf1")
		return st.InSync && st.ModelIndex >= change.Index
	}, func() string { return fmt.Sprintf("leaf1 %+v", statusOf(c, "leaf1")) })
	if change.Index <= first1.Index {
		t.Fatalf("the change at index %d, the example at %d", change.Index, first1.Index)
	}
}

// raise makes v at least n.
// threeLeaves is the example model on devs' leaf1 and leaf2 with a third
// device, leaf3, that has one port in segment prod.
func threeLeaves(t *testing.T, devs map[string]*simDevice) []byte {
	t.Helper()
	return append(exampleFor(t, devs["leaf1"].addr, devs["leaf2"].addr),
		fmt.Sprintf("---\nkind: Device\nname: leaf3\naddress: %s\n---\nkind: Port\ndevice: leaf3\nport: 1\nsegment: prod\nrole: promiscuous\n", devs["leaf3"].addr)...)
}

func raise(v *atomic.Int32, n int32) {
	for m := v.Load(); n > m; m = v.Load() {
		if v.CompareAndSwap(m, n) {
			return
		}
	}
}

// TestBuildsBounded: with ReconcileWorkers 1, while one device's build is
// held no other device's build starts; once it goes on, every device is
// reconciled.
func TestBuildsBounded(t *testing.T) {
	devs := map[string]*simDevice{"leaf1": startSim(t, ""), "leaf2": startSim(t, ""), "leaf3": startSim(t, "")}
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	entered, release := make(chan struct{}), make(chan struct{})
	var inside, most atomic.Int32
	var first sync.Once
	c := runControllerHooked(t, Config{Node: n, Targets: pipeline.Embedded, ReconcileWorkers: 1}, func(string) {
		now := inside.Add(1)
		defer inside.Add(-1)
		raise(&most, now)
		held := false
		first.Do(func() { held = true })
		if held {
			close(entered)
			<-release
		}
	})
	var releaseOnce sync.Once
	free := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(free)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Apply(ctx, "example.yaml", threeLeaves(t, devs)); err != nil {
		t.Fatal(err)
	}
	await(t, entered, 30*time.Second, "no build started")
	// Every device's session becomes primary, and its worker goes on to
	// reconcile it: they queue for the one build.
	eventually(t, 30*time.Second, func() bool {
		st := devicesAnswer(t, c, 10*time.Second)
		primary := 0
		for _, s := range st {
			if s.Primary {
				primary++
			}
		}
		return primary == 3
	}, func() string { return fmt.Sprintf("status %+v", c.Devices()) })
	time.Sleep(200 * time.Millisecond) // room for a build that should wait not to
	if got := most.Load(); got != 1 {
		t.Fatalf("%d builds at once with ReconcileWorkers 1", got)
	}
	free()
	model := func() *policy.Model { m, _ := n.Model(); return m }
	inSync(t, c, devs, model)
	if got := most.Load(); got != 1 {
		t.Fatalf("%d builds at once with ReconcileWorkers 1", got)
	}
}

// TestAcquireBuild: ReconcileWorkers turns at once; one more waits until
// a turn is given back, or gives up with its context.
func TestAcquireBuild(t *testing.T) {
	c := New(Config{Node: node(t, "n1", t.TempDir(), true), Targets: pipeline.Embedded, ReconcileWorkers: 2})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r1, err := c.acquireBuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.acquireBuild(ctx); err != nil {
		t.Fatal(err)
	}
	gone, stop := context.WithCancel(ctx)
	stop()
	if _, err := c.acquireBuild(gone); err == nil {
		t.Fatal("a third turn with ReconcileWorkers 2")
	}
	r1()
	if _, err := c.acquireBuild(ctx); err != nil {
		t.Fatalf("a turn given back is not free: %v", err)
	}
}
