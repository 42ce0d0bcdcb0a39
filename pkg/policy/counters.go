package policy

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/bits"
	"slices"
	"strconv"
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

	slot    map[uint64]uint32 // key hash (with indexSeed) -> entry number
	clashed map[string]uint32 // keys whose hash another key has too
	hashes  []uint64          // entry number -> key hash
	attr    []uint32          // entry number -> attribution
}

// Len is how many entries the index holds.
func (x *CounterIndex) Len() int { return len(x.attr) }

// Entry finds the entry with key (an EntryKey encoding): its number, in
// 0..Len()-1, and its attribution.
func (x *CounterIndex) Entry(key []byte) (entry int, attr int, ok bool) {
	if x.clashed != nil {
		if n, found := x.clashed[string(key)]; found {
			return int(n), int(x.attr[n]), true
		}
	}
	n, found := x.slot[maphash.Bytes(indexSeed, key)]
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
	for i, h := range old.hashes {
		if n, ok := x.slot[h]; ok {
			fn(i, int(n))
		}
	}
}

// indexSeed is shared by every index, so that Carry can match hashes
// across rebuilds.
var indexSeed = maphash.MakeSeed()

// CounterIndex builds the index of device dev's entries in tables with
// direct counters (the identity-pair policy tables of the pipelines
// here). Callers rebuild it when the model changes, not per read; it
// encodes keys straight from the rows (no P4Runtime messages), and
// expands each policy's rules once per identity pair to find the rule of
// each row.
func (c *Compiler) CounterIndex(dev string) (*CounterIndex, error) {
	in, err := c.info(c.model, dev)
	if err != nil {
		return nil, err
	}
	di, ok := c.devIdx[dev]
	if !ok {
		return nil, fmt.Errorf("device %s: not in the model", dev)
	}
	x := &CounterIndex{slot: map[uint64]uint32{}}
	kc, err := newKeyCoder(in)
	if err != nil {
		return nil, err
	}
	for t := tPolPair; t <= tRepRange; t++ {
		if kc.counted[t] {
			x.Tables = append(x.Tables, kc.ids[t])
		}
	}
	if len(x.Tables) == 0 {
		return x, nil
	}
	// Rows by the (policy, pair) whose rules decide them, so that each
	// policy's rules are expanded once per pair. A row that more than
	// one policy decides (equal ranks) is gathered apart.
	type group struct {
		pol  string
		f, t uint32
	}
	type member struct {
		k rowKey
		v rowVal
	}
	groups := map[group][]member{}
	multi := map[rowKey][]RuleRef{}
	var alone []rowKey // rows no policy decides (not expected): unattributed
	n := 0
	c.deviceRows(di, func(k rowKey, r row) {
		if !kc.counted[k.t] {
			return
		}
		n++
		f, t := k.n1, k.n2
		if k.t == tRepProto || k.t == tRepPort || k.t == tRepRange {
			f, t = k.n2, k.n1 // a reply row is keyed from the server
		}
		deciders := 0
		for i, ref := range r.refs() {
			if ref == "" || !r.deciding(i) || strings.HasPrefix(ref, KindSegment+" ") {
				continue
			}
			deciders++
			groups[group{ref, f, t}] = append(groups[group{ref, f, t}], member{k, r.val})
		}
		switch {
		case deciders == 0:
			alone = append(alone, k)
		case deciders > 1:
			multi[k] = nil
		}
	})
	x.slot = make(map[uint64]uint32, n)
	x.hashes = make([]uint64, 0, n)
	x.attr = make([]uint32, 0, n)
	type single struct {
		t    table
		rule RuleRef
	}
	singles := map[single]uint32{}
	multis := map[string]uint32{}
	attrOf := func(t table, rs []RuleRef) uint32 {
		if len(rs) == 1 {
			k := single{t, rs[0]}
			id, ok := singles[k]
			if !ok {
				id = uint32(len(x.Attrs))
				singles[k] = id
				x.Attrs = append(x.Attrs, Attribution{Table: tableNames[t], Rules: rs})
			}
			return id
		}
		var sig strings.Builder
		sig.WriteString(tableNames[t])
		for _, r := range rs {
			sig.WriteString("|" + r.Policy + "#" + strconv.Itoa(r.Rule))
		}
		id, ok := multis[sig.String()]
		if !ok {
			id = uint32(len(x.Attrs))
			multis[sig.String()] = id
			x.Attrs = append(x.Attrs, Attribution{Table: tableNames[t], Rules: rs})
		}
		return id
	}
	var keys []rowKey // entry number -> row, kept only to resolve hash clashes
	var clashes map[uint64]bool
	var buf []byte
	emit := func(k rowKey, rs []RuleRef) {
		buf = kc.append(buf[:0], &k)
		h := maphash.Bytes(indexSeed, buf)
		if _, dup := x.slot[h]; dup {
			if clashes == nil {
				clashes = map[uint64]bool{}
			}
			clashes[h] = true
		} else {
			x.slot[h] = uint32(len(x.attr))
		}
		x.hashes = append(x.hashes, h)
		x.attr = append(x.attr, attrOf(k.t, rs))
		keys = append(keys, k)
	}
	for g, ms := range groups {
		p := c.model.Policies[g.pol]
		want := make(map[rowKey]rowVal, len(ms))
		for _, m := range ms {
			want[m.k] = m.v
		}
		found := make(map[rowKey]int, len(ms))
		if p != nil {
			c.pairRuleRows(p, g.f, g.t, func(k rowKey, v rowVal, rule int) {
				if w, ok := want[k]; ok && w == v {
					if _, seen := found[k]; !seen {
						found[k] = rule // the first rule of the policy that gives it
					}
				}
			})
		}
		for _, m := range ms {
			rule, ok := found[m.k]
			if !ok {
				rule = -1
			}
			ref := RuleRef{Policy: g.pol, Rule: rule}
			if rs, isMulti := multi[m.k]; isMulti {
				multi[m.k] = append(rs, ref)
				continue
			}
			emit(m.k, []RuleRef{ref})
		}
	}
	for k, rs := range multi {
		slices.SortFunc(rs, func(a, b RuleRef) int {
			if a.Policy != b.Policy {
				return strings.Compare(a.Policy, b.Policy)
			}
			return a.Rule - b.Rule
		})
		emit(k, slices.Compact(rs))
	}
	for _, k := range alone {
		emit(k, nil)
	}
	if clashes != nil {
		// Two of the model's keys share a hash (about never): those
		// entries are found by their whole keys instead.
		x.clashed = map[string]uint32{}
		for num, k := range keys {
			if clashes[x.hashes[num]] {
				x.clashed[string(kc.append(nil, &k))] = uint32(num)
			}
		}
	}
	return x, nil
}

