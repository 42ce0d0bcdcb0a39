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
		// metadata, idle timeout and meter settings p4ctl does not use) is
		// outside it, so the expectation is built from those fields alone.
		norm := NormalizeEntry(&e)
		n := &p4v1.TableEntry{TableId: norm.TableId, Match: norm.Match, Action: norm.Action,
			Priority: norm.Priority, IsDefaultAction: norm.IsDefaultAction}
		// Unknown fields carry no meaning and the compact form drops them.
		w, err := proto.Marshal(n)
		if err != nil {
			t.Fatal(err)
		}
		n = &p4v1.TableEntry{}
		if err := (proto.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(w, n); err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(d, n) {
			t.Fatalf("round trip changed the entry:\n got %v\nwant %v", d, n)
		}
	})
}
