// Package swx maps P4Runtime onto DPDK's SWX pipeline: it reads the
// `dpdk` device config p4ctl packs (a BfPipelineConfig carrying the
// p4c-dpdk .spec and context.json), checks it against the P4Info, turns
// table entries into the pipeline control API's entry lines, and is the
// p4rtsim.Backend that programs a running pipeline (Backend) through a
// Dataplane. The Dataplane itself (EAL, ports, the pipeline built from the
// spec, its thread) is cgo and lives in pkg/swx/dpdk behind the swx build
// tag; everything here is pure Go and tested without DPDK.
package swx

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Program is a pipeline as the SWX pipeline runs it: the .spec, and for
// every P4Info table, action and counter the names the spec gives them.
type Program struct {
	// Spec is the .spec as the pipeline runs it (FixSpec, narrowSpec).
	Spec []byte
	// Narrowed are the metadata fields declared bit<8> instead of bit<32>
	// (narrowSpec).
	Narrowed []string
	Info     *pipeline.Info

	tables   map[uint32]*Table // by P4Info table id
	counters map[uint32]*Regs  // indexed counters, by P4Info id
	spec     *spec             // the parsed spec
}

// Table is a P4Info table and its spec table.
type Table struct {
	Info *pipeline.Table
	// Name is the spec's name of the table.
	Name string
	// Keys are the spec's key fields, in the P4Info's field order.
	Keys []SpecField
	// Actions are the spec actions of the P4Info's, by P4Info action id.
	Actions map[uint32]*Action
	// ConstDefault is set when the spec makes the default action const.
	ConstDefault bool
	// Counter is the direct counter's register arrays; nil without one.
	Counter *Regs
	// Exact is set when every key field is exact in the spec: the
	// pipeline's entry ids (its direct counters' index) can be looked up.
	Exact bool
}

// SpecField is a key field or an action argument of the spec.
type SpecField struct {
	Name  string
	Bits  int
	Match string // key fields: exact, wildcard, lpm
}

// Action is a P4Info action as the spec names it.
type Action struct {
	Info *pipeline.Action
	Name string
	// Args are the spec's arguments in their order, each named as its
	// P4Info parameter.
	Args []SpecField
	// OutputPort names the parameters the action sends the packet to.
	OutputPort []string
}

// Regs are the register arrays a counter is kept in.
type Regs struct {
	Packets, Bytes string
	Size           uint64
}

// Table returns the table with P4Info id id.
func (p *Program) Table(id uint32) (*Table, bool) {
	t, ok := p.tables[id]
	return t, ok
}

// Counter returns the registers of the indexed counter with P4Info id id.
func (p *Program) Counter(id uint32) (*Regs, bool) {
	r, ok := p.counters[id]
	return r, ok
}

// Regarrays are the spec's register arrays with their sizes.
func (p *Program) Regarrays() map[string]uint64 { return p.spec.regarrays }

// context is what we read of context.json.
type context struct {
	Tables []struct {
		Name       string `json:"name"`
		TargetName string `json:"target_name"`
		Actions    []struct {
			Name       string `json:"name"`
			TargetName string `json:"target_name"`
			Handle     uint32 `json:"handle"`
		} `json:"actions"`
	} `json:"tables"`
	Externs []struct {
		Name       string `json:"name"`
		TargetName string `json:"target_name"`
		Type       string `json:"type"`
		Attributes struct {
			Type    string `json:"type"`
			TableID uint32 `json:"table_id"`
		} `json:"attributes"`
	} `json:"externs"`
}

