package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// TestPartitionedMasterFenced: three nodes on raft's in-memory
// transport, with backup sessions. The master of leaf1 is cut off from
// the other two; the leader gives leaf1 to a survivor, whose backup
// session takes the device on its live stream with a higher election id
// and brings it to the model, and a write from the cut-off master's
// session is refused by the device itself. Healing the partition leaves
// the devices in sync under their masters.
func TestPartitionedMasterFenced(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	nodes, trs := inmemCluster(t, 3, 300*time.Millisecond)
	var ctls []*Controller
	for _, n := range nodes {
		c, _ := runControllerCfg(t, Config{Node: n, Targets: pipeline.Embedded, BackupSessions: true, MemberDownAfter: time.Second})
		ctls = append(ctls, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ctls[0].Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
		t.Fatal(err)
	}
	devs := map[string]*simDevice{"leaf1": d1, "leaf2": d2}
	byID := func(id string) int {
		for i, n := range nodes {
			if n.ID() == id {
				return i
			}
		}
		return -1
	}
	master := func(dev string) int { return byID(nodes[0].Assignments()[dev].Member) }
	eventually(t, 10*time.Second, func() bool { return master("leaf1") >= 0 && master("leaf2") >= 0 },
		func() string { return fmt.Sprintf("devices not assigned: %+v", nodes[0].Assignments()) })
	for name, d := range devs {
		inSync(t, ctls[master(name)], map[string]*simDevice{name: d}, func() *policy.Model { m, _ := nodes[master(name)].Model(); return m })
	}
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
	// Every node holds its session to leaf1 (all but the master's are
	// backups).
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

	// Cut leaf1's master off. The device is in sync: its new master
	// must write no entry to it.
	old := master("leaf1")
	oldEpoch := nodes[0].Assignments()["leaf1"].Epoch
	trs[old].DisconnectAll()
	for i, tr := range trs {
		if i != old {
			tr.Disconnect(trs[old].LocalAddr())
		}
	}
	var rest []*cluster.Node
	for i, n := range nodes {
		if i != old {
			rest = append(rest, n)
		}
	}
	leader := waitLeader(t, rest...)
	next := -1
	eventually(t, 15*time.Second, func() bool {
		next = byID(leader.Assignments()["leaf1"].Member)
		return next >= 0 && next != old
	}, func() string { return fmt.Sprintf("leaf1 not moved off the cut-off master: %+v", leader.Assignments()) })
	model := func() *policy.Model { m, _ := nodes[next].Model(); return m }
	eventually(t, 15*time.Second, func() bool {
		for _, d := range ctls[next].Devices() {
			if d.Name == "leaf1" && (!d.Primary || !d.InSync) {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("new master's devices: %+v", ctls[next].Devices()) })
	inSync(t, ctls[next], map[string]*simDevice{"leaf1": d1}, model)
	if got := leader.Assignments()["leaf1"].Epoch; got <= oldEpoch {
		t.Errorf("leaf1's epoch went from %d to %d; want it raised", oldEpoch, got)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ctls[next])
	for _, op := range []string{"insert", "modify", "delete"} {
		if n, _ := metricValue(t, reg, "p4ctl_device_changes_total", map[string]string{"device": "leaf1", "op": op}); n != 0 {
			t.Errorf("leaf1 was in sync, yet its new master wrote %v entries (%s) taking it over", n, op)
		}
	}
	// The new master took the device on the stream its backup session
	// had: re-arbitrated, not reconnected.
	if got := session(ctls[next], "leaf1"); got != before[next] {
		t.Error("the new master's session to leaf1 was torn down and opened again; want a re-arbitration on the live stream")
	}

	// The old master's session to leaf1 writes: the device refuses it.
	s := session(ctls[old], "leaf1")
	if s == nil {
		t.Fatal("the old master holds no session to leaf1")
	}
	e, _ := pipeline.Embedded("bmv2")
	seg, err := e.Info.NewEntry("ingress.segments").Exact("segment", pipeline.Uint(999)).
		Action("set_segment", pipeline.P("default_allow", pipeline.Uint(1)), pipeline.P("flood_group", pipeline.Uint(999))).Build()
	if err != nil {
		t.Fatal(err)
	}
	err = s.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: seg}}})
	if err == nil || !strings.Contains(strings.ToLower(err.Error()), "permission") && !strings.Contains(err.Error(), "primary") {
		t.Fatalf("a write from the partitioned old master: err = %v, want the device's refusal", err)
	}
	if got := d1.read(t); len(got) != len(want(t, ctls[next], "leaf1")) {
		t.Errorf("leaf1 holds %d entries after the old master's write, want %d", len(got), len(want(t, ctls[next], "leaf1")))
	}

	// Heal: every device in sync under its master.
	for i, a := range trs {
		for j, b := range trs {
			if i != j {
				a.Connect(b.LocalAddr(), b)
			}
		}
	}
	leader = waitLeader(t, nodes...)
	for name, d := range devs {
		eventually(t, 20*time.Second, func() bool {
			m := byID(leader.Assignments()[name].Member)
			if m < 0 {
				return false
			}
			for _, st := range ctls[m].Devices() {
				if st.Name == name && st.InSync && st.Primary {
					return true
				}
			}
			return false
		}, func() string { return fmt.Sprintf("%s not in sync after healing: %+v", name, leader.Assignments()) })
		mi := byID(leader.Assignments()[name].Member)
		inSync(t, ctls[mi], map[string]*simDevice{name: d}, func() *policy.Model { m, _ := nodes[mi].Model(); return m })
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

// TestRoleLossCancelsWrite: a master in the middle of writing a large
// change to a slow device loses touch with the cluster (cut off from its
// only peer). It stops mastering its devices, and its write stops at
// once: the device receives no more Write RPCs from it, though the
// change is far from written.
func TestRoleLossCancelsWrite(t *testing.T) {
	slow := startSimWith(t, "", p4rtsim.Options{DeviceID: 1, WriteDelay: 200 * time.Millisecond})
	other := startSim(t, "")
	// Slow elections: a large commit under the race detector on a busy
	// machine must not cost the leader its lease before the cut.
	nodes, trs := inmemCluster(t, 2, 2*time.Second)
	var ctls []*Controller
	for _, n := range nodes {
		c, _ := runControllerCfg(t, Config{Node: n, Targets: pipeline.Embedded, MemberDownAfter: 5 * time.Second})
		ctls = append(ctls, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := ctls[0].Apply(ctx, "example.yaml", exampleFor(t, slow.addr, other.addr)); err != nil {
		t.Fatal(err)
	}
	var c *Controller
	mi := 0
	eventually(t, 20*time.Second, func() bool {
		a := nodes[0].Assignments()["leaf1"]
		for i, n := range nodes {
			if n.ID() == a.Member {
				c, mi = ctls[i], i
			}
		}
		if c == nil {
			return false
		}
		for _, d := range c.Devices() {
			if d.Name == "leaf1" && d.InSync {
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("leaf1 not in sync under its master: %+v", nodes[0].Assignments()) })
	// 10,000 endpoints: about 50 batches at 200 ms each, 4 in flight.
	if _, err := ctls[0].Apply(ctx, "big.yaml", bigDocs(10000)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool { return slow.srv.Writes() > 3 }, func() string { return "the big write did not start" })
	trs[mi].DisconnectAll()
	trs[1-mi].Disconnect(trs[mi].LocalAddr())
	eventually(t, 10*time.Second, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return !c.contact
	}, func() string { return "the cut-off master did not notice" })
	// RPCs already sent may land; nothing after them.
	time.Sleep(500 * time.Millisecond) // the in-flight RPCs' own delay, then quiet
	stopped := slow.srv.Writes()
	time.Sleep(time.Second)
	if now := slow.srv.Writes(); now != stopped {
		t.Fatalf("the cut-off master kept writing: %d Write RPCs, then %d a second later", stopped, now)
	}
	if stopped > 60 {
		t.Fatalf("%d Write RPCs reached the device: the write was not cut short", stopped)
	}
	for _, d := range c.Devices() {
		if d.Name == "leaf1" && d.InSync {
			t.Error("leaf1 reported in sync though its write was cut short")
		}
	}
}
