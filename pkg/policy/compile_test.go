package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func exampleModel(t testing.TB) *Model {
	t.Helper()
	b, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return mustModel(t, string(b))
}

func compileExample(t testing.TB) *Compiler {
	t.Helper()
	c, err := Compile(testTargets, exampleModel(t))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestTraceExample checks the compiled example's behaviour flow by flow:
// the verdict, the ports and the deciding policy.
func TestTraceExample(t *testing.T) {
	c := compileExample(t)
	A := netip.MustParseAddr
	cases := []struct {
		name    string
		p       Packet
		verdict string
		ports   []uint32
		policy  string
	}{
		{"web to app tcp/8080", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("10.0.0.3"), Proto: ProtoTCP, SPort: 40000, DPort: 8080, TCPFlags: 0x02}, VerdictAllow, []uint32{3}, "web-to-app"},
		{"web to app tcp/8443 over IPv6", Packet{InPort: 2, Src: A("2001:db8::2"), Dst: A("2001:db8::3"), Proto: ProtoTCP, SPort: 40000, DPort: 8443}, VerdictAllow, []uint32{3}, "web-to-app"},
		{"web to app tcp/22 denied by default", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("10.0.0.3"), Proto: ProtoTCP, SPort: 40000, DPort: 22}, VerdictDeny, nil, ""},
		{"app reply to web with ACK", Packet{InPort: 3, Src: A("10.0.0.3"), Dst: A("10.0.0.1"), Proto: ProtoTCP, SPort: 8080, DPort: 40000, TCPFlags: 0x12}, VerdictAllow, []uint32{1}, "web-to-app"},
		{"app to web without ACK is not a reply", Packet{InPort: 3, Src: A("10.0.0.3"), Dst: A("10.0.0.1"), Proto: ProtoTCP, SPort: 8080, DPort: 40000, TCPFlags: 0x02}, VerdictDeny, nil, ""},
		{"web icmp to app", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("10.0.0.3"), Proto: ProtoICMP}, VerdictAllow, []uint32{3}, "web-to-app"},
		{"web icmpv6 to app", Packet{InPort: 1, Src: A("2001:db8::1"), Dst: A("2001:db8::3"), Proto: ProtoICMPv6}, VerdictAllow, []uint32{3}, "web-to-app"},
		{"app to db 5432", Packet{InPort: 3, Src: A("10.0.0.3"), Dst: A("10.0.0.4"), Proto: ProtoTCP, SPort: 40000, DPort: 5432}, VerdictAllow, []uint32{4}, "app-to-db"},
		{"web to db 5432 denied", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("10.0.0.4"), Proto: ProtoTCP, SPort: 40000, DPort: 5432}, VerdictDeny, nil, ""},
		{"web to db admin port: explicit deny", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("10.0.0.4"), Proto: ProtoTCP, SPort: 40000, DPort: 9050}, VerdictDeny, nil, "db-admin-locked"},
		{"batch to batch udp in community", Packet{InPort: 5, Src: A("10.0.0.5"), Dst: A("10.0.0.6"), Proto: ProtoUDP, SPort: 40000, DPort: 7005}, VerdictAllow, []uint32{6}, "batch-peers"},
		{"batch to app udp", Packet{InPort: 5, Src: A("10.0.0.5"), Dst: A("10.0.0.3"), Proto: ProtoUDP, SPort: 40000, DPort: 7000}, VerdictAllow, []uint32{3}, "batch-peers"},
		{"batch to web: selector excludes web", Packet{InPort: 5, Src: A("10.0.0.5"), Dst: A("10.0.0.1"), Proto: ProtoUDP, SPort: 40000, DPort: 7000}, VerdictDeny, nil, ""},
		{"web to web isolated even if allowed", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("10.0.0.2"), Proto: ProtoUDP, SPort: 40000, DPort: 53}, VerdictDeny, nil, ""},
		// The resolver is no endpoint: its MAC is unknown, so the frame
		// floods, and an isolated port's flood reaches the promiscuous ones.
		{"dns via ACL", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("192.0.2.53"), Proto: ProtoUDP, SPort: 40000, DPort: 53}, VerdictAllow, []uint32{3, 4}, "dns"},
		{"dns over tcp is not in the ACL", Packet{InPort: 1, Src: A("10.0.0.1"), Dst: A("192.0.2.53"), Proto: ProtoTCP, SPort: 40000, DPort: 53}, VerdictDeny, nil, ""},
		{"spoofed source", Packet{InPort: 1, Src: A("10.0.0.2"), Dst: A("10.0.0.3"), Proto: ProtoTCP, SPort: 40000, DPort: 8080}, VerdictDeny, nil, ""},
		{"unconfigured port", Packet{InPort: 7, Src: A("10.0.0.1"), Dst: A("10.0.0.3"), Proto: ProtoTCP, SPort: 40000, DPort: 8080, SrcMAC: mustMAC("02:00:00:00:00:01")}, VerdictDeny, nil, ""},
		{"guest segment default allow, unknown dst floods to nobody", Packet{InPort: 8, Src: A("10.0.20.8"), Dst: A("10.0.20.9"), Proto: ProtoUDP, SPort: 1, DPort: 2}, VerdictDeny, nil, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res, err := c.Trace("leaf1", tc.p)
			if err != nil {
				t.Fatal(err)
			}
			if res.Verdict != tc.verdict || !slices.Equal(res.Ports, tc.ports) && len(tc.ports)+len(res.Ports) > 0 || res.Policy != tc.policy {
				t.Errorf("got %s to %v by %q (%s), want %s to %v by %q\n%s", res.Verdict, res.Ports, res.Policy, res.Reason,
					tc.verdict, tc.ports, tc.policy, hits(res))
			}
		})
	}
}

