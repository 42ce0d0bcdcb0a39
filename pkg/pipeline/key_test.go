package pipeline

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func exact(id uint32, v []byte) *p4v1.FieldMatch {
	return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: v}}}
}

func lpm(id uint32, v []byte, plen int32) *p4v1.FieldMatch {
	return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: v, PrefixLen: plen}}}
}

func ternary(id uint32, v, mask []byte) *p4v1.FieldMatch {
	return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: v, Mask: mask}}}
}

func rangeMatch(id uint32, lo, hi []byte) *p4v1.FieldMatch {
	return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: lo, High: hi}}}
}

func optional(id uint32, v []byte) *p4v1.FieldMatch {
	return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Optional_{Optional: &p4v1.FieldMatch_Optional{Value: v}}}
}

func other(id uint32, url string, v []byte) *p4v1.FieldMatch {
	return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Other{Other: &anypb.Any{TypeUrl: url, Value: v}}}
}

func withAction(e *p4v1.TableEntry, id uint32, params ...*p4v1.Action_Param) *p4v1.TableEntry {
	e.Action = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: &p4v1.Action{ActionId: id, Params: params}}}
	return e
}

// TestEntryKeyRoundTrip checks every match kind, and the corners the key
// layout once got wrong, through EntryKey/ActionKey -> DecodeEntry.
func TestEntryKeyRoundTrip(t *testing.T) {
	long := bytes.Repeat([]byte{7}, 300)
	cases := []struct {
		name string
		e    *p4v1.TableEntry
		want *p4v1.TableEntry // the decoded entry, when it is not e itself
	}{
		{name: "exact", e: withAction(&p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact(1, []byte{5})}}, 9, &p4v1.Action_Param{ParamId: 1, Value: []byte{1}})},
		{name: "lpm", e: &p4v1.TableEntry{TableId: 2, Match: []*p4v1.FieldMatch{lpm(3, []byte{10, 0, 0, 0}, 8)}}},
		{name: "lpm negative prefix", e: &p4v1.TableEntry{TableId: 2, Match: []*p4v1.FieldMatch{lpm(3, []byte{10}, -1)}}},
		{name: "ternary with priority", e: &p4v1.TableEntry{TableId: 3, Priority: 7, Match: []*p4v1.FieldMatch{ternary(1, []byte{1}, []byte{3})}}},
		{name: "negative priority", e: &p4v1.TableEntry{TableId: 3, Priority: -5, Match: []*p4v1.FieldMatch{ternary(1, []byte{1}, []byte{3})}}},
		{name: "range", e: &p4v1.TableEntry{TableId: 4, Priority: 1, Match: []*p4v1.FieldMatch{rangeMatch(2, []byte{1}, []byte{9})}}},
		{name: "optional", e: &p4v1.TableEntry{TableId: 5, Priority: 1, Match: []*p4v1.FieldMatch{optional(2, []byte{4})}}},
		{name: "other", e: &p4v1.TableEntry{TableId: 6, Match: []*p4v1.FieldMatch{other(2, "type.example/x", []byte{0, 0, 1})}}},
		{name: "other empty", e: &p4v1.TableEntry{TableId: 6, Match: []*p4v1.FieldMatch{other(2, "", nil)}}},
		{name: "unset kind", e: &p4v1.TableEntry{TableId: 7, Match: []*p4v1.FieldMatch{{FieldId: 1}, exact(2, []byte{5})}}},
		{name: "only unset kinds", e: &p4v1.TableEntry{TableId: 7, Match: []*p4v1.FieldMatch{{FieldId: 2}, {FieldId: 1}}},
			want: &p4v1.TableEntry{TableId: 7, Match: []*p4v1.FieldMatch{{FieldId: 1}, {FieldId: 2}}}},
		{name: "empty values", e: &p4v1.TableEntry{TableId: 8, Match: []*p4v1.FieldMatch{exact(1, nil), ternary(2, nil, []byte{})}},
			want: &p4v1.TableEntry{TableId: 8, Match: []*p4v1.FieldMatch{exact(1, []byte{0}), ternary(2, []byte{0}, []byte{0})}}},
		{name: "padded values", e: withAction(&p4v1.TableEntry{TableId: 8, Match: []*p4v1.FieldMatch{exact(1, []byte{0, 0, 5})}}, 1, &p4v1.Action_Param{ParamId: 1, Value: []byte{0, 2}}),
			want: withAction(&p4v1.TableEntry{TableId: 8, Match: []*p4v1.FieldMatch{exact(1, []byte{5})}}, 1, &p4v1.Action_Param{ParamId: 1, Value: []byte{2}})},
		{name: "long values", e: withAction(&p4v1.TableEntry{TableId: 9, Match: []*p4v1.FieldMatch{exact(1, long), other(2, strings.Repeat("u", 200), long)}}, 1, &p4v1.Action_Param{ParamId: 1, Value: long})},
		{name: "default entry", e: withAction(&p4v1.TableEntry{TableId: 10, IsDefaultAction: true}, 4)},
		{name: "default entry with matches", e: &p4v1.TableEntry{TableId: 10, IsDefaultAction: true, Match: []*p4v1.FieldMatch{exact(1, []byte{'D'})}}},
		{name: "field id starting with D", e: &p4v1.TableEntry{TableId: 11, Match: []*p4v1.FieldMatch{exact(0x44000001, []byte{5})}}},
		{name: "value ending with D", e: &p4v1.TableEntry{TableId: 11, Match: []*p4v1.FieldMatch{{FieldId: 0x44}, exact(0x45, []byte{'D'})}}},
		{name: "unsorted matches and params", e: withAction(&p4v1.TableEntry{TableId: 12, Match: []*p4v1.FieldMatch{exact(3, []byte{3}), exact(1, []byte{1}), {FieldId: 2}}}, 1,
			&p4v1.Action_Param{ParamId: 2, Value: []byte{2}}, &p4v1.Action_Param{ParamId: 1, Value: []byte{1}}),
			want: withAction(&p4v1.TableEntry{TableId: 12, Match: []*p4v1.FieldMatch{exact(1, []byte{1}), {FieldId: 2}, exact(3, []byte{3})}}, 1,
				&p4v1.Action_Param{ParamId: 1, Value: []byte{1}}, &p4v1.Action_Param{ParamId: 2, Value: []byte{2}})},
		{name: "action without params", e: withAction(&p4v1.TableEntry{TableId: 13}, 0)},
		{name: "no match, no action", e: &p4v1.TableEntry{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key, action := EntryKey(c.e), ActionKey(c.e)
			d, err := DecodeEntry(key, action)
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			want := c.want
			if want == nil {
				want = c.e
			}
			if !proto.Equal(d, want) {
				t.Errorf("decoded\n %v\nwant\n %v", d, want)
			}
			if EntryKey(d) != key || ActionKey(d) != action {
				t.Errorf("keys of the decoded entry differ: %x / %x, want %x / %x", EntryKey(d), ActionKey(d), key, action)
			}
		})
	}
}

