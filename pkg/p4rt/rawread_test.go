package p4rt

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// randomEntry makes an entry of any shape the wire parser must handle:
// every match kind (other and unset too), unsorted fields, padded, empty
// and long values, field ids whose first byte is the key's default marker,
// counters and metadata it must skip, default entries (some with matches,
// which P4Runtime forbids but a device may still report).
func randomEntry(r *rand.Rand) *p4v1.TableEntry {
	val := func() []byte {
		if r.IntN(40) == 0 {
			return bytes.Repeat([]byte{byte(r.IntN(256))}, 250+r.IntN(300))
		}
		b := make([]byte, r.IntN(5))
		for i := range b {
			if r.IntN(3) > 0 {
				b[i] = byte(r.IntN(256))
			}
		}
		return b
	}
	e := &p4v1.TableEntry{TableId: r.Uint32(), Priority: int32(r.IntN(1 << 20))}
	if r.IntN(10) == 0 {
		e.IsDefaultAction = true
	}
	if !e.IsDefaultAction || r.IntN(3) == 0 {
		for i := 0; i < r.IntN(6); i++ {
			m := &p4v1.FieldMatch{FieldId: uint32(r.IntN(1000)) + uint32(i)*1000 + 1}
			if r.IntN(8) == 0 {
				m.FieldId |= 'D' << 24
			}
			switch r.IntN(7) {
			case 0:
				m.FieldMatchType = &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: val()}}
			case 1:
				m.FieldMatchType = &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: val(), PrefixLen: int32(r.IntN(129))}}
			case 2:
				m.FieldMatchType = &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: val(), Mask: val()}}
			case 3:
				m.FieldMatchType = &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: val(), High: val()}}
			case 4:
				m.FieldMatchType = &p4v1.FieldMatch_Optional_{Optional: &p4v1.FieldMatch_Optional{Value: val()}}
			case 5:
				url := []string{"", "type.googleapis.com/x.Match", strings.Repeat("u", 300)}[r.IntN(3)]
				m.FieldMatchType = &p4v1.FieldMatch_Other{Other: &anypb.Any{TypeUrl: url, Value: val()}}
			case 6: // no match kind set
			}
			e.Match = append(e.Match, m)
		}
		r.Shuffle(len(e.Match), func(i, j int) { e.Match[i], e.Match[j] = e.Match[j], e.Match[i] })
	}
	if r.IntN(8) > 0 {
		a := &p4v1.Action{ActionId: r.Uint32()}
		for i := 0; i < r.IntN(4); i++ {
			a.Params = append(a.Params, &p4v1.Action_Param{ParamId: uint32(i*7 + 1), Value: val()})
		}
		r.Shuffle(len(a.Params), func(i, j int) { a.Params[i], a.Params[j] = a.Params[j], a.Params[i] })
		e.Action = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: a}}
	}
	if r.IntN(2) == 0 {
		e.CounterData = &p4v1.CounterData{PacketCount: r.Int64N(1e9), ByteCount: r.Int64N(1e12)}
		e.Metadata = val()
	}
	return e
}

func TestKeyParserMatchesEntryKey(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var batch []*p4v1.TableEntry
	resp := &p4v1.ReadResponse{}
	for i := 0; i < 3000; i++ {
		e := randomEntry(r)
		batch = append(batch, e)
		resp.Entities = append(resp.Entities, &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}})
		if i%500 == 0 { // entities the parser must skip
			resp.Entities = append(resp.Entities, &p4v1.Entity{Entity: &p4v1.Entity_CounterEntry{CounterEntry: &p4v1.CounterEntry{CounterId: 5}}})
		}
	}
	wire, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	var p keyParser
	i := 0
	err = p.response(wire, func(key, action []byte) error {
		e := batch[i]
		i++
		if string(key) != pipeline.EntryKey(e) {
			t.Fatalf("entry %d: key %x, want %x\n%v", i-1, key, pipeline.EntryKey(e), e)
		}
		if string(action) != pipeline.ActionKey(e) {
			t.Fatalf("entry %d: action %x, want %x", i-1, action, pipeline.ActionKey(e))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if i != len(batch) {
		t.Fatalf("parsed %d entries, want %d", i, len(batch))
	}
	if err := p.response([]byte{0x0a, 0x05, 0x12}, func(_, _ []byte) error { return nil }); err == nil {
		t.Error("truncated response parsed without error")
	}
}

func FuzzKeyParser(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 5; i++ {
		w, _ := proto.Marshal(&p4v1.ReadResponse{Entities: []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: randomEntry(r)}}}})
		f.Add(w)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		var p keyParser
		var keys, actions []string
		type counts struct {
			has            bool
			packets, bytes int64
		}
		var got []counts
		if p.response(wire, func(key, action []byte) error {
			keys, actions = append(keys, string(key)), append(actions, string(action))
			got = append(got, counts{p.hasCounter, p.packets, p.bytes})
			return nil
		}) != nil {
			return
		}
		// Without the actions (counter reads), the same keys and counts.
		q := keyParser{skipAction: true}
		i := 0
		if err := q.response(wire, func(key, action []byte) error {
			if i >= len(keys) || string(key) != keys[i] || len(action) != 0 || (counts{q.hasCounter, q.packets, q.bytes}) != got[i] {
				t.Fatalf("entry %d without actions: key %x action %x counts %v %d %d; with them: %v", i, key, action, q.hasCounter, q.packets, q.bytes, got)
			}
			i++
			return nil
		}); err != nil || i != len(keys) {
			t.Fatalf("without actions: %d entries, %v; with them %d", i, err, len(keys))
		}
		// Whatever the raw parser accepts, protobuf must agree on.
		var resp p4v1.ReadResponse
		if proto.Unmarshal(wire, &resp) != nil {
			return
		}
		var want, wantActions []string
		for _, e := range resp.GetEntities() {
			if te := e.GetTableEntry(); te != nil {
				want, wantActions = append(want, pipeline.EntryKey(te)), append(wantActions, pipeline.ActionKey(te))
			}
		}
		if len(want) != len(keys) {
			t.Fatalf("raw parser found %d entries, protobuf %d", len(keys), len(want))
		}
		j := 0
		for _, e := range resp.GetEntities() {
			te := e.GetTableEntry()
			if te == nil {
				continue
			}
			cd := te.GetCounterData()
			if w := (counts{cd != nil, cd.GetPacketCount(), cd.GetByteCount()}); w != got[j] {
				t.Fatalf("entry %d: raw counts %v, protobuf %v", j, got[j], w)
			}
			j++
		}
		for i := range want {
			if want[i] != keys[i] {
				t.Fatalf("entry %d: raw key %x, protobuf key %x", i, keys[i], want[i])
			}
			if wantActions[i] != actions[i] {
				t.Fatalf("entry %d: raw action %x, protobuf action %x", i, actions[i], wantActions[i])
			}
		}
	})
}

