package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Targets resolves a device's target name to its pipeline (table sizes,
// field widths, CPU port). pipeline.Embedded is one.
type Targets func(target string) (*pipeline.Pipeline, error)

// Compiler turns a Model into every device's rows and keeps them current
// as the model changes. It is not safe for concurrent use.
type Compiler struct {
	targets Targets
	model   *Model

	rows   map[place]*rowSet // by place: a row's place follows from its key
	counts map[place]*[numTables]int
	// held marks the places whose row set a DeviceSnapshot holds: such a
	// set is never written again; the first change copies it (rowsToWrite).
	held map[place]bool

	devIdx   map[string]uint32         // device name -> index (from 1)
	devNames []string                  // index -> name; [0] unused
	segOn    map[uint32]map[uint32]int // device index -> segment id -> ports
	identOn  map[uint32]map[uint32]int // device index -> identity id -> endpoints
	segByID  map[uint32]*Segment

	// Which devices hold each identity's destination-identity rows
	// (reach.go): the policy rows per (source, destination) identity
	// pair, the destinations of each source's pairs, and per identity
	// the devices with a policy row towards it from a local identity.
	pairCount map[[2]uint32]int32            // (source, destination) identity -> policy rows
	dstsOf    map[uint32]map[uint32]struct{} // source identity -> destination identities with rows
	reach     map[uint32]map[uint32]int      // destination identity -> device index -> local source identities

	ids        *allocator
	idents     map[identKey]*identity
	byID       map[uint32]*identity
	segIdents  map[string]map[uint32]*identity // segment -> its identities
	segVersion map[string]int                  // bumped when a segment's identities change
	selCache   map[string]selAnswer            // segment + selector -> identities
	epIdent    map[string]*identity
	pols       map[string]*polState
	segPols    map[string]map[string]*polState // segment -> policy name -> state
	parts      map[partKey]*partition          // port classes

	devCounts map[uint32]*[numTables]int // entries per table on each device
	devSizes  map[uint32]*[numTables]int // table sizes of each device's target

	// overflow is set when some device's table holds more than twice its
	// size: generation stops there, so that a selector matching
	// everything cannot exhaust memory, and the state is discarded.
	overflow error

	fab *fabric // the model's fabric (fabric.go)

	j *journal // records changes while an update runs

	// counterLog is what the recent updates did to the policy rows, from
	// which a counter index of an earlier model is brought up to date
	// (counterlog.go).
	counterLog counterLog
}

// row is a row's value and what produced it (policy names, object refs),
// as a multiset: most rows have one producer. Rows of the exact policy
// tables may have producers that give different values (rules of several
// policies for the same identity pair and port); own then holds each
// producer's value, parallel to refs(), and val is the highest ranked.
type row struct {
	val  rowVal
	ref  string
	more *rowMore // nil while the row has one producer
}

// rowMore is what a row with several producers holds beyond its first:
// the other producers, and each producer's value where they differ. It is
// never written once made: a change gives the row a new one, so that the
// row sets of snapshots that share it stay as they were.
type rowMore struct {
	extra []string
	own   []rowVal // nil while every producer gives val
}

// newMore is the rowMore of extra and own, nil when both are empty.
func newMore(extra []string, own []rowVal) *rowMore {
	if len(extra) == 0 && own == nil {
		return nil
	}
	return &rowMore{extra: extra, own: own}
}

// extra is the producers after the first.
func (r row) extra() []string {
	if r.more == nil {
		return nil
	}
	return r.more.extra
}

// own is each producer's value, parallel to refs(); nil while every
// producer gives val.
func (r row) own() []rowVal {
	if r.more == nil {
		return nil
	}
	return r.more.own
}

func (r row) refs() []string { return append([]string{r.ref}, r.extra()...) }

// deciding reports whether producer i gives the row's value.
func (r row) deciding(i int) bool { own := r.own(); return own == nil || own[i] == r.val }

// best is the highest ranked of vals.
func best(vals []rowVal) rowVal {
	b := vals[0]
	for _, v := range vals[1:] {
		if v.outranks(b) {
			b = v
		}
	}
	return b
}

// row returns the row with key k.
func (c *Compiler) row(k rowKey) (row, bool) {
	return c.rows[k.place()].get(&k)
}

type identKey struct {
	seg    string
	labels string
}

type identity struct {
	key     identKey
	id      uint32
	labels  map[string]string
	members map[string]*Endpoint
	devs    map[uint32]int
}

type polState struct {
	p        *Policy
	from, to map[uint32]bool // identities (identity policies)
	eps      map[string]bool // endpoints on the selector side (ACL policies)
}

// NewCompiler returns a compiler holding the empty model.
func NewCompiler(t Targets) *Compiler {
	c := &Compiler{targets: memo(t), ids: newAllocator()}
	c.reset(NewModel())
	return c
}

