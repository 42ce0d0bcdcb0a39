package policy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"testing"
	"weak"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// world draws random objects from small pools, so that random changes
// collide: endpoints share label sets, move between ports, policies
// select overlapping identities.
type world struct {
	r *rand.Rand
	// dpdk puts the second device on the dpdk target, whose limits (range
	// entries as value/mask blocks, no flood groups) change its entries.
	dpdk bool
	// devices is how many devices the world has (0: len(wDevices)).
	devices int
}

var (
	wDevices  = []string{"d1", "d2"} // the devices of a world of two
	wSegments = []*Segment{{Name: "s1", ID: 1}, {Name: "s2", ID: 2, DefaultAllow: true}}
)

func (w *world) port(dev string, n uint32) *Port {
	p := &Port{Device: dev, Port: n, Segment: wSegments[w.r.IntN(2)].Name, Role: Role(w.r.IntN(3))}
	if p.Role == RoleCommunity {
		p.Community = uint16(1 + w.r.IntN(2))
	}
	return p
}

// devs is the names of the world's devices: d1, d2 and so on.
func (w *world) devs() []string {
	if w.devices == 0 {
		return wDevices
	}
	out := make([]string, w.devices)
	for i := range out {
		out[i] = fmt.Sprintf("d%d", i+1)
	}
	return out
}

