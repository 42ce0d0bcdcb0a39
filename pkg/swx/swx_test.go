package swx_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/swx"
)

func dpdkPipeline(t *testing.T) *pipeline.Pipeline {
	t.Helper()
	p, err := pipeline.Embedded("dpdk")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseEmbedded(t *testing.T) {
	p := dpdkPipeline(t)
	prog, err := swx.Parse(p.Info, p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range p.Info.Tables() {
		st, ok := prog.Table(tb.ID)
		if !ok {
			t.Fatalf("table %s not mapped", tb.Name)
		}
		if tb.DirectCounterID != 0 && (st.Counter == nil || !st.Exact) {
			t.Errorf("table %s: counter %v, exact %v", tb.Name, st.Counter, st.Exact)
		}
	}
	eg, _ := p.Info.Table("egress.ports")
	st, _ := prog.Table(eg.ID)
	act, _ := p.Info.Action("set_egress_port")
	if got := st.Actions[act.ID].OutputPort; len(got) != 1 || got[0] != "port" {
		t.Errorf("set_egress_port's output port params = %v, want [port]", got)
	}
}

func TestLines(t *testing.T) {
	p := dpdkPipeline(t)
	prog, err := swx.Parse(p.Info, p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	in := p.Info
	U := pipeline.Uint
	cases := []struct {
		b    *pipeline.EntryBuilder
		want string
	}{
		{in.NewEntry("ingress.policy_port").Exact("src_identity", U(1)).Exact("dst_identity", U(2)).Exact("ip_proto", U(6)).
			Exact("l4_dst_port", U(5432)).Action("policy_port_allow", pipeline.P("rank", U(1614))),
			"match 0x1 0x2 0x6 0x1538 action _policy_port_allow_0 rank 0x64e"},
		{in.NewEntry("ingress.acl_v4").Ternary("segment", U(10), U(0xffff)).Ternary("ip_proto", U(6), U(0xff)).
			Ternary("l4_dst_port", U(5432), U(0xffff)).Priority(100).Action("acl_allow"),
			"priority 536870811 action _acl_allow_0"},
		{in.NewEntry("ingress.dst_port_class").Exact("segment", U(10)).Exact("ip_proto", U(6)).
			Range("l4_dst_port", U(8000), U(8015)).Priority(1).Action("set_dst_port_class", pipeline.P("port_class", U(8000))),
			"0x1f40/0xfff0"},
	}
	for _, c := range cases {
		e, err := c.b.Build()
		if err != nil {
			t.Fatal(err)
		}
		tb, _ := prog.Table(e.TableId)
		line, err := tb.Line(e, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(line, c.want) {
			t.Errorf("line %q, want it to hold %q", line, c.want)
		}
	}
	// A range that is no aligned block is refused, naming the field.
	e, err := in.NewEntry("ingress.dst_port_class").Exact("segment", U(10)).Exact("ip_proto", U(6)).
		Range("l4_dst_port", U(8000), U(8080)).Priority(1).Action("set_dst_port_class", pipeline.P("port_class", U(8000))).Build()
	if err != nil {
		t.Fatal(err)
	}
	tb, _ := prog.Table(e.TableId)
	if _, err := tb.Line(e, nil); err == nil || !strings.Contains(err.Error(), "l4_dst_port") {
		t.Errorf("unaligned range: err = %v", err)
	}
}

func start(t *testing.T, dp swx.Dataplane) (*p4rtsim.Server, grpc.DialOption) {
	t.Helper()
	return p4rttest.StartSim(t, p4rtsim.Options{Backend: swx.NewBackend(dp, nil), NoReconcile: true})
}

// TestConformance runs the P4Runtime conformance suite against the
// server with the SWX backend over a fake data plane (the DPDK tier runs
// it over the real one).
func TestConformance(t *testing.T) {
	_, dial := start(t, newFake(1, 2, 3, 255))
	p4rttest.Run(t, p4rttest.Target{Addr: p4rttest.SimAddr, DeviceID: 1, DialOptions: []grpc.DialOption{dial},
		Pipeline: dpdkPipeline(t), NoReconcile: true, Rebuild: swx.Rebuild})
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	return c
}

func update(typ p4v1.Update_Type, e *p4v1.TableEntry) *p4v1.Update {
	return &p4v1.Update{Type: typ, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
}

// TestBadInput: a spec the pipeline refuses, a P4Info that does not
// match, a port the device lacks: clear errors, the running pipeline
// untouched.
func TestBadInput(t *testing.T) {
	dp := newFake(1, 2, 255)
	_, dial := start(t, dp)
	p := dpdkPipeline(t)
	s, err := p4rt.Open(ctx(t), p4rttest.SimAddr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1}, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetPipeline(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	running := dp.running
	in := p.Info
	U := pipeline.Uint
	eg, err := in.NewEntry("egress.ports").Exact("egress_port", U(2)).Action("set_egress_port",
		pipeline.P("port", U(2)), pipeline.P("segment", U(1)), pipeline.P("role", U(0)), pipeline.P("community", U(0)), pipeline.P("tagged", U(0))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx(t), update(p4v1.Update_INSERT, eg)); err != nil {
		t.Fatal(err)
	}

	// A spec the pipeline refuses.
	a, err := pipeline.UnpackBfrt(p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	a.Profiles[0].Binary = append([]byte("REFUSE\n"), a.Profiles[0].Binary...)
	bad, err := a.Pack(pipeline.FormatBfrt)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SetPipeline(ctx(t), &pipeline.Pipeline{Target: p.Target, Info: in, DeviceConfig: bad, Cookie: 7})
	if !p4rttest.HasCode(err, codes.InvalidArgument) || !strings.Contains(err.Error(), "refuses the spec") {
		t.Errorf("refused spec: err = %v", err)
	}
	// A P4Info that does not match the spec: a parameter the spec's
	// action lacks.
	p4i := proto.Clone(in.P4Info).(*p4cfg.P4Info)
	for _, a := range p4i.GetActions() {
		if a.GetPreamble().GetName() == "set_egress_port" {
			a.Params = append(a.Params, &p4cfg.Action_Param{Id: 99, Name: "vlan", Bitwidth: 12})
		}
	}
	other, err := pipeline.NewInfo(p4i)
	if err != nil {
		t.Fatal(err)
	}
	err = s.SetPipeline(ctx(t), &pipeline.Pipeline{Target: p.Target, Info: other, DeviceConfig: p.DeviceConfig, Cookie: 8})
	if !p4rttest.HasCode(err, codes.InvalidArgument) || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("mismatched P4Info: err = %v", err)
	}
	if dp.running != running {
		t.Fatal("a refused pipeline replaced the running one")
	}
	if n := len(dp.entries("_egress_ports")); n != 1 {
		t.Errorf("after refused pushes egress.ports holds %d entries, want 1", n)
	}

	// A port the device lacks, a value too wide, an unknown table: each
	// its own update's error, the others applied.
	eg7 := pipeline.NormalizeEntry(eg)
	eg7.Match[0].GetExact().Value = []byte{7}
	sep, _ := in.Action("set_egress_port")
	portParam, _ := sep.Param("port")
	for _, pm := range eg7.GetAction().GetAction().GetParams() {
		if pm.GetParamId() == portParam.ID {
			pm.Value = []byte{7}
		}
	}
	wide := pipeline.NormalizeEntry(eg)
	wide.Match[0].GetExact().Value = []byte{1, 0, 0, 0, 0}
	unknown := pipeline.NormalizeEntry(eg)
	unknown.TableId = 12345
	eg1 := pipeline.NormalizeEntry(eg)
	eg1.Match[0].GetExact().Value = []byte{1}
	err = s.Write(ctx(t), update(p4v1.Update_INSERT, eg7), update(p4v1.Update_INSERT, wide), update(p4v1.Update_INSERT, unknown), update(p4v1.Update_INSERT, eg1))
	var we *p4rt.WriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want a WriteError", err)
	}
	got := map[int]string{}
	for _, u := range we.Updates {
		got[u.Index] = u.Code.String() + ": " + u.Message
	}
	if !strings.Contains(got[0], "InvalidArgument") || !strings.Contains(got[0], "port 7 does not exist") {
		t.Errorf("missing port: %q", got[0])
	}
	if !strings.Contains(got[1], "InvalidArgument") {
		t.Errorf("value too wide: %q", got[1])
	}
	if !strings.Contains(got[2], "NotFound") || !strings.Contains(got[2], "unknown table") {
		t.Errorf("unknown table: %q", got[2])
	}
	if _, ok := got[3]; ok || len(dp.entries("_egress_ports")) != 2 {
		t.Errorf("the good update: %q, entries %d", got[3], len(dp.entries("_egress_ports")))
	}

	// A commit the pipeline refuses fails every staged update and leaves
	// the store as the pipeline is.
	eg2 := pipeline.NormalizeEntry(eg)
	eg2.Match[0].GetExact().Value = []byte{9}
	dp.failCommit = true
	del := pipeline.NormalizeEntry(eg1)
	err = s.Write(ctx(t), update(p4v1.Update_INSERT, eg2), update(p4v1.Update_DELETE, del))
	if !errors.As(err, &we) || len(we.Updates) != 2 {
		t.Fatalf("refused commit: err = %v", err)
	}
	var n int
	err = s.Read(ctx(t), []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: eg.TableId}}}},
		func(*p4v1.Entity) error { n++; return nil })
	if err != nil || n != 2 || len(dp.entries("_egress_ports")) != 2 {
		t.Errorf("after a refused commit: read %d entries (%v), pipeline %d; want 2 and 2", n, err, len(dp.entries("_egress_ports")))
	}
}

// TestDirectCounters: a counted entry's counter is its registers at its
// entry id, reset when the entry is inserted, set by a write.
func TestDirectCounters(t *testing.T) {
	dp := newFake(1, 255)
	_, dial := start(t, dp)
	p := dpdkPipeline(t)
	s, err := p4rt.Open(ctx(t), p4rttest.SimAddr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1}, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.SetPipeline(ctx(t), p); err != nil {
		t.Fatal(err)
	}
	in := p.Info
	U := pipeline.Uint
	e, err := in.NewEntry("ingress.policy_port").Exact("src_identity", U(1)).Exact("dst_identity", U(2)).Exact("ip_proto", U(6)).
		Exact("l4_dst_port", U(80)).Action("policy_port_allow", pipeline.P("rank", U(5))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx(t), update(p4v1.Update_INSERT, e)); err != nil {
		t.Fatal(err)
	}
	read := func() (int64, int64) {
		var pk, by int64
		err := s.Read(ctx(t), []*p4v1.Entity{{Entity: &p4v1.Entity_DirectCounterEntry{DirectCounterEntry: &p4v1.DirectCounterEntry{TableEntry: &p4v1.TableEntry{TableId: e.TableId}}}}},
			func(x *p4v1.Entity) error {
				pk, by = x.GetDirectCounterEntry().GetData().GetPacketCount(), x.GetDirectCounterEntry().GetData().GetByteCount()
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return pk, by
	}
	if pk, by := read(); pk != 0 || by != 0 {
		t.Errorf("new entry's counter %d/%d, want 0/0", pk, by)
	}
	id, err := dp.running.EntryID("_ingress_policy_port", "match 0x1 0x2 0x6 0x50")
	if err != nil {
		t.Fatal(err)
	}
	_ = dp.running.RegWrite("_ingress_policy_port_counter_packets", id, 3)
	_ = dp.running.RegWrite("_ingress_policy_port_counter_bytes", id, 300)
	if pk, by := read(); pk != 3 || by != 300 {
		t.Errorf("counter %d/%d, want 3/300", pk, by)
	}
	// A deleted entry's cells are zeroed: the next entry with its id
	// starts at zero.
	if err := s.Write(ctx(t), update(p4v1.Update_DELETE, e)); err != nil {
		t.Fatal(err)
	}
	if v := dp.running.regs["_ingress_policy_port_counter_packets"][id]; v != 0 {
		t.Errorf("deleted entry's packet cell %d, want 0", v)
	}
}
