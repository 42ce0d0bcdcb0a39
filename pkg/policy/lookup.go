package policy

import (
	"maps"
	"net/netip"
	"slices"
)

// Lookups of the compiled model by the values the data plane reports
// (identity and segment ids, addresses), for the controller to name what
// a switch tells it about.

// IdentityOf is what identity id stands for in the compiled model: its
// segment and labels, and the endpoints that have it.
func (c *Compiler) IdentityOf(id uint32) (segment string, labels map[string]string, endpoints []string, ok bool) {
	ident := c.byID[id]
	if ident == nil {
		return "", nil, nil, false
	}
	return ident.key.seg, maps.Clone(ident.labels), slices.Sorted(maps.Keys(ident.members)), true
}

// SegmentByID is the name of the segment with id seg.
func (c *Compiler) SegmentByID(seg uint16) (string, bool) {
	s, ok := c.segByID[uint32(seg)]
	if !ok {
		return "", false
	}
	return s.Name, true
}

// EndpointAt is the endpoint of the segment with id seg that owns addr.
func (c *Compiler) EndpointAt(seg uint16, addr netip.Addr) (string, bool) {
	name, ok := c.SegmentByID(seg)
	if !ok {
		return "", false
	}
	for _, e := range c.model.Endpoints {
		if e.Segment == name && slices.Contains(e.IPs, addr) {
			return e.Name, true
		}
	}
	return "", false
}
