package p4rtsim

// Compact storage of a table's entries: records in append-only chunks
// and a hash index of their offsets (entryStore).

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"
	"iter"
	"slices"
)

// entryStore holds one table's entries in little more memory than their
// encodings take, so that a process can simulate a thousand switches of
// tens of thousands of entries each.
//
// Entries are records appended to chunks of bytes (the arena):
//
//	header  uvarint: size<<1 | dead
//	body    size bytes: uvarint(len(key)) key uvarint(len(wire)) wire, then slack
//
// where key is the entry's EntryKey without its table id and wire the
// stored encoding (see storedWire). A record is named by its ref: chunk
// index<<chunkBits | offset in the chunk. A deleted record is marked dead
// in place; a modified one is rewritten in place when the new encoding
// fits its body and moved to the end of the arena otherwise. When dead
// records and slack take more than a quarter of the arena it is compacted
// in place, keeping the records' order.
//
// The index is an open-addressing hash table (linear probing, backward
// shift deletion) of uint64 slots: the key's 32-bit hash<<32 | ref+1, 0
// for an empty slot. It holds no pointers and no per-entry string: a
// lookup compares the key with the record's only when the hashes agree.
// Callers hash keys (hashKey); the store only keeps the hashes.
//
// Direct counters live in a sparse map by ref, holding only the nonzero
// ones. Chunks never move, but refs do (on a move or a compaction):
// callers must not keep a ref or a record's bytes across a change.
type entryStore struct {
	chunks   [][]byte
	slots    []uint64
	n        int // live entries
	used     int // bytes of records, live or dead, in chunks
	waste    int // bytes of dead records and of live records' slack
	counters map[uint32]counterData
}

const (
	// chunkBits is the width of a ref's offset: chunks take at most
	// maxChunk bytes, except one that holds a single larger record.
	chunkBits  = 18
	maxChunk   = 1 << chunkBits
	firstChunk = 512
	// maxChunks keeps ref+1 within 32 bits: an arena holds up to ~4 GiB.
	maxChunks = 1<<(32-chunkBits) - 1
	minSlots  = 8
	// compactMin is the least waste worth a compaction.
	compactMin = 1024
)

var hashSeed = maphash.MakeSeed()

// hashKey is the 32-bit hash the index files key under.
func hashKey(key []byte) uint32 {
	h := maphash.Bytes(hashSeed, key)
	return uint32(h) ^ uint32(h>>32)
}

// uvarintLen is the length of v's uvarint encoding.
func uvarintLen(v int) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

// bodyLen is the size of a record body holding key and wire, no slack.
func bodyLen(key, wire int) int { return uvarintLen(key) + key + uvarintLen(wire) + wire }

// recordLen is the size of a record with a body of size bytes.
func recordLen(size int) int { return uvarintLen(size<<1) + size }

// record is a record's header and body, decoded.
type record struct {
	total   int  // bytes the record takes in its chunk
	size    int  // body size
	used    int  // body bytes in use (size less slack)
	dead    bool // deleted or moved
	key     []byte
	wire    []byte
	wireOff int // offset of the wire's length in the record
}

// readRecord decodes the record b starts with (our own bytes: they are
// well formed).
func readRecord(b []byte) record {
	hdr, n := binary.Uvarint(b)
	size := int(hdr >> 1)
	body := b[n : n+size]
	kl, m := binary.Uvarint(body)
	key := body[m : m+int(kl) : m+int(kl)]
	at := m + int(kl)
	wl, p := binary.Uvarint(body[at:])
	wire := body[at+p : at+p+int(wl) : at+p+int(wl)]
	return record{total: n + size, size: size, used: at + p + int(wl), dead: hdr&1 != 0, key: key, wire: wire, wireOff: n + at}
}

// writeRecord writes a live record with a body of size bytes into dst,
// which must hold recordLen(size) bytes. Its writes never overtake its
// reads, so key and wire may be a record at or after dst in the same
// chunk (compaction).
func writeRecord(dst []byte, size int, key, wire []byte) {
	b := binary.AppendUvarint(dst[:0], uint64(size)<<1)
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(wire)))
	_ = append(b, wire...)
}

func refOf(chunk, off int) uint32 { return uint32(chunk)<<chunkBits | uint32(off) }

// at returns the bytes from ref to the end of its chunk.
func (st *entryStore) at(ref uint32) []byte {
	return st.chunks[ref>>chunkBits][ref&(maxChunk-1):]
}

