package swx

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"strconv"
	"strings"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// maxPriority is the highest P4Runtime priority a wildcard table takes:
// SWX priorities run the other way (0 is the highest) and its wildcard
// tables are DPDK ACLs, whose priorities end at RTE_ACL_MAX_PRIORITY
// (2^29-1). A P4Runtime priority p is SWX priority maxPriority-p.
const maxPriority = 1<<29 - 1

// MatchLine is the entry's key as the pipeline control API reads it
// ("match <field>... [priority N]"): what deletes and lookups give.
func (t *Table) MatchLine(e *p4v1.TableEntry) (string, error) {
	var b strings.Builder
	b.WriteString("match")
	byID := map[uint32]*p4v1.FieldMatch{}
	for _, m := range e.GetMatch() {
		byID[m.GetFieldId()] = m
	}
	for i, f := range t.Info.Fields {
		k := t.Keys[i]
		b.WriteByte(' ')
		if e.GetIsDefaultAction() {
			b.WriteString(number(nil, k.Bits))
			continue
		}
		s, err := fieldValue(f, k, byID[f.ID])
		if err != nil {
			return "", fmt.Errorf("table %s: %w", t.Info.Name, err)
		}
		b.WriteString(s)
	}
	if t.Info.NeedsPriority && !e.GetIsDefaultAction() {
		if e.GetPriority() > maxPriority {
			return "", fmt.Errorf("table %s: priority %d is above %d, the highest this target takes", t.Info.Name, e.GetPriority(), maxPriority)
		}
		fmt.Fprintf(&b, " priority %d", maxPriority-int64(e.GetPriority()))
	}
	return b.String(), nil
}

// Line is the whole entry as the pipeline control API reads it: the match
// and "action <name> <arg> <value>...". ports, when not nil, are the
// device's ports: a parameter the action sends the packet to must name
// one (the pipeline's tx would index past its ports otherwise).
func (t *Table) Line(e *p4v1.TableEntry, ports map[uint32]bool) (string, error) {
	m, err := t.MatchLine(e)
	if err != nil {
		return "", err
	}
	act := e.GetAction().GetAction()
	if act == nil {
		return "", fmt.Errorf("table %s: only direct actions are supported", t.Info.Name)
	}
	a, ok := t.Actions[act.GetActionId()]
	if !ok {
		return "", fmt.Errorf("table %s: action id %d is not one of its actions", t.Info.Name, act.GetActionId())
	}
	values := map[uint32][]byte{}
	for _, p := range act.GetParams() {
		values[p.GetParamId()] = p.GetValue()
	}
	var b strings.Builder
	b.WriteString(m)
	b.WriteString(" action ")
	b.WriteString(a.Name)
	for _, arg := range a.Args {
		pm, _ := a.Info.Param(arg.Name)
		v := values[pm.ID]
		if pipeline.BitLen(v) > int(pm.Bitwidth) {
			return "", fmt.Errorf("table %s: action %s: parameter %s: value 0x%x is wider than %d bits", t.Info.Name, a.Info.Name, pm.Name, v, pm.Bitwidth)
		}
		for _, op := range a.OutputPort {
			if op == arg.Name && ports != nil {
				port := new(big.Int).SetBytes(v)
				if !port.IsUint64() || !ports[uint32(port.Uint64())] || port.Uint64() > 1<<32-1 {
					return "", fmt.Errorf("table %s: action %s: port %s does not exist on this device (ports: %s)", t.Info.Name, a.Info.Name, port, portList(ports))
				}
			}
		}
		b.WriteByte(' ')
		b.WriteString(arg.Name)
		b.WriteByte(' ')
		b.WriteString(number(v, arg.Bits))
	}
	return b.String(), nil
}

func portList(ports map[uint32]bool) string {
	var ps []string
	for p := uint32(0); len(ps) < len(ports); p++ {
		if ports[p] {
			ps = append(ps, fmt.Sprint(p))
		}
	}
	return strings.Join(ps, ", ")
}

