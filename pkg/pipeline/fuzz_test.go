package pipeline

import (
	"bytes"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
)

// FuzzCheckEntry feeds arbitrary wire bytes, decoded as a TableEntry, to
// the validator that p4rtsim runs on every update from the network: it must
// never panic, and an entry it accepts must keep its key through
// normalization.
func FuzzCheckEntry(f *testing.F) {
	in := testInfo(f)
	seed := func(b *EntryBuilder) {
		e, err := b.Build()
		if err != nil {
			f.Fatal(err)
		}
		w, err := proto.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(w)
	}
	seed(in.NewEntry("ports").Exact("ingress_port", Uint(5)).Action("set_port", P("segment", Uint(1)), P("role", Uint(2))))
	seed(in.NewEntry("dst").Exact("segment", Uint(1)).LPM("dst_ip", []byte{10, 0, 0, 0}, 8).Action("allow"))
	seed(in.NewEntry("policy").Ternary("src", Uint(1), Uint(3)).Range("dport", Uint(1), Uint(9)).Optional("vlan", Uint(4)).Priority(2).Action("drop"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, wire []byte) {
		var e p4v1.TableEntry
		if proto.Unmarshal(wire, &e) != nil {
			return
		}
		if err := in.CheckEntry(&e); err != nil {
			return
		}
		n := NormalizeEntry(&e)
		if EntryKey(n) != EntryKey(&e) {
			t.Fatalf("normalization changed the key of %v", &e)
		}
		if err := in.CheckEntry(n); err != nil {
			t.Fatalf("normalized form of a valid entry is invalid: %v", err)
		}
	})
}

// FuzzCompactRoundTrip checks that every valid entry survives EntryKey +
// ActionKey -> DecodeEntry as its normalized form, and that DecodeEntry
// never panics on arbitrary keys.
func FuzzCompactRoundTrip(f *testing.F) {
	in := testInfo(f)
	for _, b := range []*EntryBuilder{
		in.NewEntry("ports").Exact("ingress_port", Uint(5)).Action("set_port", P("segment", Uint(1)), P("role", Uint(2))),
		in.NewEntry("dst").Exact("segment", Uint(1)).LPM("dst_ip", []byte{10, 0, 0, 0}, 8).Action("allow"),
		in.NewEntry("policy").Ternary("src", Uint(1), Uint(3)).Range("dport", Uint(1), Uint(9)).Optional("vlan", Uint(4)).Priority(2).Action("drop"),
	} {
		e, err := b.Build()
		if err != nil {
			f.Fatal(err)
		}
		w, _ := proto.Marshal(e)
		f.Add(w, EntryKey(e))
	}
	f.Fuzz(func(t *testing.T, wire []byte, rawKey string) {
		_, _ = DecodeEntry(rawKey, rawKey) // must not panic
		var e p4v1.TableEntry
		if proto.Unmarshal(wire, &e) != nil || in.CheckEntry(&e) != nil {
			return
		}
		d, err := DecodeEntry(EntryKey(&e), ActionKey(&e))
		if err != nil {
			t.Fatalf("decode of a valid entry's keys: %v", err)
		}
		// The compact form is an entry's identity and action: table, match,
		// priority, default flag and action. Everything else a TableEntry can
		// carry (device-reported counters, meter data, hit time, is_const;
		// metadata, idle timeout and meter settings p4ctl does not use) and
		// unknown fields at any depth are outside it, so the expectation is
		// rebuilt from those fields alone, message by message. (Re-encoding a
		// partial copy and decoding it with DiscardUnknown once let a
		// controller_metadata value back into the expectation.)
		n := compactView(NormalizeEntry(&e))
		if !proto.Equal(d, n) {
			t.Fatalf("round trip changed the entry:\n got %v\nwant %v", d, n)
		}
	})
}

// compactView returns a fresh entry holding only the fields the compact
// form keeps: no unknown fields, nothing shared with e.
func compactView(e *p4v1.TableEntry) *p4v1.TableEntry {
	n := &p4v1.TableEntry{TableId: e.GetTableId(), Priority: e.GetPriority(), IsDefaultAction: e.GetIsDefaultAction()}
	for _, m := range e.GetMatch() {
		fm := &p4v1.FieldMatch{FieldId: m.GetFieldId()}
		switch {
		case m.GetExact() != nil:
			fm.FieldMatchType = &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: m.GetExact().GetValue()}}
		case m.GetLpm() != nil:
			fm.FieldMatchType = &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: m.GetLpm().GetValue(), PrefixLen: m.GetLpm().GetPrefixLen()}}
		case m.GetTernary() != nil:
			fm.FieldMatchType = &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: m.GetTernary().GetValue(), Mask: m.GetTernary().GetMask()}}
		case m.GetRange() != nil:
			fm.FieldMatchType = &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: m.GetRange().GetLow(), High: m.GetRange().GetHigh()}}
		case m.GetOptional() != nil:
			fm.FieldMatchType = &p4v1.FieldMatch_Optional_{Optional: &p4v1.FieldMatch_Optional{Value: m.GetOptional().GetValue()}}
		}
		n.Match = append(n.Match, fm)
	}
	if a := e.GetAction().GetAction(); a != nil {
		act := &p4v1.Action{ActionId: a.GetActionId()}
		for _, p := range a.GetParams() {
			act.Params = append(act.Params, &p4v1.Action_Param{ParamId: p.GetParamId(), Value: p.GetValue()})
		}
		n.Action = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: act}}
	}
	return n
}

