package controller

import (
	"testing"

	"github.com/p4ctl/p4ctl/pkg/gnmi/subscriber"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestGNMIWatchStopped: a neighbor reported by a device's gNMI stream
// after its watch was dropped (the device removed, its gNMI address
// changed) does not put a host back on the device.
func TestGNMIWatchStopped(t *testing.T) {
	n := node(t, "n1", t.TempDir(), true)
	c := New(Config{Node: n, Targets: pipeline.Embedded})
	w := &gnmiWatch{addr: "127.0.0.1:1", cancel: func() {}, done: make(chan struct{}), neighbors: map[string]map[string]subscriber.NeighborInfo{}}
	hosts := func() int {
		_, _, hs := c.topo.Snapshot()
		return len(hs)
	}
	c.onGNMI(w, subscriber.Event{Device: "leaf1", Kind: subscriber.PortID, Interface: "eth1", ID: 1})
	c.onGNMI(w, subscriber.Event{Device: "leaf1", Kind: subscriber.Neighbor, Interface: "eth1",
		Neighbor: subscriber.NeighborInfo{ID: "1", SystemName: "web-1", ChassisID: "02:00:00:00:00:01"}})
	if hosts() != 1 {
		t.Fatalf("%d hosts after a neighbor was reported, want 1", hosts())
	}
	w.stop(c, "leaf1")
	if hosts() != 0 {
		t.Fatalf("%d hosts after the watch stopped, want 0", hosts())
	}
	// A callback that was already under way when the watch stopped.
	c.onGNMI(w, subscriber.Event{Device: "leaf1", Kind: subscriber.Neighbor, Interface: "eth1",
		Neighbor: subscriber.NeighborInfo{ID: "2", SystemName: "web-2", ChassisID: "02:00:00:00:00:02"}})
	c.onGNMI(w, subscriber.Event{Device: "leaf1", Kind: subscriber.PortID, Interface: "eth1", ID: 1})
	if hosts() != 0 {
		t.Fatalf("a late gNMI callback put %d hosts back on a stopped watch's device", hosts())
	}
}
