package policy

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"weak"
)

// indexed is what an index holds for one key: its entry number and its
// attribution, spelled out.
type indexed struct {
	entry int
	attr  string
}

func describe(table string, rules []RuleRef) string {
	var b strings.Builder
	b.WriteString(table)
	for _, r := range rules {
		fmt.Fprintf(&b, " %s#%d", r.Policy, r.Rule)
	}
	return b.String()
}

// counted calls fn with the entry key of each counted row of device dev
// (the device's policy rows in tables with direct counters).
func counted(t *testing.T, c *Compiler, dev string, fn func(key string, k rowKey, r row)) {
	t.Helper()
	kc, err := newKeyCoder(c.DeviceInfo(dev))
	if err != nil {
		t.Fatal(err)
	}
	c.deviceRows(c.devIdx[dev], func(k rowKey, r row) {
		if kc.counted[k.t] {
			pk := policyKeyOf(&k)
			fn(string(kc.append(nil, &pk)), k, r)
		}
	})
}

// contents is what index x holds of device dev's counted rows, by entry
// key; it fails when x holds a row twice, misses one, or holds more
// entries than the device has counted rows.
func contents(t *testing.T, c *Compiler, x *CounterIndex, dev string) map[string]indexed {
	t.Helper()
	out := map[string]indexed{}
	numbers := map[int]string{}
	counted(t, c, dev, func(key string, k rowKey, _ row) {
		e, a, ok := x.Entry([]byte(key))
		if !ok {
			t.Fatalf("%s: %s row %+v not in the index", dev, tableNames[k.t], k)
		}
		if other, dup := numbers[e]; dup {
			t.Fatalf("%s: entry %d is two rows' (%x, %x)", dev, e, other, key)
		}
		numbers[e] = key
		out[key] = indexed{e, describe(x.Attrs[a].Table, x.Attrs[a].Rules)}
	})
	if x.Live() != len(out) {
		t.Fatalf("%s: the index holds %d entries, the device %d counted rows", dev, x.Live(), len(out))
	}
	return out
}

// expandedAttributions is, by entry key, what each counted row of device
// dev stands for as CounterIndex first found it, independently of ruleOf:
// each deciding policy's rules expanded for the row's identity pair
// (pairRuleRows), the row's rule the first that makes it with its value.
func expandedAttributions(t *testing.T, c *Compiler, dev string) map[string]string {
	t.Helper()
	type group struct {
		pol  string
		f, t uint32
	}
	groups := map[group][]rowKey{}
	rows := map[rowKey]row{}
	keys := map[rowKey]string{}
	counted(t, c, dev, func(key string, k rowKey, r row) {
		rows[k], keys[k] = r, key
		f, to := k.n1, k.n2
		if k.t == tRepProto || k.t == tRepPort || k.t == tRepRange {
			f, to = k.n2, k.n1 // a reply row is keyed from the server
		}
		for i, ref := range r.refs() {
			if ref != "" && r.deciding(i) && !strings.HasPrefix(ref, KindSegment+" ") {
				groups[group{ref, f, to}] = append(groups[group{ref, f, to}], k)
			}
		}
	})
	rules := map[rowKey][]RuleRef{}
	for g, ks := range groups {
		found := map[rowKey]int{}
		if p := c.model.Policies[g.pol]; p != nil {
			c.pairRuleRows(p, g.f, g.t, func(k rowKey, v rowVal, rule int) {
				if r, ok := rows[k]; ok && r.val == v {
					if _, seen := found[k]; !seen {
						found[k] = rule
					}
				}
			})
		}
		for _, k := range ks {
			rule, ok := found[k]
			if !ok {
				rule = -1
			}
			rules[k] = append(rules[k], RuleRef{g.pol, rule})
		}
	}
	out := map[string]string{}
	for k, key := range keys {
		rs := rules[k]
		slices.SortFunc(rs, func(a, b RuleRef) int { return cmp.Or(strings.Compare(a.Policy, b.Policy), a.Rule-b.Rule) })
		out[key] = describe(tableNames[k.t], slices.Compact(rs))
	}
	return out
}

