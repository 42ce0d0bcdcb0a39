package pipeline

import (
	"errors"
	"fmt"
	"sort"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// ActionParam is one named action argument for EntryBuilder.Action.
type ActionParam struct {
	Name  string
	Value []byte
}

// P is shorthand for ActionParam{name, value}.
func P(name string, value []byte) ActionParam { return ActionParam{Name: name, Value: value} }

// EntryBuilder builds one TableEntry by names, checking each step against
// the P4Info. The first error sticks and is returned by Build, so calls can
// be chained:
//
//	e, err := info.NewEntry("ingress.ports").
//		Exact("ingress_port", pipeline.Uint(3)).
//		Action("set_port", pipeline.P("segment", pipeline.Uint(10)), ...).
//		Build()
//
// Values are big-endian bytestrings of any length; Build stores them in
// canonical form. Don't-care matches (ternary mask 0, LPM prefix 0, the full
// range) are left out of the entry, as P4Runtime requires.
type EntryBuilder struct {
	info  *Info
	table *Table
	entry *p4v1.TableEntry
	seen  map[uint32]bool
	err   error
}

// NewEntry starts an entry of the table called name.
func (in *Info) NewEntry(table string) *EntryBuilder {
	b := &EntryBuilder{info: in, seen: map[uint32]bool{}}
	t, ok := in.Table(table)
	if !ok {
		b.err = fmt.Errorf("unknown table %q", table)
		return b
	}
	b.table = t
	b.entry = &p4v1.TableEntry{TableId: t.ID}
	return b
}

func (b *EntryBuilder) fail(format string, args ...any) *EntryBuilder {
	if b.err == nil {
		b.err = fmt.Errorf("table %s: "+format, append([]any{b.table.Name}, args...)...)
	}
	return b
}

func (b *EntryBuilder) field(name string, kind MatchKind) (*Field, bool) {
	if b.err != nil {
		return nil, false
	}
	f, ok := b.table.Field(name)
	if !ok {
		b.fail("unknown match field %q", name)
		return nil, false
	}
	if f.Kind != kind {
		b.fail("field %s is %s, not %s", name, f.Kind, kind)
		return nil, false
	}
	if b.seen[f.ID] {
		b.fail("field %s given twice", name)
		return nil, false
	}
	b.seen[f.ID] = true
	return f, true
}

func (b *EntryBuilder) value(f *Field, what string, v []byte) ([]byte, bool) {
	c, err := Encode(v, f.Bitwidth)
	if err != nil {
		b.fail("field %s: %s: %v", f.Name, what, err)
		return nil, false
	}
	return c, true
}

// Exact matches field on value.
func (b *EntryBuilder) Exact(field string, value []byte) *EntryBuilder {
	f, ok := b.field(field, MatchExact)
	if !ok {
		return b
	}
	v, ok := b.value(f, "value", value)
	if !ok {
		return b
	}
	b.entry.Match = append(b.entry.Match, &p4v1.FieldMatch{FieldId: f.ID,
		FieldMatchType: &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: v}}})
	return b
}

// LPM matches the first prefixLen bits of field on value. Bits of value past
// the prefix are cleared.
func (b *EntryBuilder) LPM(field string, value []byte, prefixLen int32) *EntryBuilder {
	f, ok := b.field(field, MatchLPM)
	if !ok {
		return b
	}
	if prefixLen < 0 || prefixLen > f.Bitwidth {
		return b.fail("field %s: prefix length %d outside 0..%d", f.Name, prefixLen, f.Bitwidth)
	}
	v, ok := b.value(f, "value", value)
	if !ok || prefixLen == 0 {
		return b
	}
	v = Canonical(and(v, PrefixMask(f.Bitwidth, prefixLen)))
	b.entry.Match = append(b.entry.Match, &p4v1.FieldMatch{FieldId: f.ID,
		FieldMatchType: &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: v, PrefixLen: prefixLen}}})
	return b
}

