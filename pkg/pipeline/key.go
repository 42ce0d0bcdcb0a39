package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// The compact encodings of a table entry: its entry key (identity) and its
// action key. This file is the only place that knows their layout; every
// other piece of code writes them with KeyWriter and ActionWriter and reads
// them with ReadKey and ReadAction.
//
// An entry key is
//
//	table id     4 bytes, big endian
//	priority     4 bytes, big endian (the int32's bits)
//	matches      zero or more, in the order of their encoded bytes
//	'D'          only for a table's default entry (is_default_action)
//
// and a match is its field id (4 bytes, big endian, so matches sort by
// field id first), a tag naming its kind and the kind's values:
//
//	'e' value           exact
//	'l' value plen      LPM; plen is the prefix length's int32 bits, 4 bytes big endian
//	't' value mask      ternary
//	'r' low high        range
//	'o' value           optional
//	'x' url value       other: the Any's type URL and value
//	'?'                 no match kind set
//
// A value is its length, then its bytes. Values are canonical (Canonical:
// no leading zero bytes, zero is one byte), except the two of an 'x',
// which are kept as they are. A length below 255 is one byte; a longer one
// is the byte 255 followed by the length as a uvarint. The default marker
// comes last: a match takes at least five bytes, so a single byte left
// after the matches can only be the marker.
//
// An action key is the action id (4 bytes, big endian), then each param:
// its id (4 bytes, big endian) and canonical value, in the order of their
// encoded bytes (so by param id). An entry without a direct action (none,
// or an action profile member or group) has the empty action key.

// MatchTag is the byte an entry key marks a match's kind with.
type MatchTag byte

// The match kinds an entry key distinguishes.
const (
	TagExact    MatchTag = 'e'
	TagLPM      MatchTag = 'l'
	TagTernary  MatchTag = 't'
	TagRange    MatchTag = 'r'
	TagOptional MatchTag = 'o'
	TagOther    MatchTag = 'x' // FieldMatch.other, an Any
	TagUnset    MatchTag = '?' // a FieldMatch without a match kind
)

const (
	keyHead       = 8   // table id, priority
	actionHead    = 4   // action id
	defaultMarker = 'D' // the last byte of a default entry's key
	longValue     = 255 // length byte that announces a uvarint length
)

// segments is the part of a key KeyWriter and ActionWriter share: a fixed
// head, then self-delimiting segments (matches or params) kept in the
// order of their bytes however they were added.
type segments struct {
	b      []byte
	last   int    // start of the last segment
	lastID uint32 // its field or param id
	n      int    // segments written
	sorted bool   // the segments so far are in order
	spans  [][2]int
	tmp    []byte
}

func (s *segments) reset() {
	s.b, s.last, s.n, s.sorted = s.b[:0], 0, 0, true
}

// added records that the segment starting at start, whose first four
// bytes are id, has been appended.
func (s *segments) added(start int, id uint32) {
	if s.n > 0 && s.sorted && (id < s.lastID || id == s.lastID && bytes.Compare(s.b[s.last:start], s.b[start:]) > 0) {
		s.sorted = false
	}
	s.last, s.lastID = start, id
	s.n++
}

// order sorts the segments after the head of head bytes, finding their
// bounds with next (which returns the length of the segment b starts
// with).
func (s *segments) order(head int, next func(b []byte) int) {
	if s.sorted {
		return
	}
	s.spans = s.spans[:0]
	for at := head; at < len(s.b); {
		n := next(s.b[at:])
		s.spans = append(s.spans, [2]int{at, at + n})
		at += n
	}
	b := s.b
	slices.SortFunc(s.spans, func(x, y [2]int) int { return bytes.Compare(b[x[0]:x[1]], b[y[0]:y[1]]) })
	out := append(s.tmp[:0], b[:head]...)
	for _, sp := range s.spans {
		out = append(out, b[sp[0]:sp[1]]...)
	}
	s.b, s.tmp = out, b
	s.sorted = true
}

func appendLen(b []byte, n int) []byte {
	if n < longValue {
		return append(b, byte(n))
	}
	return binary.AppendUvarint(append(b, longValue), uint64(n))
}