func (c *Compiler) reset(m *Model) {
	c.model = m
	c.rows = map[place]*rowSet{}
	c.counts = map[place]*[numTables]int{}
	c.held = map[place]bool{}
	c.devIdx = map[string]uint32{}
	c.devNames = []string{""}
	c.segOn = map[uint32]map[uint32]int{}
	c.identOn = map[uint32]map[uint32]int{}
	c.segByID = map[uint32]*Segment{}
	c.pairCount = map[[2]uint32]int32{}
	c.dstsOf = map[uint32]map[uint32]struct{}{}
	c.reach = map[uint32]map[uint32]int{}
	c.idents = map[identKey]*identity{}
	c.byID = map[uint32]*identity{}
	c.segIdents = map[string]map[uint32]*identity{}
	c.segVersion = map[string]int{}
	c.selCache = map[string]selAnswer{}
	c.epIdent = map[string]*identity{}
	c.pols = map[string]*polState{}
	c.segPols = map[string]map[string]*polState{}
	c.parts = map[partKey]*partition{}
	c.devCounts = map[uint32]*[numTables]int{}
	c.devSizes = map[uint32]*[numTables]int{}
	c.overflow = nil
	c.fab = fabricOf(m)
}

// Model is the model the compiled rows enforce.
func (c *Compiler) Model() *Model { return c.model }

// ErrCapacity is wrapped by errors about entries that do not fit a table.
var ErrCapacity = errors.New("does not fit")

// Try reports whether m compiles and fits every device, as Update would,
// and leaves the compiler at the model it was at. A change of endpoints,
// policies or ports costs two incremental updates, where Compile of m
// would cost a full compilation; a change of segments or devices costs
// one full compilation.
func (c *Compiler) Try(m *Model) error {
	_, _, err := c.TryTouched(m)
	return err
}

// TryTouched is Try that also says which devices the move from the
// compiler's model to m writes to, sorted; all is true instead when that
// is not worked out (a segment or device change, compiled aside without
// a diff).
func (c *Compiler) TryTouched(m *Model) (devices []string, all bool, err error) {
	prev := c.model
	if c.needsFull(m) {
		// Update would recompile everything and diff it, there and back:
		// building the trial model aside and dropping it is the same
		// check without the diffs, and leaves the compiler untouched.
		if err := c.checkTargets(m, nil); err != nil {
			return nil, false, err
		}
		_, err := c.rebuild(m)
		return nil, err == nil, err
	}
	// No entries are built: the trial needs the devices and their
	// capacity, not the messages.
	log := c.counterLog
	d, err := c.UpdateSkipping(m, func(string) bool { return true })
	if err != nil {
		return nil, false, err
	}
	for name, dd := range d.Devices {
		if dd.Skipped || dd.Len() > 0 {
			devices = append(devices, name)
		}
	}
	slices.Sort(devices)
	c.revert(m, prev, log)
	return devices, false, nil
}

// revert moves the compiler from m, where a trial update left it, back to
// prev, where it was: the reverse changes restore every row and
// identity, with no delta worked out (nothing is written for a trial),
// and log, the counter log as it was at prev, is put back.
func (c *Compiler) revert(m, prev *Model, log counterLog) {
	c.j = nil
	c.apply(m, prev)
	c.counterLog = log
}

// DeltaTo is what Update(m) would write to each device, without moving
// the compiler: it compiles m and diffs, then returns to the model it was
// at (a segment or device change is compiled aside instead).
func (c *Compiler) DeltaTo(m *Model) (*Delta, error) {
	prev := c.model
	if c.needsFull(m) {
		if err := c.checkTargets(m, nil); err != nil {
			return nil, err
		}
		n, err := c.rebuild(m)
		if err != nil {
			return nil, err
		}
		return diffCompilers(c, n, nil)
	}
	log := c.counterLog
	d, err := c.Update(m)
	if err != nil {
		return nil, err
	}
	c.revert(m, prev, log)
	return d, nil
}

// Update moves the compiler to m and returns what changed on each device.
// Endpoint, policy and port changes are compiled incrementally; a changed
// segment or device recompiles everything (identities keep their ids).
// When the result does not fit a device's tables, or a port does not fit
// its target, the error says which, and the compiler stays at the old
// model.
func (c *Compiler) Update(m *Model) (*Delta, error) { return c.UpdateSkipping(m, nil) }

// UpdateSkipping is Update that builds no entries for the devices skip
// names (nil: none): a device that will be reconciled in full anyway, or
// that the caller does not write, gets a DeviceDelta marked Skipped when
// its rows may have changed, and its tables are still checked for
// capacity. A first compile of a large fleet builds no entry at all this
// way.
func (c *Compiler) UpdateSkipping(m *Model, skip func(device string) bool) (*Delta, error) {
	old := c.model
	if c.needsFull(m) {
		if err := c.checkTargets(m, nil); err != nil {
			return nil, err
		}
		return c.full(m, skip)
	}
	ports := diffModels(old, m).ports
	if ports == nil {
		ports = []PortKey{} // none changed: check none
	}
	if err := c.checkTargets(m, ports); err != nil {
		return nil, err
	}
	c.j = newJournal()
	c.apply(old, m)
	if err := c.overflow; err != nil {
		// Generation stopped part way: rebuild the old state.
		n := &Compiler{targets: c.targets, ids: c.ids.sticky()}
		n.reset(NewModel())
		n.apply(NewModel(), old)
		*c = *n
		return nil, err
	}
	d, err := c.delta(old, m, skip)
	if err == nil {
		err = c.checkCapacity(d.devices())
	}
	if err != nil {
		// Undo: the reverse changes restore every row and identity.
		c.j = nil
		c.apply(m, old)
		return nil, err
	}
	c.counterLog.record(c, old, m)
	c.j = nil
	return d, nil
}

