package bmv2tests

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// A punt rule on top of the README example, so that every verdict occurs.
const traceExtra = `
kind: Policy
name: batch-ssh-to-controller
segment: prod
priority: 150
from: {app: batch}
to: {tier: db}
rules:
  - {proto: tcp, ports: [22], action: punt}
`

// TestDifferentialTrace compiles the README example, writes it to a
// switch of its own through the reconciler, sends random flows (genuine,
// spoofed, to unknown addresses; TCP, UDP, ICMP; v4 and v6) and checks
// that for every flow BMv2 delivers, drops or punts exactly as Trace says.
func TestDifferentialTrace(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	src, err := os.ReadFile("../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var objs []policy.Object
	for _, doc := range []struct{ name, text string }{{"segmentation.yaml", string(src)}, {"extra.yaml", traceExtra}} {
		o, err := policy.Parse(doc.name, strings.NewReader(doc.text))
		if err != nil {
			t.Fatal(err)
		}
		objs = append(objs, o...)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		t.Fatal(err)
	}
	const dev = "leaf1"
	entries, groups, err := c.DeviceEntries(dev)
	if err != nil {
		t.Fatal(err)
	}

	var ports []uint32
	for k := range m.Ports {
		ports = append(ports, k.Port)
	}
	sw, err := Start(ctx, Config{Ports: append(ports, 7)})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Stop()
	sess, err := sw.Open(ctx, p4rt.ElectionID{Low: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if err := sess.SetPipeline(ctx, env.pipe); err != nil {
		t.Fatal(err)
	}
	set := p4rt.NewEntrySet(len(entries))
	var tables []uint32
	for _, e := range entries {
		if err := set.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	for _, tb := range env.pipe.Info.Tables() {
		tables = append(tables, tb.ID)
	}
	plan, err := sess.ReconcileDevice(ctx, set, groups, p4rt.BulkOptions{BatchSize: 100, InFlight: 2}, tables...)
	if err != nil {
		t.Fatalf("write the compiled example: %v", err)
	}
	t.Logf("wrote %v", plan)
	if plan, err := sess.ReconcileDevice(ctx, set, groups, p4rt.BulkOptions{}, tables...); err != nil || !plan.Empty() {
		t.Fatalf("second reconcile of the compiled example: plan %v, err %v; want no writes", plan, err)
	}

	// The endpoints as hosts, and a few addresses nobody owns.
	var hosts []host
	for _, e := range m.Endpoints {
		h := host{name: e.Name, port: e.Port, mac: e.MAC}
		for _, ip := range e.IPs {
			if ip.Is4() {
				h.ip4 = ip
			} else {
				h.ip6 = ip
			}
		}
		hosts = append(hosts, h)
	}
	slices.SortFunc(hosts, func(a, b host) int { return strings.Compare(a.name, b.name) })
	strangers := []host{
		{name: "resolver", mac: mustMAC("02:00:00:00:99:53"), ip4: netip.MustParseAddr("192.0.2.53"), ip6: netip.MustParseAddr("2001:db8:53::53")},
		{name: "nobody", mac: mustMAC("02:00:00:00:99:99"), ip4: netip.MustParseAddr("10.0.0.99"), ip6: netip.MustParseAddr("2001:db8::99")},
	}
	servicePorts := []uint16{22, 53, 80, 5432, 7000, 7005, 7011, 8080, 8443, 9000, 9050, 9101, 40000}

	for _, seed := range traceSeeds(t) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Logf("flow seed %d (replay with P4CTL_TRACE_SEED=%d)", seed, seed)
			checkFlows(t, seed, c, m, sw, sess, hosts, strangers, servicePorts)
		})
	}
}

// traceSeeds is the flow seeds to run: P4CTL_TRACE_SEED (a comma-separated
// list) when set, else the seed of a failure seen on BMv2 with the ternary
// policy table (two reply-direction allows dropped) and one drawn from the
// clock.
func traceSeeds(t *testing.T) []uint64 {
	if env := os.Getenv("P4CTL_TRACE_SEED"); env != "" {
		var out []uint64
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("P4CTL_TRACE_SEED=%q: %v", env, err)
			}
			out = append(out, n)
		}
		return out
	}
	return []uint64{16032436857553511655, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4)).Uint64()}
}