func appendCanonical(b, v []byte) []byte {
	v = Canonical(v)
	return append(appendLen(b, len(v)), v...)
}

func appendRaw(b, v []byte) []byte { return append(appendLen(b, len(v)), v...) }

// KeyWriter builds entry keys (EntryKey's encoding) from their parts, for
// code that has an entry in another form than a message (the raw read
// parser of pkg/p4rt builds keys straight from wire bytes). Each key is
// Begin, the matches in any order, then Bytes. A KeyWriter reuses its
// buffers from key to key; its zero value is ready to use.
type KeyWriter struct {
	seg segments
	def bool
}

// Begin starts the key of an entry of the given table and priority;
// isDefault marks the table's default entry. It drops the key written
// before.
func (w *KeyWriter) Begin(table uint32, priority int32, isDefault bool) {
	w.seg.reset()
	w.seg.b = binary.BigEndian.AppendUint32(w.seg.b, table)
	w.seg.b = binary.BigEndian.AppendUint32(w.seg.b, uint32(priority))
	w.def = isDefault
}

func (w *KeyWriter) start(field uint32, tag MatchTag) int {
	at := len(w.seg.b)
	w.seg.b = append(binary.BigEndian.AppendUint32(w.seg.b, field), byte(tag))
	return at
}

// Exact adds an exact match of field.
func (w *KeyWriter) Exact(field uint32, value []byte) {
	at := w.start(field, TagExact)
	w.seg.b = appendCanonical(w.seg.b, value)
	w.seg.added(at, field)
}

// LPM adds a longest-prefix match of field.
func (w *KeyWriter) LPM(field uint32, value []byte, prefixLen int32) {
	at := w.start(field, TagLPM)
	w.seg.b = binary.BigEndian.AppendUint32(appendCanonical(w.seg.b, value), uint32(prefixLen))
	w.seg.added(at, field)
}

// Ternary adds a ternary match of field.
func (w *KeyWriter) Ternary(field uint32, value, mask []byte) {
	at := w.start(field, TagTernary)
	w.seg.b = appendCanonical(appendCanonical(w.seg.b, value), mask)
	w.seg.added(at, field)
}

// Range adds a range match of field.
func (w *KeyWriter) Range(field uint32, low, high []byte) {
	at := w.start(field, TagRange)
	w.seg.b = appendCanonical(appendCanonical(w.seg.b, low), high)
	w.seg.added(at, field)
}

// Optional adds an optional match of field.
func (w *KeyWriter) Optional(field uint32, value []byte) {
	at := w.start(field, TagOptional)
	w.seg.b = appendCanonical(w.seg.b, value)
	w.seg.added(at, field)
}

// Other adds an architecture-specific match of field (FieldMatch.other):
// the Any's type URL and value, kept byte for byte.
func (w *KeyWriter) Other(field uint32, typeURL, value []byte) {
	at := w.start(field, TagOther)
	w.seg.b = appendRaw(appendRaw(w.seg.b, typeURL), value)
	w.seg.added(at, field)
}

// Unset adds a match of field that names no match kind.
func (w *KeyWriter) Unset(field uint32) {
	w.seg.added(w.start(field, TagUnset), field)
}

// Match adds m, whatever its kind.
func (w *KeyWriter) Match(m *p4v1.FieldMatch) {
	id := m.GetFieldId()
	switch mt := m.GetFieldMatchType().(type) {
	case *p4v1.FieldMatch_Exact_:
		w.Exact(id, mt.Exact.GetValue())
	case *p4v1.FieldMatch_Lpm:
		w.LPM(id, mt.Lpm.GetValue(), mt.Lpm.GetPrefixLen())
	case *p4v1.FieldMatch_Ternary_:
		w.Ternary(id, mt.Ternary.GetValue(), mt.Ternary.GetMask())
	case *p4v1.FieldMatch_Range_:
		w.Range(id, mt.Range.GetLow(), mt.Range.GetHigh())
	case *p4v1.FieldMatch_Optional_:
		w.Optional(id, mt.Optional.GetValue())
	case *p4v1.FieldMatch_Other:
		w.Other(id, []byte(mt.Other.GetTypeUrl()), mt.Other.GetValue())
	default:
		w.Unset(id)
	}
}

