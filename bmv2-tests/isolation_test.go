package bmv2tests

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/internal/frametest"
)

func TestIsolatedToIsolatedDropped(t *testing.T) {
	requireBMv2(t)
	tok := token(t)
	send(t, hA.Port, udp(hA, hB).WithToken(tok).Frame(t))
	expectDelivery(t, tok)
	tok = token(t)
	send(t, hB.Port, udp(hB, hA).WithToken(tok).Frame(t))
	expectDelivery(t, tok)
}

func TestIsolatedToPromiscuousDelivered(t *testing.T) {
	requireBMv2(t)
	tok := token(t)
	send(t, hA.Port, udp(hA, hC).WithToken(tok).Frame(t))
	expectDelivery(t, tok, hC.Port)
	tok = token(t)
	send(t, hC.Port, udp(hC, hA).WithToken(tok).Frame(t))
	expectDelivery(t, tok, hA.Port)
}

func TestCommunity(t *testing.T) {
	requireBMv2(t)
	runDeliveries(t, []deliveryCase{
		{"same community", udp(hD, hE), []uint32{hE.Port}},
		{"other community", udp(hD, hF), nil},
		{"other community reverse", udp(hF, hE), nil},
		{"community to promiscuous", udp(hD, hC), []uint32{hC.Port}},
		{"community to isolated", udp(hD, hA), nil},
	})
}

func TestUnknownPortDropped(t *testing.T) {
	requireBMv2(t)
	tok := token(t)
	send(t, hG.Port, udp(hG, hC).WithToken(tok).Frame(t))
	expectDelivery(t, tok)
	// Broadcast from the unknown port reaches nobody either.
	tok = token(t)
	send(t, hG.Port, frametest.ARPRequest(t, hG, hC.IP4, tok))
	expectDelivery(t, tok)
}

func TestSpoofedSourceDropped(t *testing.T) {
	requireBMv2(t)
	runDeliveries(t, []deliveryCase{
		{"genuine", udp(hA, hC), []uint32{hC.Port}},
		{"spoofed IPv4 source", func() flow { f := udp(hA, hC); f.SrcIP = netip.MustParseAddr("10.0.0.99"); return f }(), nil},
		{"another endpoint's IPv4", func() flow { f := udp(hA, hC); f.SrcIP = hB.IP4; return f }(), nil},
		{"spoofed MAC", func() flow { f := udp(hA, hC); f.SrcMAC = hB.MAC; return f }(), nil},
		{"spoofed IPv6 source", func() flow { f := udp(hA, hC); f.V6 = true; f.SrcIP = netip.MustParseAddr("2001:db8::99"); return f }(), nil},
		{"genuine IPv6", func() flow { f := udp(hA, hC); f.V6 = true; return f }(), []uint32{hC.Port}},
	})
}

func tcp(src, dst host, sport, dport uint16, syn, ack, v6 bool) flow {
	return flow{Src: src, Dst: dst, Proto: layers.IPProtocolTCP, SPort: sport, DPort: dport, SYN: syn, ACK: ack, V6: v6}
}

func testPolicyTCP(t *testing.T, v6 bool) {
	runDeliveries(t, []deliveryCase{
		{"web to db tcp/5432", tcp(hA, hC, 40001, 5432, true, false, v6), []uint32{hC.Port}},
		{"reply db to web from 5432 with ACK", tcp(hC, hA, 5432, 40001, true, true, v6), []uint32{hA.Port}},
		{"db to web from 5432 without ACK", tcp(hC, hA, 5432, 40001, true, false, v6), nil},
		{"web to db tcp/22", tcp(hA, hC, 40002, 22, true, false, v6), nil},
		{"db to web tcp/5432 (wrong direction)", tcp(hC, hA, 40003, 5432, true, false, v6), nil},
	})
}

func TestPolicyTCPv4(t *testing.T) {
	requireBMv2(t)
	testPolicyTCP(t, false)
}