// checkFlows sends the random flows of one seed through the switch and
// compares each with Trace.
func checkFlows(t *testing.T, seed uint64, c *policy.Compiler, m *policy.Model, sw *Switch, sess *p4rt.Session,
	hosts, strangers []host, servicePorts []uint16) {
	const dev = "leaf1"
	r := rand.New(rand.NewPCG(seed, 4))
	type probe struct {
		f     flow
		pkt   policy.Packet
		want  *policy.TraceResult
		token string
	}
	var probes []probe
	byName := map[string]host{}
	for _, h := range hosts {
		byName[h.name] = h
	}
	var policies []*policy.Policy
	for _, name := range slices.Sorted(maps.Keys(m.Policies)) {
		if p := m.Policies[name]; p.FromCIDRs == nil && p.ToCIDRs == nil {
			policies = append(policies, p)
		}
	}
	selected := func(seg string, sel policy.Selector) []host {
		var out []host
		for _, name := range slices.Sorted(maps.Keys(m.Endpoints)) {
			if e := m.Endpoints[name]; e.Segment == seg && sel.Matches(e.Labels) {
				out = append(out, byName[name])
			}
		}
		return out
	}
	for i := range 120 {
		s := hosts[r.IntN(len(hosts))]
		d := hosts[r.IntN(len(hosts))]
		if r.IntN(5) == 0 {
			d = strangers[r.IntN(len(strangers))]
		}
		// Half the flows aim at a policy: its endpoints, its protocol and
		// ports, or the reply direction.
		var aimed *policy.Rule
		reply := false
		if r.IntN(2) == 0 {
			p := policies[r.IntN(len(policies))]
			from, to := selected(p.Segment, p.From), selected(p.Segment, p.To)
			if len(from) > 0 && len(to) > 0 {
				s, d = from[r.IntN(len(from))], to[r.IntN(len(to))]
				aimed = &p.Rules[r.IntN(len(p.Rules))]
				if r.IntN(3) == 0 {
					s, d, reply = d, s, true
				}
			}
		}
		v6 := r.IntN(3) == 0
		if v6 && (!s.ip6.IsValid() || !d.ip6.IsValid()) {
			v6 = false
		}
		f := flow{src: s, dst: d, v6: v6, sport: servicePorts[r.IntN(len(servicePorts))], dport: servicePorts[r.IntN(len(servicePorts))]}
		proto := policy.ProtoTCP
		switch r.IntN(6) {
		case 0, 1:
			f.proto = layers.IPProtocolUDP
			proto = policy.ProtoUDP
		case 2:
			f.proto, proto = layers.IPProtocolICMPv4, policy.ProtoICMP
			if v6 {
				f.proto, proto = layers.IPProtocolICMPv6, policy.ProtoICMPv6
			}
		default:
			f.proto = layers.IPProtocolTCP
			f.syn, f.ack = r.IntN(2) == 0, r.IntN(2) == 0
		}
		if aimed != nil {
			service := uint16(40000)
			if len(aimed.Ports) > 0 {
				pr := aimed.Ports[r.IntN(len(aimed.Ports))]
				service = pr.Lo + uint16(r.IntN(int(pr.Hi-pr.Lo)+1))
			}
			switch aimed.Proto {
			case policy.ProtoTCP:
				f.proto, proto = layers.IPProtocolTCP, policy.ProtoTCP
				f.syn, f.ack = !reply, reply
			case policy.ProtoUDP:
				f.proto, proto = layers.IPProtocolUDP, policy.ProtoUDP
			case policy.ProtoICMP:
				f.proto, proto, v6 = layers.IPProtocolICMPv4, policy.ProtoICMP, false
				f.v6 = false
			case policy.ProtoICMPv6:
				if s.ip6.IsValid() && d.ip6.IsValid() {
					f.proto, proto, v6 = layers.IPProtocolICMPv6, policy.ProtoICMPv6, true
					f.v6 = true
				}
			}
			f.src, f.dst = s, d
			f.sport, f.dport = 40000+uint16(r.IntN(1000)), service
			if reply {
				f.sport, f.dport = service, 40000+uint16(r.IntN(1000))
			}
		}
		if v6 && (!s.ip6.IsValid() || !d.ip6.IsValid()) {
			// The aimed endpoints have no IPv6 address: use IPv4.
			v6, f.v6 = false, false
			if f.proto == layers.IPProtocolICMPv6 {
				f.proto, proto = layers.IPProtocolICMPv4, policy.ProtoICMP
			}
		}
		in := s.port
		switch r.IntN(8) {
		case 0: // spoofed: someone else's address from this port
			f.srcIP = hosts[r.IntN(len(hosts))].ip4
			if v6 {
				f.srcIP = hosts[r.IntN(len(hosts))].ip6
			}
		case 1: // the right addresses on the wrong port
			in = hosts[r.IntN(len(hosts))].port
		}
		sip, dip := s.ip4, d.ip4
		if v6 {
			sip, dip = s.ip6, d.ip6
		}
		if f.srcIP.IsValid() {
			sip = f.srcIP
		}
		if !sip.IsValid() {
			continue // a spoofed v6 address of a v4-only host
		}
		p := policy.Packet{InPort: in, SrcMAC: s.mac, DstMAC: d.mac, Src: sip, Dst: dip, Proto: proto}
		if proto == policy.ProtoTCP || proto == policy.ProtoUDP {
			p.SPort, p.DPort = f.sport, f.dport
		}
		if proto == policy.ProtoTCP {
			if f.syn {
				p.TCPFlags |= 0x02
			}
			if f.ack {
				p.TCPFlags |= 0x10
			}
		}
		want, err := c.Trace(dev, p)
		if err != nil {
			t.Fatalf("trace %+v: %v", p, err)
		}
		tok := fmt.Sprintf("p4ctl:trace:%d:%d", seed, i)
		probes = append(probes, probe{f: f.tok(tok), pkt: p, want: want, token: tok})
	}

	// Send the probes a burst at a time, and collect each burst until every
	// expected copy is in and the switch has been quiet for a while. BMv2
	// holds 64 packets per egress queue: 120 frames at once, the floods
	// among them copied to every port, overflowed it and lost the last
	// flows' copies (the failure this test once showed for seed
	// 16032436857553511655, after other tests had loaded the machine).
	verdicts := map[string]int{}
	only := os.Getenv("P4CTL_TRACE_ONLY") // debugging: send only these flows (comma-separated indexes)
	if only != "" {
		var keep []probe
		for i, pr := range probes {
			if slices.Contains(strings.Split(only, ","), strconv.Itoa(i)) {
				keep = append(keep, pr)
			}
		}
		probes = keep
	}
	for _, pr := range probes {
		verdicts[pr.want.Verdict]++
	}
	t.Logf("%d flows: %v", len(probes), verdicts)
	got := map[string][]uint32{}
	punted := map[string]uint64{}
	pinMeta, _ := env.pipe.Info.PacketMetadata("packet_in")
	const burst = 16
	for start := 0; start < len(probes); start += burst {
		chunk := probes[start:min(start+burst, len(probes))]
		for _, pr := range chunk {
			if err := sw.Ports[pr.pkt.InPort].Send(pr.f.frame(t)); err != nil {
				t.Fatal(err)
			}
		}
		complete := func() bool {
			for _, pr := range chunk {
				switch pr.want.Verdict {
				case policy.VerdictAllow:
					if len(got[pr.token]) < len(pr.want.Ports) {
						return false
					}
				case policy.VerdictPunt:
					if _, ok := punted[pr.token]; !ok {
						return false
					}
				}
			}
			return true
		}
		deadline := time.NewTimer(10 * time.Second)
		var quiet <-chan time.Time
	collect:
		for {
			if quiet == nil && complete() {
				quiet = time.After(quietWindow)
			}
			select {
			case f := <-sw.Frames():
				for _, pr := range probes {
					if containsToken(f.Data, pr.token) {
						got[pr.token] = append(got[pr.token], f.Port)
						break
					}
				}
			case pin := <-sess.PacketIn():
				for _, pr := range probes {
					if containsToken(pin.GetPayload(), pr.token) {
						md, err := pinMeta.DecodeMetadata(pin.GetMetadata())
						if err != nil {
							t.Fatal(err)
						}
						punted[pr.token] = md["ingress_port"]
					}
				}
			case <-quiet:
				break collect
			case <-deadline.C:
				break collect
			}
		}
		deadline.Stop()
	}
	for _, pr := range probes {
		ports := got[pr.token]
		slices.Sort(ports)
		port, wasPunted := punted[pr.token]
		verdict := policy.VerdictDeny
		switch {
		case wasPunted:
			verdict = policy.VerdictPunt
		case len(ports) > 0:
			verdict = policy.VerdictAllow
		}
		wantPorts := pr.want.Ports
		if wantPorts == nil {
			wantPorts = []uint32{}
		}
		if ports == nil {
			ports = []uint32{}
		}
		if verdict != pr.want.Verdict || !slices.Equal(ports, wantPorts) || wasPunted && port != uint64(pr.pkt.InPort) {
			var hits []string
			for _, h := range pr.want.Entries {
				hits = append(hits, h.Entry)
			}
			t.Errorf("flow %s (%s -> %s %s in port %d, %+v):\n  BMv2: %s to %v\n  trace: %s to %v (%s)\n  %s",
				pr.token, pr.f.src.name, pr.f.dst.name, pr.f.proto, pr.pkt.InPort, pr.pkt, verdict, ports, pr.want.Verdict, wantPorts, pr.want.Reason, strings.Join(hits, "\n  "))
		}
	}
}

// containsToken matches a token exactly, not as the prefix of a longer one
// (":1" must not match ":10").
func containsToken(b []byte, tok string) bool {
	for i := 0; ; {
		j := bytes.Index(b[i:], []byte(tok))
		if j < 0 {
			return false
		}
		end := i + j + len(tok)
		if end == len(b) || b[end] < '0' || b[end] > '9' {
			return true
		}
		i = end
	}
}
