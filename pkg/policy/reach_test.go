package policy

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Tests of which devices hold which destination identities (reach.go):
// the entries against the rule, the rule's deltas, and the proof that
// nothing a packet does changes against writing every endpoint of a
// segment on every device of it.

// dstEntry is a destination-identity entry as a device holds it.
type dstEntry struct {
	seg  uint64
	addr netip.Addr
	id   uint64
}

func (d dstEntry) String() string {
	return fmt.Sprintf("segment %d %s identity %d", d.seg, d.addr, d.id)
}

// decodeDst reads a destination-identity entry; ok is false for an entry
// of another table.
func decodeDst(in *pipeline.Info, e *p4v1.TableEntry) (d dstEntry, ok bool, err error) {
	tb, found := in.TableByID(e.GetTableId())
	if !found || tb.Name != tableNames[tDst4] && tb.Name != tableNames[tDst6] {
		return d, false, nil
	}
	width := 4
	if tb.Name == tableNames[tDst6] {
		width = 16
	}
	for _, m := range e.GetMatch() {
		f, _ := tb.FieldByID(m.GetFieldId())
		switch {
		case f == nil:
			return d, false, fmt.Errorf("%s: unknown field %d", tb.Name, m.GetFieldId())
		case f.Name == "segment":
			d.seg, err = pipeline.ToUint64(m.GetExact().GetValue())
		case f.Name == "dst_ip":
			v := m.GetLpm().GetValue()
			if len(v) > width || int(m.GetLpm().GetPrefixLen()) != 8*width {
				return d, false, fmt.Errorf("%s: dst_ip %x/%d is not one address", tb.Name, v, m.GetLpm().GetPrefixLen())
			}
			d.addr, _ = netip.AddrFromSlice(append(make([]byte, width-len(v)), v...))
		}
		if err != nil {
			return d, false, err
		}
	}
	params := e.GetAction().GetAction().GetParams()
	if len(params) != 1 {
		return d, false, fmt.Errorf("%s: %d action parameters", tb.Name, len(params))
	}
	d.id, err = pipeline.ToUint64(params[0].GetValue())
	return d, true, err
}

// policyTableIDs are the P4Info ids of the policy tables.
func policyTableIDs(in *pipeline.Info) map[uint32]bool {
	out := map[uint32]bool{}
	for _, tn := range PolicyTables() {
		if tb, ok := in.Table(tn); ok {
			out[tb.ID] = true
		}
	}
	return out
}

// dstRuleDiff checks device dev's destination-identity entries against
// the rule, from the device's entries alone: it holds an entry for each
// address of every placed endpoint whose identity is the destination
// identity of one of its policy entries, with that identity, and nothing
// else. It returns what differs ("" when nothing does).
func dstRuleDiff(t testing.TB, c *Compiler, dev string) string {
	t.Helper()
	es, _, err := c.DeviceEntries(dev)
	if err != nil {
		t.Fatal(err)
	}
	in := c.DeviceInfo(dev)
	pol := policyTableIDs(in)
	named := map[uint64]bool{}
	got := map[dstEntry]bool{}
	for _, e := range es {
		if pol[e.GetTableId()] {
			for _, m := range e.GetMatch() {
				if f, _ := mustTable(in, e).FieldByID(m.GetFieldId()); f.Name == "dst_identity" {
					id, _ := pipeline.ToUint64(m.GetExact().GetValue())
					named[id] = true
				}
			}
			continue
		}
		d, ok, err := decodeDst(in, e)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			got[d] = true
		}
	}
	m := c.Model()
	want := map[dstEntry]bool{}
	for _, e := range m.Endpoints {
		id, ok := m.identities().id(endpointKey(e))
		if !e.Placed() || !ok || !named[uint64(id)] {
			continue
		}
		for _, ip := range e.IPs {
			want[dstEntry{uint64(m.Segments[e.Segment].ID), ip, uint64(id)}] = true
		}
	}
	var diff []string
	for d := range got {
		if !want[d] {
			diff = append(diff, fmt.Sprintf("+(%v)", d))
		}
	}
	for d := range want {
		if !got[d] {
			diff = append(diff, fmt.Sprintf("-(%v)", d))
		}
	}
	slices.Sort(diff)
	return strings.Join(diff, " ")
}

