package controller

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// TestDutiesOnLeadership: a node that leads publishes its API address
// and applies its boot files once, in order, skipping one it cannot
// read.
func TestDutiesOnLeadership(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	dir := t.TempDir()
	good := filepath.Join(dir, "example.yaml")
	if err := os.WriteFile(good, exampleFor(t, d1.addr, d2.addr), 0o644); err != nil {
		t.Fatal(err)
	}
	more := filepath.Join(dir, "more.yaml")
	if err := os.WriteFile(more, []byte("kind: Endpoint\nname: app-3\nsegment: prod\nmac: 02:00:00:00:02:03\nips: [10.0.2.3]\ndevice: leaf2\nport: 1\nlabels: {app: shop, tier: db}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c, _ := runController(t, n)
	var applied atomic.Int32
	d := &Duties{Node: n, Controller: c, NodeID: "n1", APIAddr: "127.0.0.1:9999",
		Apply: []string{good, filepath.Join(dir, "missing.yaml"), more}, Applied: func() { applied.Add(1) }, Every: 50 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	eventually(t, 20*time.Second, func() bool { return applied.Load() == 1 && n.APIAddr("n1") == "127.0.0.1:9999" },
		func() string { return "API address not published or files not applied" })
	m, _ := n.Model()
	if m.Devices["leaf2"] == nil || m.Endpoints["app-3"] == nil {
		t.Errorf("boot files not applied: devices %d, endpoints %d", len(m.Devices), len(m.Endpoints))
	}
	// Leadership events after the first do not apply again.
	idx := m
	time.Sleep(200 * time.Millisecond)
	if applied.Load() != 1 {
		t.Errorf("applied %d times", applied.Load())
	}
	if now, _ := n.Model(); now != idx {
		t.Error("the model changed after the boot files were applied")
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestBootFilesNotReappliedOnRestart: a node started with --apply seeds
// the new cluster; after a change made through the API (an object
// deleted) and a restart with the same boot file, the deleted object
// stays deleted and nothing is committed for the file.
func TestBootFilesNotReappliedOnRestart(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	boot := filepath.Join(t.TempDir(), "example.yaml")
	if err := os.WriteFile(boot, exampleFor(t, d1.addr, d2.addr), 0o644); err != nil {
		t.Fatal(err)
	}
	dataDir := t.TempDir()
	run := func() (*cluster.Node, *Controller, func()) {
		n := node(t, "n1", dataDir, true)
		waitLeader(t, n)
		c, stopCtl := runController(t, n)
		var applied atomic.Int32
		d := &Duties{Node: n, Controller: c, NodeID: "n1", APIAddr: "127.0.0.1:9999", Apply: []string{boot},
			Applied: func() { applied.Add(1) }, Every: 50 * time.Millisecond}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		eventually(t, 20*time.Second, func() bool { return applied.Load() == 1 }, func() string { return "boot duties not done" })
		return n, c, func() { cancel(); <-done; stopCtl(); n.Close() }
	}
	n, c, stop := run()
	if m, _ := n.Model(); m.Endpoints["web-2"] == nil {
		t.Fatal("the boot file was not applied to the new cluster")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Delete(ctx, []policy.Deletion{{Kind: policy.KindEndpoint, Name: "web-2"}}); err != nil {
		t.Fatal(err)
	}
	revBefore := n.Revision()
	stop()

	n, _, stop = run()
	defer stop()
	if m, _ := n.Model(); m.Endpoints["web-2"] != nil {
		t.Fatal("the restart applied the boot file again: the deleted endpoint is back")
	}
	if rev := n.Revision(); rev != revBefore {
		t.Errorf("revision %d after the restart, want %d: something was committed", rev, revBefore)
	}
}
