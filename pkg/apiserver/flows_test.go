package apiserver

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"context"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func recvFlows(t *testing.T, c p4ctlv1.ControllerClient, req *p4ctlv1.FlowsRequest) ([]*p4ctlv1.FlowRecord, error) {
	t.Helper()
	st, err := c.Flows(ctxT(t), req)
	if err != nil {
		return nil, err
	}
	var out []*p4ctlv1.FlowRecord
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, r)
	}
}

// TestFlowsAPI: over gRPC, the flow log from reports the simulated
// switch sends: records and filters, bad filters refused, the impact of
// a change on the observed flows, a staged policy's hits (and no write
// to the device), the device's flow log status.
func TestFlowsAPI(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	simCtx, simStop := context.WithCancel(context.Background())
	defer simStop()
	sim := p4rtsim.New(p4rtsim.Options{DeviceID: 1})
	go sim.Serve(simCtx, lis)
	m := startMember(t, "n1", true)
	until(t, "n1 leads", m.node.IsLeader)
	if err := m.node.SetAPIAddr(ctxT(t), "n1", m.api); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	docs := strings.Replace(string(b), "address: 127.0.0.1:9559", "address: "+lis.Addr().String(), 1)
	if _, err := m.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "example.yaml", Docs: []byte(docs)}); err != nil {
		t.Fatal(err)
	}
	until(t, "leaf1's flow log on", func() bool {
		r, err := m.c.Devices(ctxT(t), &p4ctlv1.DevicesRequest{})
		for _, d := range r.GetDevices() {
			if d.GetName() == "leaf1" && d.GetFlowLog() == "on" && d.GetInSync() {
				return err == nil
			}
		}
		return false
	})
	p, _ := pipeline.Embedded("bmv2")
	fd, _ := p.Info.Digest(controller.FlowDigest)
	dd, _ := p.Info.Digest(controller.DenialDigest)
	inject := func(d *pipeline.Digest, src, dst string, dport uint64, by string) {
		t.Helper()
		vals := map[string][]byte{"segment": pipeline.Uint(10), "ingress_port": pipeline.Uint(1), "ip_version": pipeline.Uint(4),
			"ip_proto": pipeline.Uint(6), "l4_src": pipeline.Uint(40000), "l4_dst": pipeline.Uint(dport), by: pipeline.Uint(2),
			"src_addr": netip.MustParseAddr(src).AsSlice(), "dst_addr": netip.MustParseAddr(dst).AsSlice()}
		data, err := d.Encode(vals)
		if err != nil {
			t.Fatal(err)
		}
		if !sim.InjectDigest(d.ID, data) {
			t.Fatal("digest not sent")
		}
	}
	inject(fd, "10.0.0.1", "10.0.0.3", 8080, "decided_by")
	inject(fd, "10.0.0.2", "10.0.0.3", 8080, "decided_by")
	inject(fd, "10.0.0.3", "10.0.0.4", 5432, "decided_by")
	inject(dd, "10.0.0.1", "10.0.0.4", 5432, "denied_by")
	until(t, "4 flows", func() bool {
		rs, err := recvFlows(t, m.c, &p4ctlv1.FlowsRequest{})
		return err == nil && len(rs) == 4
	})
	for _, tc := range []struct {
		name string
		req  *p4ctlv1.FlowsRequest
		n    int
		code codes.Code
		msg  string
	}{
		{"from web", &p4ctlv1.FlowsRequest{From: "tier: web"}, 3, codes.OK, ""},
		{"web to app", &p4ctlv1.FlowsRequest{From: "tier: web", To: "tier in (app)"}, 2, codes.OK, ""},
		{"deny", &p4ctlv1.FlowsRequest{Verdict: "deny"}, 1, codes.OK, ""},
		{"policy", &p4ctlv1.FlowsRequest{Policy: "app-to-db"}, 1, codes.OK, ""},
		{"local", &p4ctlv1.FlowsRequest{Local: true, Device: "leaf1"}, 4, codes.OK, ""},
		{"bad selector", &p4ctlv1.FlowsRequest{From: "tier in (web"}, 0, codes.InvalidArgument, "from selector"},
		{"bad verdict", &p4ctlv1.FlowsRequest{Verdict: "maybe"}, 0, codes.InvalidArgument, "want allow or deny"},
		{"future", &p4ctlv1.FlowsRequest{SinceUnixMs: time.Now().Add(time.Hour).UnixMilli()}, 0, codes.InvalidArgument, "in the future"},
	} {
		rs, err := recvFlows(t, m.c, tc.req)
		if status.Code(err) != tc.code || tc.msg != "" && !strings.Contains(err.Error(), tc.msg) || err == nil && len(rs) != tc.n {
			t.Errorf("%s: %d records, %v", tc.name, len(rs), err)
		}
	}

	// Impact: denying web -> app on 8080 denies two observed flows, one
	// identity pair and port.
	deny := "kind: Policy\nname: web-lockdown\nsegment: prod\npriority: 300\nfrom: \"tier: web\"\nto: \"tier: app\"\nrules:\n  - {proto: tcp, ports: [8080], action: deny}\n"
	imp, err := m.c.FlowImpact(ctxT(t), &p4ctlv1.FlowImpactRequest{Files: []*p4ctlv1.SourceFile{{Name: "deny.yaml", Docs: []byte(deny)}}})
	if err != nil {
		t.Fatal(err)
	}
	if imp.GetNewlyDenied() != 2 || len(imp.GetChanges()) != 1 || imp.GetChanges()[0].GetFlows() != 2 || imp.GetChanges()[0].GetAfterPolicy() != "web-lockdown" ||
		imp.GetChanges()[0].GetFrom() != "app=shop,tier=web" || imp.GetChanges()[0].GetBeforePolicy() != "web-to-app" {
		t.Errorf("impact %v", imp)
	}
	if _, err := m.c.FlowImpact(ctxT(t), &p4ctlv1.FlowImpactRequest{Files: []*p4ctlv1.SourceFile{{Name: "bad.yaml", Docs: []byte("kind: Policy\nname: x\n")}}}); status.Code(err) != codes.InvalidArgument {
		t.Errorf("impact of a bad file: %v", err)
	}

	// Staged: no write reaches the device; its hits are counted.
	writes := sim.Writes()
	staged := strings.Replace(deny, "priority: 300\n", "priority: 300\nmode: staged\n", 1)
	if _, err := m.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "staged.yaml", Docs: []byte(staged)}); err != nil {
		t.Fatal(err)
	}
	// The answering node judges on the model its controller compiled,
	// which follows the commit.
	var hits *p4ctlv1.StagedHitsResponse
	until(t, "staged hits", func() bool {
		hits, err = m.c.StagedHits(ctxT(t), &p4ctlv1.StagedHitsRequest{})
		return err == nil && len(hits.GetPolicies()) == 1 && hits.GetPolicies()[0].GetFlows() == 2
	})
	if hits.GetPolicies()[0].GetChanged() != 2 {
		t.Errorf("staged hits %v", hits)
	}
	rs, err := recvFlows(t, m.c, &p4ctlv1.FlowsRequest{StagedOnly: true})
	if err != nil || len(rs) != 2 || rs[0].GetStagedVerdict() != "deny" || rs[0].GetVerdict() != "allow" || rs[0].GetStagedPolicy() != "web-lockdown" {
		t.Errorf("staged-only flows %v %v", rs, err)
	}
	time.Sleep(300 * time.Millisecond)
	if w := sim.Writes(); w != writes {
		t.Errorf("a staged policy wrote to the device: %d writes, %d before", w, writes)
	}
	// A staged policy over an enforced one: refused.
	_, err = m.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "bad.yaml", Docs: []byte(strings.Replace(staged, "web-lockdown", "web-to-app", 1))})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "is enforced") {
		t.Errorf("staged over enforced: %v", err)
	}
}