func mustTable(in *pipeline.Info, e *p4v1.TableEntry) *pipeline.Table {
	tb, ok := in.TableByID(e.GetTableId())
	if !ok {
		panic(fmt.Sprintf("no table %d", e.GetTableId()))
	}
	return tb
}

// dstHeld is the endpoints (by name) whose destination identity device
// dev holds, each address with the endpoint's own segment and identity
// (it fails the test otherwise).
func dstHeld(t testing.TB, c *Compiler, dev string) []string {
	t.Helper()
	es, _, err := c.DeviceEntries(dev)
	if err != nil {
		t.Fatal(err)
	}
	in := c.DeviceInfo(dev)
	m := c.Model()
	var out []string
	for _, e := range es {
		d, ok, err := decodeDst(in, e)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			continue
		}
		owner := ownerOf(m, d.seg, d.addr)
		if owner == nil {
			t.Fatalf("device %s: destination identity entry %v of no endpoint", dev, d)
		}
		if id, _ := m.identities().id(endpointKey(owner)); uint64(id) != d.id {
			t.Fatalf("device %s: %s's address %s has identity %d, want %d", dev, owner.Name, d.addr, d.id, id)
		}
		out = append(out, owner.Name)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// ownerOf is the endpoint of the segment with id seg that owns addr.
func ownerOf(m *Model, seg uint64, addr netip.Addr) *Endpoint {
	for _, e := range m.Endpoints {
		if uint64(m.Segments[e.Segment].ID) == seg && slices.Contains(e.IPs, addr) {
			return e
		}
	}
	return nil
}

// allSegmentTables is device dev's tables as the every-endpoint rule
// wrote them: its compiled entries, plus a destination-identity entry for
// each address of every placed endpoint of every segment with a port on
// the device. Built here with the P4Info, not from the compiler's rows.
// The compiled destination entries must be some of those (same
// identity), or the test fails.
func allSegmentTables(t testing.TB, c *Compiler, dev string) *deviceTables {
	t.Helper()
	dt, err := c.deviceTables(dev)
	if err != nil {
		t.Fatal(err)
	}
	m := c.Model()
	segs := map[string]bool{}
	for _, p := range m.Ports {
		if p.Device == dev {
			segs[p.Segment] = true
		}
	}
	have := map[string]string{} // EntryKey -> ActionKey
	for _, e := range dt.entries {
		have[pipeline.EntryKey(e)] = pipeline.ActionKey(e)
	}
	entries := slices.Clone(dt.entries)
	for _, name := range slices.Sorted(maps.Keys(m.Endpoints)) {
		e := m.Endpoints[name]
		if !e.Placed() || !segs[e.Segment] {
			continue
		}
		id, _ := m.identities().id(endpointKey(e))
		for _, ip := range e.IPs {
			tn := tableNames[tDst4]
			if ip.Is6() {
				tn = tableNames[tDst6]
			}
			x, err := dt.in.NewEntry(tn).Exact("segment", pipeline.Uint(uint64(m.Segments[e.Segment].ID))).
				LPM("dst_ip", ip.AsSlice(), int32(ip.BitLen())).Action("set_dst_identity", pipeline.P("identity", pipeline.Uint(uint64(id)))).Build()
			if err != nil {
				t.Fatal(err)
			}
			act, compiled := have[pipeline.EntryKey(x)]
			switch {
			case !compiled:
				entries = append(entries, x)
			case act != pipeline.ActionKey(x):
				t.Fatalf("device %s: %s's address %s has another identity in the compiled entries", dev, e.Name, ip)
			}
		}
	}
	return &deviceTables{c: c, in: dt.in, entries: entries, groups: dt.groups, refs: dt.refs}
}

// fate is everything a trace says about a packet except the
// destination-identity lookup itself: the verdict, the reason, the
// decision, the deciding policy, the ports, and every entry hit of every
// other table (so the same policy entries, with the same counters).
func fate(r *TraceResult) string {
	var hits []string
	for _, h := range r.Entries {
		if h.Table != tableNames[tDst4] && h.Table != tableNames[tDst6] {
			hits = append(hits, h.Table+" "+h.Entry)
		}
	}
	return fmt.Sprintf("verdict %s (%s), decision %q by %q, ports %v\n  %s", r.Verdict, r.Reason, r.Decision, r.Policy, r.Ports, strings.Join(hits, "\n  "))
}

// reachBase is a small world for the placement tests: segment s (default
// deny) and g (default allow); devices hA, hB, hC, hAB and hE with ports
// 1-3 in s and 9 in g; endpoints a1 (tier A, on hA), b1 (B, hB), c1 (C,
// hC), a2 and b2 (A and B, both on hAB), and ga and gb (A and B in g, on
// hA and hB). hE has no endpoint.
func reachBase() []Object {
	objs := []Object{&Segment{Name: "s", ID: 1}, &Segment{Name: "g", ID: 2, DefaultAllow: true}}
	for i, d := range []string{"hA", "hB", "hC", "hAB", "hE"} {
		objs = append(objs, &Device{Name: d, Address: fmt.Sprintf("127.0.0.1:%d", 9600+i), DeviceID: 1, Target: "bmv2"})
		for p := uint32(1); p <= 3; p++ {
			objs = append(objs, &Port{Device: d, Port: p, Segment: "s", Role: RolePromiscuous})
		}
		objs = append(objs, &Port{Device: d, Port: 9, Segment: "g", Role: RolePromiscuous})
	}
	for i, e := range []struct {
		name, seg, dev, tier string
		port                 uint32
		v6                   bool
	}{
		{"a1", "s", "hA", "A", 1, true}, {"b1", "s", "hB", "B", 1, false}, {"c1", "s", "hC", "C", 1, false},
		{"a2", "s", "hAB", "A", 1, false}, {"b2", "s", "hAB", "B", 2, true},
		{"ga", "g", "hA", "A", 9, false}, {"gb", "g", "hB", "B", 9, false},
	} {
		objs = append(objs, reachEndpoint(e.name, e.seg, e.dev, e.port, i+1, e.v6, map[string]string{"tier": e.tier}))
	}
	return objs
}

// reachEndpoint is endpoint n of the placement tests: MAC and IPv4 address
// from n, and an IPv6 one when v6 is set.
func reachEndpoint(name, seg, dev string, port uint32, n int, v6 bool, labels map[string]string) *Endpoint {
	e := &Endpoint{Name: name, Segment: seg, Device: dev, Port: port, Labels: labels,
		MAC: net.HardwareAddr{2, 0, 0, 0, 1, byte(n)}, IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, 0, 0, byte(n)})}}
	if v6 {
		e.IPs = append(e.IPs, netip.MustParseAddr(fmt.Sprintf("fd00::%x", n)))
	}
	return e
}

