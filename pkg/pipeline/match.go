package pipeline

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// Lookup finds the entry of table t that a packet with the given key field
// values hits, with P4 match semantics: exact and optional fields must be
// equal, LPM fields share the prefix, ternary fields agree under the mask,
// range fields lie within the bounds, and a field an entry leaves out is a
// wildcard. Among several hits the highest priority wins (ternary, range
// and optional tables) or the longest prefix (LPM tables). values holds
// each key field by name; a missing value is zero. entries may hold
// entries of other tables, which are skipped.
func (t *Table) Lookup(entries []*p4v1.TableEntry, values map[string][]byte) (*p4v1.TableEntry, error) {
	key := make(map[uint32][]byte, len(t.Fields))
	for _, f := range t.Fields {
		v, err := Encode(values[f.Name], f.Bitwidth)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", t.Name, f.Name, err)
		}
		key[f.ID] = pad(v, f.Bitwidth)
	}
	var best *p4v1.TableEntry
	bestLen := -1
	for _, e := range entries {
		if e.GetTableId() != t.ID || e.GetIsDefaultAction() {
			continue
		}
		ok, plen := t.hits(e, key)
		if !ok {
			continue
		}
		switch {
		case best == nil,
			t.NeedsPriority && e.GetPriority() > best.GetPriority(),
			!t.NeedsPriority && plen > bestLen:
			best, bestLen = e, plen
		}
	}
	return best, nil
}

func pad(v []byte, width int32) []byte {
	n := int(width+7) / 8
	if len(v) >= n {
		return v
	}
	out := make([]byte, n)
	copy(out[n-len(v):], v)
	return out
}

// hits reports whether e matches key, and its LPM prefix length.
func (t *Table) hits(e *p4v1.TableEntry, key map[uint32][]byte) (bool, int) {
	plen := 0
	given := map[uint32]bool{}
	for _, m := range e.GetMatch() {
		f, ok := t.fieldByID[m.GetFieldId()]
		if !ok {
			return false, 0
		}
		given[f.ID] = true
		v := key[f.ID]
		w := func(b []byte) []byte { return pad(Canonical(b), f.Bitwidth) }
		switch x := m.GetFieldMatchType().(type) {
		case *p4v1.FieldMatch_Exact_:
			if !bytes.Equal(v, w(x.Exact.GetValue())) {
				return false, 0
			}
		case *p4v1.FieldMatch_Optional_:
			if !bytes.Equal(v, w(x.Optional.GetValue())) {
				return false, 0
			}
		case *p4v1.FieldMatch_Ternary_:
			val, mask := w(x.Ternary.GetValue()), w(x.Ternary.GetMask())
			for i := range v {
				if v[i]&mask[i] != val[i]&mask[i] {
					return false, 0
				}
			}
		case *p4v1.FieldMatch_Lpm:
			n := int(x.Lpm.GetPrefixLen())
			mask := PrefixMask(f.Bitwidth, int32(n))
			val := w(x.Lpm.GetValue())
			for i := range v {
				if v[i]&mask[i] != val[i]&mask[i] {
					return false, 0
				}
			}
			plen = n
		case *p4v1.FieldMatch_Range_:
			if bytes.Compare(v, w(x.Range.GetLow())) < 0 || bytes.Compare(v, w(x.Range.GetHigh())) > 0 {
				return false, 0
			}
		default:
			return false, 0
		}
	}
	for _, f := range t.Fields {
		if f.Kind == MatchExact && !given[f.ID] {
			return false, 0 // malformed; never hits
		}
	}
	return true, plen
}

// FormatEntry writes e for people: table, matches and action by name.
func (in *Info) FormatEntry(e *p4v1.TableEntry) string {
	t, ok := in.TableByID(e.GetTableId())
	if !ok {
		return e.String()
	}
	var b strings.Builder
	b.WriteString(t.Name)
	for _, m := range e.GetMatch() {
		f, ok := t.FieldByID(m.GetFieldId())
		if !ok {
			continue
		}
		fmt.Fprintf(&b, " %s=", f.Name)
		switch x := m.GetFieldMatchType().(type) {
		case *p4v1.FieldMatch_Exact_:
			b.WriteString(formatValue(f.Name, x.Exact.GetValue(), f.Bitwidth))
		case *p4v1.FieldMatch_Optional_:
			b.WriteString(formatValue(f.Name, x.Optional.GetValue(), f.Bitwidth))
		case *p4v1.FieldMatch_Ternary_:
			fmt.Fprintf(&b, "%s&&&0x%x", formatValue(f.Name, x.Ternary.GetValue(), f.Bitwidth), pad(Canonical(x.Ternary.GetMask()), f.Bitwidth))
		case *p4v1.FieldMatch_Lpm:
			fmt.Fprintf(&b, "%s/%d", formatValue(f.Name, x.Lpm.GetValue(), f.Bitwidth), x.Lpm.GetPrefixLen())
		case *p4v1.FieldMatch_Range_:
			fmt.Fprintf(&b, "%s..%s", formatValue(f.Name, x.Range.GetLow(), f.Bitwidth), formatValue(f.Name, x.Range.GetHigh(), f.Bitwidth))
		}
	}
	if e.GetPriority() != 0 {
		fmt.Fprintf(&b, " priority=%d", e.GetPriority())
	}
	if a := e.GetAction().GetAction(); a != nil {
		act, ok := in.ActionByID(a.GetActionId())
		if ok {
			fmt.Fprintf(&b, " -> %s(", act.Name)
			for i, p := range a.GetParams() {
				if i > 0 {
					b.WriteString(", ")
				}
				if prm, ok := act.ParamByID(p.GetParamId()); ok {
					fmt.Fprintf(&b, "%s=%s", prm.Name, formatValue(prm.Name, p.GetValue(), prm.Bitwidth))
				}
			}
			b.WriteString(")")
		}
	}
	return b.String()
}

// formatValue shows addresses as addresses and everything else as a
// number.
func formatValue(name string, v []byte, width int32) string {
	v = pad(Canonical(v), width)
	switch {
	case width == 48:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = fmt.Sprintf("%02x", x)
		}
		return strings.Join(parts, ":")
	case width == 32 && strings.Contains(name, "ip"):
		return fmt.Sprintf("%d.%d.%d.%d", v[0], v[1], v[2], v[3])
	case width == 128:
		var a [16]byte
		copy(a[:], v)
		return fmt.Sprint(netipFrom16(a))
	}
	n, err := ToUint64(v)
	if err != nil {
		return fmt.Sprintf("0x%x", v)
	}
	return fmt.Sprint(n)
}

func netipFrom16(a [16]byte) netip.Addr { return netip.AddrFrom16(a) }