// Parse reads a `dpdk` device config (pipeline.FormatBfrt, one profile)
// and checks it against info: every table, action, parameter and counter
// of the P4Info must be in context.json and the spec, with key fields and
// parameters as wide, or Parse says which is not.
func Parse(info *pipeline.Info, deviceConfig []byte) (*Program, error) {
	a, err := pipeline.UnpackBfrt(deviceConfig)
	if err != nil {
		return nil, fmt.Errorf("device config: %w (the dpdk target takes the bfrt format: p4ctl pipeline pack --target dpdk)", err)
	}
	if len(a.Profiles) != 1 {
		return nil, fmt.Errorf("device config: %d profiles, the SWX pipeline runs one", len(a.Profiles))
	}
	prof := a.Profiles[0]
	if len(bytes.TrimSpace(prof.Binary)) == 0 {
		return nil, fmt.Errorf("device config: profile %q has no .spec", prof.Name)
	}
	var ctx context
	if err := json.Unmarshal(prof.Context, &ctx); err != nil {
		return nil, fmt.Errorf("device config: profile %q: context.json: %v", prof.Name, err)
	}
	fixed := FixSpec(prof.Binary)
	sp, err := parseSpec(fixed)
	if err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	narrowed, names := narrowSpec(fixed, sp, argBits(info, &ctx))
	if len(names) > 0 {
		if sp, err = parseSpec(narrowed); err != nil {
			return nil, fmt.Errorf("spec with narrowed metadata: %w", err)
		}
	}
	if err := checkMetadata(sp); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	p := &Program{Spec: narrowed, Narrowed: names, Info: info, tables: map[uint32]*Table{}, counters: map[uint32]*Regs{}, spec: sp}
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("the P4Info does not match the spec: "+format, args...)
	}
	ctxTables := map[string]int{}
	for i, t := range ctx.Tables {
		ctxTables[t.Name] = i
	}
	for _, t := range info.Tables() {
		ci, ok := ctxTables[t.Name]
		if !ok {
			return nil, mismatch("table %s is not in context.json", t.Name)
		}
		ct := ctx.Tables[ci]
		st, ok := sp.tables[ct.TargetName]
		if !ok {
			return nil, mismatch("table %s (%s) is not in the spec", t.Name, ct.TargetName)
		}
		if len(st.keys) != len(t.Fields) {
			return nil, mismatch("table %s has %d key fields, the spec's %s %d", t.Name, len(t.Fields), st.name, len(st.keys))
		}
		tb := &Table{Info: t, Name: st.name, Actions: map[uint32]*Action{}, ConstDefault: st.constDefault, Exact: true}
		for i, f := range t.Fields {
			k := st.keys[i]
			if k.Bits < int(f.Bitwidth) {
				return nil, mismatch("table %s: field %s is %d bits, the spec's %s %d", t.Name, f.Name, f.Bitwidth, k.Name, k.Bits)
			}
			if f.Kind != pipeline.MatchExact && k.Match == "exact" {
				return nil, mismatch("table %s: field %s is %s, the spec's %s exact", t.Name, f.Name, f.Kind, k.Name)
			}
			if k.Match != "exact" {
				tb.Exact = false
			}
			tb.Keys = append(tb.Keys, k)
		}
		handles := map[uint32]string{}
		for _, ca := range ct.Actions {
			handles[ca.Handle] = ca.TargetName
		}
		for _, ref := range t.Actions {
			act := ref.Action
			target, ok := handles[act.ID]
			if !ok {
				return nil, mismatch("table %s: action %s is not in context.json", t.Name, act.Name)
			}
			name := target[strings.LastIndex(target, ".")+1:]
			sa, ok := sp.actions[name]
			if !ok || !st.actions[name] {
				return nil, mismatch("table %s: action %s (%s) is not one of the spec table's actions", t.Name, act.Name, name)
			}
			if len(sa.args) != len(act.Params) {
				return nil, mismatch("action %s has %d parameters, the spec's %s %d", act.Name, len(act.Params), name, len(sa.args))
			}
			for _, arg := range sa.args {
				pm, ok := act.Param(arg.Name)
				if !ok {
					return nil, mismatch("action %s: the spec's %s has argument %s, the P4Info no such parameter", act.Name, name, arg.Name)
				}
				if arg.Bits < int(pm.Bitwidth) {
					return nil, mismatch("action %s: parameter %s is %d bits, the spec's %d", act.Name, arg.Name, pm.Bitwidth, arg.Bits)
				}
			}
			tb.Actions[act.ID] = &Action{Info: act, Name: name, Args: sa.args, OutputPort: sa.outputPort}
		}
		p.tables[t.ID] = tb
	}
	for _, e := range ctx.Externs {
		switch e.Type {
		case "DirectCounter", "Counter":
		default:
			continue
		}
		regs := &Regs{Packets: e.TargetName + "_packets", Bytes: e.TargetName + "_bytes"}
		switch e.Attributes.Type {
		case "packets":
			regs.Bytes = ""
		case "bytes":
			regs.Packets = ""
		}
		for _, r := range []string{regs.Packets, regs.Bytes} {
			if r == "" {
				continue
			}
			size, ok := sp.regarrays[r]
			if !ok {
				return nil, mismatch("counter %s: register array %s is not in the spec", e.Name, r)
			}
			regs.Size = size
		}
		if e.Type == "DirectCounter" {
			for _, tb := range p.tables {
				if tb.Info.ID == e.Attributes.TableID {
					tb.Counter = regs
				}
			}
			continue
		}
		if c, ok := info.Counter(e.Name); ok {
			p.counters[c.ID] = regs
		}
	}
	for _, t := range p.tables {
		if t.Info.DirectCounterID != 0 && t.Counter == nil {
			return nil, mismatch("table %s has a direct counter, context.json none", t.Info.Name)
		}
		if t.Counter != nil && !t.Exact {
			return nil, fmt.Errorf("table %s: a direct counter on a table that is not exact match in the spec cannot be read (its entry ids are not known)", t.Info.Name)
		}
	}
	for _, c := range info.Counters() {
		if _, ok := p.counters[c.ID]; !ok {
			return nil, mismatch("counter %s is not in context.json", c.Name)
		}
	}
	return p, nil
}

