package controller

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// testFrame is a frame from the example's endpoints, built with gopacket.
type testFrame struct {
	srcMAC, dstMAC string
	src, dst       string
	proto          layers.IPProtocol
	sport, dport   uint16
	syn            bool
}

func (f testFrame) bytes(t *testing.T) []byte {
	t.Helper()
	src, dst := netip.MustParseAddr(f.src), netip.MustParseAddr(f.dst)
	smac, _ := net.ParseMAC(f.srcMAC)
	dmac, _ := net.ParseMAC(f.dstMAC)
	eth := &layers.Ethernet{SrcMAC: smac, DstMAC: dmac, EthernetType: layers.EthernetTypeIPv4}
	var netl gopacket.NetworkLayer
	ls := []gopacket.SerializableLayer{eth}
	if src.Is6() {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: f.proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		netl, ls = ip, append(ls, ip)
	} else {
		ip := &layers.IPv4{Version: 4, IHL: 5, TTL: 64, Protocol: f.proto, SrcIP: src.AsSlice(), DstIP: dst.AsSlice()}
		netl, ls = ip, append(ls, ip)
	}
	switch f.proto {
	case layers.IPProtocolTCP:
		l := &layers.TCP{SrcPort: layers.TCPPort(f.sport), DstPort: layers.TCPPort(f.dport), SYN: f.syn, Window: 1024, Seq: 1}
		_ = l.SetNetworkLayerForChecksum(netl)
		ls = append(ls, l)
	case layers.IPProtocolUDP:
		l := &layers.UDP{SrcPort: layers.UDPPort(f.sport), DstPort: layers.UDPPort(f.dport)}
		_ = l.SetNetworkLayerForChecksum(netl)
		ls = append(ls, l)
	case layers.IPProtocolICMPv6:
		l := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(layers.ICMPv6TypeEchoRequest, 0)}
		_ = l.SetNetworkLayerForChecksum(netl)
		ls = append(ls, l, &layers.ICMPv6Echo{Identifier: 1, SeqNumber: 1})
	case layers.IPProtocolICMPv4:
		ls = append(ls, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 1, Seq: 1})
	}
	ls = append(ls, gopacket.Payload("denied"))
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

const (
	web1MAC = "02:00:00:00:00:01"
	app1MAC = "02:00:00:00:00:03"
	db1MAC  = "02:00:00:00:00:04"
)

// packetInOf is a packet-in of target's pipeline: frame from port, with
// packet_in._pad = pad.
func packetInOf(t *testing.T, target string, port, pad uint64, frame []byte) *p4v1.PacketIn {
	t.Helper()
	p, err := pipeline.Embedded(target)
	if err != nil {
		t.Fatal(err)
	}
	md, ok := p.Info.PacketMetadata("packet_in")
	if !ok {
		t.Fatalf("%s: no packet_in", target)
	}
	meta, err := md.EncodeMetadata(map[string]uint64{"ingress_port": port, "_pad": pad})
	if err != nil {
		t.Fatal(err)
	}
	return &p4v1.PacketIn{Payload: frame, Metadata: meta}
}

