package pipeline

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
)

// testInfo is a small P4Info with one table of each shape, independent of
// the compiled pipeline so that the builder's rules are tested in isolation.
func testInfo(t testing.TB) *Info {
	t.Helper()
	pre := func(id uint32, name string) *p4cfg.Preamble { return &p4cfg.Preamble{Id: id, Name: name} }
	mf := func(id uint32, name string, w int32, mt p4cfg.MatchField_MatchType) *p4cfg.MatchField {
		return &p4cfg.MatchField{Id: id, Name: name, Bitwidth: w, Match: &p4cfg.MatchField_MatchType_{MatchType: mt}}
	}
	p := &p4cfg.P4Info{
		Actions: []*p4cfg.Action{
			{Preamble: pre(100, "set_port"), Params: []*p4cfg.Action_Param{{Id: 1, Name: "segment", Bitwidth: 16}, {Id: 2, Name: "role", Bitwidth: 2}}},
			{Preamble: pre(101, "drop")},
			{Preamble: pre(102, "allow")},
		},
		Tables: []*p4cfg.Table{
			{Preamble: pre(1, "ports"), MatchFields: []*p4cfg.MatchField{mf(1, "ingress_port", 9, p4cfg.MatchField_EXACT)},
				ActionRefs: []*p4cfg.ActionRef{{Id: 100}, {Id: 101, Scope: p4cfg.ActionRef_DEFAULT_ONLY}}, Size: 1024, ConstDefaultActionId: 101},
			{Preamble: pre(2, "dst"), MatchFields: []*p4cfg.MatchField{mf(1, "segment", 16, p4cfg.MatchField_EXACT), mf(2, "dst_ip", 32, p4cfg.MatchField_LPM)},
				ActionRefs: []*p4cfg.ActionRef{{Id: 102}}, Size: 4096},
			{Preamble: pre(3, "policy"), MatchFields: []*p4cfg.MatchField{
				mf(1, "src", 16, p4cfg.MatchField_TERNARY), mf(2, "dport", 16, p4cfg.MatchField_RANGE), mf(3, "vlan", 12, p4cfg.MatchField_OPTIONAL)},
				ActionRefs: []*p4cfg.ActionRef{{Id: 102}, {Id: 101}}, Size: 8192, DirectResourceIds: []uint32{500}},
		},
		DirectCounters: []*p4cfg.DirectCounter{{Preamble: pre(500, "policy_counter"), Spec: &p4cfg.CounterSpec{Unit: p4cfg.CounterSpec_BOTH}, DirectTableId: 3}},
		ControllerPacketMetadata: []*p4cfg.ControllerPacketMetadata{
			{Preamble: pre(600, "packet_in"), Metadata: []*p4cfg.ControllerPacketMetadata_Metadata{{Id: 1, Name: "ingress_port", Bitwidth: 9}}},
		},
	}
	in, err := NewInfo(p)
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestInfoIndex(t *testing.T) {
	in := testInfo(t)
	tb, ok := in.Table("policy")
	if !ok || tb.ID != 3 || !tb.NeedsPriority || tb.DirectCounterID != 500 {
		t.Fatalf("policy table indexed wrongly: %+v", tb)
	}
	if f, ok := tb.Field("dport"); !ok || f.Kind != MatchRange || f.Bitwidth != 16 {
		t.Errorf("dport field: %+v", f)
	}
	if tb2, ok := in.TableByID(1); !ok || tb2.Name != "ports" || tb2.NeedsPriority || !tb2.ConstDefault {
		t.Errorf("ports table: %+v", tb2)
	}
	if a, ok := in.Action("set_port"); !ok || len(a.Params) != 2 {
		t.Errorf("set_port: %+v", a)
	}
	if m, ok := in.PacketMetadata("packet_in"); !ok || m.Fields[0].Bitwidth != 9 {
		t.Errorf("packet_in: %+v", m)
	}
	if c, ok := in.DirectCounter("policy_counter"); !ok || c.TableID != 3 || c.Unit != "both" {
		t.Errorf("direct counter: %+v", c)
	}
	if names := tableNames(in); names != "dst,policy,ports" {
		t.Errorf("Tables() = %s", names)
	}
}

func tableNames(in *Info) string {
	var s []string
	for _, t := range in.Tables() {
		s = append(s, t.Name)
	}
	return strings.Join(s, ",")
}

func TestNewInfoRejectsInconsistentP4Info(t *testing.T) {
	cases := []struct {
		name string
		p    *p4cfg.P4Info
		want string
	}{
		{"duplicate table name", &p4cfg.P4Info{Tables: []*p4cfg.Table{
			{Preamble: &p4cfg.Preamble{Id: 1, Name: "t"}}, {Preamble: &p4cfg.Preamble{Id: 2, Name: "t"}}}}, `duplicate table name "t"`},
		{"duplicate action id", &p4cfg.P4Info{Actions: []*p4cfg.Action{
			{Preamble: &p4cfg.Preamble{Id: 1, Name: "a"}}, {Preamble: &p4cfg.Preamble{Id: 1, Name: "b"}}}}, "duplicate action id 1"},
		{"unknown action ref", &p4cfg.P4Info{Tables: []*p4cfg.Table{
			{Preamble: &p4cfg.Preamble{Id: 1, Name: "t"}, ActionRefs: []*p4cfg.ActionRef{{Id: 9}}}}}, "unknown action id 9"},
		{"direct counter on unknown table", &p4cfg.P4Info{DirectCounters: []*p4cfg.DirectCounter{
			{Preamble: &p4cfg.Preamble{Id: 5, Name: "c"}, DirectTableId: 7}}}, "unknown table id 7"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewInfo(c.p)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestEntryBuilderValid(t *testing.T) {
	in := testInfo(t)
	cases := []struct {
		name  string
		build func() *EntryBuilder
		check func(t *testing.T, e *p4v1.TableEntry)
	}{
		{"exact canonical", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", []byte{0, 0, 5}).Action("set_port", P("segment", []byte{0, 10}), P("role", Uint(2)))
		}, func(t *testing.T, e *p4v1.TableEntry) {
			if v := e.Match[0].GetExact().GetValue(); !bytes.Equal(v, []byte{5}) {
				t.Errorf("exact value %x, want 05", v)
			}
			if v := e.GetAction().GetAction().Params[0].GetValue(); !bytes.Equal(v, []byte{10}) {
				t.Errorf("param value %x, want 0a", v)
			}
		}},
		{"zero is one byte", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", Uint(0)).Action("set_port", P("segment", nil), P("role", Uint(0)))
		}, func(t *testing.T, e *p4v1.TableEntry) {
			if v := e.Match[0].GetExact().GetValue(); !bytes.Equal(v, []byte{0}) {
				t.Errorf("zero encoded as %x", v)
			}
		}},
		{"lpm host bits cleared", func() *EntryBuilder {
			return in.NewEntry("dst").Exact("segment", Uint(1)).LPM("dst_ip", []byte{10, 1, 2, 3}, 16).Action("allow")
		}, func(t *testing.T, e *p4v1.TableEntry) {
			l := e.Match[1].GetLpm()
			if !bytes.Equal(l.GetValue(), []byte{10, 1, 0, 0}) || l.GetPrefixLen() != 16 {
				t.Errorf("lpm = %x/%d", l.GetValue(), l.GetPrefixLen())
			}
		}},
		{"lpm /0 omitted", func() *EntryBuilder {
			return in.NewEntry("dst").Exact("segment", Uint(1)).LPM("dst_ip", []byte{10, 0, 0, 0}, 0).Action("allow")
		}, func(t *testing.T, e *p4v1.TableEntry) {
			if len(e.Match) != 1 {
				t.Errorf("matches = %v, want only segment", e.Match)
			}
		}},
		{"ternary masked, sorted by field id", func() *EntryBuilder {
			return in.NewEntry("policy").Range("dport", Uint(80), Uint(90)).Ternary("src", Uint(0x1234), Uint(0xff00)).Priority(7).Action("allow")
		}, func(t *testing.T, e *p4v1.TableEntry) {
			tm := e.Match[0].GetTernary()
			if e.Match[0].FieldId != 1 || !bytes.Equal(tm.GetValue(), []byte{0x12, 0}) || !bytes.Equal(tm.GetMask(), []byte{0xff, 0}) {
				t.Errorf("ternary = %v", e.Match[0])
			}
			if r := e.Match[1].GetRange(); !bytes.Equal(r.GetLow(), []byte{80}) || !bytes.Equal(r.GetHigh(), []byte{90}) {
				t.Errorf("range = %v", r)
			}
			if e.Priority != 7 {
				t.Errorf("priority %d", e.Priority)
			}
		}},
		{"don't cares omitted", func() *EntryBuilder {
			return in.NewEntry("policy").Ternary("src", Uint(5), Uint(0)).Range("dport", Uint(0), Uint(0xffff)).Priority(1).Action("drop")
		}, func(t *testing.T, e *p4v1.TableEntry) {
			if len(e.Match) != 0 {
				t.Errorf("matches = %v, want none", e.Match)
			}
		}},
		{"optional", func() *EntryBuilder {
			return in.NewEntry("policy").Optional("vlan", Uint(100)).Priority(1).Action("allow")
		}, func(t *testing.T, e *p4v1.TableEntry) {
			if v := e.Match[0].GetOptional().GetValue(); !bytes.Equal(v, []byte{100}) {
				t.Errorf("optional %x", v)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e, err := c.build().Build()
			if err != nil {
				t.Fatal(err)
			}
			c.check(t, e)
		})
	}
}

func TestEntryBuilderErrors(t *testing.T) {
	in := testInfo(t)
	cases := []struct {
		name  string
		build func() *EntryBuilder
		want  string
	}{
		{"unknown table", func() *EntryBuilder { return in.NewEntry("nope").Action("allow") }, `unknown table "nope"`},
		{"unknown field", func() *EntryBuilder { return in.NewEntry("ports").Exact("port", Uint(1)) }, `table ports: unknown match field "port"`},
		{"value too wide", func() *EntryBuilder { return in.NewEntry("ports").Exact("ingress_port", Uint(512)) },
			"table ports: field ingress_port: value: value 0x0200 needs 10 bits, field is 9 bits wide"},
		{"wrong match kind", func() *EntryBuilder { return in.NewEntry("ports").Ternary("ingress_port", Uint(1), Uint(1)) },
			"table ports: field ingress_port is exact, not ternary"},
		{"field twice", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Exact("ingress_port", Uint(2))
		}, "field ingress_port given twice"},
		{"missing exact", func() *EntryBuilder { return in.NewEntry("dst").LPM("dst_ip", Uint(1), 32).Action("allow") },
			"table dst: exact field segment missing"},
		{"prefix too long", func() *EntryBuilder { return in.NewEntry("dst").Exact("segment", Uint(1)).LPM("dst_ip", Uint(1), 33) },
			"field dst_ip: prefix length 33 outside 0..32"},
		{"missing priority", func() *EntryBuilder { return in.NewEntry("policy").Ternary("src", Uint(1), Uint(1)).Action("allow") },
			"table policy: priority must be > 0"},
		{"priority on exact table", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Priority(3).Action("set_port", P("segment", Uint(1)), P("role", Uint(1)))
		}, "priority 3 set on a table without ternary"},
		{"range inverted", func() *EntryBuilder { return in.NewEntry("policy").Range("dport", Uint(9), Uint(8)) },
			"field dport: range low 0x09 above high 0x08"},
		{"mask too wide", func() *EntryBuilder { return in.NewEntry("policy").Ternary("src", Uint(1), Uint(0x1ffff)) },
			"field src: mask: value 0x01ffff needs 17 bits, field is 16 bits wide"},
		{"unknown action", func() *EntryBuilder { return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Action("fly") },
			`table ports: unknown action "fly"`},
		{"action not in table", func() *EntryBuilder { return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Action("allow") },
			"action id 102 is not an action of this table"},
		{"default-only action", func() *EntryBuilder { return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Action("drop") },
			"action drop is default-only"},
		{"param too wide", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Action("set_port", P("segment", Uint(1)), P("role", Uint(4)))
		}, "action set_port: param role: value 0x04 needs 3 bits, field is 2 bits wide"},
		{"unknown param", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Action("set_port", P("vrf", Uint(1)))
		}, `action set_port: unknown param "vrf"`},
		{"missing param", func() *EntryBuilder {
			return in.NewEntry("ports").Exact("ingress_port", Uint(1)).Action("set_port", P("segment", Uint(1)))
		}, "action set_port: param role missing"},
		{"no action", func() *EntryBuilder { return in.NewEntry("ports").Exact("ingress_port", Uint(1)) }, "table ports: no action"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := c.build().Build()
			if err == nil {
				t.Fatalf("Build succeeded, want error containing %q", c.want)
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %q, want it to contain %q", err, c.want)
			}
		})
	}
}

