package bmv2tests

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"sync/atomic"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/internal/frametest"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// The scenario every case runs against. Segment 10 is default-deny with
// PVLAN roles on ports 1-6; segment 20 is default-allow on port 8; port 7 is
// not configured at all.
var (
	hA = host{Name: "A", Port: 1, MAC: frametest.MustMAC("02:00:00:00:00:01"), IP4: netip.MustParseAddr("10.0.0.1"), IP6: netip.MustParseAddr("2001:db8::1")}
	hB = host{Name: "B", Port: 2, MAC: frametest.MustMAC("02:00:00:00:00:02"), IP4: netip.MustParseAddr("10.0.0.2"), IP6: netip.MustParseAddr("2001:db8::2")}
	hC = host{Name: "C", Port: 3, MAC: frametest.MustMAC("02:00:00:00:00:03"), IP4: netip.MustParseAddr("10.0.0.3"), IP6: netip.MustParseAddr("2001:db8::3")}
	hD = host{Name: "D", Port: 4, MAC: frametest.MustMAC("02:00:00:00:00:04"), IP4: netip.MustParseAddr("10.0.0.4"), IP6: netip.MustParseAddr("2001:db8::4")}
	hE = host{Name: "E", Port: 5, MAC: frametest.MustMAC("02:00:00:00:00:05"), IP4: netip.MustParseAddr("10.0.0.5"), IP6: netip.MustParseAddr("2001:db8::5")}
	hF = host{Name: "F", Port: 6, MAC: frametest.MustMAC("02:00:00:00:00:06"), IP4: netip.MustParseAddr("10.0.0.6"), IP6: netip.MustParseAddr("2001:db8::6")}
	hG = host{Name: "G", Port: 7, MAC: frametest.MustMAC("02:00:00:00:00:07"), IP4: netip.MustParseAddr("10.0.0.7"), IP6: netip.MustParseAddr("2001:db8::7")}
	hH = host{Name: "H", Port: 8, MAC: frametest.MustMAC("02:00:00:00:00:08"), IP4: netip.MustParseAddr("10.0.20.8"), IP6: netip.MustParseAddr("2001:db8:20::8")}
)

const (
	roleIsolated    = 0
	roleCommunity   = 1
	rolePromiscuous = 2

	identityWeb   = 1
	identityDB    = 2
	identityOther = 3
	identityH     = 4
)

type portCfg struct {
	h         host
	segment   uint64
	role      uint64
	community uint64
	identity  uint64
}

var scenarioPorts = []portCfg{
	{hA, 10, roleIsolated, 0, identityWeb},
	{hB, 10, roleIsolated, 0, identityWeb},
	{hC, 10, rolePromiscuous, 0, identityDB},
	{hD, 10, roleCommunity, 100, identityOther},
	{hE, 10, roleCommunity, 100, identityOther},
	{hF, 10, roleCommunity, 200, identityOther},
	{hH, 20, rolePromiscuous, 0, identityH},
}

// env is the one switch the cases share, programmed once.
var env struct {
	skip     string
	sw       *Switch
	sess     *p4rt.Session
	pipe     *pipeline.Pipeline
	pg5432   *p4v1.TableEntry // policy entry web -> db tcp/5432
	started  time.Time
	tokenSeq atomic.Uint64
}

func TestMain(m *testing.M) {
	env.skip = Prerequisites()
	if env.skip != "" {
		fmt.Fprintf(os.Stderr, "bmv2-tests: SKIPPING the BMv2 tier: %s\n", env.skip)
		os.Exit(m.Run())
	}
	env.started = time.Now()
	code, err := runWithSwitch(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bmv2-tests: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "bmv2-tests: BMv2 tier took %s\n", time.Since(env.started).Round(time.Millisecond))
	os.Exit(code)
}

