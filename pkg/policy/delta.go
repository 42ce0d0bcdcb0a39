package policy

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Delta is what an Update changed, per device, as P4Runtime entries and
// multicast groups ready to write.
type Delta struct {
	Devices map[string]*DeviceDelta
}

// DeviceDelta is one device's changes.
type DeviceDelta struct {
	// Skipped is set instead of the changes for a device the caller
	// asked not to build entries for (Compiler.UpdateSkipping): its rows
	// may have changed, and only a full reconcile brings it up to date.
	Skipped                bool
	Insert, Modify, Delete []*p4v1.TableEntry
	GroupInsert            []*p4v1.MulticastGroupEntry
	GroupModify            []*p4v1.MulticastGroupEntry
	GroupDelete            []*p4v1.MulticastGroupEntry
}

// Len is the number of entry and group changes.
func (d *DeviceDelta) Len() int {
	return len(d.Insert) + len(d.Modify) + len(d.Delete) + len(d.GroupInsert) + len(d.GroupModify) + len(d.GroupDelete)
}

// Len is the number of changes on every device.
func (d *Delta) Len() int {
	n := 0
	for _, dd := range d.Devices {
		n += dd.Len()
	}
	return n
}

func (d *Delta) devices() []string { return slices.Sorted(maps.Keys(d.Devices)) }

func (d *Delta) dev(name string) *DeviceDelta {
	if d.Devices[name] == nil {
		d.Devices[name] = &DeviceDelta{}
	}
	return d.Devices[name]
}

// journal records the state an incremental update changed, as it was
// before, so that the update's effect on each device can be worked out at
// the end.
type journal struct {
	rows   map[rowKey]oldRow
	places map[devPlace]bool // was the place on the device before
	groups map[uint32]bool   // devices whose ports changed
	// producers are the policy rows a production of which was added or
	// dropped, whatever their value did: the rules that give them their
	// verdict may have changed (the counter log, counterlog.go).
	producers map[policyKey]producersChange
}

// producersChange is a policy row before an update and after it: present,
// with its value and producers, or not. The rows' slices are never
// written (addRow appends past their ends, dropRow makes new ones).
type producersChange struct {
	before, after row
	had, has      bool
}

type oldRow struct {
	present bool
	val     rowVal
}

type devPlace struct {
	dev uint32
	pl  place
}

func newJournal() *journal {
	return &journal{rows: map[rowKey]oldRow{}, places: map[devPlace]bool{}, groups: map[uint32]bool{}, producers: map[policyKey]producersChange{}}
}

func (j *journal) touchRow(c *Compiler, k rowKey) {
	if j == nil {
		return
	}
	if _, seen := j.rows[k]; seen {
		return
	}
	r, ok := c.row(k)
	o := oldRow{present: ok}
	if ok {
		o.val = r.val
	}
	j.rows[k] = o
}

// noteProducers notes that a production of row k was added or dropped:
// the row went from before (had: present) to after (has). Only policy
// rows are noted.
func (j *journal) noteProducers(k *rowKey, before row, had bool, after row, has bool) {
	if j == nil || !policyTable(k.t) {
		return
	}
	pk := policyKeyOf(k)
	pc, seen := j.producers[pk]
	if !seen {
		pc.before, pc.had = before, had
	}
	pc.after, pc.has = after, has
	j.producers[pk] = pc
}

func (j *journal) touchPlace(c *Compiler, dev uint32, pl place) {
	if j == nil {
		return
	}
	dp := devPlace{dev, pl}
	if _, seen := j.places[dp]; !seen {
		j.places[dp] = c.placeOn(dev, pl)
	}
}

func (j *journal) touchGroups(dev uint32) {
	if j != nil {
		j.groups[dev] = true
	}
}

// placeOn reports whether rows of pl are installed on device dev now.
func (c *Compiler) placeOn(dev uint32, pl place) bool {
	switch pl.kind {
	case onDevice:
		return pl.n == dev
	case onSegment:
		return c.segOn[dev][pl.n] > 0
	case onReachable:
		return c.reach[pl.n][dev] > 0
	}
	return c.identOn[dev][pl.n] > 0
}

