package pipeline

import (
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
)

func cmpMatch(a, b *p4v1.FieldMatch) int {
	return int(a.GetFieldId()) - int(b.GetFieldId())
}

// NormalizeEntry returns a copy of e in the form the controller writes:
// canonical values, matches sorted by field id and action params sorted by
// param id. Entries read back from a target compare equal (proto.Equal)
// to what was written once both are normalized; counter data and
// metadata other than the key and action are kept as they are.
func NormalizeEntry(e *p4v1.TableEntry) *p4v1.TableEntry {
	c := proto.Clone(e).(*p4v1.TableEntry)
	for _, m := range c.Match {
		switch mt := m.GetFieldMatchType().(type) {
		case *p4v1.FieldMatch_Exact_:
			mt.Exact.Value = Canonical(mt.Exact.Value)
		case *p4v1.FieldMatch_Lpm:
			mt.Lpm.Value = Canonical(mt.Lpm.Value)
		case *p4v1.FieldMatch_Ternary_:
			mt.Ternary.Value = Canonical(mt.Ternary.Value)
			mt.Ternary.Mask = Canonical(mt.Ternary.Mask)
		case *p4v1.FieldMatch_Range_:
			mt.Range.Low = Canonical(mt.Range.Low)
			mt.Range.High = Canonical(mt.Range.High)
		case *p4v1.FieldMatch_Optional_:
			mt.Optional.Value = Canonical(mt.Optional.Value)
		}
	}
	slices.SortFunc(c.Match, cmpMatch)
	if a := c.GetAction().GetAction(); a != nil {
		for _, p := range a.Params {
			p.Value = Canonical(p.Value)
		}
		slices.SortFunc(a.Params, func(x, y *p4v1.Action_Param) int { return int(x.GetParamId()) - int(y.GetParamId()) })
	}
	return c
}

// IsNormalized reports whether e is already in the form NormalizeEntry
// returns (canonical values, matches and params sorted by id), so that a
// caller can keep it as it is instead of copying it.
func IsNormalized(e *p4v1.TableEntry) bool {
	canon := func(v []byte) bool { return len(v) == 1 || (len(v) > 1 && v[0] != 0) }
	var last uint32
	for i, m := range e.GetMatch() {
		if i > 0 && m.GetFieldId() <= last {
			return false
		}
		last = m.GetFieldId()
		switch mt := m.GetFieldMatchType().(type) {
		case *p4v1.FieldMatch_Exact_:
			if !canon(mt.Exact.GetValue()) {
				return false
			}
		case *p4v1.FieldMatch_Lpm:
			if !canon(mt.Lpm.GetValue()) {
				return false
			}
		case *p4v1.FieldMatch_Ternary_:
			if !canon(mt.Ternary.GetValue()) || !canon(mt.Ternary.GetMask()) {
				return false
			}
		case *p4v1.FieldMatch_Range_:
			if !canon(mt.Range.GetLow()) || !canon(mt.Range.GetHigh()) {
				return false
			}
		case *p4v1.FieldMatch_Optional_:
			if !canon(mt.Optional.GetValue()) {
				return false
			}
		default:
			return false
		}
	}
	last = 0
	for i, p := range e.GetAction().GetAction().GetParams() {
		if (i > 0 && p.GetParamId() <= last) || !canon(p.GetValue()) {
			return false
		}
		last = p.GetParamId()
	}
	return true
}