func TestPolicyTCPv6(t *testing.T) {
	requireBMv2(t)
	testPolicyTCP(t, true)
}

func TestBroadcastFloodsWithinSegment(t *testing.T) {
	requireBMv2(t)
	cases := []struct {
		name string
		src  host
		want []uint32
	}{
		// Never back to the ingress port, never to port 7 (unconfigured)
		// or port 8 (segment 20).
		{"from promiscuous", hC, []uint32{hA.Port, hB.Port, hD.Port, hE.Port, hF.Port}},
		{"from isolated", hA, []uint32{hC.Port}},
		{"from community 100", hD, []uint32{hC.Port, hE.Port}},
		{"alone in segment 20", hH, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := token(t)
			send(t, c.src.Port, frametest.ARPRequest(t, c.src, netip.MustParseAddr("10.0.0.254"), tok))
			expectDelivery(t, tok, c.want...)
		})
	}
}

func TestLLDPPuntedWithIngressPort(t *testing.T) {
	requireBMv2(t)
	for _, h := range []host{hD, hG} { // a configured port and an unknown one
		tok := token(t)
		send(t, h.Port, frametest.LLDP(h.MAC, tok))
		if got := expectPacketIn(t, tok); got != uint64(h.Port) {
			t.Errorf("LLDP from port %d: packet-in ingress_port = %d", h.Port, got)
		}
		expectDelivery(t, tok) // and not forwarded anywhere
	}
}

func TestPacketOutLeavesNamedPort(t *testing.T) {
	requireBMv2(t)
	md, ok := env.pipe.Info.PacketMetadata("packet_out")
	if !ok {
		t.Fatal("pipeline has no packet_out header")
	}
	meta, err := md.EncodeMetadata(map[string]uint64{"egress_port": uint64(hE.Port)})
	if err != nil {
		t.Fatal(err)
	}
	// To an isolated-looking destination from nobody: packet-out bypasses
	// every lookup, so only port 5 gets it.
	tok := token(t)
	if err := env.sess.PacketOut(udp(hA, hB).WithToken(tok).Frame(t), meta...); err != nil {
		t.Fatal(err)
	}
	expectDelivery(t, tok, hE.Port)
}

func TestPolicyDirectCounterCounts(t *testing.T) {
	requireBMv2(t)
	read := func() int64 {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var n int64 = -1
		q := &p4v1.TableEntry{TableId: env.pg5432.TableId, Match: env.pg5432.Match, Priority: env.pg5432.Priority}
		err := env.sess.Read(ctx, []*p4v1.Entity{{Entity: &p4v1.Entity_DirectCounterEntry{
			DirectCounterEntry: &p4v1.DirectCounterEntry{TableEntry: q},
		}}}, func(e *p4v1.Entity) error {
			n = e.GetDirectCounterEntry().GetData().GetPacketCount()
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if n < 0 {
			t.Fatal("direct counter read returned no entry")
		}
		return n
	}
	before := read()
	const sent = 5
	for i := 0; i < sent; i++ {
		tok := token(t)
		send(t, hA.Port, tcp(hA, hC, 40100, 5432, true, false, false).WithToken(tok).Frame(t))
		expectDelivery(t, tok, hC.Port)
	}
	// A packet the entry must not count.
	tok := token(t)
	send(t, hA.Port, tcp(hA, hC, 40100, 22, true, false, false).WithToken(tok).Frame(t))
	expectDelivery(t, tok)
	if got := read() - before; got != sent {
		t.Errorf("policy entry counted %d packets, want %d", got, sent)
	}
}

// deliveryCase is one frame sent from its source host's port and the ports
// it must leave the switch on (none: dropped).
type deliveryCase struct {
	name string
	f    flow
	want []uint32
}

func runDeliveries(t *testing.T, cases []deliveryCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := token(t)
			send(t, c.f.Src.Port, c.f.WithToken(tok).Frame(t))
			expectDelivery(t, tok, c.want...)
		})
	}
}
