package policy

import (
	"fmt"
	"maps"
	"slices"
)

// Locate finds where a host is seen: a device and its P4 port.
type Locate func(host string) (device string, port uint32, ok bool)

// Binder places endpoints that name a host where the host is seen. It
// keeps the placed copies it made, so that binding successive models
// shares the endpoints that did not move and the compiler sees only the
// ones that did. A Binder is not safe for concurrent use.
type Binder struct {
	copies map[*Endpoint]*Endpoint // model's endpoint -> its placed copy
}

// Bind returns m with every endpoint that names a host placed where
// locate sees that host and with the links between devices the topology
// sees (the fabric: fabric.go), and the endpoints it could not place, each
// with the reason. An endpoint whose host is not seen, or is seen on a port it
// cannot use (another segment's, an uplink, one the model does not
// declare), stays unplaced and is compiled nowhere. m is not changed; when
// no endpoint names a host and there are no links, the result is m itself.
// The result shares m's address index: placing an endpoint changes
// neither its segment nor its addresses, and lookups through the index
// take the endpoint by name from the model that holds it.
func (b *Binder) Bind(m *Model, locate Locate, links []Link) (*Model, []string) {
	if b.copies == nil {
		b.copies = map[*Endpoint]*Endpoint{}
	}
	var n *Model
	var unplaced []string
	keep := map[*Endpoint]bool{}
	// Sort only the endpoints that name a host (for stable messages):
	// Bind runs on every change and every trial, and most endpoints sit on
	// a fixed port.
	var hosted []string
	for name, e := range m.Endpoints {
		if e.Host != "" {
			hosted = append(hosted, name)
		}
	}
	slices.Sort(hosted)
	for _, name := range hosted {
		e := m.Endpoints[name]
		dev, port, ok := locate(e.Host)
		if ok {
			if _, msg := m.placement(e, dev, port); msg != "" {
				unplaced = append(unplaced, fmt.Sprintf("endpoint %s: host %s is seen on %s/%d: %s", name, e.Host, dev, port, msg))
				ok = false
			}
		} else {
			unplaced = append(unplaced, fmt.Sprintf("endpoint %s: host %s is not seen on any device port", name, e.Host))
		}
		if !ok {
			continue // as in m: unplaced
		}
		c := b.copies[e]
		if c == nil || c.Device != dev || c.Port != port {
			placed := *e
			placed.Device, placed.Port = dev, port
			c = &placed
			b.copies[e] = c
		}
		keep[e] = true
		if n == nil {
			n = &Model{Devices: m.Devices, Segments: m.Segments, Ports: m.Ports, Endpoints: maps.Clone(m.Endpoints),
				Policies: m.Policies, ids: m.ids, addrs: m.addrs}
		}
		n.Endpoints[name] = c
	}
	maps.DeleteFunc(b.copies, func(e, _ *Endpoint) bool { return !keep[e] })
	links = NormalizeLinks(links)
	if n == nil && len(links) == 0 {
		return m, unplaced
	}
	if n == nil {
		n = &Model{Devices: m.Devices, Segments: m.Segments, Ports: m.Ports, Endpoints: m.Endpoints, Policies: m.Policies, ids: m.ids,
			addrs: m.addrs}
	}
	n.Links = links
	return n, unplaced
}
