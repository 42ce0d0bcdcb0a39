package frametest

import (
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

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// PuntPolicy adds a punt rule to the README example
// (examples/segmentation.yaml), the model the tiers draw their random
// flows from, so that every verdict occurs.
const PuntPolicy = `
kind: Policy
name: batch-ssh-to-controller
segment: prod
priority: 150
from: {app: batch}
to: {tier: db}
rules:
  - {proto: tcp, ports: [22], action: punt}
`

// Example is the model the random flows are drawn from: src, the text of
// the README example (examples/segmentation.yaml) with its device's target
// as the tier runs it, and PuntPolicy on top, built and compiled.
func Example(src string) (*policy.Model, *policy.Compiler, error) {
	var objs []policy.Object
	for _, doc := range []struct{ name, text string }{{"segmentation.yaml", src}, {"extra.yaml", PuntPolicy}} {
		o, err := policy.Parse(doc.name, strings.NewReader(doc.text))
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, o...)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		return nil, nil, err
	}
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		return nil, nil, err
	}
	return m, c, nil
}

// Probe is one random flow of the differential test: the frame to send
// and what trace says the switch does with it.
type Probe struct {
	Flow   Flow                // the flow sent, its Token set
	Packet policy.Packet       // what trace was asked; InPort is the port the flow is sent into
	Want   *policy.TraceResult // trace's answer
}

// strangers own addresses no endpoint has: the resolver of the example's
// DNS rule (a CIDR side) and nobody at all.
var strangers = []Host{
	{Name: "resolver", MAC: MustMAC("02:00:00:00:99:53"), IP4: netip.MustParseAddr("192.0.2.53"), IP6: netip.MustParseAddr("2001:db8:53::53")},
	{Name: "nobody", MAC: MustMAC("02:00:00:00:99:99"), IP4: netip.MustParseAddr("10.0.0.99"), IP6: netip.MustParseAddr("2001:db8::99")},
}

// servicePorts are the ports a flow not aimed at a policy draws from.
var servicePorts = []uint16{22, 53, 80, 5432, 7000, 7005, 7011, 8080, 8443, 9000, 9050, 9101, 40000}

// Hosts is the endpoints of m as hosts, sorted by name.
func Hosts(m *policy.Model) []Host {
	var hosts []Host
	for _, name := range slices.Sorted(maps.Keys(m.Endpoints)) {
		e := m.Endpoints[name]
		h := Host{Name: e.Name, Port: e.Port, MAC: e.MAC}
		for _, ip := range e.IPs {
			if ip.Is4() {
				h.IP4 = ip
			} else {
				h.IP6 = ip
			}
		}
		hosts = append(hosts, h)
	}
	return hosts
}

