package policy

import (
	"slices"
	"weak"
)

// The counter log. A device's counter index (counters.go) is brought up
// to date with a new model from those of the device's policy rows (the
// only counted ones) that changed, rather than built again: the compiler
// keeps what its recent updates did to the policy rows, and
// PrepareCounterIndex picks out of it the rows of one device that changed
// since the model of the index it is given.

// counterLog is what the recent updates did to the policy rows, oldest
// first. Each record starts at the model the one before ends at, and the
// last ends at the compiler's model. A full recompile (a segment, device
// or fabric change) makes a new compiler, whose log is empty, and so does
// an update that overflows. Records are never written once appended, and
// recs is never written below its length: a trial update's revert puts
// back the log as it was, which shares them.
type counterLog struct {
	recs []*rowChanges
	keys int // row keys held by recs
}

// rowChanges is what one update, from model from to model to, did to the
// policy rows. The models are held weakly: the log must not keep the
// models it records (0.7 MB each at 10k endpoints; TestModelsDoNotChain),
// and whoever holds an index of a model, to bring it up to date, holds
// the model.
type rowChanges struct {
	from, to weak.Pointer[Model]
	// rows are the policy rows that came or went, or whose attribution
	// changed (the rules that give them their verdict: a policy's rules
	// renumbered, a producer of equal rank added, whatever the row's
	// value did), by the identity whose devices hold them (their place,
	// onIdentity).
	rows map[uint32][]policyKey
	// moved are, by device, the identities whose rows came onto the
	// device or left it.
	moved map[uint32][]uint32
	keys  int // len of every rows list, summed
}

// Bounds of the log: of the last records it keeps as many as hold at
// most counterLogMinKeys row keys or an eighth of the policy rows,
// whichever is more, and at most counterLogMaxRecords. An index older
// than the log reaches is built again in full.
const (
	counterLogMinKeys    = 1 << 14
	counterLogMaxRecords = 1024
)

// record appends what the update from a to b did to the policy rows, from
// the update's journal (c.j), and drops the oldest records past the
// bounds (every record, the new one too, when it alone is past them). Of
// the rows whose producers changed, it keeps those that came, went or
// changed attribution: a policy given one more port keeps the rows of
// its other ports.
func (l *counterLog) record(c *Compiler, a, b *Model) {
	rc := &rowChanges{from: weak.Make(a), to: weak.Make(b), rows: map[uint32][]policyKey{}, moved: map[uint32][]uint32{}}
	var before, after []RuleRef
	atA, atB := newAttributor(a), newAttributor(b)
	for k, pc := range c.j.producers {
		if pc.had == pc.has {
			if !pc.has {
				continue
			}
			before, after = atA.attribute(&k, &pc.before, before[:0]), atB.attribute(&k, &pc.after, after[:0])
			if slices.Equal(before, after) {
				continue
			}
		}
		rc.rows[k.n1] = append(rc.rows[k.n1], k)
		rc.keys++
	}
	rc.renumbered(c, a, b)
	for dp, was := range c.j.places {
		if dp.pl.kind == onIdentity && was != c.placeOn(dp.dev, dp.pl) {
			rc.moved[dp.dev] = append(rc.moved[dp.dev], dp.pl.n)
		}
	}
	recs, keys := append(l.recs, rc), l.keys+rc.keys
	limit := counterLogMinKeys
	if keys > limit {
		limit = max(limit, c.policyRows()/8)
	}
	drop := 0
	for drop < len(recs) && (keys > limit || len(recs)-drop > counterLogMaxRecords) {
		keys -= recs[drop].keys
		drop++
	}
	if drop > 0 {
		// A new array: the old one may be a saved log's.
		recs = append([]*rowChanges(nil), recs[drop:]...)
	}
	l.recs, l.keys = recs, keys
}

// renumbered adds to rc the rows whose rules a policy edited in place
// renumbered. Such a policy (policyupdate.go) keeps untouched the rows
// its two versions share, but the rule that makes one may have another
// index now (a rule added in front, the rules reordered): the rows of
// each production whose rule changed are added, for every pair of the
// policy. Rows whose producers changed are in rc already.
func (rc *rowChanges) renumbered(c *Compiler, a, b *Model) {
	for _, name := range diffModels(a, b).policies {
		pa, pb, ps := a.Policies[name], b.Policies[name], c.pols[name]
		if pa == nil || pb == nil || ps == nil || pa.acl() || pb.acl() || pa.Staged || pb.Staged {
			continue
		}
		// The productions, listed once for the sentinel pair.
		changed := map[rowKey]bool{}
		c.pairRows(pb, pairFrom, pairTo, func(k rowKey, v rowVal) {
			pk := policyKeyOf(&k)
			if was := ruleOf(pa, &pk, v); was >= 0 && was != ruleOf(pb, &pk, v) {
				changed[k] = true
			}
		})
		if len(changed) == 0 {
			continue
		}
		for f := range ps.from {
			for t := range ps.to {
				for k := range changed {
					k := k.forPair(f, t)
					pk := policyKeyOf(&k)
					if _, noted := c.j.producers[pk]; !noted {
						rc.rows[k.n1] = append(rc.rows[k.n1], pk)
						rc.keys++
					}
				}
			}
		}
	}
}

// policyRows is how many policy rows the compiler holds.
func (c *Compiler) policyRows() int {
	n := 0
	for pl, cnt := range c.counts {
		if pl.kind != onIdentity {
			continue
		}
		for t := tPolPair; t <= tRepRange; t++ {
			n += cnt[t]
		}
	}
	return n
}

// changedSince returns the policy rows that may differ on device dev
// between model a and the compiler's model: by the records from a on,
// the rows a production of which was added or dropped, of the identities
// on the device now or that came onto it or left it since, and every row
// of the identities that came or left. ok is false when the log does not
// reach back to a. Rows are a function of the model (identities keep the
// ids the model gives them), so when the compiler was at a more than
// once, the last time serves.
func (l *counterLog) changedSince(c *Compiler, a *Model, dev uint32) (rows map[policyKey]struct{}, ok bool) {
	if len(l.recs) == 0 || l.recs[len(l.recs)-1].to != weak.Make(c.model) {
		return nil, false
	}
	from := weak.Make(a)
	start := -1
	for i := len(l.recs) - 1; i >= 0; i-- {
		if l.recs[i].from == from {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, false
	}
	recs := l.recs[start:]
	moved := map[uint32]bool{}
	for _, rc := range recs {
		for _, id := range rc.moved[dev] {
			moved[id] = true
		}
	}
	rows = map[policyKey]struct{}{}
	for _, rc := range recs {
		for id, ks := range rc.rows {
			if !moved[id] && c.identOn[dev][id] == 0 {
				continue // rows of an identity the device never held since a
			}
			for _, k := range ks {
				rows[k] = struct{}{}
			}
		}
	}
	for id := range moved {
		for k := range c.rows[place{onIdentity, id}].all() {
			rows[policyKeyOf(&k)] = struct{}{}
		}
	}
	return rows, true
}