// placeDevices lists the devices rows of pl are installed on now.
func (c *Compiler) placeDevices(pl place) []uint32 {
	switch pl.kind {
	case onDevice:
		return []uint32{pl.n}
	case onReachable:
		return slices.Collect(maps.Keys(c.reach[pl.n]))
	}
	var out []uint32
	for dev := uint32(1); dev < uint32(len(c.devNames)); dev++ {
		if c.placeOn(dev, pl) {
			out = append(out, dev)
		}
	}
	return out
}

// delta works out, from the journal, each device's changes between the
// state before the update (model a) and now (model b).
func (c *Compiler) delta(a, b *Model, skip func(string) bool) (*Delta, error) {
	j := c.j
	// Candidate keys per device.
	keys := map[uint32]map[rowKey]bool{}
	addKey := func(dev uint32, k rowKey) {
		if keys[dev] == nil {
			keys[dev] = map[rowKey]bool{}
		}
		keys[dev][k] = true
	}
	// Devices each journaled place was on, before or after.
	placeDevs := map[place][]uint32{}
	devsOf := func(pl place) []uint32 {
		if ds, ok := placeDevs[pl]; ok {
			return ds
		}
		ds := c.placeDevices(pl)
		for dp, was := range j.places {
			if dp.pl == pl && was && !slices.Contains(ds, dp.dev) {
				ds = append(ds, dp.dev)
			}
		}
		placeDevs[pl] = ds
		return ds
	}
	for k, old := range j.rows {
		if r, now := c.row(k); now == old.present && (!now || r.val == old.val) {
			// The row ended as it began (a policy removed and added
			// again keeps most of its rows): no device's entry changes
			// for it, but on a device the place joined or left, which
			// the loop below adds in full.
			continue
		}
		for _, dev := range devsOf(k.place()) {
			addKey(dev, k)
		}
	}
	for dp, was := range j.places {
		if was == c.placeOn(dp.dev, dp.pl) {
			continue
		}
		for k := range c.rows[dp.pl].all() {
			addKey(dp.dev, k)
		}
		// Rows of the place that were removed are journaled, so they are
		// in keys already.
	}
	d := &Delta{Devices: map[string]*DeviceDelta{}}
	var dsts []rowChange // a device's destination-identity changes, folded before they are recorded
	for dev, ks := range keys {
		name := c.devNames[dev]
		if skip != nil && skip(name) {
			d.dev(name).Skipped = true
			continue
		}
		in, err := c.info(b, name)
		if err != nil {
			return nil, err
		}
		wasOn := func(pl place) bool {
			if was, ok := j.places[devPlace{dev, pl}]; ok {
				return was
			}
			return c.placeOn(dev, pl)
		}
		record := func(chs ...rowChange) error {
			for _, ch := range chs {
				if err := d.change(name, ch.k, ch.had, ch.has, ch.ov, ch.nv, in, in, limitsOf(a, name), limitsOf(b, name)); err != nil {
					return err
				}
			}
			return nil
		}
		dsts = dsts[:0]
		for _, k := range sortedKeys(ks) {
			pl := k.place()
			old, journaled := j.rows[k]
			if !journaled {
				r, ok := c.row(k)
				old = oldRow{present: ok}
				if ok {
					old.val = r.val
				}
			}
			r, now := c.row(k)
			ch := rowChange{k: k, had: old.present && wasOn(pl), has: now && c.placeOn(dev, pl), ov: old.val, nv: r.val}
			if k.t == tDst4 || k.t == tDst6 {
				// Sorted by table, they come together.
				dsts = append(dsts, ch)
				continue
			}
			if len(dsts) > 0 {
				if err := record(foldIdentityChanges(dsts)...); err != nil {
					return nil, err
				}
				dsts = dsts[:0]
			}
			if err := record(ch); err != nil {
				return nil, err
			}
		}
		if err := record(foldIdentityChanges(dsts)...); err != nil {
			return nil, err
		}
	}
	for dev := range j.groups {
		name := c.devNames[dev]
		if skip != nil && skip(name) {
			d.dev(name).Skipped = true
			continue
		}
		groupDelta(d, name, groupsOf(a, name), groupsOf(b, name))
	}
	return d, nil
}

