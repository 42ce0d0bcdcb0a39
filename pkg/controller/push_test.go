package controller

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// upgraded is the embedded pipeline under another cookie, as a new
// build of the same program would be.
func upgraded(name string) (*pipeline.Pipeline, error) {
	p, err := pipeline.Embedded(name)
	if err != nil {
		return nil, err
	}
	cfg := append(append([]byte{}, p.DeviceConfig...), '\n')
	target := p.Target
	target.Reconcile = true // a target that may be asked to reconcile (the sim can)
	return &pipeline.Pipeline{Target: target, Info: p.Info, DeviceConfig: cfg, Cookie: p.Cookie ^ 0x5a5a}, nil
}

// TestPipelineUpgrade: a node that finds a device running another
// pipeline upgrades it with RECONCILE_AND_COMMIT where the device takes it
// (its entries stay, nothing is rewritten) and falls back to
// VERIFY_AND_COMMIT where it answers UNIMPLEMENTED (every entry written
// again, and the gap measured); the device status says which.
func TestPipelineUpgrade(t *testing.T) {
	for _, tc := range []struct {
		name        string
		noReconcile bool
		want        string
	}{
		{"reconcile", false, "reconcile_and_commit"},
		{"fallback", true, "verify_and_commit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d1 := startSimWith(t, "", p4rtsim.Options{DeviceID: 1, NoReconcile: tc.noReconcile})
			d2 := startSim(t, "")
			n := node(t, "n1", t.TempDir(), true)
			waitLeader(t, n)
			c, stop := runController(t, n)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if _, err := c.Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
				t.Fatal(err)
			}
			model := func() *policy.Model { m, _ := n.Model(); return m }
			inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
			before := d1.read(t)
			stop()

			// The same node restarts with a new build of the pipeline.
			c2, _ := runControllerWith(t, n, upgraded)
			up, err := upgraded("bmv2")
			if err != nil {
				t.Fatal(err)
			}
			// The device holds the desired entries already: wait for the
			// new controller's own word that it runs the new pipeline.
			var st DeviceStatus
			eventually(t, time.Minute, func() bool {
				for _, s := range c2.Devices() {
					if s.Name == "leaf1" {
						st = s
					}
				}
				return st.InSync && st.PipelineCookie == up.Cookie
			}, func() string { return fmt.Sprintf("leaf1 %+v", st) })
			inSync(t, c2, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
			if st.PipelinePush != tc.want {
				t.Errorf("push %q, want %q (%+v)", st.PipelinePush, tc.want, st)
			}
			if tc.noReconcile != (st.PushGap > 0) {
				t.Errorf("push gap %s with noReconcile=%v", st.PushGap, tc.noReconcile)
			}
			// Entries written to leaf1 by the new controller: none when the
			// device kept its state, all of them when it did not.
			inserts := testutil.ToFloat64(c2.metrics.changes.WithLabelValues("leaf1", "insert"))
			if tc.noReconcile != (inserts > 0) || tc.noReconcile && int(inserts) < len(before) {
				t.Errorf("%v entries inserted after the push (device holds %d)", inserts, len(before))
			}
			if missing, stale := diff(d1.read(t), before); missing+stale > 0 {
				t.Errorf("after the upgrade the device holds other entries: %d missing, %d stale", missing, stale)
			}
		})
	}
}