// fits reports whether a record of total bytes can start at off in c: a
// ref's offset has chunkBits, so only offset 0 of an oversized chunk is
// addressable.
func fits(c []byte, off, total int) bool {
	return off+total <= cap(c) && (off == 0 || off+total <= maxChunk)
}

// alloc reserves total bytes at the end of the arena. It fails when the
// arena has no room for another chunk.
func (st *entryStore) alloc(total int) (uint32, []byte, bool) {
	if k := len(st.chunks); k > 0 {
		c := st.chunks[k-1]
		if off := len(c); fits(c, off, total) {
			st.chunks[k-1] = c[:off+total]
			st.used += total
			return refOf(k-1, off), c[off : off+total], true
		}
	}
	k := len(st.chunks)
	if k >= maxChunks {
		return 0, nil, false
	}
	size := max(min(firstChunk<<min(k, chunkBits), maxChunk), total)
	c := make([]byte, total, size)
	st.chunks = append(st.chunks, c)
	st.used += total
	return refOf(k, 0), c, true
}

// count is the number of entries.
func (st *entryStore) count() int { return st.n }

// find looks key (hash h) up. It returns the slot that holds it, or the
// empty slot that ends its probe sequence.
func (st *entryStore) find(h uint32, key []byte) (slot int, ref uint32, ok bool) {
	if len(st.slots) == 0 {
		return -1, 0, false
	}
	mask := len(st.slots) - 1
	for i := int(h) & mask; ; i = (i + 1) & mask {
		s := st.slots[i]
		if s == 0 {
			return i, 0, false
		}
		if uint32(s>>32) == h {
			r := uint32(s) - 1
			if bytes.Equal(readRecord(st.at(r)).key, key) {
				return i, r, true
			}
		}
	}
}

// place files ref under h.
func (st *entryStore) place(h, ref uint32) {
	mask := len(st.slots) - 1
	i := int(h) & mask
	for st.slots[i] != 0 {
		i = (i + 1) & mask
	}
	st.slots[i] = uint64(h)<<32 | uint64(ref+1)
}

// unplace empties slot i, shifting back the entries after it that would
// no longer be found.
func (st *entryStore) unplace(i int) {
	mask := len(st.slots) - 1
	for {
		st.slots[i] = 0
		j := i
		for {
			j = (j + 1) & mask
			s := st.slots[j]
			if s == 0 {
				return
			}
			home := int(uint32(s>>32)) & mask
			if (j-home)&mask >= (j-i)&mask { // i is between home and j
				st.slots[i] = s
				i = j
				break
			}
		}
	}
}

// slotsFor is the index size for n entries: a power of two, at most 3/4
// full.
func slotsFor(n int) int {
	s := minSlots
	for s*3 < n*4 {
		s *= 2
	}
	return s
}

func (st *entryStore) resize(size int) {
	old := st.slots
	st.slots = make([]uint64, size)
	for _, s := range old {
		if s != 0 {
			st.place(uint32(s>>32), uint32(s)-1)
		}
	}
}

// insert adds an entry that find did not find and returns its ref. It
// fails when the arena is full.
func (st *entryStore) insert(h uint32, key, wire []byte) (uint32, bool) {
	if (st.n+1)*4 > len(st.slots)*3 {
		st.resize(slotsFor(st.n + 1))
	}
	size := bodyLen(len(key), len(wire))
	ref, dst, ok := st.alloc(recordLen(size))
	if !ok {
		return 0, false
	}
	writeRecord(dst, size, key, wire)
	st.place(h, ref)
	st.n++
	return ref, true
}

// replace sets the wire of the entry find found at slot and ref, and
// returns its ref, which changes when the entry moves. It fails when the
// entry has to move and the arena is full. It leaves the arena's
// compaction to tidy, so that the ref stays good for a setCounter.
func (st *entryStore) replace(slot int, ref uint32, wire []byte) (uint32, bool) {
	b := st.at(ref)
	r := readRecord(b)
	need := r.wireOff - (r.total - r.size) + uvarintLen(len(wire)) + len(wire)
	if need <= r.size {
		w := binary.AppendUvarint(b[r.wireOff:r.wireOff], uint64(len(wire)))
		_ = append(w, wire...)
		st.waste += r.used - need
		return ref, true
	}
	size := bodyLen(len(r.key), len(wire))
	to, dst, ok := st.alloc(recordLen(size))
	if !ok {
		return ref, false
	}
	writeRecord(dst, size, r.key, wire)
	b[0] |= 1 // dead: the flag is the header's low bit
	st.waste += r.total - (r.size - r.used)
	st.slots[slot] = st.slots[slot]&^(1<<32-1) | uint64(to+1)
	if c, ok := st.counters[ref]; ok {
		delete(st.counters, ref)
		st.counters[to] = c
	}
	return to, true
}

