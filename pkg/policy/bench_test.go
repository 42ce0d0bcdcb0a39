package policy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// scale describes a generated deployment.
type scale struct {
	devices, portsPerDevice, segments int
	endpoints, policies               int
	apps, tiers                       int // label values: identities per segment = apps x tiers
}

// bigScale is issue 4's benchmark: 10,000 endpoints, 1,000 policies and
// about 500 identities (10 segments x 10 apps x 5 tiers).
var bigScale = scale{devices: 20, portsPerDevice: 48, segments: 10, endpoints: 10000, policies: 1000, apps: 10, tiers: 5}

// generate builds the objects of a deployment: ports spread over the
// segments, endpoints on random access ports with random app and tier
// labels, and policies from one app to an app's tiers with a TCP and a
// UDP rule.
func generate(s scale, seed uint64) []Object {
	r := rand.New(rand.NewPCG(seed, 1))
	var objs []Object
	for d := range s.devices {
		objs = append(objs, &Device{Name: fmt.Sprintf("leaf%d", d), Address: fmt.Sprintf("10.255.0.%d:9559", d), DeviceID: 1, Target: "bmv2"})
	}
	for g := range s.segments {
		objs = append(objs, &Segment{Name: fmt.Sprintf("seg%d", g), ID: uint16(g + 1)})
	}
	type port struct {
		dev string
		n   uint32
		seg string
	}
	var ports []port
	for d := range s.devices {
		for n := 1; n <= s.portsPerDevice; n++ {
			p := &Port{Device: fmt.Sprintf("leaf%d", d), Port: uint32(n), Segment: fmt.Sprintf("seg%d", n%s.segments), Role: RolePromiscuous}
			objs = append(objs, p)
			ports = append(ports, port{p.Device, p.Port, p.Segment})
		}
	}
	for i := range s.endpoints {
		p := ports[r.IntN(len(ports))]
		e := &Endpoint{Name: fmt.Sprintf("ep%d", i), Segment: p.seg, Device: p.dev, Port: p.n,
			MAC:    net.HardwareAddr{2, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)},
			IPs:    []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})},
			Labels: map[string]string{"app": fmt.Sprintf("app%d", r.IntN(s.apps)), "tier": fmt.Sprintf("t%d", r.IntN(s.tiers))}}
		if i%2 == 0 {
			e.IPs = append(e.IPs, netip.MustParseAddr(fmt.Sprintf("fd00::%x", i+1)))
		}
		objs = append(objs, e)
	}
	for i := range s.policies {
		from, _ := ParseSelector(fmt.Sprintf("app: app%d", r.IntN(s.apps)))
		to, _ := ParseSelector(fmt.Sprintf("app: app%d, tier in (t%d, t%d)", r.IntN(s.apps), r.IntN(s.tiers), r.IntN(s.tiers)))
		port := uint16(1000 + r.IntN(60000))
		objs = append(objs, &Policy{Name: fmt.Sprintf("pol%d", i), Segment: fmt.Sprintf("seg%d", r.IntN(s.segments)), Priority: DefaultPriority,
			From: from, To: to, Rules: []Rule{
				{Proto: ProtoTCP, Ports: []PortRange{{port, port}}, Action: ActionAllow},
				{Proto: ProtoUDP, Ports: []PortRange{{port, port + 10}}, Action: ActionAllow},
			}})
	}
	return objs
}

// grows reports whether table tn holds identity or identity-pair
// entries, the ones that grow with the deployment.
func grows(tn string) bool {
	switch tn {
	case "ingress.src_identity_v4", "ingress.src_identity_v6", "ingress.dst_identity_v4", "ingress.dst_identity_v6":
		return true
	}
	return slices.Contains(PolicyTables(), tn)
}

