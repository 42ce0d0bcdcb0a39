package policy

import (
	"cmp"
	"fmt"
	"iter"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

func sortErrors(errs Errors) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Src.File != b.Src.File {
			if a.Src.File < b.Src.File {
				return -1
			}
			return 1
		}
		return a.Src.Line - b.Src.Line
	})
}

type segAddr struct {
	seg string
	ip  netip.Addr
}

type segMAC struct {
	seg string
	mac string
}

// check validates references and uniqueness across the whole model;
// objectsChecked skips the objects' references and addresses when
// checkChangedEndpoints has vouched for them. It runs on every apply, on
// every node, so the common case (no error) is made cheap: objects are
// visited in map order, and only if something is wrong are they visited
// again in name order, so that which of two owners of an address is
// reported is the same on every run. A model that passes keeps the
// address owners found as its index. Label sets come from the identity
// table (one per distinct set) when it is current.
func (m *Model) check(fail func(o Object, field, format string, args ...any), objectsChecked bool) (warnings []string) {
	failed := false
	if !objectsChecked {
		probe := func(Object, string, string, ...any) { failed = true }
		macs, ips := m.checkObjects(probe, false)
		if failed {
			m.checkObjects(fail, true)
		} else {
			m.addrs = newAddrIndex(macs, ips)
		}
	}
	// Selectors are checked against each distinct label set once.
	labelSets := m.labelSets()
	selects := func(seg string, sel Selector) bool {
		for _, l := range labelSets[seg] {
			if sel.Matches(l) {
				return true
			}
		}
		return false
	}
	type warning struct{ order, text string }
	var ws []warning
	for name, p := range m.Policies {
		if _, ok := m.Segments[p.Segment]; !ok {
			failed = true
			continue
		}
		for _, side := range []struct {
			field string
			sel   Selector
			cidrs []netip.Prefix
		}{{"from", p.From, p.FromCIDRs}, {"to", p.To, p.ToCIDRs}} {
			if side.cidrs != nil {
				continue
			}
			if !selects(p.Segment, side.sel) {
				ws = append(ws, warning{"p\x00" + name + "\x00" + side.field, fmt.Sprintf("%s: %s: %s: selector %q matches no endpoint of segment %s",
					p.Src, p.Ref(), side.field, side.sel, p.Segment)})
			}
		}
	}
	if failed {
		for _, name := range slices.Sorted(maps.Keys(m.Policies)) {
			if p := m.Policies[name]; m.Segments[p.Segment] == nil {
				fail(p, "segment", "unknown segment %q", p.Segment)
			}
		}
	}
	segPorts := map[string]bool{}
	for _, p := range m.Ports {
		segPorts[p.Segment] = true
	}
	for name, s := range m.Segments {
		if !segPorts[name] {
			ws = append(ws, warning{"s\x00" + name, fmt.Sprintf("%s: %s: no port is in this segment", s.Src, s.Ref())})
		}
	}
	slices.SortFunc(ws, func(a, b warning) int { return strings.Compare(a.order, b.order) })
	for _, w := range ws {
		warnings = append(warnings, w.text)
	}
	return warnings
}

// keysIn is mp's keys, in name order when sorted is set.
func keysIn[K cmp.Ordered, V any](mp map[K]V, sorted bool) iter.Seq[K] {
	if sorted {
		return slices.Values(slices.Sorted(maps.Keys(mp)))
	}
	return maps.Keys(mp)
}

// checkObjects checks segment ids, port references, and endpoint
// references and addresses; sorted visits objects in name order. It
// returns the owners of the endpoints' addresses it found.
func (m *Model) checkObjects(fail func(o Object, field, format string, args ...any), sorted bool) (map[segMAC]*Endpoint, map[segAddr]*Endpoint) {
	segIDs := make(map[uint16]*Segment, len(m.Segments))
	for name := range keysIn(m.Segments, sorted) {
		s := m.Segments[name]
		if prev, dup := segIDs[s.ID]; dup {
			fail(s, "id", "segment id %d is already %s's (%s)", s.ID, prev.Name, prev.Source())
			continue
		}
		segIDs[s.ID] = s
	}
	ports := maps.Keys(m.Ports)
	if sorted {
		ports = slices.Values(slices.SortedFunc(maps.Keys(m.Ports), comparePortKeys))
	}
	for k := range ports {
		p := m.Ports[k]
		if _, ok := m.Devices[p.Device]; !ok {
			fail(p, "device", "unknown device %q", p.Device)
		}
		if _, ok := m.Segments[p.Segment]; !ok {
			fail(p, "segment", "unknown segment %q", p.Segment)
		}
	}
	macs := make(map[segMAC]*Endpoint, len(m.Endpoints))
	ips := make(map[segAddr]*Endpoint, len(m.Endpoints))
	for name := range keysIn(m.Endpoints, sorted) {
		e := m.Endpoints[name]
		if _, ok := m.Segments[e.Segment]; !ok {
			fail(e, "segment", "unknown segment %q", e.Segment)
		}
		if e.Placed() {
			if field, msg := m.placement(e, e.Device, e.Port); msg != "" {
				fail(e, field, "%s", msg)
			}
		}
		k := segMAC{e.Segment, string(e.MAC)}
		if prev, dup := macs[k]; dup {
			fail(e, "mac", "%s is already %s's in segment %s (%s)", e.MAC, prev.Name, e.Segment, prev.Source())
		} else {
			macs[k] = e
		}
		for i, ip := range e.IPs {
			k := segAddr{e.Segment, ip}
			if prev, dup := ips[k]; dup {
				fail(e, fmt.Sprintf("ips[%d]", i), "%s is already %s's in segment %s (%s)", ip, prev.Name, e.Segment, prev.Source())
				continue
			}
			ips[k] = e
		}
	}
	return macs, ips
}

