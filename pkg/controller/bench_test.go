package controller

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/cluster"
)

// BenchmarkApplyCommit3Nodes measures what `p4ctl apply` waits for on a
// three-node loopback cluster: the leader's checks (parse, validate,
// compile against every device's tables) and the raft commit to a quorum,
// for a one-endpoint change on models of two sizes. Every node runs its
// controller, which compiles each committed change, and the leader
// programs a simulated device, as in production. It reports the median and
// 99th percentile.
func BenchmarkApplyCommit3Nodes(b *testing.B) {
	for _, size := range []int{0, 10000} {
		b.Run(fmt.Sprintf("model=example+%d", size), func(b *testing.B) {
			d1, d2 := startSim(b, ""), startSim(b, "")
			n1 := node(b, "n1", b.TempDir(), true)
			waitLeader(b, n1)
			nodes := []*cluster.Node{n1, node(b, "n2", b.TempDir(), false), node(b, "n3", b.TempDir(), false)}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			for _, n := range nodes[1:] {
				if err := n1.Join(ctx, n.ID(), n.RaftAddr()); err != nil {
					b.Fatal(err)
				}
			}
			var leaderCtl *Controller
			var ctls []*Controller
			for _, n := range nodes {
				c, _ := runController(b, n)
				ctls = append(ctls, c)
				if n == n1 {
					leaderCtl = c
				}
			}
			last, err := leaderCtl.Apply(ctx, "example.yaml", exampleFor(b, d1.addr, d2.addr))
			if err != nil {
				b.Fatal(err)
			}
			if size > 0 {
				if last, err = leaderCtl.Apply(ctx, "big.yaml", bigDocs(size)); err != nil {
					b.Fatal(err)
				}
			}
			// Time steady state: every controller has compiled the model and
			// the leader's devices hold it, so the first changes do not wait
			// behind the initial compile and reconcile.
			eventually(b, 5*time.Minute, func() bool {
				for _, c := range ctls {
					if m, idx := c.cfg.Node.Model(); idx < last.Index || c.Model() != m {
						return false
					}
				}
				for _, st := range leaderCtl.Devices() {
					if !st.InSync || st.ModelIndex < last.Index {
						return false
					}
				}
				return true
			}, func() string { return fmt.Sprintf("devices %+v", leaderCtl.Devices()) })
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				doc := fmt.Sprintf("kind: Endpoint\nname: app-2\nsegment: prod\nmac: 02:00:00:00:02:01\nips: [10.0.2.1]\ndevice: leaf2\nport: 1\nlabels: {app: shop, tier: app, rev: r%d}\n", i)
				start := time.Now()
				if _, err := leaderCtl.Apply(ctx, "change.yaml", []byte(doc)); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			b.StopTimer()
			slices.Sort(lat)
			pct := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(pct(0.50), "p50-ms")
			b.ReportMetric(pct(0.99), "p99-ms")
		})
	}
}