// Ternary matches the bits of field selected by mask on value. Bits of value
// outside mask are cleared; a zero mask leaves the field out (don't care).
func (b *EntryBuilder) Ternary(field string, value, mask []byte) *EntryBuilder {
	f, ok := b.field(field, MatchTernary)
	if !ok {
		return b
	}
	v, ok := b.value(f, "value", value)
	if !ok {
		return b
	}
	m, ok := b.value(f, "mask", mask)
	if !ok || isZero(m) {
		return b
	}
	v = Canonical(and(v, m))
	b.entry.Match = append(b.entry.Match, &p4v1.FieldMatch{FieldId: f.ID,
		FieldMatchType: &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: v, Mask: m}}})
	return b
}

// Range matches field on low..high inclusive. The full range of the field
// is left out (don't care).
func (b *EntryBuilder) Range(field string, low, high []byte) *EntryBuilder {
	f, ok := b.field(field, MatchRange)
	if !ok {
		return b
	}
	lo, ok := b.value(f, "low", low)
	if !ok {
		return b
	}
	hi, ok := b.value(f, "high", high)
	if !ok {
		return b
	}
	if compare(lo, hi) > 0 {
		return b.fail("field %s: range low 0x%x above high 0x%x", f.Name, lo, hi)
	}
	if isZero(lo) && allOnes(hi, f.Bitwidth) {
		return b
	}
	b.entry.Match = append(b.entry.Match, &p4v1.FieldMatch{FieldId: f.ID,
		FieldMatchType: &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: lo, High: hi}}})
	return b
}

// Optional matches field on value (an optional field left unset is don't
// care).
func (b *EntryBuilder) Optional(field string, value []byte) *EntryBuilder {
	f, ok := b.field(field, MatchOptional)
	if !ok {
		return b
	}
	v, ok := b.value(f, "value", value)
	if !ok {
		return b
	}
	b.entry.Match = append(b.entry.Match, &p4v1.FieldMatch{FieldId: f.ID,
		FieldMatchType: &p4v1.FieldMatch_Optional_{Optional: &p4v1.FieldMatch_Optional{Value: v}}})
	return b
}

// Priority sets the entry's priority; higher wins. Tables with ternary,
// range or optional fields need one above zero, other tables none.
func (b *EntryBuilder) Priority(p int32) *EntryBuilder {
	if b.err == nil {
		b.entry.Priority = p
	}
	return b
}

// Action sets the entry's action and its arguments.
func (b *EntryBuilder) Action(name string, params ...ActionParam) *EntryBuilder {
	if b.err != nil {
		return b
	}
	a, ok := b.info.Action(name)
	if !ok {
		return b.fail("unknown action %q", name)
	}
	act := &p4v1.Action{ActionId: a.ID}
	for _, p := range params {
		prm, ok := a.Param(p.Name)
		if !ok {
			return b.fail("action %s: unknown param %q", name, p.Name)
		}
		v, err := Encode(p.Value, prm.Bitwidth)
		if err != nil {
			return b.fail("action %s: param %s: %v", name, p.Name, err)
		}
		act.Params = append(act.Params, &p4v1.Action_Param{ParamId: prm.ID, Value: v})
	}
	b.entry.Action = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: act}}
	return b
}

// Build checks the entry as a whole and returns it.
func (b *EntryBuilder) Build() (*p4v1.TableEntry, error) {
	if b.err != nil {
		return nil, b.err
	}
	sort.Slice(b.entry.Match, func(i, j int) bool { return b.entry.Match[i].FieldId < b.entry.Match[j].FieldId })
	if b.entry.Action != nil {
		ps := b.entry.Action.GetAction().Params
		sort.Slice(ps, func(i, j int) bool { return ps[i].ParamId < ps[j].ParamId })
	}
	if err := b.info.CheckEntry(b.entry); err != nil {
		return nil, err
	}
	return b.entry, nil
}

// ErrInvalidEntry is wrapped by every error of CheckEntry.
var ErrInvalidEntry = errors.New("invalid table entry")