// RandomProbes draws n random flows from seed between the endpoints of m
// and a few addresses nobody owns: genuine, spoofed, on the wrong port;
// TCP, UDP and ICMP; IPv4 and IPv6; half of them aimed at a policy (its
// endpoints, protocol and ports, or the reply direction). Each comes with
// what c traces for it on device. A seed always draws the same flows from
// the same model (a spoofed IPv6 source for an IPv4-only host is skipped,
// so there may be fewer than n).
func RandomProbes(m *policy.Model, c *policy.Compiler, device string, seed uint64, n int) ([]Probe, error) {
	r := rand.New(rand.NewPCG(seed, 4))
	hosts := Hosts(m)
	byName := map[string]Host{}
	for _, h := range hosts {
		byName[h.Name] = h
	}
	var policies []*policy.Policy
	for _, name := range slices.Sorted(maps.Keys(m.Policies)) {
		if p := m.Policies[name]; p.FromCIDRs == nil && p.ToCIDRs == nil {
			policies = append(policies, p)
		}
	}
	selected := func(seg string, sel policy.Selector) []Host {
		var out []Host
		for _, name := range slices.Sorted(maps.Keys(m.Endpoints)) {
			if e := m.Endpoints[name]; e.Segment == seg && sel.Matches(e.Labels) {
				out = append(out, byName[name])
			}
		}
		return out
	}
	var probes []Probe
	for i := range n {
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
		if v6 && (!s.IP6.IsValid() || !d.IP6.IsValid()) {
			v6 = false
		}
		f := Flow{Src: s, Dst: d, V6: v6, SPort: servicePorts[r.IntN(len(servicePorts))], DPort: servicePorts[r.IntN(len(servicePorts))]}
		proto := policy.ProtoTCP
		switch r.IntN(6) {
		case 0, 1:
			f.Proto, proto = layers.IPProtocolUDP, policy.ProtoUDP
		case 2:
			f.Proto, proto = layers.IPProtocolICMPv4, policy.ProtoICMP
			if v6 {
				f.Proto, proto = layers.IPProtocolICMPv6, policy.ProtoICMPv6
			}
		default:
			f.Proto = layers.IPProtocolTCP
			f.SYN, f.ACK = r.IntN(2) == 0, r.IntN(2) == 0
		}
		if aimed != nil {
			service := uint16(40000)
			if len(aimed.Ports) > 0 {
				pr := aimed.Ports[r.IntN(len(aimed.Ports))]
				service = pr.Lo + uint16(r.IntN(int(pr.Hi-pr.Lo)+1))
			}
			switch aimed.Proto {
			case policy.ProtoTCP:
				f.Proto, proto = layers.IPProtocolTCP, policy.ProtoTCP
				f.SYN, f.ACK = !reply, reply
			case policy.ProtoUDP:
				f.Proto, proto = layers.IPProtocolUDP, policy.ProtoUDP
			case policy.ProtoICMP:
				f.Proto, proto, v6 = layers.IPProtocolICMPv4, policy.ProtoICMP, false
				f.V6 = false
			case policy.ProtoICMPv6:
				if s.IP6.IsValid() && d.IP6.IsValid() {
					f.Proto, proto, v6 = layers.IPProtocolICMPv6, policy.ProtoICMPv6, true
					f.V6 = true
				}
			}
			f.SPort, f.DPort = 40000+uint16(r.IntN(1000)), service
			if reply {
				f.SPort, f.DPort = service, 40000+uint16(r.IntN(1000))
			}
		}
		if v6 && (!s.IP6.IsValid() || !d.IP6.IsValid()) {
			// The aimed endpoints have no IPv6 address: use IPv4.
			v6, f.V6 = false, false
			if f.Proto == layers.IPProtocolICMPv6 {
				f.Proto, proto = layers.IPProtocolICMPv4, policy.ProtoICMP
			}
		}
		in := s.Port
		switch r.IntN(8) {
		case 0: // spoofed: someone else's address from this port
			f.SrcIP = hosts[r.IntN(len(hosts))].IP4
			if v6 {
				f.SrcIP = hosts[r.IntN(len(hosts))].IP6
			}
		case 1: // the right addresses on the wrong port
			in = hosts[r.IntN(len(hosts))].Port
		}
		sip, dip := s.IP4, d.IP4
		if v6 {
			sip, dip = s.IP6, d.IP6
		}
		if f.SrcIP.IsValid() {
			sip = f.SrcIP
		}
		if !sip.IsValid() {
			continue // a spoofed v6 address of a v4-only host
		}
		p := policy.Packet{InPort: in, SrcMAC: s.MAC, DstMAC: d.MAC, Src: sip, Dst: dip, Proto: proto}
		if proto == policy.ProtoTCP || proto == policy.ProtoUDP {
			p.SPort, p.DPort = f.SPort, f.DPort
		}
		if proto == policy.ProtoTCP {
			if f.SYN {
				p.TCPFlags |= 0x02
			}
			if f.ACK {
				p.TCPFlags |= 0x10
			}
		}
		want, err := c.Trace(device, p)
		if err != nil {
			return nil, fmt.Errorf("trace %+v: %v", p, err)
		}
		probes = append(probes, Probe{Flow: f.WithToken(fmt.Sprintf("p4ctl:trace:%d:%d", seed, i)), Packet: p, Want: want})
	}
	return probes, nil
}

// Outcome is what a switch did with a probe.
type Outcome struct {
	// Verdict is policy.VerdictPunt when the probe reached the controller
	// as a punt, else VerdictAllow when it left any port, else
	// VerdictDeny.
	Verdict string
	// Ports are the ports it left on.
	Ports []uint32
	// PuntPort, when HavePuntPort, is the ingress port its packet-in
	// named: the port it was sent into.
	PuntPort     uint64
	HavePuntPort bool
}

// Check reports a test error when got differs from what trace says of the
// probe; target names the switch in the message.
func (pr Probe) Check(tb testing.TB, target string, got Outcome) {
	tb.Helper()
	ports := slices.Sorted(slices.Values(got.Ports))
	want := slices.Sorted(slices.Values(pr.Want.Ports))
	if got.Verdict == pr.Want.Verdict && slices.Equal(ports, want) && (!got.HavePuntPort || got.PuntPort == uint64(pr.Packet.InPort)) {
		return
	}
	var hits []string
	for _, h := range pr.Want.Entries {
		hits = append(hits, h.Entry)
	}
	punt := ""
	if got.HavePuntPort {
		punt = fmt.Sprintf(" (packet-in from port %d)", got.PuntPort)
	}
	f := pr.Flow
	tb.Errorf("flow %s (%s -> %s %s in port %d, %+v):\n  %s: %s%s to %v\n  trace: %s to %v (%s)\n  %s",
		f.Token, f.Src.Name, f.Dst.Name, f.Proto, pr.Packet.InPort, pr.Packet, target, got.Verdict, punt, ports,
		pr.Want.Verdict, want, pr.Want.Reason, strings.Join(hits, "\n  "))
}

// RunSeeds runs check as a subtest for each flow seed: those of
// P4CTL_TRACE_SEED (a comma-separated list) when it is set, else fixed and
// one drawn from the clock. Each subtest logs its seed for replay.
func RunSeeds(t *testing.T, fixed []uint64, check func(t *testing.T, seed uint64)) {
	seeds := append(slices.Clone(fixed), rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4)).Uint64())
	if env := os.Getenv("P4CTL_TRACE_SEED"); env != "" {
		seeds = nil
		for _, f := range strings.Split(env, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("P4CTL_TRACE_SEED=%q: %v", env, err)
			}
			seeds = append(seeds, n)
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Logf("flow seed %d (replay with P4CTL_TRACE_SEED=%d)", seed, seed)
			check(t, seed)
		})
	}
}