// needsFull reports whether moving to m takes a full recompile: its
// segments, devices or fabric differ from the compiled model's.
func (c *Compiler) needsFull(m *Model) bool {
	return !sameMaps(c.model.Segments, m.Segments) || !sameMaps(c.model.Devices, m.Devices) || !fabricOf(m).equal(c.fab)
}

// full recompiles m from scratch, keeping identity ids, and diffs the
// result against the current rows.
func (c *Compiler) full(m *Model, skip func(string) bool) (*Delta, error) {
	n, err := c.rebuild(m)
	if err != nil {
		return nil, err
	}
	d, err := diffCompilers(c, n, skip)
	if err != nil {
		return nil, err
	}
	*c = *n
	return d, nil
}

// rebuild compiles m from nothing into a new compiler with c's targets
// and identity ids, and checks that it fits.
func (c *Compiler) rebuild(m *Model) (*Compiler, error) {
	n := &Compiler{targets: c.targets, ids: c.ids.sticky()}
	n.reset(NewModel())
	n.apply(NewModel(), m)
	if n.overflow != nil {
		return nil, n.overflow
	}
	if err := n.checkCapacity(slices.Collect(maps.Keys(m.Devices))); err != nil {
		return nil, err
	}
	return n, nil
}

// memo remembers t's answers: loading a pipeline parses its P4Info.
func memo(t Targets) Targets {
	type answer struct {
		p   *pipeline.Pipeline
		err error
	}
	seen := map[string]answer{}
	return func(name string) (*pipeline.Pipeline, error) {
		if a, ok := seen[name]; ok {
			return a.p, a.err
		}
		p, err := t(name)
		seen[name] = answer{p, err}
		return p, err
	}
}

func sameMaps[K comparable, V comparable](a, b map[K]V) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// modelDiff is what differs between two models.
type modelDiff struct {
	policies, endpoints []string
	ports               []PortKey
}

// diffModels finds the policies, endpoints and ports that differ between
// a and b: from b's record of its changes when b was made from a by With,
// by comparing every object otherwise.
func diffModels(a, b *Model) modelDiff {
	if b.base.Value() != a || b.touched == nil {
		return modelDiff{changed(a.Policies, b.Policies), changed(a.Endpoints, b.Endpoints), changed(a.Ports, b.Ports)}
	}
	var d modelDiff
	for _, ref := range slices.Sorted(maps.Keys(b.touched)) {
		kind, name, _ := strings.Cut(ref, " ")
		switch kind {
		case KindPolicy:
			if a.Policies[name] != b.Policies[name] {
				d.policies = append(d.policies, name)
			}
		case KindEndpoint:
			if a.Endpoints[name] != b.Endpoints[name] {
				d.endpoints = append(d.endpoints, name)
			}
		case KindPort:
			for _, m := range []*Model{a, b} {
				for _, k := range portKeysNamed(m, name) {
					if a.Ports[k] != b.Ports[k] && !slices.Contains(d.ports, k) {
						d.ports = append(d.ports, k)
					}
				}
			}
		}
	}
	return d
}

// portKeysNamed finds the key of the port "device/port" in m.
func portKeysNamed(m *Model, name string) []PortKey {
	dev, num, ok := strings.Cut(name, "/")
	if !ok {
		return nil
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return nil
	}
	k := PortKey{dev, uint32(n)}
	if _, ok := m.Ports[k]; !ok {
		return nil
	}
	return []PortKey{k}
}

// apply makes the changes from model a to model b: removals first, then
// additions, so that an identity's policies are evaluated once.
func (c *Compiler) apply(a, b *Model) {
	c.model = b
	c.fab = fabricOf(b) // equal to a's unless the compiler is new (needsFull)
	for _, s := range b.Segments {
		c.segByID[uint32(s.ID)] = s
	}
	for name := range b.Devices {
		c.device(name)
	}
	d := diffModels(a, b)
	// With no endpoint or port changing, the identities stay: a policy
	// edited within its selectors and ranges moves by its changed rows
	// alone (policyupdate.go).
	var inPlace map[string]bool
	for _, name := range d.policies {
		p, ok := a.Policies[name]
		if !ok || p.Staged {
			continue
		}
		if q, ok := b.Policies[name]; ok && len(d.endpoints) == 0 && len(d.ports) == 0 && updatableInPlace(p, q) {
			if inPlace == nil {
				inPlace = map[string]bool{}
			}
			inPlace[name] = true
			c.updatePolicy(p, q)
			continue
		}
		c.removePolicy(p)
	}
	for _, name := range d.endpoints {
		if e, ok := a.Endpoints[name]; ok && e.Placed() {
			c.removeEndpoint(e)
		}
	}
	for _, k := range d.ports {
		if p, ok := a.Ports[k]; ok {
			c.removePort(p)
		}
	}
	for _, k := range d.ports {
		if p, ok := b.Ports[k]; ok {
			c.addPort(p)
		}
	}
	for _, name := range d.endpoints {
		if e, ok := b.Endpoints[name]; ok && e.Placed() {
			c.addEndpoint(e)
		}
	}
	for _, name := range d.policies {
		if p, ok := b.Policies[name]; ok && !p.Staged && !inPlace[name] {
			c.addPolicy(p)
		}
	}
}

