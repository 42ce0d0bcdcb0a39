package policy

import (
	"testing"
)

func TestChanges(t *testing.T) {
	m := exampleModel(t)
	e := *m.Endpoints["web-1"]
	e.Labels = map[string]string{"tier": "app"}
	same := *m.Policies["web-to-app"] // an equal copy: no change
	n, _, err := m.With([]Object{&e, &same, &Segment{Name: "extra", ID: 99}}, []Deletion{{KindPort, "leaf1/8"}, {KindEndpoint, "guest-1"}})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][2]bool{}
	for _, c := range Changes(m, n) {
		got[c.Ref] = [2]bool{c.Before != nil, c.After != nil}
	}
	want := map[string][2]bool{"Endpoint web-1": {true, true}, "Segment extra": {false, true}, "Port leaf1/8": {true, false}, "Endpoint guest-1": {true, false}}
	if len(got) != len(want) {
		t.Errorf("changes %v, want %v", got, want)
	}
	for ref, w := range want {
		if got[ref] != w {
			t.Errorf("%s: %v, want %v", ref, got[ref], w)
		}
	}
	// The same answer from two unrelated models (compared object by
	// object), and Lookup finds what the refs name.
	b2, _, err := Build(n.Objects())
	if err != nil {
		t.Fatal(err)
	}
	if cs := Changes(m, b2); len(cs) != len(want) {
		t.Errorf("by comparison: %d changes, want %d", len(cs), len(want))
	}
	if o, ok := n.Lookup("Port leaf1/1"); !ok || o.Ref() != "Port leaf1/1" {
		t.Errorf("lookup: %v %v", o, ok)
	}
}