// change records row k's change on device dev: present before (with
// value old, in the P4Info oldIn and the target limits oldLim) and after
// (cur, in, lim). Nothing is recorded when it did not change.
func (d *Delta) change(dev string, k rowKey, before, after bool, old, cur rowVal, oldIn, in *pipeline.Info, oldLim, lim pipeline.Limits) error {
	if before && after && old == cur || !before && !after {
		return nil
	}
	wrap := func(err error) error { return fmt.Errorf("device %s: %w", dev, err) }
	dd := d.dev(dev)
	if before && after && oldLim != lim {
		// The target changed how it takes the row: delete the old
		// entries, insert the new ones.
		olds, err := k.entries(oldIn, old, oldLim)
		if err != nil {
			return wrap(err)
		}
		news, err := k.entries(in, cur, lim)
		if err != nil {
			return wrap(err)
		}
		dd.Delete = append(dd.Delete, olds...)
		dd.Insert = append(dd.Insert, news...)
		return nil
	}
	var es []*p4v1.TableEntry
	var err error
	if after {
		es, err = k.entries(in, cur, lim)
	} else {
		es, err = k.entries(oldIn, old, oldLim)
	}
	if err != nil {
		return wrap(err)
	}
	switch {
	case before && after:
		dd.Modify = append(dd.Modify, es...)
	case after:
		dd.Insert = append(dd.Insert, es...)
	default:
		dd.Delete = append(dd.Delete, es...)
	}
	return nil
}

// rowChange is a row's change on one device: present before (had, with
// value ov) and after (has, nv).
type rowChange struct {
	k        rowKey
	had, has bool
	ov, nv   rowVal
}

// foldIdentityChanges turns each removal and insertion of
// destination-identity rows with the same match into one change of value.
// Those rows carry their identity in the key (it places them, reach.go),
// but the device's entry is matched on the segment and the address alone:
// an address whose identity changes (its endpoint relabelled, or the
// address passed to another endpoint) is, on a device that holds both, a
// modify of one entry, not a delete and an insert of the same key. The
// changes keep their order.
func foldIdentityChanges(changes []rowChange) []rowChange {
	type match struct {
		t    table
		seg  uint32
		addr netip.Addr
		bits uint8
	}
	gone := map[match]int{} // index of the removal of each match's row
	for i, ch := range changes {
		if (ch.k.t == tDst4 || ch.k.t == tDst6) && ch.had && !ch.has {
			gone[match{ch.k.t, ch.k.n1, ch.k.a1, ch.k.b1}] = i
		}
	}
	if len(gone) == 0 {
		return changes
	}
	drop := map[int]bool{}
	for i, ch := range changes {
		if (ch.k.t != tDst4 && ch.k.t != tDst6) || ch.had || !ch.has {
			continue
		}
		j, ok := gone[match{ch.k.t, ch.k.n1, ch.k.a1, ch.k.b1}]
		if !ok || drop[j] {
			continue
		}
		drop[j] = true
		changes[i].had, changes[i].ov = true, changes[j].ov
	}
	out := changes[:0]
	for i, ch := range changes {
		if !drop[i] {
			out = append(out, ch)
		}
	}
	return out
}

func sortedKeys(ks map[rowKey]bool) []rowKey {
	out := slices.Collect(maps.Keys(ks))
	slices.SortFunc(out, compareKeys)
	return out
}

