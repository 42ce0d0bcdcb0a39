package policy

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"maps"
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

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
// million entries), as would a key an update adds (which knows the
// index's entries by their hashes alone; an index with clashing keys is
// built again instead). An index is immutable and safe for concurrent
// use.
//
// Entries are numbered from 0. An index brought up to date from another
// (Compiler.PrepareCounterIndex) shares with it the parts it did not
// change, keeps the numbers of the entries the two share, numbers the
// entries it adds after the other's, and leaves unused the numbers of the
// entries it drops (until so many are unused that it renumbers them all:
// Extends says which).
type CounterIndex struct {
	// Tables are the P4 ids of the device's tables with direct counters.
	Tables []uint32
	// Attrs are the distinct attributions; Entry returns an index into
	// it. An index brought up to date may have some no entry has.
	Attrs []Attribution

	id   uint64 // unique to the index (indexIDs)
	from uint64 // id of the index whose entry numbers it extends; 0: none
	kc   *keyCoder

	// The parts below are shared by the indexes brought up to date from
	// this one, and none is written once the index is made: an update
	// copies the pages it changes (indexWriter).
	keys    pages[slot]        // key hash (with indexSeed) -> entry number: open addressing by the hash's low bits
	mask    uint64             // keys' slots - 1, a power of two
	used    int                // keys' slots in use
	clashed map[string]uint32  // keys whose hash another key has too
	hashes  pages[uint64]      // entry number -> key hash
	attr    pages[uint32]      // entry number -> attribution; dropped when the entry is gone
	live    int                // entries not dropped
	attrIDs map[attrKey]uint32 // attribution -> its index in Attrs
	built   int                // len(Attrs) when the entries were last numbered afresh
}

// slot is one place of an index's key table: a key hash and its entry
// number plus one (0: the slot is empty).
type slot struct {
	hash uint64
	num  uint32
}

// Sizes of an index's parts: an update copies each page it writes, so
// that its cost follows the change rather than the index. Variables for
// the tests, which make them small to exercise each case.
var (
	keyPageBits   uint = 5    // log2 of the key table's slots per page, at least: 32 (512 bytes)
	maxKeyPages        = 2048 // key table pages, at most: so many that the array of them stays in cache
	entryPageBits uint = 8    // log2 of the entry arrays' elements per page: 256
	minDead            = 256  // dropped entries it takes, at least, to number afresh
	minStale           = 64   // attributions no entry has it takes, at least, to number afresh
)

// dropped is the attribution of an entry number whose entry is gone.
const dropped = ^uint32(0)

// indexSeed is shared by every index, so that Carry can match hashes
// across rebuilds.
var indexSeed = maphash.MakeSeed()

// indexIDs numbers the indexes made, from 1.
var indexIDs atomic.Uint64

// Len is one past the highest entry number: the entries are numbered
// 0..Len()-1, some of which may be unused in an index brought up to date.
func (x *CounterIndex) Len() int { return x.hashes.n }

// Live is how many entries the index holds.
func (x *CounterIndex) Live() int { return x.live }

// Entry finds the entry with key (an EntryKey encoding): its number, in
// 0..Len()-1, and its attribution.
func (x *CounterIndex) Entry(key []byte) (entry int, attr int, ok bool) {
	if x.clashed != nil {
		if n, found := x.clashed[string(key)]; found {
			return int(n), int(x.attr.at(int(n))), true
		}
	}
	n, found := x.lookup(maphash.Bytes(indexSeed, key))
	if !found {
		return 0, 0, false
	}
	return int(n), int(x.attr.at(int(n))), true
}

// lookup finds the entry of key hash h: the key table is probed from
// the hash's slot on (linear probing), up to an empty slot.
func (x *CounterIndex) lookup(h uint64) (uint32, bool) {
	for i := h & x.mask; ; i = (i + 1) & x.mask {
		switch s := x.keys.at(int(i)); {
		case s.num == 0:
			return 0, false
		case s.hash == h:
			return s.num - 1, true
		}
	}
}