// reachPolicy is a policy of the placement tests: from and to are
// selectors ("" is every endpoint) or, with a slash, a CIDR.
func reachPolicy(name, seg, from, to string, prio int, rules ...Rule) *Policy {
	p := &Policy{Name: name, Segment: seg, Priority: prio, Rules: rules}
	side := func(s string) (Selector, []netip.Prefix) {
		if strings.Contains(s, "/") {
			return nil, []netip.Prefix{netip.MustParsePrefix(s)}
		}
		sel, err := ParseSelector(s)
		if err != nil {
			panic(err)
		}
		if sel == nil {
			sel = Selector{}
		}
		return sel, nil
	}
	p.From, p.FromCIDRs = side(from)
	p.To, p.ToCIDRs = side(to)
	return p
}

func tcpRule(port uint16, a Action) Rule {
	return Rule{Proto: ProtoTCP, Ports: []PortRange{{port, port}}, Action: a}
}

// TestDstIdentityPlacement: in the small world, under each policy shape,
// every device holds the destination identities its local sources have a
// rule about (forward, or the reply of an allow) and no others; and every
// packet from every local endpoint to every address of its segment (and
// one nobody owns) fares the same as under the every-endpoint rule.
func TestDstIdentityPlacement(t *testing.T) {
	allow, deny, punt := ActionAllow, ActionDeny, ActionPunt
	all := []string{"a1", "a2", "b1", "b2", "c1"}
	cases := []struct {
		name     string
		policies []Object
		want     map[string][]string // device -> endpoints held; the rest hold none
	}{
		{"no policy", nil, nil},
		{"allow A to B: A's devices hold B, B's hold A for the replies",
			[]Object{reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(80, allow))},
			map[string][]string{"hA": {"b1", "b2"}, "hB": {"a1", "a2"}, "hAB": {"a1", "a2", "b1", "b2"}}},
		{"deny A to B: no replies",
			[]Object{reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(80, deny))},
			map[string][]string{"hA": {"b1", "b2"}, "hAB": {"b1", "b2"}}},
		{"punt A to B",
			[]Object{reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(80, punt))},
			map[string][]string{"hA": {"b1", "b2"}, "hAB": {"b1", "b2"}}},
		{"allow A to B with a deny of ssh above it",
			[]Object{reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(80, allow)),
				reachPolicy("ab-ssh", "s", "tier: A", "tier: B", 200, tcpRule(22, deny))},
			map[string][]string{"hA": {"b1", "b2"}, "hB": {"a1", "a2"}, "hAB": {"a1", "a2", "b1", "b2"}}},
		{"allow A to B, and B to C",
			[]Object{reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(80, allow)),
				reachPolicy("bc", "s", "tier: B", "tier: C", 100, tcpRule(5432, allow))},
			map[string][]string{"hA": {"b1", "b2"}, "hB": {"a1", "a2", "c1"}, "hC": {"b1", "b2"}, "hAB": {"a1", "a2", "b1", "b2", "c1"}}},
		{"every source to B",
			[]Object{reachPolicy("all-b", "s", "", "tier: B", 100, tcpRule(80, allow))},
			map[string][]string{"hA": {"b1", "b2"}, "hB": all, "hC": {"b1", "b2"}, "hAB": all}},
		{"A to B in the default-allow segment, with a deny",
			[]Object{reachPolicy("g-ab", "g", "tier: A", "tier: B", 100, tcpRule(22, deny))},
			map[string][]string{"hA": {"gb"}}},
		{"ACL from A to a prefix: addresses, no identities",
			[]Object{reachPolicy("dns", "s", "tier: A", "192.0.2.0/24", 100, Rule{Proto: ProtoUDP, Ports: []PortRange{{53, 53}}, Action: allow})},
			nil},
		{"ACL from a prefix to B",
			[]Object{reachPolicy("mon", "s", "198.51.100.0/24", "tier: B", 100, tcpRule(9100, allow))},
			nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m, _, err := Build(append(reachBase(), tc.policies...))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Compile(testTargets, m)
			if err != nil {
				t.Fatal(err)
			}
			for _, dev := range slices.Sorted(maps.Keys(m.Devices)) {
				if got := dstHeld(t, c, dev); !slices.Equal(got, tc.want[dev]) {
					t.Errorf("device %s holds the destination identities of %v, want %v", dev, got, tc.want[dev])
				}
				if diff := dstRuleDiff(t, c, dev); diff != "" {
					t.Errorf("device %s: %s", dev, diff)
				}
				checkEveryFlow(t, c, dev)
			}
		})
	}
}