// compareKeys orders rows by table, then by the fields that name them, so
// output is stable. It stops at the first field that differs (sorting a
// device's rows compares keys a million times).
func compareKeys(x, y rowKey) int {
	if c := cmp.Compare(x.t, y.t); c != 0 {
		return c
	}
	if c := cmp.Compare(x.dev, y.dev); c != 0 {
		return c
	}
	if c := cmp.Compare(x.n1, y.n1); c != 0 {
		return c
	}
	if c := cmp.Compare(x.n2, y.n2); c != 0 {
		return c
	}
	if c := bytes.Compare(x.mac[:], y.mac[:]); c != 0 {
		return c
	}
	if c := x.a1.Compare(y.a1); c != 0 {
		return c
	}
	if c := cmp.Compare(x.b1, y.b1); c != 0 {
		return c
	}
	if c := x.a2.Compare(y.a2); c != 0 {
		return c
	}
	return cmp.Or(cmp.Compare(x.b2, y.b2), cmp.Compare(x.proto, y.proto), cmp.Compare(x.sp.lo, y.sp.lo), cmp.Compare(x.sp.hi, y.sp.hi),
		cmp.Compare(x.dp.lo, y.dp.lo), cmp.Compare(x.dp.hi, y.dp.hi), cmp.Compare(x.flags, y.flags), cmp.Compare(x.prio, y.prio))
}

// groupsOf is the multicast groups model m gives device dev: one per
// segment with ports there, id = segment id, replicating to those ports
// and, on a switch of the fabric, one for every segment, replicating also
// to the switch's tree ports; none on a target that does not replicate
// packets.
func groupsOf(m *Model, dev string) map[uint32][]uint32 {
	out := map[uint32][]uint32{}
	if d, ok := m.Devices[dev]; ok {
		if t, err := pipeline.LookupTarget(d.Target); err == nil && t.Limits.NoMulticast {
			return out
		}
	}
	f := fabricOf(m)
	for k, p := range m.Ports {
		if p.Device != dev || f.tagged[k] {
			continue // a fabric link floods only on the tree
		}
		s, ok := m.Segments[p.Segment]
		if !ok {
			continue
		}
		out[uint32(s.ID)] = append(out[uint32(s.ID)], p.Port)
	}
	if f.member(dev) {
		// A segment's frames may come over the fabric to any switch of
		// it, and are flooded along the tree.
		for _, s := range m.Segments {
			out[uint32(s.ID)] = append(out[uint32(s.ID)], f.tree[dev]...)
		}
	}
	for id, ports := range out {
		slices.Sort(ports)
		out[id] = slices.Compact(ports)
	}
	return out
}

func groupEntry(id uint32, ports []uint32) *p4v1.MulticastGroupEntry {
	g := &p4v1.MulticastGroupEntry{MulticastGroupId: id}
	for _, p := range ports {
		g.Replicas = append(g.Replicas, pipeline.Replica(p))
	}
	return g
}

func groupDelta(d *Delta, dev string, a, b map[uint32][]uint32) {
	for _, id := range slices.Sorted(maps.Keys(b)) {
		old, ok := a[id]
		switch {
		case !ok:
			d.dev(dev).GroupInsert = append(d.dev(dev).GroupInsert, groupEntry(id, b[id]))
		case !slices.Equal(old, b[id]):
			d.dev(dev).GroupModify = append(d.dev(dev).GroupModify, groupEntry(id, b[id]))
		}
	}
	for _, id := range slices.Sorted(maps.Keys(a)) {
		if _, ok := b[id]; !ok {
			d.dev(dev).GroupDelete = append(d.dev(dev).GroupDelete, groupEntry(id, a[id]))
		}
	}
}

// info is the P4Info of device name's target in model m.
func (c *Compiler) info(m *Model, name string) (*pipeline.Info, error) {
	dev, ok := m.Devices[name]
	if !ok {
		dev, ok = c.model.Devices[name]
	}
	if !ok {
		return nil, fmt.Errorf("device %s: not in the model", name)
	}
	p, err := c.targets(dev.Target)
	if err != nil {
		return nil, fmt.Errorf("device %s: target %s: %w", name, dev.Target, err)
	}
	return p.Info, nil
}