// changed lists the keys whose object differs between a and b (added,
// removed or replaced), sorted for a deterministic order.
func changed[K comparable, V comparable](a, b map[K]V) []K {
	var out []K
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			out = append(out, k)
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(x, y K) int {
		sx, sy := fmt.Sprint(x), fmt.Sprint(y)
		switch {
		case sx < sy:
			return -1
		case sx > sy:
			return 1
		}
		return 0
	})
	return out
}

func (c *Compiler) device(name string) uint32 {
	if i, ok := c.devIdx[name]; ok {
		return i
	}
	i := uint32(len(c.devNames))
	c.devIdx[name] = i
	c.devNames = append(c.devNames, name)
	return i
}

func (c *Compiler) segID(name string) uint32 { return uint32(c.model.Segments[name].ID) }

// ---- rows ----------------------------------------------------------------

// rowsToWrite returns the row set of place pl for a change: the set
// itself, or, when a snapshot holds it, a copy that takes its place.
func (c *Compiler) rowsToWrite(pl place) *rowSet {
	set := c.rows[pl]
	if set != nil && c.held[pl] {
		set = set.clone()
		c.rows[pl] = set
		delete(c.held, pl)
	}
	return set
}

// addRow adds a production of row k, by ref with value v.
func (c *Compiler) addRow(k rowKey, v rowVal, ref string) {
	pl := k.place()
	set := c.rowsToWrite(pl)
	if r, ok := set.get(&k); ok {
		before := r
		extra, own := r.extra(), r.own()
		if own == nil && r.val != v {
			if !policyTable(k.t) {
				panic(fmt.Sprintf("policy: %s row produced with two values (%v by %v, %v by %s)", tableNames[k.t], r.val, r.refs(), v, ref))
			}
			own = make([]rowVal, 1+len(extra))
			for i := range own {
				own[i] = r.val
			}
		}
		extra = append(extra, ref)
		if own != nil {
			own = append(own, v)
			if v.outranks(r.val) {
				c.j.touchRow(c, k)
				r.val = v
			}
		}
		r.more = newMore(extra, own)
		set.put(&k, r)
		c.j.noteProducers(&k, before, true, r, true)
		return
	}
	c.j.touchRow(c, k)
	if set == nil {
		set = &rowSet{}
		c.rows[pl] = set
	}
	r := row{val: v, ref: ref}
	set.put(&k, r)
	c.j.noteProducers(&k, row{}, false, r, true)
	cnt := c.counts[pl]
	if cnt == nil {
		cnt = new([numTables]int)
		c.counts[pl] = cnt
	}
	cnt[k.t]++
	c.countOnDevices(pl, k.t, 1)
	if policyTable(k.t) {
		c.pairRowAdded(k.n1, k.n2)
	}
}

// countOnDevices adds n rows of table t to every device that place pl is
// on.
func (c *Compiler) countOnDevices(pl place, t table, n int) {
	switch pl.kind {
	case onDevice:
		c.count(pl.n, t, n)
	case onSegment:
		for dev, segs := range c.segOn {
			if segs[pl.n] > 0 {
				c.count(dev, t, n)
			}
		}
	case onIdentity:
		if id := c.byID[pl.n]; id != nil {
			for dev := range id.devs {
				c.count(dev, t, n)
			}
		}
	case onReachable:
		for dev := range c.reach[pl.n] {
			c.count(dev, t, n)
		}
	}
}

// count adds n rows of table t on device dev, and notes an overflow.
func (c *Compiler) count(dev uint32, t table, n int) {
	dc := c.devCount(dev)
	dc[t] += n
	if n > 0 && c.overflow == nil {
		if size := c.devSize(dev)[t]; size > 0 && dc[t] > 2*size {
			// dc counts rows before equal rows merge: an upper bound,
			// refused early only when it is over twice the table.
			c.overflow = fmt.Errorf("device %s: table %s would take up to %d entries (before equal rules merge) and holds %d: %w",
				c.devNames[dev], tableNames[t], dc[t], size, ErrCapacity)
		}
	}
}

// devSize is the table sizes of device dev's target (0: unknown).
func (c *Compiler) devSize(dev uint32) *[numTables]int {
	if sz := c.devSizes[dev]; sz != nil {
		return sz
	}
	sz := new([numTables]int)
	if in, err := c.info(c.model, c.devNames[dev]); err == nil {
		for t, name := range tableNames {
			if tb, ok := in.Table(name); ok {
				sz[t] = int(tb.Size)
			}
		}
	}
	c.devSizes[dev] = sz
	return sz
}

// placeCounted adds (sign 1) or removes (-1) every row of pl to device
// dev's counts, as the place comes onto or leaves the device.
func (c *Compiler) placeCounted(dev uint32, pl place, sign int) {
	cnt := c.counts[pl]
	if cnt == nil {
		return
	}
	for t, n := range cnt {
		c.count(dev, table(t), sign*n)
	}
}

func (c *Compiler) devCount(dev uint32) *[numTables]int {
	dc := c.devCounts[dev]
	if dc == nil {
		dc = new([numTables]int)
		c.devCounts[dev] = dc
	}
	return dc
}

