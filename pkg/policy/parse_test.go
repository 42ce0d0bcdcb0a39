package policy

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func parseString(t *testing.T, src string) ([]Object, error) {
	t.Helper()
	return Parse("f.yaml", strings.NewReader(src))
}

func TestParseExample(t *testing.T) {
	f, err := os.Open("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	objs, err := Parse("segmentation.yaml", f)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, o := range objs {
		kinds[o.Kind()]++
	}
	want := map[string]int{KindDevice: 1, KindSegment: 2, KindPort: 7, KindEndpoint: 7, KindPolicy: 5}
	for k, n := range want {
		if kinds[k] != n {
			t.Errorf("%d %s documents, want %d", kinds[k], k, n)
		}
	}
}

func TestParseValues(t *testing.T) {
	objs, err := parseString(t, `
kind: Endpoint
name: e1
segment: s
mac: "02:00:00:00:00:0A"
ips: [10.0.0.1, "2001:DB8::1", "::ffff:10.0.0.9"]
device: d
port: 0x10
labels: {app: web, version: 2}
---
kind: Policy
name: p
segment: s
from: "app in (web, api), tier notin (db), !legacy, team exists"
to: [ "app: db", "env != dev" ]
rules:
  - {proto: TCP, ports: [5432, "8000-8080"], action: deny}
  - {}
`)
	if err != nil {
		t.Fatal(err)
	}
	e := objs[0].(*Endpoint)
	if e.MAC.String() != "02:00:00:00:00:0a" || e.Port != 16 || len(e.IPs) != 3 || e.IPs[2].String() != "10.0.0.9" || e.Labels["version"] != "2" {
		t.Errorf("endpoint %+v", e)
	}
	p := objs[1].(*Policy)
	if got := p.From.String(); got != "app in (api, web), tier notin (db), !legacy, team exists" {
		t.Errorf("from = %q", got)
	}
	if got := p.To.String(); got != "app: db, env != dev" {
		t.Errorf("to = %q", got)
	}
	if p.Priority != DefaultPriority || len(p.Rules) != 2 || p.Rules[0].Proto != ProtoTCP || p.Rules[0].Action != ActionDeny ||
		p.Rules[0].Ports[1] != (PortRange{8000, 8080}) || p.Rules[1].Proto != ProtoAny || p.Rules[1].Action != ActionAllow {
		t.Errorf("policy %+v", p)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string // each must appear in the error
	}{
		{"malformed yaml", "kind: Device\nname: [x\n", []string{"f.yaml:", "malformed YAML"}},
		{"no kind", "name: x\n", []string{"f.yaml:1: document 1: kind: missing"}},
		{"unknown kind", "kind: Switch\nname: x\n", []string{`f.yaml:1: document 1: kind: unknown kind "Switch"`}},
		{"unknown field", "kind: Segment\nname: s\nid: 3\ncolour: red\n", []string{`f.yaml:4: Segment s: colour: unknown field (known: kind, name, id, default)`}},
		{"field twice", "kind: Segment\nname: s\nid: 3\nid: 4\n", []string{`f.yaml:4: Segment s: id: given twice`}},
		{"wrong type", "kind: Segment\nname: s\nid: ten\n", []string{`f.yaml:3: Segment s: id: want a number, got "ten"`}},
		{"segment id too wide", "kind: Segment\nname: s\nid: 70000\n", []string{`id: 70000 is out of range (0-65535)`}},
		{"segment id zero", "kind: Segment\nname: s\nid: 0\n", []string{`id: 0 is reserved`}},
		{"required", "kind: Segment\nname: s\n", []string{`f.yaml:1: Segment s: id: required`}},
		{"bad role", "kind: Port\ndevice: d\nport: 1\nsegment: s\nrole: private\n", []string{`f.yaml:5: Port d/1: role: want isolated, community, promiscuous or uplink, got "private"`}},
		{"community without role", "kind: Port\ndevice: d\nport: 1\nsegment: s\nrole: isolated\ncommunity: 4\n", []string{`community: only community ports have a community`}},
		{"community missing", "kind: Port\ndevice: d\nport: 1\nsegment: s\nrole: community\n", []string{`community: required for a community port`}},
		{"bad mac", "kind: Endpoint\nname: e\nsegment: s\nmac: 02:00:00:00:01\ndevice: d\nport: 1\n", []string{`f.yaml:4: Endpoint e: mac: want a 48-bit MAC`}},
		{"multicast mac", "kind: Endpoint\nname: e\nsegment: s\nmac: 01:00:5e:00:00:01\ndevice: d\nport: 1\n", []string{`mac: 01:00:5e:00:00:01 is a multicast address`}},
		{"bad ip", "kind: Endpoint\nname: e\nsegment: s\nmac: 02:00:00:00:00:01\nips: [10.0.0.300]\ndevice: d\nport: 1\n", []string{`f.yaml:5: Endpoint e: ips[0]: want an IPv4 or IPv6 address, got "10.0.0.300"`}},
		{"ip twice", "kind: Endpoint\nname: e\nsegment: s\nmac: 02:00:00:00:00:01\nips: [10.0.0.1, 10.0.0.1]\ndevice: d\nport: 1\n", []string{`ips[1]: 10.0.0.1 is listed twice`}},
		{"bad label", "kind: Endpoint\nname: e\nsegment: s\nmac: 02:00:00:00:00:01\ndevice: d\nport: 1\nlabels: {app: \"a b\"}\n", []string{`labels.app: label value "a b"`}},
		{"bad name", "kind: Device\nname: \"leaf 1\"\naddress: a:1\n", []string{`name: name "leaf 1": character ' ' is not allowed`}},
		{"bad address", "kind: Device\nname: leaf1\naddress: nowhere\n", []string{`address: want host:port, got "nowhere"`}},
		{"bad selector", "kind: Policy\nname: p\nsegment: s\nfrom: \"app in web\"\nto: \"\"\nrules: [{}]\n", []string{`f.yaml:4: Policy p: from: requirement "app in web": want a list in parentheses`}},
		{"unbalanced selector", "kind: Policy\nname: p\nsegment: s\nfrom: \"app in (a, b\"\nto: \"\"\nrules: [{}]\n", []string{`unbalanced '('`}},
		{"port out of range", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto: \"\"\nrules:\n  - proto: tcp\n    ports: [70000]\n", []string{`f.yaml:8: Policy p: rules[0].ports[0]: "70000" is not a port (0-65535)`}},
		{"backwards range", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto: \"\"\nrules: [{proto: udp, ports: [\"90-80\"]}]\n", []string{`range 90-80 is backwards`}},
		{"ports without tcp/udp", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto: \"\"\nrules: [{proto: icmp, ports: [1]}]\n", []string{`rules[0].ports: ports need proto tcp or udp (proto is icmp)`}},
		{"bad action", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto: \"\"\nrules: [{action: drop}]\n", []string{`rules[0].action: want allow, deny or punt, got "drop"`}},
		{"bad proto", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto: \"\"\nrules: [{proto: sctp}]\n", []string{`rules[0].proto: want tcp, udp, icmp, icmpv6 or any, got "sctp"`}},
		{"priority too high", "kind: Policy\nname: p\nsegment: s\npriority: 5000\nfrom: \"\"\nto: \"\"\nrules: [{}]\n", []string{`priority: 5000 is out of range (0-1000)`}},
		{"cidr host bits", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto_cidrs: [10.0.0.1/8]\nrules: [{}]\n", []string{`to_cidrs[0]: 10.0.0.1/8 has host bits set (did you mean 10.0.0.0/8?)`}},
		{"selector and cidrs", "kind: Policy\nname: p\nsegment: s\nfrom: \"\"\nto: \"\"\nto_cidrs: [10.0.0.0/8]\nrules: [{}]\n", []string{`to_cidrs: give to or to_cidrs, not both`}},
		{"both cidrs", "kind: Policy\nname: p\nsegment: s\nfrom_cidrs: [10.0.0.0/8]\nto_cidrs: [10.0.0.0/8]\nrules: [{}]\n", []string{`one side must select endpoints`}},
		{"alias", "kind: Segment\nname: &n s\nid: *n\n", []string{`YAML aliases are not supported`}},
		{"second document line numbers", "kind: Segment\nname: a\nid: 1\n---\n# comment\nkind: Segment\nname: b\nid: x\n", []string{`f.yaml:8: Segment b: id: want a number`}},
		{"not a mapping", "- a\n- b\n", []string{`a document must be a mapping`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			objs, err := parseString(t, c.src)
			if err == nil {
				t.Fatalf("no error; parsed %v", objs)
			}
			if objs != nil {
				t.Errorf("objects returned with an error: %v", objs)
			}
			var pe Errors
			var e *Error
			if !errors.As(err, &pe) && !errors.As(err, &e) {
				t.Errorf("error %T is not a policy error", err)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\ndoes not contain\n%s", err, w)
				}
			}
		})
	}
}