// deviceRows calls fn with every row installed on device dev.
func (c *Compiler) deviceRows(dev uint32, fn func(rowKey, row)) {
	for pl, set := range c.rows {
		if !c.placeOn(dev, pl) {
			continue
		}
		for k, r := range set.all() {
			fn(k, r)
		}
	}
}

// deviceRowCount is how many rows device dev holds, for sizing maps.
func (c *Compiler) deviceRowCount(dev uint32) int {
	n := 0
	for pl, set := range c.rows {
		if c.placeOn(dev, pl) {
			n += set.len()
		}
	}
	return n
}

// diffCompilers is the delta from a's rows to b's, device by device.
func diffCompilers(a, b *Compiler, skip func(string) bool) (*Delta, error) {
	d := &Delta{Devices: map[string]*DeviceDelta{}}
	names := map[string]bool{}
	for n := range a.model.Devices {
		names[n] = true
	}
	for n := range b.model.Devices {
		names[n] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if skip != nil && skip(name) {
			d.dev(name).Skipped = true
			continue
		}
		// Rows are compared by key with the device index cleared: device
		// indexes differ between compilers. Only b's rows are put in a
		// map; a's are looked up in it as they are visited, and only the
		// rows that differ are sorted, so that an unchanged 10k-endpoint
		// deployment (~800k rows) diffs without a sort of every key.
		var news map[rowKey]rowVal
		if dev, ok := b.devIdx[name]; ok {
			news = make(map[rowKey]rowVal, b.deviceRowCount(dev))
			b.deviceRows(dev, func(k rowKey, r row) {
				k.dev = 0
				news[k] = r.val
			})
		}
		var changes []rowChange
		if dev, ok := a.devIdx[name]; ok {
			a.deviceRows(dev, func(k rowKey, r row) {
				k.dev = 0
				nv, has := news[k]
				if has {
					delete(news, k)
					if nv == r.val {
						return
					}
				}
				changes = append(changes, rowChange{k: k, had: true, has: has, ov: r.val, nv: nv})
			})
		}
		for k, nv := range news {
			changes = append(changes, rowChange{k: k, has: true, nv: nv})
		}
		slices.SortFunc(changes, func(x, y rowChange) int { return compareKeys(x.k, y.k) })
		changes = foldIdentityChanges(changes)
		var in, oldIn *pipeline.Info
		var err error
		if _, ok := b.model.Devices[name]; ok {
			if in, err = b.info(b.model, name); err != nil {
				return nil, err
			}
		}
		if _, ok := a.model.Devices[name]; ok {
			if oldIn, err = a.info(a.model, name); err != nil {
				return nil, err
			}
		}
		for _, c := range changes {
			if err := d.change(name, c.k, c.had, c.has, c.ov, c.nv, oldIn, in, limitsOf(a.model, name), limitsOf(b.model, name)); err != nil {
				return nil, err
			}
		}
		groupDelta(d, name, groupsOf(a.model, name), groupsOf(b.model, name))
	}
	return d, nil
}

