package policy

import (
	"fmt"
	"slices"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestCounterIndexExample: every entry of the example's counted tables is
// in the index, and each names the rule that, by the policy as written,
// gives it its verdict.
func TestCounterIndexExample(t *testing.T) {
	c := compileExample(t)
	x, err := c.CounterIndex("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, err := c.DeviceEntries("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	in := c.DeviceInfo("leaf1")
	// What the example says, per (table, protocol, port): the policy and
	// rule. Ports 8080 and 8443 are web-to-app's rule 0 and ICMP its rule
	// 1, ICMPv6 rule 2; 5432 app-to-db's rule 0; udp 7000-7010 batch-peers'
	// rule 0 (a range: policy_range and reply_range); tcp 9000-9100
	// db-admin-locked's deny, rule 0.
	want := func(table string, proto, port uint64) string {
		switch {
		case proto == 6 && (port == 8080 || port == 8443):
			return "web-to-app#0"
		case proto == 1 && table != "ingress.policy_port":
			return "web-to-app#1"
		case proto == 58:
			return "web-to-app#2"
		case proto == 6 && port == 5432:
			return "app-to-db#0"
		case proto == 17 && (table == "ingress.policy_range" || table == "ingress.reply_range"):
			return "batch-peers#0"
		case proto == 6 && table == "ingress.policy_range":
			return "db-admin-locked#0"
		}
		return fmt.Sprintf("? %s proto %d port %d", table, proto, port)
	}
	counted := 0
	for _, e := range entries {
		if !slices.Contains(x.Tables, e.GetTableId()) {
			continue
		}
		counted++
		tb, _ := in.TableByID(e.GetTableId())
		_, a, ok := x.Entry([]byte(pipeline.EntryKey(e)))
		if !ok {
			t.Errorf("%s: not in the index", in.FormatEntry(e))
			continue
		}
		vals := map[string]uint64{}
		for _, m := range e.GetMatch() {
			f, _ := tb.FieldByID(m.GetFieldId())
			vals[f.Name], _ = pipeline.ToUint64(m.GetExact().GetValue())
		}
		port := vals["l4_dst_port"]
		if p, ok := vals["l4_src_port"]; ok {
			port = p
		}
		attr := x.Attrs[a]
		var got []string
		for _, r := range attr.Rules {
			got = append(got, fmt.Sprintf("%s#%d", r.Policy, r.Rule))
		}
		if exp := want(tb.Name, vals["ip_proto"], port); len(got) != 1 || got[0] != exp || attr.Table != tb.Name {
			t.Errorf("%s: attributed to %s %v, want %s", in.FormatEntry(e), attr.Table, got, exp)
		}
	}
	if counted == 0 || counted != x.Len() {
		t.Errorf("index holds %d entries, the device %d counted ones", x.Len(), counted)
	}
	if _, _, ok := x.Entry([]byte("not a key")); ok {
		t.Error("a key the model does not have was found")
	}
}

// TestCounterIndexCarry: entries that survive a change keep their numbers'
// correspondence, so counts read before are not counted again.
func TestCounterIndexCarry(t *testing.T) {
	c := compileExample(t)
	before, err := c.CounterIndex("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Model()
	next, _, err := m.With(nil, []Deletion{{Kind: KindPolicy, Name: "app-to-db"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Update(next); err != nil {
		t.Fatal(err)
	}
	after, err := c.CounterIndex("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	shared := 0
	after.Carry(before, func(o, n int) {
		shared++
		if a, b := before.Attrs[before.attr.at(o)], after.Attrs[after.attr.at(n)]; a.Table != b.Table || fmt.Sprint(a.Rules) != fmt.Sprint(b.Rules) {
			t.Errorf("carried entry changed attribution: %v -> %v", a, b)
		}
	})
	if shared != after.Len() || after.Len() >= before.Len() {
		t.Errorf("%d entries carried; before %d, after %d (app-to-db's gone, the rest kept)", shared, before.Len(), after.Len())
	}
}

// TestCounterIndexGenerated: on generated deployments (many policies,
// rules of ranges and single ports, identities shared by many endpoints),
// every counted entry of every device is in its index, under the key the
// device reports (pipeline.EntryKey), with a rule of a policy that the
// entry's producers name.
func TestCounterIndexGenerated(t *testing.T) {
	s := scale{devices: 3, portsPerDevice: 12, segments: 2, endpoints: 300, policies: 40, apps: 4, tiers: 3}
	for seed := uint64(1); seed <= 3; seed++ {
		m, _, err := Build(generate(s, seed))
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(testTargets, m)
		if err != nil {
			t.Fatal(err)
		}
		for dev := range m.Devices {
			x, err := c.CounterIndex(dev)
			if err != nil {
				t.Fatal(err)
			}
			entries, _, err := c.DeviceEntries(dev)
			if err != nil {
				t.Fatal(err)
			}
			in := c.DeviceInfo(dev)
			refs := c.entryRefs(dev, in)
			counted := 0
			for _, e := range entries {
				if !slices.Contains(x.Tables, e.GetTableId()) {
					continue
				}
				counted++
				key := pipeline.EntryKey(e)
				_, a, ok := x.Entry([]byte(key))
				if !ok {
					t.Fatalf("seed %d %s: %s not in the index", seed, dev, in.FormatEntry(e))
				}
				tb, _ := in.TableByID(e.GetTableId())
				vals := map[string]uint64{}
				for _, mt := range e.GetMatch() {
					f, _ := tb.FieldByID(mt.GetFieldId())
					vals[f.Name], _ = pipeline.ToUint64(mt.GetExact().GetValue())
				}
				for _, r := range x.Attrs[a].Rules {
					p := m.Policies[r.Policy]
					if p == nil || r.Rule < 0 || r.Rule >= len(p.Rules) || !slices.Contains(refs[key], r.Policy) {
						t.Fatalf("seed %d %s: %s attributed to %s#%d; its producers are %v", seed, dev, in.FormatEntry(e), r.Policy, r.Rule, refs[key])
					}
					// From the policy as written: the rule's protocol is
					// the entry's (replies of an any-protocol rule are per
					// protocol), and a single-port entry's port is one of
					// the rule's.
					rule := p.Rules[r.Rule]
					if proto, ok := vals["ip_proto"]; ok && rule.Proto != ProtoAny && uint64(rule.Proto) != proto {
						t.Errorf("seed %d %s: %s attributed to %s#%d of protocol %d", seed, dev, in.FormatEntry(e), r.Policy, r.Rule, rule.Proto)
					}
					port, single := vals["l4_dst_port"]
					if sp, ok := vals["l4_src_port"]; ok {
						port, single = sp, true
					}
					if single && !slices.ContainsFunc(rule.Ports, func(pr PortRange) bool { return uint64(pr.Lo) == port && pr.Hi == pr.Lo }) {
						t.Errorf("seed %d %s: %s attributed to %s#%d, whose ports %v lack %d", seed, dev, in.FormatEntry(e), r.Policy, r.Rule, rule.Ports, port)
					}
				}
			}
			if counted != x.Len() {
				t.Errorf("seed %d %s: index of %d entries, device has %d counted", seed, dev, x.Len(), counted)
			}
		}
	}
}
