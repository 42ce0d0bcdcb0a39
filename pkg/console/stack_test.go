package console

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/lldp"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// stack is a one-node controller on simulated devices (p4rtsim) holding
// the README example, its API served in process, as serve wires them.
type stack struct {
	node  *cluster.Node
	ctl   *controller.Controller
	sims  map[string]*p4rtsim.Server
	addrs map[string]string // the simulators' addresses
	// stopSim stops a simulator (the device goes away).
	stopSim map[string]func()
	client  p4ctlv1.ControllerClient
	// stopAPI ends the in-process API (its streams within stopGrace).
	stopAPI context.CancelFunc
}

// example is examples/segmentation.yaml with leaf1 at addr1, and a
// second device leaf2 at addr2 with one port and an app endpoint, and an
// uplink on each (leaf1/9 and leaf2/5, cabled together).
func example(t testing.TB, addr1, addr2 string) []byte {
	t.Helper()
	b, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "address: 127.0.0.1:9559", "address: "+addr1, 1)
	s += fmt.Sprintf("---\nkind: Device\nname: leaf2\naddress: %s\n---\nkind: Port\ndevice: leaf2\nport: 1\nsegment: prod\nrole: promiscuous\n"+
		"---\nkind: Endpoint\nname: app-2\nsegment: prod\nmac: 02:00:00:00:02:01\nips: [10.0.2.1]\ndevice: leaf2\nport: 1\nlabels: {app: shop, tier: app}\n"+
		"---\nkind: Port\ndevice: leaf1\nport: 9\nsegment: prod\nrole: uplink\n---\nkind: Port\ndevice: leaf2\nport: 5\nsegment: prod\nrole: uplink\n", addr2)
	return []byte(s)
}

func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cable joins leaf1/9 and leaf2/5: a packet-out on one end is a
// packet-in at the other, so the controller's LLDP probes find the link.
var cable = map[string]struct {
	out  uint32
	peer string
	in   uint32
}{"leaf1": {9, "leaf2", 5}, "leaf2": {5, "leaf1", 9}}

// punt makes device dev send frame to its controller as arriving on
// port.
func (st *stack) punt(dev string, port uint32, frame []byte) error {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		return err
	}
	in, _ := p.Info.PacketMetadata("packet_in")
	meta, err := in.EncodeMetadata(map[string]uint64{"ingress_port": uint64(port)})
	if err != nil {
		return err
	}
	st.sims[dev].InjectPacketIn(&p4v1.PacketIn{Payload: frame, Metadata: meta})
	return nil
}

// startStack runs the stack until the test ends, with the example
// applied and every device in sync.
func startStack(t testing.TB) *stack {
	t.Helper()
	st := &stack{sims: map[string]*p4rtsim.Server{}, addrs: map[string]string{}, stopSim: map[string]func(){}}
	addrs := st.addrs
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	out, _ := p.Info.PacketMetadata("packet_out")
	var simsReady sync.WaitGroup
	simsReady.Add(1)
	for _, name := range []string{"leaf1", "leaf2"} {
		lis, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		sim := p4rtsim.New(p4rtsim.Options{DeviceID: 1, OnPacketOut: func(po *p4v1.PacketOut) {
			simsReady.Wait()
			md, err := out.DecodeMetadata(po.GetMetadata())
			if c := cable[name]; err == nil && uint32(md["egress_port"]) == c.out {
				st.punt(c.peer, c.in, po.GetPayload())
			}
		}})
		done := make(chan struct{})
		go func() { defer close(done); sim.Serve(ctx, lis) }()
		stop := func() { cancel(); <-done }
		t.Cleanup(stop)
		st.sims[name], addrs[name], st.stopSim[name] = sim, lis.Addr().String(), stop
	}
	simsReady.Done()
	n, err := cluster.Start(cluster.Config{ID: "n1", RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	st.node = n
	eventually(t, 10*time.Second, "n1 leads", n.IsLeader)
	ctx, cancel := context.WithCancel(context.Background())
	st.ctl = controller.New(controller.Config{Node: n, Targets: pipeline.Embedded, RetryInterval: 200 * time.Millisecond,
		ProbeInterval: 200 * time.Millisecond})
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); st.ctl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-ctlDone })

	pipe := NewPipeListener()
	apiCtx, apiCancel := context.WithCancel(context.Background())
	st.stopAPI = apiCancel
	api := apiserver.New(n, st.ctl, apiserver.Options{})
	apiDone := make(chan struct{})
	go func() { defer close(apiDone); api.Serve(apiCtx, pipe) }()
	client, conn, err := DialInProcess(pipe)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(); apiCancel(); <-apiDone })
	st.client = client

	actx, acancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer acancel()
	actx = cluster.WithClient(actx, "CN=ops-alice")
	if _, err := st.ctl.Apply(actx, "example.yaml", example(t, addrs["leaf1"], addrs["leaf2"])); err != nil {
		t.Fatal(err)
	}
	eventually(t, time.Minute, "every device in sync", func() bool {
		ds := st.ctl.Devices()
		ok := len(ds) == 2
		for _, d := range ds {
			ok = ok && d.InSync && d.Connected && d.Primary && d.ModelIndex == st.ctl.ModelIndex()
		}
		return ok
	})
	return st
}

