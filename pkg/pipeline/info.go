package pipeline

import (
	"fmt"
	"sort"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
)

// MatchKind is the match type of a table key field.
type MatchKind int

// The match kinds of P4Runtime's MatchField.MatchType.
const (
	MatchUnspecified MatchKind = iota
	MatchExact
	MatchLPM
	MatchTernary
	MatchRange
	MatchOptional
)

func (k MatchKind) String() string {
	switch k {
	case MatchExact:
		return "exact"
	case MatchLPM:
		return "lpm"
	case MatchTernary:
		return "ternary"
	case MatchRange:
		return "range"
	case MatchOptional:
		return "optional"
	}
	return "unspecified"
}

func matchKindOf(t p4cfg.MatchField_MatchType) MatchKind {
	switch t {
	case p4cfg.MatchField_EXACT:
		return MatchExact
	case p4cfg.MatchField_LPM:
		return MatchLPM
	case p4cfg.MatchField_TERNARY:
		return MatchTernary
	case p4cfg.MatchField_RANGE:
		return MatchRange
	case p4cfg.MatchField_OPTIONAL:
		return MatchOptional
	}
	return MatchUnspecified
}

// Field is one match field of a table.
type Field struct {
	ID       uint32
	Name     string
	Bitwidth int32
	Kind     MatchKind
}

// Param is one parameter of an action.
type Param struct {
	ID       uint32
	Name     string
	Bitwidth int32
}

// Action is an action with its parameters, in P4Info order.
type Action struct {
	ID     uint32
	Name   string
	Params []*Param

	paramByName map[string]*Param
	paramByID   map[uint32]*Param
}

// Param returns the parameter called name.
func (a *Action) Param(name string) (*Param, bool) {
	p, ok := a.paramByName[name]
	return p, ok
}

// ParamByID returns the parameter with the given id.
func (a *Action) ParamByID(id uint32) (*Param, bool) {
	p, ok := a.paramByID[id]
	return p, ok
}

// ActionRef is an action a table may use, with its scope.
type ActionRef struct {
	Action      *Action
	DefaultOnly bool // may only be the default action
	TableOnly   bool // may not be the default action
}

// Table is a match-action table.
type Table struct {
	ID     uint32
	Name   string
	Fields []*Field
	Size   int64
	// NeedsPriority is true when a key field is ternary, range or optional:
	// entries then need a priority > 0 and all others must have 0.
	NeedsPriority bool
	// ConstDefault is true when the control plane cannot change the
	// default action.
	ConstDefault    bool
	DefaultActionID uint32
	DirectCounterID uint32 // 0 when the table has no direct counter
	Actions         []ActionRef

	fieldByName map[string]*Field
	fieldByID   map[uint32]*Field
	actionByID  map[uint32]ActionRef
}

// MatchClass is the most demanding match kind among the table's fields,
// in the order exact < lpm < ternary (optional counts as ternary) < range.
// Exact and LPM tables live in SRAM or hash tables on hardware targets;
// ternary and range tables take TCAM.
func (t *Table) MatchClass() MatchKind {
	class := MatchExact
	rank := map[MatchKind]int{MatchExact: 0, MatchLPM: 1, MatchTernary: 2, MatchOptional: 2, MatchRange: 3}
	for _, f := range t.Fields {
		k := f.Kind
		if k == MatchOptional {
			k = MatchTernary
		}
		if rank[k] > rank[class] {
			class = k
		}
	}
	return class
}

// TCAM reports whether the table has a ternary, range or optional field.
func (t *Table) TCAM() bool { return t.NeedsPriority }

// Field returns the match field called name.
func (t *Table) Field(name string) (*Field, bool) {
	f, ok := t.fieldByName[name]
	return f, ok
}

// FieldByID returns the match field with the given id.
func (t *Table) FieldByID(id uint32) (*Field, bool) {
	f, ok := t.fieldByID[id]
	return f, ok
}

// ActionRef returns how the table may use the action with the given id.
func (t *Table) ActionRef(id uint32) (ActionRef, bool) {
	r, ok := t.actionByID[id]
	return r, ok
}

// Counter is an indexed counter or a direct counter.
type Counter struct {
	ID      uint32
	Name    string
	Unit    string // "packets", "bytes" or "both"
	Size    int64  // indexed counters only
	TableID uint32 // direct counters only
}

// MetadataField is a field of a controller packet header (packet_in or
// packet_out).
type MetadataField struct {
	ID       uint32
	Name     string
	Bitwidth int32
}

// PacketMetadata is a controller header: "packet_in" or "packet_out".
type PacketMetadata struct {
	ID     uint32
	Name   string
	Fields []*MetadataField

	fieldByName map[string]*MetadataField
	fieldByID   map[uint32]*MetadataField
}

// Field returns the metadata field called name.
func (m *PacketMetadata) Field(name string) (*MetadataField, bool) {
	f, ok := m.fieldByName[name]
	return f, ok
}

