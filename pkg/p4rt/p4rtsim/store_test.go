package p4rtsim

// The entry store against a model of what it should hold.

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// storeModel is an entryStore with what it should hold next to it: the
// entries by key, in the order the store should yield them.
type storeModel struct {
	t     *testing.T
	st    entryStore
	hash  func(key []byte) uint32
	keys  []string // in arena order
	wires map[string][]byte
	count map[string]counterData
}

func newStoreModel(t *testing.T, hash func([]byte) uint32) *storeModel {
	return &storeModel{t: t, hash: hash, wires: map[string][]byte{}, count: map[string]counterData{}}
}

func (m *storeModel) insert(key string, wire []byte, c counterData) {
	m.t.Helper()
	h := m.hash([]byte(key))
	if _, _, ok := m.st.find(h, []byte(key)); ok {
		m.t.Fatalf("insert %q: found before it was inserted", key)
	}
	ref, ok := m.st.insert(h, []byte(key), wire)
	if !ok {
		m.t.Fatalf("insert %q: arena full", key)
	}
	m.st.setCounter(ref, c)
	m.keys = append(m.keys, key)
	m.wires[key] = bytes.Clone(wire)
	m.count[key] = c
}

// replace modifies key's wire and reports whether the entry moved.
func (m *storeModel) replace(key string, wire []byte) bool {
	m.t.Helper()
	slot, ref, ok := m.st.find(m.hash([]byte(key)), []byte(key))
	if !ok {
		m.t.Fatalf("replace %q: not found", key)
	}
	to, ok := m.st.replace(slot, ref, wire)
	if !ok {
		m.t.Fatalf("replace %q: arena full", key)
	}
	m.st.tidy()
	m.wires[key] = bytes.Clone(wire)
	if to != ref { // moved to the end
		i := slices.Index(m.keys, key)
		m.keys = append(slices.Delete(m.keys, i, i+1), key)
	}
	return to != ref
}

func (m *storeModel) remove(key string) {
	m.t.Helper()
	slot, ref, ok := m.st.find(m.hash([]byte(key)), []byte(key))
	if !ok {
		m.t.Fatalf("remove %q: not found", key)
	}
	m.st.remove(slot, ref)
	m.keys = slices.DeleteFunc(m.keys, func(k string) bool { return k == key })
	delete(m.wires, key)
	delete(m.count, key)
}

func (m *storeModel) setCounter(key string, c counterData) {
	m.t.Helper()
	_, ref, ok := m.st.find(m.hash([]byte(key)), []byte(key))
	if !ok {
		m.t.Fatalf("counter of %q: not found", key)
	}
	m.st.setCounter(ref, c)
	m.count[key] = c
}

// check compares the store with the model: lookups, iteration order,
// counters, byte accounting and the index's probe invariant.
func (m *storeModel) check() {
	m.t.Helper()
	st := &m.st
	if st.count() != len(m.keys) {
		m.t.Fatalf("count %d, want %d", st.count(), len(m.keys))
	}
	var got []string
	for ref, wire := range st.all() {
		key := string(readRecord(st.at(ref)).key)
		got = append(got, key)
		if !bytes.Equal(wire, m.wires[key]) {
			m.t.Fatalf("entry %q: wire %x, want %x", key, wire, m.wires[key])
		}
		if c := st.counter(ref); c != m.count[key] {
			m.t.Fatalf("entry %q: counter %v, want %v", key, c, m.count[key])
		}
		_, fref, ok := st.find(m.hash([]byte(key)), []byte(key))
		if !ok || fref != ref {
			m.t.Fatalf("entry %q at %#x: find gives %#x, %v", key, ref, fref, ok)
		}
	}
	if !slices.Equal(got, m.keys) {
		m.t.Fatalf("store yields %d entries %q,\nwant %d %q", len(got), trim(got), len(m.keys), trim(m.keys))
	}
	if _, _, ok := st.find(m.hash([]byte("absent")), []byte("absent")); ok {
		m.t.Fatal("found a key never inserted")
	}
	// Bytes: used counts every record; waste the dead ones and slack.
	used, live := 0, 0
	for _, c := range st.chunks {
		used += len(c)
		for off := 0; off < len(c); {
			r := readRecord(c[off:])
			if !r.dead {
				live += recordLen(r.size) - (r.size - r.used)
			}
			off += r.total
		}
	}
	if used != st.used || used-st.waste != live {
		m.t.Fatalf("used %d (counted %d), waste %d, live %d", st.used, used, st.waste, live)
	}
	if len(m.keys) > 0 && st.waste >= compactMin && st.waste*4 > st.used {
		m.t.Fatalf("waste %d of %d bytes left uncompacted", st.waste, st.used)
	}
	if len(m.keys) == 0 && (st.chunks != nil || st.slots != nil) {
		m.t.Fatal("an empty store keeps its arena")
	}
	if len(st.counters) > len(m.keys) {
		m.t.Fatalf("%d counters for %d entries", len(st.counters), len(m.keys))
	}
	// Every entry is reachable from its home slot without an empty slot
	// between.
	mask := len(st.slots) - 1
	for j, s := range st.slots {
		if s == 0 {
			continue
		}
		for i := int(uint32(s>>32)) & mask; i != j; i = (i + 1) & mask {
			if st.slots[i] == 0 {
				m.t.Fatalf("slot %d is cut off from its home %d", j, int(uint32(s>>32))&mask)
			}
		}
	}
}

