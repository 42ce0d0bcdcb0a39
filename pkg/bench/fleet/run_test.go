package fleet_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
)

// TestRunEndToEnd builds p4ctl and runs the benchmark on three devices
// and one node, in both simulator modes, checking that the devices hold
// what the compiler predicts and that every figure was read.
func TestRunEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("fleet end-to-end: builds p4ctl and runs simulator and controller processes; skipped in -short")
	}
	if runtime.GOOS != "linux" {
		t.Skip("fleet end-to-end: the figures are read from /proc (Linux only)")
	}
	bin := filepath.Join(t.TempDir(), "p4ctl")
	build := exec.Command("go", "build", "-o", bin, "github.com/p4ctl/p4ctl/cmd/p4ctl")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/p4ctl: %v\n%s", err, out)
	}
	_, c := compile(t, fleet.Config{Devices: 3})
	want := c.Stats().Entries

	for _, mode := range []string{fleet.SimAuto, fleet.SimProcesses} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			// The fleet simulator's run also changes the policy and idles.
			auto := mode == fleet.SimAuto
			idle := time.Duration(0)
			if auto {
				idle = time.Second
			}
			res, err := fleet.Run(ctx, fleet.RunConfig{Devices: 3, Nodes: 1, ControllerBinary: bin, SimBinary: bin,
				SimMode: mode, Timeout: 2 * time.Minute, Change: auto, Idle: idle, Log: testWriter{t}})
			if err != nil {
				t.Fatal(err)
			}
			if res.Entries != want {
				t.Errorf("%d entries, the compiler says %d", res.Entries, want)
			}
			if mode == fleet.SimProcesses && res.Sim.Processes != 3 {
				t.Errorf("%d simulator processes, want 3", res.Sim.Processes)
			}
			if len(res.NodeResults) != 1 {
				t.Fatalf("%d nodes' figures", len(res.NodeResults))
			}
			n := res.NodeResults[0]
			if !n.Leader || n.PeakRSSBytes <= 0 || n.CPUSeconds <= 0 || n.Sessions < 1 || res.Sessions != n.Sessions ||
				res.ConvergedSeconds <= 0 || res.ConvergedSeconds < res.CommitSeconds {
				t.Errorf("figures: %+v, node %+v", res, n)
			}
			if !auto {
				return
			}
			_, changed := compile(t, fleet.Config{Devices: 3, Changed: true})
			if c := res.Change; c == nil || c.Entries != changed.Stats().Entries-want || c.ConvergedSeconds < c.CommitSeconds ||
				n.ChangeCPUSeconds <= 0 || c.CPUMicrosPerEntry <= 0 {
				t.Errorf("change: %+v (the compiler adds %d entries), node %+v", c, changed.Stats().Entries-want, n)
			}
			if res.IdleSeconds < 1 || n.IdleCores < 0 {
				t.Errorf("idle: %.2f s, %.3f cores", res.IdleSeconds, n.IdleCores)
			}
		})
	}
}

// testWriter logs a run's progress lines.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