// dropRow removes one production of row k, by ref with value v.
func (c *Compiler) dropRow(k rowKey, v rowVal, ref string) {
	pl := k.place()
	set := c.rowsToWrite(pl)
	r, ok := set.get(&k)
	if !ok {
		panic(fmt.Sprintf("policy: dropping a %s row that is not there (by %s)", tableNames[k.t], ref))
	}
	before := r
	if len(r.extra()) == 0 {
		if r.ref != ref {
			panic(fmt.Sprintf("policy: %s row has no reference from %s (has %v)", tableNames[k.t], ref, r.refs()))
		}
		// The last reference.
		c.j.touchRow(c, k)
		set.del(&k)
		if set.len() == 0 {
			delete(c.rows, pl)
			delete(c.held, pl)
		}
		c.counts[pl][k.t]--
		c.countOnDevices(pl, k.t, -1)
		if policyTable(k.t) {
			c.pairRowDropped(k.n1, k.n2)
		}
		c.j.noteProducers(&k, before, true, row{}, false)
		return
	}
	// Find the production: ref, with value v where producers differ. The
	// row gets new slices and a new rowMore rather than writes to its
	// own: a set a snapshot holds is copied before it changes
	// (rowsToWrite), and the copy's rows share their slices with the
	// snapshot's, which reads them (counters.go).
	refs := r.refs() // a new slice
	own := r.own()
	i := -1
	for j, x := range refs {
		if x == ref && (own == nil || own[j] == v) {
			i = j
			break
		}
	}
	if i < 0 {
		panic(fmt.Sprintf("policy: %s row has no reference from %s with %v (has %v)", tableNames[k.t], ref, v, refs))
	}
	last := len(refs) - 1
	refs[i] = refs[last]
	refs = refs[:last]
	r.ref = refs[0]
	if own != nil {
		own = slices.Clone(own)
		own[i] = own[last]
		own = own[:last]
		if b := best(own); b != r.val {
			c.j.touchRow(c, k)
			r.val = b
		}
		if !slices.ContainsFunc(own, func(x rowVal) bool { return x != r.val }) {
			own = nil
		}
	}
	r.more = newMore(refs[1:], own)
	set.put(&k, r)
	c.j.noteProducers(&k, before, true, r, true)
}

// ---- ports ----------------------------------------------------------------

func (c *Compiler) portRows(p *Port) (rowKey, rowVal, rowKey, rowVal) {
	dev := c.device(p.Device)
	seg := c.segID(p.Segment)
	punt := uint32(0)
	if p.PuntARP {
		punt = 1
	}
	tagged := uint32(0)
	if c.fab.tagged[PortKey{p.Device, p.Port}] {
		tagged = 1
	}
	return rowKey{t: tPorts, dev: dev, n1: p.Port}, rowVal{p: [4]uint32{seg, uint32(p.Role), uint32(p.Community), punt}},
		rowKey{t: tEgressPorts, dev: dev, n1: p.Port}, rowVal{p: [4]uint32{seg, uint32(p.Role), uint32(p.Community), tagged}}
}

func (c *Compiler) addPort(p *Port) {
	k1, v1, k2, v2 := c.portRows(p)
	c.addRow(k1, v1, p.Ref())
	c.addRow(k2, v2, p.Ref())
	dev, seg := c.device(p.Device), c.segID(p.Segment)
	if c.segOn[dev] == nil {
		c.segOn[dev] = map[uint32]int{}
	}
	if c.segOn[dev][seg] == 0 {
		// The segment's rows come onto the device.
		pl := place{onSegment, seg}
		c.j.touchPlace(c, dev, pl)
		c.segOn[dev][seg] = 1
		c.placeCounted(dev, pl, 1)
		c.addRow(rowKey{t: tSegments, n1: seg}, c.segmentVal(seg), KindSegment+" "+p.Segment)
	} else {
		c.segOn[dev][seg]++
	}
	c.j.touchGroups(dev)
}

func (c *Compiler) removePort(p *Port) {
	k1, v1, k2, v2 := c.portRows(p)
	c.dropRow(k1, v1, p.Ref())
	c.dropRow(k2, v2, p.Ref())
	dev, seg := c.device(p.Device), c.segIDOld(p.Segment)
	if c.segOn[dev][seg] == 1 {
		// The segment's rows leave the device.
		pl := place{onSegment, seg}
		c.j.touchPlace(c, dev, pl) // before it changes
		c.dropRow(rowKey{t: tSegments, n1: seg}, c.segmentVal(seg), KindSegment+" "+p.Segment)
		c.placeCounted(dev, pl, -1)
		delete(c.segOn[dev], seg)
	} else {
		c.segOn[dev][seg]--
	}
	c.j.touchGroups(dev)
}

// segIDOld resolves a segment of an object being removed. Segments only
// change through full recompiles, so the current model has it.
func (c *Compiler) segIDOld(name string) uint32 { return c.segID(name) }

func (c *Compiler) segmentVal(seg uint32) rowVal {
	s := c.segByID[seg]
	allow := uint32(0)
	if s.DefaultAllow {
		allow = 1
	}
	return rowVal{p: [4]uint32{allow, seg}}
}

// ---- endpoints ------------------------------------------------------------

