package bmv2tests

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	gnmiagent "github.com/p4ctl/p4ctl/pkg/gnmi/agent"
	"github.com/p4ctl/p4ctl/pkg/lldp"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// TestTwoSwitchTopology: two BMv2 switches joined by a veth pair (leaf1
// port 9 to leaf2 port 5), each with a host port. The controller, with
// nothing but the model, finds the cable from its own LLDP sent out of
// every port and punted back by the other switch, places an endpoint that
// names its host where the host's LLDP arrives, and moves it when the
// host shows up on the other switch.
func TestTwoSwitchTopology(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sw1, sw2, ctl, start := twoLeaves(ctx, t, "topo", []uint32{1}, []uint32{2}, "fabric.yaml")
	waitFor(t, ctx, func() bool {
		_, links, _ := ctl.Topology().Snapshot()
		return len(links) == 2
	}, func() string {
		_, l, _ := ctl.Topology().Snapshot()
		return fmt.Sprintf("links %+v; devices %+v", l, ctl.Devices())
	})
	t.Logf("both directions of the cable learned %s after apply", time.Since(start).Round(time.Millisecond))
	_, links, _ := ctl.Topology().Snapshot()
	want := []topo.End{{Device: "leaf1", Port: 9}, {Device: "leaf2", Port: 5}, {Device: "leaf2", Port: 5}, {Device: "leaf1", Port: 9}}
	if got := []topo.End{links[0].From, links[0].To, links[1].From, links[1].To}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("links %v, want %v", got, want)
	}

	mac := net.HardwareAddr{2, 0, 0, 0, 0xee, 1}
	hello, err := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac), PortIDSubtype: lldp.PortIfName, PortID: "eth0",
		TTL: 120 * time.Second, SystemName: "web-01"}.Marshal(mac)
	if err != nil {
		t.Fatal(err)
	}
	placed := func(dev string, port uint32) func() bool {
		return func() bool {
			for _, p := range ctl.Placements() {
				if p.Endpoint == "web" && p.Device == dev && p.Port == port {
					return allInSync(ctl, 2)
				}
			}
			return false
		}
	}
	holdsWeb := func(sw *Switch) int {
		// A backup session of its own: reads need no mastership.
		s, err := p4rt.Connect(GRPCAddr, p4rt.Options{DeviceID: sw.DeviceID, ElectionID: p4rt.ElectionID{Low: 99},
			DialOptions: []grpc.DialOption{grpc.WithContextDialer(netnsDialer(sw.NS))}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		n := 0
		err = s.ReadKeys(ctx, []uint32{0}, func(k, _ []byte) error {
			if bytes.Contains(k, mac) {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	// The host speaks LLDP on leaf1 port 1.
	if err := sw1.Ports[1].Send(hello); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, placed("leaf1", 1), func() string { return fmt.Sprintf("placements %+v", ctl.Placements()) })
	// Its port's entries on leaf1; on leaf2 only the L2 entry that sends
	// its frames over the cable.
	if n1, n2 := holdsWeb(sw1), holdsWeb(sw2); n1 < 2 || n2 != 1 {
		t.Errorf("web's MAC in %d leaf1 entries and %d leaf2 entries, want 2 or more and 1", n1, n2)
	}

	// It moves to leaf2 port 2.
	moved := time.Now()
	if err := sw2.Ports[2].Send(hello); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, placed("leaf2", 2), func() string { return fmt.Sprintf("placements %+v", ctl.Placements()) })
	t.Logf("endpoint moved and both switches in sync %s after the host's LLDP on leaf2", time.Since(moved).Round(time.Millisecond))
	if n1, n2 := holdsWeb(sw1), holdsWeb(sw2); n1 != 1 || n2 < 2 {
		t.Errorf("after the move: web's MAC in %d leaf1 entries and %d leaf2 entries, want 1 and 2 or more", n1, n2)
	}
}

// twoLeaves starts two BMv2 switches joined by a veth pair (leaf1 port 9
// to leaf2 port 5), leaf1 with host ports ports1 and leaf2 with ports2,
// and a one-node controller on them that probes every 200 ms; it applies
// fixture (LEAF1_ADDR and LEAF2_ADDR: each leaf's address, the same in
// its own namespace) and returns when the apply is committed, with the
// time the apply was sent.
func twoLeaves(ctx context.Context, t *testing.T, name string, ports1, ports2 []uint32, fixture string) (*Switch, *Switch, *controller.Controller, time.Time) {
	t.Helper()
	a, b := fmt.Sprintf("p4%s%da", name[:1], os.Getpid()%100000), fmt.Sprintf("p4%s%db", name[:1], os.Getpid()%100000)
	if err := ip("link", "add", a, "type", "veth", "peer", "name", b); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ip("link", "del", a) }) // gone already once a namespace took it
	sw1, err := Start(ctx, Config{Ports: ports1, Attach: map[uint32]string{9: a}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw1.Stop)
	sw2, err := Start(ctx, Config{Ports: ports2, Attach: map[uint32]string{5: b}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw2.Stop)
	ns := map[string]string{"leaf1": sw1.NS, "leaf2": sw2.NS}

	node := leaderNode(ctx, t, "bmv2-"+name)
	ctl := controller.New(controller.Config{Node: node, Targets: pipeline.Embedded, ProbeInterval: 200 * time.Millisecond,
		RetryInterval: 200 * time.Millisecond,
		DialOptions: func(d *policy.Device) []grpc.DialOption {
			return []grpc.DialOption{grpc.WithContextDialer(netnsDialer(ns[d.Name]))}
		}})
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(cctx) }()
	t.Cleanup(func() { ccancel(); <-done })

	b0, err := os.ReadFile("../testdata/" + fixture)
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.NewReplacer("LEAF1_ADDR", GRPCAddr, "LEAF2_ADDR", GRPCAddr).Replace(string(b0))
	start := time.Now()
	if _, err := ctl.Apply(ctx, fixture, []byte(docs)); err != nil {
		t.Fatal(err)
	}
	return sw1, sw2, ctl, start
}

// allInSync reports whether the controller holds sessions to n devices
// and every one is in sync: a device the leader has not yet given a
// master has no session, and an empty list is not "all in sync".
func allInSync(ctl *controller.Controller, n int) bool {
	ds := ctl.Devices()
	if len(ds) != n {
		return false
	}
	for _, d := range ds {
		if !d.InSync {
			return false
		}
	}
	return true
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, cond func() bool, msg func() string) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("gave up: %s", msg())
		case <-tick.C:
		}
	}
}

