package swx

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// DPDK 22.11's instructions address a struct's fields with an 8-bit byte
// offset (struct instr_operand), so a metadata field that starts at byte
// 256 or later is read and written at its offset modulo 256: the pipeline
// silently corrupts other fields. p4c-dpdk v1.2.4.8 widens every field
// narrower than 8 bits (bit<1>, bit<2>: drop, role, tcp_ack, verdicts)
// to bit<32>, which takes p4ctl's PNA metadata to 271 bytes.
//
// narrowSpec takes such fields back to bit<8> where that provably keeps
// every value: a metadata field whose every write is a mov of an
// immediate below 256, of a header field or action argument of at most 8
// bits (an argument's width is its P4Info parameter's, which every write
// is checked against), or of another field so narrowed; reads (compares,
// table keys, copies, register indexes) see the same values at any width.
// Key fields keep their order, so a table's key stays contiguous.

// maxMetadata is the bytes of metadata an instruction can address.
const maxMetadata = 256

// instr is one instruction of an action (action set) or of the apply
// block: its op and operands.
type instr struct {
	action string
	op     string
	args   []string
}

// narrowSpec returns the spec with the metadata fields it can narrow
// declared bit<8>, and the names narrowed. argBits gives an action
// argument's width as the control plane writes it (0: unknown).
func narrowSpec(spec []byte, sp *spec, argBits func(action, arg string) int) ([]byte, []string) {
	writes := map[string][]instr{} // metadata field -> the instructions that write it
	for _, in := range sp.instrs {
		if len(in.args) == 0 || !strings.HasPrefix(in.args[0], "m.") {
			continue
		}
		switch {
		case strings.HasPrefix(in.op, "jmp"), in.op == "tx", in.op == "table", in.op == "learner", in.op == "selector", in.op == "regwr", in.op == "regadd", in.op == "verify", in.op == "mirror", in.op == "learn":
			continue // reads
		}
		writes[in.args[0]] = append(writes[in.args[0]], in)
	}
	narrow := map[string]bool{}
	fits := func(in instr, src string) bool {
		switch {
		case strings.HasPrefix(src, "m."):
			return narrow[src] || sp.meta[src] > 0 && sp.meta[src] <= 8
		case strings.HasPrefix(src, "t."):
			b := argBits(in.action, strings.TrimPrefix(src, "t."))
			return b > 0 && b <= 8
		case strings.HasPrefix(src, "h."):
			b, ok := sp.headerField(src)
			return ok && b <= 8
		}
		v, err := strconv.ParseUint(src, 0, 64)
		return err == nil && v < 256
	}
	// The greatest set that holds: start from every field written and
	// wider than 8 bits, drop each that has a write that may not fit,
	// until nothing changes (fields that copy each other stay together).
	for f := range writes {
		if sp.meta[f] > 8 {
			narrow[f] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for f := range narrow {
			for _, in := range writes[f] {
				if in.op != "mov" || len(in.args) != 2 || !fits(in, in.args[1]) {
					delete(narrow, f)
					changed = true
					break
				}
			}
		}
	}
	if len(narrow) == 0 {
		return spec, nil
	}
	var names []string
	lines := bytes.Split(spec, []byte("\n"))
	in := false
	for i, l := range lines {
		f := strings.Fields(string(l))
		switch {
		case len(f) >= 2 && f[0] == "struct" && f[1] == sp.metaStruct:
			in = true
		case in && len(f) > 0 && f[0] == "}":
			in = false
		case in && len(f) == 2 && narrow["m."+f[1]]:
			lines[i] = []byte("\tbit<8> " + f[1])
			names = append(names, f[1])
		}
	}
	return bytes.Join(lines, []byte("\n")), names
}

// checkMetadata says whether every metadata field starts where an
// instruction can address it.
func checkMetadata(sp *spec) error {
	off := 0
	for _, f := range sp.structs[sp.metaStruct] {
		if off >= maxMetadata {
			return fmt.Errorf("metadata field %s starts at byte %d: DPDK 22.11 addresses the first %d bytes of a struct (the metadata is %d bytes even with the fields that can be narrowed)",
				f.Name, off, maxMetadata, sp.metaBytes())
		}
		off += f.Bits / 8
	}
	return nil
}

func (sp *spec) metaBytes() int {
	n := 0
	for _, f := range sp.structs[sp.metaStruct] {
		n += f.Bits / 8
	}
	return n
}
