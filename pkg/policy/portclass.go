package policy

import (
	"slices"
)

// Port classes. A rule's single ports are matched exactly by the policy
// tables; a rule's port range is matched through a class. The ranges that
// the rules of a segment name for one protocol (and one direction:
// destination ports for every rule, source ports for the replies of allow
// rules) cut the port space into atoms: maximal runs of ports that every
// such range holds whole or not at all. Each atom covered by some range is
// one entry of a port class table (segment, protocol, port range -> class),
// and a range rule has one exact policy entry per atom it covers.
//
// An atom's class id is its first port. Adding a range splits at most two
// atoms and removing one merges at most two; the part of a split atom
// below the cut keeps its id, so only the rules covering the new part get
// entries, and a full compile gives the same ids as any sequence of
// incremental changes.

// portDir says which L4 port a partition classifies.
type portDir uint8

const (
	dirDst portDir = iota // destination port: forward rows
	dirSrc                // source port: reply rows
)

// partKey names one partition.
type partKey struct {
	seg   uint32
	dir   portDir
	proto uint8
}

// partition is the atoms of one (segment, direction, protocol).
type partition struct {
	ranges map[PortRange]int // distinct ranges (Lo < Hi) -> uses
	bounds map[uint32]int    // atom starts (0-65536) -> distinct ranges that put them there
	sorted []uint32          // the keys of bounds, ascending
	// version counts changes to the set of distinct ranges: the atoms
	// change only with it.
	version int
}

func newPartition() *partition {
	return &partition{ranges: map[PortRange]int{}, bounds: map[uint32]int{}}
}

// add records one use of r and returns the boundaries it created. A
// range already in use changes nothing.
func (p *partition) add(r PortRange) []uint32 {
	p.ranges[r]++
	if p.ranges[r] > 1 {
		return nil
	}
	p.version++
	var created []uint32
	for _, b := range []uint32{uint32(r.Lo), uint32(r.Hi) + 1} {
		p.bounds[b]++
		if p.bounds[b] == 1 {
			i, _ := slices.BinarySearch(p.sorted, b)
			p.sorted = slices.Insert(p.sorted, i, b)
			created = append(created, b)
		}
	}
	return created
}

// remove drops one use of r and returns the boundaries that went with it.
func (p *partition) remove(r PortRange) []uint32 {
	p.ranges[r]--
	if p.ranges[r] > 0 {
		return nil
	}
	delete(p.ranges, r)
	p.version++
	var gone []uint32
	for _, b := range []uint32{uint32(r.Lo), uint32(r.Hi) + 1} {
		p.bounds[b]--
		if p.bounds[b] == 0 {
			delete(p.bounds, b)
			i, _ := slices.BinarySearch(p.sorted, b)
			p.sorted = slices.Delete(p.sorted, i, i+1)
			gone = append(gone, b)
		}
	}
	return gone
}

// atomsIn calls fn with the class id of every atom range r covers. r must
// be one of the partition's ranges.
func (p *partition) atomsIn(r PortRange, fn func(id uint16)) {
	i, _ := slices.BinarySearch(p.sorted, uint32(r.Lo))
	for ; i < len(p.sorted) && p.sorted[i] <= uint32(r.Hi); i++ {
		fn(uint16(p.sorted[i]))
	}
}

// countIn is how many atoms r covers, in the partition as it would be with
// r added.
func (p *partition) countIn(r PortRange) int {
	lo, _ := slices.BinarySearch(p.sorted, uint32(r.Lo))
	hi, _ := slices.BinarySearch(p.sorted, uint32(r.Hi)+1)
	n := hi - lo
	if lo >= len(p.sorted) || p.sorted[lo] != uint32(r.Lo) {
		n++ // r.Lo becomes a boundary
	}
	return n
}

// atom is one covered atom: the ports [lo, hi], class id lo.
type atom struct{ lo, hi uint16 }

// atoms lists the covered atoms in port order: coverage is counted with a
// sweep over the boundaries, each range adding one at its start and
// taking one away after its end.
func (p *partition) atoms() []atom {
	delta := make([]int, len(p.sorted))
	for r := range p.ranges {
		i, _ := slices.BinarySearch(p.sorted, uint32(r.Lo))
		j, _ := slices.BinarySearch(p.sorted, uint32(r.Hi)+1)
		delta[i]++
		delta[j]--
	}
	var out []atom
	cover := 0
	for i, b := range p.sorted {
		cover += delta[i]
		if cover > 0 && b <= 65535 {
			// Every range ends at a boundary, so a covered atom has a
			// next one.
			out = append(out, atom{uint16(b), uint16(p.sorted[i+1] - 1)})
		}
	}
	return out
}

// cuts reports which of the boundaries bs fall strictly inside r, where
// they split (or, removed, merged) one of r's atoms.
func cuts(bs []uint32, r PortRange) []uint16 {
	var out []uint16
	for _, b := range bs {
		if b > uint32(r.Lo) && b <= uint32(r.Hi) {
			out = append(out, uint16(b))
		}
	}
	return out
}
