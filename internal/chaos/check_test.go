package chaos

import (
	"strings"
	"testing"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

const segDoc = "kind: Segment\nname: chaos\nid: 10\n"

func mustModel(t *testing.T, docs string) map[string]string {
	t.Helper()
	m, err := canonicalModel("test", []byte(docs))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// Two renderings of one model, in another order, with other quoting,
// field order and label order, are equal; a changed label is not.
func TestCanonicalModel(t *testing.T) {
	a := mustModel(t, segDoc+"---\n"+string(endpointDoc(1, 2))+"---\n"+string(endpointDoc(2, 2)))
	b := mustModel(t, string(endpointDoc(2, 2))+"---\n"+
		"kind: Endpoint\nlabels: {tier: web, app: chaos}\nname: \"ep-1\"\nsegment: chaos\nmac: 02:C4:00:00:00:01\nips: [\"10.64.0.1\"]\ndevice: sw2\nport: 1\n"+
		"---\nkind: Segment\nid: 10\nname: chaos\ndefault: deny\n")
	if d := compareModels(map[string]map[string]string{"n1": a, "n2": b}); len(d) != 0 {
		t.Fatalf("equal models differ: %v", d)
	}
	c := mustModel(t, segDoc+"---\n"+strings.Replace(string(endpointDoc(1, 2)), "tier: web", "tier: db", 1)+"---\n"+string(endpointDoc(2, 2)))
	d := compareModels(map[string]map[string]string{"n1": a, "n2": b, "n3": c})
	if len(d) != 1 || d[0] != "n3: Endpoint ep-1 differs from n1's" {
		t.Fatalf("differences %q", d)
	}
	if _, err := canonicalModel("dup", []byte(segDoc+"---\n"+segDoc)); err == nil {
		t.Error("a model with one object twice is accepted")
	}
}

func TestCompareModelsMissingAndExtra(t *testing.T) {
	full := mustModel(t, segDoc+"---\n"+string(endpointDoc(1, 2)))
	short := mustModel(t, segDoc)
	d := compareModels(map[string]map[string]string{"n1": full, "n2": short})
	if len(d) != 1 || d[0] != "n2: Endpoint ep-1 missing (on n1)" {
		t.Errorf("missing: %q", d)
	}
	d = compareModels(map[string]map[string]string{"n1": short, "n2": full})
	if len(d) != 1 || d[0] != "n2: Endpoint ep-1 extra (not on n1)" {
		t.Errorf("extra: %q", d)
	}
	if d := compareModels(map[string]map[string]string{"n1": full}); d != nil {
		t.Errorf("one node: %q", d)
	}
}

// An acknowledged endpoint missing on one node, or held differently, is
// lost once however many nodes lack it; one every node holds is not.
func TestLostWrites(t *testing.T) {
	acked := map[string][]byte{"ep-1": endpointDoc(1, 2), "ep-2": endpointDoc(2, 2), "ep-3": endpointDoc(3, 2)}
	all := segDoc + "---\n" + string(endpointDoc(1, 2)) + "---\n" + string(endpointDoc(2, 2)) + "---\n" + string(endpointDoc(3, 2))
	models := map[string]map[string]string{"n1": mustModel(t, all), "n2": mustModel(t, all), "n3": mustModel(t, all)}
	lines, lost, err := lostWrites(acked, models)
	if err != nil || lost != 0 || len(lines) != 0 {
		t.Fatalf("nothing lost: %q %d %v", lines, lost, err)
	}
	without2 := segDoc + "---\n" + string(endpointDoc(1, 2)) + "---\n" + strings.Replace(string(endpointDoc(3, 2)), "port: 1", "port: 3", 1)
	models["n2"] = mustModel(t, without2)
	models["n3"] = mustModel(t, without2)
	lines, lost, err = lostWrites(acked, models)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"Endpoint ep-2 missing on n2", "Endpoint ep-2 missing on n3",
		"Endpoint ep-3 on n2 differs from the document acknowledged", "Endpoint ep-3 on n3 differs from the document acknowledged"}
	if lost != 2 || strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lost %d: %q", lost, lines)
	}
	// A failed apply that committed anyway is counted, not lost.
	if n := committedFailures(map[string][]byte{"ep-1": nil, "ep-9": nil}, models["n1"]); n != 1 {
		t.Errorf("%d failed but committed, want 1", n)
	}
	if _, _, err := lostWrites(map[string][]byte{"ep-1": []byte(segDoc)}, models); err == nil {
		t.Error("an acknowledged document that is no endpoint passes")
	}
}

func TestCompareHistories(t *testing.T) {
	r1 := revisionString(&p4ctlv1.Revision{Index: 5, TimeUnixNano: 1, Client: "c", Summary: "s", Added: []string{"Endpoint ep-1"}})
	r2 := revisionString(&p4ctlv1.Revision{Index: 6, TimeUnixNano: 2, Client: "c", Summary: "s", Added: []string{"Endpoint ep-2"}})
	r2b := revisionString(&p4ctlv1.Revision{Index: 6, TimeUnixNano: 2, Client: "c", Summary: "s", Changed: []string{"Endpoint ep-2"}})
	if d := compareHistories(map[string][]string{"n1": {r1, r2}, "n2": {r1, r2}}); len(d) != 0 {
		t.Errorf("equal histories: %q", d)
	}
	d := compareHistories(map[string][]string{"n1": {r1, r2}, "n2": {r1, r2b}, "n3": {r1}})
	if len(d) != 2 || !strings.HasPrefix(d[0], "n2: revision 1 is") || d[1] != "n3: 1 revisions, n1 2" {
		t.Errorf("differences %q", d)
	}
}

func TestCompareCounts(t *testing.T) {
	d := compareCounts("read", map[string]int{"a": 1, "b": 2}, "compiled", map[string]int{"b": 3, "c": 4})
	want := []string{"a: read 1, compiled 0", "b: read 2, compiled 3", "c: read 0, compiled 4"}
	if strings.Join(d, "|") != strings.Join(want, "|") {
		t.Errorf("%q", d)
	}
	if d := compareCounts("x", toInts(map[string]int64{"a": 1, "z": 0}), "y", map[string]int{"a": 1}); len(d) != 0 {
		t.Errorf("zero counts differ: %q", d)
	}
}

func TestLongestGap(t *testing.T) {
	start := time.Unix(1000, 0)
	at := func(s float64) time.Time { return start.Add(time.Duration(s * float64(time.Second))) }
	gap, from := longestGap(start, at(10), []time.Time{at(2), at(1), at(6.5), at(3)})
	if gap != 3500*time.Millisecond || from != 3*time.Second {
		t.Errorf("gap %s from %s, want 3.5s from 3s", gap, from)
	}
	gap, from = longestGap(start, at(10), nil)
	if gap != 10*time.Second || from != 0 {
		t.Errorf("no acks: gap %s from %s", gap, from)
	}
}
