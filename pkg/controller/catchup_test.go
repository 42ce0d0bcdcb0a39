package controller

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// TestNewLeaderCatchesUpBeforeWriting: a node restarted on its data dir
// holds the log but applies it only once a leader commits in the new term.
// Made leader at once, it must not reconcile the devices to the model it
// has so far (empty, or part of the log): it waits for its state machine
// to catch up, and deletes nothing that is committed (the chaos test found
// tens of thousands of entries deleted this way).
func TestNewLeaderCatchesUpBeforeWriting(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	addrs := make([]string, 3)
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[i] = l.Addr().String()
		l.Close()
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	start := func(i int) *cluster.Node {
		n, err := cluster.Start(cluster.Config{ID: fmt.Sprintf("n%d", i+1), RaftAddr: addrs[i], DataDir: dirs[i], Bootstrap: i == 0,
			HeartbeatTimeout: time.Second, ElectionTimeout: time.Second, LeaderLeaseTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { n.Close() })
		return n
	}
	nodes := []*cluster.Node{start(0), start(1), start(2)}
	waitLeader(t, nodes[0])
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range nodes[1:] {
		if err := nodes[0].Join(ctx, n.ID(), n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	ctls := make([]*Controller, 3)
	stops := make([]context.CancelFunc, 3)
	for i, n := range nodes {
		ctls[i], stops[i] = runController(t, n)
	}
	if _, err := ctls[0].Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
		t.Fatal(err)
	}
	for i := range 20 { // many log entries to replay
		if _, err := ctls[0].Apply(ctx, "big.yaml", bigDocsFrom(i*100, 100)); err != nil {
			t.Fatal(err)
		}
	}
	devs := map[string]*simDevice{"leaf1": d1, "leaf2": d2}
	inSync(t, ctls[0], devs, func() *policy.Model { m, _ := nodes[0].Model(); return m })

	// n3 restarts and is made leader straight away.
	stops[2]()
	nodes[2].Close()
	nodes[2] = start(2)
	ctls[2], _ = runController(t, nodes[2])
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(ctls[2])
	leader := waitLeader(t, nodes[0], nodes[1])
	eventually(t, 10*time.Second, func() bool { return leader.TransferLeadership("n3") == nil }, func() string { return "no transfer to n3" })
	waitLeader(t, nodes[2])
	model := func() *policy.Model { m, _ := nodes[2].Model(); return m }
	inSync(t, ctls[2], devs, model)
	for _, dev := range []string{"leaf1", "leaf2"} {
		if v, ok := metricValue(t, reg, "p4ctl_device_changes_total", map[string]string{"device": dev, "op": "delete"}); ok && v > 0 {
			t.Errorf("the new leader deleted %v committed entries on %s", v, dev)
		}
	}
}

// bigDocsFrom is n endpoints numbered from first, in a segment of their
// own on leaf1 port 9 (the segment and port come with first == 0).
func bigDocsFrom(first, n int) []byte {
	b := bigDocs(first + n)
	if first == 0 {
		return b
	}
	objs, err := policy.Parse("big.yaml", bytesReader(b))
	if err != nil {
		panic(err)
	}
	return policy.Marshal(objs[2+first:])
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
