package policy

import (
	"bytes"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Lookup is the object ref names: "Endpoint web-1", "Port leaf1/3".
func (m *Model) Lookup(ref string) (Object, bool) {
	kind, name, _ := strings.Cut(ref, " ")
	var o Object
	switch kind {
	case KindDevice:
		if v, ok := m.Devices[name]; ok {
			o = v
		}
	case KindSegment:
		if v, ok := m.Segments[name]; ok {
			o = v
		}
	case KindPort:
		dev, num, _ := strings.Cut(name, "/")
		if n, err := strconv.ParseUint(num, 10, 32); err == nil {
			if v, ok := m.Ports[PortKey{dev, uint32(n)}]; ok {
				o = v
			}
		}
	case KindEndpoint:
		if v, ok := m.Endpoints[name]; ok {
			o = v
		}
	case KindPolicy:
		if v, ok := m.Policies[name]; ok {
			o = v
		}
	}
	return o, o != nil
}

// Change is what a step between two models did to one object: Before
// and After are nil where it is absent (added, removed).
type Change struct {
	Ref           string
	Before, After Object
}

// Changes lists the objects that differ between a and b, sorted by ref:
// from b's own record when b was made from a by With, else by comparing
// every object (by their documents). An object replaced by an equal one
// is left out.
func Changes(a, b *Model) []Change {
	var refs []string
	if b.base.Value() == a && b.touched != nil {
		refs = slices.Collect(maps.Keys(b.touched))
	} else {
		seen := map[string]bool{}
		for _, m := range []*Model{a, b} {
			for _, o := range m.Objects() {
				seen[o.Ref()] = true
			}
		}
		refs = slices.Collect(maps.Keys(seen))
	}
	slices.Sort(refs)
	var out []Change
	for _, ref := range refs {
		x, inA := a.Lookup(ref)
		y, inB := b.Lookup(ref)
		switch {
		case !inA && !inB:
			continue
		case inA && inB && (x == y || bytes.Equal(Marshal([]Object{x}), Marshal([]Object{y}))):
			continue
		}
		c := Change{Ref: ref}
		if inA {
			c.Before = x
		}
		if inB {
			c.After = y
		}
		out = append(out, c)
	}
	return out
}

// DeletionOf is the Deletion that removes the object ref names.
func DeletionOf(ref string) Deletion {
	kind, name, _ := strings.Cut(ref, " ")
	return Deletion{Kind: kind, Name: name}
}
