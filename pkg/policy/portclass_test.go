package policy

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// refAtoms is the atoms of a set of ranges, from their definition: the
// maximal runs of ports that lie in the same non-empty set of ranges.
func refAtoms(ranges map[PortRange]int) []atom {
	rs := slices.Collect(func(yield func(PortRange) bool) {
		for r := range ranges {
			if !yield(r) {
				return
			}
		}
	})
	sig := func(x int) uint64 { // bit i: x is in rs[i]
		var s uint64
		for i, r := range rs {
			if x >= int(r.Lo) && x <= int(r.Hi) {
				s |= 1 << i
			}
		}
		return s
	}
	var out []atom
	start, cur := 0, sig(0)
	for x := 1; x <= 65536; x++ {
		var s uint64 = 1 << 63 // past the end: differs from every run
		if x <= 65535 {
			s = sig(x)
		}
		if s != cur {
			if cur != 0 {
				out = append(out, atom{uint16(start), uint16(x - 1)})
			}
			start, cur = x, s
		}
	}
	return out
}

// TestPartitionAgainstDefinition: after random additions and removals of
// ranges (overlapping, nested, sharing ends, touching 0 and 65535), the
// atoms and each range's atoms are those of the definition.
func TestPartitionAgainstDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 5))
	ends := []uint16{0, 1, 9, 10, 11, 100, 1000, 8080, 65534, 65535}
	for round := range 30 {
		p := newPartition()
		live := map[PortRange]int{}
		for step := range 25 {
			lo, hi := ends[r.IntN(len(ends))], ends[r.IntN(len(ends))]
			if lo >= hi {
				continue
			}
			pr := PortRange{lo, hi}
			if live[pr] > 0 && r.IntN(2) == 0 {
				p.remove(pr)
				if live[pr]--; live[pr] == 0 {
					delete(live, pr)
				}
			} else {
				p.add(pr)
				live[pr]++
			}
			want := refAtoms(live)
			if got := p.atoms(); !slices.Equal(got, want) {
				t.Fatalf("round %d step %d: atoms %v, want %v (ranges %v)", round, step, got, want, live)
			}
			for rr := range live {
				var got, in []uint16
				p.atomsIn(rr, func(id uint16) { got = append(got, id) })
				for _, a := range want {
					if a.lo >= rr.Lo && a.hi <= rr.Hi {
						in = append(in, a.lo)
					}
				}
				if !slices.Equal(got, in) {
					t.Fatalf("round %d step %d: atoms of %v: %v, want %v", round, step, rr, got, in)
				}
			}
		}
	}
}
