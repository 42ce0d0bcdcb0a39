package swxtests

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/internal/frametest"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/swx"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// packetIn waits for the packet-in carrying tok and returns its
// metadata; ok is false when none came.
func packetIn(t *testing.T, tok string, wait time.Duration) (map[string]uint64, bool) {
	t.Helper()
	md, _ := env.pipe.Info.PacketMetadata("packet_in")
	return frametest.AwaitPacketIn(t, env.sess.PacketIn(), md, tok, wait)
}

// TestLLDPPunted: LLDP reaches the controller with its ingress port, from
// a configured port and from one nobody configured, and goes nowhere else.
func TestLLDPPunted(t *testing.T) {
	requireDPDK(t)
	for _, port := range []uint32{4, 7} {
		tok := token(t)
		send(t, port, frametest.LLDP(frametest.MustMAC("02:00:00:00:00:44"), tok))
		md, ok := packetIn(t, tok, 5*time.Second)
		if !ok || md["ingress_port"] != uint64(port) {
			t.Errorf("LLDP from port %d: packet-in %v (%v), want ingress_port %d", port, md, ok, port)
		}
		expectDelivery(t, tok)
	}
}

// TestPuntVerdict: a punt rule's flow reaches the controller.
func TestPuntVerdict(t *testing.T) {
	requireDPDK(t)
	b1, db := h(t, "batch-1"), h(t, "db-1")
	tok := token(t)
	send(t, b1.Port, tcp(b1, db, 40000, 22, true, false).WithToken(tok).Frame(t))
	md, ok := packetIn(t, tok, 5*time.Second)
	if !ok || md["ingress_port"] != uint64(b1.Port) || md["_pad"] != 0 {
		t.Errorf("punted flow: packet-in %v (%v), want ingress_port %d and no denial mark", md, ok, b1.Port)
	}
	expectDelivery(t, tok)
}

// TestPacketOut: a packet-out leaves the port it names.
func TestPacketOut(t *testing.T) {
	requireDPDK(t)
	md, _ := env.pipe.Info.PacketMetadata("packet_out")
	meta, err := md.EncodeMetadata(map[string]uint64{"egress_port": 5})
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t)
	if err := env.sess.PacketOut(udp(h(t, "web-1"), h(t, "web-2"), 9).WithToken(tok).Frame(t), meta...); err != nil {
		t.Fatal(err)
	}
	expectDelivery(t, tok, 5)
}

// TestDenialsReachController: a denied frame reaches the controller as a
// packet-in marked with the reason, once per flow and epoch.
func TestDenialsReachController(t *testing.T) {
	requireDPDK(t)
	web, app := h(t, "web-1"), h(t, "app-1")
	// No policy: prod's default deny. A destination port no other case
	// uses: the server reports a flow once per epoch, whoever sent it.
	f := tcp(web, app, 41234, 30000+uint16(time.Now().UnixNano()%1000), true, false)
	tok := token(t)
	epoch := time.Now().UnixMicro() >> 23 // the server's epoch of the first report (or the one after)
	send(t, web.Port, f.WithToken(tok).Frame(t))
	md, ok := packetIn(t, tok, 5*time.Second)
	if !ok {
		t.Fatal("no packet-in for a denied flow")
	}
	if md["ingress_port"] != uint64(web.Port) || md["_pad"]&swx.DenialReport == 0 || md["_pad"]&^swx.DenialReport != 3 {
		t.Errorf("denial report %v, want ingress_port %d and _pad 0x%x (DENIED_BY_DEFAULT)", md, web.Port, swx.DenialReport|3)
	}
	expectDelivery(t, tok)
	// The same flow again within the epoch is not reported (the flow limit
	// of the v1model main, kept by the server).
	// Only where the first report and this one (with a second's wait for
	// it) fall in one epoch: across a boundary a second report is due.
	if time.Now().Add(2*time.Second).UnixMicro()>>23 == epoch {
		tok2 := token(t)
		send(t, web.Port, f.WithToken(tok2).Frame(t))
		if md, ok := packetIn(t, tok2, time.Second); ok {
			t.Errorf("the same denied flow was reported twice in one epoch: %v", md)
		}
	}
	// A deny rule's denial carries DENIED_BY_POLICY.
	b1, db := h(t, "batch-1"), h(t, "db-1")
	tok = token(t)
	send(t, b1.Port, tcp(b1, db, 41235, 9000+uint16(time.Now().UnixNano()%100), true, false).WithToken(tok).Frame(t))
	md, ok = packetIn(t, tok, 5*time.Second)
	if !ok || md["_pad"] != swx.DenialReport|2 {
		t.Errorf("deny rule: report %v (%v), want _pad 0x%x (DENIED_BY_POLICY)", md, ok, swx.DenialReport|2)
	}
}