// TestOddEntriesThroughEveryCodec follows entries a device may report but
// p4ctl never writes through the path of a stale entry: read from wire
// bytes into keys (keyParser), decoded for the DELETE (DecodeEntry, as
// PlanSet does) and encoded from the keys (writeEncoder). Each step must
// succeed and keep the entry's identity; one entry that fails a step makes
// every reconcile of its device fail.
func TestOddEntriesThroughEveryCodec(t *testing.T) {
	exact := func(id uint32, v []byte) *p4v1.FieldMatch {
		return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: v}}}
	}
	allow := &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: &p4v1.Action{ActionId: 5, Params: []*p4v1.Action_Param{{ParamId: 1, Value: []byte{0, 1}}}}}}
	cases := []struct {
		name string
		e    *p4v1.TableEntry
	}{
		{"unset match kind", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{{FieldId: 2}, exact(1, []byte{3})}, Action: allow}},
		{"only an unset match kind", &p4v1.TableEntry{TableId: 1, Priority: 4, Match: []*p4v1.FieldMatch{{FieldId: 9}}}},
		{"other match", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{{FieldId: 3, FieldMatchType: &p4v1.FieldMatch_Other{Other: &anypb.Any{TypeUrl: "type.googleapis.com/x", Value: []byte{0, 0, 7}}}}}}},
		{"empty exact value", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact(1, nil)}, Action: allow}},
		{"300-byte value", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact(1, bytes.Repeat([]byte{9}, 300))}}},
		{"field id starting with D", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{exact('D'<<24|1, []byte{1})}}},
		{"default entry", &p4v1.TableEntry{TableId: 1, IsDefaultAction: true, Action: allow}},
		{"default entry with a match", &p4v1.TableEntry{TableId: 1, IsDefaultAction: true, Match: []*p4v1.FieldMatch{exact(1, []byte{'D'})}}},
		{"negative priority", &p4v1.TableEntry{TableId: 1, Priority: -3, Match: []*p4v1.FieldMatch{exact(1, []byte{1})}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wire, err := proto.Marshal(&p4v1.ReadResponse{Entities: []*p4v1.Entity{{Entity: &p4v1.Entity_TableEntry{TableEntry: c.e}}}})
			if err != nil {
				t.Fatal(err)
			}
			var p keyParser
			var key, action string
			if err := p.response(wire, func(k, a []byte) error { key, action = string(k), string(a); return nil }); err != nil {
				t.Fatalf("wire parser: %v", err)
			}
			if key != pipeline.EntryKey(c.e) || action != pipeline.ActionKey(c.e) {
				t.Fatalf("wire parser keys %x / %x, want EntryKey %x / ActionKey %x", key, action, pipeline.EntryKey(c.e), pipeline.ActionKey(c.e))
			}
			d, err := pipeline.DecodeEntry(key, action)
			if err != nil {
				t.Fatalf("DecodeEntry: %v", err)
			}
			want := pipeline.NormalizeEntry(c.e)
			if !proto.Equal(d, want) {
				t.Errorf("DecodeEntry:\n got %v\nwant %v", d, want)
			}
			var w writeEncoder
			b, err := w.tableEntry(nil, key, action)
			if err != nil {
				t.Fatalf("raw encoder: %v", err)
			}
			var got p4v1.TableEntry
			if err := proto.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(&got, want) {
				t.Errorf("raw encoder:\n got %v\nwant %v", &got, want)
			}
		})
	}
}