// checkEveryFlow sends, on device dev, every local endpoint's packets to
// every address of its segment and one nobody owns (TCP to 80 and 22 with
// and without ACK, UDP 53, ICMP), through the compiled tables and through
// the every-endpoint rule's, and fails on any difference in fate.
func checkEveryFlow(t *testing.T, c *Compiler, dev string) {
	t.Helper()
	m := c.Model()
	pruned, err := c.deviceTables(dev)
	if err != nil {
		t.Fatal(err)
	}
	full := allSegmentTables(t, c, dev)
	for _, src := range m.Endpoints {
		if src.Device != dev {
			continue
		}
		for _, sip := range src.IPs {
			dsts := []netip.Addr{netip.MustParseAddr("10.0.0.250"), netip.MustParseAddr("fd00::fa")}
			for _, e := range m.Endpoints {
				if e.Segment == src.Segment {
					dsts = append(dsts, e.IPs...)
				}
			}
			for _, dip := range dsts {
				if dip.Is4() != sip.Is4() {
					continue
				}
				for _, f := range []struct {
					proto        int
					sport, dport uint16
					flags        uint8
				}{{ProtoTCP, 40000, 80, 0x02}, {ProtoTCP, 80, 40000, 0x12}, {ProtoTCP, 40000, 22, 0x02}, {ProtoUDP, 40000, 53, 0}, {ProtoICMP, 0, 0, 0}} {
					p := Packet{InPort: src.Port, SrcMAC: src.MAC, Src: sip, Dst: dip, Proto: f.proto, SPort: f.sport, DPort: f.dport, TCPFlags: f.flags}
					a, err := pruned.trace(p)
					if err != nil {
						t.Fatal(err)
					}
					b, err := full.trace(p)
					if err != nil {
						t.Fatal(err)
					}
					if fate(a) != fate(b) {
						t.Fatalf("device %s, %s %+v:\npruned:         %s\nevery endpoint: %s", dev, src.Name, p, fate(a), fate(b))
					}
				}
			}
		}
	}
}

