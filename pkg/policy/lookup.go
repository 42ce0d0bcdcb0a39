package policy

import (
	"bytes"
	"fmt"
	"maps"
	"net"
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

// Classify is what device dev's ingress stages give a frame from port
// before its verdict, by the compiled model, for a switch that reports a
// denied frame without them (PNA on DPDK sends the frame itself): the
// port's segment; the identity of the source, the endpoint on that port
// with srcMAC (unless nil) and src (0 when none, which anti-spoofing would
// have dropped); and the destination's, 0 unless the device holds the
// destination's identity rows, as the switch's lookup gives it (reach.go).
// An error says the model has no such port.
func (c *Compiler) Classify(dev string, port uint32, srcMAC net.HardwareAddr, src, dst netip.Addr) (seg uint16, srcID, dstID uint32, err error) {
	p := c.model.Ports[PortKey{dev, port}]
	if p == nil {
		return 0, 0, 0, fmt.Errorf("port %d of %s is in no segment of the model", port, dev)
	}
	s := c.model.Segments[p.Segment]
	if s == nil {
		return 0, 0, 0, fmt.Errorf("port %d of %s: segment %s is not in the model", port, dev, p.Segment)
	}
	if e := c.ownerAt(p.Segment, src); e != nil && e.Device == dev && e.Port == port && (srcMAC == nil || bytes.Equal(e.MAC, srcMAC)) {
		if id := c.epIdent[e.Name]; id != nil {
			srcID = id.id
		}
	}
	if e := c.ownerAt(p.Segment, dst); e != nil {
		if id := c.epIdent[e.Name]; id != nil && c.reach[id.id][c.devIdx[dev]] > 0 {
			dstID = id.id
		}
	}
	return s.ID, srcID, dstID, nil
}

// ownerAt is the endpoint of segment seg that has addr, if one does.
func (c *Compiler) ownerAt(seg string, addr netip.Addr) *Endpoint {
	if x := c.model.addrs; x != nil {
		// The index may hold the endpoint as written, before placement:
		// the model's own has its device and port.
		if e := x.ipOwner(segAddr{seg, addr}); e != nil {
			return c.model.Endpoints[e.Name]
		}
		return nil
	}
	for _, e := range c.model.Endpoints {
		if e.Segment == seg && slices.Contains(e.IPs, addr) {
			return e
		}
	}
	return nil
}
