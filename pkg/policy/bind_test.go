package policy

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

const bindModel = `kind: Device
name: leaf1
address: 127.0.0.1:9559
---
kind: Segment
name: prod
id: 10
---
kind: Segment
name: lab
id: 20
---
kind: Port
device: leaf1
port: 1
segment: prod
role: promiscuous
---
kind: Port
device: leaf1
port: 2
segment: prod
role: isolated
---
kind: Port
device: leaf1
port: 3
segment: lab
role: isolated
---
kind: Port
device: leaf1
port: 9
segment: prod
role: uplink
---
kind: Endpoint
name: db
segment: prod
mac: 02:00:00:00:00:01
ips: [10.0.0.1]
device: leaf1
port: 1
labels: {tier: db}
---
kind: Endpoint
name: web
segment: prod
mac: 02:00:00:00:00:02
ips: [10.0.0.2, "2001:db8::2"]
host: web-01.example
labels: {tier: web}
---
kind: Policy
name: web-to-db
segment: prod
from: {tier: web}
to: {tier: db}
rules:
- proto: tcp
  ports: [5432]
`

func TestParseHost(t *testing.T) {
	base := "kind: Endpoint\nname: e\nsegment: prod\nmac: 02:00:00:00:00:01\n"
	tests := []struct{ name, doc, want string }{
		{"host", base + "host: web-01\n", ""},
		{"host and device", base + "host: web-01\ndevice: leaf1\nport: 1\n", "not both"},
		{"host and port", base + "host: web-01\nport: 1\n", "not both"},
		{"neither", base, "device: required"},
		{"empty host", base + "host: \"\"\n", "LLDP system name"},
		{"control character", base + "host: \"a\\tb\"\n", "LLDP system name"},
		{"too long", base + "host: " + strings.Repeat("h", 256) + "\n", "1-255"},
		{"not a string", base + "host: [a]\n", "host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := parseString(t, tt.doc)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if e := objs[0].(*Endpoint); e.Host != "web-01" || e.Placed() {
					t.Errorf("endpoint %+v", e)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

// A host endpoint round-trips through Marshal.
func TestMarshalHost(t *testing.T) {
	m := mustModel(t, bindModel)
	out := string(Marshal(m.Objects()))
	if !strings.Contains(out, `host: "web-01.example"`) {
		t.Fatalf("marshalled:\n%s", out)
	}
	again := mustModel(t, out)
	if again.Endpoints["web"].Host != "web-01.example" || again.Endpoints["web"].Placed() {
		t.Errorf("round trip: %+v", again.Endpoints["web"])
	}
}

type location struct {
	dev  string
	port uint32
}

func TestBind(t *testing.T) {
	m := mustModel(t, bindModel)
	seen := map[string]location{}
	locate := func(h string) (string, uint32, bool) { l, ok := seen[h]; return l.dev, l.port, ok }
	var b Binder
	c := NewCompiler(testTargets)

	// Not seen: the endpoint is compiled nowhere.
	bound, unplaced := b.Bind(m, locate, nil)
	if bound != m || len(unplaced) != 1 || !strings.Contains(unplaced[0], "not seen") {
		t.Fatalf("unseen host: same model %v, unplaced %q", bound == m, unplaced)
	}
	if _, err := c.Update(bound); err != nil {
		t.Fatal(err)
	}
	before := c.Counts("leaf1")

	// Seen on port 2: placed there; the compiler adds its rows and those
	// of the policy it is now a side of.
	seen["web-01.example"] = location{"leaf1", 2}
	bound, unplaced = b.Bind(m, locate, nil)
	if len(unplaced) != 0 || bound.Endpoints["web"].Device != "leaf1" || bound.Endpoints["web"].Port != 2 {
		t.Fatalf("bound %+v, unplaced %q", bound.Endpoints["web"], unplaced)
	}
	if m.Endpoints["web"].Placed() {
		t.Fatal("Bind changed the model it was given")
	}
	d, err := c.Update(bound)
	if err != nil {
		t.Fatal(err)
	}
	if dd := d.Devices["leaf1"]; dd == nil || len(dd.Insert) == 0 || len(dd.Delete) != 0 {
		t.Fatalf("placing: delta %+v", dd)
	}
	if got := c.Counts("leaf1"); got["ingress.src_identity_v4"] != before["ingress.src_identity_v4"]+1 || got["ingress.src_identity_v6"] != before["ingress.src_identity_v6"]+1 {
		t.Errorf("source entries %v after placing, %v before", got, before)
	}
	p, err := testTargets("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	src4, _ := p.Info.Table("ingress.src_identity_v4")
	// entriesAt counts the IPv4 source entries on a port.
	entriesAt := func(port uint32) int {
		es, _, err := c.DeviceEntries("leaf1")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if e.GetTableId() == src4.ID {
				if v := e.GetMatch()[0].GetExact().GetValue(); len(v) > 0 && uint32(v[len(v)-1]) == port {
					n++
				}
			}
		}
		return n
	}
	if entriesAt(2) != 1 {
		t.Errorf("%d IPv4 source entries on port 2, want 1", entriesAt(2))
	}

	// The same locations again: nothing changes, not even a pointer.
	again, _ := b.Bind(m, locate, nil)
	if again.Endpoints["web"] != bound.Endpoints["web"] {
		t.Error("rebinding to the same port made a new endpoint")
	}
	if d, err := c.Update(again); err != nil || d.Len() != 0 {
		t.Errorf("rebinding: delta of %d, err %v", d.Len(), err)
	}

	// The host moves to port 1: its entries move, nothing else changes.
	seen["web-01.example"] = location{"leaf1", 1}
	moved, _ := b.Bind(m, locate, nil)
	d, err = c.Update(moved)
	if err != nil {
		t.Fatal(err)
	}
	dd := d.Devices["leaf1"]
	if dd == nil || len(dd.Delete)+len(dd.Modify) == 0 {
		t.Fatalf("moving: delta %+v", dd)
	}
	if entriesAt(2) != 0 || entriesAt(1) != 2 { // db and web on port 1
		t.Errorf("after the move: %d entries on port 2, %d on port 1", entriesAt(2), entriesAt(1))
	}

	// Seen where it cannot go: unplaced, with the reason, and its entries
	// are removed.
	for _, tt := range []struct {
		at   location
		want string
	}{
		{location{"leaf1", 3}, "which is in segment lab"},
		{location{"leaf1", 9}, "uplink"},
		{location{"leaf1", 7}, "has no Port 7"},
		{location{"leaf9", 1}, `unknown device "leaf9"`},
	} {
		seen["web-01.example"] = tt.at
		bound, unplaced := b.Bind(m, locate, nil)
		if len(unplaced) != 1 || !strings.Contains(unplaced[0], tt.want) || bound.Endpoints["web"].Placed() {
			t.Errorf("at %v: unplaced %q, endpoint %+v", tt.at, unplaced, bound.Endpoints["web"])
		}
		if _, err := c.Update(bound); err != nil {
			t.Fatal(err)
		}
		if got := c.Counts("leaf1"); got["ingress.src_identity_v6"] != before["ingress.src_identity_v6"] {
			t.Errorf("at %v: source entries %v, want those before placing %v", tt.at, got, before)
		}
	}
}

// Identity ids are part of the model: a compiler that saw every model of
// a history and one that compiles only the last produce the same entries,
// as do models restored from a snapshot of the ids. (Followers compile
// only the newest model they see; a new leader must find the devices
// already equal to its own compilation.)
func TestIdentityIDsFollowTheModel(t *testing.T) {
	m := mustModel(t, bindModel)
	apply := func(m *Model, doc string) *Model {
		t.Helper()
		objs, err := parseString(t, doc)
		if err != nil {
			t.Fatal(err)
		}
		n, _, err := m.With(objs, nil)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	ep := "kind: Endpoint\nname: %s\nsegment: prod\nmac: %s\nips: [%s]\ndevice: leaf1\nport: 2\nlabels: {tier: %s}\n"
	history := []*Model{m}
	m = apply(m, fmt.Sprintf(ep, "tmp", "02:00:00:00:00:09", "10.0.0.9", "tmp"))
	history = append(history, m)
	m, _, err := m.With(nil, []Deletion{{Kind: KindEndpoint, Name: "tmp"}})
	if err != nil {
		t.Fatal(err)
	}
	history = append(history, m)
	m = apply(m, fmt.Sprintf(ep, "late", "02:00:00:00:00:0a", "10.0.0.10", "late"))
	m = apply(m, fmt.Sprintf(ep, "late2", "02:00:00:00:00:0b", "10.0.0.11", "late")) // same identity
	history = append(history, m)

	entries := func(c *Compiler) []string {
		es, _, err := c.DeviceEntries("leaf1")
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range es {
			out = append(out, e.String())
		}
		slices.Sort(out)
		return out
	}
	every := NewCompiler(testTargets)
	for _, h := range history {
		if _, err := every.Update(h); err != nil {
			t.Fatal(err)
		}
	}
	last, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	want := entries(every)
	if got := entries(last); !slices.Equal(got, want) {
		t.Errorf("compiling only the last model gives other entries than following the history")
	}
	restored, err := m.WithIdentities(m.Identities())
	if err != nil {
		t.Fatal(err)
	}
	rc, err := Compile(testTargets, restored)
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(rc); !slices.Equal(got, want) {
		t.Errorf("a model restored with its identity ids compiles to other entries")
	}
	// A fresh build of the same documents numbers identities afresh: this
	// is what the ids in the model (and in snapshots) prevent.
	fresh, _, err := Build(m.Objects())
	if err != nil {
		t.Fatal(err)
	}
	fc, err := Compile(testTargets, fresh)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(entries(fc), want) {
		t.Error("the history does not exercise id stickiness: a fresh build compiles the same")
	}

	// Bad snapshot states are refused.
	st := m.Identities()
	for name, mutate := range map[string]func(*IdentityState){
		"id twice":     func(s *IdentityState) { s.Records[1].ID = s.Records[0].ID },
		"id past next": func(s *IdentityState) { s.Records[0].ID = s.Next },
		"missing":      func(s *IdentityState) { s.Records = s.Records[1:] },
		"next zero":    func(s *IdentityState) { s.Next = 0 },
	} {
		bad := IdentityState{Next: st.Next, Records: slices.Clone(st.Records)}
		mutate(&bad)
		if _, err := m.WithIdentities(bad); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Try answers as Update would and leaves the compiler where it was: the
// same entries, and the next Update gives the same delta as on a compiler
// that never tried.
func TestTry(t *testing.T) {
	m := mustModel(t, bindModel)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	twin, _ := Compile(testTargets, m)
	before, _, _ := c.DeviceEntries("leaf1")
	objs, err := parseString(t, "kind: Endpoint\nname: late\nsegment: prod\nmac: 02:00:00:00:00:0a\nips: [10.0.0.10]\ndevice: leaf1\nport: 2\nlabels: {tier: db}\n")
	if err != nil {
		t.Fatal(err)
	}
	next, _, err := m.With(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Try(next); err != nil {
		t.Fatal(err)
	}
	after, _, _ := c.DeviceEntries("leaf1")
	if c.Model() != m || len(after) != len(before) {
		t.Fatalf("Try moved the compiler: %d entries, was %d", len(after), len(before))
	}
	d1, err := c.Update(next)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := twin.Update(next)
	if d1.Len() != d2.Len() || d1.Len() == 0 {
		t.Errorf("delta after a trial %d, without %d", d1.Len(), d2.Len())
	}
	e1, _, _ := c.DeviceEntries("leaf1")
	e2, _, _ := twin.DeviceEntries("leaf1")
	str := func(es []*p4v1.TableEntry) []string {
		var out []string
		for _, e := range es {
			out = append(out, e.String())
		}
		slices.Sort(out)
		return out
	}
	if !slices.Equal(str(e1), str(e2)) {
		t.Error("entries after a trial and an update differ from an update alone")
	}
	// What does not fit is refused, and the compiler stays.
	bad, _, err := next.With([]Object{&Port{Device: "leaf1", Port: 510, Segment: "prod", Role: RoleIsolated}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Try(bad); err == nil || !strings.Contains(err.Error(), "CPU port") {
		t.Errorf("trial of a port on the CPU port: %v", err)
	}
	if c.Model() != next {
		t.Error("a failed trial moved the compiler")
	}
}

// TestBindKeepsAddressIndex: a bound model (a host placed, a link seen)
// keeps the address index of the validated model it came from, so that
// Classify finds a host-placed endpoint by its address through the index
// (not a scan of every endpoint) and by its bound port.
func TestBindKeepsAddressIndex(t *testing.T) {
	objs, err := Parse("bind.yaml", strings.NewReader(bindModel))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := NewModel().With(objs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if m.addrs == nil {
		t.Fatal("With gave a model without an address index")
	}
	var b Binder
	locate := func(string) (string, uint32, bool) { return "leaf1", 2, true }
	bound, unplaced := b.Bind(m, locate, []Link{{PortKey{"leaf1", 9}, PortKey{"leaf2", 9}}})
	if len(unplaced) != 0 || bound == m {
		t.Fatalf("bound: same model %v, unplaced %q", bound == m, unplaced)
	}
	if bound.addrs != m.addrs {
		t.Fatal("the bound model lost the address index")
	}
	c, err := Compile(testTargets, bound)
	if err != nil {
		t.Fatal(err)
	}
	_, srcID, dstID, err := c.Classify("leaf1", 2, nil, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1"))
	if err != nil || srcID == 0 || dstID == 0 {
		t.Fatalf("Classify of web (placed on port 2) to db: src %d, dst %d, %v; want both identities", srcID, dstID, err)
	}
	if _, srcID, _, _ := c.Classify("leaf1", 1, nil, netip.MustParseAddr("10.0.0.2"), netip.MustParseAddr("10.0.0.1")); srcID != 0 {
		t.Fatalf("web's address from port 1 (not its bound port) classified as identity %d", srcID)
	}
}
