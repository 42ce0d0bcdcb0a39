package policy

import "maps"

// addrIndex maps each (segment, MAC) and (segment, IP) of a valid model's
// endpoints to the endpoint that owns it, so that a change of a few
// endpoints is checked for clashes without visiting the rest. A model
// made by With from an indexed one gets a layer holding only what the
// change moved, over its base's index; past maxAddrDepth layers the index
// is flattened into one, so lookups stay short and the layers a model
// keeps alive are bounded.
type addrIndex struct {
	parent *addrIndex
	depth  int
	// A nil owner in a layer means the address was released there.
	macs map[segMAC]*Endpoint
	ips  map[segAddr]*Endpoint
}

const maxAddrDepth = 32

func newAddrIndex(macs map[segMAC]*Endpoint, ips map[segAddr]*Endpoint) *addrIndex {
	return &addrIndex{macs: macs, ips: ips}
}

// layer starts an empty layer over x.
func (x *addrIndex) layer() *addrIndex {
	return &addrIndex{parent: x, depth: x.depth + 1, macs: map[segMAC]*Endpoint{}, ips: map[segAddr]*Endpoint{}}
}

func (x *addrIndex) macOwner(k segMAC) *Endpoint {
	for l := x; l != nil; l = l.parent {
		if e, ok := l.macs[k]; ok {
			return e
		}
	}
	return nil
}

func (x *addrIndex) ipOwner(k segAddr) *Endpoint {
	for l := x; l != nil; l = l.parent {
		if e, ok := l.ips[k]; ok {
			return e
		}
	}
	return nil
}

// release marks e's addresses free in layer x.
func (x *addrIndex) release(e *Endpoint) {
	x.macs[segMAC{e.Segment, string(e.MAC)}] = nil
	for _, ip := range e.IPs {
		x.ips[segAddr{e.Segment, ip}] = nil
	}
}

// claim gives e its addresses in layer x, and reports whether all were
// free.
func (x *addrIndex) claim(e *Endpoint) bool {
	k := segMAC{e.Segment, string(e.MAC)}
	if x.macOwner(k) != nil {
		return false
	}
	x.macs[k] = e
	for _, ip := range e.IPs {
		k := segAddr{e.Segment, ip}
		if x.ipOwner(k) != nil {
			return false
		}
		x.ips[k] = e
	}
	return true
}

// settle returns x, flattened into a single layer if it is too deep.
func (x *addrIndex) settle() *addrIndex {
	if x.depth <= maxAddrDepth {
		return x
	}
	return x.flatten()
}

// flatten returns x as a single layer.
func (x *addrIndex) flatten() *addrIndex {
	var layers []*addrIndex
	for l := x; l != nil; l = l.parent {
		layers = append(layers, l)
	}
	root := layers[len(layers)-1]
	flat := newAddrIndex(maps.Clone(root.macs), maps.Clone(root.ips))
	for i := len(layers) - 2; i >= 0; i-- {
		for k, e := range layers[i].macs {
			if e == nil {
				delete(flat.macs, k)
			} else {
				flat.macs[k] = e
			}
		}
		for k, e := range layers[i].ips {
			if e == nil {
				delete(flat.ips, k)
			} else {
				flat.ips[k] = e
			}
		}
	}
	return flat
}