// TestDenialPacketIns: on a dpdk device (the PNA main: no denial digest,
// denied frames sent to the controller marked in packet_in._pad) the
// denial log is on, and marked packet-ins become the records the digest
// makes on BMv2: segment, identities and endpoints from the model,
// addresses, protocol and ports from the frame, what denied it from the
// mark, the deciding policy and its rank from the trace; in the flow log
// too. Unmarked packet-ins (LLDP, punts) are no denials, nor is anything
// from a target without the mark; a marked frame that is no IP frame, or
// comes from a port the model does not have, is counted, not logged.
func TestDenialPacketIns(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c, _ := runController(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	doc := strings.Replace(string(exampleFor(t, d1.addr, d2.addr)), "target: bmv2", "target: dpdk", 1)
	if _, err := c.Apply(ctx, "example.yaml", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	model := func() *policy.Model { m, _ := n.Model(); return m }
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	eventually(t, 5*time.Second, func() bool {
		for _, st := range c.Devices() {
			if st.DenialLog != "on" {
				return false
			}
		}
		return true
	}, func() string { return fmt.Sprintf("denial logs of %+v, want on", c.Devices()) })

	inject := func(d *simDevice, pin *p4v1.PacketIn) {
		t.Helper()
		if !d.srv.InjectPacketIn(pin) {
			t.Fatal("the sim has no primary to send the packet-in to")
		}
	}
	const mark = 0x80
	webToApp := testFrame{srcMAC: web1MAC, dstMAC: app1MAC, src: "10.0.0.1", dst: "10.0.0.3", proto: layers.IPProtocolTCP, sport: 40000, dport: 22, syn: true}

	// First what must not be logged: unmarked packet-ins (an LLDP frame, a
	// punted IP frame) on the dpdk device; on the BMv2 device, which
	// reports denials by digest, a frame with every _pad bit set.
	lldp := append([]byte{0x01, 0x80, 0xc2, 0, 0, 0x0e, 2, 0, 0, 0, 0, 1, 0x88, 0xcc}, make([]byte, 32)...)
	inject(d1, packetInOf(t, "dpdk", 1, 0, lldp))
	inject(d1, packetInOf(t, "dpdk", 1, 0, webToApp.bytes(t)))
	bm, _ := pipeline.Embedded("bmv2")
	bmMD, _ := bm.Info.PacketMetadata("packet_in")
	var bmPad uint64
	for _, f := range bmMD.Fields {
		if f.Name == "_pad" {
			bmPad = 1<<f.Bitwidth - 1
		}
	}
	inject(d2, packetInOf(t, "bmv2", 1, bmPad, testFrame{srcMAC: "02:00:00:00:02:01", dstMAC: web1MAC, src: "10.0.2.1", dst: "10.0.0.1",
		proto: layers.IPProtocolTCP, sport: 1, dport: 22, syn: true}.bytes(t)))
	// Marked, but not logged: an ARP frame; a frame from port 7, which
	// the model does not configure.
	arp := append([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06}, make([]byte, 28)...)
	inject(d1, packetInOf(t, "dpdk", 1, mark|3, arp))
	inject(d1, packetInOf(t, "dpdk", 7, mark|3, webToApp.bytes(t)))

	// Denied by the segment default, twice: one record, two reports.
	inject(d1, packetInOf(t, "dpdk", 1, mark|3, webToApp.bytes(t)))
	inject(d1, packetInOf(t, "dpdk", 1, mark|3, webToApp.bytes(t)))
	// Denied by a deny rule (db-admin-locked, tcp/9000-9100 to the db
	// from anything but the app tier).
	webToDB := testFrame{srcMAC: web1MAC, dstMAC: db1MAC, src: "10.0.0.1", dst: "10.0.0.4", proto: layers.IPProtocolTCP, sport: 40001, dport: 9050, syn: true}
	inject(d1, packetInOf(t, "dpdk", 1, mark|2, webToDB.bytes(t)))
	// IPv6, ICMPv6 echo from web to db: the default.
	icmp6 := testFrame{srcMAC: web1MAC, dstMAC: db1MAC, src: "2001:db8::1", dst: "2001:db8::4", proto: layers.IPProtocolICMPv6}
	inject(d1, packetInOf(t, "dpdk", 1, mark|3, icmp6.bytes(t)))

	eventually(t, 5*time.Second, func() bool {
		ds := c.Denials("leaf1", time.Time{})
		return len(ds) == 3 && ds[0].Count+ds[1].Count+ds[2].Count == 4
	}, func() string { return fmt.Sprintf("%+v", c.Denials("", time.Time{})) })
	web, app, db := uint16(identityOf(t, c, "web-1")), uint16(identityOf(t, c, "app-1")), uint16(identityOf(t, c, "db-1"))
	got := map[string]Denial{}
	for _, d := range c.Denials("", time.Time{}) {
		got[d.Dst.String()+"/"+ProtoName(d.Proto)] = d
	}
	check := func(key string, want Denial) {
		t.Helper()
		r, ok := got[key]
		if !ok {
			t.Errorf("no record %s in %v", key, got)
			return
		}
		if r.Device != "leaf1" || r.Segment != want.Segment || r.InPort != 1 || r.Src != want.Src || r.SPort != want.SPort || r.DPort != want.DPort ||
			r.TCPFlags != want.TCPFlags || r.SrcID != want.SrcID || r.DstID != want.DstID || r.SrcName != want.SrcName || r.DstName != want.DstName ||
			r.DeniedBy != want.DeniedBy || r.Policy != want.Policy || r.Count != want.Count || r.Dissented || !strings.HasPrefix(r.Trace, "deny") {
			t.Errorf("%s: record\n %+v, want\n %+v", key, r, want)
		}
		if want.DeniedBy == "policy" && r.Rank == 0 {
			t.Errorf("%s: a policy denial without the rule's rank", key)
		}
	}
	check("10.0.0.3/tcp", Denial{Segment: "prod", Src: netip.MustParseAddr("10.0.0.1"), SPort: 40000, DPort: 22, TCPFlags: 0x02,
		SrcID: web, DstID: app, SrcName: "web-1", DstName: "app-1", DeniedBy: "default", Count: 2})
	check("10.0.0.4/tcp", Denial{Segment: "prod", Src: netip.MustParseAddr("10.0.0.1"), SPort: 40001, DPort: 9050, TCPFlags: 0x02,
		SrcID: web, DstID: db, SrcName: "web-1", DstName: "db-1", DeniedBy: "policy", Policy: "db-admin-locked", Count: 1})
	check("2001:db8::4/icmpv6", Denial{Segment: "prod", Src: netip.MustParseAddr("2001:db8::1"),
		SrcID: web, DstID: db, SrcName: "web-1", DstName: "db-1", DeniedBy: "default", Count: 1})

	// The flow log has them as denied flows.
	flows := c.Flows(FlowFilter{Device: "leaf1", Verdict: policy.VerdictDeny})
	if len(flows) != 3 {
		t.Errorf("flow log: %d denied flows, want 3: %+v", len(flows), flows)
	}
	for _, f := range flows {
		if f.SrcName != "web-1" || f.Segment != "prod" || f.DecidedBy == "" {
			t.Errorf("flow record %+v", f)
		}
	}

	// Nothing from the BMv2 device; of the dpdk device's, only the two bad
	// marked frames were counted as not logged (LLDP and the punt never
	// reached the denial log).
	if ds := c.Denials("leaf2", time.Time{}); len(ds) != 0 {
		t.Errorf("leaf2 (bmv2): %d denials from a packet-in: %+v", len(ds), ds)
	}
	_, dropped, _ := c.denials.counts()
	want := map[[2]string]uint64{{"leaf1", "malformed"}: 1, {"leaf1", "unknown segment"}: 1}
	if fmt.Sprint(dropped) != fmt.Sprint(want) {
		t.Errorf("reports not logged %v, want %v", dropped, want)
	}
}

// TestDecodeDeniedFrame: the frame's fields as the pipeline's parser
// reads them, whatever gopacket would make of the lengths.
func TestDecodeDeniedFrame(t *testing.T) {
	base := testFrame{srcMAC: web1MAC, dstMAC: app1MAC, src: "10.0.0.1", dst: "10.0.0.3", proto: layers.IPProtocolTCP, sport: 40000, dport: 22, syn: true}
	good := base.bytes(t)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	for _, tc := range []struct {
		name         string
		frame        []byte
		err          bool
		proto        uint8
		sport, dport uint16
		flags        uint8
	}{
		{"tcp", good, false, 6, 40000, 22, 0x02},
		// A total length of 0 and a bad checksum: the switch still parsed it.
		{"bogus total length", mut(func(b []byte) []byte { b[16], b[17] = 0, 0; return b }), false, 6, 40000, 22, 0x02},
		// Options: L4 not parsed, ports 0.
		{"ihl 6", mut(func(b []byte) []byte { b[14] = 0x46; return b }), false, 6, 0, 0, 0},
		// A later fragment: ports 0.
		{"fragment", mut(func(b []byte) []byte { b[21] = 1; return b }), false, 6, 0, 0, 0},
		{"udp", testFrame{srcMAC: web1MAC, dstMAC: app1MAC, src: "2001:db8::1", dst: "2001:db8::3", proto: layers.IPProtocolUDP, sport: 5, dport: 53}.bytes(t), false, 17, 5, 53, 0},
		{"icmp", testFrame{srcMAC: web1MAC, dstMAC: app1MAC, src: "10.0.0.1", dst: "10.0.0.3", proto: layers.IPProtocolICMPv4}.bytes(t), false, 1, 0, 0, 0},
		{"tcp cut short", good[:14+20+10], true, 0, 0, 0, 0},
		{"ipv4 cut short", good[:14+12], true, 0, 0, 0, 0},
		{"not ip", mut(func(b []byte) []byte { b[12], b[13] = 0x08, 0x06; return b }), true, 0, 0, 0, 0},
	} {
		f, err := decodeDeniedFrame(tc.frame)
		if (err != nil) != tc.err {
			t.Errorf("%s: err %v", tc.name, err)
			continue
		}
		if err != nil {
			continue
		}
		if f.proto != tc.proto || f.sport != tc.sport || f.dport != tc.dport || f.flags != tc.flags || f.srcMAC.String() != web1MAC {
			t.Errorf("%s: %+v", tc.name, f)
		}
	}
}
