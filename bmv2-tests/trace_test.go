package bmv2tests

import (
	"context"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/internal/frametest"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

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
	m, c, err := frametest.Example(string(src))
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

	frametest.RunSeeds(t, []uint64{regressionSeed}, func(t *testing.T, seed uint64) {
		checkFlows(t, seed, c, m, sw, sess)
	})
}

// regressionSeed always runs (besides one drawn from the clock, unless
// P4CTL_TRACE_SEED names the seeds): the seed of a failure seen on BMv2
// with the ternary policy table (two reply-direction allows dropped).
const regressionSeed = 16032436857553511655

// checkFlows sends the random flows of one seed through the switch and
// compares each with Trace.
func checkFlows(t *testing.T, seed uint64, c *policy.Compiler, m *policy.Model, sw *Switch, sess *p4rt.Session) {
	const dev = "leaf1"
	probes, err := frametest.RandomProbes(m, c, dev, seed, 120)
	if err != nil {
		t.Fatal(err)
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
		var keep []frametest.Probe
		for i, pr := range probes {
			if slices.Contains(strings.Split(only, ","), strconv.Itoa(i)) {
				keep = append(keep, pr)
			}
		}
		probes = keep
	}
	for _, pr := range probes {
		verdicts[pr.Want.Verdict]++
	}
	t.Logf("%d flows: %v", len(probes), verdicts)
	got := map[string][]uint32{}
	punted := map[string]uint64{}
	pinMeta, _ := env.pipe.Info.PacketMetadata("packet_in")
	const burst = 16
	for start := 0; start < len(probes); start += burst {
		chunk := probes[start:min(start+burst, len(probes))]
		for _, pr := range chunk {
			if err := sw.Ports[pr.Packet.InPort].Send(pr.Flow.Frame(t)); err != nil {
				t.Fatal(err)
			}
		}
		complete := func() bool {
			for _, pr := range chunk {
				switch pr.Want.Verdict {
				case policy.VerdictAllow:
					if len(got[pr.Flow.Token]) < len(pr.Want.Ports) {
						return false
					}
				case policy.VerdictPunt:
					if _, ok := punted[pr.Flow.Token]; !ok {
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
					if frametest.ContainsToken(f.Data, pr.Flow.Token) {
						got[pr.Flow.Token] = append(got[pr.Flow.Token], f.Port)
						break
					}
				}
			case pin := <-sess.PacketIn():
				for _, pr := range probes {
					if frametest.ContainsToken(pin.GetPayload(), pr.Flow.Token) {
						md, err := pinMeta.DecodeMetadata(pin.GetMetadata())
						if err != nil {
							t.Fatal(err)
						}
						punted[pr.Flow.Token] = md["ingress_port"]
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
		out := frametest.Outcome{Verdict: policy.VerdictDeny, Ports: got[pr.Flow.Token]}
		out.PuntPort, out.HavePuntPort = punted[pr.Flow.Token]
		switch {
		case out.HavePuntPort:
			out.Verdict = policy.VerdictPunt
		case len(out.Ports) > 0:
			out.Verdict = policy.VerdictAllow
		}
		pr.Check(t, "BMv2", out)
	}
}
