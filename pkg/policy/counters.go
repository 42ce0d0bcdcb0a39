package policy

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Hit counters: the policy tables' direct counters count the packets that
// hit each entry; a CounterIndex says which policy rules each of a
// device's entries stands for, so that what a device reports per entry
// can be summed per rule and per policy.

// RuleRef names one rule: a policy and the rule's index in its rules.
type RuleRef struct {
	Policy string `json:"policy"`
	Rule   int    `json:"rule"`
}

// Attribution is what one or more entries stand for: their table and the
// rules that give them their verdict (more than one where rules of equal
// rank, of one policy or several, compile to the same entry; each counts
// the entry's hits).
type Attribution struct {
	Table string
	Rules []RuleRef
}

// CounterIndex maps the entries of one device's tables with direct
// counters to their attributions, by the entries' keys (the encoding of
// pipeline.EntryKey). It keeps a 64-bit hash of each key rather than the
// key (about 30 bytes per entry less at a million entries); two of the
// device's own keys that share a hash are told apart by a fallback map,
// and a key the device reports that is not the model's and shares a hash
// with one that is would be counted as it (odds of about 1e-8 at a
// million entries). An index is immutable and safe for concurrent use.
type CounterIndex struct {
	// Tables are the P4 ids of the device's tables with direct counters.
	Tables []uint32
	// Attrs are the distinct attributions; Entry returns an index into it.
	Attrs []Attribution

	seed    maphash.Seed
	slot    map[uint64]uint32 // key hash -> entry number
	clashed map[string]uint32 // keys whose hash another key has too
	hashes  []uint64          // entry number -> key hash
	attr    []uint32          // entry number -> attribution
}

// Len is how many entries the index holds.
func (x *CounterIndex) Len() int { return len(x.attr) }

// Entry finds the entry with key (an EntryKey encoding): its number, in
// 0..Len()-1, and its attribution.
func (x *CounterIndex) Entry(key []byte) (entry int, attr int, ok bool) {
	h := maphash.Bytes(x.seed, key)
	if x.clashed != nil {
		if n, found := x.clashed[string(key)]; found {
			return int(n), int(x.attr[n]), true
		}
	}
	n, found := x.slot[h]
	if !found {
		return 0, 0, false
	}
	return int(n), int(x.attr[n]), true
}

// Carry maps entry numbers of an older index of the same device to this
// one's: fn is called with each entry the two share.
func (x *CounterIndex) Carry(old *CounterIndex, fn func(oldEntry, newEntry int)) {
	if old == nil {
		return
	}
	if old.seed != x.seed {
		return // built apart: no shared hashes (never from CounterIndex)
	}
	for i, h := range old.hashes {
		if n, ok := x.slot[h]; ok && x.hashes[n] == h {
			fn(i, int(n))
		}
	}
}

// indexSeed is shared by every index, so that Carry can match hashes
// across rebuilds.
var indexSeed = maphash.MakeSeed()