// fuzzBytes hands out a fuzzer's input piece by piece, and zeros once it
// runs out.
type fuzzBytes struct{ b []byte }

func (f *fuzzBytes) byte() byte {
	if len(f.b) == 0 {
		return 0
	}
	c := f.b[0]
	f.b = f.b[1:]
	return c
}

func (f *fuzzBytes) uint32() uint32 {
	return uint32(f.byte())<<24 | uint32(f.byte())<<16 | uint32(f.byte())<<8 | uint32(f.byte())
}

// bytes returns a value: usually short, sometimes long enough to need a
// long length (a repeated byte), sometimes empty.
func (f *fuzzBytes) bytes() []byte {
	n := int(f.byte())
	if n >= 250 {
		return bytes.Repeat([]byte{f.byte()}, 200+(n-250)*40)
	}
	n %= 9
	v := make([]byte, n)
	for i := range v {
		v[i] = f.byte()
	}
	return v
}

// fuzzEntry builds an arbitrary TableEntry, valid or not, from the input:
// any table, priority and default flag, up to 16 matches of every kind
// (unset included) with any field ids, and maybe a direct action.
func fuzzEntry(f *fuzzBytes) *p4v1.TableEntry {
	e := &p4v1.TableEntry{TableId: f.uint32(), Priority: int32(f.uint32())}
	flags := f.byte()
	e.IsDefaultAction = flags&1 != 0
	for range int(flags>>1) % 17 {
		id := f.uint32()
		if f.byte()&1 == 0 {
			id &= 0xff // small ids, so that they repeat
		}
		var m *p4v1.FieldMatch
		switch f.byte() % 8 {
		case 0:
			m = exact(id, f.bytes())
		case 1:
			m = lpm(id, f.bytes(), int32(f.uint32()))
		case 2:
			m = ternary(id, f.bytes(), f.bytes())
		case 3:
			m = rangeMatch(id, f.bytes(), f.bytes())
		case 4:
			m = optional(id, f.bytes())
		case 5:
			m = other(id, string(f.bytes()), f.bytes())
		default:
			m = &p4v1.FieldMatch{FieldId: id} // no match kind
		}
		e.Match = append(e.Match, m)
	}
	if c := f.byte(); c&1 != 0 {
		var ps []*p4v1.Action_Param
		for range int(c>>1) % 9 {
			ps = append(ps, &p4v1.Action_Param{ParamId: uint32(f.byte()), Value: f.bytes()})
		}
		withAction(e, f.uint32(), ps...)
	}
	return e
}

// FuzzEntryKeyRoundTrip checks that any TableEntry, valid or not, comes
// back from DecodeEntry(EntryKey(e), ActionKey(e)) as an entry with the
// same keys, that KeyWriter and ActionWriter fed the same parts in reverse
// order agree with EntryKey and ActionKey, and that DecodeEntry never
// panics on arbitrary keys.
func FuzzEntryKeyRoundTrip(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1, 0, 0, 1, 5, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 0, 0, 7, 6, 0, 0, 0, 0, 1, 7, 0, 0, 0, 2, 0, 2, 1, 10, 1, 0xff, 3, 1, 0, 0, 0, 9})
	f.Add([]byte{0, 0, 0, 9, 0xff, 0xff, 0xff, 0xff, 33, 0x44, 0, 0, 1, 1, 0, 252, 1})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeEntry(string(data), string(data)) // must not panic
		e := fuzzEntry(&fuzzBytes{data})
		key, action := EntryKey(e), ActionKey(e)
		d, err := DecodeEntry(key, action)
		if err != nil {
			t.Fatalf("DecodeEntry of %v: %v", e, err)
		}
		if k, a := EntryKey(d), ActionKey(d); k != key || a != action {
			t.Fatalf("round trip changed the keys of\n %v\ninto\n %v\nkey %x -> %x\naction %x -> %x", e, d, key, k, action, a)
		}
		var kw KeyWriter
		kw.Begin(e.GetTableId(), e.GetPriority(), e.GetIsDefaultAction())
		for i := len(e.GetMatch()) - 1; i >= 0; i-- {
			kw.Match(e.GetMatch()[i])
		}
		if k := string(kw.Bytes()); k != key {
			t.Fatalf("KeyWriter with the matches reversed: %x, want %x", k, key)
		}
		if a := e.GetAction().GetAction(); a != nil {
			var aw ActionWriter
			aw.Begin(a.GetActionId())
			for i := len(a.GetParams()) - 1; i >= 0; i-- {
				aw.Param(a.GetParams()[i].GetParamId(), a.GetParams()[i].GetValue())
			}
			if k := string(aw.Bytes()); k != action {
				t.Fatalf("ActionWriter with the params reversed: %x, want %x", k, action)
			}
		}
	})
}