// Bytes finishes the key and returns it. It is valid until the next
// Begin; add nothing after calling it.
func (w *KeyWriter) Bytes() []byte {
	if len(w.seg.b) < keyHead {
		w.Begin(0, 0, false) // a zero KeyWriter writes the key of a zero entry
	}
	w.seg.order(keyHead, func(b []byte) int {
		m, _ := readMatch(b) // our own bytes: never fails
		return m.n
	})
	if w.def {
		w.seg.b = append(w.seg.b, defaultMarker)
		w.def = false
	}
	return w.seg.b
}

// ActionWriter builds action keys (ActionKey's encoding) from their parts:
// Begin, the params in any order, then Bytes. An ActionWriter reuses its
// buffers from key to key; its zero value is ready to use.
type ActionWriter struct {
	seg segments
}

// Begin starts the key of the direct action with the given id. It drops
// the key written before.
func (w *ActionWriter) Begin(action uint32) {
	w.seg.reset()
	w.seg.b = binary.BigEndian.AppendUint32(w.seg.b, action)
}

// Param adds a param of the action.
func (w *ActionWriter) Param(id uint32, value []byte) {
	at := len(w.seg.b)
	w.seg.b = appendCanonical(binary.BigEndian.AppendUint32(w.seg.b, id), value)
	w.seg.added(at, id)
}

// Bytes finishes the key and returns it. It is valid until the next
// Begin; add nothing after calling it.
func (w *ActionWriter) Bytes() []byte {
	if len(w.seg.b) < actionHead {
		w.Begin(0)
	}
	w.seg.order(actionHead, func(b []byte) int {
		_, _, n, _ := readParam(b) // our own bytes: never fails
		return n
	})
	return w.seg.b
}

// KeyMatch is one match of an entry key.
type KeyMatch struct {
	Field uint32
	Tag   MatchTag
	// V1 and V2 are the match's values: the value of an exact, LPM or
	// optional match (V2 empty); value and mask of a ternary one; low and
	// high of a range; type URL and value of an other. An unset match has
	// neither.
	V1, V2    string
	PrefixLen int32 // LPM only
}

var errKey = errors.New("malformed entry key")

// bytesOrString is what the key parsers read: keys are strings where they
// are stored and byte slices where they are being built.
type bytesOrString interface{ ~string | ~[]byte }

func be32[S bytesOrString](s S) uint32 {
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

// readValue reads the length-prefixed value at s[at:] and returns its
// bounds in s.
func readValue[S bytesOrString](s S, at int) (lo, hi int, err error) {
	if at >= len(s) {
		return 0, 0, errKey
	}
	n := uint64(s[at])
	at++
	if n == longValue {
		n = 0
		for shift := 0; ; shift += 7 {
			if at >= len(s) || shift > 63 {
				return 0, 0, errKey
			}
			c := s[at]
			at++
			n |= uint64(c&0x7f) << shift
			if c < 0x80 {
				break
			}
		}
	}
	if n > uint64(len(s)-at) {
		return 0, 0, errKey
	}
	return at, at + int(n), nil
}

// matchPos is a match of an entry key as bounds in the bytes it was read
// from.
type matchPos struct {
	field  uint32
	tag    MatchTag
	v1, v2 [2]int
	plen   int32
	n      int // the match's length
}

// readMatch reads the match s starts with.
func readMatch[S bytesOrString](s S) (matchPos, error) {
	if len(s) < 5 {
		return matchPos{}, fmt.Errorf("%w: truncated match", errKey)
	}
	m := matchPos{field: be32(s), tag: MatchTag(s[4]), n: 5}
	values := 0
	switch m.tag {
	case TagExact, TagOptional, TagLPM:
		values = 1
	case TagTernary, TagRange, TagOther:
		values = 2
	case TagUnset:
	default:
		return matchPos{}, fmt.Errorf("%w: unknown match tag %q", errKey, s[4])
	}
	for i := 0; i < values; i++ {
		lo, hi, err := readValue(s, m.n)
		if err != nil {
			return matchPos{}, fmt.Errorf("%w: truncated value of field %d", errKey, m.field)
		}
		if i == 0 {
			m.v1 = [2]int{lo, hi}
		} else {
			m.v2 = [2]int{lo, hi}
		}
		m.n = hi
	}
	if m.tag == TagLPM {
		if len(s)-m.n < 4 {
			return matchPos{}, fmt.Errorf("%w: truncated prefix length of field %d", errKey, m.field)
		}
		m.plen = int32(be32(s[m.n:]))
		m.n += 4
	}
	return m, nil
}

// readParam reads the param s starts with and returns its id, the bounds
// of its value in s and its length.
func readParam[S bytesOrString](s S) (id uint32, lo, hi int, err error) {
	if len(s) < 5 {
		return 0, 0, 0, fmt.Errorf("%w: truncated param in action key", errKey)
	}
	lo, hi, err = readValue(s, 4)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("%w: truncated param value in action key", errKey)
	}
	return be32(s), lo, hi, nil
}

