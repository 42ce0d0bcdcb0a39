package apiserver

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

type member struct {
	node *cluster.Node
	ctl  *controller.Controller
	srv  *Server
	api  string
	c    p4ctlv1.ControllerClient
	stop func() // kills the member: API, controller and raft node
}

// startMember runs a node, its controller and its API on loopback.
func startMember(t *testing.T, id string, bootstrap bool) *member {
	t.Helper()
	n, err := cluster.Start(cluster.Config{ID: id, RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: bootstrap,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond, LeaderLeaseTimeout: 150 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ctl := controller.New(controller.Config{Node: n, Targets: pipeline.Embedded, RetryInterval: 200 * time.Millisecond})
	ctlDone := make(chan struct{})
	go func() { defer close(ctlDone); ctl.Run(ctx) }()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := New(n, ctl, Options{})
	apiDone := make(chan struct{})
	go func() { defer close(apiDone); srv.Serve(ctx, lis) }()
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() {
		once.Do(func() {
			conn.Close()
			cancel()
			<-apiDone
			<-ctlDone
			n.Close()
		})
	}
	t.Cleanup(stop)
	return &member{node: n, ctl: ctl, srv: srv, api: lis.Addr().String(), c: p4ctlv1.NewControllerClient(conn), stop: stop}
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func until(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 15s: %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAPI(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCtx, simStop := context.WithCancel(context.Background())
	defer simStop()
	go p4rtsim.New(p4rtsim.Options{DeviceID: 1}).Serve(simCtx, lis)

	m1 := startMember(t, "n1", true)
	until(t, "n1 leads", m1.node.IsLeader)
	if err := m1.node.SetAPIAddr(ctxT(t), "n1", m1.api); err != nil {
		t.Fatal(err)
	}
	m2 := startMember(t, "n2", false)
	// Join through the API; a dead raft address is refused with a reason.
	_, err = m1.c.Join(ctxT(t), &p4ctlv1.JoinRequest{Id: "bad", RaftAddr: "127.0.0.1:1"})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "cannot reach") {
		t.Errorf("join with a dead address: %v", err)
	}
	if _, err := m1.c.Join(ctxT(t), &p4ctlv1.JoinRequest{Id: "n2", RaftAddr: m2.node.RaftAddr(), ApiAddr: m2.api}); err != nil {
		t.Fatal(err)
	}
	st, err := m2.c.ClusterStatus(ctxT(t), &p4ctlv1.ClusterStatusRequest{})
	if err != nil || len(st.GetMembers()) != 2 || st.GetLeader() != "n1" {
		t.Fatalf("status from n2: %v, %v", st, err)
	}

	// A write sent to the follower is forwarded to the leader.
	b, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Replace(string(b), "address: 127.0.0.1:9559", "address: "+lis.Addr().String(), 1)
	res, err := m2.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "example.yaml", Docs: []byte(docs)})
	if err != nil {
		t.Fatal(err)
	}
	if res.GetObjects() != 22 {
		t.Errorf("applied %d objects", res.GetObjects())
	}
	// A bad file: InvalidArgument naming the document and field; nothing applied.
	_, err = m1.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "bad.yaml", Docs: []byte("kind: Segment\nname: x\nid: 10\n")})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "bad.yaml:1: Segment x: id: segment id 10 is already prod's") {
		t.Errorf("bad apply: %v", err)
	}
	// Over capacity: ResourceExhausted.
	var big strings.Builder
	for i := range 1100 {
		fmt.Fprintf(&big, "---\nkind: Port\ndevice: leaf1\nport: %d\nsegment: prod\nrole: promiscuous\n", 9+i%400)
	}
	_, err = m1.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "ports.yaml", Docs: []byte(big.String())})
	if err == nil {
		t.Error("a file naming one port many times was accepted")
	}

	// Reads on either node. The cluster's view of the devices, from
	// either member, is the master's: n1's own, or asked of n2.
	for _, m := range []*member{m1, m2} {
		until(t, "leaf1 in sync", func() bool {
			d, err := m.c.Devices(ctxT(t), &p4ctlv1.DevicesRequest{FromLeader: true})
			return err == nil && len(d.GetDevices()) == 1 && d.GetDevices()[0].GetInSync() && d.GetDevices()[0].GetMaster() != ""
		})
	}
	d, err := m1.c.Devices(ctxT(t), &p4ctlv1.DevicesRequest{FromLeader: true})
	if err != nil {
		t.Fatal(err)
	}
	master := d.GetDevices()[0].GetMaster()
	for _, m := range []*member{m1, m2} {
		local, err := m.c.Devices(ctxT(t), &p4ctlv1.DevicesRequest{Local: true})
		if err != nil {
			t.Fatal(err)
		}
		if mine := m.node.ID() == master; (len(local.GetDevices()) == 1) != mine {
			t.Errorf("%s's own sessions: %d devices; the master is %s and only it holds one", m.node.ID(), len(local.GetDevices()), master)
		}
	}
	st, err = m2.c.ClusterStatus(ctxT(t), &p4ctlv1.ClusterStatusRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, mb := range st.GetMembers() {
		if want := map[bool]int64{true: 1, false: 0}[mb.GetId() == master]; mb.GetDevices() != want {
			t.Errorf("member %s masters %d devices, want %d", mb.GetId(), mb.GetDevices(), want)
		}
	}
	// Reads answer from the node's own state: wait for n2 to apply.
	if err := m2.node.WaitApplied(ctxT(t), res.GetIndex()); err != nil {
		t.Fatal(err)
	}
	g, err := m2.c.Get(ctxT(t), &p4ctlv1.GetRequest{Kind: "endpoints", Names: []string{"web-1"}})
	if err != nil || !strings.Contains(string(g.GetDocs()), `name: "web-1"`) {
		t.Errorf("get web-1 from n2: %s, %v", g.GetDocs(), err)
	}
	if _, err := m2.c.Get(ctxT(t), &p4ctlv1.GetRequest{Kind: "endpoints", Names: []string{"nobody"}}); status.Code(err) != codes.NotFound {
		t.Errorf("get unknown: %v", err)
	}
	tr, err := m1.c.Trace(ctxT(t), &p4ctlv1.TraceRequest{Device: "leaf1", InPort: 1, Src: "10.0.0.1", Dst: "10.0.0.3", Proto: "tcp", Sport: 40000, Dport: 8080})
	if err != nil || tr.GetVerdict() != "allow" || tr.GetPolicy() != "web-to-app" {
		t.Errorf("trace: %v, %v", tr, err)
	}

	// Watch hears a delete (sent to the follower, forwarded).
	wctx, wcancel := context.WithCancel(ctxT(t))
	defer wcancel()
	w, err := m1.c.Watch(wctx, &p4ctlv1.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil { // the current index: subscribed
		t.Fatalf("watch: %v", err)
	}
	del, err := m2.c.Delete(ctxT(t), &p4ctlv1.DeleteRequest{Objects: []*p4ctlv1.ObjectRef{{Kind: "Endpoint", Name: "web-2"}}})
	if err != nil {
		t.Fatal(err)
	}
	for {
		ev, err := w.Recv()
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if ev.GetModelIndex() >= del.GetIndex() {
			break
		}
	}
	if _, err := m2.c.Delete(ctxT(t), &p4ctlv1.DeleteRequest{Objects: []*p4ctlv1.ObjectRef{{Kind: "Endpoint", Name: "web-2"}}}); status.Code(err) != codes.NotFound {
		t.Errorf("deleting it again: %v", err)
	}

	// A cluster Watch on the member that does not master leaf1 (and holds
	// no session to it) hears, relayed from the master, that leaf1's
	// status changed when the device goes away.
	other := m1
	if master == "n1" {
		other = m2
	}
	cctx, ccancel := context.WithTimeout(ctxT(t), 10*time.Second)
	defer ccancel()
	cw, err := other.c.Watch(cctx, &p4ctlv1.WatchRequest{Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cw.Recv(); err != nil { // subscribed, the master's stream open
		t.Fatalf("cluster watch: %v", err)
	}
	start := time.Now()
	simStop()
	for {
		ev, err := cw.Recv()
		if err != nil {
			t.Fatalf("cluster watch, waiting for leaf1's event: %v", err)
		}
		if ev.GetDevice() == "leaf1" {
			t.Logf("leaf1 gone: heard on %s, relayed from %s, after %s", other.node.ID(), master, time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("no device event for leaf1 on %s within 5s", other.node.ID())
		}
	}
}

// TestApplyRidesOutElection: the leader dies and an apply is sent through
// a survivor at once: it waits for the new leader and commits, within its
// deadline. Without a quorum, an apply fails at its deadline saying an
// election was in progress. Reads say which kind of node served them.
func TestApplyRidesOutElection(t *testing.T) {
	m1 := startMember(t, "n1", true)
	until(t, "n1 leads", m1.node.IsLeader)
	m2, m3 := startMember(t, "n2", false), startMember(t, "n3", false)
	for _, m := range []*member{m1, m2, m3} {
		if _, err := m1.c.Join(ctxT(t), &p4ctlv1.JoinRequest{Id: m.node.ID(), RaftAddr: m.node.RaftAddr(), ApiAddr: m.api}); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []*member{m2, m3} {
		until(t, m.node.ID()+" knows n1 leads", func() bool { id, _ := m.node.Leader(); return id == "n1" })
	}
	var hdr metadata.MD
	if _, err := m2.c.ClusterStatus(ctxT(t), &p4ctlv1.ClusterStatusRequest{}, grpc.Header(&hdr)); err != nil {
		t.Fatal(err)
	}
	if got := hdr.Get(HeaderServedBy); len(got) != 1 || got[0] != "follower" || len(hdr.Get(HeaderLastContact)) != 1 || len(hdr.Get(HeaderApplied)) != 1 {
		t.Errorf("follower's headers %v", hdr)
	}

	m1.stop()
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := m2.c.Apply(ctx, &p4ctlv1.ApplyRequest{File: "during.yaml", Docs: []byte("kind: Segment\nname: during\nid: 77\n")})
	if err != nil {
		t.Fatalf("apply through a survivor right after the leader died: %v", err)
	}
	t.Logf("committed at index %d, %s after the leader died", res.GetIndex(), time.Since(start).Round(time.Millisecond))
	for _, m := range []*member{m2, m3} {
		if err := m.node.WaitApplied(ctxT(t), res.GetIndex()); err != nil {
			t.Fatal(err)
		}
		if mod, _ := m.node.Model(); mod.Segments["during"] == nil {
			t.Errorf("%s lacks the segment", m.node.ID())
		}
	}

	// One of two survivors dies: no quorum, no leader.
	m3.stop()
	short, cancel2 := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel2()
	_, err = m2.c.Apply(short, &p4ctlv1.ApplyRequest{File: "noquorum.yaml", Docs: []byte("kind: Segment\nname: nq\nid: 78\n")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "an election was in progress") {
		t.Errorf("apply without quorum: err = %v", err)
	}
}
