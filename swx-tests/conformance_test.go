package swxtests

import (
	"testing"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/swx"
)

// TestConformance runs the P4Runtime conformance suite against p4ctl-swx
// with the dpdk pipeline: arbitration, per-update write errors, canonical
// read-back, a full table, the cookie, multicast groups (kept by the
// server; PNA replicates nothing), and the upgrade, which on this target
// is VERIFY_AND_COMMIT (RECONCILE_AND_COMMIT is refused). The scenario is
// programmed again afterwards.
func TestConformance(t *testing.T) {
	requireDPDK(t)
	if env.sess != nil {
		env.sess.Close()
		env.sess = nil
	}
	env.stale = true
	p4rttest.Run(t, p4rttest.Target{Addr: Addr, DeviceID: 1, DialOptions: env.srv.DialOptions(), Pipeline: env.pipe,
		ElectionBase: env.election.Add(1), NoReconcile: true, Rebuild: swx.Rebuild})
}