// TestDstIdentityTierToTier is a world of 24 devices with three endpoints
// each, of tiers A, B and C at random (every eighth device C only), and
// one policy allowing A to B: a
// device without an A endpoint holds no B endpoint's identity, one
// without a B endpoint no A endpoint's, and one with neither none at all.
func TestDstIdentityTierToTier(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	objs := []Object{&Segment{Name: "s", ID: 1}, reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(443, ActionAllow))}
	tiers := map[string][]string{} // device -> tiers of its endpoints
	n := 0
	for d := range 24 {
		dev := fmt.Sprintf("h%02d", d)
		objs = append(objs, &Device{Name: dev, Address: fmt.Sprintf("127.0.0.1:%d", 9600+d), DeviceID: 1, Target: "bmv2"})
		for p := uint32(1); p <= 3; p++ {
			n++
			tier := []string{"A", "B", "C"}[r.IntN(3)]
			if d%8 == 0 {
				tier = "C"
			}
			objs = append(objs, &Port{Device: dev, Port: p, Segment: "s", Role: RolePromiscuous},
				reachEndpoint(fmt.Sprintf("e%d", n), "s", dev, p, n, n%2 == 0, map[string]string{"tier": tier}))
			tiers[dev] = append(tiers[dev], tier)
		}
	}
	m, _, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	ofTier := map[string][]string{}
	addrs := map[string]int{}
	for _, e := range m.Endpoints {
		ofTier[e.Labels["tier"]] = append(ofTier[e.Labels["tier"]], e.Name)
		addrs[e.Labels["tier"]] += len(e.IPs)
	}
	shapes := map[string]int{}
	total, old := 0, 0
	for _, dev := range slices.Sorted(maps.Keys(m.Devices)) {
		hasA, hasB := slices.Contains(tiers[dev], "A"), slices.Contains(tiers[dev], "B")
		var want []string
		if hasA {
			want = append(want, ofTier["B"]...)
		}
		if hasB {
			want = append(want, ofTier["A"]...)
		}
		slices.Sort(want)
		if got := dstHeld(t, c, dev); !slices.Equal(got, want) {
			t.Errorf("device %s (tiers %v) holds the destination identities of %v, want %v", dev, tiers[dev], got, want)
		}
		shapes[fmt.Sprintf("A:%v B:%v", hasA, hasB)]++
		total += dstEntries(c.Counts(dev))
		old += allSegmentsDstEntries(m, dev)
	}
	if len(shapes) < 4 {
		t.Fatalf("the draw gave devices of shapes %v only; want every combination of A and B", shapes)
	}
	t.Logf("devices by local tiers %v: %d destination-identity entries in all, %d with every endpoint on every device", shapes, total, old)
}

