package swxtests

import (
	"os"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestThroughput measures frames per second through the pipeline on TAP
// ports with one data-plane core: an allowed flow sent from port 1 as
// fast as one AF_PACKET socket sends, for 5 s, counted by the pipeline's
// own port counters (in on port 1, out on port 3). It runs only with
// P4CTL_SWX_BENCH=1 (make swx-bench).
func TestThroughput(t *testing.T) {
	requireDPDK(t)
	if os.Getenv("P4CTL_SWX_BENCH") == "" {
		t.Skip("P4CTL_SWX_BENCH is not set")
	}
	web, app := h(t, "web-1"), h(t, "app-1")
	frame := tcp(web, app, 40001, 8080, true, false).WithToken("p4ctl:pps:0").Frame(t)
	in0, out0 := portCounters(t)
	const d = 5 * time.Second
	start := time.Now()
	sent := 0
	for time.Since(start) < d {
		for range 1000 {
			if env.srv.Ports[web.Port].Send(frame) == nil {
				sent++
			}
		}
	}
	el := time.Since(start)
	time.Sleep(500 * time.Millisecond)
	in1, out1 := portCounters(t)
	rin, rout := float64(in1[1]-in0[1])/el.Seconds(), float64(out1[3]-out0[3])/el.Seconds()
	t.Logf("%d-byte frames: sent %.0f/s, pipeline in (port 1) %.0f/s, out (port 3) %.0f/s, delivered %.1f%%; server CPU %.1f s",
		len(frame), float64(sent)/el.Seconds(), rin, rout, 100*float64(out1[3]-out0[3])/float64(sent), env.srv.CPUSeconds())
}

var portLine = regexp.MustCompile(`swx: port (in|out) (\d+): (\d+) packets`)

// portCounters asks the server for its pipeline's port counters (SIGUSR1)
// and returns the last ones it printed.
func portCounters(t *testing.T) (in, out map[int]uint64) {
	t.Helper()
	n := len(env.srv.LogLines("swx: port"))
	_ = syscall.Kill(env.srv.Pid(), syscall.SIGUSR1)
	deadline := time.Now().Add(3 * time.Second)
	var lines []string
	for time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		if lines = env.srv.LogLines("swx: port"); len(lines) > n {
			break
		}
	}
	in, out = map[int]uint64{}, map[int]uint64{}
	for _, l := range lines[n:] {
		m := portLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		p, _ := strconv.Atoi(m[2])
		v, _ := strconv.ParseUint(m[3], 10, 64)
		if m[1] == "in" {
			in[p] = v
		} else {
			out[p] = v
		}
	}
	return in, out
}