// base is the world's devices with ports 1 to ports each, and its
// segments, as a model.
func (w *world) base(t *testing.T, ports uint32) *Model {
	t.Helper()
	var objs []Object
	for i, d := range w.devs() {
		target := "bmv2"
		if w.dpdk && i == 1 {
			target = "dpdk"
		}
		objs = append(objs, &Device{Name: d, Address: "127.0.0.1:1", DeviceID: 1, Target: target})
		for n := uint32(1); n <= ports; n++ {
			objs = append(objs, w.port(d, n))
		}
	}
	for _, s := range wSegments {
		objs = append(objs, s)
	}
	m, _, err := Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (w *world) labels() map[string]string {
	l := map[string]string{}
	if w.r.IntN(4) > 0 {
		l["app"] = []string{"a", "b", "c"}[w.r.IntN(3)]
	}
	if w.r.IntN(2) == 0 {
		l["tier"] = []string{"x", "y"}[w.r.IntN(2)]
	}
	return l
}

// endpoint i on a random port of m (its segment is the port's).
func (w *world) endpoint(m *Model, i int) *Endpoint {
	var ports []*Port
	for _, k := range slices.SortedFunc(mapsKeys(m.Ports), comparePortKeys) {
		ports = append(ports, m.Ports[k])
	}
	p := ports[w.r.IntN(len(ports))]
	e := &Endpoint{Name: fmt.Sprintf("e%d", i), Segment: p.Segment, Device: p.Device, Port: p.Port, Labels: w.labels(),
		MAC: net.HardwareAddr{2, 0, 0, 0, byte(i >> 8), byte(i)}}
	e.IPs = append(e.IPs, netip.AddrFrom4([4]byte{10, 0, byte(i >> 8), byte(i)}))
	if w.r.IntN(2) == 0 {
		e.IPs = append(e.IPs, netip.MustParseAddr(fmt.Sprintf("fd00::%x", i+1)))
	}
	return e
}

func (w *world) selector() Selector {
	choices := []string{"", "app: a", "app: b", "app in (a, c)", "tier: x", "app notin (b)", "!tier", "tier exists, app: c"}
	s, err := ParseSelector(choices[w.r.IntN(len(choices))])
	if err != nil {
		panic(err)
	}
	if s == nil {
		s = Selector{}
	}
	return s
}

func (w *world) policy(i int) *Policy {
	p := &Policy{Name: fmt.Sprintf("p%d", i), Segment: wSegments[w.r.IntN(2)].Name, Priority: w.r.IntN(3) * 50, From: w.selector(), To: w.selector()}
	if w.r.IntN(4) == 0 {
		if w.r.IntN(2) == 0 {
			p.From, p.FromCIDRs = nil, []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24"), netip.MustParsePrefix("2001:db8::/32")}
		} else {
			p.To, p.ToCIDRs = nil, []netip.Prefix{netip.MustParsePrefix("198.51.100.0/24")}
		}
	}
	for range 1 + w.r.IntN(2) {
		r := Rule{Proto: []int{ProtoAny, ProtoTCP, ProtoUDP, ProtoICMP}[w.r.IntN(4)], Action: Action(1 + w.r.IntN(3))}
		if (r.Proto == ProtoTCP || r.Proto == ProtoUDP) && w.r.IntN(3) > 0 {
			// Single ports and ranges from a small pool, so that ranges
			// overlap, nest and cut each other's port classes.
			for range 1 + w.r.IntN(3) {
				lo := uint16(w.r.IntN(8) * 5)
				r.Ports = append(r.Ports, PortRange{lo, lo + []uint16{0, 0, 4, 9, 17}[w.r.IntN(5)]})
			}
		}
		p.Rules = append(p.Rules, r)
	}
	return p
}

// editPolicy is policy p<i> of m edited as operators do, within its
// selectors: a single port added to or taken from a rule, a rule's action
// or the priority changed, a rule added; one edit in five moves a range.
// Most of them the compiler makes in place (policyupdate.go). A policy m
// does not have is made anew.
func (w *world) editPolicy(m *Model, i int) *Policy {
	old := m.Policies[fmt.Sprintf("p%d", i)]
	if old == nil {
		return w.policy(i)
	}
	p := *old
	p.Rules = slices.Clone(old.Rules)
	for j := range p.Rules {
		p.Rules[j].Ports = slices.Clone(p.Rules[j].Ports)
	}
	r := &p.Rules[w.r.IntN(len(p.Rules))]
	switch w.r.IntN(5) {
	case 0:
		if r.Proto != ProtoTCP && r.Proto != ProtoUDP {
			p.Rules = append(p.Rules, Rule{Proto: ProtoTCP, Action: ActionAllow, Ports: []PortRange{{Lo: 443, Hi: 443}}})
			break
		}
		port := uint16(1 + w.r.IntN(40))
		r.Ports = append(r.Ports, PortRange{port, port})
	case 1:
		if k := slices.IndexFunc(r.Ports, func(pr PortRange) bool { return pr.Lo == pr.Hi }); k >= 0 {
			r.Ports = slices.Delete(r.Ports, k, k+1)
		}
	case 2:
		r.Action = Action(1 + w.r.IntN(3))
	case 3:
		p.Priority = w.r.IntN(3) * 50
	default:
		if r.Proto == ProtoTCP || r.Proto == ProtoUDP {
			lo := uint16(w.r.IntN(8) * 5)
			r.Ports = append(r.Ports, PortRange{lo, lo + 9})
		}
	}
	return &p
}

// randomChange is a random change to m for step (none at step 0, whose
// update compiles the devices and segments): an endpoint set or deleted,
// a policy set or deleted, a port set and, with segments, a segment's
// default flipped.
func (w *world) randomChange(m *Model, step int, segments bool) ([]Object, []Deletion) {
	switch op := w.r.IntN(10); {
	case step == 0:
		return nil, nil
	case op < 4:
		return []Object{w.endpoint(m, w.r.IntN(12))}, nil
	case op < 5:
		return nil, []Deletion{{KindEndpoint, fmt.Sprintf("e%d", w.r.IntN(12))}}
	case op < 6:
		return []Object{w.policy(w.r.IntN(6))}, nil
	case op < 7:
		return []Object{w.editPolicy(m, w.r.IntN(6))}, nil
	case op < 8:
		return nil, []Deletion{{KindPolicy, fmt.Sprintf("p%d", w.r.IntN(6))}}
	case op < 9 || !segments:
		return []Object{w.port(w.devs()[w.r.IntN(len(w.devs()))], uint32(1+w.r.IntN(5)))}, nil
	default:
		s := *wSegments[w.r.IntN(2)]
		s.DefaultAllow = w.r.IntN(2) == 0
		return []Object{&s}, nil
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// deviceState is what a device holds after the deltas were written.
type deviceState struct {
	entries map[string]string // EntryKey -> ActionKey
	groups  map[uint32]int    // group id -> replicas
}

func (s *deviceState) apply(t *testing.T, dd *DeviceDelta) {
	t.Helper()
	for _, e := range dd.Delete {
		k := pipeline.EntryKey(e)
		if _, ok := s.entries[k]; !ok {
			t.Fatalf("delete of an entry the device does not hold: %v", e)
		}
		delete(s.entries, k)
	}
	for _, e := range dd.Modify {
		k := pipeline.EntryKey(e)
		if _, ok := s.entries[k]; !ok {
			t.Fatalf("modify of an entry the device does not hold: %v", e)
		}
		s.entries[k] = pipeline.ActionKey(e)
	}
	for _, e := range dd.Insert {
		k := pipeline.EntryKey(e)
		if _, ok := s.entries[k]; ok {
			t.Fatalf("insert of an entry the device holds: %v", e)
		}
		s.entries[k] = pipeline.ActionKey(e)
	}
	for _, g := range dd.GroupDelete {
		delete(s.groups, g.GetMulticastGroupId())
	}
	for _, g := range slices.Concat(dd.GroupInsert, dd.GroupModify) {
		s.groups[g.GetMulticastGroupId()] = len(g.GetReplicas())
	}
}

func stateOf(t *testing.T, c *Compiler, dev string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if _, ok := c.model.Devices[dev]; !ok {
		return out
	}
	es, _, err := c.DeviceEntries(dev)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range es {
		out[pipeline.EntryKey(e)] = pipeline.ActionKey(e)
	}
	return out
}

func diffStates(a, b map[string]string) string {
	var out []string
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			e, _ := pipeline.DecodeEntry(k, v)
			out = append(out, fmt.Sprintf("- %v", e))
		}
	}
	for k, v := range b {
		if w, ok := a[k]; !ok || w != v {
			e, _ := pipeline.DecodeEntry(k, v)
			out = append(out, fmt.Sprintf("+ %v", e))
		}
	}
	slices.Sort(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	return fmt.Sprint(out)
}

// TestIncrementalEqualsFull applies random changes one by one and checks,
// after each, that (1) the deltas, written to a device that started
// empty, leave it holding exactly what the compiler says, (2) that is
// what a full compile of the same model gives (with the same identity
// ids), and (3) each device holds the destination identities its policy
// entries name and no others (reach.go). Worlds have two to four
// devices, so that policies, endpoints moving and relabels bring remote
// destinations onto devices and take them off; the test counts those
// steps and fails when the changes exercised them too little.
func TestIncrementalEqualsFull(t *testing.T) {
	seeds := 40
	steps := 60
	if testing.Short() {
		seeds = 8
	}
	// Steps whose delta changed destination-identity entries: by a policy
	// change (inserted or deleted), by an endpoint change on a device
	// other than the endpoint's own (inserted or deleted), and folded into
	// a modify (an address changing identity where it is reached).
	var byPolicy, byRemoteEndpoint, modified, ran int
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			ran++
			w := &world{r: rand.New(rand.NewPCG(uint64(seed), 7)), dpdk: seed%2 == 1, devices: 2 + seed%3}
			m := w.base(t, 4)
			c := NewCompiler(testTargets)
			devs := map[string]*deviceState{}
			for _, d := range w.devs() {
				devs[d] = &deviceState{entries: map[string]string{}, groups: map[uint32]int{}}
			}
			for step := range steps {
				change, dels := w.randomChange(m, step, true)
				next, _, err := m.With(change, dels)
				if err != nil {
					continue // an invalid change (say, a port move stranding an endpoint)
				}
				t.Logf("step %d: change %v deletions %v", step, refsOf(change), dels)
				d, err := c.Update(next)
				if err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				prev := m
				m = next
				for name, dd := range d.Devices {
					devs[name].apply(t, dd)
					ins, mod, del := dstChanges(c, name, dd)
					switch epDevs := endpointDevices(prev, next, change, dels); {
					case ins+del > 0 && isPolicyChange(change, dels):
						byPolicy++
					case ins+del > 0 && len(epDevs) > 0 && !epDevs[name]:
						byRemoteEndpoint++
					}
					if mod > 0 {
						modified++
					}
				}
				full := NewCompiler(testTargets)
				full.ids = c.ids.sticky()
				full.apply(NewModel(), m)
				for _, dev := range w.devs() {
					if diff := dstRuleDiff(t, c, dev); diff != "" {
						t.Fatalf("step %d, device %s: destination identities are not those its policy entries name: %s", step, dev, diff)
					}
					inc := stateOf(t, c, dev)
					if diff := diffStates(devs[dev].entries, inc); diff != "[]" {
						t.Fatalf("step %d, device %s: deltas written != compiler's entries: %s", step, dev, diff)
					}
					if diff := diffStates(inc, stateOf(t, full, dev)); diff != "[]" {
						t.Fatalf("step %d, device %s: incremental != full compile: %s", step, dev, diff)
					}
					if got, want := c.Counts(dev), countTables(t, c, dev); fmt.Sprint(got) != fmt.Sprint(want) {
						t.Fatalf("step %d, device %s: Counts %v, entries per table %v", step, dev, got, want)
					}
					_, fg, _ := full.DeviceEntries(dev)
					if len(fg) != len(devs[dev].groups) {
						t.Fatalf("step %d, device %s: %d groups written, full compile has %d", step, dev, len(devs[dev].groups), len(fg))
					}
				}
			}
		})
	}
	t.Logf("steps changing destination identities: %d by a policy, %d by a remote endpoint, %d folded into a modify", byPolicy, byRemoteEndpoint, modified)
	if ran == seeds && !t.Failed() && (byPolicy < seeds || byRemoteEndpoint < seeds || modified == 0) {
		t.Errorf("the random changes moved destination identities too little: %d by a policy, %d by a remote endpoint, %d modified (want %d, %d, 1)",
			byPolicy, byRemoteEndpoint, modified, seeds, seeds)
	}
}

