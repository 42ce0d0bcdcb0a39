package agent

import (
	"reflect"
	"strings"
	"testing"
)

func TestParsePortMap(t *testing.T) {
	got, err := ParsePortMap([]byte("1: veth1\n2: veth3\n510: cpu0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]uint32{"veth1": 1, "veth3": 2, "cpu0": 510}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
	for _, tt := range []struct{ in, want string }{
		{"", "empty"},
		{"- a\n", "want a mapping"},
		{"x: veth1\n", `port "x"`},
		{"0: veth1\n", `port "0"`},
		{"4294967296: veth1\n", "4294967296"},
		{"1: veth1\n1: veth2\n", "port 1 is given twice"},
		{"1: veth1\n2: veth1\n", "interface veth1 is given twice"},
		{"1: a-very-long-interface-name\n", "1-15 characters"},
		{"1: [a]\n", "want port: interface"},
		{"1: veth1\n  bad", "no '/', ':' or spaces"},
	} {
		if _, err := ParsePortMap([]byte(tt.in)); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: err = %v, want one containing %q", tt.in, err, tt.want)
		}
	}
}

func FuzzPortMap(f *testing.F) {
	f.Add([]byte("1: veth1\n2: veth3\n"))
	f.Add([]byte("{1: a, 2: b}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParsePortMap(b)
		if err != nil {
			return
		}
		seen := map[uint32]bool{}
		for name, port := range m {
			if port == 0 || name == "" || len(name) > 15 || strings.ContainsAny(name, "/: \t\n") || seen[port] {
				t.Fatalf("accepted %q as %v", b, m)
			}
			seen[port] = true
		}
	})
}