// TestEntryKeyLayout pins the bytes of the common shapes: code outside
// this package (pkg/policy's counter index) writes them without KeyWriter.
func TestEntryKeyLayout(t *testing.T) {
	be := func(v uint32) string { return string(binary.BigEndian.AppendUint32(nil, v)) }
	cases := []struct {
		name string
		e    *p4v1.TableEntry
		key  string
	}{
		{"exact", &p4v1.TableEntry{TableId: 0x01020304, Match: []*p4v1.FieldMatch{exact(2, []byte{0, 0x12, 0x34}), exact(1, []byte{0})}},
			be(0x01020304) + be(0) + be(1) + "e\x01\x00" + be(2) + "e\x02\x12\x34"},
		{"lpm, ternary, priority", &p4v1.TableEntry{TableId: 1, Priority: 3, Match: []*p4v1.FieldMatch{lpm(1, []byte{10}, 8), ternary(2, []byte{1}, []byte{0xff})}},
			be(1) + be(3) + be(1) + "l\x01\x0a" + be(8) + be(2) + "t\x01\x01\x01\xff"},
		{"default", &p4v1.TableEntry{TableId: 1, IsDefaultAction: true}, be(1) + be(0) + "D"},
		{"unset", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{{FieldId: 5}}}, be(1) + be(0) + be(5) + "?"},
		{"254-byte value", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact(1, bytes.Repeat([]byte{1}, 254))}},
			be(1) + be(0) + be(1) + "e\xfe" + strings.Repeat("\x01", 254)},
		{"300-byte value", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact(1, bytes.Repeat([]byte{1}, 300))}},
			be(1) + be(0) + be(1) + "e\xff\xac\x02" + strings.Repeat("\x01", 300)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := EntryKey(c.e); got != c.key {
				t.Errorf("EntryKey = %x, want %x", got, c.key)
			}
		})
	}
	a := withAction(&p4v1.TableEntry{}, 0x0a0b0c0d, &p4v1.Action_Param{ParamId: 2, Value: []byte{0, 9}}, &p4v1.Action_Param{ParamId: 1, Value: nil})
	if got, want := ActionKey(a), be(0x0a0b0c0d)+be(1)+"\x01\x00"+be(2)+"\x01\x09"; got != want {
		t.Errorf("ActionKey = %x, want %x", got, want)
	}
}

