package frametest

import (
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// example is the model both tiers draw from.
func example(t *testing.T) (*policy.Model, *policy.Compiler) {
	t.Helper()
	src, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m, c, err := Example(string(src))
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func describe(p Probe) string {
	f := p.Flow
	return fmt.Sprintf("%s %s->%s %v v6=%t %d->%d syn=%t ack=%t in %d",
		f.Token, f.Src.Name, f.Dst.Name, f.Proto, f.V6, f.SPort, f.DPort, f.SYN, f.ACK, p.Packet.InPort)
}

// TestRandomProbesSeed: the BMv2 tier's regression seed draws the flows
// it drew when the failure it reproduces was seen, and a seed always
// draws the same flows.
func TestRandomProbesSeed(t *testing.T) {
	m, c := example(t)
	const seed = 16032436857553511655
	probes, err := RandomProbes(m, c, "leaf1", seed, 120)
	if err != nil {
		t.Fatal(err)
	}
	if len(probes) != 120 {
		t.Fatalf("%d probes, want 120", len(probes))
	}
	want := []string{
		"p4ctl:trace:16032436857553511655:0 batch-2->db-1 TCP v6=false 40165->22 syn=true ack=false in 6",
		"p4ctl:trace:16032436857553511655:1 db-1->db-1 TCP v6=false 9036->40378 syn=false ack=true in 4",
		"p4ctl:trace:16032436857553511655:2 batch-2->app-1 UDP v6=false 40081->7003 syn=false ack=true in 6",
		"p4ctl:trace:16032436857553511655:3 app-1->db-1 TCP v6=false 22->7011 syn=false ack=true in 3",
		"p4ctl:trace:16032436857553511655:4 db-1->web-2 ICMPv4 v6=false 8443->7005 syn=false ack=false in 4",
		"p4ctl:trace:16032436857553511655:5 app-1->guest-1 TCP v6=true 80->40000 syn=true ack=true in 3",
	}
	for i, w := range want {
		if got := describe(probes[i]); got != w {
			t.Errorf("probe %d:\n got %s\nwant %s", i, got, w)
		}
	}
	if got, w := describe(probes[119]), "p4ctl:trace:16032436857553511655:119 db-1->app-1 TCP v6=true 5432->40436 syn=false ack=true in 4"; got != w {
		t.Errorf("last probe:\n got %s\nwant %s", got, w)
	}
	again, err := RandomProbes(m, c, "leaf1", seed, 120)
	if err != nil {
		t.Fatal(err)
	}
	for i := range probes {
		if describe(again[i]) != describe(probes[i]) {
			t.Fatalf("probe %d differs on a second draw: %s, then %s", i, describe(probes[i]), describe(again[i]))
		}
	}
}

// TestRandomProbesConsistent: over many seeds, each probe's packet is its
// flow as trace sees it, its token is unique, and every verdict occurs.
func TestRandomProbesConsistent(t *testing.T) {
	m, c := example(t)
	verdicts := map[string]int{}
	protos := map[layers.IPProtocol]int{}
	for seed := range uint64(20) {
		probes, err := RandomProbes(m, c, "leaf1", seed, 100)
		if err != nil {
			t.Fatal(err)
		}
		toks := map[string]bool{}
		for _, pr := range probes {
			f, p := pr.Flow, pr.Packet
			if toks[f.Token] {
				t.Errorf("token %s twice", f.Token)
			}
			toks[f.Token] = true
			src := f.Src.IP4
			if f.V6 {
				src = f.Src.IP6
			}
			if f.SrcIP.IsValid() {
				src = f.SrcIP
			}
			if p.Src != src || p.Src.Is6() != f.V6 || !slices.Equal(p.SrcMAC, f.Src.MAC) || !slices.Equal(p.DstMAC, f.Dst.MAC) {
				t.Errorf("%s: packet %+v does not match flow %+v", f.Token, p, f)
			}
			if (p.Proto == policy.ProtoTCP || p.Proto == policy.ProtoUDP) && (p.SPort != f.SPort || p.DPort != f.DPort) {
				t.Errorf("%s: packet ports %d->%d, flow %d->%d", f.Token, p.SPort, p.DPort, f.SPort, f.DPort)
			}
			if p.Proto != policy.ProtoTCP && p.TCPFlags != 0 {
				t.Errorf("%s: TCP flags on protocol %d", f.Token, p.Proto)
			}
			f.Frame(t)
			verdicts[pr.Want.Verdict]++
			protos[f.Proto]++
		}
	}
	for _, v := range []string{policy.VerdictAllow, policy.VerdictDeny, policy.VerdictPunt} {
		if verdicts[v] == 0 {
			t.Errorf("no %s verdict in 20 seeds: %v", v, verdicts)
		}
	}
	for _, p := range []layers.IPProtocol{layers.IPProtocolTCP, layers.IPProtocolUDP, layers.IPProtocolICMPv4, layers.IPProtocolICMPv6} {
		if protos[p] == 0 {
			t.Errorf("no %s flow in 20 seeds: %v", p, protos)
		}
	}
}

// TestProbeCheck: an outcome that is trace's passes; another verdict,
// other ports or a punt from another port is one error.
func TestProbeCheck(t *testing.T) {
	pr := Probe{
		Flow:   Flow{Src: hostA, Dst: hostC, Proto: layers.IPProtocolUDP, Token: "p4ctl:trace:1:0"},
		Packet: policy.Packet{InPort: 1},
		Want:   &policy.TraceResult{Verdict: policy.VerdictAllow, Ports: []uint32{5, 3}},
	}
	punt := Probe{Flow: pr.Flow, Packet: pr.Packet, Want: &policy.TraceResult{Verdict: policy.VerdictPunt}}
	for _, c := range []struct {
		name   string
		pr     Probe
		got    Outcome
		errors int
	}{
		{"as traced", pr, Outcome{Verdict: policy.VerdictAllow, Ports: []uint32{3, 5}}, 0},
		{"a port short", pr, Outcome{Verdict: policy.VerdictAllow, Ports: []uint32{3}}, 1},
		{"dropped", pr, Outcome{Verdict: policy.VerdictDeny}, 1},
		{"punted from its port", punt, Outcome{Verdict: policy.VerdictPunt, PuntPort: 1, HavePuntPort: true}, 0},
		{"punted, port unknown", punt, Outcome{Verdict: policy.VerdictPunt}, 0},
		{"punted from another port", punt, Outcome{Verdict: policy.VerdictPunt, PuntPort: 2, HavePuntPort: true}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &recorder{TB: t}
			c.pr.Check(r, "test", c.got)
			if len(r.errs) != c.errors {
				t.Errorf("%d errors, want %d: %q", len(r.errs), c.errors, r.errs)
			}
		})
	}
}

func TestRunSeeds(t *testing.T) {
	t.Setenv("P4CTL_TRACE_SEED", "5, 7")
	var got []uint64
	RunSeeds(t, []uint64{1}, func(t *testing.T, seed uint64) { got = append(got, seed) })
	if !slices.Equal(got, []uint64{5, 7}) {
		t.Errorf("seeds %v with P4CTL_TRACE_SEED=5,7", got)
	}
	t.Setenv("P4CTL_TRACE_SEED", "")
	got = nil
	RunSeeds(t, []uint64{1}, func(t *testing.T, seed uint64) { got = append(got, seed) })
	if len(got) != 2 || got[0] != 1 {
		t.Errorf("seeds %v, want 1 and one from the clock", got)
	}
}
