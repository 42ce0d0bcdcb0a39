package policy

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"
)

// leafSpineLinks is the lab's cabling of examples/fabric.yaml: leaf port
// 5 to spine1, port 6 to spine2; spine port 1 to leaf1, port 2 to leaf2.
var leafSpineLinks = []Link{
	{PortKey{"leaf1", 5}, PortKey{"spine1", 1}},
	{PortKey{"leaf1", 6}, PortKey{"spine2", 1}},
	{PortKey{"spine1", 2}, PortKey{"leaf2", 5}}, // either end first
	{PortKey{"leaf2", 6}, PortKey{"spine2", 2}},
}

func fabricModel(t testing.TB, links []Link) *Model {
	t.Helper()
	b, err := os.ReadFile("../../examples/fabric.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := mustModel(t, string(b))
	var bd Binder
	out, _ := bd.Bind(m, func(string) (string, uint32, bool) { return "", 0, false }, links)
	return out
}

func TestNormalizeLinks(t *testing.T) {
	a, b, c := PortKey{"a", 1}, PortKey{"b", 2}, PortKey{"a", 3}
	got := NormalizeLinks([]Link{{b, a}, {a, b}, {a, c}, {b, c}})
	want := []Link{{a, b}, {c, b}}
	if !slices.Equal(got, want) {
		t.Fatalf("NormalizeLinks = %v, want %v (one per cable, lower end first, none within a device)", got, want)
	}
}

func TestFabricLeafSpine(t *testing.T) {
	f := fabricOf(fabricModel(t, leafSpineLinks))
	if len(f.links) != 4 {
		t.Fatalf("usable links = %v, want all 4", f.links)
	}
	// The tree grows from leaf1 (first by name): both spines hang off it,
	// leaf2 off spine1 (the first of its far ends); spine2-leaf2 is the
	// standby.
	wantTree := map[string][]uint32{"leaf1": {5, 6}, "spine1": {1, 2}, "spine2": {1}, "leaf2": {5}}
	for dev, want := range wantTree {
		if got := f.tree[dev]; !slices.Equal(got, want) {
			t.Errorf("tree ports of %s = %v, want %v", dev, got, want)
		}
	}
	next := []struct {
		from, to string
		port     uint32
	}{
		{"leaf1", "leaf2", 5}, {"leaf2", "leaf1", 5}, {"spine2", "leaf2", 1}, {"spine1", "leaf2", 2}, {"leaf2", "spine2", 5},
	}
	for _, n := range next {
		if got, ok := f.next[[2]string{n.from, n.to}]; !ok || got != n.port {
			t.Errorf("next hop %s -> %s = %d (%v), want port %d", n.from, n.to, got, ok, n.port)
		}
	}
	for _, k := range []PortKey{{"leaf1", 5}, {"leaf2", 6}, {"spine2", 2}} {
		if !f.tagged[k] {
			t.Errorf("%v is on a fabric link but not tagged", k)
		}
	}
	if f.tagged[PortKey{"leaf1", 1}] {
		t.Error("an access port is tagged")
	}
}

func TestFabricIgnoresUnusableLinks(t *testing.T) {
	links := append(slices.Clone(leafSpineLinks),
		Link{PortKey{"leaf1", 1}, PortKey{"leaf2", 1}},   // access ports: a host cable, not an uplink
		Link{PortKey{"spine2", 2}, PortKey{"spine1", 9}}, // spine2/2 on two links: neither counts
	)
	f := fabricOf(fabricModel(t, links))
	for _, l := range f.links {
		if l.A.Port == 1 && strings.HasPrefix(l.A.Device, "leaf") || l.A == (PortKey{"spine2", 2}) || l.B == (PortKey{"spine2", 2}) {
			t.Errorf("unusable link %v is used", l)
		}
	}
	if len(f.links) != 3 {
		t.Errorf("usable links = %v, want the 3 clean leaf-spine links", f.links)
	}
}

// TestFabricCompiles: the example on its cabling gives every switch the
// other leaf's endpoints along the tree, tags the fabric ports and floods
// on the tree only; without links it is four unconnected switches.
func TestFabricCompiles(t *testing.T) {
	c, err := Compile(testTargets, fabricModel(t, leafSpineLinks))
	if err != nil {
		t.Fatal(err)
	}
	l2 := l2Of(c)
	if got := l2["leaf1"][mac6(t, "02:00:00:00:00:03")]; got != 5 {
		t.Errorf("leaf1 forwards app-1 (on leaf2) out of port %d, want 5 (spine1, the tree)", got)
	}
	if got := l2["spine2"][mac6(t, "02:00:00:00:00:03")]; got != 1 {
		t.Errorf("spine2 forwards app-1 out of port %d, want 1 (to leaf1: spine2-leaf2 is off the tree)", got)
	}
	if got := l2["leaf2"][mac6(t, "02:00:00:00:00:03")]; got != 2 {
		t.Errorf("leaf2 forwards app-1 out of port %d, want its own port 2", got)
	}
	if got := groupsOf(c.model, "leaf2")[10]; !slices.Equal(got, []uint32{1, 2, 3, 5}) {
		t.Errorf("leaf2's prod flood group = %v, want access ports 1-3 and tree port 5 (not the standby 6)", got)
	}
	if got := groupsOf(c.model, "spine1")[20]; !slices.Equal(got, []uint32{1, 2}) {
		t.Errorf("spine1's guest flood group = %v, want both tree ports", got)
	}

	alone, err := Compile(testTargets, fabricModel(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	if got := l2Of(alone)["leaf1"][mac6(t, "02:00:00:00:00:03")]; got != 0 {
		t.Errorf("without links leaf1 still forwards app-1 to port %d", got)
	}

	// Links appearing, and going again, are a full recompile whose delta
	// ends where a fresh compile of the same model does.
	d, err := alone.Update(fabricModel(t, leafSpineLinks))
	if err != nil {
		t.Fatal(err)
	}
	if d.Len() == 0 {
		t.Fatal("links appeared and nothing changed")
	}
	if diff := diffStates(stateOf(t, alone, "spine1"), stateOf(t, c, "spine1")); diff != "[]" {
		t.Errorf("after the links appear spine1 differs from a fresh compile:\n%s", diff)
	}
}

func mac6(t testing.TB, s string) [6]byte {
	b, err := parseMAC(s)
	if err != nil {
		t.Fatal(err)
	}
	return [6]byte(b)
}

// l2Of is every device's L2 rows: MAC -> port (segments do not share
// MACs in these tests).
func l2Of(c *Compiler) map[string]map[[6]byte]uint32 {
	out := map[string]map[[6]byte]uint32{}
	for name, i := range c.devIdx {
		out[name] = map[[6]byte]uint32{}
		c.deviceRows(i, func(k rowKey, r row) {
			if k.t == tL2 {
				out[name][k.mac] = r.val.p[0]
			}
		})
	}
	return out
}

// TestFabricFloodsOnce checks random fabrics against what a flood must do,
// following the pipeline's rules (p4src/include/egress.p4) over the
// compiled groups, fabric ports and links: a broadcast from an access
// port reaches every switch connected to it by usable links exactly once
// and then stops, and unicast to every endpoint arrives at its port from
// every such switch. Usable links are worked out here from the
// definition (both ends uplinks, neither end on another link), not by
// the code under test.
func TestFabricFloodsOnce(t *testing.T) {
	for seed := uint64(1); seed <= 60; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 7))
			src, links := randomFabric(r)
			m := mustModel(t, src)
			var bd Binder
			m, _ = bd.Bind(m, func(string) (string, uint32, bool) { return "", 0, false }, links)
			c, err := Compile(testTargets, m)
			if err != nil {
				t.Fatal(err)
			}
			checkFlood(t, c, m, links)
		})
	}
}

