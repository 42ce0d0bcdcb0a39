package controller

import (
	"context"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// collect gathers the events of ch until stop is closed.
func collect(ch <-chan Event, stop <-chan struct{}) <-chan []Event {
	out := make(chan []Event, 1)
	go func() {
		var evs []Event
		for {
			select {
			case e := <-ch:
				evs = append(evs, e)
			case <-stop:
				out <- evs
				return
			}
		}
	}()
	return out
}

// TestStatusEvents: a watcher hears of a device's status change (the
// device goes away) at once, as Event.Device naming it, and of a change
// of the topology's links as Event.Topology; a reconcile writing
// thousands of entries in small batches is a handful of events, not one
// per batch.
func TestStatusEvents(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	// Batches of 20 entries, one at a time: a long run of progress
	// updates.
	c, _ := runControllerCfg(t, Config{Node: n, Targets: pipeline.Embedded, Bulk: p4rt.BulkOptions{BatchSize: 20, InFlight: 1}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
		t.Fatal(err)
	}
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, func() *policy.Model { m, _ := n.Model(); return m })

	// A big change to leaf1: count its events while it is written.
	events, unsub := c.Subscribe()
	stop := make(chan struct{})
	got := collect(events, stop)
	start := time.Now()
	res, err := c.Apply(ctx, "bulk.yaml", bigDocs(2000))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, func() bool {
		for _, d := range c.Devices() {
			if d.Name == "leaf1" && (!d.InSync || d.ModelIndex < res.Index) {
				return false
			}
		}
		return true
	}, func() string { return "leaf1 not in sync with the bulk change" })
	// The last change is published within an interval.
	time.Sleep(2 * StatusEventInterval)
	took := time.Since(start)
	close(stop)
	evs := <-got
	unsub()
	entries := 0
	for _, d := range c.Devices() {
		if d.Name == "leaf1" {
			for _, n := range d.Entries {
				entries += n
			}
		}
	}
	var leaf1, models int
	for _, e := range evs {
		switch {
		case e.Device == "leaf1":
			leaf1++
		case e.Device == "" && e.Leader == nil && !e.Topology:
			models++
		}
	}
	batches := entries / 20
	t.Logf("bulk change: %d entries on leaf1 (about %d batches) in %s: %d leaf1 events, %d model events", entries, batches, took.Round(time.Millisecond), leaf1, models)
	if leaf1 == 0 {
		t.Errorf("no event for leaf1 while it was written")
	}
	if maxEvents := int(took/StatusEventInterval) + 2; leaf1 > maxEvents {
		t.Errorf("%d events for leaf1 in %s: more than one per %s", leaf1, took, StatusEventInterval)
	}
	if batches < 100 || leaf1*10 > batches {
		t.Errorf("%d events for %d batches: not coalesced (or too small a change to tell)", leaf1, batches)
	}

	// leaf2 goes away: its watcher hears of it at once.
	events, unsub = c.Subscribe()
	defer unsub()
	start = time.Now()
	d2.stop()
	deadline := time.After(5 * time.Second)
	for heard := false; !heard; {
		select {
		case e := <-events:
			heard = e.Device == "leaf2"
		case <-deadline:
			t.Fatalf("no event for leaf2 within 5s of it going away; status %+v", c.Devices())
		}
	}
	t.Logf("leaf2 gone: heard after %s", time.Since(start).Round(time.Millisecond))
	for _, d := range c.Devices() {
		if d.Name == "leaf2" && d.Connected {
			t.Errorf("leaf2 after its event: %+v", d)
		}
	}

	// A link learned: a topology event.
	now := time.Now()
	c.Topology().SeeLink(topo.Link{From: topo.End{Device: "leaf1", Port: 9}, To: topo.End{Device: "leaf2", Port: 5}, LastSeen: now, ExpiresAt: now.Add(time.Minute)}, "test")
	deadline = time.After(5 * time.Second)
	for heard := false; !heard; {
		select {
		case e := <-events:
			heard = e.Topology
		case <-deadline:
			t.Fatal("no topology event within 5s of a link learned")
		}
	}
}
