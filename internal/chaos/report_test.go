package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func passing() *Report {
	return &Report{
		Seed: 42, WorkDir: "/tmp/x (removed)", Duration: 60 * time.Second,
		Attempts: 100, Acked: 97, Failed: map[string]int{"Unavailable": 2, "timeout": 1}, FailedDown: 2,
		Faults: []string{"at 12s: node n2 (leader) down 2.1s"}, Nodes: 3, ModelsRead: 3, HistoriesRead: 3, Objects: 108, ModelIndex: 120, Revisions: 98,
		Devices: []DeviceResult{{Name: "sw1", InSync: true, ModelIndex: 120, Read: map[string]int{"t": 5}, Reported: map[string]int{"t": 5},
			Compiled: map[string]int{"t": 5}, ReadGroups: 1, WantGroups: 1}},
		LongestGap: 2500 * time.Millisecond, LongestGapFrom: 12 * time.Second,
		Converged: true, ConvergeAfter: 1500 * time.Millisecond, ConvergeFromEnd: 300 * time.Millisecond, AppliedIndex: 121,
	}
}

func TestReportPass(t *testing.T) {
	var b strings.Builder
	r := passing()
	r.Print(&b)
	out := b.String()
	for _, want := range []string{
		"seed: 42\n",
		"attempts: 100\n",
		"acknowledged: 97\n",
		"failed: 3 (Unavailable 2, timeout 1)\n",
		"failed while the node called was down: 2\n",
		"acknowledged writes lost: 0\n",
		"models equal: yes (3 of 3 nodes read, 108 objects, final model at index 120)\n",
		"histories equal: yes (3 of 3 nodes read, 98 revisions)\n",
		"device sw1: yes, in sync true, model index 120: 5 entries read, 5 reported, 5 compiled; 1 groups read, 1 compiled\n",
		"longest window without an acknowledged apply: 2.5s (from 12s)\n",
		"converged: 1.5s after the last fault was healed, 300ms after the writes stopped (applied index 121)\n",
		"    1. at 12s: node n2 (leader) down 2.1s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.HasSuffix(out, "\nchaos: PASS\n") || !r.Passed() {
		t.Errorf("a clean run does not pass:\n%s", out)
	}
}

func TestReportFail(t *testing.T) {
	r := passing()
	r.LostCount = 2
	for i := range 12 {
		r.Lost = append(r.Lost, fmt.Sprintf("Endpoint ep-%d missing on n2", i))
	}
	r.HistoryDiffs = []string{"n3: 97 revisions, n1 98"}
	r.Devices[0].Diffs = []string{"t: read 4, compiled 5"}
	r.Converged, r.ConvergeErr = false, "device sw1 not in sync"
	r.UnexpectedExits = []string{"node n2 exited by itself"}
	r.EntryDrops, r.MonitorSamples = []string{"sw1: 3 entries at 7s, after 30"}, 40
	r.Removals, r.RemovedEntries = []string{"t: n3's reconcile of sw1 deleted 27 entries"}, 27
	var b strings.Builder
	r.Print(&b)
	out := b.String()
	last := out[strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")+1:]
	want := "chaos: FAIL: 2 acknowledged writes lost; no convergence: device sw1 not in sync; histories differ (1 differences); " +
		"device sw1 does not hold the model (1 differences); entries went down on 1 devices during the run; 27 committed entries deleted by 1 reconciles; 1 processes exited by themselves\n"
	if last != want {
		t.Errorf("verdict %q, want %q", last, want)
	}
	for _, want := range []string{"acknowledged writes lost: 2\n    Endpoint ep-0 missing on n2\n", "    ... and 4 more\n",
		"histories equal: no (3 of 3 nodes read, 98 revisions)\n    n3: 97 revisions, n1 98\n", "device sw1: no,", "    t: read 4, compiled 5\n", "converged: no: device sw1 not in sync\n",
		"devices whose entries went down during the run: 1 (40 counts read)\n    sw1: 3 entries at 7s, after 30\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "entries deleted by reconciles (the run only adds): 27 in 1 reconciles\n    t: n3's reconcile of sw1 deleted 27 entries\n") {
		t.Errorf("removals not reported:\n%s", out)
	}
	if strings.Contains(out, "ep-8 missing") {
		t.Error("the list of lost writes is not clipped")
	}
	if r.Passed() {
		t.Error("a failed run passes")
	}
}

// With removals allowed, they are reported but fail nothing.
func TestReportAllowRemovals(t *testing.T) {
	r := passing()
	r.EntryDrops, r.Removals, r.RemovedEntries, r.AllowRemovals = []string{"sw1: 0 entries at 7s, after 30"}, []string{"x"}, 4, true
	if !r.Passed() {
		t.Errorf("allowed removals fail the run: %q", r.Violations())
	}
	r.AllowRemovals = false
	if len(r.Violations()) != 2 {
		t.Errorf("violations %q", r.Violations())
	}
}

func TestReportNothingAcked(t *testing.T) {
	r := &Report{Failed: map[string]int{}, Nodes: 3, Converged: true, Errors: []string{"setup: node n1 exited before serving"}}
	var b strings.Builder
	r.Print(&b)
	if !strings.Contains(b.String(), "models equal: not checked (0 of 3 nodes read") {
		t.Errorf("unread models reported as checked:\n%s", b.String())
	}
	v := r.Violations()
	if len(v) != 2 || v[0] != "no apply was acknowledged" || v[1] != "setup: node n1 exited before serving" {
		t.Errorf("violations %q", v)
	}
}
