package subscriber

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"
	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/pkg/gnmi/agent"
	"github.com/p4ctl/p4ctl/pkg/lldp"
)

func testLinks() []agent.Link {
	return []agent.Link{
		{Name: "eth0", Index: 2, MTU: 1500, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x10}, AdminUp: true, Oper: "up", Stats: agent.Counters{InOctets: 100, OutOctets: 200}},
		{Name: "eth1", Index: 3, MTU: 1500, MAC: net.HardwareAddr{2, 0, 0, 0, 0, 0x11}, AdminUp: true, Oper: "up"},
	}
}

// p parses a gNMI path ("/a/b[k=v]/c").
func p(s string) *gpb.Path {
	path, err := ygot.StringToStructuredPath(s)
	if err != nil {
		panic(err)
	}
	return path
}

// protoOnly is an agent that claims PROTO encoding only, as Stratum does.
type protoOnly struct{ *agent.Agent }

func (p protoOnly) Capabilities(ctx context.Context, r *gpb.CapabilityRequest) (*gpb.CapabilityResponse, error) {
	resp, err := p.Agent.Capabilities(ctx, r)
	if err == nil {
		resp.SupportedEncodings = []gpb.Encoding{gpb.Encoding_PROTO}
	}
	return resp, err
}

// served runs an agent's gNMI service on addr ("" picks one) until stop.
type served struct {
	addr string
	stop func()
}

func serveAgent(t *testing.T, a *agent.Agent, addr string, wrap func(*agent.Agent) gpb.GNMIServer) served {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	for range 50 { // a restarted server's port may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	gs := grpc.NewServer()
	var srv gpb.GNMIServer = a
	if wrap != nil {
		srv = wrap(a)
	}
	gpb.RegisterGNMIServer(gs, srv)
	done := make(chan struct{})
	go func() { defer close(done); _ = gs.Serve(lis) }()
	var once sync.Once
	stop := func() { once.Do(func() { gs.Stop(); <-done }) }
	t.Cleanup(stop)
	return served{addr: lis.Addr().String(), stop: stop}
}

func runAgent(t *testing.T, cfg agent.Config) *agent.Agent {
	t.Helper()
	a, err := agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// collect runs a subscriber and hands its events to the test.
func collect(t *testing.T, s *Subscriber) <-chan Event {
	t.Helper()
	ch := make(chan Event, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx, func(e Event) { ch <- e }) }()
	t.Cleanup(func() { cancel(); <-done })
	return ch
}

func waitEvent(t *testing.T, ch <-chan Event, what string, ok func(Event) bool) Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-ch:
			if ok(e) {
				return e
			}
		case <-deadline:
			t.Fatalf("no %s within 10s", what)
		}
	}
}

func TestSubscriber(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap func(*agent.Agent) gpb.GNMIServer
		enc  gpb.Encoding
	}{
		{"json_ietf", nil, gpb.Encoding_JSON_IETF},
		{"proto only", func(a *agent.Agent) gpb.GNMIServer { return protoOnly{a} }, gpb.Encoding_PROTO},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := agent.NewMemLinks(testLinks()...)
			tab := lldp.NewTable(0)
			a := runAgent(t, agent.Config{Target: "leaf1", Source: src, Ports: map[string]uint32{"eth0": 7, "eth1": 8}, CounterInterval: 20 * time.Millisecond,
				Neighbors: tab, Local: &agent.LocalSystem{ChassisID: "02:00:00:00:00:10", ChassisIDType: lldp.ChassisMAC, SystemName: "leaf1"}})
			srv := serveAgent(t, a, "", tt.wrap)
			events := collect(t, &Subscriber{Device: "leaf1", Addr: srv.addr, SampleInterval: 50 * time.Millisecond, MinBackoff: 20 * time.Millisecond})

			if e := waitEvent(t, events, "connected", func(e Event) bool { return e.Kind == Connected }); e.Encoding != tt.enc {
				t.Errorf("encoding %s, want %s", e.Encoding, tt.enc)
			}
			// The initial state, in whatever order, up to the sync.
			var initial []Event
			waitEvent(t, events, "sync", func(e Event) bool { initial = append(initial, e); return e.Kind == Synced })
			has := func(ok func(Event) bool) bool { return slices.ContainsFunc(initial, ok) }
			if !has(func(e Event) bool { return e.Kind == PortID && e.Interface == "eth0" && e.ID == 7 }) ||
				!has(func(e Event) bool { return e.Kind == PortID && e.Interface == "eth1" && e.ID == 8 }) ||
				!has(func(e Event) bool { return e.Kind == PortState && e.Interface == "eth1" && e.Oper == "UP" }) {
				t.Errorf("initial events %+v", initial)
			}
			waitEvent(t, events, "eth0 counters", func(e Event) bool {
				return e.Kind == PortCounters && e.Interface == "eth0" && e.Counters.InOctets == 100 && e.Counters.OutOctets == 200
			})

			l := testLinks()[0]
			l.Oper = "down"
			src.Set(l)
			waitEvent(t, events, "eth0 down", func(e Event) bool { return e.Kind == PortState && e.Interface == "eth0" && e.Oper == "DOWN" })

			mac := string([]byte{2, 0, 0, 0, 0xaa, 1})
			tab.Update("eth1", lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: mac, PortIDSubtype: lldp.PortIfName, PortID: "eth0",
				TTL: 120 * time.Second, SystemName: "web-01"}, time.Now())
			// A neighbor's leaves may come in several notifications; each
			// event carries the record so far, so wait for the whole of it.
			nb := waitEvent(t, events, "web-01", func(e Event) bool {
				n := e.Neighbor
				return e.Kind == Neighbor && e.Interface == "eth1" && n.SystemName == "web-01" && n.PortID == "eth0" &&
					n.ChassisID == "02:00:00:00:aa:01" && n.TTL == 120*time.Second && n.ChassisIDType == "MAC_ADDRESS" && n.PortIDType == "INTERFACE_NAME"
			})
			tab.RemoveInterface("eth1")
			waitEvent(t, events, "web-01 gone", func(e Event) bool {
				return e.Kind == NeighborGone && e.Interface == "eth1" && e.Neighbor.ID == nb.Neighbor.ID
			})
		})
	}
}