// checkChangedEndpoints vouches for n, made by With from the valid model
// m, when the change touched only endpoints and policies: then only the
// endpoints that changed need their segment, placement and addresses
// checked, the addresses against m's index. It reports false when it
// cannot vouch (m has no index, something else changed, or a changed
// endpoint is wrong), and the whole-model check then runs and says what
// is wrong in its usual order.
func (n *Model) checkChangedEndpoints(m *Model) bool {
	if m.addrs == nil {
		return false
	}
	var names []string
	for ref := range n.touched {
		kind, name, _ := strings.Cut(ref, " ")
		switch kind {
		case KindPolicy:
		case KindEndpoint:
			if m.Endpoints[name] != n.Endpoints[name] {
				names = append(names, name)
			}
		default:
			return false
		}
	}
	if len(names) == 0 {
		n.addrs = m.addrs
		return true
	}
	x := m.addrs.layer()
	for _, name := range names {
		if old := m.Endpoints[name]; old != nil {
			x.release(old)
		}
	}
	for _, name := range names {
		e := n.Endpoints[name]
		if e == nil {
			continue
		}
		if _, ok := n.Segments[e.Segment]; !ok {
			return false
		}
		if e.Placed() {
			if _, msg := n.placement(e, e.Device, e.Port); msg != "" {
				return false
			}
		}
		if !x.claim(e) {
			return false
		}
	}
	n.addrs = x.settle()
	return true
}

// labelSets is the distinct label sets of each segment's endpoints: from
// the identity table, which holds one key per set, when it is current, or
// else from the endpoints themselves.
func (m *Model) labelSets() map[string][]map[string]string {
	out := map[string][]map[string]string{}
	if m.ids != nil {
		for k := range m.ids.refs {
			out[k.seg] = append(out[k.seg], parseLabelsKey(k.labels))
		}
		return out
	}
	seen := map[identKey]bool{}
	for _, e := range m.Endpoints {
		if k := endpointKey(e); !seen[k] {
			seen[k] = true
			out[e.Segment] = append(out[e.Segment], e.Labels)
		}
	}
	return out
}

// parseLabelsKey inverts labelsKey (label names and values never hold '='
// or NUL: the parser refuses them).
func parseLabelsKey(k string) map[string]string {
	l := map[string]string{}
	for kv := range strings.SplitSeq(k, "\x00") {
		if name, value, ok := strings.Cut(kv, "="); ok {
			l[name] = value
		}
	}
	return l
}

// labelsKey is a canonical string of a label set: sorted key=value pairs.
func labelsKey(l map[string]string) string {
	var b []byte
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b = append(b, k...)
		b = append(b, '=')
		b = append(b, l[k]...)
		b = append(b, 0)
	}
	return string(b)
}

// placement says why endpoint e cannot be on port dev/port of m, as the
// field at fault and a message; "" when it can.
func (m *Model) placement(e *Endpoint, dev string, port uint32) (field, msg string) {
	if _, ok := m.Devices[dev]; !ok {
		return "device", fmt.Sprintf("unknown device %q", dev)
	}
	p, ok := m.Ports[PortKey{dev, port}]
	switch {
	case !ok:
		return "port", fmt.Sprintf("device %s has no Port %d", dev, port)
	case p.Segment != e.Segment:
		return "segment", fmt.Sprintf("%s is on port %s/%d, which is in segment %s", e.Segment, dev, port, p.Segment)
	case p.Role == RoleUplink:
		return "port", fmt.Sprintf("port %s/%d is an uplink; endpoints attach to access ports", dev, port)
	}
	return "", ""
}