// TestDstIdentityDeltas follows one world through changes and checks each
// delta's destination-identity entries, device by device: a policy brings
// the destinations it names to its sources' devices and takes them away,
// an endpoint brings its rules' destinations to its device and takes
// them along when it moves, a relabel out of every rule takes its address
// off the devices reaching it, and an address changing identity where it
// is reached is a modify. After each step the compiler equals a full
// compile.
func TestDstIdentityDeltas(t *testing.T) {
	b3 := func(dev string, port uint32, tier string) *Endpoint {
		return reachEndpoint("b3", "s", dev, port, 20, false, map[string]string{"tier": tier})
	}
	b1 := reachEndpoint("b1", "s", "hB", 1, 2, false, map[string]string{"tier": "B", "rack": "r1"})
	a4 := reachEndpoint("a4", "s", "hAB", 1, 4, false, map[string]string{"tier": "A", "v": "2"}) // a2's address and MAC
	steps := []struct {
		name   string
		change []Object
		dels   []Deletion
		want   []string // "device +endpoint" inserted, "~" modified, "-" deleted
	}{
		{"policy A to B", []Object{reachPolicy("ab", "s", "tier: A", "tier: B", 100, tcpRule(80, ActionAllow))}, nil,
			[]string{"hA +b1", "hA +b2", "hAB +a1", "hAB +a2", "hAB +b1", "hAB +b2", "hB +a1", "hB +a2"}},
		{"a B endpoint on hC", []Object{b3("hC", 2, "B")}, nil,
			[]string{"hA +b3", "hAB +b3", "hC +a1", "hC +a2"}},
		{"it moves to hE", []Object{b3("hE", 1, "B")}, nil,
			[]string{"hC -a1", "hC -a2", "hE +a1", "hE +a2"}},
		{"it becomes C, which no rule names", []Object{b3("hE", 1, "C")}, nil,
			[]string{"hA -b3", "hAB -b3", "hE -a1", "hE -a2"}},
		{"b1 takes another identity of tier B", []Object{b1}, nil,
			[]string{"hA ~b1", "hAB ~b1"}},
		{"a deny from C to A", []Object{reachPolicy("ca", "s", "tier: C", "tier: A", 200, tcpRule(22, ActionDeny))}, nil,
			[]string{"hC +a1", "hC +a2", "hE +a1", "hE +a2"}},
		{"a2's address passes to a4, of another identity", []Object{a4}, []Deletion{{KindEndpoint, "a2"}},
			[]string{"hAB ~a4", "hB ~a4", "hC ~a4", "hE ~a4"}},
		{"policy A to B goes", nil, []Deletion{{KindPolicy, "ab"}},
			[]string{"hA -b1", "hA -b2", "hAB -a1", "hAB -a4", "hAB -b1", "hAB -b2", "hB -a1", "hB -a4"}},
		{"a1 goes", nil, []Deletion{{KindEndpoint, "a1"}},
			[]string{"hC -a1", "hE -a1"}},
	}
	m, _, err := Build(reachBase())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range steps {
		next, _, err := m.With(st.change, st.dels)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		d, err := c.Update(next)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		var got []string
		for _, dev := range slices.Sorted(maps.Keys(d.Devices)) {
			dd, in := d.Devices[dev], c.DeviceInfo(dev)
			for _, x := range []struct {
				sign    string
				entries []*p4v1.TableEntry
				m       *Model
			}{{"+", dd.Insert, next}, {"~", dd.Modify, next}, {"-", dd.Delete, m}} {
				for _, e := range x.entries {
					de, ok, err := decodeDst(in, e)
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						continue
					}
					owner := ownerOf(x.m, de.seg, de.addr)
					if owner == nil {
						t.Fatalf("%s: %s %s%v: no endpoint's", st.name, dev, x.sign, de)
					}
					got = append(got, dev+" "+x.sign+owner.Name)
				}
			}
		}
		slices.Sort(got)
		got = slices.Compact(got)
		if !slices.Equal(got, st.want) {
			t.Errorf("%s: destination-identity changes %v, want %v", st.name, got, st.want)
		}
		m = next
		full, err := Compile(testTargets, m)
		if err != nil {
			t.Fatal(err)
		}
		for dev := range m.Devices {
			if diff := diffStates(stateOf(t, c, dev), stateOf(t, full, dev)); diff != "[]" {
				t.Fatalf("%s, device %s: incremental != full compile: %s", st.name, dev, diff)
			}
		}
	}
}

