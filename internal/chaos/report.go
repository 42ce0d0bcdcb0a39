package chaos

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// DeviceResult is one device's final state: entries per table as read
// from the device, as the leader reports them, and as a fresh compile of
// the final model gives them.
type DeviceResult struct {
	Name       string
	InSync     bool
	ModelIndex uint64
	Read       map[string]int
	Reported   map[string]int
	Compiled   map[string]int
	ReadGroups int
	WantGroups int
	// Diffs are the differences between the three counts, and the device
	// not being in sync; empty when the device matches.
	Diffs []string
	Err   string
}

// Report is the outcome of a run: the figures and every check.
type Report struct {
	Seed     int64
	WorkDir  string
	Duration time.Duration // writers' run time

	Attempts        int
	Acked           int
	Failed          map[string]int // kind -> count
	FailedDown      int            // failed applies sent to a node that was down
	FailedCommitted int            // failed applies the final model holds (allowed)

	Faults []string // what the nemesis did, in order

	LostCount int      // acknowledged endpoints lost: must be 0
	Lost      []string // the first few, with the node

	Nodes         int
	ModelsRead    int // nodes whose model was read
	HistoriesRead int // nodes whose history was read
	Objects       int
	ModelIndex    uint64   // the final model's revision index
	ModelDiffs    []string // empty: every node's model equal
	Revisions     int
	HistoryDiffs  []string // empty: every node's history equal

	Devices []DeviceResult

	// EntryDrops are devices whose entries went down while the same
	// device process ran (the run only adds endpoints): entries removed
	// that the committed model held. MonitorSamples is the counts read.
	EntryDrops     []string
	MonitorSamples int
	// Removals are the nodes' reconciles that deleted entries (from their
	// logs), RemovedEntries their sum. AllowRemovals reports drops and
	// removals without failing the run.
	Removals       []string
	RemovedEntries int
	AllowRemovals  bool

	LongestGap     time.Duration // longest window without an acknowledged apply
	LongestGapFrom time.Duration // its start, from the writers' start

	Converged       bool
	ConvergeErr     string
	ConvergeAfter   time.Duration // from the last fault's restart to convergence
	ConvergeFromEnd time.Duration // from the writers' end to convergence
	AppliedIndex    uint64
	// ModelLag is how far, at most, a node's model (Get's index) trailed
	// the applied index all nodes reported alike while converging.
	ModelLag uint64

	UnexpectedExits []string
	Errors          []string // what kept a check from running
}

// Violations are the reasons the run fails; none means it passes.
func (r *Report) Violations() []string {
	var v []string
	if r.Acked == 0 {
		v = append(v, "no apply was acknowledged")
	}
	if r.LostCount > 0 {
		v = append(v, fmt.Sprintf("%d acknowledged writes lost", r.LostCount))
	}
	if !r.Converged {
		v = append(v, "no convergence: "+r.ConvergeErr)
	}
	if len(r.ModelDiffs) > 0 {
		v = append(v, fmt.Sprintf("models differ (%d differences)", len(r.ModelDiffs)))
	}
	if len(r.HistoryDiffs) > 0 {
		v = append(v, fmt.Sprintf("histories differ (%d differences)", len(r.HistoryDiffs)))
	}
	for _, d := range r.Devices {
		if d.Err != "" {
			v = append(v, fmt.Sprintf("device %s: %s", d.Name, d.Err))
		} else if len(d.Diffs) > 0 {
			v = append(v, fmt.Sprintf("device %s does not hold the model (%d differences)", d.Name, len(d.Diffs)))
		}
	}
	if len(r.EntryDrops) > 0 && !r.AllowRemovals {
		v = append(v, fmt.Sprintf("entries went down on %d devices during the run", len(r.EntryDrops)))
	}
	if r.RemovedEntries > 0 && !r.AllowRemovals {
		v = append(v, fmt.Sprintf("%d committed entries deleted by %d reconciles", r.RemovedEntries, len(r.Removals)))
	}
	if len(r.UnexpectedExits) > 0 {
		v = append(v, fmt.Sprintf("%d processes exited by themselves", len(r.UnexpectedExits)))
	}
	v = append(v, r.Errors...)
	return v
}