func hits(r *TraceResult) string {
	var b strings.Builder
	for _, h := range r.Entries {
		fmt.Fprintf(&b, "  %s %v\n", h.Entry, h.From)
	}
	return b.String()
}

func mustMAC(s string) []byte {
	m, err := parseMAC(s)
	if err != nil {
		panic(err)
	}
	return m
}

func TestCompileExampleCounts(t *testing.T) {
	c := compileExample(t)
	st := c.Stats()
	got := st.Devices["leaf1"]
	// 7 ports; 2 segments; web-1/2, app-1, db-1, guest-1 have v6 too.
	// Destination identities: every prod endpoint is named by a rule of a
	// local source; guest-1 by none (guest has no policy: its default
	// allows without one).
	want := map[string]int{"ingress.ports": 7, "egress.ports": 7, "ingress.segments": 2, "ingress.src_identity_v4": 7,
		"ingress.src_identity_v6": 5, "ingress.dst_identity_v4": 6, "ingress.dst_identity_v6": 4, "ingress.l2": 7}
	for tn, n := range want {
		if got[tn] != n {
			t.Errorf("%s: %d entries, want %d", tn, got[tn], n)
		}
	}
	if st.Identities != 5 {
		t.Errorf("%d identities, want 5 (web, app, db, batch, guest)", st.Identities)
	}
	if st.NaiveEntries <= st.Entries {
		t.Errorf("naive %d <= compiled %d: web has two endpoints, so pairs should cost more", st.NaiveEntries, st.Entries)
	}
	_, groups, err := c.DeviceEntries("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	if len(groups) != 2 || groups[0].GetMulticastGroupId() != 10 || len(groups[0].GetReplicas()) != 6 || len(groups[1].GetReplicas()) != 1 {
		t.Errorf("groups %v", groups)
	}
}

func TestPriorityOrder(t *testing.T) {
	one := &PortRange{80, 80}
	many := &PortRange{80, 90}
	ordered := []int32{ // ascending
		Priority(100, ProtoAny, nil, ActionAllow),
		Priority(100, ProtoAny, nil, ActionDeny),
		Priority(100, ProtoTCP, nil, ActionAllow),
		Priority(100, ProtoTCP, many, ActionAllow),
		Priority(100, ProtoTCP, many, ActionPunt),
		Priority(100, ProtoTCP, many, ActionDeny),
		Priority(100, ProtoTCP, one, ActionAllow),
		Priority(101, ProtoAny, nil, ActionAllow),
	}
	if !slices.IsSorted(ordered) || slices.Compact(slices.Clone(ordered)) == nil || len(slices.Compact(slices.Clone(ordered))) != len(ordered) {
		t.Errorf("priorities %v are not strictly ascending", ordered)
	}
	if p := Priority(MaxPriority, ProtoTCP, one, ActionDeny); p <= 0 || p > 1<<20 {
		t.Errorf("max priority %d", p)
	}
}