// Carry maps entry numbers of an older index of the same device to this
// one's: fn is called with each entry the two share.
func (x *CounterIndex) Carry(old *CounterIndex, fn func(oldEntry, newEntry int)) {
	if old == nil {
		return
	}
	for i := range old.Len() {
		if old.attr.at(i) == dropped {
			continue
		}
		if n, ok := x.lookup(old.hashes.at(i)); ok {
			fn(i, int(n))
		}
	}
}

// Extends reports whether x is old, or was brought up to date from old
// keeping its entry numbers: then every entry the two share has the same
// number in both, and the entries x adds are numbered from old.Len() on,
// so that what is kept per entry of old carries over to x without Carry.
func (x *CounterIndex) Extends(old *CounterIndex) bool {
	return old != nil && (x == old || x.from == old.id)
}

// CounterIndex builds the index of device dev's entries in tables with
// direct counters (the identity-pair policy tables of the pipelines
// here) from the compiler's rows, at once. It costs about half a
// microsecond per counted entry; PrepareCounterIndex brings an index up
// to date instead, from what changed, outside the compiler's lock.
func (c *Compiler) CounterIndex(dev string) (*CounterIndex, error) {
	u, err := c.prepareFull(dev, false)
	if err != nil {
		return nil, err
	}
	return u.Build(), nil
}

// CounterIndexUpdate is the work of bringing a device's counter index to
// the compiled model: taken by Compiler.PrepareCounterIndex, which needs
// the same exclusion as Update and costs little, and done by Build, which
// needs none (as DeviceSnapshot's entries are built).
type CounterIndexUpdate struct {
	model *Model // the compiled model Build's index is of
	old   *CounterIndex
	kc    *keyCoder

	// To bring old up to date: the device's counted policy rows that may
	// have changed since old's model, as the compiler holds them now.
	changes []rowState
	// Or, full, to build from nothing: the row sets of the identities
	// on the device, which the compiler does not write again (held, as a
	// snapshot's).
	full bool
	sets []*rowSet
}

// rowState is a policy row of a device as the compiler holds it: on the
// device (present, with the row) or not.
type rowState struct {
	k       policyKey
	present bool
	r       row // its slices are never written again (dropRow)
}

// PrepareCounterIndex takes what it takes to bring old, an index of
// device dev that this compiler made at model since (nil: none), to the
// model compiled now. When the compiler still knows what it changed since
// (counterlog.go), that is the device's policy rows that changed, as they
// are now: a cost that follows the change, and none when the change did
// not touch the device (Build returns old). Otherwise it is a hold on the
// device's policy rows, a reference per identity as Snapshot takes, and
// Build builds the index from nothing.
func (c *Compiler) PrepareCounterIndex(old *CounterIndex, since *Model, dev string) (*CounterIndexUpdate, error) {
	di, ok := c.devIdx[dev]
	if _, known := c.model.Devices[dev]; !ok || !known {
		return nil, fmt.Errorf("device %s: not in the model", dev)
	}
	if old == nil || old.clashed != nil {
		// An index with clashing hashes is rebuilt rather than updated:
		// an update knows its entries by their hashes alone.
		return c.prepareFull(dev, true)
	}
	u := &CounterIndexUpdate{model: c.model, old: old, kc: old.kc}
	if since == c.model {
		return u, nil
	}
	rows, ok := c.counterLog.changedSince(c, since, di)
	if !ok {
		return c.prepareFull(dev, true)
	}
	u.changes = make([]rowState, 0, len(rows))
	for k := range rows {
		if !u.kc.counted[k.t] {
			continue
		}
		st := rowState{k: k}
		if c.identOn[di][k.n1] > 0 {
			rk := k.rowKey()
			st.r, st.present = c.rows[place{onIdentity, k.n1}].get(&rk)
		}
		u.changes = append(u.changes, st)
	}
	return u, nil
}