// sameContents reports how a and b differ, attribution by attribution
// (entry numbers aside): "" when they do not.
func sameContents(a map[string]indexed, b map[string]string) string {
	var diffs []string
	for k, x := range a {
		if b[k] != x.attr {
			diffs = append(diffs, fmt.Sprintf("%x: %q, want %q", k, x.attr, b[k]))
		}
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			diffs = append(diffs, fmt.Sprintf("%x: missing, want %q", k, b[k]))
		}
	}
	slices.Sort(diffs)
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("... %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

func attrsOf(m map[string]indexed) map[string]string {
	out := make(map[string]string, len(m))
	for k, x := range m {
		out[k] = x.attr
	}
	return out
}

// TestCounterIndexUpToDate: over random changes of endpoints, policies,
// ports and segments, some of them first tried (TryTouched, DeltaTo),
// each device's counter index, brought up to date from its last one
// (PrepareCounterIndex, Build) after a random number of updates, holds
// exactly the rows an index built from scratch holds, with the same
// attributions, which are those of expanding each policy's rules per
// identity pair; an index that Extends the last one keeps the numbers of
// the entries they share, and numbers its new ones after; one that does
// not maps them with Carry. The test fails unless the changes were
// mostly brought incrementally, on devices they touched and on devices
// they did not.
func TestCounterIndexUpToDate(t *testing.T) {
	seeds, steps := 30, 60
	if testing.Short() {
		seeds = 8
	}
	var full, incremental, untouched, extended, renumbered, grown, edited int
	for seed := range seeds {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			if seed%2 == 0 {
				// Tiny pages, and numbering afresh as soon as
				// half the numbers are unused: each case comes up.
				defer smallIndexes()()
			}
			w := &world{r: rand.New(rand.NewPCG(uint64(seed), 17)), dpdk: seed%2 == 1, devices: 2 + seed%3}
			m := w.base(t, 4)
			c := NewCompiler(testTargets)
			type last struct {
				x     *CounterIndex
				model *Model
				held  map[string]indexed
			}
			idx := map[string]last{}
			for step := range steps {
				change, dels := w.randomChange(m, step, true)
				if p := w.editedPolicy(m); p != nil && w.r.IntN(3) == 0 {
					change, dels = []Object{p}, nil
					edited++
				}
				next, _, err := m.With(change, dels)
				if err != nil {
					continue
				}
				switch w.r.IntN(6) {
				case 0:
					_, _, _ = c.TryTouched(next)
				case 1:
					_, _ = c.DeltaTo(next)
				}
				if _, err := c.Update(next); err != nil {
					t.Fatalf("step %d: %v", step, err)
				}
				m = next
				for _, dev := range w.devs() {
					if w.r.IntN(3) == 0 {
						continue // the next update of the index carries two changes or more
					}
					l := idx[dev]
					scratch, serr := c.CounterIndex(dev)
					u, err := c.PrepareCounterIndex(l.x, l.model, dev)
					if (err == nil) != (serr == nil) {
						t.Fatalf("step %d, %s: from scratch: %v; brought up to date: %v", step, dev, serr, err)
					}
					if err != nil {
						continue
					}
					x := u.Build()
					if l.x != nil {
						// The last index is as it was: x shares its parts,
						// and does not write them.
						if l.x.Live() != len(l.held) {
							t.Fatalf("step %d, %s: the last index holds %d entries after the update, %d before", step, dev, l.x.Live(), len(l.held))
						}
						for key, o := range l.held {
							if e, a, ok := l.x.Entry([]byte(key)); !ok || e != o.entry || describe(l.x.Attrs[a].Table, l.x.Attrs[a].Rules) != o.attr {
								t.Fatalf("step %d, %s: the last index changed with the update: %x", step, dev, key)
							}
						}
					}
					if l.x != nil && x.mask != l.x.mask && x.Extends(l.x) {
						grown++
					}
					switch {
					case u.Full():
						full++
					case x == l.x:
						untouched++
					default:
						incremental++
					}
					if !slices.Equal(x.Tables, scratch.Tables) {
						t.Fatalf("step %d, %s: tables %v, from scratch %v", step, dev, x.Tables, scratch.Tables)
					}
					got, want := contents(t, c, x, dev), contents(t, c, scratch, dev)
					if diff := sameContents(got, attrsOf(want)); diff != "" {
						t.Fatalf("step %d, %s (full %v): brought up to date != from scratch: %s", step, dev, u.Full(), diff)
					}
					if diff := sameContents(want, expandedAttributions(t, c, dev)); diff != "" {
						t.Fatalf("step %d, %s: from scratch != rules expanded per pair: %s", step, dev, diff)
					}
					if again := contents(t, c, u.Build(), dev); !u.Full() && sameContents(again, attrsOf(got)) != "" {
						t.Fatalf("step %d, %s: built again from the same update: %s", step, dev, sameContents(again, attrsOf(got)))
					}
					if l.x != nil && x.Extends(l.x) {
						extended++
						for key, n := range got {
							if o, ok := l.held[key]; ok && o.entry != n.entry || !ok && n.entry < l.x.Len() {
								t.Fatalf("step %d, %s: entry %x numbered %d, was %d (present %v, %d numbers before)", step, dev, key, n.entry, o.entry, ok, l.x.Len())
							}
						}
					} else if l.x != nil {
						renumbered++
						byOld := map[int]string{}
						for key, o := range l.held {
							byOld[o.entry] = key
						}
						carried := 0
						x.Carry(l.x, func(o, n int) {
							key, ok := byOld[o]
							if !ok || got[key].entry != n {
								t.Fatalf("step %d, %s: Carry maps %d to %d, not the same row", step, dev, o, n)
							}
							carried++
						})
						shared := 0
						for key := range got {
							if _, ok := l.held[key]; ok {
								shared++
							}
						}
						if carried != shared {
							t.Fatalf("step %d, %s: Carry maps %d entries, the indexes share %d", step, dev, carried, shared)
						}
					}
					idx[dev] = last{x, u.Model(), got}
				}
			}
		})
	}
	t.Logf("indexes brought up to date: %d from scratch, %d incrementally, %d untouched; %d extending (%d grown), %d renumbered; %d policies edited in place",
		full, incremental, untouched, extended, grown, renumbered, edited)
	if !t.Failed() && (incremental < 10*seeds || untouched < seeds || renumbered == 0 || grown == 0) {
		t.Errorf("the changes exercised too little: %d incremental, %d untouched, %d renumbered, %d grown", incremental, untouched, renumbered, grown)
	}
}