func generatedModel(tb testing.TB, s scale) *Model {
	tb.Helper()
	m, _, err := Build(generate(s, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestCompiledSize checks the compiler's size bound on a generated
// deployment: every device's entries are at most 1.2 x its identity
// entries plus its identity-pair policy entries.
func TestCompiledSize(t *testing.T) {
	s := scale{devices: 4, portsPerDevice: 12, segments: 3, endpoints: 600, policies: 60, apps: 5, tiers: 3}
	c, err := Compile(testTargets, generatedModel(t, s))
	if err != nil {
		t.Fatal(err)
	}
	st := c.Stats()
	if st.Identities > s.segments*s.apps*s.tiers {
		t.Errorf("%d identities from %d label sets", st.Identities, s.segments*s.apps*s.tiers)
	}
	for dev, counts := range st.Devices {
		total, core := 0, 0
		for tn, n := range counts {
			total += n
			if grows(tn) {
				core += n
			}
		}
		if float64(total) > 1.2*float64(core) {
			t.Errorf("device %s: %d entries > 1.2 x %d identity and pair entries (%v)", dev, total, core, counts)
		}
	}
	if st.NaiveEntries < 2*st.Entries {
		t.Errorf("naive %d vs compiled %d: sharing identities should save more", st.NaiveEntries, st.Entries)
	}
}

// BenchmarkCompile10k compiles 10,000 endpoints and 1,000 policies from
// scratch.
func BenchmarkCompile10k(b *testing.B) {
	st := benchCompile(b, generatedModel(b, bigScale))
	core := 0
	for _, counts := range st.Devices {
		for tn, n := range counts {
			if grows(tn) {
				core += n
			}
		}
	}
	b.ReportMetric(float64(st.Entries), "entries")
	b.ReportMetric(float64(st.NaiveEntries), "naive_entries")
	b.ReportMetric(float64(st.Identities), "identities")
	b.ReportMetric(float64(st.Entries)/float64(core), "entries/core")
}

// BenchmarkUpdateOneEndpoint relabels one endpoint of a compiled 10k
// deployment (into another identity and back, alternately), as the
// controller would after Model.With: the time of one incremental compile
// with its delta. Model.With's validation is measured apart.
func BenchmarkUpdateOneEndpoint(b *testing.B) { benchRelabel(b, generatedModel(b, bigScale)) }

// benchRelabel compiles m, then relabels ep42 into another identity and
// back, alternately, timing Update alone.
func benchRelabel(b *testing.B, m *Model) {
	c, err := Compile(testTargets, m)
	if err != nil {
		b.Fatal(err)
	}
	orig := m.Endpoints["ep42"]
	moved := *orig
	moved.Labels = map[string]string{"app": "app3", "tier": "t1"}
	if orig.Labels["app"] == "app3" {
		moved.Labels["app"] = "app4"
	}
	versions := []*Endpoint{&moved, orig}
	cur := m
	changes := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		next, _, err := cur.With([]Object{versions[i%2]}, nil)
		if err != nil {
			b.Fatal(err)
		}
		i++
		b.StartTimer()
		d, err := c.Update(next)
		if err != nil {
			b.Fatal(err)
		}
		changes = d.Len()
		cur = next
	}
	b.ReportMetric(float64(changes), "changes")
}

// BenchmarkModelWithOneEndpoint is the validation cost of the same change
// (Model.With checks the changed endpoint against the model's address
// index, and every policy's selectors against the label sets).
func BenchmarkModelWithOneEndpoint(b *testing.B) {
	m := generatedModel(b, bigScale)
	e := *m.Endpoints["ep42"]
	e.Labels = map[string]string{"app": "app3", "tier": "t1"}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.With([]Object{&e}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrySegmentChange is the controller's check of a change that
// adds a segment to the 10k deployment: a whole-model compile, since a
// segment or device change is not compiled incrementally.
func BenchmarkTrySegmentChange(b *testing.B) {
	c, _, next := segmentChange(b)
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Try(next); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkUpdateSegmentChange moves a compiled 10k deployment to a model
// with one more segment and back, alternately: a whole-model compile and
// a diff of every row against the compiled state, which is what each
// controller does after such a change commits.
func BenchmarkUpdateSegmentChange(b *testing.B) {
	c, m, next := segmentChange(b)
	models := []*Model{next, m}
	changes := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d, err := c.Update(models[i%2])
		if err != nil {
			b.Fatal(err)
		}
		i++
		changes = d.Len()
	}
	b.ReportMetric(float64(changes), "changes")
}

// segmentChange is the compiled 10k deployment, its model, and that model
// with one more segment.
func segmentChange(b *testing.B) (*Compiler, *Model, *Model) {
	m := generatedModel(b, bigScale)
	c, err := Compile(testTargets, m)
	if err != nil {
		b.Fatal(err)
	}
	next, _, err := m.With([]Object{&Segment{Name: "added", ID: 4000}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	return c, m, next
}

// mixedScale is issue 10's world: 10,000 endpoints, about 500 identities
// and 1,000 policies over 4 switches, with every kind of port condition.
var mixedScale = scale{devices: 4, portsPerDevice: 48, segments: 10, endpoints: 10000, policies: 1000, apps: 10, tiers: 5}

// rangePool is the port ranges the mixed world's rules draw from: service
// ranges that overlap and nest (8000-8099 holds 8080-8090, 1024-65535
// holds most of them), as a real rule base has.
var rangePool = []PortRange{{8000, 8099}, {8080, 8090}, {9000, 9100}, {30000, 32767}, {5900, 5910}, {6000, 6063},
	{2379, 2380}, {10250, 10259}, {3000, 3010}, {8443, 8450}, {1024, 65535}, {49152, 65535}, {7000, 7100}, {7050, 7060},
	{5000, 5100}, {11211, 11212}}

// generateMixed is generate's deployment with policies of every shape:
// single TCP ports (common ones and random ones), port lists mixing ports
// and ranges, UDP ranges, ICMP, any protocol, denies at a higher
// priority, punts, a wildcard source now and then, and CIDR policies
// toward a resolver prefix.
func generateMixed(s scale, seed uint64) []Object {
	objs := generate(scale{devices: s.devices, portsPerDevice: s.portsPerDevice, segments: s.segments,
		endpoints: s.endpoints, apps: s.apps, tiers: s.tiers}, seed)
	r := rand.New(rand.NewPCG(seed, 2))
	common := []uint16{22, 80, 443, 3306, 5432, 6379, 8080, 9090}
	port := func() uint16 {
		if r.IntN(2) == 0 {
			return common[r.IntN(len(common))]
		}
		return uint16(1000 + r.IntN(60000))
	}
	one := func(p uint16) PortRange { return PortRange{p, p} }
	for i := range s.policies {
		sel := func(f string, a ...any) Selector {
			x, err := ParseSelector(fmt.Sprintf(f, a...))
			if err != nil {
				panic(err)
			}
			if x == nil {
				x = Selector{}
			}
			return x
		}
		p := &Policy{Name: fmt.Sprintf("pol%d", i), Segment: fmt.Sprintf("seg%d", r.IntN(s.segments)), Priority: DefaultPriority,
			From: sel("app: app%d", r.IntN(s.apps)), To: sel("app: app%d, tier in (t%d, t%d)", r.IntN(s.apps), r.IntN(s.tiers), r.IntN(s.tiers))}
		switch k := r.IntN(100); {
		case k < 10:
			p.From = sel("") // every endpoint of the segment
		case k < 11:
			p.To, p.ToCIDRs = nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
			p.From = sel("app: app%d, tier: t%d", r.IntN(s.apps), r.IntN(s.tiers))
			p.Rules = []Rule{{Proto: ProtoUDP, Ports: []PortRange{one(53)}, Action: ActionAllow}, {Proto: ProtoTCP, Ports: []PortRange{one(443)}, Action: ActionAllow}}
			objs = append(objs, p)
			continue
		}
		for range 1 + r.IntN(3) {
			var rule Rule
			switch k := r.IntN(100); {
			case k < 40:
				rule = Rule{Proto: ProtoTCP, Ports: []PortRange{one(port())}, Action: ActionAllow}
			case k < 55:
				rule = Rule{Proto: ProtoTCP, Ports: []PortRange{one(port()), one(port()), rangePool[r.IntN(len(rangePool))]}, Action: ActionAllow}
			case k < 75:
				rule = Rule{Proto: ProtoUDP, Ports: []PortRange{rangePool[r.IntN(len(rangePool))]}, Action: ActionAllow}
			case k < 85:
				rule = Rule{Proto: ProtoICMP, Action: ActionAllow}
			case k < 88:
				rule = Rule{Proto: ProtoAny, Action: ActionAllow}
			case k < 98:
				rule = Rule{Proto: ProtoTCP, Ports: []PortRange{one(common[r.IntN(len(common))])}, Action: ActionDeny}
				p.Priority = 200
			default:
				rule = Rule{Proto: ProtoUDP, Ports: []PortRange{one(port())}, Action: ActionPunt}
			}
			p.Rules = append(p.Rules, rule)
		}
		objs = append(objs, p)
	}
	return objs
}

// tcamTable reports whether a table of in has a ternary, range or
// optional field: TCAM on a hardware target.
func tcamTable(in *pipeline.Info, name string) bool {
	t, ok := in.Table(name)
	if !ok {
		return false
	}
	for _, f := range t.Fields {
		switch f.Kind {
		case pipeline.MatchTernary, pipeline.MatchRange, pipeline.MatchOptional:
			return true
		}
	}
	return false
}

// TestMixedWorldFitsHardware is issue 10's target: on the mixed world,
// every identity-pair rule is in an exact-match table and every device
// holds at most 4,096 entries in tables with a ternary, range or optional
// field (the ACL and the port classes).
func TestMixedWorldFitsHardware(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 endpoints: not in -short")
	}
	c, err := Compile(testTargets, mixedModel(t))
	if err != nil {
		t.Fatal(err)
	}
	in := c.DeviceInfo("leaf0")
	st := c.Stats()
	for dev, counts := range st.Devices {
		tcam, exact := 0, 0
		for tn, n := range counts {
			if tcamTable(in, tn) {
				tcam += n
			} else if slices.Contains(PolicyTables(), tn) {
				exact += n
			}
		}
		t.Logf("%s: %d ternary/range entries, %d exact identity-pair entries (%v)", dev, tcam, exact, counts)
		if tcam > 4096 {
			t.Errorf("device %s: %d entries in ternary/range tables, want at most 4096", dev, tcam)
		}
	}
	for _, tn := range PolicyTables() {
		if tcamTable(in, tn) {
			t.Errorf("policy table %s is not exact", tn)
		}
	}
}

// benchCompile times full compiles of m and returns the last one's
// stats.
func benchCompile(b *testing.B, m *Model) Stats {
	testTargets("bmv2") // load the pipeline outside the timing
	var st Stats
	b.ReportAllocs()
	for b.Loop() {
		c, err := Compile(testTargets, m)
		if err != nil {
			b.Fatal(err)
		}
		st = c.Stats()
	}
	return st
}

// BenchmarkCompileMixed compiles the mixed world from scratch.
func BenchmarkCompileMixed(b *testing.B) {
	st := benchCompile(b, mixedModel(b))
	b.ReportMetric(float64(st.Entries), "entries")
	b.ReportMetric(float64(st.Identities), "identities")
}

// BenchmarkUpdateOneEndpointMixed is BenchmarkUpdateOneEndpoint on the
// mixed world.
func BenchmarkUpdateOneEndpointMixed(b *testing.B) { benchRelabel(b, mixedModel(b)) }

// mixedModel is the mixed world's model.
func mixedModel(tb testing.TB) *Model {
	tb.Helper()
	m, _, err := Build(generateMixed(mixedScale, 1))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TestMixedWorldOnTofino compiles the mixed world with every device on
// the tofino and the tofino2 profiles: the compiler's capacity check
// takes each profile's table sizes and memory budget, and the world
// fits both.
func TestMixedWorldOnTofino(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 endpoints: not in -short")
	}
	for _, target := range []string{"tofino", "tofino2"} {
		m := mixedModel(t)
		var devs []Object
		for _, d := range m.Devices {
			dd := *d
			dd.Target = target
			devs = append(devs, &dd)
		}
		m2, _, err := m.With(devs, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Compile(testTargets, m2)
		if err != nil {
			t.Fatalf("%s: %v", target, err)
		}
		p, err := testTargets(target)
		if err != nil {
			t.Fatal(err)
		}
		budget := pipeline.Budgets[p.Target.Budget]
		worst := pipeline.Fit{}
		for dev := range m2.Devices {
			if f := budget.Fit(c.DeviceInfo(dev), c.Counts(dev)); f.SRAMBlocks > worst.SRAMBlocks {
				worst = f
			}
		}
		t.Logf("%s: the fullest device takes %.1f of %d SRAM and %.1f of %d TCAM blocks", target, worst.SRAMBlocks, worst.SRAMTotal, worst.TCAMBlocks, worst.TCAMTotal)
	}
}
