package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// TestPartitionedLeaderFenced: three nodes on raft's in-memory transport.
// The leader is cut off from the other two, which elect a new leader;
// the new leader's controller takes the devices with its higher election
// id and brings them to the model, and a write from the cut-off old
// leader's session is refused by the device itself. Healing the
// partition leaves one leader and the devices in sync.
func TestPartitionedLeaderFenced(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	nodes, trs := inmemCluster(t, 3, 300*time.Millisecond)
	var ctls []*Controller
	for _, n := range nodes {
		c, _ := runController(t, n)
		ctls = append(ctls, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ctls[0].Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
		t.Fatal(err)
	}
	devs := map[string]*simDevice{"leaf1": d1, "leaf2": d2}
	model := func() *policy.Model { m, _ := nodes[0].Model(); return m }
	inSync(t, ctls[0], devs, model)
	session := func(c *Controller, dev string) *p4rt.Session {
		c.mu.Lock()
		w := c.workers[dev]
		c.mu.Unlock()
		if w == nil {
			return nil
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.sess
	}
	// Every node holds its session to leaf1 (followers' are backups).
	eventually(t, 10*time.Second, func() bool {
		for _, c := range ctls {
			if session(c, "leaf1") == nil {
				return false
			}
		}
		return true
	}, func() string { return "not every node has a session to leaf1" })
	before := make([]*p4rt.Session, len(ctls))
	for i, c := range ctls {
		before[i] = session(c, "leaf1")
	}

	// Cut the leader (n1) off.
	old := 0
	trs[old].DisconnectAll()
	for i, tr := range trs {
		if i != old {
			tr.Disconnect(trs[old].LocalAddr())
		}
	}
	leader := waitLeader(t, nodes[1], nodes[2])
	next := 1
	if leader == nodes[2] {
		next = 2
	}
	model = func() *policy.Model { m, _ := leader.Model(); return m }
	eventually(t, 15*time.Second, func() bool {
		for _, d := range ctls[next].Devices() {
			if !d.Primary || !d.InSync {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("new leader's devices: %+v", ctls[next].Devices()) })
	inSync(t, ctls[next], devs, model)
	// The new leader took the device on the stream its follower session
	// had: re-arbitrated, not reconnected.
	if got := session(ctls[next], "leaf1"); got != before[next] {
		t.Error("the new leader's session to leaf1 was torn down and opened again; want a re-arbitration on the live stream")
	}

	// The old leader's session to leaf1 writes: the device refuses it.
	ctls[old].mu.Lock()
	w := ctls[old].workers["leaf1"]
	ctls[old].mu.Unlock()
	w.mu.Lock()
	s := w.sess
	w.mu.Unlock()
	if s == nil {
		t.Fatal("the old leader holds no session to leaf1")
	}
	e, _ := pipeline.Embedded("bmv2")
	seg, err := e.Info.NewEntry("ingress.segments").Exact("segment", pipeline.Uint(999)).
		Action("set_segment", pipeline.P("default_allow", pipeline.Uint(1)), pipeline.P("flood_group", pipeline.Uint(999))).Build()
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: seg}}})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permission") && !strings.Contains(err.Error(), "primary") {
		t.Fatalf("a write from the partitioned old leader: err = %v, want the device's refusal", err)
	}
	if got := d1.read(t); len(got) != len(want(t, ctls[next], "leaf1")) {
		t.Errorf("leaf1 holds %d entries after the old leader's write, want %d", len(got), len(want(t, ctls[next], "leaf1")))
	}

	// Heal: one leader, devices still in sync.
	for i, a := range trs {
		for j, b := range trs {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	leader = waitLeader(t, nodes...)
	for i, n := range nodes {
		if n == leader {
			inSync(t, ctls[i], devs, func() *policy.Model { m, _ := leader.Model(); return m })
		}
	}
}

// inmemCluster starts n nodes on raft's in-memory transport, all
// connected, n1 the leader that added the others.
func inmemCluster(t *testing.T, n int, timeout time.Duration) ([]*cluster.Node, []*raft.InmemTransport) {
	t.Helper()
	var nodes []*cluster.Node
	var trs []*raft.InmemTransport
	for i := range n {
		_, tr := raft.NewInmemTransport(raft.ServerAddress(fmt.Sprintf("inmem-n%d", i+1)))
		trs = append(trs, tr)
	}
	for i, a := range trs {
		for j, b := range trs {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	for i, tr := range trs {
		nd, err := cluster.Start(cluster.Config{ID: fmt.Sprintf("n%d", i+1), DataDir: t.TempDir(), Bootstrap: i == 0, Transport: tr,
			HeartbeatTimeout: timeout, ElectionTimeout: timeout, LeaderLeaseTimeout: timeout / 2})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nd.Close() })
		nodes = append(nodes, nd)
	}
	waitLeader(t, nodes[0])
	for _, nd := range nodes[1:] {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := nodes[0].Join(ctx, nd.ID(), nd.RaftAddr())
		cancel()
		if err != nil {
			t.Fatal(err)
		}
	}
	return nodes, trs
}

// TestRoleLossCancelsWrite: a leader in the middle of writing a large
// change to a slow device loses its quorum (its only peer is cut off). It
// steps down, and its write stops at once: the device receives no more
// Write RPCs from it, though the change is far from written.
func TestRoleLossCancelsWrite(t *testing.T) {
	slow := startSimWith(t, "", p4rtsim.Options{DeviceID: 1, WriteDelay: 200 * time.Millisecond})
	other := startSim(t, "")
	// Slow elections: a large commit under the race detector on a busy
	// machine must not cost the leader its lease before the cut.
	nodes, trs := inmemCluster(t, 2, 2*time.Second)
	c, _ := runController(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, "example.yaml", exampleFor(t, slow.addr, other.addr)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, func() bool {
		for _, d := range c.Devices() {
			if !d.InSync {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("%+v", c.Devices()) })
	// 10,000 endpoints: about 50 batches at 200 ms each, 4 in flight.
	if _, err := c.Apply(ctx, "big.yaml", bigDocs(10000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return slow.srv.Writes() > 3 }, func() string { return "the big write did not start" })
	trs[0].DisconnectAll()
	trs[1].Disconnect(trs[0].LocalAddr())
	eventually(t, 10*time.Second, func() bool { return !nodes[0].IsLeader() }, func() string { return "the cut-off leader did not step down" })
	// RPCs already sent may land; nothing after them.
	time.Sleep(500 * time.Millisecond) // the in-flight RPCs' own delay, then quiet
	stopped := slow.srv.Writes()
	time.Sleep(time.Second)
	if now := slow.srv.Writes(); now != stopped {
		t.Fatalf("the deposed leader kept writing: %d Write RPCs, then %d a second later", stopped, now)
	}
	if stopped > 40 {
		t.Fatalf("%d Write RPCs reached the device: the write was not cut short", stopped)
	}
	for _, d := range c.Devices() {
		if d.Name == "leaf1" && d.InSync {
			t.Error("leaf1 reported in sync though its write was cut short")
		}
	}
}