// randomFabric is 2-6 switches, each with access ports 1-2 (an endpoint
// on each) and uplinks 10-14, cabled at random: uplink to uplink mostly,
// sometimes to an access port or to a port already cabled.
func randomFabric(r *rand.Rand) (string, []Link) {
	n := 2 + r.IntN(5)
	var b strings.Builder
	b.WriteString("kind: Segment\nname: s\nid: 7\ndefault: allow\n")
	ep := 0
	for i := range n {
		fmt.Fprintf(&b, "---\nkind: Device\nname: d%d\naddress: 127.0.0.1:%d\ntarget: bmv2\n", i, 9000+i)
		for p := 1; p <= 2; p++ {
			fmt.Fprintf(&b, "---\nkind: Port\ndevice: d%d\nport: %d\nsegment: s\nrole: promiscuous\n", i, p)
			ep++
			fmt.Fprintf(&b, "---\nkind: Endpoint\nname: e%d\nsegment: s\nmac: 02:00:00:00:%02x:%02x\nips: [10.1.%d.%d]\ndevice: d%d\nport: %d\n", ep, i, p, i, p, i, p)
		}
		for p := 10; p <= 14; p++ {
			fmt.Fprintf(&b, "---\nkind: Port\ndevice: d%d\nport: %d\nsegment: s\nrole: uplink\n", i, p)
		}
	}
	var links []Link
	for range r.IntN(3 * n) {
		a, z := r.IntN(n), r.IntN(n)
		if a == z {
			continue
		}
		pa, pz := uint32(10+r.IntN(5)), uint32(10+r.IntN(5))
		if r.IntN(8) == 0 {
			pz = uint32(1 + r.IntN(2)) // into an access port
		}
		links = append(links, Link{PortKey{fmt.Sprintf("d%d", a), pa}, PortKey{fmt.Sprintf("d%d", z), pz}})
	}
	return b.String(), links
}