// CheckEntry validates a table entry against the P4Info as a P4Runtime
// target does for an INSERT or MODIFY: known table, fields and action,
// values within their bit widths, match kinds as declared, every exact field
// present, don't-care matches omitted, masked bits clear, priority set
// exactly when the table needs one, and all action params present. A
// default entry (is_default_action) has no key and a changeable default.
func (in *Info) CheckEntry(e *p4v1.TableEntry) error {
	t, err := in.checkKey(e)
	if err != nil {
		return err
	}
	bad := badEntry(t)
	if e.GetAction() == nil {
		return bad("no action")
	}
	act := e.GetAction().GetAction()
	if act == nil {
		return bad("only direct actions are supported (no action profiles)")
	}
	return checkAction(t, act, e.GetIsDefaultAction(), bad)
}

// CheckEntryKey validates the key of a table entry (table, match, priority),
// as a target does for a DELETE or a read of one entry.
func (in *Info) CheckEntryKey(e *p4v1.TableEntry) error {
	_, err := in.checkKey(e)
	return err
}

func badEntry(t *Table) func(format string, args ...any) error {
	return func(format string, args ...any) error {
		return fmt.Errorf("%w: table %s: %s", ErrInvalidEntry, t.Name, fmt.Sprintf(format, args...))
	}
}

func (in *Info) checkKey(e *p4v1.TableEntry) (*Table, error) {
	t, ok := in.TableByID(e.GetTableId())
	if !ok {
		return nil, fmt.Errorf("%w: unknown table id %d", ErrInvalidEntry, e.GetTableId())
	}
	bad := badEntry(t)
	if e.GetIsDefaultAction() {
		// The default entry has no key; MODIFY sets its action.
		if len(e.GetMatch()) > 0 || e.GetPriority() != 0 {
			return nil, bad("default entry with match fields or priority")
		}
		if t.ConstDefault {
			return nil, bad("default action is const")
		}
		return t, nil
	}
	var seen fieldSet
	for _, m := range e.GetMatch() {
		f, ok := t.FieldByID(m.GetFieldId())
		if !ok {
			return nil, bad("unknown match field id %d", m.GetFieldId())
		}
		if seen.has(f.ID) {
			return nil, bad("field %s matched twice", f.Name)
		}
		seen.add(f.ID)
		if err := checkMatch(f, m); err != nil {
			return nil, bad("field %s: %v", f.Name, err)
		}
	}
	for _, f := range t.Fields {
		if f.Kind == MatchExact && !seen.has(f.ID) {
			return nil, bad("exact field %s missing", f.Name)
		}
	}
	switch {
	case t.NeedsPriority && e.GetPriority() <= 0:
		return nil, bad("priority must be > 0 (table has ternary, range or optional fields)")
	case !t.NeedsPriority && e.GetPriority() != 0:
		return nil, bad("priority %d set on a table without ternary, range or optional fields", e.GetPriority())
	}
	return t, nil
}

func checkAction(t *Table, act *p4v1.Action, asDefault bool, bad func(string, ...any) error) error {
	ref, ok := t.ActionRef(act.GetActionId())
	if !ok {
		return bad("action id %d is not an action of this table", act.GetActionId())
	}
	if !asDefault && ref.DefaultOnly {
		return bad("action %s is default-only", ref.Action.Name)
	}
	if asDefault && ref.TableOnly {
		return bad("action %s cannot be the default action", ref.Action.Name)
	}
	var given fieldSet
	for _, p := range act.GetParams() {
		prm, ok := ref.Action.ParamByID(p.GetParamId())
		if !ok {
			return bad("action %s: unknown param id %d", ref.Action.Name, p.GetParamId())
		}
		if given.has(prm.ID) {
			return bad("action %s: param %s given twice", ref.Action.Name, prm.Name)
		}
		given.add(prm.ID)
		if n := BitLen(p.GetValue()); n > int(prm.Bitwidth) {
			return bad("action %s: param %s: value 0x%x needs %d bits, param is %d bits wide", ref.Action.Name, prm.Name, p.GetValue(), n, prm.Bitwidth)
		}
	}
	for _, prm := range ref.Action.Params {
		if !given.has(prm.ID) {
			return bad("action %s: param %s missing", ref.Action.Name, prm.Name)
		}
	}
	return nil
}