func TestParseOneBadDocumentReturnsNothing(t *testing.T) {
	objs, err := parseString(t, "kind: Segment\nname: a\nid: 1\n---\nkind: Segment\nname: b\nid: -1\n")
	if err == nil || objs != nil {
		t.Fatalf("objs %v, err %v; want no objects and an error", objs, err)
	}
}

func TestParseLimits(t *testing.T) {
	big := "kind: Segment\nname: s\nid: 1\n# " + strings.Repeat("x", MaxDocumentBytes) + "\n"
	if _, err := parseString(t, big); err == nil || !strings.Contains(err.Error(), "the limit is") {
		t.Errorf("oversized document: err = %v", err)
	}
	// Many small documents are fine, and parse in time proportional to size.
	var b strings.Builder
	for i := range 2000 {
		b.WriteString("---\nkind: Segment\nname: s")
		b.WriteString(itoa(i))
		b.WriteString("\nid: ")
		b.WriteString(itoa(i + 1))
		b.WriteString("\n")
	}
	objs, err := parseString(t, b.String())
	if err != nil || len(objs) != 2000 {
		t.Errorf("2000 documents: %d objects, err %v", len(objs), err)
	}
}

func TestSelectors(t *testing.T) {
	labels := map[string]string{"app": "web", "tier": "front", "team": "a"}
	cases := []struct {
		sel   string
		match bool
		err   string
	}{
		{"", true, ""},
		{"app: web", true, ""},
		{"app = web", true, ""},
		{"app == web", true, ""},
		{"app: db", false, ""},
		{"app != db", true, ""},
		{"app != web", false, ""},
		{"missing != x", true, ""},
		{"app in (db, web)", true, ""},
		{"app in(db,web)", true, ""},
		{"app notin (db, web)", false, ""},
		{"missing notin (a)", true, ""},
		{"missing in (a)", false, ""},
		{"team exists", true, ""},
		{"missing exists", false, ""},
		{"!missing", true, ""},
		{"!app", false, ""},
		{"app: web, tier: front", true, ""},
		{"app: web, tier: back", false, ""},
		{"app web", false, "want 'key: value'"},
		{"app: web,", false, "empty requirement"},
		{"(app)", false, "empty label key"},
		{"app in ()", false, "empty value"},
		{"app in ((a))", false, "nested parentheses"},
		{"app: we b", false, "not allowed"},
	}
	for _, c := range cases {
		sel, err := ParseSelector(c.sel)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%q: err = %v, want %q", c.sel, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.sel, err)
			continue
		}
		if got := sel.Matches(labels); got != c.match {
			t.Errorf("%q matches %v = %v, want %v", c.sel, labels, got, c.match)
		}
		// The canonical form parses back to the same selector.
		if sel2, err := ParseSelector(strings.TrimPrefix(sel.String(), "(all)")); err != nil || sel2.String() != sel.String() {
			t.Errorf("%q: canonical %q reparses to %q (%v)", c.sel, sel.String(), sel2.String(), err)
		}
	}
}

