package policy

import (
	"cmp"
	"math"
	"slices"
)

// A policy changed in place: when its new version selects the same
// identities and cuts its segment's port classes the same way (the common
// edit: a port added to a rule, a rule added, an action or priority
// changed), only the row productions that differ between the two versions
// are added and dropped, pair by pair, instead of every row of the old
// version being dropped and every row of the new one added. Rows that
// stay are not touched, so the journal, the delta and the devices see
// only what changed.

// Sentinel identities standing for the pair's source and destination
// while a version's rows are listed once for every pair.
const (
	pairFrom uint32 = math.MaxUint32
	pairTo   uint32 = math.MaxUint32 - 1
)

// production is one row a policy produces for a pair, with its value.
type production struct {
	k rowKey
	v rowVal
}

// updatableInPlace reports whether identity policy a can become b by
// updatePolicy: both enforced identity policies of the same segment with
// the same selectors, so that their pairs are the same identities, and
// the same port ranges, so that the port classes do not move.
func updatableInPlace(a, b *Policy) bool {
	if a.acl() || b.acl() || a.Staged || b.Staged || a.Name != b.Name || a.Segment != b.Segment {
		return false
	}
	if a.From.String() != b.From.String() || a.To.String() != b.To.String() {
		return false
	}
	return slices.Equal(rangeItems(a), rangeItems(b))
}

type rangeItem struct {
	k partKey
	r PortRange
}

// rangeItems are the port ranges p brings into its segment's port
// classes, sorted.
func rangeItems(p *Policy) []rangeItem {
	var out []rangeItem
	policyRanges(p, 0, func(k partKey, r PortRange) { out = append(out, rangeItem{k, r}) })
	slices.SortFunc(out, func(x, y rangeItem) int {
		return cmp.Or(cmp.Compare(x.k.dir, y.k.dir), cmp.Compare(x.k.proto, y.k.proto),
			cmp.Compare(x.r.Lo, y.r.Lo), cmp.Compare(x.r.Hi, y.r.Hi))
	})
	return out
}

// updatePolicy moves the rows of identity policy a, compiled now, to
// those of b, which updatableInPlace allows: the productions b has and a
// has not are added for every pair, then those a has and b has not are
// dropped (adding first keeps a pair's destination-identity rows from
// being dropped and added again).
func (c *Compiler) updatePolicy(a, b *Policy) {
	ps := c.pols[a.Name]
	diff := map[production]int{}
	c.pairRows(a, pairFrom, pairTo, func(k rowKey, v rowVal) { diff[production{k, v}]++ })
	c.pairRows(b, pairFrom, pairTo, func(k rowKey, v rowVal) { diff[production{k, v}]-- })
	var add, drop []production
	for pr, n := range diff {
		for ; n < 0; n++ {
			add = append(add, pr)
		}
		for ; n > 0; n-- {
			drop = append(drop, pr)
		}
	}
	ps.p = b
	if len(add) == 0 && len(drop) == 0 {
		return
	}
	for f := range ps.from {
		for t := range ps.to {
			for _, pr := range add {
				if c.overflow != nil {
					return
				}
				c.addRow(pr.k.forPair(f, t), pr.v, b.Name)
			}
		}
	}
	for f := range ps.from {
		for t := range ps.to {
			for _, pr := range drop {
				c.dropRow(pr.k.forPair(f, t), pr.v, a.Name)
			}
		}
	}
}

// forPair is policy row k, listed for the sentinel pair, for the pair of
// identities (f, t).
func (k rowKey) forPair(f, t uint32) rowKey {
	sub := func(n uint32) uint32 {
		switch n {
		case pairFrom:
			return f
		case pairTo:
			return t
		}
		return n
	}
	k.n1, k.n2 = sub(k.n1), sub(k.n2)
	return k
}
