package agent

import (
	"context"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	gpb "github.com/openconfig/gnmi/proto/gnmi"
	"github.com/openconfig/ygot/ygot"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/lldp"
)

var (
	mac0 = net.HardwareAddr{2, 0, 0, 0, 0, 0x10}
	mac1 = net.HardwareAddr{2, 0, 0, 0, 0, 0x11}
)

func testLinks() []Link {
	return []Link{
		{Name: "eth0", Index: 2, MTU: 1500, MAC: mac0, AdminUp: true, Oper: "up", Master: "bond0", Stats: Counters{InOctets: 100, OutOctets: 200}},
		{Name: "eth1", Index: 3, MTU: 1500, MAC: mac1, AdminUp: true, Oper: "up", Master: "bond0"},
		{Name: "bond0", Index: 4, Kind: "bond", MTU: 1500, MAC: mac0, AdminUp: true, Oper: "up", Members: []string{"eth1", "eth0"}},
		{Name: "bond0.42", Index: 5, Kind: "vlan", MTU: 1500, MAC: mac0, AdminUp: true, Oper: "up", Parent: "bond0", VLANID: 42},
		{Name: "lo", Index: 1, MTU: 65536, AdminUp: true, Oper: "unknown"},
	}
}

// startAgent serves an agent over loopback gRPC and returns a client.
func startAgent(t *testing.T, cfg Config) (*Agent, gpb.GNMIClient) {
	t.Helper()
	a, addr := serveTestAgent(t, cfg)
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return a, gpb.NewGNMIClient(conn)
}