// Passed reports whether the run found nothing wrong.
func (r *Report) Passed() bool { return len(r.Violations()) == 0 }

// Print writes the report, one line per figure, details indented under
// the line they explain, and the verdict last: "chaos: PASS" or
// "chaos: FAIL: <reasons>".
func (r *Report) Print(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	detail := func(lines []string) {
		for _, l := range clip(lines) {
			p("    %s", l)
		}
	}
	p("seed: %d", r.Seed)
	p("work dir: %s", r.WorkDir)
	p("writes ran: %s", r.Duration.Round(100*time.Millisecond))
	p("faults: %d", len(r.Faults))
	for i, f := range r.Faults {
		p("    %d. %s", i+1, f)
	}
	p("attempts: %d", r.Attempts)
	p("acknowledged: %d", r.Acked)
	p("failed: %d%s", total(r.Failed), byKind(r.Failed))
	p("failed while the node called was down: %d", r.FailedDown)
	p("failed but committed: %d", r.FailedCommitted)
	p("acknowledged writes lost: %d", r.LostCount)
	detail(r.Lost)
	p("models equal: %s (%d of %d nodes read, %d objects, final model at index %d)", equal(r.ModelDiffs, r.ModelsRead, r.Nodes), r.ModelsRead, r.Nodes, r.Objects, r.ModelIndex)
	detail(r.ModelDiffs)
	p("histories equal: %s (%d of %d nodes read, %d revisions)", equal(r.HistoryDiffs, r.HistoriesRead, r.Nodes), r.HistoriesRead, r.Nodes, r.Revisions)
	detail(r.HistoryDiffs)
	for _, d := range r.Devices {
		switch {
		case d.Err != "":
			p("device %s: error: %s", d.Name, d.Err)
		default:
			p("device %s: %s, in sync %t, model index %d: %d entries read, %d reported, %d compiled; %d groups read, %d compiled",
				d.Name, yesNo(len(d.Diffs) == 0), d.InSync, d.ModelIndex, total(d.Read), total(d.Reported), total(d.Compiled), d.ReadGroups, d.WantGroups)
		}
		detail(d.Diffs)
	}
	p("devices whose entries went down during the run: %d (%d counts read)", len(r.EntryDrops), r.MonitorSamples)
	detail(r.EntryDrops)
	p("entries deleted by reconciles (the run only adds): %d in %d reconciles", r.RemovedEntries, len(r.Removals))
	detail(r.Removals)
	p("longest window without an acknowledged apply: %s (from %s)", r.LongestGap.Round(time.Millisecond), r.LongestGapFrom.Round(100*time.Millisecond))
	if r.Converged {
		p("converged: %s after the last fault was healed, %s after the writes stopped (applied index %d)",
			r.ConvergeAfter.Round(time.Millisecond), r.ConvergeFromEnd.Round(time.Millisecond), r.AppliedIndex)
	} else {
		p("converged: no: %s", r.ConvergeErr)
	}
	p("largest lag of a model behind the applied index all nodes reported: %d entries", r.ModelLag)
	p("processes that exited by themselves: %d", len(r.UnexpectedExits))
	detail(r.UnexpectedExits)
	if v := r.Violations(); len(v) > 0 {
		p("chaos: FAIL: %s", strings.Join(v, "; "))
		return
	}
	p("chaos: PASS")
}

// byKind renders failures as " (Unavailable 3, timeout 1)", the most
// frequent first.
func byKind(m map[string]int) string {
	if len(m) == 0 {
		return ""
	}
	kinds := slices.Collect(maps.Keys(m))
	slices.SortFunc(kinds, func(a, b string) int {
		if m[a] != m[b] {
			return m[b] - m[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = fmt.Sprintf("%s %d", k, m[k])
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// equal says whether the nodes read agree: yes, no, or not checked when
// fewer than two were read.
func equal(diffs []string, read, nodes int) string {
	switch {
	case len(diffs) > 0:
		return "no"
	case read < 2:
		return "not checked"
	case read < nodes:
		return "yes, among those read"
	}
	return "yes"
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