// Info indexes a P4Info by name and by id. It is immutable after NewInfo
// and safe for concurrent use.
type Info struct {
	P4Info *p4cfg.P4Info

	tables          map[string]*Table
	tablesByID      map[uint32]*Table
	actions         map[string]*Action
	actionsByID     map[uint32]*Action
	counters        map[string]*Counter
	countersByID    map[uint32]*Counter
	directCounters  map[string]*Counter
	directByID      map[uint32]*Counter
	packetMetadata  map[string]*PacketMetadata
	packetMetaByID  map[uint32]*PacketMetadata
	digests         map[string]*Digest
	tableNamesOrder []string
}

// NewInfo indexes p4info. It fails when the P4Info is inconsistent: a
// duplicate name or id, or a reference to an action or table that is not
// there.
func NewInfo(p4info *p4cfg.P4Info) (*Info, error) {
	in := &Info{
		P4Info:         p4info,
		tables:         map[string]*Table{},
		tablesByID:     map[uint32]*Table{},
		actions:        map[string]*Action{},
		actionsByID:    map[uint32]*Action{},
		counters:       map[string]*Counter{},
		countersByID:   map[uint32]*Counter{},
		directCounters: map[string]*Counter{},
		directByID:     map[uint32]*Counter{},
		packetMetadata: map[string]*PacketMetadata{},
		packetMetaByID: map[uint32]*PacketMetadata{},
	}
	for _, a := range p4info.GetActions() {
		pre := a.GetPreamble()
		act := &Action{ID: pre.GetId(), Name: pre.GetName(), paramByName: map[string]*Param{}, paramByID: map[uint32]*Param{}}
		for _, p := range a.GetParams() {
			prm := &Param{ID: p.GetId(), Name: p.GetName(), Bitwidth: p.GetBitwidth()}
			if _, dup := act.paramByName[prm.Name]; dup {
				return nil, fmt.Errorf("p4info: action %s: duplicate param %q", act.Name, prm.Name)
			}
			act.Params = append(act.Params, prm)
			act.paramByName[prm.Name] = prm
			act.paramByID[prm.ID] = prm
		}
		if err := addUnique(in.actions, in.actionsByID, act.Name, act.ID, act, "action"); err != nil {
			return nil, err
		}
	}
	for _, t := range p4info.GetTables() {
		pre := t.GetPreamble()
		tbl := &Table{
			ID:              pre.GetId(),
			Name:            pre.GetName(),
			Size:            t.GetSize(),
			ConstDefault:    t.GetConstDefaultActionId() != 0,
			DefaultActionID: t.GetConstDefaultActionId(),
			fieldByName:     map[string]*Field{},
			fieldByID:       map[uint32]*Field{},
			actionByID:      map[uint32]ActionRef{},
		}
		for _, mf := range t.GetMatchFields() {
			f := &Field{ID: mf.GetId(), Name: mf.GetName(), Bitwidth: mf.GetBitwidth(), Kind: matchKindOf(mf.GetMatchType())}
			if f.Kind == MatchUnspecified {
				return nil, fmt.Errorf("p4info: table %s: field %s: unsupported match type", tbl.Name, f.Name)
			}
			if f.Kind == MatchTernary || f.Kind == MatchRange || f.Kind == MatchOptional {
				tbl.NeedsPriority = true
			}
			if _, dup := tbl.fieldByName[f.Name]; dup {
				return nil, fmt.Errorf("p4info: table %s: duplicate match field %q", tbl.Name, f.Name)
			}
			tbl.Fields = append(tbl.Fields, f)
			tbl.fieldByName[f.Name] = f
			tbl.fieldByID[f.ID] = f
		}
		for _, ar := range t.GetActionRefs() {
			act, ok := in.actionsByID[ar.GetId()]
			if !ok {
				return nil, fmt.Errorf("p4info: table %s: unknown action id %d", tbl.Name, ar.GetId())
			}
			ref := ActionRef{
				Action:      act,
				DefaultOnly: ar.GetScope() == p4cfg.ActionRef_DEFAULT_ONLY,
				TableOnly:   ar.GetScope() == p4cfg.ActionRef_TABLE_ONLY,
			}
			tbl.Actions = append(tbl.Actions, ref)
			tbl.actionByID[act.ID] = ref
		}
		for _, id := range t.GetDirectResourceIds() {
			tbl.DirectCounterID = id // the pipeline attaches at most one
		}
		if err := addUnique(in.tables, in.tablesByID, tbl.Name, tbl.ID, tbl, "table"); err != nil {
			return nil, err
		}
		in.tableNamesOrder = append(in.tableNamesOrder, tbl.Name)
	}
	for _, c := range p4info.GetCounters() {
		pre := c.GetPreamble()
		ctr := &Counter{ID: pre.GetId(), Name: pre.GetName(), Unit: unitName(c.GetSpec().GetUnit()), Size: c.GetSize()}
		if err := addUnique(in.counters, in.countersByID, ctr.Name, ctr.ID, ctr, "counter"); err != nil {
			return nil, err
		}
	}
	for _, c := range p4info.GetDirectCounters() {
		pre := c.GetPreamble()
		ctr := &Counter{ID: pre.GetId(), Name: pre.GetName(), Unit: unitName(c.GetSpec().GetUnit()), TableID: c.GetDirectTableId()}
		if _, ok := in.tablesByID[ctr.TableID]; !ok {
			return nil, fmt.Errorf("p4info: direct counter %s: unknown table id %d", ctr.Name, ctr.TableID)
		}
		if err := addUnique(in.directCounters, in.directByID, ctr.Name, ctr.ID, ctr, "direct counter"); err != nil {
			return nil, err
		}
	}
	for _, tbl := range in.tablesByID {
		if tbl.DirectCounterID != 0 {
			if _, ok := in.directByID[tbl.DirectCounterID]; !ok {
				tbl.DirectCounterID = 0 // a direct resource that is not a counter (meter)
			}
		}
	}
	for _, m := range p4info.GetControllerPacketMetadata() {
		pre := m.GetPreamble()
		pm := &PacketMetadata{ID: pre.GetId(), Name: pre.GetName(), fieldByName: map[string]*MetadataField{}, fieldByID: map[uint32]*MetadataField{}}
		for _, f := range m.GetMetadata() {
			mf := &MetadataField{ID: f.GetId(), Name: f.GetName(), Bitwidth: f.GetBitwidth()}
			if _, dup := pm.fieldByName[mf.Name]; dup {
				return nil, fmt.Errorf("p4info: controller header %s: duplicate field %q", pm.Name, mf.Name)
			}
			if _, dup := pm.fieldByID[mf.ID]; dup {
				return nil, fmt.Errorf("p4info: controller header %s: duplicate field id %d", pm.Name, mf.ID)
			}
			pm.Fields = append(pm.Fields, mf)
			pm.fieldByName[mf.Name] = mf
			pm.fieldByID[mf.ID] = mf
		}
		if err := addUnique(in.packetMetadata, in.packetMetaByID, pm.Name, pm.ID, pm, "controller packet metadata"); err != nil {
			return nil, err
		}
	}
	var err error
	if in.digests, err = digestsOf(p4info); err != nil {
		return nil, err
	}
	sort.Strings(in.tableNamesOrder)
	return in, nil
}

