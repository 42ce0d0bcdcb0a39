package pipeline

import (
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
