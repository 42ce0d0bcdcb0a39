package pipeline

import (
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/types/known/anypb"
)

// The compact form of a table entry is its EntryKey and ActionKey (the
// layouts are in key.go); DecodeEntry turns it back into a message.

// EntryKey returns the identity of a table entry as P4Runtime defines it:
// table, match and priority, and whether it is the default entry. Values
// are compared in canonical form and matches in field-id order, so two
// encodings of the same key give the same string whatever their byte
// widths or match order. The layout is described in key.go.
func EntryKey(e *p4v1.TableEntry) string {
	w := KeyWriter{seg: segments{b: make([]byte, 0, 16+len(e.GetMatch())*24)}}
	w.Begin(e.GetTableId(), e.GetPriority(), e.GetIsDefaultAction())
	for _, m := range e.GetMatch() {
		w.Match(m)
	}
	return string(w.Bytes())
}

// ActionKey returns the canonical encoding of an entry's direct action: the
// action id, then each param (sorted by id) with its canonical value. Two
// actions that mean the same give the same string. An entry without a
// direct action gives "".
func ActionKey(e *p4v1.TableEntry) string {
	a := e.GetAction().GetAction()
	if a == nil {
		return ""
	}
	w := ActionWriter{seg: segments{b: make([]byte, 0, 4+len(a.GetParams())*8)}}
	w.Begin(a.GetActionId())
	for _, p := range a.GetParams() {
		w.Param(p.GetParamId(), p.GetValue())
	}
	return string(w.Bytes())
}

// DecodeEntry rebuilds a table entry from its EntryKey and ActionKey, in
// normalized form. It is the inverse of the two: EntryKey and ActionKey of
// the result equal key and action. What the two do not encode (counter
// data, metadata, idle timeouts, action profiles, unknown fields) is not
// kept.
func DecodeEntry(key, action string) (*p4v1.TableEntry, error) {
	r, err := ReadKey(key)
	if err != nil {
		return nil, err
	}
	ar, err := ReadAction(action)
	if err != nil {
		return nil, err
	}
	// Every value is a substring of key or action: one buffer holds them
	// all.
	buf := make([]byte, 0, len(key)+len(action))
	val := func(s string) []byte {
		n := len(buf)
		buf = append(buf, s...)
		return buf[n:len(buf):len(buf)]
	}
	e := &p4v1.TableEntry{TableId: r.Table, Priority: r.Priority, IsDefaultAction: r.IsDefault}
	for m, ok := r.Next(); ok; m, ok = r.Next() {
		fm := &p4v1.FieldMatch{FieldId: m.Field}
		switch m.Tag {
		case TagExact:
			fm.FieldMatchType = &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: val(m.V1)}}
		case TagLPM:
			fm.FieldMatchType = &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: val(m.V1), PrefixLen: m.PrefixLen}}
		case TagTernary:
			fm.FieldMatchType = &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: val(m.V1), Mask: val(m.V2)}}
		case TagRange:
			fm.FieldMatchType = &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: val(m.V1), High: val(m.V2)}}
		case TagOptional:
			fm.FieldMatchType = &p4v1.FieldMatch_Optional_{Optional: &p4v1.FieldMatch_Optional{Value: val(m.V1)}}
		case TagOther:
			fm.FieldMatchType = &p4v1.FieldMatch_Other{Other: &anypb.Any{TypeUrl: m.V1, Value: val(m.V2)}}
		}
		e.Match = append(e.Match, fm)
	}
	if !ar.Direct {
		return e, nil
	}
	act := &p4v1.Action{ActionId: ar.ActionID}
	for id, v, ok := ar.Next(); ok; id, v, ok = ar.Next() {
		act.Params = append(act.Params, &p4v1.Action_Param{ParamId: id, Value: val(v)})
	}
	e.Action = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: act}}
	return e, nil
}
