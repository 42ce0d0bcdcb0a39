package policy

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Marshal writes objects as YAML documents that Parse reads back to the
// same objects (sources aside). Output is canonical: fields in a fixed
// order, labels sorted, selectors in their canonical form.
func Marshal(objs []Object) []byte {
	var b strings.Builder
	for i, o := range objs {
		if i > 0 {
			b.WriteString("---\n")
		}
		writeObject(&b, o)
	}
	return []byte(b.String())
}

// Objects returns the model's objects in a stable order: devices,
// segments, ports, endpoints, policies, each sorted by name.
func (m *Model) Objects() []Object {
	var out []Object
	for _, k := range slices.Sorted(maps.Keys(m.Devices)) {
		out = append(out, m.Devices[k])
	}
	for _, k := range slices.Sorted(maps.Keys(m.Segments)) {
		out = append(out, m.Segments[k])
	}
	for _, k := range slices.SortedFunc(maps.Keys(m.Ports), comparePortKeys) {
		out = append(out, m.Ports[k])
	}
	for _, k := range slices.Sorted(maps.Keys(m.Endpoints)) {
		out = append(out, m.Endpoints[k])
	}
	for _, k := range slices.Sorted(maps.Keys(m.Policies)) {
		out = append(out, m.Policies[k])
	}
	return out
}

// q quotes a string for YAML (double-quoted, Go escapes are a subset of
// YAML's for the characters names and labels allow).
func q(s string) string { return strconv.Quote(s) }

func writeObject(b *strings.Builder, o Object) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	switch x := o.(type) {
	case *Device:
		w("kind: Device\nname: %s\naddress: %s\ndevice_id: %d\ntarget: %s\n", q(x.Name), q(x.Address), x.DeviceID, q(x.Target))
		if x.GNMI != "" {
			w("gnmi: %s\n", q(x.GNMI))
		}
	case *Segment:
		def := "deny"
		if x.DefaultAllow {
			def = "allow"
		}
		w("kind: Segment\nname: %s\nid: %d\ndefault: %s\n", q(x.Name), x.ID, def)
	case *Port:
		w("kind: Port\ndevice: %s\nport: %d\nsegment: %s\nrole: %s\n", q(x.Device), x.Port, q(x.Segment), x.Role)
		if x.Role == RoleCommunity {
			w("community: %d\n", x.Community)
		}
		w("punt_arp: %t\n", x.PuntARP)
	case *Endpoint:
		w("kind: Endpoint\nname: %s\nsegment: %s\nmac: %s\n", q(x.Name), q(x.Segment), q(x.MAC.String()))
		if len(x.IPs) > 0 {
			ips := make([]string, len(x.IPs))
			for i, ip := range x.IPs {
				ips[i] = q(ip.String())
			}
			w("ips: [%s]\n", strings.Join(ips, ", "))
		}
		if x.Host != "" {
			w("host: %s\n", q(x.Host))
		} else {
			w("device: %s\nport: %d\n", q(x.Device), x.Port)
		}
		if len(x.Labels) > 0 {
			w("labels:\n")
			for _, k := range slices.Sorted(maps.Keys(x.Labels)) {
				w("  %s: %s\n", q(k), q(x.Labels[k]))
			}
		}
	case *Policy:
		w("kind: Policy\nname: %s\nsegment: %s\npriority: %d\n", q(x.Name), q(x.Segment), x.Priority)
		if x.Staged {
			w("mode: staged\n")
		}
		if x.FromCIDRs != nil {
			w("from_cidrs: [%s]\n", prefixes(x.FromCIDRs))
		} else {
			w("from: %s\n", q(selectorText(x.From)))
		}
		if x.ToCIDRs != nil {
			w("to_cidrs: [%s]\n", prefixes(x.ToCIDRs))
		} else {
			w("to: %s\n", q(selectorText(x.To)))
		}
		w("rules:\n")
		for _, r := range x.Rules {
			w("  - proto: %s\n", ProtoName(r.Proto))
			if len(r.Ports) > 0 {
				ps := make([]string, len(r.Ports))
				for i, p := range r.Ports {
					if p.Lo == p.Hi {
						ps[i] = strconv.Itoa(int(p.Lo))
					} else {
						ps[i] = q(fmt.Sprintf("%d-%d", p.Lo, p.Hi))
					}
				}
				w("    ports: [%s]\n", strings.Join(ps, ", "))
			}
			w("    action: %s\n", r.Action)
		}
	}
}

func selectorText(s Selector) string {
	if len(s) == 0 {
		return ""
	}
	return s.String()
}

func prefixes(ps []netip.Prefix) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = q(p.String())
	}
	return strings.Join(out, ", ")
}