func runWithSwitch(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		return 0, err
	}
	env.pipe = p
	sw, err := Start(ctx, Config{Ports: []uint32{1, 2, 3, 4, 5, 6, 7, 8}})
	if err != nil {
		return 0, fmt.Errorf("start switch: %w", err)
	}
	defer sw.Stop()
	env.sw = sw
	sess, err := sw.Open(ctx, p4rt.ElectionID{Low: 1})
	if err != nil {
		return 0, fmt.Errorf("open session: %w", err)
	}
	defer sess.Close()
	env.sess = sess
	if err := sess.SetPipeline(ctx, p); err != nil {
		return 0, fmt.Errorf("push pipeline: %w\nswitch log:\n%s", err, sw.LogTail(2000))
	}
	if err := programScenario(ctx, sess, p.Info); err != nil {
		return 0, fmt.Errorf("program scenario: %w", err)
	}
	return m.Run(), nil
}

func requireBMv2(t *testing.T) {
	t.Helper()
	if env.skip != "" {
		t.Skip("BMv2 tier skipped: " + env.skip)
	}
}

func insert(e *p4v1.TableEntry) *p4v1.Update {
	return &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}
}

func programScenario(ctx context.Context, s *p4rt.Session, in *pipeline.Info) error {
	U := pipeline.Uint
	var ups []*p4v1.Update
	var errs []error
	add := func(b *pipeline.EntryBuilder) *p4v1.TableEntry {
		e, err := b.Build()
		if err != nil {
			errs = append(errs, err)
			return nil
		}
		ups = append(ups, insert(e))
		return e
	}
	// Multicast groups first: the segments refer to them.
	groups := map[uint64][]uint32{}
	for _, pc := range scenarioPorts {
		groups[pc.segment] = append(groups[pc.segment], pc.h.Port)
	}
	var pre []*p4v1.Update
	for seg, ports := range groups {
		g := &p4v1.MulticastGroupEntry{MulticastGroupId: uint32(seg)}
		for _, p := range ports {
			g.Replicas = append(g.Replicas, pipeline.Replica(p))
		}
		pre = append(pre, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_PacketReplicationEngineEntry{
			PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{MulticastGroupEntry: g}},
		}}})
	}
	if err := s.Write(ctx, pre...); err != nil {
		return fmt.Errorf("multicast groups: %w", err)
	}

	add(in.NewEntry("ingress.segments").Exact("segment", U(10)).
		Action("set_segment", pipeline.P("default_allow", U(0)), pipeline.P("flood_group", U(10))))
	add(in.NewEntry("ingress.segments").Exact("segment", U(20)).
		Action("set_segment", pipeline.P("default_allow", U(1)), pipeline.P("flood_group", U(20))))
	for _, pc := range scenarioPorts {
		h := pc.h
		add(in.NewEntry("ingress.ports").Exact("ingress_port", U(uint64(h.Port))).
			Action("set_port", pipeline.P("segment", U(pc.segment)), pipeline.P("role", U(pc.role)),
				pipeline.P("community", U(pc.community)), pipeline.P("punt_arp", U(0))))
		add(in.NewEntry("egress.ports").Exact("egress_port", U(uint64(h.Port))).
			Action("set_egress_port", pipeline.P("segment", U(pc.segment)), pipeline.P("role", U(pc.role)),
				pipeline.P("community", U(pc.community)), pipeline.P("tagged", U(0)), pipeline.P("port", U(uint64(h.Port)))))
		add(in.NewEntry("ingress.src_identity_v4").Exact("ingress_port", U(uint64(h.Port))).
			Exact("src_mac", h.MAC).Exact("src_ip", h.IP4.AsSlice()).
			Action("set_src_identity", pipeline.P("identity", U(pc.identity))))
		add(in.NewEntry("ingress.src_identity_v6").Exact("ingress_port", U(uint64(h.Port))).
			Exact("src_mac", h.MAC).Exact("src_ip", h.IP6.AsSlice()).
			Action("set_src_identity", pipeline.P("identity", U(pc.identity))))
		add(in.NewEntry("ingress.dst_identity_v4").Exact("segment", U(pc.segment)).LPM("dst_ip", h.IP4.AsSlice(), 32).
			Action("set_dst_identity", pipeline.P("identity", U(pc.identity))))
		add(in.NewEntry("ingress.dst_identity_v6").Exact("segment", U(pc.segment)).LPM("dst_ip", h.IP6.AsSlice(), 128).
			Action("set_dst_identity", pipeline.P("identity", U(pc.identity))))
		add(in.NewEntry("ingress.l2").Exact("segment", U(pc.segment)).Exact("dst_mac", h.MAC).
			Action("forward", pipeline.P("port", U(uint64(h.Port)))))
	}
	full := []byte{0xff}
	// Any UDP between any hosts, by the ACL (which decides before the
	// identity policy): lets the PVLAN cases isolate the role checks from
	// the policy.
	for _, fam := range []string{"v4", "v6"} {
		add(in.NewEntry("ingress.acl_"+fam).Ternary("ip_proto", U(17), full).Priority(10).Action("acl_allow"))
	}
	// web -> db tcp/5432 and its reply (source port 5432 with ACK).
	rank := pipeline.P("rank", U(1614))
	env.pg5432 = add(in.NewEntry("ingress.policy_port").Exact("src_identity", U(identityWeb)).Exact("dst_identity", U(identityDB)).
		Exact("ip_proto", U(6)).Exact("l4_dst_port", U(5432)).Action("policy_port_allow", rank))
	add(in.NewEntry("ingress.reply_port").Exact("src_identity", U(identityDB)).Exact("dst_identity", U(identityWeb)).
		Exact("ip_proto", U(6)).Exact("l4_src_port", U(5432)).Exact("tcp_ack", U(1)).Action("reply_port_allow", rank))
	if len(errs) > 0 {
		return errs[0]
	}
	if err := s.Write(ctx, ups...); err != nil {
		return err
	}
	return nil
}

