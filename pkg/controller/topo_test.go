package controller

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	gnmiagent "github.com/p4ctl/p4ctl/pkg/gnmi/agent"
	"github.com/p4ctl/p4ctl/pkg/lldp"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// fabric is simulated devices joined by cables: a packet-out from one
// device's port arrives as a packet-in on the port cabled to it.
type fabric struct {
	t      *testing.T
	in     *pipeline.PacketMetadata
	out    *pipeline.PacketMetadata
	mu     sync.Mutex
	sims   map[string]*p4rtsim.Server
	addrs  map[string]string
	cables map[topo.End]topo.End
}

func newFabric(t *testing.T, names ...string) *fabric {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	in, _ := p.Info.PacketMetadata("packet_in")
	out, _ := p.Info.PacketMetadata("packet_out")
	f := &fabric{t: t, in: in, out: out, sims: map[string]*p4rtsim.Server{}, addrs: map[string]string{}, cables: map[topo.End]topo.End{}}
	for _, name := range names {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		sim := p4rtsim.New(p4rtsim.Options{DeviceID: 1, OnPacketOut: func(po *p4v1.PacketOut) { f.carry(name, po) }})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); sim.Serve(ctx, lis) }()
		t.Cleanup(func() { cancel(); <-done })
		f.sims[name], f.addrs[name] = sim, lis.Addr().String()
	}
	return f
}

func (f *fabric) cable(a, b topo.End) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cables[a], f.cables[b] = b, a
}

// carry delivers a packet-out to the far end of its port's cable.
func (f *fabric) carry(dev string, po *p4v1.PacketOut) {
	md, err := f.out.DecodeMetadata(po.GetMetadata())
	if err != nil {
		f.t.Errorf("packet-out from %s: %v", dev, err)
		return
	}
	f.mu.Lock()
	peer, ok := f.cables[topo.End{Device: dev, Port: uint32(md["egress_port"])}]
	f.mu.Unlock()
	if ok {
		f.punt(peer, po.GetPayload())
	}
}

// punt makes device at.Device send frame to its controller as arriving
// on port at.Port.
func (f *fabric) punt(at topo.End, frame []byte) {
	meta, err := f.in.EncodeMetadata(map[string]uint64{"ingress_port": uint64(at.Port)})
	if err != nil {
		f.t.Fatal(err)
	}
	f.sims[at.Device].InjectPacketIn(&p4v1.PacketIn{Payload: frame, Metadata: meta})
}

func hostLLDP(t *testing.T, name string, ttl time.Duration) []byte {
	mac := net.HardwareAddr{2, 0, 0, 0, 0xee, 1}
	b, err := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac), PortIDSubtype: lldp.PortIfName, PortID: "eth0",
		TTL: ttl, SystemName: name}.Marshal(mac)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestTopologyAndMovingHost: the leader learns the cable between two