func addUnique[T any](byName map[string]T, byID map[uint32]T, name string, id uint32, v T, what string) error {
	if _, dup := byName[name]; dup {
		return fmt.Errorf("p4info: duplicate %s name %q", what, name)
	}
	if _, dup := byID[id]; dup {
		return fmt.Errorf("p4info: duplicate %s id %d (%s)", what, id, name)
	}
	byName[name] = v
	byID[id] = v
	return nil
}

func unitName(u p4cfg.CounterSpec_Unit) string {
	switch u {
	case p4cfg.CounterSpec_PACKETS:
		return "packets"
	case p4cfg.CounterSpec_BYTES:
		return "bytes"
	case p4cfg.CounterSpec_BOTH:
		return "both"
	}
	return "unspecified"
}

// Table returns the table called name.
func (in *Info) Table(name string) (*Table, bool) {
	t, ok := in.tables[name]
	return t, ok
}

// TableByID returns the table with the given id.
func (in *Info) TableByID(id uint32) (*Table, bool) {
	t, ok := in.tablesByID[id]
	return t, ok
}

// Tables returns every table, sorted by name.
func (in *Info) Tables() []*Table {
	out := make([]*Table, 0, len(in.tableNamesOrder))
	for _, n := range in.tableNamesOrder {
		out = append(out, in.tables[n])
	}
	return out
}

// Action returns the action called name.
func (in *Info) Action(name string) (*Action, bool) {
	a, ok := in.actions[name]
	return a, ok
}

// ActionByID returns the action with the given id.
func (in *Info) ActionByID(id uint32) (*Action, bool) {
	a, ok := in.actionsByID[id]
	return a, ok
}

// Counter returns the indexed counter called name.
func (in *Info) Counter(name string) (*Counter, bool) {
	c, ok := in.counters[name]
	return c, ok
}

// DirectCounter returns the direct counter called name.
func (in *Info) DirectCounter(name string) (*Counter, bool) {
	c, ok := in.directCounters[name]
	return c, ok
}

// Counters returns the indexed counters, sorted by name.
func (in *Info) Counters() []*Counter { return sortedValues(in.counters) }

// DirectCounters returns the direct counters, sorted by name.
func (in *Info) DirectCounters() []*Counter { return sortedValues(in.directCounters) }

// PacketMetadata returns the controller header called name ("packet_in" or
// "packet_out").
func (in *Info) PacketMetadata(name string) (*PacketMetadata, bool) {
	m, ok := in.packetMetadata[name]
	return m, ok
}

// PacketMetadataByID returns the controller header with the given id.
func (in *Info) PacketMetadataByID(id uint32) (*PacketMetadata, bool) {
	m, ok := in.packetMetaByID[id]
	return m, ok
}

func sortedValues(m map[string]*Counter) []*Counter {
	out := make([]*Counter, 0, len(m))
	for _, c := range m {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