func checkFlood(t *testing.T, c *Compiler, m *Model, links []Link) {
	t.Helper()
	links = NormalizeLinks(links)
	// The reference: usable links, from their definition.
	ends := map[PortKey]int{}
	for _, l := range links {
		ends[l.A]++
		ends[l.B]++
	}
	uplink := func(k PortKey) bool { p := m.Ports[k]; return p != nil && p.Role == RoleUplink }
	peer := map[PortKey]PortKey{} // every cable, usable or not: frames cross them all
	comp := map[string]string{}   // device -> a representative of its usable component
	var find func(string) string
	find = func(d string) string {
		if comp[d] == "" || comp[d] == d {
			comp[d] = d
			return d
		}
		comp[d] = find(comp[d])
		return comp[d]
	}
	for _, l := range links {
		if ends[l.A] == 1 && ends[l.B] == 1 {
			peer[l.A], peer[l.B] = l.B, l.A
			if uplink(l.A) && uplink(l.B) {
				comp[find(l.A.Device)] = find(l.B.Device)
			}
		}
	}
	// What the compiler wrote.
	tagged := map[PortKey]bool{}
	for name, i := range c.devIdx {
		c.deviceRows(i, func(k rowKey, r row) {
			if k.t == tEgressPorts && r.val.p[3] == 1 {
				tagged[PortKey{name, k.n1}] = true
			}
		})
	}
	groups := map[string][]uint32{}
	for name := range m.Devices {
		groups[name] = groupsOf(m, name)[7]
	}
	l2 := l2Of(c)

	type frame struct {
		at         PortKey // arrived here
		fromUplink bool
	}
	for name := range m.Devices {
		start := PortKey{name, 1}
		got := map[string]int{}
		queue := []frame{{at: start}}
		steps := 0
		for len(queue) > 0 {
			f := queue[0]
			queue = queue[1:]
			if steps++; steps > 10000 {
				t.Fatalf("a broadcast from %v does not stop (a loop)", start)
			}
			got[f.at.Device]++
			for _, p := range groups[f.at.Device] {
				out := PortKey{f.at.Device, p}
				if p == f.at.Port || f.fromUplink && uplink(out) && !tagged[out] {
					continue // the ingress port; split horizon
				}
				if to, ok := peer[out]; ok && uplink(out) {
					if !uplink(to) {
						continue // an uplink cabled to an access port: the tag is dropped there
					}
					queue = append(queue, frame{at: to, fromUplink: true})
				}
			}
		}
		for other := range m.Devices {
			want := 0
			if find(other) == find(name) {
				want = 1
			}
			if got[other] != want {
				t.Errorf("a broadcast from %v reached %s %d times, want %d (links %v)", start, other, got[other], want, links)
			}
		}
		// Unicast from this switch to every endpoint of its component.
		for _, e := range m.Endpoints {
			if find(e.Device) != find(name) {
				continue
			}
			at, mac := name, [6]byte(e.MAC)
			for hop := 0; ; hop++ {
				if hop > len(m.Devices) {
					t.Fatalf("unicast from %s to %s does not arrive (a loop)", name, e.Name)
				}
				p, ok := l2[at][mac]
				if !ok {
					t.Fatalf("%s has no L2 entry for %s (on %s)", at, e.Name, e.Device)
				}
				if at == e.Device {
					if p != e.Port {
						t.Errorf("%s forwards its own %s to port %d, want %d", at, e.Name, p, e.Port)
					}
					break
				}
				if !tagged[PortKey{at, p}] {
					t.Fatalf("%s forwards %s out of %d, not a fabric port", at, e.Name, p)
				}
				at = peer[PortKey{at, p}].Device
			}
		}
	}
}