// serveTestAgent runs an agent (target "host1" unless cfg names one) and
// serves it on a loopback address, until the test ends.
func serveTestAgent(t *testing.T, cfg Config) (*Agent, string) {
	t.Helper()
	if cfg.Target == "" {
		cfg.Target = "host1"
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = a.Run(ctx) }()
	go func() { defer wg.Done(); _ = a.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return a, lis.Addr().String()
}

// p parses a gNMI path ("/a/b[k=v]/c").
func p(s string) *gpb.Path {
	path, err := ygot.StringToStructuredPath(s)
	if err != nil {
		panic(err)
	}
	return path
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// get returns the leaves under path as "path = value" with values as
// JSON_IETF text.
func get(t *testing.T, c gpb.GNMIClient, path string) map[string]string {
	t.Helper()
	resp, err := c.Get(ctxT(t, 5*time.Second), &gpb.GetRequest{Path: []*gpb.Path{p(path)}, Encoding: gpb.Encoding_JSON_IETF})
	if err != nil {
		t.Fatalf("get %s: %v", path, err)
	}
	out := map[string]string{}
	for _, n := range resp.GetNotification() {
		for _, u := range n.GetUpdate() {
			out[pathKey(u.GetPath())] = string(u.GetVal().GetJsonIetfVal())
		}
	}
	return out
}

func TestAgentGet(t *testing.T) {
	tab := lldp.NewTable(0)
	tab.Update("eth0", lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac1), PortIDSubtype: lldp.PortIfName, PortID: "Ethernet7",
		TTL: 120 * time.Second, SystemName: "leaf1"}, time.Now())
	_, c := startAgent(t, Config{Source: NewMemLinks(testLinks()...), Ports: map[string]uint32{"eth0": 7, "eth1": 8, "bond0": 0, "bond0.42": 0},
		Neighbors: tab, Local: &LocalSystem{ChassisID: mac0.String(), ChassisIDType: lldp.ChassisMAC, SystemName: "host1"}})

	tests := []struct{ path, leaf, want string }{
		{"/interfaces/interface[name=eth0]/state/oper-status", "/interfaces/interface[name=eth0]/state/oper-status", `"UP"`},
		{"/interfaces/interface[name=eth0]/state/id", "/interfaces/interface[name=eth0]/state/id", `7`},
		{"/interfaces/interface[name=eth0]/state/counters/in-octets", "/interfaces/interface[name=eth0]/state/counters/in-octets", `"100"`},
		{"/interfaces/interface[name=eth0]/ethernet/state/mac-address", "/interfaces/interface[name=eth0]/ethernet/state/mac-address", `"02:00:00:00:00:10"`},
		{"/interfaces/interface[name=eth0]/ethernet/state/aggregate-id", "/interfaces/interface[name=eth0]/ethernet/state/aggregate-id", `"bond0"`},
		{"/interfaces/interface[name=bond0]/state/type", "/interfaces/interface[name=bond0]/state/type", `"iana-if-type:ieee8023adLag"`},
		{"/interfaces/interface[name=bond0]/subinterfaces", "/interfaces/interface[name=bond0]/subinterfaces/subinterface[index=42]/vlan/match/single-tagged/state/vlan-id", `42`},
		{"/lldp/interfaces/interface[name=eth0]/neighbors", "/lldp/interfaces/interface[name=eth0]/neighbors/neighbor[id=02:00:00:00:00:11 Ethernet7]/state/system-name", `"leaf1"`},
		{"/lldp/state/system-name", "/lldp/state/system-name", `"host1"`},
	}
	for _, tt := range tests {
		got := get(t, c, tt.path)
		if got[tt.leaf] != tt.want {
			t.Errorf("get %s: %s = %q, want %q (got %d leaves: %v)", tt.path, tt.leaf, got[tt.leaf], tt.want, len(got), got)
		}
	}
	members := get(t, c, "/interfaces/interface[name=bond0]/aggregation/state/member")
	if v := members["/interfaces/interface[name=bond0]/aggregation/state/member"]; v != `["eth0","eth1"]` {
		t.Errorf("bond members %q", v)
	}
	if got := get(t, c, "/interfaces/interface[name=*]/state/oper-status"); len(got) != 4 {
		t.Errorf("wildcard: %d interfaces, want the 4 in the port map: %v", len(got), got)
	}
	if _, ok := get(t, c, "/interfaces")["/interfaces/interface[name=lo]/state/oper-status"]; ok {
		t.Error("lo is served though the port map leaves it out")
	}

	// PROTO encoding: typed scalars.
	resp, err := c.Get(ctxT(t, 5*time.Second), &gpb.GetRequest{Path: []*gpb.Path{p("/interfaces/interface[name=eth0]/state/mtu")}, Encoding: gpb.Encoding_PROTO})
	if err != nil || resp.GetNotification()[0].GetUpdate()[0].GetVal().GetUintVal() != 1500 {
		t.Errorf("PROTO get: %v %v", resp, err)
	}

	for _, tt := range []struct {
		req  *gpb.GetRequest
		code codes.Code
		msg  string
	}{
		{&gpb.GetRequest{Path: []*gpb.Path{p("/interfaces/interface[name=eth0]/state/bogus")}}, codes.InvalidArgument, `"bogus" is not in the OpenConfig models`},
		{&gpb.GetRequest{Path: []*gpb.Path{p("/system/state")}}, codes.InvalidArgument, `"system"`},
		{&gpb.GetRequest{Path: []*gpb.Path{p("/interfaces/interface[name=eth9]")}}, codes.NotFound, "nothing at"},
		{&gpb.GetRequest{Prefix: &gpb.Path{Target: "other"}, Path: []*gpb.Path{p("/interfaces")}}, codes.NotFound, `no target "other"`},
		{&gpb.GetRequest{Path: []*gpb.Path{p("/interfaces")}, Encoding: gpb.Encoding_ASCII}, codes.Unimplemented, "ASCII"},
		{&gpb.GetRequest{Path: []*gpb.Path{p("/interfaces")}, Type: gpb.GetRequest_CONFIG}, codes.Unimplemented, "state only"},
	} {
		_, err := c.Get(ctxT(t, 5*time.Second), tt.req)
		if st, _ := status.FromError(err); st.Code() != tt.code || !strings.Contains(st.Message(), tt.msg) {
			t.Errorf("get %v: %v, want %s containing %q", tt.req, err, tt.code, tt.msg)
		}
	}
	if _, err := c.Set(ctxT(t, 5*time.Second), &gpb.SetRequest{}); status.Code(err) != codes.Unimplemented {
		t.Errorf("set: %v", err)
	}
	caps, err := c.Capabilities(ctxT(t, 5*time.Second), &gpb.CapabilityRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var models []string
	for _, m := range caps.GetSupportedModels() {
		models = append(models, m.GetName())
	}
	for _, want := range []string{"openconfig-interfaces", "openconfig-lldp", "openconfig-p4rt", "openconfig-if-aggregate", "openconfig-vlan"} {
		if !slices.Contains(models, want) {
			t.Errorf("capabilities lack %s: %v", want, models)
		}
	}
	if !slices.Contains(caps.GetSupportedEncodings(), gpb.Encoding_JSON_IETF) || caps.GetGNMIVersion() == "" {
		t.Errorf("capabilities %v", caps)
	}
}

// recvUntil reads responses until one satisfies ok.
func recvUntil(t *testing.T, s gpb.GNMI_SubscribeClient, what string, ok func(*gpb.SubscribeResponse) bool) {
	t.Helper()
	for {
		r, err := s.Recv()
		if err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
		if ok(r) {
			return
		}
	}
}

func hasLeaf(r *gpb.SubscribeResponse, suffix, val string) bool {
	for _, u := range r.GetUpdate().GetUpdate() {
		full := pathKey(joinPath(r.GetUpdate().GetPrefix(), u.GetPath()))
		if strings.HasSuffix(full, suffix) && (val == "" || string(u.GetVal().GetJsonIetfVal()) == val) {
			return true
		}
	}
	return false
}

func subscribeTo(t *testing.T, c gpb.GNMIClient, sl *gpb.SubscriptionList) gpb.GNMI_SubscribeClient {
	t.Helper()
	if sl.Encoding == gpb.Encoding_JSON {
		sl.Encoding = gpb.Encoding_JSON_IETF
	}
	s, err := c.Subscribe(ctxT(t, 10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Subscribe{Subscribe: sl}}); err != nil {
		t.Fatal(err)
	}
	return s
}

func isSync(r *gpb.SubscribeResponse) bool { return r.GetSyncResponse() }

func TestAgentSubscribe(t *testing.T) {
	src := NewMemLinks(testLinks()...)
	_, c := startAgent(t, Config{Source: src, CounterInterval: 50 * time.Millisecond})
	oper := func(name string) *gpb.Subscription {
		return &gpb.Subscription{Path: p("/interfaces/interface[name=" + name + "]/state/oper-status"), Mode: gpb.SubscriptionMode_ON_CHANGE}
	}

	t.Run("once", func(t *testing.T) {
		s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_ONCE, Subscription: []*gpb.Subscription{oper("*")}})
		n := 0
		for {
			r, err := s.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			n += len(r.GetUpdate().GetUpdate())
		}
		if n != 5 {
			t.Errorf("ONCE gave %d oper-status leaves, want 5", n)
		}
	})

	t.Run("poll", func(t *testing.T) {
		s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_POLL, Subscription: []*gpb.Subscription{oper("eth1")}})
		recvUntil(t, s, "first sync", isSync)
		if err := s.Send(&gpb.SubscribeRequest{Request: &gpb.SubscribeRequest_Poll{Poll: &gpb.Poll{}}}); err != nil {
			t.Fatal(err)
		}
		recvUntil(t, s, "polled value", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "[name=eth1]/state/oper-status", `"UP"`) })
	})

	t.Run("stream on change", func(t *testing.T) {
		s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Subscription: []*gpb.Subscription{oper("eth0")}})
		recvUntil(t, s, "initial UP", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "[name=eth0]/state/oper-status", `"UP"`) })
		recvUntil(t, s, "sync", isSync)
		l := testLinks()[0]
		l.Oper = "down"
		start := time.Now()
		src.Set(l)
		recvUntil(t, s, "DOWN", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "[name=eth0]/state/oper-status", `"DOWN"`) })
		t.Logf("oper-status change delivered %s after the link change", time.Since(start).Round(time.Microsecond))
		l.Oper = "up"
		src.Set(l)
		recvUntil(t, s, "UP again", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "[name=eth0]/state/oper-status", `"UP"`) })
	})

	t.Run("updates only", func(t *testing.T) {
		s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, UpdatesOnly: true, Subscription: []*gpb.Subscription{oper("eth1")}})
		r, err := s.Recv()
		if err != nil || !r.GetSyncResponse() {
			t.Fatalf("first response %v %v, want sync without the current value", r, err)
		}
		l := testLinks()[1]
		l.Oper = "lower-layer-down"
		src.Set(l)
		recvUntil(t, s, "LOWER_LAYER_DOWN", func(r *gpb.SubscribeResponse) bool {
			return hasLeaf(r, "[name=eth1]/state/oper-status", `"LOWER_LAYER_DOWN"`)
		})
	})

	t.Run("sample", func(t *testing.T) {
		s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Subscription: []*gpb.Subscription{
			{Path: p("/interfaces/interface[name=eth0]/state/counters/in-octets"), Mode: gpb.SubscriptionMode_SAMPLE, SampleInterval: uint64(100 * time.Millisecond)},
		}})
		recvUntil(t, s, "sync", isSync)
		// Samples keep coming with no change, and a change shows in the next.
		recvUntil(t, s, "a sample", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "in-octets", `"100"`) })
		recvUntil(t, s, "another sample", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "in-octets", `"100"`) })
		l := testLinks()[0]
		l.Stats.InOctets = 12345
		src.Set(l)
		recvUntil(t, s, "the new count", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "in-octets", `"12345"`) })
	})

	t.Run("heartbeat", func(t *testing.T) {
		sub := oper("bond0")
		sub.HeartbeatInterval = uint64(100 * time.Millisecond)
		s := subscribeTo(t, c, &gpb.SubscriptionList{Mode: gpb.SubscriptionList_STREAM, Subscription: []*gpb.Subscription{sub}})
		recvUntil(t, s, "sync", isSync)
		recvUntil(t, s, "heartbeat", func(r *gpb.SubscribeResponse) bool { return hasLeaf(r, "[name=bond0]/state/oper-status", `"UP"`) })
	})

	t.Run("bad requests", func(t *testing.T) {
		for _, tt := range []struct {
			sl   *gpb.SubscriptionList
			code codes.Code
		}{
			{&gpb.SubscriptionList{Subscription: []*gpb.Subscription{{Path: p("/interfaces/interface/state/nope")}}}, codes.InvalidArgument},
			{&gpb.SubscriptionList{Prefix: &gpb.Path{Target: "elsewhere"}, Subscription: []*gpb.Subscription{oper("eth0")}}, codes.NotFound},
			{&gpb.SubscriptionList{}, codes.InvalidArgument},
			{&gpb.SubscriptionList{Encoding: gpb.Encoding_BYTES, Subscription: []*gpb.Subscription{oper("eth0")}}, codes.Unimplemented},
		} {
			s := subscribeTo(t, c, tt.sl)
			_, err := s.Recv()
			if status.Code(err) != tt.code {
				t.Errorf("%v: %v, want %s", tt.sl, err, tt.code)
			}
		}
	})
}
