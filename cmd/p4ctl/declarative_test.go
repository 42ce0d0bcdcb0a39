package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// historyLen is how many revisions the cluster at api keeps.
func historyLen(t *testing.T, api string) int {
	t.Helper()
	h, err := run(t, "history", "-o", "json", "--server", api)
	if err != nil {
		t.Fatalf("history: %v\n%s", err, h)
	}
	var revs []revisionView
	if err := json.Unmarshal([]byte(h), &revs); err != nil {
		t.Fatalf("history: %v\n%s", err, h)
	}
	return len(revs)
}

// stdoutOf runs a command line with an empty standard input (not a
// terminal) and returns its standard output.
func stdoutOf(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, _, err := runOut(ctx, "", args...)
	return out, err
}

// TestExportRoundTrip: export prints documents that validate takes and
// that apply takes as a no-op (no revision); get all -o yaml prints the
// same documents, and export -o json the same objects.
func TestExportRoundTrip(t *testing.T) {
	api, sim := startServe(t)
	applyExample(t, api, sim)
	before := historyLen(t, api)
	exp, err := stdoutOf(t, "export", "--server", api)
	if err != nil || !strings.HasPrefix(exp, "# p4ctl export from "+api+": 22 objects") {
		t.Fatalf("export: %v\n%s", err, exp)
	}
	f := filepath.Join(t.TempDir(), "exported.yaml")
	writeFile(t, f, exp)
	if o, err := run(t, "validate", "-f", f); err != nil || !strings.Contains(o, "valid: 1 devices, 2 segments, 7 ports, 7 endpoints, 5 policies") {
		t.Errorf("validate of the export: %v\n%s", err, o)
	}
	if o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api); err != nil || !strings.Contains(o, "22 objects unchanged") {
		t.Errorf("apply of the export: %v\n%s", err, o)
	}
	if n := historyLen(t, api); n != before {
		t.Errorf("apply of the export made %d revisions", n-before)
	}
	all, err := stdoutOf(t, "get", "all", "-o", "yaml", "--server", api)
	if err != nil || all != exp[strings.Index(exp, "\n")+1:] {
		t.Errorf("get all -o yaml is not the export's documents: %v\n%s", err, all)
	}
	// One kind, by name.
	pol, err := stdoutOf(t, "export", "policies", "web-to-app", "--server", api)
	if err != nil || strings.Count(pol, "kind: Policy") != 1 || !strings.Contains(pol, `name: "web-to-app"`) {
		t.Errorf("export policies web-to-app: %v\n%s", err, pol)
	}
}