// remove deletes the entry find found at slot and ref.
func (st *entryStore) remove(slot int, ref uint32) {
	b := st.at(ref)
	r := readRecord(b)
	b[0] |= 1
	st.waste += r.total - (r.size - r.used)
	st.n--
	delete(st.counters, ref)
	st.unplace(slot)
	st.tidy()
}

// wire returns the stored encoding of the entry at ref; it aliases the
// arena.
func (st *entryStore) wire(ref uint32) []byte { return readRecord(st.at(ref)).wire }

// all yields every entry's ref and stored encoding, in the order of the
// arena (insertion order, except that a modify that grows an entry moves
// it to the end). The encodings alias the arena.
func (st *entryStore) all() iter.Seq2[uint32, []byte] {
	return func(yield func(uint32, []byte) bool) {
		for c, buf := range st.chunks {
			for off := 0; off < len(buf); {
				r := readRecord(buf[off:])
				if !r.dead && !yield(refOf(c, off), r.wire) {
					return
				}
				off += r.total
			}
		}
	}
}

// counter returns the direct counter of the entry at ref.
func (st *entryStore) counter(ref uint32) counterData { return st.counters[ref] }

// setCounter sets the direct counter of the entry at ref.
func (st *entryStore) setCounter(ref uint32, c counterData) {
	if c == (counterData{}) {
		delete(st.counters, ref)
		return
	}
	if st.counters == nil {
		st.counters = map[uint32]counterData{}
	}
	st.counters[ref] = c
}

// tidy compacts the arena when it holds too much waste, and drops it when
// it holds no entry. It invalidates refs.
func (st *entryStore) tidy() {
	switch {
	case st.n == 0:
		*st = entryStore{} // let the arena and the index go
	case st.waste >= compactMin && st.waste*4 > st.used:
		st.compact()
	}
}

// compact slides the live records to the front of the arena, in order and
// without slack, drops the chunks left empty at the end and points the
// index at the records' new places. A record never moves past where it
// was, so the copying is in place; the index keeps its slots (their
// hashes do not change), and shrinks if it is far too large.
func (st *entryStore) compact() {
	var counters map[uint32]counterData
	if len(st.counters) > 0 {
		counters = make(map[uint32]counterData, len(st.counters))
	}
	// The live records' refs, before and after. The arena is walked in
	// the order of refs, so froms is sorted.
	froms, tos := make([]uint32, 0, st.n), make([]uint32, 0, st.n)
	w, wo, used := 0, 0, 0 // where the next record goes, and the bytes written
	for c, buf := range st.chunks {
		end := len(buf)
		for off := 0; off < end; {
			r := readRecord(buf[off:end])
			next := off + r.total
			if !r.dead {
				size := bodyLen(len(r.key), len(r.wire))
				total := recordLen(size)
				for !fits(st.chunks[w], wo, total) {
					st.chunks[w] = st.chunks[w][:wo]
					w, wo = w+1, 0
				}
				from, to := refOf(c, off), refOf(w, wo)
				dst := st.chunks[w][:cap(st.chunks[w])]
				writeRecord(dst[wo:wo+total], size, r.key, r.wire)
				froms, tos = append(froms, from), append(tos, to)
				if cnt, ok := st.counters[from]; ok {
					counters[to] = cnt
				}
				wo += total
				used += total
			}
			off = next
		}
	}
	st.chunks[w] = st.chunks[w][:wo]
	clear(st.chunks[w+1:])
	st.chunks = st.chunks[:w+1]
	st.used, st.waste, st.counters = used, 0, counters
	for i, s := range st.slots {
		if s != 0 {
			k, _ := slices.BinarySearch(froms, uint32(s)-1)
			st.slots[i] = s&^(1<<32-1) | uint64(tos[k]+1)
		}
	}
	if want := slotsFor(st.n); len(st.slots) > 4*want {
		st.resize(want)
	}
}
