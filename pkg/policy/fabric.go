package policy

import (
	"cmp"
	"maps"
	"slices"
)

// The fabric: switches joined by uplinks that the topology has seen
// (LLDP through the pipeline). Each switch tags what it sends onto a
// fabric link with the segment, role and community the frame entered the
// fabric on (p4src/include/egress.p4), so the last switch isolates it as
// if sender and receiver shared a switch. Flooding follows one spanning
// tree of the links, and so does unicast to an endpoint on another
// switch: the tree has one path between any two switches, so there is
// nothing to loop and no frame arrives twice. A link off the tree carries
// nothing until the tree changes (a link or switch that is no longer
// seen): like a blocked port of spanning tree, it is the standby.

// Link is a cable between two device ports, as the topology sees it. It
// is runtime state, like an endpoint's placement: never replicated, set
// on a model by Binder.Bind.
type Link struct {
	A, B PortKey
}

// NormalizeLinks sorts links, writes each with its lower end first and
// drops repeats and loops (both ends on one device), so that two lists of
// the same links compare equal.
func NormalizeLinks(links []Link) []Link {
	out := make([]Link, 0, len(links))
	for _, l := range links {
		if l.A.Device == l.B.Device {
			continue
		}
		if comparePortKeys(l.B, l.A) < 0 {
			l.A, l.B = l.B, l.A
		}
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y Link) int {
		return cmp.Or(comparePortKeys(x.A, y.A), comparePortKeys(x.B, y.B))
	})
	return slices.Compact(out)
}

// fabric is what the links of a model mean to the compiler.
type fabric struct {
	// links are the usable links: both ends uplink ports of the model,
	// and no end on two links.
	links []Link
	// tagged are the ports on usable links: frames leave them tagged.
	tagged map[PortKey]bool
	// tree are each device's ports on the spanning tree.
	tree map[string][]uint32
	// next is, for a device and another device of its tree, the port
	// towards it.
	next map[[2]string]uint32
}

// fabricOf works out m's fabric. Only links between two uplink ports
// declared in m count (a frame leaves only declared ports, and only an
// uplink accepts tags); a port seen on two links (a hub, or a cable being
// moved) is left out until it is on one.
func fabricOf(m *Model) *fabric {
	f := &fabric{tagged: map[PortKey]bool{}, tree: map[string][]uint32{}, next: map[[2]string]uint32{}}
	if len(m.Links) == 0 {
		return f
	}
	uplink := func(k PortKey) bool {
		p, ok := m.Ports[k]
		return ok && p.Role == RoleUplink
	}
	ends := map[PortKey]int{}
	for _, l := range m.Links {
		ends[l.A]++
		ends[l.B]++
	}
	adj := map[string][]Link{} // each device's links, its own end as A
	for _, l := range m.Links {
		if !uplink(l.A) || !uplink(l.B) || ends[l.A] > 1 || ends[l.B] > 1 {
			continue
		}
		f.links = append(f.links, l)
		f.tagged[l.A], f.tagged[l.B] = true, true
		adj[l.A.Device] = append(adj[l.A.Device], l)
		adj[l.B.Device] = append(adj[l.B.Device], Link{A: l.B, B: l.A})
	}
	for _, ls := range adj {
		slices.SortFunc(ls, func(x, y Link) int { return cmp.Or(comparePortKeys(x.B, y.B), cmp.Compare(x.A.Port, y.A.Port)) })
	}
	// One tree per connected set of devices, grown breadth first from its
	// first device by name, each device taking its links in order of the
	// far end: the same links give the same tree on every node.
	inTree := map[string]bool{}
	for _, root := range slices.Sorted(maps.Keys(adj)) {
		if inTree[root] {
			continue
		}
		inTree[root] = true
		members := []string{root}
		treeAdj := map[string][]Link{}
		for i := 0; i < len(members); i++ {
			d := members[i]
			for _, l := range adj[d] {
				if inTree[l.B.Device] {
					continue
				}
				inTree[l.B.Device] = true
				members = append(members, l.B.Device)
				f.tree[d] = append(f.tree[d], l.A.Port)
				f.tree[l.B.Device] = append(f.tree[l.B.Device], l.B.Port)
				treeAdj[d] = append(treeAdj[d], l)
				treeAdj[l.B.Device] = append(treeAdj[l.B.Device], Link{A: l.B, B: l.A})
			}
		}
		// The port from each member towards every other: walk the tree
		// from each destination, recording where each device is reached
		// from.
		for _, dst := range members {
			seen := map[string]bool{dst: true}
			queue := []string{dst}
			for len(queue) > 0 {
				d := queue[0]
				queue = queue[1:]
				for _, l := range treeAdj[d] {
					if seen[l.B.Device] {
						continue
					}
					seen[l.B.Device] = true
					f.next[[2]string{l.B.Device, dst}] = l.B.Port
					queue = append(queue, l.B.Device)
				}
			}
		}
	}
	for _, ports := range f.tree {
		slices.Sort(ports)
	}
	return f
}

func (f *fabric) equal(g *fabric) bool {
	return slices.Equal(f.links, g.links)
}

// member reports whether device dev is on the fabric.
func (f *fabric) member(dev string) bool { return len(f.tree[dev]) > 0 }

// remoteL2 calls fn with every device other than e's that reaches e's
// device over the fabric, and the port it forwards e's frames out of.
func (f *fabric) remoteL2(e *Endpoint, fn func(dev string, port uint32)) {
	if !f.member(e.Device) {
		return
	}
	for _, dev := range slices.Sorted(maps.Keys(f.tree)) {
		if dev == e.Device {
			continue
		}
		if port, ok := f.next[[2]string{dev, e.Device}]; ok {
			fn(dev, port)
		}
	}
}