// KeyTableID returns the table id an entry key starts with (0 for a key
// too short to hold one).
func KeyTableID[K ~string | ~[]byte](key K) uint32 {
	if len(key) < 4 {
		return 0
	}
	return be32(key)
}

// KeyReader reads an entry key: the fields of its head at once, its
// matches one by one with Next, in key order.
type KeyReader struct {
	Table     uint32
	Priority  int32
	IsDefault bool
	rest      string // the matches not read yet
}

// ReadKey checks all of key and returns a reader of it.
func ReadKey(key string) (KeyReader, error) {
	if len(key) < keyHead {
		return KeyReader{}, fmt.Errorf("%w: %d bytes is too short", errKey, len(key))
	}
	r := KeyReader{Table: be32(key), Priority: int32(be32(key[4:]))}
	ms := key[keyHead:]
	for s := ms; len(s) > 0; {
		if len(s) == 1 && s[0] == defaultMarker {
			r.IsDefault = true
			ms = ms[:len(ms)-1]
			break
		}
		m, err := readMatch(s)
		if err != nil {
			return KeyReader{}, err
		}
		s = s[m.n:]
	}
	r.rest = ms
	return r, nil
}

// Next returns the next match, or false after the last one.
func (r *KeyReader) Next() (KeyMatch, bool) {
	if r.rest == "" {
		return KeyMatch{}, false
	}
	p, err := readMatch(r.rest)
	if err != nil { // ReadKey checked the key: not reached
		r.rest = ""
		return KeyMatch{}, false
	}
	m := KeyMatch{Field: p.field, Tag: p.tag, V1: r.rest[p.v1[0]:p.v1[1]], V2: r.rest[p.v2[0]:p.v2[1]], PrefixLen: p.plen}
	r.rest = r.rest[p.n:]
	return m, true
}

// ActionReader reads an action key: the action id at once, the params one
// by one with Next, in key order.
type ActionReader struct {
	// Direct is false for the empty action key (no direct action); the
	// reader has nothing else to read then.
	Direct   bool
	ActionID uint32
	rest     string
}

// ReadAction checks all of action and returns a reader of it.
func ReadAction(action string) (ActionReader, error) {
	if action == "" {
		return ActionReader{}, nil
	}
	if len(action) < actionHead {
		return ActionReader{}, fmt.Errorf("%w: action key of %d bytes is too short", errKey, len(action))
	}
	for s := action[actionHead:]; len(s) > 0; {
		_, _, n, err := readParam(s)
		if err != nil {
			return ActionReader{}, err
		}
		s = s[n:]
	}
	return ActionReader{Direct: true, ActionID: be32(action), rest: action[actionHead:]}, nil
}

// Next returns the next param's id and value, or false after the last.
func (r *ActionReader) Next() (id uint32, value string, ok bool) {
	if r.rest == "" {
		return 0, "", false
	}
	id, lo, hi, err := readParam(r.rest)
	if err != nil { // ReadAction checked the key: not reached
		r.rest = ""
		return 0, "", false
	}
	value = r.rest[lo:hi]
	r.rest = r.rest[hi:]
	return id, value, true
}