// prepareFull takes the update that builds device dev's index from
// nothing; hold marks the row sets it takes held, so that the compiler
// copies them before it changes them; without, the update must be built
// before the compiler changes.
func (c *Compiler) prepareFull(dev string, hold bool) (*CounterIndexUpdate, error) {
	di, ok := c.devIdx[dev]
	if !ok {
		return nil, fmt.Errorf("device %s: not in the model", dev)
	}
	in, err := c.info(c.model, dev)
	if err != nil {
		return nil, err
	}
	kc, err := newKeyCoder(in)
	if err != nil {
		return nil, err
	}
	u := &CounterIndexUpdate{model: c.model, kc: kc, full: true}
	for id, n := range c.identOn[di] {
		pl := place{onIdentity, id}
		if set := c.rows[pl]; n > 0 && set.len() > 0 {
			u.sets = append(u.sets, set)
			if hold {
				c.held[pl] = true
			}
		}
	}
	return u, nil
}

// Model is the compiled model the index Build returns is of.
func (u *CounterIndexUpdate) Model() *Model { return u.model }

// Full reports whether Build builds the index from nothing rather than
// bring the old one up to date.
func (u *CounterIndexUpdate) Full() bool { return u.full }

// Build returns the index: the old one when nothing counted changed on
// the device, else one that shares with it what did not change, or, for
// a full update, a new one. It needs no exclusion with the compiler; it
// may be called more than once.
func (u *CounterIndexUpdate) Build() *CounterIndex {
	if u.full {
		return u.buildFull()
	}
	return u.bringUpToDate()
}

// buildFull builds the index from the held row sets.
func (u *CounterIndexUpdate) buildFull() *CounterIndex {
	n := 0
	for _, set := range u.sets {
		n += set.len()
	}
	x := newCounterIndex(u.kc, n)
	w := &indexWriter{x: x}
	var keys []policyKey // entry number -> key, kept only to resolve hash clashes
	var clashes map[uint64]bool
	var buf []byte
	var rules []RuleRef
	at := newAttributor(u.model)
	for _, set := range u.sets {
		for rk, r := range set.all() {
			if !u.kc.counted[rk.t] {
				continue
			}
			k := policyKeyOf(&rk)
			buf = u.kc.append(buf[:0], &k)
			h := maphash.Bytes(indexSeed, buf)
			rules = at.attribute(&k, &r, rules[:0])
			a := w.attrID(k.t, rules)
			if _, dup := x.lookup(h); dup {
				if clashes == nil {
					clashes = map[uint64]bool{}
				}
				clashes[h] = true
				w.push(h, a) // numbered, found by its whole key below
			} else {
				w.add(h, a)
			}
			keys = append(keys, k)
		}
	}
	if clashes != nil {
		// Two of the model's keys share a hash (about never): those
		// entries are found by their whole keys instead.
		x.clashed = map[string]uint32{}
		for num, k := range keys {
			if clashes[x.hashes.at(num)] {
				x.clashed[string(u.kc.append(nil, &k))] = uint32(num)
			}
		}
	}
	return x
}

// bringUpToDate makes the old index's successor from the changed rows:
// each row on the device is added, or its attribution set; each that is
// not is dropped. It returns the old index when that changes nothing.
func (u *CounterIndexUpdate) bringUpToDate() *CounterIndex {
	old := u.old
	if len(u.changes) == 0 {
		return old
	}
	x := *old
	w := &indexWriter{x: &x, derived: true}
	var buf []byte
	var rules []RuleRef
	at := newAttributor(u.model)
	for i := range u.changes {
		st := &u.changes[i]
		buf = u.kc.append(buf[:0], &st.k)
		h := maphash.Bytes(indexSeed, buf)
		e, found := x.lookup(h)
		if !st.present {
			if found {
				w.drop(h, e)
			}
			continue
		}
		rules = at.attribute(&st.k, &st.r, rules[:0])
		a := w.attrID(st.k.t, rules)
		switch {
		case !found:
			w.add(h, a)
		case x.attr.at(int(e)) != a:
			w.setAttr(e, a)
		}
	}
	if !w.wrote {
		return old
	}
	x.id, x.from = indexIDs.Add(1), old.id
	if dead := x.Len() - x.live; dead > max(x.live, minDead) || len(x.Attrs) > 2*x.built+minStale {
		// So many entries gone that their numbers, or their
		// attributions, are mostly unused: number the rest afresh.
		return x.renumbered()
	}
	return &x
}