// TestDstIdentityFabric: on the fabric example's cabling the spines, which
// forward for the leaves and see their traffic only from uplinks (which
// skip the identity stages), hold no destination identity; each leaf
// holds those its endpoints' rules name: every prod endpoint, no guest
// one (guest has no policy). Frames arriving tagged over the fabric fare
// as under the every-endpoint rule.
func TestDstIdentityFabric(t *testing.T) {
	c, err := Compile(testTargets, fabricModel(t, leafSpineLinks))
	if err != nil {
		t.Fatal(err)
	}
	prod := []string{"app-1", "batch-1", "batch-2", "db-1", "web-1", "web-2"}
	for dev, want := range map[string][]string{"spine1": nil, "spine2": nil, "leaf1": prod, "leaf2": prod} {
		if got := dstHeld(t, c, dev); !slices.Equal(got, want) {
			t.Errorf("%s holds the destination identities of %v, want %v", dev, got, want)
		}
		if diff := dstRuleDiff(t, c, dev); diff != "" {
			t.Errorf("%s: %s", dev, diff)
		}
		checkEveryFlow(t, c, dev)
	}
	// web-1 (leaf1) to app-1 (leaf2) crosses spine1 and arrives at leaf2
	// on port 5; a guest frame from a promiscuous port likewise.
	A := netip.MustParseAddr
	for _, hop := range []struct {
		dev  string
		port uint32
		p    Packet
	}{
		{"spine1", 1, Packet{Src: A("10.0.0.1"), Dst: A("10.0.0.3"), Proto: ProtoTCP, SPort: 40000, DPort: 8080, TCPFlags: 0x02,
			Tag: &FabricTag{Segment: 10, Role: RoleIsolated}}},
		{"leaf2", 5, Packet{Src: A("10.0.0.1"), Dst: A("10.0.0.3"), Proto: ProtoTCP, SPort: 40000, DPort: 8080, TCPFlags: 0x02,
			Tag: &FabricTag{Segment: 10, Role: RoleIsolated}}},
		{"leaf2", 5, Packet{Src: A("10.0.20.8"), Dst: A("10.0.20.9"), Proto: ProtoUDP, SPort: 1, DPort: 2,
			Tag: &FabricTag{Segment: 20, Role: RolePromiscuous}}},
	} {
		hop.p.InPort = hop.port
		pruned, err := c.Trace(hop.dev, hop.p)
		if err != nil {
			t.Fatal(err)
		}
		full, err := allSegmentTables(t, c, hop.dev).trace(hop.p)
		if err != nil {
			t.Fatal(err)
		}
		if fate(pruned) != fate(full) || pruned.Verdict != VerdictAllow {
			t.Errorf("%s port %d %+v:\npruned:         %s\nevery endpoint: %s", hop.dev, hop.port, hop.p, fate(pruned), fate(full))
		}
	}
}