// CheckEntry sees raw entries as a target does, including forms the
// builder never produces.
func TestCheckEntryRaw(t *testing.T) {
	in := testInfo(t)
	allow := &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: &p4v1.Action{ActionId: 102}}}
	cases := []struct {
		name string
		e    *p4v1.TableEntry
		want string // "" means valid
	}{
		{"valid", &p4v1.TableEntry{TableId: 3, Priority: 1, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: []byte{1}, Mask: []byte{0xff}}}}}}, ""},
		{"unknown table id", &p4v1.TableEntry{TableId: 99, Action: allow}, "unknown table id 99"},
		{"unknown field id", &p4v1.TableEntry{TableId: 3, Priority: 1, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 9, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: []byte{1}}}}}}, "unknown match field id 9"},
		{"value outside mask", &p4v1.TableEntry{TableId: 3, Priority: 1, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: []byte{3}, Mask: []byte{1}}}}}}, "bits set outside mask"},
		{"zero mask", &p4v1.TableEntry{TableId: 3, Priority: 1, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: []byte{0}, Mask: []byte{0}}}}}}, "zero mask"},
		{"lpm bits past prefix", &p4v1.TableEntry{TableId: 2, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: []byte{1}}}},
			{FieldId: 2, FieldMatchType: &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: []byte{10, 0, 0, 1}, PrefixLen: 8}}}}}, "bits set past prefix /8"},
		{"full range", &p4v1.TableEntry{TableId: 3, Priority: 1, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 2, FieldMatchType: &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: []byte{0}, High: []byte{0xff, 0xff}}}}}}, "full range"},
		{"non-canonical but in width is accepted", &p4v1.TableEntry{TableId: 1, Match: []*p4v1.FieldMatch{
			{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: []byte{0, 0, 1, 0xff}}}}},
			Action: &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: &p4v1.Action{ActionId: 100, Params: []*p4v1.Action_Param{
				{ParamId: 1, Value: []byte{1}}, {ParamId: 2, Value: []byte{1}}}}}}}, ""},
		{"default entry of a const default", &p4v1.TableEntry{TableId: 1, IsDefaultAction: true,
			Action: &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: &p4v1.Action{ActionId: 101}}}}, "default action is const"},
		{"default entry", &p4v1.TableEntry{TableId: 3, IsDefaultAction: true, Action: allow}, ""},
		{"default entry with match", &p4v1.TableEntry{TableId: 3, IsDefaultAction: true, Action: allow, Match: []*p4v1.FieldMatch{
			{FieldId: 1, FieldMatchType: &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: []byte{1}, Mask: []byte{1}}}}}}, "default entry with match fields"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := in.CheckEntry(c.e)
			if c.want == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if !errors.Is(err, ErrInvalidEntry) {
				t.Errorf("error does not wrap ErrInvalidEntry")
			}
		})
	}
}