// newCounterIndex is an empty index for the device of kc, with a key
// table for about n entries.
func newCounterIndex(kc *keyCoder, n int) *CounterIndex {
	x := &CounterIndex{Tables: slices.Clone(kc.tables), id: indexIDs.Add(1), kc: kc, attrIDs: map[attrKey]uint32{}}
	size := 1 << keyPageBits
	for size*5 < n*8 { // at most five eighths full: it grows at three quarters
		size *= 2
	}
	x.keys, x.mask = newPages[slot](size, keyPageBitsFor(size)), uint64(size-1)
	x.hashes.bits, x.attr.bits = entryPageBits, entryPageBits
	return x
}

// renumbered is a new index of x's entries, numbered afresh, with only
// the attributions they have.
func (x *CounterIndex) renumbered() *CounterIndex {
	n := newCounterIndex(x.kc, x.live)
	w := &indexWriter{x: n}
	ids := make([]uint32, len(x.Attrs))
	for i := range ids {
		ids[i] = dropped
	}
	for e := range x.Len() {
		a := x.attr.at(e)
		if a == dropped {
			continue
		}
		if ids[a] == dropped {
			attr := x.Attrs[a]
			ids[a] = w.newAttr(keyOfAttr(attr.Table, attr.Rules), attr)
		}
		w.add(x.hashes.at(e), ids[a])
	}
	return n
}

// ---- writing an index ------------------------------------------------------

// pages is an array of n elements in pages of 1<<bits, which indexes
// share: a page or the array of pages is copied before it is written
// unless the writer made it (indexWriter).
type pages[T any] struct {
	p    [][]T // each 1<<bits long
	n    int
	bits uint
}

func (a *pages[T]) at(i int) T { return a.p[i>>a.bits][i&(1<<a.bits-1)] }

// keyPageBitsFor is the log2 of the slots per page of a key table of
// size slots: keyPageBits, or more past maxKeyPages pages (a lookup
// reads the array of pages, then the slot's page).
func keyPageBitsFor(size int) uint {
	bits := keyPageBits
	for size>>bits > maxKeyPages {
		bits++
	}
	return bits
}

// newPages is n elements, zero, in pages of 1<<bits.
func newPages[T any](n int, bits uint) pages[T] {
	a := pages[T]{p: make([][]T, (n+1<<bits-1)>>bits), n: n, bits: bits}
	for i := range a.p {
		a.p[i] = make([]T, 1<<bits)
	}
	return a
}

// indexWriter writes an index being made: new (every part its own), or
// derived from another index, whose parts it shares until it first
// writes them, and copies then, each once.
type indexWriter struct {
	x       *CounterIndex
	derived bool
	wrote   bool // something was written

	// Of a derived index, what the writer copied or made: Attrs with
	// attrIDs, and the pages by number (a map is nil until its array of
	// pages is copied).
	ownAttrs                       bool
	keyPages, hashPages, attrPages map[int]bool
}

// writePage returns, to write, the page holding element i of a, whose
// pages the writer copied or made are in own; i may be a.n, the next
// element.
func writePage[T any](w *indexWriter, a *pages[T], own *map[int]bool, i int) []T {
	w.wrote = true
	pg := i >> a.bits
	if w.derived && *own == nil {
		a.p = slices.Clone(a.p)
		*own = map[int]bool{}
	}
	switch {
	case pg == len(a.p):
		a.p = append(a.p, make([]T, 1<<a.bits))
		if w.derived {
			(*own)[pg] = true
		}
	case w.derived && !(*own)[pg]:
		a.p[pg] = slices.Clone(a.p[pg])
		(*own)[pg] = true
	}
	return a.p[pg]
}