// spec is what we read of a .spec: structs, tables, actions, register
// arrays.
type spec struct {
	metaStruct string
	headers    map[string]string // header instance -> struct
	instrs     []instr
	structs    map[string][]SpecField
	meta       map[string]int // metadata field -> bits
	tables     map[string]*specTable
	actions    map[string]*specAction
	regarrays  map[string]uint64
}

type specTable struct {
	name         string
	keys         []SpecField
	actions      map[string]bool
	constDefault bool
	size         uint64
}

type specAction struct {
	args       []SpecField
	outputPort []string
}

// outputPortField is the PNA metadata field the tx at the end of the
// main control sends to.
const outputPortField = "m.pna_main_output_metadata_output_port"

func parseSpec(b []byte) (*spec, error) {
	sp := &spec{headers: map[string]string{}, structs: map[string][]SpecField{}, meta: map[string]int{}, tables: map[string]*specTable{},
		actions: map[string]*specAction{}, regarrays: map[string]uint64{}}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	var lines [][]string
	var lineNo []int
	for n := 1; sc.Scan(); n++ {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], ";") || strings.HasPrefix(f[0], "//") {
			continue
		}
		lines = append(lines, f)
		lineNo = append(lineNo, n)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	argStruct := map[string]string{}
	var metaStruct string
	// block collects the lines up to the one that closes the block
	// opened at i, nested blocks included.
	block := func(i int) (int, [][]string, error) {
		depth := 1
		for j := i + 1; j < len(lines); j++ {
			l := lines[j]
			if l[len(l)-1] == "{" {
				depth++
			}
			if l[0] == "}" {
				depth--
				if depth == 0 {
					return j, lines[i+1 : j], nil
				}
			}
		}
		return 0, nil, fmt.Errorf("line %d: block not closed", lineNo[i])
	}
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		switch l[0] {
		case "struct":
			end, body, err := block(i)
			if err != nil {
				return nil, err
			}
			var fields []SpecField
			for _, f := range body {
				if len(f) < 2 {
					continue
				}
				bits, err := bitsOf(f[0])
				if err != nil {
					return nil, fmt.Errorf("line %d: %v", lineNo[i], err)
				}
				fields = append(fields, SpecField{Name: f[1], Bits: bits})
			}
			sp.structs[l[1]] = fields
			i = end
		case "metadata":
			if len(l) >= 3 {
				metaStruct = l[2]
			}
		case "header":
			if len(l) >= 4 {
				sp.headers[l[1]] = l[3]
			}
		case "regarray":
			if len(l) >= 4 {
				size, err := strconv.ParseUint(l[3], 0, 64)
				if err != nil {
					return nil, fmt.Errorf("line %d: regarray %s: size %q", lineNo[i], l[1], l[3])
				}
				sp.regarrays[l[1]] = size
			}
		case "action":
			end, body, err := block(i)
			if err != nil {
				return nil, err
			}
			a := &specAction{}
			if len(l) >= 5 && l[2] == "args" && l[3] == "instanceof" {
				argStruct[l[1]] = l[4]
			}
			for _, f := range body {
				if len(f) == 3 && f[0] == "mov" && f[1] == outputPortField && strings.HasPrefix(f[2], "t.") {
					a.outputPort = append(a.outputPort, strings.TrimPrefix(f[2], "t."))
				}
				sp.addInstr(l[1], f)
			}
			sp.actions[l[1]] = a
			i = end
		case "table", "learner", "selector":
			end, body, err := block(i)
			if err != nil {
				return nil, err
			}
			if l[0] != "table" {
				i = end
				continue
			}
			t := &specTable{name: l[1], actions: map[string]bool{}}
			section := ""
			for _, f := range body {
				switch {
				case len(f) == 2 && f[1] == "{":
					section = f[0]
				case f[0] == "}":
					section = ""
				case section == "key" && len(f) == 2:
					t.keys = append(t.keys, SpecField{Name: f[0], Match: f[1]})
				case section == "actions":
					t.actions[f[0]] = true
				case f[0] == "default_action":
					t.constDefault = f[len(f)-1] == "const"
				case f[0] == "size" && len(f) == 2:
					t.size, _ = strconv.ParseUint(f[1], 0, 64)
				}
			}
			sp.tables[t.name] = t
			i = end
		case "apply":
			end, body, err := block(i)
			if err != nil {
				return nil, err
			}
			for _, f := range body {
				sp.addInstr("", f)
			}
			i = end
		}
	}
	sp.metaStruct = metaStruct
	for _, f := range sp.structs[metaStruct] {
		sp.meta["m."+f.Name] = f.Bits
	}
	for _, t := range sp.tables {
		for i, k := range t.keys {
			bits, ok := sp.meta[k.Name]
			if !ok {
				// A header field: h.<header>.<field>.
				bits, ok = sp.headerField(k.Name)
			}
			if !ok {
				return nil, fmt.Errorf("table %s: key field %s is not declared", t.name, k.Name)
			}
			t.keys[i].Bits = bits
		}
	}
	for name, a := range sp.actions {
		if s, ok := argStruct[name]; ok {
			fields, ok := sp.structs[s]
			if !ok {
				return nil, fmt.Errorf("action %s: argument struct %s is not declared", name, s)
			}
			a.args = fields
		}
	}
	return sp, nil
}