// fieldValue is one key field: "value" for an exact field of the spec,
// "value/mask" for a wildcard or LPM one.
func fieldValue(f *pipeline.Field, k SpecField, m *p4v1.FieldMatch) (string, error) {
	full := fullMask(int(f.Bitwidth))
	var value, mask []byte
	switch f.Kind {
	case pipeline.MatchExact:
		if m.GetExact() == nil {
			return "", fmt.Errorf("field %s: no exact value", f.Name)
		}
		value, mask = m.GetExact().GetValue(), full
	case pipeline.MatchLPM:
		if lpm := m.GetLpm(); lpm != nil {
			value, mask = lpm.GetValue(), prefixMask(int(f.Bitwidth), int(lpm.GetPrefixLen()))
		}
	case pipeline.MatchTernary:
		if t := m.GetTernary(); t != nil {
			value, mask = t.GetValue(), t.GetMask()
		}
	case pipeline.MatchOptional:
		if o := m.GetOptional(); o != nil {
			value, mask = o.GetValue(), full
		}
	case pipeline.MatchRange:
		if r := m.GetRange(); r != nil {
			var err error
			value, mask, err = rangeMask(f, r.GetLow(), r.GetHigh())
			if err != nil {
				return "", err
			}
		}
	default:
		return "", fmt.Errorf("field %s: match kind %s", f.Name, f.Kind)
	}
	for _, v := range [][]byte{value, mask} {
		if pipeline.BitLen(v) > int(f.Bitwidth) {
			return "", fmt.Errorf("field %s: value 0x%x is wider than %d bits", f.Name, v, f.Bitwidth)
		}
	}
	if k.Match == "exact" {
		return number(value, k.Bits), nil
	}
	return number(value, k.Bits) + "/" + number(mask, k.Bits), nil
}

// rangeMask turns a range into the value and mask of the aligned
// power-of-two block it must be on this target (pipeline.Limits
// .RangeAsMask: p4c-dpdk compiles range fields as wildcards).
func rangeMask(f *pipeline.Field, lo, hi []byte) ([]byte, []byte, error) {
	l, h := new(big.Int).SetBytes(lo), new(big.Int).SetBytes(hi)
	size := new(big.Int).Sub(h, l)
	size.Add(size, big.NewInt(1))
	ok := size.Sign() > 0 && size.BitLen() > 0 && new(big.Int).And(size, new(big.Int).Sub(size, big.NewInt(1))).Sign() == 0 &&
		new(big.Int).Mod(l, size).Sign() == 0
	if !ok {
		return nil, nil, fmt.Errorf("field %s: range %s..%s is not an aligned power-of-two block, which is all a range is on this target (p4c-dpdk compiles it as a wildcard)", f.Name, l, h)
	}
	full := new(big.Int).SetBytes(fullMask(int(f.Bitwidth)))
	mask := new(big.Int).AndNot(full, new(big.Int).Sub(size, big.NewInt(1)))
	return l.Bytes(), mask.Bytes(), nil
}

func fullMask(bits int) []byte {
	return prefixMask(bits, bits)
}

// prefixMask is a mask of bits bits whose top n are set.
func prefixMask(bits, n int) []byte {
	m := new(big.Int).Lsh(big.NewInt(1), uint(n))
	m.Sub(m, big.NewInt(1))
	m.Lsh(m, uint(bits-n))
	return m.Bytes()
}

// number writes v for a field of bits bits: hex up to 64 bits (strtoull),
// and all bits/8 bytes in hex above (the control API's large-field
// parser takes exactly that many).
func number(v []byte, bits int) string {
	if bits <= 64 && len(v) <= 8 {
		var x uint64
		for _, b := range v {
			x = x<<8 | uint64(b)
		}
		return "0x" + strconv.FormatUint(x, 16)
	}
	n := new(big.Int).SetBytes(v)
	if bits <= 64 {
		return "0x" + n.Text(16)
	}
	buf := make([]byte, (bits+7)/8)
	n.FillBytes(buf)
	return "0x" + hex.EncodeToString(buf)
}
