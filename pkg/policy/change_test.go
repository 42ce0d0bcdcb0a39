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

// TestReapplyKeepsObjects: a whole model applied again, copies of every
// object with one policy changed, keeps the objects it held (pointers), so
// that the compiler moves incrementally (no device or segment looks
// changed) and writes only what the policy changes.
func TestReapplyKeepsObjects(t *testing.T) {
	m := exampleModel(t)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	var objs []Object
	for _, o := range m.Objects() {
		switch x := o.(type) {
		case *Device:
			cp := *x
			objs = append(objs, &cp)
		case *Segment:
			cp := *x
			objs = append(objs, &cp)
		case *Port:
			cp := *x
			objs = append(objs, &cp)
		case *Endpoint:
			cp := *x
			objs = append(objs, &cp)
		case *Policy:
			cp := *x
			if cp.Name == "web-to-app" {
				cp.Priority++
			}
			objs = append(objs, &cp)
		}
	}
	n, _, err := m.With(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, d := range m.Devices {
		if n.Devices[name] != d {
			t.Errorf("device %s: a new object for an equal document", name)
		}
	}
	for name, e := range m.Endpoints {
		if n.Endpoints[name] != e {
			t.Errorf("endpoint %s: a new object for an equal document", name)
		}
	}
	if n.Policies["web-to-app"] == m.Policies["web-to-app"] {
		t.Error("the changed policy kept its old object")
	}
	cs := Changes(m, n)
	if len(cs) != 1 || cs[0].Ref != "Policy web-to-app" {
		t.Errorf("changes %v, want only Policy web-to-app", cs)
	}
	if c.needsFull(n) {
		t.Error("re-applying equal devices and segments takes a full recompile")
	}
	if _, err := c.Update(n); err != nil {
		t.Fatal(err)
	}
}