func checkMatch(f *Field, m *p4v1.FieldMatch) error {
	fits := func(what string, v []byte) error {
		if n := BitLen(v); n > int(f.Bitwidth) {
			return fmt.Errorf("%s 0x%x needs %d bits, field is %d bits wide", what, v, n, f.Bitwidth)
		}
		return nil
	}
	switch mt := m.GetFieldMatchType().(type) {
	case *p4v1.FieldMatch_Exact_:
		if f.Kind != MatchExact {
			return fmt.Errorf("exact match on a %s field", f.Kind)
		}
		return fits("value", mt.Exact.GetValue())
	case *p4v1.FieldMatch_Lpm:
		if f.Kind != MatchLPM {
			return fmt.Errorf("lpm match on a %s field", f.Kind)
		}
		pl := mt.Lpm.GetPrefixLen()
		if pl <= 0 || pl > f.Bitwidth {
			return fmt.Errorf("prefix length %d outside 1..%d (a zero prefix is omitted)", pl, f.Bitwidth)
		}
		if err := fits("value", mt.Lpm.GetValue()); err != nil {
			return err
		}
		if compare(and(mt.Lpm.GetValue(), PrefixMask(f.Bitwidth, pl)), mt.Lpm.GetValue()) != 0 {
			return fmt.Errorf("value 0x%x has bits set past prefix /%d", mt.Lpm.GetValue(), pl)
		}
	case *p4v1.FieldMatch_Ternary_:
		if f.Kind != MatchTernary {
			return fmt.Errorf("ternary match on a %s field", f.Kind)
		}
		if err := fits("value", mt.Ternary.GetValue()); err != nil {
			return err
		}
		if err := fits("mask", mt.Ternary.GetMask()); err != nil {
			return err
		}
		if isZero(mt.Ternary.GetMask()) {
			return fmt.Errorf("zero mask (a don't-care field is omitted)")
		}
		if compare(and(mt.Ternary.GetValue(), mt.Ternary.GetMask()), mt.Ternary.GetValue()) != 0 {
			return fmt.Errorf("value 0x%x has bits set outside mask 0x%x", mt.Ternary.GetValue(), mt.Ternary.GetMask())
		}
	case *p4v1.FieldMatch_Range_:
		if f.Kind != MatchRange {
			return fmt.Errorf("range match on a %s field", f.Kind)
		}
		if err := fits("low", mt.Range.GetLow()); err != nil {
			return err
		}
		if err := fits("high", mt.Range.GetHigh()); err != nil {
			return err
		}
		if compare(mt.Range.GetLow(), mt.Range.GetHigh()) > 0 {
			return fmt.Errorf("range low 0x%x above high 0x%x", mt.Range.GetLow(), mt.Range.GetHigh())
		}
		if isZero(mt.Range.GetLow()) && allOnes(mt.Range.GetHigh(), f.Bitwidth) {
			return fmt.Errorf("full range (a don't-care field is omitted)")
		}
	case *p4v1.FieldMatch_Optional_:
		if f.Kind != MatchOptional {
			return fmt.Errorf("optional match on a %s field", f.Kind)
		}
		return fits("value", mt.Optional.GetValue())
	default:
		return fmt.Errorf("unsupported match type %T", mt)
	}
	return nil
}

// fieldSet is a set of field or param ids without allocation for ids below
// 64 (P4Info numbers them from 1).
type fieldSet struct {
	low  uint64
	high map[uint32]bool
}

func (s *fieldSet) add(id uint32) {
	if id < 64 {
		s.low |= 1 << id
		return
	}
	if s.high == nil {
		s.high = map[uint32]bool{}
	}
	s.high[id] = true
}

func (s *fieldSet) has(id uint32) bool {
	if id < 64 {
		return s.low&(1<<id) != 0
	}
	return s.high[id]
}
