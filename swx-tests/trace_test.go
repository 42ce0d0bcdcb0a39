package swxtests

import (
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/internal/frametest"
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
	frametest.RunSeeds(t, nil, checkFlows)
}

func checkFlows(t *testing.T, seed uint64) {
	probes, err := frametest.RandomProbes(env.model, env.comp, device, seed, 100)
	if err != nil {
		t.Fatal(err)
	}
	verdicts := map[string]int{}
	for _, pr := range probes {
		verdicts[pr.Want.Verdict]++
	}
	t.Logf("%d flows: %v", len(probes), verdicts)

	got := map[string][]uint32{}
	punted := map[string]uint64{} // packet_in._pad by token
	md, _ := env.pipe.Info.PacketMetadata("packet_in")
	const burst = 16
	for start := 0; start < len(probes); start += burst {
		chunk := probes[start:min(start+burst, len(probes))]
		for _, pr := range chunk {
			send(t, pr.Packet.InPort, pr.Flow.Frame(t))
		}
		deadline := time.After(5 * time.Second)
		quiet := time.After(quietWindow * 2)
	collect:
		for {
			select {
			case fr := <-env.srv.Frames():
				for _, pr := range chunk {
					if frametest.ContainsToken(fr.Data, pr.Flow.Token) {
						got[pr.Flow.Token] = append(got[pr.Flow.Token], fr.Port)
					}
				}
				quiet = time.After(quietWindow)
			case pin := <-env.sess.PacketIn():
				for _, pr := range chunk {
					if frametest.ContainsToken(pin.GetPayload(), pr.Flow.Token) {
						vals, err := md.DecodeMetadata(pin.GetMetadata())
						if err != nil {
							t.Fatal(err)
						}
						punted[pr.Flow.Token] = vals["_pad"]
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
		out := frametest.Outcome{Verdict: policy.VerdictDeny, Ports: got[pr.Flow.Token]}
		pad, wasPunted := punted[pr.Flow.Token]
		switch {
		case wasPunted && pad&swx.DenialReport == 0:
			out.Verdict = policy.VerdictPunt
		case len(out.Ports) > 0:
			out.Verdict = policy.VerdictAllow
		}
		pr.Check(t, "SWX", out)
	}
}