// smallTargets is the BMv2 pipeline with the single-port policy table cut
// to size.
func smallTargets(policySize int64) Targets {
	return func(name string) (*pipeline.Pipeline, error) {
		p, err := pipeline.Embedded(name)
		if err != nil {
			return nil, err
		}
		t, _ := p.Info.Table("ingress.policy_port")
		t.Size = policySize
		return p, nil
	}
}

// TestBudgetRefused: on a target with a memory budget the entries must
// also fit the memory the tables share: a model whose ACL and port class
// entries overflow the TCAM is refused, naming the device and the memory.
func TestBudgetRefused(t *testing.T) {
	pipeline.Budgets["test-tiny"] = pipeline.Budget{Name: "test-tiny", Stages: 1, SRAMBlocks: 1, TCAMBlocks: 1,
		SRAMWords: 1024, SRAMWordBits: 128, TCAMRows: 8, TCAMRowBits: 44, HashFill: 0.9}
	defer delete(pipeline.Budgets, "test-tiny")
	tiny := func(name string) (*pipeline.Pipeline, error) {
		p, err := pipeline.Embedded(name)
		if err != nil {
			return nil, err
		}
		p.Target.Budget = "test-tiny"
		return p, nil
	}
	_, err := Compile(tiny, exampleModel(t))
	if !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "device leaf1: test-tiny: entries need") ||
		!strings.Contains(err.Error(), "TCAM blocks of the pipe's 1") {
		t.Fatalf("err = %v", err)
	}
	pipeline.Budgets["test-tiny"] = pipeline.Budget{Name: "test-tiny", Stages: 1, SRAMBlocks: 1, TCAMBlocks: 1,
		SRAMWords: 1024, SRAMWordBits: 128, TCAMRows: 512, TCAMRowBits: 44, HashFill: 0.9}
	if _, err := Compile(tiny, exampleModel(t)); err != nil {
		t.Fatalf("the example in one block of each: %v", err)
	}
}

// TestPortClassSplit: a new range that cuts the atom of an existing one
// adds rows only for the policies whose ranges cover the new atom, and
// for its own pairs: no other row is rewritten. Taking it away again
// removes exactly those.
func TestPortClassSplit(t *testing.T) {
	m := exampleModel(t)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	// db-admin-locked denies tcp 9000-9100 from three identities (web,
	// db, batch: tier notin (app)) to db. A rule of 9050-9200 from app to
	// db cuts that atom at 9050 and adds 9101-9200.
	cut := &Policy{Name: "cut", Segment: "prod", Priority: 100, From: mustSelector(t, "tier: app"), To: mustSelector(t, "tier: db"),
		Rules: []Rule{{Proto: ProtoTCP, Ports: []PortRange{{9050, 9200}}, Action: ActionAllow}}}
	m2, _, err := m.With([]Object{cut}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := c.Update(m2)
	if err != nil {
		t.Fatal(err)
	}
	dd := d.Devices["leaf1"]
	count := func(es []*p4v1.TableEntry) map[string]int {
		out := map[string]int{}
		for _, e := range es {
			tb, _ := c.DeviceInfo("leaf1").TableByID(e.GetTableId())
			out[tb.Name]++
		}
		return out
	}
	// Inserted: db-admin-locked's 3 pairs get the atom 9050-9100 (3
	// rows); the new policy's pair covers 9050-9100 and 9101-9200 (2 rows)
	// and, for its reply, the one source atom 9050-9200 (deny rules have
	// no replies, so source ports are not cut by db-admin-locked); the
	// class rows 9000-9049, 9050-9100 and 9101-9200 for destination ports
	// and 9050-9200 for source ports. Deleted: the class row 9000-9100.
	want := map[string]int{"ingress.policy_range": 5, "ingress.reply_range": 1, "ingress.dst_port_class": 3, "ingress.src_port_class": 1}
	if got := count(dd.Insert); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("inserts %v, want %v", got, want)
	}
	if got := count(dd.Delete); fmt.Sprint(got) != fmt.Sprint(map[string]int{"ingress.dst_port_class": 1}) || len(dd.Modify) != 0 {
		t.Errorf("deletes %v, modifies %d: only the cut class row should go", got, len(dd.Modify))
	}
	back, err := c.Update(m)
	if err != nil {
		t.Fatal(err)
	}
	bd := back.Devices["leaf1"]
	if fmt.Sprint(count(bd.Delete)) != fmt.Sprint(want) || fmt.Sprint(count(bd.Insert)) != fmt.Sprint(map[string]int{"ingress.dst_port_class": 1}) {
		t.Errorf("undo: deletes %v, inserts %v", count(bd.Delete), count(bd.Insert))
	}
}