// TestAgentOnBMv2Ports: p4ctl's agent serves a BMv2 switch's ports by a
// port map, with its LLDP speaker on the switch side of each veth. The
// controller subscribes to it (the Device's gnmi address), learns the
// ports' P4 ids and state from it, and the host the speaker hears on port
// 1 places the endpoint that names it; the topology records the host from
// gNMI as well as from the pipeline's punt.
func TestAgentOnBMv2Ports(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sw, err := Start(ctx, Config{Ports: []uint32{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sw.Stop)

	var sp *lldp.Speaker
	if err := inNetns(sw.NS, func() error {
		var err error
		sp, err = lldp.NewSpeaker(lldp.Config{Interfaces: regexp.MustCompile(`^sw[12]$`), TxInterval: 30 * time.Second, SystemName: "leaf1"})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { acancel(); wg.Wait() })
	l := sp.Local()
	agent, err := gnmiagent.New(gnmiagent.Config{Target: "leaf1", Source: gnmiagent.NetlinkSource{Namespace: sw.NS}, Ports: map[string]uint32{"sw1": 1, "sw2": 2},
		Neighbors: sp.Table(), Local: &gnmiagent.LocalSystem{ChassisID: l.ChassisString(), ChassisIDType: l.ChassisIDSubtype, SystemName: l.SystemName}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(3)
	go func() { defer wg.Done(); _ = sp.Run(actx) }()
	go func() { defer wg.Done(); _ = agent.Run(actx) }()
	go func() { defer wg.Done(); _ = agent.Serve(actx, lis) }()

	node := leaderNode(ctx, t, "bmv2-agent")
	ctl := controller.New(controller.Config{Node: node, Targets: pipeline.Embedded, RetryInterval: 200 * time.Millisecond, CounterInterval: time.Second,
		DialOptions: func(*policy.Device) []grpc.DialOption {
			return []grpc.DialOption{grpc.WithContextDialer(netnsDialer(sw.NS))}
		}})
	cctx, ccancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); ctl.Run(cctx) }()
	t.Cleanup(func() { ccancel(); <-done })

	host, err := os.ReadFile("../testdata/gnmi-host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.NewReplacer("LEAF1_ADDR", GRPCAddr, "GNMI_ADDR", lis.Addr().String(), "PORT_A", "1", "PORT_B", "2").Replace(string(host))
	if _, err := ctl.Apply(ctx, "agent.yaml", []byte(docs)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, func() bool {
		ports, _, _ := ctl.Topology().Snapshot()
		return len(ports) == 2 && ports[0].ID == 1 && ports[0].Interface == "sw1" && ports[0].Oper == "UP" && ports[1].ID == 2
	}, func() string { p, _, _ := ctl.Topology().Snapshot(); return fmt.Sprintf("ports %+v", p) })

	mac := net.HardwareAddr{2, 0, 0, 0, 0xdb, 1}
	hello, err := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac), PortIDSubtype: lldp.PortIfName, PortID: "eth0",
		TTL: 120 * time.Second, SystemName: "db-01"}.Marshal(mac)
	if err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	if err := sw.Ports[1].Send(hello); err != nil {
		t.Fatal(err)
	}
	waitFor(t, ctx, func() bool {
		_, _, hosts := ctl.Topology().Snapshot()
		gnmiSeen := false
		for _, h := range hosts {
			gnmiSeen = gnmiSeen || h.Source == topo.SourceGNMI && h.Name == "db-01" && h.At == topo.End{Device: "leaf1", Port: 1} && h.Interface == "sw1"
		}
		placed := false
		for _, p := range ctl.Placements() {
			placed = placed || p.Endpoint == "db" && p.Device == "leaf1" && p.Port == 1
		}
		return gnmiSeen && placed
	}, func() string {
		_, _, h := ctl.Topology().Snapshot()
		return fmt.Sprintf("hosts %+v; placements %+v", h, ctl.Placements())
	})
	t.Logf("host heard by the agent's speaker, reported over gNMI and placed %s after its LLDP frame", time.Since(sent).Round(time.Millisecond))
}

// leaderNode is a one-member raft cluster, once it leads.
func leaderNode(ctx context.Context, t *testing.T, id string) *cluster.Node {
	t.Helper()
	node, err := cluster.Start(cluster.Config{ID: id, RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { node.Close() })
	for !node.IsLeader() {
		select {
		case <-ctx.Done():
			t.Fatal("no raft leader")
		case <-node.Leadership():
		}
	}
	return node
}