func trim(s []string) []string {
	if len(s) > 8 {
		return append(s[:8:8], "...")
	}
	return s
}

func wireOf(key string, n int) []byte {
	return append([]byte(key+"="), bytes.Repeat([]byte{'w'}, n)...)
}

func TestEntryStore(t *testing.T) {
	collide := func([]byte) uint32 { return 7 }
	few := func(k []byte) uint32 { return hashKey(k) % 4 }
	for _, tc := range []struct {
		name string
		hash func([]byte) uint32
		run  func(m *storeModel)
	}{
		{"insert find remove", hashKey, func(m *storeModel) {
			for i := range 100 {
				m.insert(fmt.Sprint("k", i), wireOf("k", i), counterData{})
				m.check()
			}
			for i := 0; i < 100; i += 3 {
				m.remove(fmt.Sprint("k", i))
				m.check()
			}
		}},
		{"modify in place and moved", hashKey, func(m *storeModel) {
			m.insert("a", wireOf("a", 40), counterData{bytes: 1, packets: 2})
			m.insert("b", wireOf("b", 40), counterData{})
			if m.replace("a", wireOf("a", 10)) {
				t.Error("a shorter encoding moved the entry")
			}
			m.check()
			if m.replace("a", wireOf("a", 38)) {
				t.Error("an encoding that fits the record moved the entry")
			}
			m.check()
			if !m.replace("a", wireOf("a", 200)) {
				t.Error("a longer encoding did not move the entry")
			}
			m.check() // the counter went with it
			m.setCounter("a", counterData{})
			m.setCounter("b", counterData{packets: 9})
			m.check()
		}},
		{"all keys collide", collide, func(m *storeModel) {
			for i := range 40 {
				m.insert(fmt.Sprint("c", i), wireOf("c", i%7), counterData{packets: int64(i)})
			}
			m.check()
			for _, i := range []int{0, 39, 17, 18, 1, 2, 30} {
				m.remove(fmt.Sprint("c", i))
				m.check()
			}
			m.replace("c5", wireOf("c5", 100))
			m.check()
		}},
		{"compaction keeps order and counters", hashKey, func(m *storeModel) {
			for i := range 3000 {
				m.insert(fmt.Sprint("e", i), wireOf("e", 20+i%50), counterData{bytes: int64(i % 3)})
			}
			chunks := len(m.st.chunks)
			for i := range 3000 {
				if i%4 != 0 {
					m.remove(fmt.Sprint("e", i))
				}
			}
			m.check()
			if len(m.st.chunks) >= chunks {
				t.Errorf("%d chunks after deleting 3/4 of the entries, %d before", len(m.st.chunks), chunks)
			}
			for i := 0; i < 3000; i += 8 {
				m.replace(fmt.Sprint("e", i), wireOf("e", 300))
			}
			m.check()
		}},
		{"oversized records", hashKey, func(m *storeModel) {
			m.insert("small", wireOf("s", 10), counterData{})
			m.insert("big", wireOf("b", maxChunk+100), counterData{packets: 1})
			for i := range 50 {
				m.insert(fmt.Sprint("after", i), wireOf("a", 5000), counterData{})
			}
			m.check()
			m.replace("big", wireOf("b", 2*maxChunk))
			m.check()
			for i := range 50 {
				m.remove(fmt.Sprint("after", i))
			}
			m.check()
			m.remove("small")
			m.check()
			m.remove("big")
			m.check()
		}},
		{"empty drops the arena", hashKey, func(m *storeModel) {
			m.insert("x", wireOf("x", 3), counterData{packets: 1})
			m.remove("x")
			m.check()
			m.insert("x", wireOf("x", 3), counterData{})
			m.check()
		}},
		{"random", few, func(m *storeModel) { randomOps(m, 20000) }},
		{"random, real hash", hashKey, func(m *storeModel) { randomOps(m, 20000) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newStoreModel(t, tc.hash)
			tc.run(m)
			m.check()
		})
	}
}

// randomOps applies n random inserts, modifies, deletes and counter
// updates, checking the store now and then.
func randomOps(m *storeModel, n int) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		key := fmt.Sprint("r", r.IntN(500))
		_, exists := m.wires[key]
		switch op := r.IntN(10); {
		case !exists:
			m.insert(key, wireOf(key, r.IntN(120)), counterData{packets: int64(r.IntN(2))})
		case op < 4:
			m.replace(key, wireOf(key, r.IntN(120)))
		case op < 8:
			m.remove(key)
		default:
			m.setCounter(key, counterData{bytes: int64(r.IntN(3))})
		}
		if i%500 == 0 {
			m.check()
		}
	}
}