// TestApplyPrune: --prune deletes what the files do not name in the same
// change as the apply, after listing it; without a terminal it needs
// --yes; deleting an object still used by one that stays fails naming
// it, and changes nothing.
func TestApplyPrune(t *testing.T) {
	api, sim := startServe(t)
	example := applyExample(t, api, sim)
	dir := t.TempDir()
	lab := filepath.Join(dir, "lab.yaml")
	writeFile(t, lab, "kind: Segment\nname: lab\nid: 30\n---\nkind: Port\ndevice: leaf1\nport: 30\nsegment: lab\nrole: promiscuous\n")
	if o, err := run(t, "apply", "-f", lab, "--wait=false", "--server", api); err != nil {
		t.Fatalf("apply lab: %v\n%s", err, o)
	}
	revs := historyLen(t, api)

	// diff --prune lists what would go.
	o, err := stdoutOf(t, "diff", "-f", example, "--prune", "--server", api)
	if code, _ := exitCode(err); code != 1 || !strings.Contains(o, "- Port leaf1/30\n- Segment lab\n") {
		t.Errorf("diff --prune: exit %d (%v)\n%s", code, err, o)
	}
	// Not a terminal, no --yes: refused, nothing changes.
	o, err = stdoutOf(t, "apply", "-f", example, "--prune", "--wait=false", "--server", api)
	if err == nil || !strings.Contains(err.Error(), "give --yes") || !strings.Contains(o, "  - Segment lab") {
		t.Errorf("--prune without --yes: %v\n%s", err, o)
	}
	if n := historyLen(t, api); n != revs {
		t.Errorf("a refused prune made %d revisions", n-revs)
	}
	// An object still used: the example without Segment guest, whose
	// port and endpoint stay.
	b, _ := os.ReadFile(example)
	noGuest := filepath.Join(dir, "no-guest.yaml")
	writeFile(t, noGuest, strings.Replace(string(b), "kind: Segment\nname: guest\nid: 20\ndefault: allow\n---\n", "", 1))
	if string(b) == readFileT(t, noGuest) {
		t.Fatal("the example's guest segment was not found to take out")
	}
	o, err = stdoutOf(t, "apply", "-f", noGuest, "--prune", "--yes", "--wait=false", "--server", api)
	if err == nil || !strings.Contains(err.Error(), "Segment guest: still used by Endpoint guest-1, Port leaf1/8") {
		t.Errorf("prune of a used segment: %v\n%s", err, o)
	}
	if n := historyLen(t, api); n != revs {
		t.Errorf("a failed prune made %d revisions", n-revs)
	}
	// --yes: one revision, the lab objects gone, the rest unchanged.
	o, err = stdoutOf(t, "apply", "-f", example, "--prune", "--yes", "--wait=false", "--server", api)
	if err != nil || !strings.Contains(o, "--prune deletes 2 objects") || !strings.Contains(o, "applied") {
		t.Fatalf("--prune --yes: %v\n%s", err, o)
	}
	if n := historyLen(t, api); n != revs+1 {
		t.Errorf("prune made %d revisions, want 1", n-revs)
	}
	h, _ := stdoutOf(t, "history", "-o", "json", "--server", api)
	var hist []revisionView
	_ = json.Unmarshal([]byte(h), &hist)
	if last := hist[len(hist)-1]; len(last.Removed) != 2 || len(last.Added)+len(last.Changed) != 0 {
		t.Errorf("the prune's revision: %+v", last)
	}
	if o, _ := stdoutOf(t, "get", "segments", "-o", "name", "--server", api); o != "segment/guest\nsegment/prod\n" {
		t.Errorf("segments after the prune:\n%s", o)
	}
	// Again: nothing to delete, nothing committed.
	if o, err := stdoutOf(t, "apply", "-f", example, "--prune", "--wait=false", "--server", api); err != nil || !strings.Contains(o, "unchanged") {
		t.Errorf("a prune with nothing to do: %v\n%s", err, o)
	}
	// --yes alone answers apply's other question (a change that denies
	// observed flows); here nothing changes.
	if o, err := stdoutOf(t, "apply", "-f", example, "--yes", "--server", api); err != nil || !strings.Contains(o, "unchanged") {
		t.Errorf("--yes without --prune: %v\n%s", err, o)
	}
}

func readFileT(t *testing.T, f string) string {
	t.Helper()
	b, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDeleteForms: delete takes KIND NAME..., KIND/NAME... (what get -o
// name prints) and -f FILE (the objects the file declares).
func TestDeleteForms(t *testing.T) {
	api, _ := startServe(t)
	f := filepath.Join(t.TempDir(), "lab.yaml")
	writeFile(t, f, "kind: Segment\nname: lab\nid: 30\n---\nkind: Segment\nname: lab2\nid: 31\n---\nkind: Segment\nname: lab3\nid: 32\n")
	apply := func() {
		if o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api); err != nil {
			t.Fatalf("apply: %v\n%s", err, o)
		}
	}
	apply()
	if o, err := stdoutOf(t, "delete", "-f", f, "--server", api); err != nil || !strings.Contains(o, "deleted 3 objects") {
		t.Errorf("delete -f: %v\n%s", err, o)
	}
	apply()
	names, _ := stdoutOf(t, "get", "segments", "-o", "name", "--server", api)
	args := append([]string{"delete"}, strings.Fields(names)...)
	if o, err := stdoutOf(t, append(args, "--server", api)...); err != nil || !strings.Contains(o, "deleted 3 objects") {
		t.Errorf("delete of get -o name's output: %v\n%s", err, o)
	}
	apply()
	if o, err := stdoutOf(t, "delete", "segment", "lab", "lab2", "--server", api); err != nil || !strings.Contains(o, "deleted 2 objects") {
		t.Errorf("delete KIND NAME NAME: %v\n%s", err, o)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"delete", "-f", f, "segment", "lab3"}, "not both"},
		{[]string{"delete", "segment"}, "name the objects"},
		{[]string{"delete", "segmnt/lab3"}, `did you mean "segments"?`},
	} {
		if _, err := stdoutOf(t, append(tt.args, "--server", api)...); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want %q", tt.args, err, tt.want)
		}
	}
}