// isPolicyChange reports whether a change adds, replaces or deletes a
// policy.
func isPolicyChange(change []Object, dels []Deletion) bool {
	for _, o := range change {
		if _, ok := o.(*Policy); ok {
			return true
		}
	}
	return slices.ContainsFunc(dels, func(d Deletion) bool { return d.Kind == KindPolicy })
}

// endpointDevices is the devices of the endpoints a change touches, before
// and after (none for a change without endpoints).
func endpointDevices(a, b *Model, change []Object, dels []Deletion) map[string]bool {
	out := map[string]bool{}
	note := func(name string) {
		for _, m := range []*Model{a, b} {
			if e, ok := m.Endpoints[name]; ok && e.Placed() {
				out[e.Device] = true
			}
		}
	}
	for _, o := range change {
		if e, ok := o.(*Endpoint); ok {
			note(e.Name)
		}
	}
	for _, d := range dels {
		if d.Kind == KindEndpoint {
			note(d.Name)
		}
	}
	return out
}

var _ = p4v1.TableEntry{}

func refsOf(objs []Object) []string {
	var out []string
	for _, o := range objs {
		out = append(out, fmt.Sprintf("%s %+v", o.Ref(), o))
	}
	return out
}

func countTables(t *testing.T, c *Compiler, dev string) map[string]int {
	out := map[string]int{}
	if _, ok := c.model.Devices[dev]; !ok {
		return out
	}
	es, _, err := c.DeviceEntries(dev)
	if err != nil {
		t.Fatal(err)
	}
	in := c.DeviceInfo(dev)
	for _, e := range es {
		tb, _ := in.TableByID(e.GetTableId())
		out[tb.Name]++
	}
	return out
}