// push numbers a new entry of key hash h and attribution a, without
// making it found by its hash.
func (w *indexWriter) push(h uint64, a uint32) uint32 {
	e := w.x.hashes.n
	writePage(w, &w.x.hashes, &w.hashPages, e)[e&(1<<w.x.hashes.bits-1)] = h
	writePage(w, &w.x.attr, &w.attrPages, e)[e&(1<<w.x.attr.bits-1)] = a
	w.x.hashes.n++
	w.x.attr.n++
	w.x.live++
	return uint32(e)
}

// add adds an entry of key hash h and attribution a.
func (w *indexWriter) add(h uint64, a uint32) {
	w.insert(h, w.push(h, a))
}

// setAttr gives entry e attribution a.
func (w *indexWriter) setAttr(e, a uint32) {
	writePage(w, &w.x.attr, &w.attrPages, int(e))[int(e)&(1<<w.x.attr.bits-1)] = a
}

// drop removes entry e, of key hash h; its number stays unused.
func (w *indexWriter) drop(h uint64, e uint32) {
	w.remove(h)
	w.setAttr(e, dropped)
	w.x.live--
}

// setSlot writes slot i of the key table.
func (w *indexWriter) setSlot(i uint64, s slot) {
	writePage(w, &w.x.keys, &w.keyPages, int(i))[int(i)&(1<<w.x.keys.bits-1)] = s
}

// insert makes key hash h, which the key table does not hold, find entry
// e: in the first empty slot from the hash's on. The table grows first
// when it would be more than three quarters full.
func (w *indexWriter) insert(h uint64, e uint32) {
	x := w.x
	if 4*(x.used+1) > 3*(int(x.mask)+1) {
		w.grow()
	}
	i := h & x.mask
	for x.keys.at(int(i)).num != 0 {
		i = (i + 1) & x.mask
	}
	w.setSlot(i, slot{h, e + 1})
	x.used++
}

// remove makes key hash h find nothing. The slots after its own, up to
// an empty one, whose probes passed it move back into the gap it leaves
// (backward-shift deletion: the table keeps no tombstones).
func (w *indexWriter) remove(h uint64) {
	x := w.x
	i := h & x.mask
	for {
		s := x.keys.at(int(i))
		if s.num == 0 {
			return // not held
		}
		if s.hash == h {
			break
		}
		i = (i + 1) & x.mask
	}
	for j := i; ; {
		j = (j + 1) & x.mask
		s := x.keys.at(int(j))
		if s.num == 0 {
			break
		}
		// s, at j, may fill the gap at i unless its own slot lies after
		// i (up to j): probes for it start there and would not reach i.
		if (j-s.hash)&x.mask >= (j-i)&x.mask {
			w.setSlot(i, s)
			i = j
		}
	}
	w.setSlot(i, slot{})
	x.used--
}

// grow doubles the key table: a new table, the writer's own.
func (w *indexWriter) grow() {
	x := w.x
	old := x.keys
	size := 2 * old.n
	x.keys, x.mask, x.used = newPages[slot](size, keyPageBitsFor(size)), uint64(size-1), 0
	w.keyPages = map[int]bool{}
	for pg := range x.keys.p {
		w.keyPages[pg] = true
	}
	for i := range old.n {
		if s := old.at(i); s.num != 0 {
			j := s.hash & x.mask
			for x.keys.at(int(j)).num != 0 {
				j = (j + 1) & x.mask
			}
			w.setSlot(j, s)
			x.used++
		}
	}
}

// attrID is the index in Attrs of the attribution of table t and rules,
// added when new.
func (w *indexWriter) attrID(t table, rules []RuleRef) uint32 {
	k := keyOfAttr(tableNames[t], rules)
	if id, ok := w.x.attrIDs[k]; ok {
		return id
	}
	attr := Attribution{Table: tableNames[t]}
	if len(rules) > 0 {
		attr.Rules = slices.Clone(rules)
	}
	return w.newAttr(k, attr)
}