// TestDiffFieldsAndRollbackPreview: diff shows a changed object field by
// field; rollback --dry-run shows what a rollback would change and
// commits nothing.
func TestDiffFieldsAndRollbackPreview(t *testing.T) {
	api, sim := startServe(t)
	example := applyExample(t, api, sim)
	b, _ := os.ReadFile(example)
	changed := filepath.Join(t.TempDir(), "changed.yaml")
	writeFile(t, changed, strings.Replace(strings.Replace(string(b), "ports: [8080, 8443]", "ports: [8080]", 1), "role: guest", "role: visitor", 1))
	o, err := stdoutOf(t, "diff", "-f", changed, "--server", api)
	for _, want := range []string{
		"~ Policy web-to-app: rules[0].ports: [8080, 8443] -> [8080]\n",
		"~ Endpoint guest-1: labels.role: guest -> visitor\n",
	} {
		if code, _ := exitCode(err); code != 1 || !strings.Contains(o, want) {
			t.Errorf("diff: exit %d, output lacks %q:\n%s", code, want, o)
		}
	}
	revs := historyLen(t, api)
	first, _ := stdoutOf(t, "history", "-o", "json", "--server", api)
	var hist []revisionView
	_ = json.Unmarshal([]byte(first), &hist)
	if o, err := run(t, "apply", "-f", changed, "--wait=false", "--server", api); err != nil {
		t.Fatalf("apply: %v\n%s", err, o)
	}
	rev := hist[0].Index
	o, err = stdoutOf(t, "rollback", "--dry-run", strconv.FormatUint(rev, 10), "--server", api)
	if err != nil || !strings.Contains(o, "would change 2 objects") || !strings.Contains(o, "~ Policy web-to-app: rules[0].ports: [8080] -> [8080, 8443]") {
		t.Errorf("rollback --dry-run: %v\n%s", err, o)
	}
	if n := historyLen(t, api); n != revs+1 {
		t.Errorf("rollback --dry-run committed: %d revisions, want %d", n, revs+1)
	}
	if _, err := stdoutOf(t, "rollback", strconv.FormatUint(rev, 10), "-o", "json", "--server", api); err == nil || !strings.Contains(err.Error(), "-o needs --dry-run") {
		t.Errorf("rollback -o without --dry-run: %v", err)
	}
}

// TestFieldChanges: field by field, lists of scalars whole, lists of
// objects item by item.
func TestFieldChanges(t *testing.T) {
	for _, tt := range []struct {
		before, after string
		want          []string
	}{
		{"a: 1\nb: x\n", "a: 1\nb: y\n", []string{"b: x -> y"}},
		{"ports: [1]\n", "ports: [1, 2]\n", []string{"ports: [1] -> [1, 2]"}},
		{"rules:\n  - {proto: tcp, ports: [80]}\n", "rules:\n  - {proto: tcp, ports: [80, 443]}\n  - {proto: udp}\n",
			[]string{"rules[0].ports: [80] -> [80, 443]", "rules[1]: (none) -> {proto: udp}"}},
		{"labels: {a.b/c: x}\n", "labels: {a.b/c: y, d: z}\n", []string{`labels["a.b/c"]: x -> y`, "labels.d: (none) -> z"}},
		{"community: 3\nrole: community\n", "role: isolated\n", []string{"community: 3 -> (none)", "role: community -> isolated"}},
		{"a: 1\n", "a: 1\n", nil},
	} {
		fs, err := fieldChanges(tt.before, tt.after)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range fs {
			got = append(got, f.Path+": "+flowString(f.Before)+" -> "+flowString(f.After))
		}
		if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%q -> %q:\n got %q\nwant %q", tt.before, tt.after, got, tt.want)
		}
	}
}
