package swxtests

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

	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/swx"
)

// TestDifferentialTrace sends random flows (genuine, spoofed, on the
// wrong port, to addresses nobody has; TCP, UDP, ICMP; IPv4 and IPv6)
// through the SWX pipeline and checks that each is delivered, dropped or
// punted exactly as `trace` says for the dpdk device. A denial is a drop
// for trace and a marked packet-in here (the PNA main reports it); a
// punt is an unmarked packet-in. P4CTL_TRACE_SEED (comma-separated)
// replays seeds; the seed is logged.
func TestDifferentialTrace(t *testing.T) {
	requireDPDK(t)
	seeds := []uint64{rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 4)).Uint64()}
	if s := os.Getenv("P4CTL_TRACE_SEED"); s != "" {
		seeds = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.ParseUint(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("P4CTL_TRACE_SEED=%q: %v", s, err)
			}
			seeds = append(seeds, n)
		}
	}
	for _, seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			t.Logf("flow seed %d (replay with P4CTL_TRACE_SEED=%d)", seed, seed)
			checkFlows(t, seed)
		})
	}
}

func checkFlows(t *testing.T, seed uint64) {
	m := env.model
	r := rand.New(rand.NewPCG(seed, 4))
	var hosts []host
	for _, name := range slices.Sorted(maps.Keys(env.hosts)) {
		hosts = append(hosts, env.hosts[name])
	}
	strangers := []host{
		{name: "resolver", mac: mustMAC("02:00:00:00:99:53"), ip4: netip.MustParseAddr("192.0.2.53"), ip6: netip.MustParseAddr("2001:db8:53::53")},
		{name: "nobody", mac: mustMAC("02:00:00:00:99:99"), ip4: netip.MustParseAddr("10.0.0.99"), ip6: netip.MustParseAddr("2001:db8::99")},
	}
	servicePorts := []uint16{22, 53, 80, 5432, 7000, 7005, 7011, 8080, 8443, 9000, 9050, 9101, 40000}
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
				out = append(out, env.hosts[name])
			}
		}
		return out
	}
	type probe struct {
		f    flow
		in   uint32
		want *policy.TraceResult
		tok  string
	}
	var probes []probe
	for i := range 100 {
		s, d := hosts[r.IntN(len(hosts))], hosts[r.IntN(len(hosts))]
		if r.IntN(5) == 0 {
			d = strangers[r.IntN(len(strangers))]
		}
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
		v6 := r.IntN(3) == 0 && s.ip6.IsValid() && d.ip6.IsValid()
		f := flow{src: s, dst: d, v6: v6, sport: servicePorts[r.IntN(len(servicePorts))], dport: servicePorts[r.IntN(len(servicePorts))]}
		proto := policy.ProtoTCP
		switch r.IntN(6) {
		case 0, 1:
			f.proto, proto = layers.IPProtocolUDP, policy.ProtoUDP
		case 2:
			f.proto, proto = layers.IPProtocolICMPv4, policy.ProtoICMP
			if v6 {
				f.proto, proto = layers.IPProtocolICMPv6, policy.ProtoICMPv6
			}
		default:
			f.proto = layers.IPProtocolTCP
			f.syn, f.ack = r.IntN(2) == 0, r.IntN(2) == 0
		}
		if aimed != nil && (aimed.Proto == policy.ProtoTCP || aimed.Proto == policy.ProtoUDP) {
			service := uint16(40000)
			if len(aimed.Ports) > 0 {
				pr := aimed.Ports[r.IntN(len(aimed.Ports))]
				service = pr.Lo + uint16(r.IntN(int(pr.Hi-pr.Lo)+1))
			}
			if aimed.Proto == policy.ProtoTCP {
				f.proto, proto = layers.IPProtocolTCP, policy.ProtoTCP
				f.syn, f.ack = !reply, reply
			} else {
				f.proto, proto = layers.IPProtocolUDP, policy.ProtoUDP
			}
			f.sport, f.dport = 40000+uint16(r.IntN(1000)), service
			if reply {
				f.sport, f.dport = service, 40000+uint16(r.IntN(1000))
			}
		}
		in := s.port
		switch r.IntN(8) {
		case 0:
			f.srcIP = hosts[r.IntN(len(hosts))].ip4
			if v6 {
				f.srcIP = hosts[r.IntN(len(hosts))].ip6
			}
		case 1:
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
			continue
		}
		p := policy.Packet{InPort: in, SrcMAC: s.mac, DstMAC: d.mac, Src: sip, Dst: dip, Proto: proto}
		if proto == policy.ProtoTCP || proto == policy.ProtoUDP {
			p.SPort, p.DPort = f.sport, f.dport
		}
		if f.syn {
			p.TCPFlags |= 0x02
		}
		if f.ack {
			p.TCPFlags |= 0x10
		}
		want, err := env.comp.Trace(device, p)
		if err != nil {
			t.Fatalf("trace %+v: %v", p, err)
		}
		tok := fmt.Sprintf("p4ctl:trace:%d:%d", seed, i)
		probes = append(probes, probe{f: f.tok(tok), in: in, want: want, tok: tok})
	}
	verdicts := map[string]int{}
	for _, pr := range probes {
		verdicts[pr.want.Verdict]++
	}
	t.Logf("%d flows: %v", len(probes), verdicts)

	got := map[string][]uint32{}
	punted := map[string]uint64{} // packet_in._pad by token
	md, _ := env.pipe.Info.PacketMetadata("packet_in")
	const burst = 16
	for start := 0; start < len(probes); start += burst {
		chunk := probes[start:min(start+burst, len(probes))]
		for _, pr := range chunk {
			send(t, pr.in, pr.f.frame(t))
		}
		deadline := time.After(5 * time.Second)
		quiet := time.After(quietWindow * 2)
	collect:
		for {
			select {
			case fr := <-env.srv.Frames():
				for _, pr := range chunk {
					if containsToken(fr.Data, pr.tok) {
						got[pr.tok] = append(got[pr.tok], fr.Port)
					}
				}
				quiet = time.After(quietWindow)
			case pin := <-env.sess.PacketIn():
				for _, pr := range chunk {
					if containsToken(pin.GetPayload(), pr.tok) {
						vals, err := md.DecodeMetadata(pin.GetMetadata())
						if err != nil {
							t.Fatal(err)
						}
						punted[pr.tok] = vals["_pad"]
					}
				}
				quiet = time.After(quietWindow)
			case <-quiet:
				break collect
			case <-deadline:
				break collect
			}
		}
	}
	for _, pr := range probes {
		ports := got[pr.tok]
		slices.Sort(ports)
		verdict := policy.VerdictDeny
		pad, wasPunted := punted[pr.tok]
		switch {
		case wasPunted && pad&swx.DenialReport == 0:
			verdict = policy.VerdictPunt
		case len(ports) > 0:
			verdict = policy.VerdictAllow
		}
		wantPorts := slices.Clone(pr.want.Ports)
		slices.Sort(wantPorts)
		if verdict != pr.want.Verdict || !slices.Equal(ports, wantPorts) {
			t.Errorf("flow %s (%s -> %s %s in port %d): SWX %s to %v, trace %s to %v (%s)",
				pr.tok, pr.f.src.name, pr.f.dst.name, pr.f.proto, pr.in, verdict, ports, pr.want.Verdict, wantPorts, pr.want.Reason)
		}
	}
}