// endpointRows calls fn with endpoint e's rows, e having identity id: its
// source-identity rows and L2 row on its device, its destination-identity
// rows (on the devices that reach id, reach.go) and the L2 rows of the
// fabric's other switches.
func (c *Compiler) endpointRows(e *Endpoint, id uint32, fn func(rowKey, rowVal)) {
	dev := c.device(e.Device)
	seg := c.segID(e.Segment)
	var mac [6]byte
	copy(mac[:], e.MAC)
	for _, ip := range e.IPs {
		src, dst := tSrc4, tDst4
		if ip.Is6() {
			src, dst = tSrc6, tDst6
		}
		fn(rowKey{t: src, dev: dev, n1: e.Port, mac: mac, a1: ip}, rowVal{p: [4]uint32{id}})
		fn(rowKey{t: dst, n1: seg, n2: id, a1: ip, b1: uint8(ip.BitLen())}, rowVal{p: [4]uint32{id}})
	}
	fn(rowKey{t: tL2, dev: dev, n1: seg, mac: mac}, rowVal{p: [4]uint32{e.Port}})
	// Every other switch of the fabric forwards to it along the tree.
	c.fab.remoteL2(e, func(other string, port uint32) {
		fn(rowKey{t: tL2, dev: c.device(other), n1: seg, mac: mac}, rowVal{p: [4]uint32{port}})
	})
}

func (c *Compiler) addEndpoint(e *Endpoint) {
	id := c.identityFor(e)
	c.endpointRows(e, id.id, func(k rowKey, v rowVal) { c.addRow(k, v, e.Ref()) })
	id.members[e.Name] = e
	c.epIdent[e.Name] = id
	dev := c.device(e.Device)
	if c.identOn[dev] == nil {
		c.identOn[dev] = map[uint32]int{}
	}
	if id.devs[dev] == 0 {
		// The identity's policy rows come onto the device.
		pl := place{onIdentity, id.id}
		c.j.touchPlace(c, dev, pl)
		id.devs[dev], c.identOn[dev][id.id] = 1, 1
		c.placeCounted(dev, pl, 1)
		// And with them the destinations they name.
		for t := range c.dstsOf[id.id] {
			c.reachable(dev, t, 1)
		}
	} else {
		id.devs[dev]++
		c.identOn[dev][id.id]++
	}
	for _, ps := range c.sortedPolicies(e.Segment, true) {
		if ps.side(e.Labels) {
			ps.eps[e.Name] = true
			c.aclRowsFor(ps, e, func(k rowKey, v rowVal) { c.addRow(k, v, ps.p.Name) })
		}
	}
}

func (c *Compiler) removeEndpoint(e *Endpoint) {
	id := c.epIdent[e.Name]
	for _, ps := range c.sortedPolicies(e.Segment, true) {
		if ps.eps[e.Name] {
			c.aclRowsFor(ps, e, func(k rowKey, v rowVal) { c.dropRow(k, v, ps.p.Name) })
			delete(ps.eps, e.Name)
		}
	}
	c.endpointRows(e, id.id, func(k rowKey, v rowVal) { c.dropRow(k, v, e.Ref()) })
	delete(id.members, e.Name)
	delete(c.epIdent, e.Name)
	dev := c.device(e.Device)
	if id.devs[dev] == 1 {
		// The identity's policy rows leave the device.
		pl := place{onIdentity, id.id}
		c.j.touchPlace(c, dev, pl) // before it changes
		c.placeCounted(dev, pl, -1)
		for t := range c.dstsOf[id.id] {
			c.reachable(dev, t, -1)
		}
		delete(id.devs, dev)
		delete(c.identOn[dev], id.id)
	} else {
		id.devs[dev]--
		c.identOn[dev][id.id]--
	}
	if len(id.members) == 0 {
		c.dropIdentity(id)
	}
}

// identityFor returns e's identity, creating it (and its policy rows) if
// e is the first endpoint with its segment and labels.
func (c *Compiler) identityFor(e *Endpoint) *identity {
	key := identKey{e.Segment, labelsKey(e.Labels)}
	if id, ok := c.idents[key]; ok {
		return id
	}
	n, ok := c.model.identities().id(key)
	if !ok {
		// Models made by With always hold their endpoints' ids.
		c.overflow = fmt.Errorf("endpoint %s: the model gives its identity no id", e.Name)
		n = c.ids.alloc(key)
	}
	id := &identity{key: key, id: n, labels: e.Labels, members: map[string]*Endpoint{}, devs: map[uint32]int{}}
	c.idents[key] = id
	c.byID[n] = id
	if c.segIdents[e.Segment] == nil {
		c.segIdents[e.Segment] = map[uint32]*identity{}
	}
	c.segIdents[e.Segment][n] = id
	c.segVersion[e.Segment]++
	for _, ps := range c.sortedPolicies(e.Segment, false) {
		from, to := ps.p.From.Matches(e.Labels), ps.p.To.Matches(e.Labels)
		if from {
			ps.from[n] = true
		}
		if to {
			ps.to[n] = true
		}
		// The new pairs: (n, every destination, n included when it is
		// one), and (every other source, n).
		if from {
			for t := range ps.to {
				if c.overflow != nil {
					return id
				}
				c.pairRows(ps.p, n, t, func(k rowKey, v rowVal) { c.addRow(k, v, ps.p.Name) })
			}
		}
		if to {
			for f := range ps.from {
				if c.overflow != nil {
					return id
				}
				if f != n {
					c.pairRows(ps.p, f, n, func(k rowKey, v rowVal) { c.addRow(k, v, ps.p.Name) })
				}
			}
		}
	}
	return id
}

