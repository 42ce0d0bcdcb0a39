package pipeline

import (
	"encoding/binary"
	"fmt"
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// ActionKey returns the canonical encoding of an entry's direct action: the
// action id, then each param (sorted by id) with its canonical value. Two
// actions that mean the same give the same string. An entry without a
// direct action gives "".
func ActionKey(e *p4v1.TableEntry) string {
	a := e.GetAction().GetAction()
	if a == nil {
		return ""
	}
	ps := a.GetParams()
	if !slices.IsSortedFunc(ps, cmpParam) {
		ps = slices.SortedFunc(slices.Values(ps), cmpParam)
	}
	b := make([]byte, 0, 4+len(ps)*6)
	b = binary.BigEndian.AppendUint32(b, a.GetActionId())
	for _, p := range ps {
		b = binary.BigEndian.AppendUint32(b, p.GetParamId())
		b = AppendValue(b, p.GetValue())
	}
	return string(b)
}

func cmpParam(x, y *p4v1.Action_Param) int { return int(x.GetParamId()) - int(y.GetParamId()) }

// DecodeEntry rebuilds a table entry from its EntryKey and ActionKey, in
// normalized form. It is the inverse of the two for entries with a direct
// action; what the two do not encode (counter data, metadata, idle
// timeouts, unknown fields) is not kept.
func DecodeEntry(key, action string) (*p4v1.TableEntry, error) {
	k := []byte(key)
	if len(k) < 8 {
		return nil, fmt.Errorf("entry key of %d bytes is too short", len(k))
	}
	e := &p4v1.TableEntry{TableId: binary.BigEndian.Uint32(k), Priority: int32(binary.BigEndian.Uint32(k[4:]))}
	k = k[8:]
	if len(k) > 0 && k[0] == 'D' {
		e.IsDefaultAction = true
		k = k[1:]
	}
	value := func() ([]byte, error) {
		if len(k) < 1 || len(k) < 1+int(k[0]) {
			return nil, fmt.Errorf("truncated value in entry key")
		}
		v := k[1 : 1+int(k[0])]
		k = k[1+int(k[0]):]
		return v, nil
	}
	for len(k) > 0 {
		if len(k) < 5 {
			return nil, fmt.Errorf("truncated match in entry key")
		}
		m := &p4v1.FieldMatch{FieldId: binary.BigEndian.Uint32(k)}
		tag := k[4]
		k = k[5:]
		var v1, v2 []byte
		var err error
		if v1, err = value(); err != nil {
			return nil, err
		}
		switch tag {
		case 'e':
			m.FieldMatchType = &p4v1.FieldMatch_Exact_{Exact: &p4v1.FieldMatch_Exact{Value: v1}}
		case 'l':
			if len(k) < 4 {
				return nil, fmt.Errorf("truncated prefix length in entry key")
			}
			m.FieldMatchType = &p4v1.FieldMatch_Lpm{Lpm: &p4v1.FieldMatch_LPM{Value: v1, PrefixLen: int32(binary.BigEndian.Uint32(k))}}
			k = k[4:]
		case 't', 'r':
			if v2, err = value(); err != nil {
				return nil, err
			}
			if tag == 't' {
				m.FieldMatchType = &p4v1.FieldMatch_Ternary_{Ternary: &p4v1.FieldMatch_Ternary{Value: v1, Mask: v2}}
			} else {
				m.FieldMatchType = &p4v1.FieldMatch_Range_{Range: &p4v1.FieldMatch_Range{Low: v1, High: v2}}
			}
		case 'o':
			m.FieldMatchType = &p4v1.FieldMatch_Optional_{Optional: &p4v1.FieldMatch_Optional{Value: v1}}
		default:
			return nil, fmt.Errorf("unknown match tag %q in entry key", tag)
		}
		e.Match = append(e.Match, m)
	}
	if action == "" {
		return e, nil
	}
	a := []byte(action)
	if len(a) < 4 {
		return nil, fmt.Errorf("action key of %d bytes is too short", len(a))
	}
	act := &p4v1.Action{ActionId: binary.BigEndian.Uint32(a)}
	a = a[4:]
	for len(a) > 0 {
		if len(a) < 5 || len(a) < 5+int(a[4]) {
			return nil, fmt.Errorf("truncated param in action key")
		}
		act.Params = append(act.Params, &p4v1.Action_Param{ParamId: binary.BigEndian.Uint32(a), Value: a[5 : 5+int(a[4])]})
		a = a[5+int(a[4]):]
	}
	e.Action = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: act}}
	return e, nil
}