// newAttr adds attribution attr, of key k.
func (w *indexWriter) newAttr(k attrKey, attr Attribution) uint32 {
	x := w.x
	if w.derived && !w.ownAttrs {
		x.Attrs, x.attrIDs = slices.Clip(x.Attrs), maps.Clone(x.attrIDs)
		w.ownAttrs = true
	}
	id := uint32(len(x.Attrs))
	x.Attrs = append(x.Attrs, attr)
	x.attrIDs[k] = id
	if !w.derived {
		x.built = len(x.Attrs)
	}
	return id
}

// attrKey identifies an attribution: its table and rules.
type attrKey struct {
	table string
	n     int // rules
	first RuleRef
	rest  string // the rules after the first, each "\x00policy\x00rule"
}

func keyOfAttr(table string, rules []RuleRef) attrKey {
	k := attrKey{table: table, n: len(rules)}
	if len(rules) > 0 {
		k.first = rules[0]
	}
	if len(rules) > 1 {
		var b strings.Builder
		for _, r := range rules[1:] {
			b.WriteString("\x00" + r.Policy + "\x00" + strconv.Itoa(r.Rule))
		}
		k.rest = b.String()
	}
	return k
}

// ---- attribution -----------------------------------------------------------

// attributor finds the attributions of policy rows in model m. It
// remembers the rule of each production it looked up (ruleOf is a
// function of the policy and the row without its identity pair, and a
// policy's rows for its many pairs share their rules).
type attributor struct {
	m     *Model
	rules map[ruleQuery]int
}

// ruleQuery is a question to ruleOf: the row's key without its pair.
type ruleQuery struct {
	p *Policy
	k policyKey // n1 and n2 zero
	v rowVal
}

func newAttributor(m *Model) *attributor {
	return &attributor{m: m, rules: map[ruleQuery]int{}}
}

// attribute appends to buf the rules that give policy row k, held as r,
// its verdict: for each producer that gives the row's value (a policy),
// the first of the policy's rules that makes the row (ruleOf); sorted and
// without repeats where there are several. None when no producer is a
// policy (not expected).
func (at *attributor) attribute(k *policyKey, r *row, buf []RuleRef) []RuleRef {
	extra := r.extra()
	for i := range 1 + len(extra) {
		ref := r.ref
		if i > 0 {
			ref = extra[i-1]
		}
		if ref == "" || !r.deciding(i) || strings.HasPrefix(ref, KindSegment+" ") {
			continue
		}
		buf = append(buf, RuleRef{Policy: ref, Rule: at.ruleOf(at.m.Policies[ref], k, r.val)})
	}
	if len(buf) > 1 {
		slices.SortFunc(buf, func(a, b RuleRef) int {
			return cmp.Or(strings.Compare(a.Policy, b.Policy), cmp.Compare(a.Rule, b.Rule))
		})
		buf = slices.Compact(buf)
	}
	return buf
}

// ruleOf is ruleOf, remembered.
func (at *attributor) ruleOf(p *Policy, k *policyKey, v rowVal) int {
	q := ruleQuery{p: p, k: *k, v: v}
	q.k.n1, q.k.n2 = 0, 0
	if rule, ok := at.rules[q]; ok {
		return rule
	}
	rule := ruleOf(p, k, v)
	at.rules[q] = rule
	return rule
}

// ruleOf is the index of the first rule of identity policy p that makes
// policy row k with value v, as pairRuleRows makes the rows of the
// identity pair k names; -1 when none does (or p is nil). What makes a
// row does not depend on the pair, and a range row's port class is the
// first port of an atom (portclass.go), inside every range that covers
// the atom: so the rule is found from the row alone.
func ruleOf(p *Policy, k *policyKey, v rowVal) int {
	if p == nil {
		return -1
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if len(r.Ports) == 0 {
			if itemMakes(p, r, nil, k, v) {
				return i
			}
			continue
		}
		for j := range r.Ports {
			if itemMakes(p, r, &r.Ports[j], k, v) {
				return i
			}
		}
	}
	return -1
}