// switches from its own LLDP probes, places an endpoint that names its
// host where the host's LLDP is heard, moves its entries when the host
// shows up on another switch, and withdraws them when the host says
// goodbye.
func TestTopologyAndMovingHost(t *testing.T) {
	f := newFabric(t, "leaf1", "leaf2")
	f.cable(topo.End{Device: "leaf1", Port: 9}, topo.End{Device: "leaf2", Port: 5})
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c := New(Config{Node: n, Targets: pipeline.Embedded, RetryInterval: 200 * time.Millisecond, ProbeInterval: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	docs := fabricDocs(t, f.addrs["leaf1"], f.addrs["leaf2"])
	actx, acancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer acancel()
	if _, err := c.Apply(actx, "fabric.yaml", docs); err != nil {
		t.Fatal(err)
	}

	// The cable, in both directions, from the probes alone.
	eventually(t, 10*time.Second, func() bool {
		_, links, _ := c.Topology().Snapshot()
		return len(links) == 2
	}, func() string { _, l, _ := c.Topology().Snapshot(); return fmt.Sprintf("links %+v", l) })
	_, links, _ := c.Topology().Snapshot()
	if links[0].From != (topo.End{Device: "leaf1", Port: 9}) || links[0].To != (topo.End{Device: "leaf2", Port: 5}) ||
		links[1].From != (topo.End{Device: "leaf2", Port: 5}) || links[1].To != (topo.End{Device: "leaf1", Port: 9}) {
		t.Errorf("links %+v", links)
	}

	placement := func() Placement {
		for _, p := range c.Placements() {
			if p.Endpoint == "web" {
				return p
			}
		}
		return Placement{}
	}
	if p := placement(); p.Device != "" || !strings.Contains(p.Reason, "not seen") {
		t.Errorf("before the host is seen: %+v", p)
	}
	sims := map[string]*simDevice{"leaf1": {addr: f.addrs["leaf1"]}, "leaf2": {addr: f.addrs["leaf2"]}}
	model := func() *policy.Model { m, _ := n.Model(); return m }
	webOn := func(dev string) int {
		return strings.Count(strings.Join(keys(sims[dev].read(t)), "\n"), "\x02\x00\x00\x00\xee\x01")
	}

	// The host on leaf1/1.
	f.punt(topo.End{Device: "leaf1", Port: 1}, hostLLDP(t, "web-01", 120*time.Second))
	eventually(t, 10*time.Second, func() bool { p := placement(); return p.Device == "leaf1" && p.Port == 1 },
		func() string { return fmt.Sprintf("%+v", placement()) })
	inSync(t, c, sims, model)
	// On leaf2 only the L2 entry that sends its frames over the cable.
	if webOn("leaf1") < 2 || webOn("leaf2") != 1 {
		t.Errorf("web's MAC in %d leaf1 entries, %d leaf2 entries; want 2 or more and 1", webOn("leaf1"), webOn("leaf2"))
	}

	// It moves to leaf2/2: the entries follow.
	f.punt(topo.End{Device: "leaf2", Port: 2}, hostLLDP(t, "web-01", 120*time.Second))
	eventually(t, 10*time.Second, func() bool { p := placement(); return p.Device == "leaf2" && p.Port == 2 },
		func() string { return fmt.Sprintf("%+v", placement()) })
	inSync(t, c, sims, model)
	if webOn("leaf1") != 1 || webOn("leaf2") < 2 {
		t.Errorf("after the move: web's MAC in %d leaf1 entries, %d leaf2 entries; want 1 and 2 or more", webOn("leaf1"), webOn("leaf2"))
	}

	// LLDP heard on an uplink is not a host location.
	f.punt(topo.End{Device: "leaf2", Port: 5}, hostLLDP(t, "db-01", 120*time.Second))

	// Goodbye on both ports: unplaced, entries withdrawn.
	f.punt(topo.End{Device: "leaf1", Port: 1}, hostLLDP(t, "web-01", 0))
	f.punt(topo.End{Device: "leaf2", Port: 2}, hostLLDP(t, "web-01", 0))
	eventually(t, 10*time.Second, func() bool { return placement().Device == "" },
		func() string { return fmt.Sprintf("%+v", placement()) })
	inSync(t, c, sims, model)
	if webOn("leaf1")+webOn("leaf2") != 0 {
		t.Errorf("after goodbye: web's MAC in %d leaf1 entries, %d leaf2 entries", webOn("leaf1"), webOn("leaf2"))
	}
	if _, _, ok := c.Topology().HostLocation("db-01"); ok {
		t.Error("a host heard on an uplink was placed")
	}
}

func keys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// gnmiLinks is a fixed link source for an agent in a test.
type gnmiLinks struct{ links []gnmiagent.Link }

func (g gnmiLinks) Links() ([]gnmiagent.Link, error) { return g.links, nil }
func (g gnmiLinks) Watch(ctx context.Context, _ func(string)) error {
	<-ctx.Done()
	return nil
}

// TestHostFromGNMI: a device's gNMI server (p4ctl's agent on the switch)
// reports an LLDP neighbor on one of its ports; the endpoint naming that
// host is placed there, and moves when the neighbor shows up on another
// port. Port state comes from the same subscription.
func TestHostFromGNMI(t *testing.T) {
	d1 := startSim(t, "")
	tab := lldp.NewTable(0)
	agent, err := gnmiagent.New(gnmiagent.Config{Target: "leaf1", Ports: map[string]uint32{"sw3": 3, "sw4": 4}, Neighbors: tab,
		Local:  &gnmiagent.LocalSystem{ChassisID: "leaf1", ChassisIDType: lldp.ChassisLocal, SystemName: "leaf1"},
		Source: gnmiLinks{[]gnmiagent.Link{{Name: "sw3", Index: 3, MTU: 1500, AdminUp: true, Oper: "up"}, {Name: "sw4", Index: 4, MTU: 1500, AdminUp: true, Oper: "down"}}}})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = agent.Run(actx) }()
	go func() { defer wg.Done(); _ = agent.Serve(actx, lis) }()
	t.Cleanup(func() { acancel(); wg.Wait() })

	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c, _ := runController(t, n)
	docs := fixture(t, "../../testdata/gnmi-host.yaml", "LEAF1_ADDR", d1.addr, "GNMI_ADDR", lis.Addr().String(), "PORT_A", "3", "PORT_B", "4")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, "gnmi.yaml", docs); err != nil {
		t.Fatal(err)
	}
	// Port state from gNMI.
	eventually(t, 10*time.Second, func() bool {
		ports, _, _ := c.Topology().Snapshot()
		return len(ports) == 2 && ports[0].ID == 3 && ports[0].Oper == "UP" && ports[1].ID == 4 && ports[1].Oper == "DOWN"
	}, func() string { p, _, _ := c.Topology().Snapshot(); return fmt.Sprintf("ports %+v", p) })

	hello := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string([]byte{2, 0, 0, 0, 0xdb, 1}), PortIDSubtype: lldp.PortIfName, PortID: "eth0",
		TTL: 120 * time.Second, SystemName: "db-01"}
	tab.Update("sw3", hello, time.Now())
	placedAt := func(port uint32) func() bool {
		return func() bool {
			for _, p := range c.Placements() {
				if p.Endpoint == "db" && p.Device == "leaf1" && p.Port == port {
					return true
				}
			}
			return false
		}
	}
	eventually(t, 10*time.Second, placedAt(3), func() string { return fmt.Sprintf("placements %+v", c.Placements()) })
	model := func() *policy.Model { m, _ := n.Model(); return m }
	inSync(t, c, map[string]*simDevice{"leaf1": d1}, model)

	// The host is recabled to sw4: the agent forgets it on sw3 and hears
	// it on sw4.
	tab.RemoveInterface("sw3")
	tab.Update("sw4", hello, time.Now())
	eventually(t, 10*time.Second, placedAt(4), func() string { return fmt.Sprintf("placements %+v", c.Placements()) })
	inSync(t, c, map[string]*simDevice{"leaf1": d1}, model)
	_, _, hosts := c.Topology().Snapshot()
	if len(hosts) != 1 || hosts[0].Source != topo.SourceGNMI || hosts[0].Interface != "sw4" {
		t.Errorf("hosts %+v", hosts)
	}
}

// fabricDocs is testdata/fabric.yaml with the leaves at addr1 and addr2.
func fabricDocs(t testing.TB, addr1, addr2 string) []byte {
	return fixture(t, "../../testdata/fabric.yaml", "LEAF1_ADDR", addr1, "LEAF2_ADDR", addr2)
}

// fixture is a shared test file with its placeholders replaced (old, new
// pairs).
func fixture(t testing.TB, file string, oldnew ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.NewReplacer(oldnew...).Replace(string(b)))
}
