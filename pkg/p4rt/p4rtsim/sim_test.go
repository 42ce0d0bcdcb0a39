package p4rtsim_test

import (
	"context"
	"errors"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

const deviceID = 1

func startSim(t *testing.T, o p4rtsim.Options) (*p4rtsim.Server, grpc.DialOption) {
	o.DeviceID = deviceID
	return p4rttest.StartSim(t, o)
}

func embedded(t testing.TB) *pipeline.Pipeline { return p4rttest.Pipeline(t) }

func open(t testing.TB, dial grpc.DialOption, election uint64) (*p4rt.Session, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: deviceID, ElectionID: p4rt.ElectionID{Low: election}, DialOptions: []grpc.DialOption{dial}})
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

func mustOpen(t *testing.T, dial grpc.DialOption, election uint64) *p4rt.Session {
	t.Helper()
	s, err := open(t, dial, election)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func portEntry(t *testing.T, in *pipeline.Info, port uint64) *p4v1.TableEntry {
	t.Helper()
	U := pipeline.Uint
	e, err := in.NewEntry("ingress.ports").Exact("ingress_port", U(port)).
		Action("set_port", pipeline.P("segment", U(10)), pipeline.P("role", U(1)), pipeline.P("community", U(7)), pipeline.P("punt_arp", U(0))).Build()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func update(typ p4v1.Update_Type, e *p4v1.TableEntry) *p4v1.Update {
	return &p4v1.Update{Type: typ, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
}

func readTable(t *testing.T, s *p4rt.Session, tableID uint32) []*p4v1.TableEntry {
	t.Helper()
	var out []*p4v1.TableEntry
	err := s.Read(context.Background(), []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: tableID}}}},
		func(e *p4v1.Entity) error { out = append(out, e.GetTableEntry()); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestArbitrationHighestElectionIDIsPrimary(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{})
	p := embedded(t)
	first := mustOpen(t, dial, 10)
	if err := first.SetPipeline(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if _, err := open(t, dial, 5); !errors.Is(err, p4rt.ErrNotPrimary) {
		t.Fatalf("lower election id: err = %v, want ErrNotPrimary", err)
	}
	// A higher id takes over; the deposed primary's writes are fenced off.
	second := mustOpen(t, dial, 20)
	err := first.Write(context.Background(), update(p4v1.Update_INSERT, portEntry(t, p.Info, 1)))
	if status.Code(errors.Unwrap(err)) != codes.PermissionDenied {
		t.Fatalf("write from deposed primary: %v, want PERMISSION_DENIED", err)
	}
	if err := second.Write(context.Background(), update(p4v1.Update_INSERT, portEntry(t, p.Info, 1))); err != nil {
		t.Fatalf("write from new primary: %v", err)
	}
}

func TestDuplicateElectionIDRefused(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{})
	mustOpen(t, dial, 10)
	_, err := open(t, dial, 10)
	if err == nil {
		t.Fatal("second client with the same election id was accepted")
	}
	if !errorsHasCode(err, codes.InvalidArgument) {
		t.Fatalf("err = %v, want INVALID_ARGUMENT", err)
	}
}

func errorsHasCode(err error, c codes.Code) bool {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if s, ok := status.FromError(e); ok && s.Code() == c {
			return true
		}
	}
	return false
}

func TestWriteErrorsPerUpdate(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{TableSize: 3})
	p := embedded(t)
	s := mustOpen(t, dial, 1)
	ctx := context.Background()
	if err := s.Write(ctx, update(p4v1.Update_INSERT, portEntry(t, p.Info, 1))); err == nil ||
		!errorsHasCode(err, codes.FailedPrecondition) {
		t.Fatalf("write before pipeline: %v, want FAILED_PRECONDITION", err)
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	bad := portEntry(t, p.Info, 9)
	bad.Match[0].GetExact().Value = []byte{0x02, 0x00} // 512: wider than bit<9>
	err := s.Write(ctx,
		update(p4v1.Update_INSERT, portEntry(t, p.Info, 1)), // 0 ok
		update(p4v1.Update_INSERT, portEntry(t, p.Info, 1)), // 1 duplicate
		update(p4v1.Update_DELETE, portEntry(t, p.Info, 2)), // 2 missing
		update(p4v1.Update_INSERT, bad),                     // 3 too wide
		update(p4v1.Update_INSERT, portEntry(t, p.Info, 2)), // 4 ok
		update(p4v1.Update_INSERT, portEntry(t, p.Info, 3)), // 5 ok (table now full)
		update(p4v1.Update_INSERT, portEntry(t, p.Info, 4)), // 6 full
		update(p4v1.Update_MODIFY, portEntry(t, p.Info, 5)), // 7 missing
	)
	var we *p4rt.WriteError
	if !errors.As(err, &we) {
		t.Fatalf("err = %v, want *WriteError", err)
	}
	want := map[int]codes.Code{1: codes.AlreadyExists, 2: codes.NotFound, 3: codes.InvalidArgument, 6: codes.ResourceExhausted, 7: codes.NotFound}
	got := map[int]codes.Code{}
	for _, u := range we.Updates {
		got[u.Index] = u.Code
	}
	if len(got) != len(want) {
		t.Errorf("failed updates = %v, want %v", got, want)
	}
	for i, c := range want {
		if got[i] != c {
			t.Errorf("update %d: code %v, want %v", i, got[i], c)
		}
	}
	tbl, _ := p.Info.Table("ingress.ports")
	if n := len(readTable(t, s, tbl.ID)); n != 3 {
		t.Errorf("table holds %d entries after the batch, want 3 (updates 0, 4, 5)", n)
	}
}