// TestDstPruningKeepsVerdicts is the property: on random worlds (three
// devices, endpoints with overlapping labels in a default-deny and a
// default-allow segment, policies of every action and port shape, CIDR
// sides) random packets from local endpoints fare exactly as they did
// when every device held every endpoint of its segments (same verdict,
// reason, ports, deciding policy, and the same entry hit in every table
// but the destination-identity one), and decide as the reference
// evaluator does. It counts the packets to a known destination whose
// identity the device did not hold, and fails if there were too few.
func TestDstPruningKeepsVerdicts(t *testing.T) {
	worlds, packets := 40, 300
	if testing.Short() {
		worlds = 8
	}
	missing := map[string]int{} // decisions of packets whose destination identity was pruned
	pruned := 0
	for seed := range worlds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := &world{r: rand.New(rand.NewPCG(uint64(seed), 13)), devices: 3}
			m := w.base(t, 5)
			for i := range 20 {
				if next, _, err := m.With([]Object{w.endpoint(m, i)}, nil); err == nil {
					m = next
				}
			}
			for i := range 8 {
				if next, _, err := m.With([]Object{w.policy(i)}, nil); err == nil {
					m = next
				}
			}
			c, err := Compile(testTargets, m)
			if err != nil {
				t.Fatal(err)
			}
			eps := slices.Collect(maps.Values(m.Endpoints))
			slices.SortFunc(eps, func(a, b *Endpoint) int { return strings.Compare(a.Name, b.Name) })
			if len(eps) == 0 {
				t.Skip("no endpoint")
			}
			tables, full := map[string]*deviceTables{}, map[string]*deviceTables{}
			for _, d := range w.devs() {
				if tables[d], err = c.deviceTables(d); err != nil {
					t.Fatal(err)
				}
				full[d] = allSegmentTables(t, c, d)
				pruned += len(full[d].entries) - len(tables[d].entries)
				if diff := dstRuleDiff(t, c, d); diff != "" {
					t.Fatalf("device %s: %s", d, diff)
				}
			}
			for range packets {
				p := w.packet(eps)
				pk := Packet{InPort: p.src.Port, SrcMAC: p.src.MAC, Src: p.srcIP, Dst: p.dstIP, Proto: p.proto, SPort: p.sport, DPort: p.dport, TCPFlags: p.flags}
				got, err := tables[p.src.Device].trace(pk)
				if err != nil {
					t.Fatal(err)
				}
				before, err := full[p.src.Device].trace(pk)
				if err != nil {
					t.Fatal(err)
				}
				if fate(got) != fate(before) {
					t.Fatalf("%s %s -> %s proto %d %d->%d flags %#x on %s/%d:\npruned:         %s\nevery endpoint: %s\npolicies:\n%s",
						p.src.Name, p.srcIP, p.dstIP, p.proto, p.sport, p.dport, p.flags, p.src.Device, p.src.Port,
						fate(got), fate(before), policiesOf(m, p.src.Segment))
				}
				want, who := refDecide(m, p)
				if got.Decision != want || len(who) > 0 && !slices.Contains(who, got.Policy) || len(who) == 0 && got.Policy != "" {
					t.Fatalf("%s %s -> %s proto %d: reference %s by %v, tables %s by %q (%s)", p.src.Name, p.srcIP, p.dstIP, p.proto,
						want, who, got.Decision, got.Policy, got.Reason)
				}
				if refOwner(m, p.src.Segment, p.dstIP) != nil && !hitTable(got, tDst4, tDst6) {
					missing[got.Decision]++
				}
			}
		})
	}
	t.Logf("%d destination-identity entries pruned over the worlds' devices; decisions of packets to an endpoint whose identity the device does not hold: %v", pruned, missing)
	if !t.Failed() && !testing.Short() && (missing[VerdictAllow] == 0 || missing[VerdictDeny] == 0) {
		t.Errorf("too few packets met a pruned destination identity: %v", missing)
	}
}

// hitTable reports whether the trace hit an entry of one of tables.
func hitTable(r *TraceResult, tables ...table) bool {
	for _, h := range r.Entries {
		for _, tb := range tables {
			if h.Table == tableNames[tb] {
				return true
			}
		}
	}
	return false
}

// dstChanges counts the destination-identity entries a device delta
// inserts, modifies and deletes.
func dstChanges(c *Compiler, dev string, dd *DeviceDelta) (ins, mod, del int) {
	in := c.DeviceInfo(dev)
	count := func(es []*p4v1.TableEntry) int {
		n := 0
		for _, e := range es {
			if _, ok, _ := decodeDst(in, e); ok {
				n++
			}
		}
		return n
	}
	return count(dd.Insert), count(dd.Modify), count(dd.Delete)
}