// serveConsole serves a console of o (its API the stack's unless o has
// one) on loopback, over TLS with cfg when not nil, and returns its base
// URL.
func (st *stack) serveConsole(t testing.TB, o Options, cfg *tls.Config) string {
	t.Helper()
	if o.API == nil {
		o.API = st.client
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- New(o).Serve(ctx, lis, cfg) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("console Serve: %v", err)
		}
	})
	scheme := "http"
	if cfg != nil {
		scheme = "https"
	}
	return scheme + "://" + lis.Addr().String()
}

// denial makes leaf1's simulator report a denied flow from src to dst
// (endpoints of the example, which name the identities) on TCP port
// dport, as the data plane's denial digest would (denied by the segment
// default).
func (st *stack) denial(t testing.TB, src, dst string, inPort uint32, dport uint16) {
	t.Helper()
	st.report(t, controller.DenialDigest, "denied_by", src, dst, inPort, dport)
}

// flow makes leaf1's simulator report an allowed flow start from src to
// dst on TCP port dport, decided by a policy, as the data plane's flow
// digest would.
func (st *stack) flow(t testing.TB, src, dst string, inPort uint32, dport uint16) {
	t.Helper()
	st.report(t, controller.FlowDigest, "decided_by", src, dst, inPort, dport)
}

// report sends leaf1's digest of a flow start (a TCP SYN from port
// 40000); byField is the digest's field saying what decided it: denied_by
// is the segment default (3), decided_by a policy (2).
func (st *stack) report(t testing.TB, digest, byField, src, dst string, inPort uint32, dport uint16) {
	t.Helper()
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	dg, ok := p.Info.Digest(digest)
	if !ok {
		t.Fatalf("the embedded pipeline has no %s digest", digest)
	}
	m := st.ctl.Model()
	id := func(ep string) (uint64, netip.Addr) {
		e := m.Endpoints[ep]
		if e == nil {
			t.Fatalf("no endpoint %s", ep)
		}
		// The identity table's key of a label set (policy.labelsKey).
		var key string
		for _, k := range slices.Sorted(maps.Keys(e.Labels)) {
			key += k + "=" + e.Labels[k] + "\x00"
		}
		for _, r := range m.Identities().Records {
			if r.Segment == e.Segment && r.Labels == key {
				return uint64(r.ID), e.IPs[0]
			}
		}
		t.Fatalf("no identity for %s", ep)
		return 0, netip.Addr{}
	}
	sid, sip := id(src)
	did, dip := id(dst)
	vals := map[string][]byte{}
	for k, v := range map[string]uint64{"segment": uint64(m.Segments[m.Endpoints[src].Segment].ID), "ingress_port": uint64(inPort),
		"src_identity": sid, "dst_identity": did, "ip_version": 4, "ip_proto": 6, "l4_src": 40000, "l4_dst": uint64(dport),
		"tcp_flags": 2, byField: map[string]uint64{"denied_by": 3, "decided_by": 2}[byField]} {
		vals[k] = pipeline.Uint(v)
	}
	vals["src_addr"], vals["dst_addr"] = sip.AsSlice(), dip.AsSlice()
	data, err := dg.Encode(vals)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the simulator sends the digest", func() bool { return st.sims["leaf1"].InjectDigest(dg.ID, data) })
}

// hits counts packets on every entry of a policy table of a device, as
// if the data plane had matched them.
func (st *stack) hits(t testing.TB, dev, table string, packets int64) {
	t.Helper()
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	tb, ok := p.Info.Table(table)
	if !ok {
		t.Fatalf("no table %s", table)
	}
	conn, err := grpc.NewClient(st.addrs[dev], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := p4v1.NewP4RuntimeClient(conn).Read(ctx, &p4v1.ReadRequest{DeviceId: 1,
		Entities: []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: tb.ID}}}}})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		resp, err := rs.Recv()
		if err != nil {
			break
		}
		for _, e := range resp.GetEntities() {
			if st.sims[dev].AddDirectCounter(e.GetTableEntry(), packets, 100*packets) {
				n++
			}
		}
	}
	if n == 0 {
		t.Fatalf("%s: no entry of %s counted", dev, table)
	}
}

// host makes leaf dev hear a host's LLDP on port.
func (st *stack) host(t testing.TB, dev string, port uint32, name string) {
	t.Helper()
	mac := net.HardwareAddr{2, 0, 0, 0, 0xee, byte(port)}
	b, err := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac), PortIDSubtype: lldp.PortIfName, PortID: "eth0",
		TTL: 120 * time.Second, SystemName: name}.Marshal(mac)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.punt(dev, port, b); err != nil {
		t.Fatal(err)
	}
}