func FuzzParse(f *testing.F) {
	if b, err := os.ReadFile("../../examples/segmentation.yaml"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("kind: Policy\nname: p\nsegment: s\nfrom: \"a in (b, c), !d\"\nto: {x: y}\nrules: [{proto: tcp, ports: [1, \"2-3\"]}]\n"))
	f.Add([]byte("--- \nkind: Segment\nname: s\nid: 1\n...\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		objs, err := Parse("fuzz.yaml", strings.NewReader(string(data)))
		if err != nil {
			if objs != nil {
				t.Fatal("objects with an error")
			}
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		// What parses marshals to text that parses to the same text again.
		out := Marshal(objs)
		back, err := Parse("marshalled.yaml", strings.NewReader(string(out)))
		if err != nil {
			t.Fatalf("marshalled objects do not parse: %v\n%s", err, out)
		}
		if again := Marshal(back); string(again) != string(out) {
			t.Fatalf("marshal is not stable:\n%s\n----\n%s", out, again)
		}
		m, _, err := Build(objs)
		if err != nil {
			return
		}
		c, err := Compile(testTargets, m)
		if err != nil {
			return
		}
		for name := range m.Devices {
			if _, _, err := c.DeviceEntries(name); err != nil {
				t.Fatalf("device %s: compiled model does not build entries: %v", name, err)
			}
		}
	})
}

// TestMarshalRoundTrip: Marshal's output parses back to the same model,
// and marshals to the same bytes.
func TestMarshalRoundTrip(t *testing.T) {
	m := exampleModel(t)
	out := Marshal(m.Objects())
	objs, err := Parse("marshalled.yaml", strings.NewReader(string(out)))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	m2, _, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	if again := Marshal(m2.Objects()); string(again) != string(out) {
		t.Errorf("second marshal differs:\n%s\n---- first:\n%s", again, out)
	}
	c1, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Compile(testTargets, m2)
	if err != nil {
		t.Fatal(err)
	}
	e1, g1, _ := c1.DeviceEntries("leaf1")
	e2, g2, _ := c2.DeviceEntries("leaf1")
	if len(e1) != len(e2) || len(g1) != len(g2) {
		t.Fatalf("round-tripped model compiles to %d entries, %d groups; want %d, %d", len(e2), len(g2), len(e1), len(g1))
	}
	for i := range e1 {
		if pipeline.EntryKey(e1[i]) != pipeline.EntryKey(e2[i]) || pipeline.ActionKey(e1[i]) != pipeline.ActionKey(e2[i]) {
			t.Fatalf("entry %d differs after the round trip", i)
		}
	}
}