func TestReadBackEqualsWritten(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{})
	p := embedded(t)
	s := mustOpen(t, dial, 1)
	ctx := context.Background()
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	U := pipeline.Uint
	pol, err := p.Info.NewEntry("ingress.dst_port_class").Exact("segment", U(1)).Exact("ip_proto", U(6)).
		Range("l4_dst_port", U(5432), U(5440)).Priority(1).Action("set_dst_port_class", pipeline.P("port_class", U(5432))).Build()
	if err != nil {
		t.Fatal(err)
	}
	// Written in a non-canonical form: the target stores the canonical one.
	raw := proto.Clone(portEntry(t, p.Info, 3)).(*p4v1.TableEntry)
	raw.Match[0].GetExact().Value = []byte{0, 0, 3}
	if err := s.Write(ctx, update(p4v1.Update_INSERT, pol), update(p4v1.Update_INSERT, raw)); err != nil {
		t.Fatal(err)
	}
	got := map[string]*p4v1.TableEntry{}
	for _, e := range readTable(t, s, 0) {
		got[pipeline.EntryKey(e)] = e
	}
	for _, want := range []*p4v1.TableEntry{pol, portEntry(t, p.Info, 3)} {
		e, ok := got[pipeline.EntryKey(want)]
		if !ok {
			t.Fatalf("entry missing from wildcard read: %v", want)
		}
		if !proto.Equal(e, want) {
			t.Errorf("read back %v\nwant %v", e, want)
		}
	}
	if len(got) != 2 {
		t.Errorf("wildcard read returned %d entries, want 2", len(got))
	}
}

func TestPipelineCookieAndReset(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{})
	p := embedded(t)
	s := mustOpen(t, dial, 1)
	ctx := context.Background()
	conn, err := grpc.NewClient(p4rttest.SimAddr, dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := p4v1.NewP4RuntimeClient(conn)
	if _, err := rt.GetForwardingPipelineConfig(ctx, &p4v1.GetForwardingPipelineConfigRequest{DeviceId: deviceID}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("get config before any: %v", err)
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	resp, err := rt.GetForwardingPipelineConfig(ctx, &p4v1.GetForwardingPipelineConfigRequest{DeviceId: deviceID,
		ResponseType: p4v1.GetForwardingPipelineConfigRequest_COOKIE_ONLY})
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetConfig().GetCookie().GetCookie() != p.Cookie || resp.GetConfig().GetP4Info() != nil {
		t.Errorf("COOKIE_ONLY answer: %v", resp.GetConfig())
	}
	if err := s.Write(ctx, update(p4v1.Update_INSERT, portEntry(t, p.Info, 1))); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	if n := len(readTable(t, s, 0)); n != 0 {
		t.Errorf("%d entries survived a pipeline commit", n)
	}
}

func TestPacketIO(t *testing.T) {
	outs := make(chan *p4v1.PacketOut, 1)
	sim, dial := startSim(t, p4rtsim.Options{OnPacketOut: func(p *p4v1.PacketOut) { outs <- p }})
	s := mustOpen(t, dial, 1)
	if !sim.InjectPacketIn(&p4v1.PacketIn{Payload: []byte("hello")}) {
		t.Fatal("no primary to receive the packet-in")
	}
	select {
	case pin := <-s.PacketIn():
		if string(pin.GetPayload()) != "hello" {
			t.Errorf("packet-in payload %q", pin.GetPayload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("packet-in not delivered")
	}
	if err := s.PacketOut([]byte("out")); err != nil {
		t.Fatal(err)
	}
	select {
	case po := <-outs:
		if string(po.GetPayload()) != "out" {
			t.Errorf("packet-out payload %q", po.GetPayload())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("packet-out not seen by the target")
	}
}