// headerField finds the width of h.<header>.<field>.
func (sp *spec) headerField(name string) (int, bool) {
	parts := strings.Split(name, ".")
	if len(parts) != 3 || parts[0] != "h" {
		return 0, false
	}
	for _, f := range sp.structs[sp.headers[parts[1]]] {
		if f.Name == parts[2] {
			return f.Bits, true
		}
	}
	return 0, false
}

// addInstr records an instruction line (a label before it dropped).
func (sp *spec) addInstr(action string, f []string) {
	for len(f) >= 2 && f[1] == ":" {
		f = f[2:]
	}
	if len(f) == 0 {
		return
	}
	sp.instrs = append(sp.instrs, instr{action: action, op: f[0], args: f[1:]})
}

func bitsOf(t string) (int, error) {
	if !strings.HasPrefix(t, "bit<") || !strings.HasSuffix(t, ">") {
		return 0, fmt.Errorf("field type %q", t)
	}
	return strconv.Atoi(t[4 : len(t)-1])
}

// The input port p4c-dpdk v1.2.4.8 gives a PNA parser: it reads the
// parser's input metadata (istd.input_port) from a field of its own that
// nothing writes, while the pipeline's rx writes the main control's. Every
// frame would parse as from port 0: no port's entries would match and a
// packet-out (from the CPU port) would not be recognised.
const (
	mainInputPort   = "m.pna_main_input_metadata_input_port"
	parserInputPort = "m.pna_main_parser_input_metadata_input_port"
)

// FixSpec returns the spec as the SWX pipeline must run it: where the
// parser reads its own input port and rx fills the main control's, a
// copy of the one into the other right after the rx.
func FixSpec(spec []byte) []byte {
	if !bytes.Contains(spec, []byte(parserInputPort)) {
		return spec
	}
	lines := bytes.Split(spec, []byte("\n"))
	var out [][]byte
	fixed := false
	for _, l := range lines {
		out = append(out, l)
		f := strings.Fields(string(l))
		if !fixed && len(f) == 2 && f[0] == "rx" && f[1] == mainInputPort {
			out = append(out, []byte("\tmov "+parserInputPort+" "+mainInputPort))
			fixed = true
		}
	}
	if !fixed {
		return spec
	}
	return bytes.Join(out, []byte("\n"))
}

// argBits gives an action argument's width as the control plane writes
// it: its P4Info parameter's, found through context.json's action names.
func argBits(info *pipeline.Info, ctx *context) func(action, arg string) int {
	byTarget := map[string]*pipeline.Action{}
	for _, t := range ctx.Tables {
		for _, a := range t.Actions {
			if act, ok := info.ActionByID(a.Handle); ok {
				byTarget[a.TargetName[strings.LastIndex(a.TargetName, ".")+1:]] = act
			}
		}
	}
	return func(action, arg string) int {
		act, ok := byTarget[action]
		if !ok {
			return 0
		}
		p, ok := act.Param(arg)
		if !ok {
			return 0
		}
		return int(p.Bitwidth)
	}
}