// itemMakes reports whether rule r of p, for its port item pr (nil for a
// rule that names no ports; ruleItems), makes row k with value v: the
// cases of pairRuleRows, forward and reply.
func itemMakes(p *Policy, r *Rule, pr *PortRange, k *policyKey, v rowVal) bool {
	if ruleVal(p, r, pr) != v {
		return false
	}
	switch k.t {
	case tPolPair:
		return r.Proto == ProtoAny
	case tPolProto, tPolPort, tPolRange:
		if r.Proto == ProtoAny || k.proto != uint8(r.Proto) {
			return false
		}
		switch k.t {
		case tPolProto:
			return pr == nil
		case tPolPort:
			return pr != nil && pr.Lo == pr.Hi && k.dp.lo == pr.Lo
		}
		return isRange(pr) && pr.Lo <= k.dp.lo && k.dp.lo <= pr.Hi
	case tRepProto, tRepPort, tRepRange:
		if r.Action != ActionAllow || !repliesWith(r.Proto, int(k.proto)) {
			return false
		}
		switch k.t {
		case tRepProto:
			return pr == nil
		case tRepPort:
			return pr != nil && pr.Lo == pr.Hi && k.sp.lo == pr.Lo
		}
		return isRange(pr) && pr.Lo <= k.sp.lo && k.sp.lo <= pr.Hi
	}
	return false
}

// repliesWith reports whether rp is one of replyProtos(proto).
func repliesWith(proto, rp int) bool {
	if proto == ProtoAny {
		return rp == ProtoTCP || rp == ProtoUDP || rp == ProtoICMP || rp == ProtoICMPv6
	}
	return rp == proto
}

// ---- keys ------------------------------------------------------------------

// policyKey is the key of a policy row: the fields of rowKey that
// pairRuleRows and rangeRow set, in 20 bytes rather than rowKey's 90.
type policyKey struct {
	t            table
	proto, flags uint8
	n1, n2       uint32
	sp, dp       portMatch
}

func policyKeyOf(k *rowKey) policyKey {
	return policyKey{t: k.t, proto: k.proto, flags: k.flags, n1: k.n1, n2: k.n2, sp: k.sp, dp: k.dp}
}

func (k policyKey) rowKey() rowKey {
	return rowKey{t: k.t, proto: k.proto, flags: k.flags, n1: k.n1, n2: k.n2, sp: k.sp, dp: k.dp}
}

// keyCoder writes the EntryKey encoding of policy-table rows
// (pipeline.EntryKey of what rowKey.entry would build) without building
// the entries: table id, priority 0, then each exact field by field id.
// It is not written once made, and indexes brought up to date from one
// another share it.
type keyCoder struct {
	counted [numTables]bool
	ids     [numTables]uint32
	fields  [numTables][]keyField // by field id
	tables  []uint32              // the counted tables' ids
}

type keyField struct {
	id  uint32
	get func(*policyKey) uint64
}

// The fields of the policy tables (p4src/include/ingress.p4) and where
// each row keeps them (rows.go, entry).
var policyFields = map[string]func(*policyKey) uint64{
	"src_identity":   func(k *policyKey) uint64 { return uint64(k.n1) },
	"dst_identity":   func(k *policyKey) uint64 { return uint64(k.n2) },
	"ip_proto":       func(k *policyKey) uint64 { return uint64(k.proto) },
	"l4_dst_port":    func(k *policyKey) uint64 { return uint64(k.dp.lo) },
	"dst_port_class": func(k *policyKey) uint64 { return uint64(k.dp.lo) },
	"l4_src_port":    func(k *policyKey) uint64 { return uint64(k.sp.lo) },
	"src_port_class": func(k *policyKey) uint64 { return uint64(k.sp.lo) },
	"tcp_ack":        func(k *policyKey) uint64 { return uint64(k.flags) },
}

func newKeyCoder(in *pipeline.Info) (*keyCoder, error) {
	kc := &keyCoder{}
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
		kc.tables = append(kc.tables, tb.ID)
	}
	return kc, nil
}

// append appends k's entry key to b.
func (kc *keyCoder) append(b []byte, k *policyKey) []byte {
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