// checkTargets refuses a model whose devices name an unknown target or
// whose ports do not fit their target's port field or take its CPU port,
// and one with more identities than the identity field holds. Only the
// ports in check are looked at (all when check is nil), and identities
// are counted only when the model could have too many.
func (c *Compiler) checkTargets(m *Model, check []PortKey) error {
	var errs Errors
	for _, name := range slices.Sorted(maps.Keys(m.Devices)) {
		d := m.Devices[name]
		if _, err := c.targets(d.Target); err != nil {
			errs = append(errs, &Error{Src: d.Src, Doc: d.Ref(), Field: "target", Msg: err.Error()})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	if check == nil {
		check = slices.SortedFunc(maps.Keys(m.Ports), comparePortKeys)
	}
	for _, k := range check {
		p, ok := m.Ports[k]
		if !ok {
			continue
		}
		pp, _ := c.targets(m.Devices[p.Device].Target)
		t, ok := pp.Info.Table(tableNames[tPorts])
		if !ok {
			return fmt.Errorf("target %s: pipeline has no table %s", pp.Target.Name, tableNames[tPorts])
		}
		f, _ := t.Field("ingress_port")
		if f == nil {
			return fmt.Errorf("target %s: %s has no ingress_port field", pp.Target.Name, tableNames[tPorts])
		}
		switch {
		case f.Bitwidth < 32 && p.Port >= 1<<f.Bitwidth:
			errs = append(errs, &Error{Src: p.Src, Doc: p.Ref(), Field: "port", Msg: fmt.Sprintf("port %d does not fit target %s's %d-bit port field", p.Port, pp.Target.Name, f.Bitwidth)})
		case p.Port == pp.Target.CPUPort:
			errs = append(errs, &Error{Src: p.Src, Doc: p.Ref(), Field: "port", Msg: fmt.Sprintf("port %d is target %s's CPU port", p.Port, pp.Target.Name)})
		}
	}
	if len(m.Endpoints) > MaxIdentities && len(c.byID)+len(m.Endpoints)-len(c.epIdent) > MaxIdentities {
		idents := map[identKey]bool{}
		for _, e := range m.Endpoints {
			idents[identKey{e.Segment, labelsKey(e.Labels)}] = true
		}
		if len(idents) > MaxIdentities {
			errs = append(errs, &Error{Msg: fmt.Sprintf("%d distinct (segment, labels) identities; the pipeline holds %d", len(idents), MaxIdentities)})
		}
	}
	if len(errs) > 0 {
		return errs
	}
	return nil
}

// Counts returns the number of entries per table on device name.
func (c *Compiler) Counts(name string) map[string]int {
	out := map[string]int{}
	dev, ok := c.devIdx[name]
	if !ok || c.devCounts[dev] == nil {
		return out
	}
	for t, n := range c.devCounts[dev] {
		if n > 0 {
			out[tableNames[t]] = n
		}
	}
	if lim := limitsOf(c.model, name); lim.RangeAsMask {
		// Port class rows take one entry per aligned block there.
		n := map[int]int{}
		for pl, rows := range c.rows {
			if pl.kind != onSegment || !c.placeOn(dev, pl) {
				continue
			}
			for k := range rows.all() {
				if k.t == tDstClass || k.t == tSrcClass {
					n[int(k.t)] += k.blocks(lim)
				}
			}
		}
		for _, t := range []int{int(tDstClass), int(tSrcClass)} {
			if n[t] > 0 {
				out[tableNames[t]] = n[t]
			}
		}
	}
	return out
}

// checkCapacity refuses a state in which some device needs more entries in
// a table than the table holds.
func (c *Compiler) checkCapacity(devices []string) error {
	var errs []error
	for _, name := range slices.Sorted(slices.Values(devices)) {
		if _, ok := c.model.Devices[name]; !ok {
			continue
		}
		in, err := c.info(c.model, name)
		if err != nil {
			return err
		}
		counts := c.Counts(name)
		for _, tn := range tableNames {
			t, ok := in.Table(tn)
			if !ok {
				return fmt.Errorf("device %s: pipeline has no table %s", name, tn)
			}
			if n := counts[tn]; t.Size > 0 && int64(n) > t.Size {
				errs = append(errs, fmt.Errorf("device %s: table %s needs %d entries and holds %d: %w", name, tn, n, t.Size, ErrCapacity))
			}
		}
		// A hardware target also has a memory budget the tables share.
		p, err := c.targets(c.model.Devices[name].Target)
		if err != nil {
			return err
		}
		if b, ok := pipeline.Budgets[p.Target.Budget]; ok {
			if err := b.Fit(in, counts).Err(); err != nil {
				errs = append(errs, fmt.Errorf("device %s: %w: %w", name, err, ErrCapacity))
			}
		}
	}
	return errors.Join(errs...)
}
