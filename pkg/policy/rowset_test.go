package policy

import (
	"maps"
	"net/netip"
	"testing"
)

func TestRowSet(t *testing.T) {
	keys := []struct {
		name    string
		k       rowKey
		compact bool
	}{
		{"policy pair", rowKey{t: tPolPair, n1: 3, n2: 4}, true},
		{"policy port", rowKey{t: tPolPort, n1: 3, n2: 4, proto: 6, dp: portMatch{443, 443}}, true},
		{"reply range", rowKey{t: tRepRange, n1: 3, n2: 4, proto: 17, sp: portMatch{1000, 2000}, flags: 1}, true},
		// A policy table's key with a field policyKey does not hold
		// stays whole, and is not confused with the key without it.
		{"policy port, any protocol", rowKey{t: tPolPort, n1: 3, n2: 4, proto: 6, anyPr: true, dp: portMatch{443, 443}}, false},
		{"policy pair with a device", rowKey{t: tPolPair, dev: 2, n1: 3, n2: 4}, false},
		{"acl", rowKey{t: tACL4, n1: 1, prio: 7, a1: netip.MustParseAddr("10.0.0.1"), b1: 32}, false},
		{"l2", rowKey{t: tL2, dev: 1, n1: 1, mac: [6]byte{2, 0, 0, 0, 0, 1}}, false},
	}
	s := &rowSet{}
	want := map[rowKey]row{}
	for i, tc := range keys {
		if _, ok := compactKey(&tc.k); ok != tc.compact {
			t.Errorf("%s: compact %v, want %v", tc.name, ok, tc.compact)
		}
		if _, ok := s.get(&tc.k); ok {
			t.Fatalf("%s: found before it was put", tc.name)
		}
		r := row{val: rowVal{p: [4]uint32{uint32(i)}}, ref: tc.name}
		s.put(&tc.k, r)
		want[tc.k] = r
	}
	check := func(s *rowSet, want map[rowKey]row) {
		t.Helper()
		if s.len() != len(want) {
			t.Errorf("len %d, want %d", s.len(), len(want))
		}
		got := maps.Collect(s.all())
		if !maps.EqualFunc(got, want, func(a, b row) bool { return a.val == b.val && a.ref == b.ref }) {
			t.Errorf("all() = %v, want %v", got, want)
		}
		for k, w := range want {
			if r, ok := s.get(&k); !ok || r.ref != w.ref {
				t.Errorf("get(%s) = %v, %v", w.ref, r.ref, ok)
			}
		}
	}
	check(s, want)

	c := s.clone()
	for _, tc := range keys[:4] {
		s.del(&tc.k)
		delete(want, tc.k)
	}
	check(s, want)
	if c.len() != len(keys) {
		t.Errorf("the clone has %d rows after the original lost 4, want %d", c.len(), len(keys))
	}

	var empty *rowSet
	if _, ok := empty.get(&keys[0].k); ok || empty.len() != 0 {
		t.Error("a nil set is not empty")
	}
	for range empty.all() {
		t.Error("a nil set yields rows")
	}
}