// TestKeyWriterMatchesEntryKey builds keys part by part, reusing one
// writer, and compares them with EntryKey and ActionKey.
func TestKeyWriterMatchesEntryKey(t *testing.T) {
	var kw KeyWriter
	var aw ActionWriter
	cases := []struct {
		name   string
		e      *p4v1.TableEntry
		build  func()
		action func()
	}{
		{"every kind, out of order",
			withAction(&p4v1.TableEntry{TableId: 4, Priority: 9, Match: []*p4v1.FieldMatch{optional(6, []byte{6}), other(7, "u", []byte{0, 7}), exact(1, []byte{0, 1}),
				lpm(2, []byte{2}, 24), ternary(3, []byte{3}, []byte{0xf}), rangeMatch(4, []byte{1}, []byte{4}), {FieldId: 5}}}, 3,
				&p4v1.Action_Param{ParamId: 2, Value: []byte{2}}, &p4v1.Action_Param{ParamId: 1, Value: []byte{0, 0, 1}}),
			func() {
				kw.Begin(4, 9, false)
				kw.Unset(5)
				kw.Range(4, []byte{1}, []byte{4})
				kw.Ternary(3, []byte{3}, []byte{0xf})
				kw.Optional(6, []byte{6})
				kw.LPM(2, []byte{2}, 24)
				kw.Exact(1, []byte{1})
				kw.Other(7, []byte("u"), []byte{0, 7})
			},
			func() {
				aw.Begin(3)
				aw.Param(1, []byte{1})
				aw.Param(2, []byte{2})
			}},
		{"default", withAction(&p4v1.TableEntry{TableId: 4, IsDefaultAction: true}, 8),
			func() { kw.Begin(4, 0, true) },
			func() { aw.Begin(8) }},
		{"duplicate field ids in either order", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact(1, []byte{1}), exact(1, []byte{2})}},
			func() {
				kw.Begin(1, 0, false)
				kw.Exact(1, []byte{2})
				kw.Exact(1, []byte{1})
			}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.build()
			if got, want := string(kw.Bytes()), EntryKey(c.e); got != want {
				t.Errorf("KeyWriter: %x, want %x", got, want)
			}
			if c.action != nil {
				c.action()
				if got, want := string(aw.Bytes()), ActionKey(c.e); got != want {
					t.Errorf("ActionWriter: %x, want %x", got, want)
				}
			}
		})
	}
}

func TestReadKeyRejectsMalformedKeys(t *testing.T) {
	head := "\x00\x00\x00\x01\x00\x00\x00\x00"
	cases := []struct{ name, key, action string }{
		{name: "short key", key: "\x00\x00\x00"},
		{name: "truncated match", key: head + "\x00\x00\x01"},
		{name: "unknown tag", key: head + "\x00\x00\x00\x01z\x01\x01"},
		{name: "value past the end", key: head + "\x00\x00\x00\x01e\x05\x01"},
		{name: "missing mask", key: head + "\x00\x00\x00\x01t\x01\x01"},
		{name: "missing prefix length", key: head + "\x00\x00\x00\x01l\x01\x01\x00\x00"},
		{name: "long length past the end", key: head + "\x00\x00\x00\x01e\xff\xac\x02\x01"},
		{name: "unterminated uvarint", key: head + "\x00\x00\x00\x01e\xff\xff\xff"},
		{name: "uvarint overflow", key: head + "\x00\x00\x00\x01e\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"},
		{name: "default marker not last", key: head + "D\x00\x00\x00\x01?"},
		{name: "short action", key: head, action: "\x00\x01"},
		{name: "truncated param", key: head, action: "\x00\x00\x00\x01\x00\x00\x00\x02\x03\x01"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeEntry(c.key, c.action)
			if !errors.Is(err, errKey) {
				t.Errorf("DecodeEntry(%x, %x) = %v, want a malformed-key error", c.key, c.action, err)
			}
		})
	}
}

func TestKeyTableID(t *testing.T) {
	e := &p4v1.TableEntry{TableId: 0xdeadbeef}
	if got := KeyTableID(EntryKey(e)); got != 0xdeadbeef {
		t.Errorf("KeyTableID(string) = %x", got)
	}
	if got := KeyTableID([]byte(EntryKey(e))); got != 0xdeadbeef {
		t.Errorf("KeyTableID([]byte) = %x", got)
	}
	if got := KeyTableID("ab"); got != 0 {
		t.Errorf("KeyTableID of a short key = %x, want 0", got)
	}
}