// TestModelsDoNotChain: a model remembers what it was made from only
// weakly. A controller keeps the newest model; the ones before it must
// be free to go, or every apply would add a copy of the model's maps to
// the heap for good (0.7 MB per apply at 10k endpoints, before the fix).
func TestModelsDoNotChain(t *testing.T) {
	m := exampleModel(t)
	first := weak.Make(m)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	e := *m.Endpoints["web-1"]
	for i := range 3 {
		e.Labels = map[string]string{"app": "shop", "tier": "web", "rev": fmt.Sprint(i)}
		x := e
		n, _, err := m.With([]Object{&x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The compiler still finds the change from n's record of it.
		if d := diffModels(m, n); !slices.Equal(d.endpoints, []string{"web-1"}) || len(d.policies)+len(d.ports) != 0 {
			t.Fatalf("change %d: diff %+v", i, d)
		}
		if _, err := c.Update(n); err != nil {
			t.Fatal(err)
		}
		m = n
	}
	runtime.GC()
	if first.Value() != nil {
		t.Error("the first model is still reachable from the newest")
	}
	runtime.KeepAlive(m)
}

// TestIncrementalValidation: for random changes of endpoints (drawn from
// small pools of names, MACs, IPs and ports, so that they clash) and
// policies, With on an indexed model answers exactly as the whole-model
// check does on the same model without its index: the same errors, the
// same warnings, and an index equal to one built from scratch.
func TestIncrementalValidation(t *testing.T) {
	fast, refused, flattened := 0, 0, 0
	for seed := range 20 {
		w := &world{r: rand.New(rand.NewPCG(uint64(seed), 11))}
		m := w.base(t, 3)
		endpoint := func() *Endpoint {
			e := &Endpoint{Name: fmt.Sprintf("e%d", w.r.IntN(8)), Segment: []string{"s1", "s2", "s9"}[w.r.IntN(3)],
				Labels: w.labels(), MAC: net.HardwareAddr{2, 0, 0, 0, 0, byte(w.r.IntN(12))}}
			if w.r.IntN(6) > 0 {
				// Mostly a port of the endpoint's segment; now and then
				// another, or one that does not exist.
				e.Device, e.Port = wDevices[w.r.IntN(2)], uint32(1+w.r.IntN(4))
				if p := m.Ports[PortKey{e.Device, e.Port}]; p != nil && w.r.IntN(5) > 0 {
					e.Segment = p.Segment
				}
			} else {
				e.Host = "h1"
			}
			for range w.r.IntN(3) {
				if w.r.IntN(2) == 0 {
					e.IPs = append(e.IPs, netip.AddrFrom4([4]byte{10, 0, 0, byte(w.r.IntN(10))}))
				} else {
					e.IPs = append(e.IPs, netip.MustParseAddr(fmt.Sprintf("fd00::%x", w.r.IntN(10))))
				}
			}
			return e
		}
		for step := range 400 {
			var change []Object
			var dels []Deletion
			for range 1 + w.r.IntN(3) {
				switch op := w.r.IntN(10); {
				case op < 6:
					change = append(change, endpoint())
				case op < 8:
					dels = append(dels, Deletion{KindEndpoint, fmt.Sprintf("e%d", w.r.IntN(8))})
				default:
					change = append(change, w.policy(w.r.IntN(3)))
				}
			}
			plain := *m
			plain.addrs = nil
			want, wantWarn, wantErr := plain.With(change, dels)
			got, gotWarn, gotErr := m.With(change, dels)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || !slices.Equal(gotWarn, wantWarn) {
				t.Fatalf("seed %d step %d: change %v deletions %v:\n got %v %q\nwant %v %q", seed, step, refsOf(change), dels, gotErr, gotWarn, wantErr, wantWarn)
			}
			if gotErr != nil {
				refused++
				continue
			}
			switch {
			case got.addrs.depth > 0:
				fast++
			case m.addrs.depth == maxAddrDepth && !strings.Contains(fmt.Sprint(refsOf(change)), "Policy"):
				flattened++
			}
			flat := got.addrs.flatten()
			if fmt.Sprint(flat.macs) != fmt.Sprint(want.addrs.macs) || fmt.Sprint(flat.ips) != fmt.Sprint(want.addrs.ips) {
				t.Fatalf("seed %d step %d: index\n got %v %v\nwant %v %v", seed, step, flat.macs, flat.ips, want.addrs.macs, want.addrs.ips)
			}
			m = got
		}
	}
	t.Logf("%d changes checked incrementally, %d of them flattening the index; %d refused", fast+flattened, flattened, refused)
	if fast < 100 || refused < 100 || flattened == 0 {
		t.Errorf("the random changes exercised too little: %d incremental, %d flattening, %d refused", fast, flattened, refused)
	}
}