// CounterIndex builds the index of device dev's entries in tables with
// direct counters (the identity-pair policy tables of the pipelines
// here). It costs about what compiling those entries does; callers
// rebuild it when the model changes, not per read.
func (c *Compiler) CounterIndex(dev string) (*CounterIndex, error) {
	in, err := c.info(c.model, dev)
	if err != nil {
		return nil, err
	}
	di, ok := c.devIdx[dev]
	if !ok {
		return nil, fmt.Errorf("device %s: not in the model", dev)
	}
	x := &CounterIndex{seed: indexSeed, slot: map[uint64]uint32{}}
	counted := map[table]bool{}
	for t := tPolPair; t <= tRepRange; t++ {
		if tb, ok := in.Table(tableNames[t]); ok && tb.DirectCounterID != 0 {
			counted[t] = true
			x.Tables = append(x.Tables, tb.ID)
		}
	}
	if len(counted) == 0 {
		return x, nil
	}
	// Rows by the (policy, pair) whose rules decide them, so that each
	// policy's rules are expanded once per pair to find the rule of each
	// row.
	type group struct {
		pol  string
		f, t uint32
	}
	type member struct {
		k rowKey
		v rowVal
	}
	groups := map[group][]member{}
	var alone []member // rows no policy decides (cannot happen; kept unattributed)
	n := 0
	c.deviceRows(di, func(k rowKey, r row) {
		if !counted[k.t] {
			return
		}
		n++
		f, t := k.n1, k.n2
		if k.t == tRepProto || k.t == tRepPort || k.t == tRepRange {
			f, t = k.n2, k.n1 // a reply row is keyed from the server
		}
		any := false
		for i, ref := range r.refs() {
			if ref == "" || !r.deciding(i) || strings.HasPrefix(ref, KindSegment+" ") {
				continue
			}
			g := group{ref, f, t}
			groups[g] = append(groups[g], member{k, r.val})
			any = true
		}
		if !any {
			alone = append(alone, member{k, r.val})
		}
	})
	x.slot = make(map[uint64]uint32, n)
	x.hashes = make([]uint64, 0, n)
	x.attr = make([]uint32, 0, n)
	rules := map[rowKey][]RuleRef{}
	for g, ms := range groups {
		p := c.model.Policies[g.pol]
		if p == nil {
			continue
		}
		want := make(map[rowKey]rowVal, len(ms))
		for _, m := range ms {
			want[m.k] = m.v
		}
		found := map[rowKey]bool{}
		c.pairRuleRows(p, g.f, g.t, func(k rowKey, v rowVal, rule int) {
			if w, ok := want[k]; ok && w == v && !found[k] {
				found[k] = true // the first rule of the policy that gives it
				rules[k] = append(rules[k], RuleRef{Policy: g.pol, Rule: rule})
			}
		})
		for _, m := range ms {
			if !found[m.k] {
				rules[m.k] = append(rules[m.k], RuleRef{Policy: g.pol, Rule: -1})
			}
		}
	}
	for _, m := range alone {
		rules[m.k] = nil
	}
	attrIDs := map[string]uint32{}
	keyOf := func(k rowKey) (string, error) {
		v := rowVal{}
		if r, ok := c.row(k); ok {
			v = r.val
		}
		e, err := k.entry(in, v)
		if err != nil {
			return "", err
		}
		return pipeline.EntryKey(e), nil
	}
	var clashes map[uint64]bool
	order := make([]rowKey, 0, len(rules)) // entry number -> row
	for k := range rules {
		order = append(order, k)
	}
	for _, k := range order {
		rs := rules[k]
		slices.SortFunc(rs, func(a, b RuleRef) int {
			if a.Policy != b.Policy {
				return strings.Compare(a.Policy, b.Policy)
			}
			return a.Rule - b.Rule
		})
		rs = slices.Compact(rs)
		var sig strings.Builder
		sig.WriteString(tableNames[k.t])
		for _, r := range rs {
			fmt.Fprintf(&sig, "|%s#%d", r.Policy, r.Rule)
		}
		id, ok := attrIDs[sig.String()]
		if !ok {
			id = uint32(len(x.Attrs))
			attrIDs[sig.String()] = id
			x.Attrs = append(x.Attrs, Attribution{Table: tableNames[k.t], Rules: rs})
		}
		key, err := keyOf(k)
		if err != nil {
			return nil, err
		}
		h := maphash.String(x.seed, key)
		if _, dup := x.slot[h]; dup {
			if clashes == nil {
				clashes = map[uint64]bool{}
			}
			clashes[h] = true
		} else {
			x.slot[h] = uint32(len(x.attr))
		}
		x.hashes = append(x.hashes, h)
		x.attr = append(x.attr, id)
	}
	if clashes != nil {
		// Two of the model's keys share a hash (about never): those
		// entries are found by their whole keys instead.
		x.clashed = map[string]uint32{}
		for num, k := range order {
			if clashes[x.hashes[num]] {
				key, err := keyOf(k)
				if err != nil {
					return nil, err
				}
				x.clashed[key] = uint32(num)
			}
		}
	}
	return x, nil
}