func token(t *testing.T) string {
	return fmt.Sprintf("p4ctl:%s:%d", t.Name(), env.tokenSeq.Add(1))
}

// send transmits frame into the switch on port.
func send(t *testing.T, port uint32, frame []byte) {
	t.Helper()
	if err := env.sw.Ports[port].Send(frame); err != nil {
		t.Fatal(err)
	}
}

// Timing of delivery checks. A frame that should arrive has deliverWithin;
// once every expected copy is in, the case watches a further quietWindow
// for copies that should not exist. A drop cannot be observed any other way
// than as an absence over a window.
const (
	deliverWithin = 5 * time.Second
	quietWindow   = 400 * time.Millisecond
)

// expectDelivery asserts that the frames carrying tok leave the switch on
// exactly the ports want, once each (none: dropped everywhere).
func expectDelivery(t *testing.T, tok string, want ...uint32) {
	t.Helper()
	frametest.ExpectDelivery(t, env.sw.Frames(), tok, deliverWithin, quietWindow, want...)
}

// expectPacketIn waits for the packet-in carrying tok and returns its
// ingress_port metadata.
func expectPacketIn(t *testing.T, tok string) uint64 {
	t.Helper()
	md, ok := env.pipe.Info.PacketMetadata("packet_in")
	if !ok {
		t.Fatal("pipeline has no packet_in header")
	}
	meta, ok := frametest.AwaitPacketIn(t, env.sess.PacketIn(), md, tok, deliverWithin)
	if !ok {
		t.Fatalf("no packet-in carrying %q within %s", tok, deliverWithin)
	}
	v, ok := meta["ingress_port"]
	if !ok {
		t.Fatalf("packet-in carrying %q without ingress_port metadata: %v", tok, meta)
	}
	return v
}

func udp(src, dst host) flow {
	return flow{Src: src, Dst: dst, Proto: 17, SPort: 40000, DPort: 9}
}