// The subscriber reconnects to a server that restarts on the same address
// and gets the state again.
func TestSubscriberReconnects(t *testing.T) {
	a := runAgent(t, agent.Config{Target: "leaf1", Source: agent.NewMemLinks(testLinks()...), Ports: map[string]uint32{"eth0": 7}})
	srv := serveAgent(t, a, "", nil)
	events := collect(t, &Subscriber{Device: "leaf1", Addr: srv.addr, MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond})
	waitEvent(t, events, "first sync", func(e Event) bool { return e.Kind == Synced })
	srv.stop()
	if e := waitEvent(t, events, "disconnected", func(e Event) bool { return e.Kind == Disconnected }); e.Err == nil {
		t.Error("disconnected without a reason")
	}
	serveAgent(t, a, srv.addr, nil)
	waitEvent(t, events, "connected again", func(e Event) bool { return e.Kind == Connected })
	waitEvent(t, events, "eth0's id again", func(e Event) bool { return e.Kind == PortID && e.Interface == "eth0" && e.ID == 7 })
}

// Some targets send a container as one JSON blob; the decoder reads its
// leaves, keyed lists included.
func TestDecodeJSONBlob(t *testing.T) {
	d := newDecoder("leaf9")
	blob := `{"openconfig-lldp:neighbor":[{"id":"n1","state":{"id":"n1","system-name":"db-01","port-id":"Ethernet1","ttl":90,"chassis-id-type":"openconfig-lldp-types:MAC_ADDRESS"}}]}`
	n := &gpb.Notification{Update: []*gpb.Update{
		{Path: p("/lldp/interfaces/interface[name=Ethernet3]/neighbors"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(blob)}}},
		{Path: p("/interfaces/interface[name=Ethernet3]/state"), Val: &gpb.TypedValue{Value: &gpb.TypedValue_JsonIetfVal{JsonIetfVal: []byte(`{"oper-status":"UP","openconfig-p4rt:id":3,"counters":{"in-octets":"18446744073709551615"}}`)}}},
	}}
	got := map[EventKind]Event{}
	for _, e := range d.notification(n) {
		got[e.Kind] = e
	}
	if e := got[Neighbor]; e.Interface != "Ethernet3" || e.Neighbor.SystemName != "db-01" || e.Neighbor.TTL != 90*time.Second || e.Neighbor.ChassisIDType != "MAC_ADDRESS" {
		t.Errorf("neighbor %+v", e)
	}
	if e := got[PortState]; e.Oper != "UP" {
		t.Errorf("port state %+v", e)
	}
	if e := got[PortID]; e.ID != 3 {
		t.Errorf("port id %+v", e)
	}
	if e := got[PortCounters]; e.Counters.InOctets != 1<<64-1 {
		t.Errorf("counters %+v", e)
	}
	// Deleting the interface's neighbors container removes them all.
	gone := d.notification(&gpb.Notification{Delete: []*gpb.Path{p("/lldp/interfaces/interface[name=Ethernet3]/neighbors")}})
	if len(gone) != 1 || gone[0].Kind != NeighborGone || gone[0].Neighbor.ID != "n1" {
		t.Errorf("delete: %+v", gone)
	}
}