func mustSelector(t *testing.T, s string) Selector {
	t.Helper()
	sel, err := ParseSelector(s)
	if err != nil {
		t.Fatal(err)
	}
	return sel
}

// TestPortClassesRefused: port classes take entries too; a model whose
// atoms do not fit the class table is refused, naming it.
func TestPortClassesRefused(t *testing.T) {
	targets := func(name string) (*pipeline.Pipeline, error) {
		p, err := pipeline.Embedded(name)
		if err != nil {
			return nil, err
		}
		t, _ := p.Info.Table("ingress.dst_port_class")
		t.Size = 2
		return p, nil
	}
	m := exampleModel(t)
	if _, err := Compile(targets, m); err != nil {
		t.Fatalf("the example's two atoms: %v", err)
	}
	more := &Policy{Name: "ranges", Segment: "prod", Priority: 1, From: Selector{}, To: Selector{},
		Rules: []Rule{{Proto: ProtoTCP, Ports: []PortRange{{20000, 20010}}, Action: ActionDeny}}}
	m2, _, err := m.With([]Object{more}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(targets, m2); !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "device leaf1: table ingress.dst_port_class needs 3 entries and holds 2") {
		t.Fatalf("err = %v", err)
	}
}

func TestCapacityRefused(t *testing.T) {
	m := exampleModel(t)
	_, err := Compile(smallTargets(2), m)
	if !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "device leaf1: table ingress.policy_port needs 3 entries and holds 2") {
		t.Fatalf("err = %v", err)
	}
	// Incrementally: a policy that would overflow is refused and the
	// compiler keeps the old model and rows.
	c, err := Compile(smallTargets(3), m)
	if err != nil {
		t.Fatal(err)
	}
	before, _, _ := c.DeviceEntries("leaf1")
	extra := &Policy{Name: "more", Segment: "prod", Priority: 1, From: Selector{}, To: Selector{},
		Rules: []Rule{{Proto: ProtoUDP, Ports: []PortRange{{1000, 1000}}, Action: ActionAllow}}}
	m2, _, err := m.With([]Object{extra}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(m2); !errors.Is(err, ErrCapacity) {
		t.Fatalf("update over capacity: err = %v", err)
	}
	if c.Model() != m {
		t.Error("refused update changed the model")
	}
	after, _, _ := c.DeviceEntries("leaf1")
	if len(after) != len(before) {
		t.Errorf("refused update changed the entries: %d -> %d", len(before), len(after))
	}

	// A trial that changes a segment recompiles aside: it answers as
	// Update would and leaves the compiler as it was, fitting or not.
	seg := &Segment{Name: "extra", ID: 77}
	m3, _, err := m.With([]Object{seg}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Try(m3); err != nil {
		t.Errorf("trial of a new segment: %v", err)
	}
	m4, _, err := m.With([]Object{seg, extra}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Try(m4); !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "table ingress.policy_port") {
		t.Errorf("trial of a new segment and a policy over capacity: err = %v", err)
	}
	if _, err := c.Update(m4); !errors.Is(err, ErrCapacity) {
		t.Errorf("update to the same model: err = %v", err)
	}
	after, _, _ = c.DeviceEntries("leaf1")
	if c.Model() != m || len(after) != len(before) {
		t.Errorf("trials moved the compiler: model kept %v, %d entries, was %d", c.Model() == m, len(after), len(before))
	}
}

func TestTargetChecks(t *testing.T) {
	m := exampleModel(t)
	p := *m.Ports[PortKey{"leaf1", 8}]
	p.Port = 510 // BMv2's CPU port
	m2, _, err := m.With([]Object{&p}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(testTargets, m2); err == nil || !strings.Contains(err.Error(), "port 510 is target bmv2's CPU port") {
		t.Errorf("CPU port: err = %v", err)
	}
	p.Port = 600
	m3, _, _ := m.With([]Object{&p}, nil)
	if _, err := Compile(testTargets, m3); err == nil || !strings.Contains(err.Error(), "port 600 does not fit target bmv2's 9-bit port field") {
		t.Errorf("wide port: err = %v", err)
	}
	d := *m.Devices["leaf1"]
	d.Target = "netfpga"
	m4, _, _ := m.With([]Object{&d}, nil)
	if _, err := Compile(testTargets, m4); err == nil || !strings.Contains(err.Error(), "Device leaf1: target") || !strings.Contains(err.Error(), `unknown target "netfpga"`) {
		t.Errorf("unknown target: err = %v", err)
	}
	// A Tofino device compiles against its profile's modelled pipeline
	// (no bf-p4c build is embedded), whose CPU port is 320.
	d.Target = "tofino"
	m5, _, _ := m.With([]Object{&d}, nil)
	if _, err := Compile(testTargets, m5); err != nil {
		t.Errorf("tofino: %v", err)
	}
	p.Port, p.Device = 320, "leaf1"
	m6, _, _ := m5.With([]Object{&p}, nil)
	if _, err := Compile(testTargets, m6); err == nil || !strings.Contains(err.Error(), "port 320 is target tofino's CPU port") {
		t.Errorf("tofino CPU port: err = %v", err)
	}
}

func TestValidateAcrossDocuments(t *testing.T) {
	base := `
kind: Device
name: d
address: a:1
---
kind: Segment
name: s
id: 1
---
kind: Segment
name: t
id: 2
---
kind: Port
device: d
port: 1
segment: s
role: isolated
---
kind: Port
device: d
port: 2
segment: s
role: uplink
---
kind: Endpoint
name: e1
segment: s
mac: 02:00:00:00:00:01
ips: [10.0.0.1]
device: d
port: 1
`
	cases := []struct {
		name, extra, want string
	}{
		{"duplicate segment id", "kind: Segment\nname: u\nid: 1\n", "id: segment id 1 is already s's"},
		{"port on unknown device", "kind: Port\ndevice: x\nport: 1\nsegment: s\nrole: isolated\n", `Port x/1: device: unknown device "x"`},
		{"port in unknown segment", "kind: Port\ndevice: d\nport: 3\nsegment: zz\nrole: isolated\n", `Port d/3: segment: unknown segment "zz"`},
		{"mac owned twice", "kind: Endpoint\nname: e2\nsegment: s\nmac: 02:00:00:00:00:01\ndevice: d\nport: 1\n", "Endpoint e2: mac: 02:00:00:00:00:01 is already e1's in segment s"},
		{"ip owned twice", "kind: Endpoint\nname: e2\nsegment: s\nmac: 02:00:00:00:00:02\nips: [10.0.0.1]\ndevice: d\nport: 1\n", "Endpoint e2: ips[0]: 10.0.0.1 is already e1's in segment s"},
		{"endpoint on undeclared port", "kind: Endpoint\nname: e2\nsegment: s\nmac: 02:00:00:00:00:02\ndevice: d\nport: 9\n", "Endpoint e2: port: device d has no Port 9"},
		{"endpoint in the port's other segment", "kind: Endpoint\nname: e2\nsegment: t\nmac: 02:00:00:00:00:02\ndevice: d\nport: 1\n", "Endpoint e2: segment: t is on port d/1, which is in segment s"},
		{"endpoint on uplink", "kind: Endpoint\nname: e2\nsegment: s\nmac: 02:00:00:00:00:02\ndevice: d\nport: 2\n", "port d/2 is an uplink"},
		{"policy in unknown segment", "kind: Policy\nname: p\nsegment: zz\nfrom: \"\"\nto: \"\"\nrules: [{}]\n", `Policy p: segment: unknown segment "zz"`},
		{"name twice", "kind: Endpoint\nname: e1\nsegment: s\nmac: 02:00:00:00:00:02\ndevice: d\nport: 1\n", "Endpoint e1: name: defined twice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			objs, err := Parse("m.yaml", strings.NewReader(base+"---\n"+tc.extra))
			if err != nil {
				t.Fatal(err)
			}
			m, _, err := Build(objs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v\nwant %q", err, tc.want)
			}
			if m != nil {
				t.Error("a model came back with the error")
			}
		})
	}
	// Same MAC in another segment is fine; a selector matching nothing is a
	// warning, not an error.
	objs, err := Parse("m.yaml", strings.NewReader(base+"---\nkind: Port\ndevice: d\nport: 3\nsegment: t\nrole: isolated\n---\nkind: Endpoint\nname: e2\nsegment: t\nmac: 02:00:00:00:00:01\nips: [10.0.0.1]\ndevice: d\nport: 3\n---\nkind: Policy\nname: p\nsegment: s\nfrom: {app: nothing}\nto: \"\"\nrules: [{}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, warnings, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], `from: selector "app: nothing" matches no endpoint of segment s`) {
		t.Errorf("warnings %q", warnings)
	}
}

// TestRunawayPolicyRefused: a policy from everything to everything over
// thousands of identities needs millions of entries. Compiling it stops
// early with a capacity error instead of building them all, incrementally
// too, where the compiler then keeps the old model.
func TestRunawayPolicyRefused(t *testing.T) {
	s := scale{devices: 2, portsPerDevice: 4, segments: 1, endpoints: 3000, policies: 0, apps: 3000, tiers: 1}
	m := generatedModel(t, s)
	all := &Policy{Name: "everything", Segment: "seg0", Priority: 1, From: Selector{}, To: Selector{},
		Rules: []Rule{{Proto: ProtoTCP, Ports: []PortRange{{1, 1}, {2, 2}}, Action: ActionAllow}}}
	m2, _, err := m.With([]Object{all}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Compile(testTargets, m2); !errors.Is(err, ErrCapacity) || !strings.Contains(err.Error(), "table ingress.policy_port would take up to") {
		t.Fatalf("compile: err = %v", err)
	}
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	before := c.Stats().Entries
	if _, err := c.Update(m2); !errors.Is(err, ErrCapacity) {
		t.Fatalf("update: err = %v", err)
	}
	if c.Model() != m || c.Stats().Entries != before {
		t.Errorf("refused update left the compiler at another model (%d entries, had %d)", c.Stats().Entries, before)
	}
	// And the compiler still works.
	e := *m.Endpoints["ep1"]
	e.Labels = map[string]string{"app": "app7", "tier": "t0"}
	m3, _, err := m.With([]Object{&e}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(m3); err != nil {
		t.Fatal(err)
	}
}

// TestCheckDeterministic: Model.With visits objects in map order while
// nothing is wrong, so errors and warnings must still come out the same,
// in name order, on every run: three endpoints claiming one address name
// the first by name as its owner, and warnings are sorted.
func TestCheckDeterministic(t *testing.T) {
	base := "kind: Device\nname: d\naddress: 127.0.0.1:1\n---\nkind: Segment\nname: s\nid: 1\n---\nkind: Segment\nname: lonely\nid: 2\n---\nkind: Segment\nname: empty\nid: 3\n---\nkind: Port\ndevice: d\nport: 1\nsegment: s\nrole: isolated\n"
	for _, p := range []string{"zeta", "alpha", "mid"} {
		base += "---\nkind: Policy\nname: " + p + "\nsegment: s\nfrom: {app: " + p + "}\nto: {app: none}\nrules: [{}]\n"
	}
	good, err := Parse("m.yaml", strings.NewReader(base))
	if err != nil {
		t.Fatal(err)
	}
	var bad []Object
	for i, name := range []string{"zz", "aa", "mm"} {
		bad = append(bad, &Endpoint{Name: name, Segment: "s", MAC: []byte{2, 0, 0, 0, 0, byte(i + 1)}, IPs: []netip.Addr{netip.MustParseAddr("10.0.0.1")},
			Device: "d", Port: 1, Labels: map[string]string{}})
	}
	var firstErr string
	var firstWarnings []string
	for i := range 30 {
		m, warnings, err := Build(good)
		if err != nil {
			t.Fatal(err)
		}
		_, _, err = m.With(bad, nil)
		if err == nil {
			t.Fatal("three owners of 10.0.0.1 accepted")
		}
		if i == 0 {
			firstErr, firstWarnings = err.Error(), warnings
			continue
		}
		if err.Error() != firstErr || !slices.Equal(warnings, firstWarnings) {
			t.Fatalf("run %d differs:\n%s\n%q\nfirst:\n%s\n%q", i, err, warnings, firstErr, firstWarnings)
		}
	}
	if !strings.Contains(firstErr, "Endpoint mm: ips[0]: 10.0.0.1 is already aa's") || !strings.Contains(firstErr, "Endpoint zz: ips[0]: 10.0.0.1 is already aa's") {
		t.Errorf("owner not the first by name:\n%s", firstErr)
	}
	want := []string{"Policy alpha: from", "Policy alpha: to", "Policy mid: from", "Policy mid: to", "Policy zeta: from", "Policy zeta: to",
		"Segment empty: no port", "Segment lonely: no port"}
	if len(firstWarnings) != len(want) {
		t.Fatalf("warnings %q", firstWarnings)
	}
	for i, w := range want {
		if !strings.Contains(firstWarnings[i], w) {
			t.Errorf("warning %d is %q, want %s", i, firstWarnings[i], w)
		}
	}
}

func toUint(b []byte) uint64 {
	v, _ := pipeline.ToUint64(b)
	return v
}

// classOf evaluates a port class table's entries for one segment,
// protocol and port the way a range match does: the class of the entry
// whose range holds the port, or -1.
func classOf(t *testing.T, in *pipeline.Info, es []*p4v1.TableEntry, table string, seg, proto uint64, port uint16) int {
	t.Helper()
	tb, _ := in.Table(table)
	class := -1
	for _, e := range es {
		if e.GetTableId() != tb.ID {
			continue
		}
		var s, pr uint64
		var lo, hi uint16
		for _, f := range e.GetMatch() {
			switch fl, _ := tb.FieldByID(f.GetFieldId()); fl.Name {
			case "segment":
				s = toUint(f.GetExact().GetValue())
			case "ip_proto":
				pr = toUint(f.GetExact().GetValue())
			default:
				lo, hi = uint16(toUint(f.GetRange().GetLow())), uint16(toUint(f.GetRange().GetHigh()))
			}
		}
		if s == seg && pr == proto && lo <= port && port <= hi {
			if class != -1 {
				t.Fatalf("%s: port %d in two entries", table, port)
			}
			class = int(toUint(e.GetAction().GetAction().GetParams()[0].GetValue()))
		}
	}
	return class
}

// TestRangeAsMaskTarget: on the dpdk target every port class entry is a
// range a value and mask can express (an aligned block), the blocks
// classify every port as the BMv2 entries do, and no flood group is
// written.
func TestRangeAsMaskTarget(t *testing.T) {
	m := exampleModel(t)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	dev := *m.Devices["leaf1"]
	dev.Target = "dpdk"
	m2, _, err := m.With([]Object{&dev}, nil)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Compile(testTargets, m2)
	if err != nil {
		t.Fatal(err)
	}
	bm, bgroups, err := c.DeviceEntries("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	dp, dgroups, err := c2.DeviceEntries("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	if len(bgroups) == 0 || len(dgroups) != 0 {
		t.Errorf("flood groups: bmv2 %d, dpdk %d (want some, none)", len(bgroups), len(dgroups))
	}
	in, in2 := c.DeviceInfo("leaf1"), c2.DeviceInfo("leaf1")
	blocks := 0
	for _, table := range []string{"ingress.dst_port_class", "ingress.src_port_class"} {
		tb, _ := in2.Table(table)
		for _, e := range dp {
			if e.GetTableId() != tb.ID {
				continue
			}
			for _, f := range e.GetMatch() {
				if r := f.GetRange(); r != nil {
					lo, hi := toUint(r.GetLow()), toUint(r.GetHigh())
					size := hi - lo + 1
					if size&(size-1) != 0 || lo&(size-1) != 0 {
						t.Errorf("%s: range %d-%d is not an aligned block", table, lo, hi)
					}
					blocks++
				}
			}
		}
		for _, seg := range []uint64{1, 2} {
			for _, proto := range []uint64{6, 17} {
				for port := 0; port < 1<<16; port += 7 {
					if a, b := classOf(t, in, bm, table, seg, proto, uint16(port)), classOf(t, in2, dp, table, seg, proto, uint16(port)); a != b {
						t.Fatalf("%s segment %d proto %d port %d: bmv2 class %d, dpdk class %d", table, seg, proto, port, a, b)
					}
				}
			}
		}
	}
	if blocks == 0 {
		t.Fatal("the example has no port class entries to check")
	}
	if got, want := c2.Counts("leaf1")["ingress.dst_port_class"]+c2.Counts("leaf1")["ingress.src_port_class"], blocks; got != want {
		t.Errorf("Counts gives %d class entries, the device gets %d", got, want)
	}
}