func (c *Compiler) dropIdentity(id *identity) {
	seg := id.key.seg
	for _, ps := range c.sortedPolicies(seg, false) {
		n := id.id
		if ps.from[n] {
			for t := range ps.to {
				c.pairRows(ps.p, n, t, func(k rowKey, v rowVal) { c.dropRow(k, v, ps.p.Name) })
			}
		}
		if ps.to[n] {
			for f := range ps.from {
				if f == n {
					continue // dropped above
				}
				c.pairRows(ps.p, f, n, func(k rowKey, v rowVal) { c.dropRow(k, v, ps.p.Name) })
			}
		}
		delete(ps.from, n)
		delete(ps.to, n)
	}
	delete(c.idents, id.key)
	delete(c.byID, id.id)
	delete(c.segIdents[id.key.seg], id.id)
	c.segVersion[id.key.seg]++
	c.ids.release(id.key, id.id)
}

// ---- policies -------------------------------------------------------------

// sortedPolicies returns the policies of a segment, ACL ones or identity
// ones. (The order does not matter: rows are reference counted.)
func (c *Compiler) sortedPolicies(seg string, acl bool) []*polState {
	var out []*polState
	for _, ps := range c.segPols[seg] {
		if ps.p.acl() == acl {
			out = append(out, ps)
		}
	}
	return out
}

// side reports whether labels match an ACL policy's selector side.
func (ps *polState) side(labels map[string]string) bool {
	if ps.p.FromCIDRs != nil {
		return ps.p.To.Matches(labels)
	}
	return ps.p.From.Matches(labels)
}

func (c *Compiler) addPolicy(p *Policy) {
	ps := &polState{p: p, from: map[uint32]bool{}, to: map[uint32]bool{}, eps: map[string]bool{}}
	c.pols[p.Name] = ps
	if c.segPols[p.Segment] == nil {
		c.segPols[p.Segment] = map[string]*polState{}
	}
	c.segPols[p.Segment][p.Name] = ps
	add := func(k rowKey, v rowVal) { c.addRow(k, v, p.Name) }
	if p.acl() {
		for _, id := range c.segIdents[p.Segment] {
			if !ps.side(id.labels) {
				continue
			}
			for _, e := range id.members {
				if c.overflow != nil {
					return
				}
				ps.eps[e.Name] = true
				c.aclRowsFor(ps, e, add)
			}
		}
		return
	}
	for _, id := range c.selected(p.Segment, p.From) {
		ps.from[id] = true
	}
	for _, id := range c.selected(p.Segment, p.To) {
		ps.to[id] = true
	}
	// The policy's port ranges come into the segment's port classes
	// first (re-fitting the other policies' range rows to atoms that
	// split), so that its own rows see the classes they will have.
	c.changeRanges(p, true)
	// Refuse at once a policy that alone would overflow a device, rather
	// than build its rows: from everything to everything over thousands
	// of identities is millions of entries.
	per := c.rowsPerPair(p)
	add1 := map[uint32]*[numTables]int{}
	for f := range ps.from {
		for dev := range c.byID[f].devs {
			if add1[dev] == nil {
				add1[dev] = new([numTables]int)
			}
			for t, n := range per {
				add1[dev][t] += len(ps.to) * n
			}
		}
	}
	for dev, adds := range add1 {
		for t, n := range adds {
			if size := c.devSize(dev)[t]; n > 0 && size > 0 && c.devCount(dev)[t]+n > 2*size {
				c.overflow = fmt.Errorf("device %s: table %s would take up to %d entries (policy %s adds up to %d) and holds %d: %w",
					c.devNames[dev], tableNames[t], c.devCount(dev)[t]+n, p.Name, n, size, ErrCapacity)
				return
			}
		}
	}
	for f := range ps.from {
		for t := range ps.to {
			if c.overflow != nil {
				return
			}
			c.pairRows(p, f, t, add)
		}
	}
}

// selected returns the identities of segment seg that sel selects. Many
// policies share selectors, so answers are kept until the segment's
// identities change.
func (c *Compiler) selected(seg string, sel Selector) []uint32 {
	key := seg + "\x00" + sel.String()
	v := c.segVersion[seg]
	if a, ok := c.selCache[key]; ok && a.version == v {
		return a.ids
	}
	var ids []uint32
	for _, id := range c.segIdents[seg] {
		if sel.Matches(id.labels) {
			ids = append(ids, id.id)
		}
	}
	c.selCache[key] = selAnswer{version: v, ids: ids}
	return ids
}

type selAnswer struct {
	version int
	ids     []uint32
}

func (c *Compiler) removePolicy(p *Policy) {
	ps := c.pols[p.Name]
	drop := func(k rowKey, v rowVal) { c.dropRow(k, v, p.Name) }
	if p.acl() {
		for _, name := range slices.Sorted(maps.Keys(ps.eps)) {
			c.aclRowsFor(ps, c.epByName(name), drop)
		}
		delete(c.pols, p.Name)
		delete(c.segPols[p.Segment], p.Name)
		return
	}
	for f := range ps.from {
		for t := range ps.to {
			c.pairRows(p, f, t, drop)
		}
	}
	delete(c.pols, p.Name)
	delete(c.segPols[p.Segment], p.Name)
	// Its ranges leave the port classes once its rows are gone.
	c.changeRanges(p, false)
}

func (c *Compiler) epByName(name string) *Endpoint {
	id := c.epIdent[name]
	return id.members[name]
}

func setProto(k *rowKey, proto int) {
	if proto == ProtoAny {
		k.anyPr = true
		return
	}
	k.proto = uint8(proto)
}