// traced is what trace says of a flow entering on port in.
func traced(t *testing.T, f flow, in uint32) *policy.TraceResult {
	t.Helper()
	src, dst := f.Src.IP4, f.Dst.IP4
	if f.V6 {
		src, dst = f.Src.IP6, f.Dst.IP6
	}
	if f.SrcIP.IsValid() {
		src = f.SrcIP
	}
	proto := policy.ProtoUDP
	if f.Proto == layers.IPProtocolTCP {
		proto = policy.ProtoTCP
	}
	p := policy.Packet{InPort: in, SrcMAC: f.Src.MAC, DstMAC: f.Dst.MAC, Src: src, Dst: dst, Proto: proto, SPort: f.SPort, DPort: f.DPort}
	if f.SYN {
		p.TCPFlags |= 0x02
	}
	if f.ACK {
		p.TCPFlags |= 0x10
	}
	r, err := env.comp.Trace(device, p)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestACL: the dns policy is an infrastructure ACL rule (CIDR side): DNS
// to the resolver is allowed at the ACL, anything else to it is not.
func TestACL(t *testing.T) {
	requireDPDK(t)
	web, app := h(t, "web-1"), h(t, "app-1")
	resolver := app // the resolver's address behind app-1's port and MAC
	resolver.IP4 = netip.MustParseAddr("192.0.2.53")
	for _, c := range []struct {
		name    string
		f       flow
		verdict string
	}{
		{"dns to the resolver", udp(web, resolver, 53), policy.VerdictAllow},
		{"udp/54 to the resolver", udp(web, resolver, 54), policy.VerdictDeny},
	} {
		t.Run(c.name, func(t *testing.T) {
			want := traced(t, c.f, web.Port)
			if want.Verdict != c.verdict {
				t.Fatalf("trace says %s (%s), the case expects %s", want.Verdict, want.Reason, c.verdict)
			}
			tok := token(t)
			send(t, web.Port, c.f.WithToken(tok).Frame(t))
			expectDelivery(t, tok, want.Ports...)
		})
	}
}

// TestPolicyCounters: the policy entry's direct counter counts the frames
// it allowed, packets and bytes.
func TestPolicyCounters(t *testing.T) {
	requireDPDK(t)
	web, app := h(t, "web-1"), h(t, "app-1")
	tb, _ := env.pipe.Info.Table("ingress.policy_port")
	read := func() (pk, by int64) {
		t.Helper()
		err := env.sess.Read(ctxT(t), []*p4v1.Entity{{Entity: &p4v1.Entity_DirectCounterEntry{
			DirectCounterEntry: &p4v1.DirectCounterEntry{TableEntry: &p4v1.TableEntry{TableId: tb.ID}}}}},
			func(e *p4v1.Entity) error {
				pk += e.GetDirectCounterEntry().GetData().GetPacketCount()
				by += e.GetDirectCounterEntry().GetData().GetByteCount()
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		return pk, by
	}
	pk0, by0 := read()
	const sent = 5
	var size int64
	for range sent {
		tok := token(t)
		fr := tcp(web, app, 40100, 8080, true, false).WithToken(tok).Frame(t)
		size += int64(len(fr))
		send(t, web.Port, fr)
		expectDelivery(t, tok, app.Port)
	}
	pk, by := read()
	if pk-pk0 != sent || by-by0 != size {
		t.Errorf("policy_port counted %d packets, %d bytes; want %d, %d", pk-pk0, by-by0, sent, size)
	}
}