// keyCoder writes the EntryKey encoding of policy-table rows
// (pipeline.EntryKey of what rowKey.entry would build) without building
// the entries: table id, priority 0, then each exact field by field id.
type keyCoder struct {
	counted map[table]bool
	ids     map[table]uint32
	fields  map[table][]keyField // by field id
}

type keyField struct {
	id  uint32
	get func(*rowKey) uint64
}

// The fields of the policy tables (p4src/include/ingress.p4) and where
// each row keeps them (rows.go, entry).
var policyFields = map[string]func(*rowKey) uint64{
	"src_identity":   func(k *rowKey) uint64 { return uint64(k.n1) },
	"dst_identity":   func(k *rowKey) uint64 { return uint64(k.n2) },
	"ip_proto":       func(k *rowKey) uint64 { return uint64(k.proto) },
	"l4_dst_port":    func(k *rowKey) uint64 { return uint64(k.dp.lo) },
	"dst_port_class": func(k *rowKey) uint64 { return uint64(k.dp.lo) },
	"l4_src_port":    func(k *rowKey) uint64 { return uint64(k.sp.lo) },
	"src_port_class": func(k *rowKey) uint64 { return uint64(k.sp.lo) },
	"tcp_ack":        func(k *rowKey) uint64 { return uint64(k.flags) },
}

func newKeyCoder(in *pipeline.Info) (*keyCoder, error) {
	kc := &keyCoder{counted: map[table]bool{}, ids: map[table]uint32{}, fields: map[table][]keyField{}}
	for t := tPolPair; t <= tRepRange; t++ {
		tb, ok := in.Table(tableNames[t])
		if !ok || tb.DirectCounterID == 0 {
			continue
		}
		var fs []keyField
		for _, f := range tb.Fields {
			get, ok := policyFields[f.Name]
			if !ok || f.Kind != pipeline.MatchExact {
				return nil, fmt.Errorf("%s: field %s is not one the compiler writes", tb.Name, f.Name)
			}
			fs = append(fs, keyField{f.ID, get})
		}
		slices.SortFunc(fs, func(a, b keyField) int { return cmp.Compare(a.id, b.id) })
		kc.counted[t], kc.ids[t], kc.fields[t] = true, tb.ID, fs
	}
	return kc, nil
}

// append appends k's entry key to b.
func (kc *keyCoder) append(b []byte, k *rowKey) []byte {
	b = binary.BigEndian.AppendUint32(b, kc.ids[k.t])
	b = binary.BigEndian.AppendUint32(b, 0) // exact tables: no priority
	for _, f := range kc.fields[k.t] {
		b = binary.BigEndian.AppendUint32(b, f.id)
		b = append(b, 'e')
		v := f.get(k)
		n := max(1, (bits.Len64(v)+7)/8) // canonical: no leading zero bytes, zero is one byte
		b = append(b, byte(n))
		for i := n - 1; i >= 0; i-- {
			b = append(b, byte(v>>(8*i)))
		}
	}
	return b
}