// aclRowsFor calls fn with the ACL rows an ACL policy has for endpoint e:
// each of e's addresses against each prefix of the other side of the same
// family, per rule and per ternary block of its port ranges, and the
// reply direction of allow rules (source port only: the ACL tables do not
// see TCP flags).
func (c *Compiler) aclRowsFor(ps *polState, e *Endpoint, fn func(rowKey, rowVal)) {
	p := ps.p
	seg := c.segID(p.Segment)
	cidrs, epIsSrc := p.ToCIDRs, true
	if p.FromCIDRs != nil {
		cidrs, epIsSrc = p.FromCIDRs, false
	}
	for _, ip := range e.IPs {
		for _, cidr := range cidrs {
			if cidr.Addr().Is4() != ip.Is4() {
				continue
			}
			t := tACL4
			if ip.Is6() {
				t = tACL6
			}
			epBits := uint8(ip.BitLen())
			for _, r := range p.Rules {
				ranges := r.Ports
				if len(ranges) == 0 {
					ranges = []PortRange{{0, 65535}}
				}
				for i := range ranges {
					pr := &ranges[i]
					var prp *PortRange
					if len(r.Ports) > 0 {
						prp = pr
					}
					prio := Priority(p.Priority, r.Proto, prp, r.Action)
					for _, tm := range portTernaries(r.Ports, pr) {
						k := rowKey{t: t, n1: seg, prio: prio, dp: tm}
						if epIsSrc {
							k.a1, k.b1, k.a2, k.b2 = ip, epBits, cidr.Addr(), uint8(cidr.Bits())
						} else {
							k.a1, k.b1, k.a2, k.b2 = cidr.Addr(), uint8(cidr.Bits()), ip, epBits
						}
						setProto(&k, r.Proto)
						fn(k, rowVal{action: r.Action})
						if r.Action != ActionAllow {
							continue
						}
						for _, rp := range replyProtos(r.Proto) {
							rev := rowKey{t: t, n1: seg, prio: prio, a1: k.a2, b1: k.b2, a2: k.a1, b2: k.b1}
							setProto(&rev, rp)
							if rp == ProtoTCP || rp == ProtoUDP {
								rev.sp = tm
							}
							fn(rev, rowVal{action: ActionAllow})
						}
					}
				}
			}
		}
	}
}

// portTernaries is the ternary cover of a rule's port range; one
// wildcard when the rule names no ports.
func portTernaries(ports []PortRange, pr *PortRange) []portMatch {
	if len(ports) == 0 {
		return []portMatch{{}}
	}
	return rangeToTernary(pr.Lo, pr.Hi)
}

// Compile compiles m from scratch.
func Compile(t Targets, m *Model) (*Compiler, error) {
	c := NewCompiler(t)
	if err := c.checkTargets(m, nil); err != nil {
		return nil, err
	}
	c.apply(NewModel(), m)
	if c.overflow != nil {
		return nil, c.overflow
	}
	if err := c.checkCapacity(slices.Collect(maps.Keys(m.Devices))); err != nil {
		return nil, err
	}
	return c, nil
}

// DeviceEntries returns every entry and multicast group device name needs,
// sorted by table and key.
func (c *Compiler) DeviceEntries(name string) ([]*p4v1.TableEntry, []*p4v1.MulticastGroupEntry, error) {
	s, err := c.snapshot(name, false)
	if err != nil {
		return nil, nil, err
	}
	entries, err := s.Entries()
	if err != nil {
		return nil, nil, err
	}
	return entries, s.Groups(), nil
}

// Stats summarises a compiled model.
type Stats struct {
	// Devices maps each device to its entry count per table.
	Devices map[string]map[string]int
	// Entries is the total over every device.
	Entries int
	// NaiveEntries is what the same policy would need with one identity per
	// endpoint: every endpoint pair's rules written on the source's device.
	NaiveEntries int
	// Identities is the number of identities (distinct segment + labels).
	Identities int
}

// Stats counts the compiled entries per device and table, and the naive
// expansion's.
func (c *Compiler) Stats() Stats {
	s := Stats{Devices: map[string]map[string]int{}, Identities: len(c.byID)}
	for name := range c.model.Devices {
		counts := c.Counts(name)
		s.Devices[name] = counts
		for tn, n := range counts {
			s.Entries += n
			if !slices.Contains(PolicyTables(), tn) {
				s.NaiveEntries += n
			}
		}
	}
	// A per-endpoint-pair expansion writes, for every endpoint pair a
	// policy selects, one entry per rule and port range and one per reply
	// of an allow rule, each on its source endpoint's device.
	for _, ps := range c.pols {
		if ps.p.acl() {
			continue
		}
		per := 0
		for i := range ps.p.Rules {
			r := &ps.p.Rules[i]
			items := max(1, len(r.Ports))
			per += items
			if r.Action == ActionAllow {
				per += items * len(replyProtos(r.Proto))
			}
		}
		from, to := 0, 0
		for f := range ps.from {
			from += len(c.byID[f].members)
		}
		for t := range ps.to {
			to += len(c.byID[t].members)
		}
		s.NaiveEntries += from * to * per
	}
	return s
}

// DeviceInfo is the P4Info of device name's target (nil for an unknown
// device).
func (c *Compiler) DeviceInfo(name string) *pipeline.Info {
	in, err := c.info(c.model, name)
	if err != nil {
		return nil
	}
	return in
}