// editedPolicy is an identity policy of m edited within its selectors
// and port ranges, which the compiler updates in place (policyupdate.go):
// a rule of no port range added in front or taken out, or the rules in
// reverse order, so that the rules that make the rows left alone are
// renumbered. Nil when m has none.
func (w *world) editedPolicy(m *Model) *Policy {
	var names []string
	for _, name := range slices.Sorted(mapsKeys(m.Policies)) {
		if !m.Policies[name].acl() {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	p := *m.Policies[names[w.r.IntN(len(names))]]
	p.Rules = slices.Clone(p.Rules)
	switch op := w.r.IntN(3); {
	case op == 0 && len(p.Rules) > 1 && !slices.ContainsFunc(p.Rules[0].Ports, func(pr PortRange) bool { return pr.Lo < pr.Hi }):
		p.Rules = p.Rules[1:]
	case op == 1:
		slices.Reverse(p.Rules)
	default:
		r := Rule{Proto: []int{ProtoAny, ProtoTCP, ProtoUDP, ProtoICMP}[w.r.IntN(4)], Action: Action(1 + w.r.IntN(3))}
		if r.Proto == ProtoTCP || r.Proto == ProtoUDP {
			lo := uint16(w.r.IntN(8) * 5)
			r.Ports = []PortRange{{lo, lo}}
		}
		p.Rules = append([]Rule{r}, p.Rules...)
	}
	return &p
}

// TestCounterLogHoldsNoModels: the counter log of a compiler that lives
// on, as a controller's does, keeps none of the models it records: each
// is free to go once nothing else holds it, and an index of a model that
// is still held is still brought up to date.
func TestCounterLogHoldsNoModels(t *testing.T) {
	m := exampleModel(t)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	first := weak.Make(m)
	x, err := c.CounterIndex("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	at := m // the model x is of, held as the controller holds it
	var middle weak.Pointer[Model]
	e := *m.Endpoints["web-1"]
	for i := range 4 {
		e.Labels = map[string]string{"app": "shop", "tier": "web", "rev": fmt.Sprint(i)}
		x := e
		n, _, err := m.With([]Object{&x}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Update(n); err != nil {
			t.Fatal(err)
		}
		m = n
		if i == 1 {
			middle = weak.Make(n)
		}
	}
	u, err := c.PrepareCounterIndex(x, at, "leaf1")
	if err != nil {
		t.Fatal(err)
	}
	if u.Full() {
		t.Error("an index of a model still held was built again")
	}
	at, x = nil, nil
	runtime.GC()
	if first.Value() != nil || middle.Value() != nil {
		t.Errorf("models the compiler was at are still reachable: the first %v, one in the middle %v", first.Value() != nil, middle.Value() != nil)
	}
	runtime.KeepAlive(c)
	runtime.KeepAlive(u)
}

// smallIndexes makes counter indexes of tiny pages, numbered
// afresh as soon as most numbers or attributions are unused, until the
// function it returns puts the sizes back.
func smallIndexes() func() {
	k, e, d, a := keyPageBits, entryPageBits, minDead, minStale
	keyPageBits, entryPageBits, minDead, minStale = 1, 1, 0, 0
	return func() { keyPageBits, entryPageBits, minDead, minStale = k, e, d, a }
}

// TestCounterIndexBuiltAside: an index update is built while the compiler
// moves on, as the controller builds it outside its lock. Under the race
// detector, this checks that nothing Build reads is written by later
// updates (the row sets it holds, their rows' slices, the log), and the
// index it builds is that of the model it was prepared at.
func TestCounterIndexBuiltAside(t *testing.T) {
	built := 0
	for seed := range 6 {
		w := &world{r: rand.New(rand.NewPCG(uint64(seed), 19)), devices: 2 + seed%3}
		m := w.base(t, 4)
		c := NewCompiler(testTargets)
		last := map[string]*CounterIndex{}
		lastModel := map[string]*Model{}
		for step := range 50 {
			change, dels := w.randomChange(m, step, false)
			next, _, err := m.With(change, dels)
			if err != nil {
				continue
			}
			if _, err := c.Update(next); err != nil {
				t.Fatalf("step %d: %v", step, err)
			}
			m = next
			// Each device's update is prepared now, as from scratch the
			// index is; then built while the next changes are compiled.
			type job struct {
				dev  string
				u    *CounterIndexUpdate
				want map[string]indexed
				got  *CounterIndex
			}
			var jobs []*job
			for _, dev := range w.devs() {
				var old *CounterIndex
				if w.r.IntN(3) > 0 {
					old = last[dev] // else from nothing
				}
				u, err := c.PrepareCounterIndex(old, lastModel[dev], dev)
				if err != nil {
					t.Fatal(err)
				}
				scratch, err := c.CounterIndex(dev)
				if err != nil {
					t.Fatal(err)
				}
				jobs = append(jobs, &job{dev: dev, u: u, want: contents(t, c, scratch, dev)})
			}
			var wg sync.WaitGroup
			for _, j := range jobs {
				wg.Go(func() { j.got = j.u.Build() })
			}
			for range 3 {
				change, dels := w.randomChange(m, 1, false)
				if next, _, err := m.With(change, dels); err == nil {
					if _, err := c.Update(next); err != nil {
						t.Fatal(err)
					}
					m = next
				}
			}
			wg.Wait()
			for _, j := range jobs {
				if j.got.Live() != len(j.want) {
					t.Fatalf("step %d, %s: built aside: %d entries, want %d", step, j.dev, j.got.Live(), len(j.want))
				}
				for key, want := range j.want {
					_, a, ok := j.got.Entry([]byte(key))
					if !ok || describe(j.got.Attrs[a].Table, j.got.Attrs[a].Rules) != want.attr {
						t.Fatalf("step %d, %s: built aside: %x not as from scratch (%q)", step, j.dev, key, want.attr)
					}
				}
				last[j.dev], lastModel[j.dev] = j.got, j.u.Model()
				built++
			}
		}
	}
	if built < 100 {
		t.Errorf("only %d indexes built aside", built)
	}
}