func TestEntryKeyIgnoresEncoding(t *testing.T) {
	exact := func(id uint32, v []byte) *p4v1.FieldMatch {
		return &p4v1.FieldMatch{FieldId: id, FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: v}}}
	}
	a := &p4v1.TableEntry{TableId: 2, Match: []*p4v1.FieldMatch{exact(1, []byte{1}), exact(2, []byte{0, 0, 5})}}
	b := &p4v1.TableEntry{TableId: 2, Match: []*p4v1.FieldMatch{exact(2, []byte{5}), exact(1, []byte{0, 1})}}
	if EntryKey(a) != EntryKey(b) {
		t.Error("same key in two encodings gave different EntryKeys")
	}
	c := &p4v1.TableEntry{TableId: 2, Match: []*p4v1.FieldMatch{exact(1, []byte{1}), exact(2, []byte{6})}}
	if EntryKey(a) == EntryKey(c) {
		t.Error("different keys gave equal EntryKeys")
	}
	d := &p4v1.TableEntry{TableId: 2, Priority: 3, Match: a.Match}
	if EntryKey(a) == EntryKey(d) {
		t.Error("priority is part of the key")
	}
	if !proto.Equal(NormalizeEntry(a), NormalizeEntry(b)) {
		t.Errorf("normalized forms differ:\n%v\n%v", NormalizeEntry(a), NormalizeEntry(b))
	}
}

func TestIsNormalized(t *testing.T) {
	in := testInfo(t)
	e, err := in.NewEntry("policy").Ternary("src", Uint(1), Uint(3)).Range("dport", Uint(1), Uint(9)).Priority(2).Action("allow").Build()
	if err != nil {
		t.Fatal(err)
	}
	if !IsNormalized(e) {
		t.Fatal("a built entry is not normalized")
	}
	padded := proto.Clone(e).(*p4v1.TableEntry)
	padded.Match[0].GetTernary().Value = []byte{0, 1}
	swapped := proto.Clone(e).(*p4v1.TableEntry)
	swapped.Match[0], swapped.Match[1] = swapped.Match[1], swapped.Match[0]
	for name, x := range map[string]*p4v1.TableEntry{"padded": padded, "unsorted": swapped} {
		if IsNormalized(x) {
			t.Errorf("%s entry reported normalized", name)
		}
		if !IsNormalized(NormalizeEntry(x)) {
			t.Errorf("NormalizeEntry(%s) is not normalized", name)
		}
	}
}
