package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// encodedEntry is an entry in compact form.
type encodedEntry struct{ key, action string }

// encoded is the snapshot's entries in compact form, as EachEncoded gives
// them.
func encoded(t testing.TB, s *DeviceSnapshot) []encodedEntry {
	t.Helper()
	var out []encodedEntry
	if err := s.EachEncoded(func(k, a []byte) error {
		out = append(out, encodedEntry{string(k), string(a)})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// viaMessages is the snapshot's entries built as messages (Entries), in
// compact form.
func viaMessages(t testing.TB, s *DeviceSnapshot) []encodedEntry {
	t.Helper()
	es, err := s.Entries()
	if err != nil {
		t.Fatal(err)
	}
	out := make([]encodedEntry, 0, len(es))
	for _, e := range es {
		out = append(out, encodedEntry{pipeline.EntryKey(e), pipeline.ActionKey(e)})
	}
	return out
}

// randomWorld applies steps random changes to a world of seed (as
// TestIncrementalEqualsFull), calling fn with the compiler after each
// change that compiled.
func randomWorld(t *testing.T, seed, steps int, fn func(step int, c *Compiler, devs []string)) {
	t.Helper()
	w := &world{r: rand.New(rand.NewPCG(uint64(seed), 11)), dpdk: seed%2 == 1, devices: 2 + seed%3}
	m := w.base(t, 4)
	c := NewCompiler(testTargets)
	for step := range steps {
		change, dels := w.randomChange(m, step, false)
		next, _, err := m.With(change, dels)
		if err != nil {
			continue
		}
		if _, err := c.Update(next); err != nil {
			t.Fatalf("step %d: %v", step, err)
		}
		m = next
		fn(step, c, w.devs())
	}
}

// TestSnapshotEncodesAsMessages: the compact entries a snapshot encodes
// straight from its rows are, byte for byte and in the same order, those
// of the messages the entry builder makes (on bmv2 and on dpdk, whose
// port class rows take a range entry per block), every row takes the
// encoder's own path (none falls back to the builder), and the
// snapshot's counts and groups are the compiler's.
func TestSnapshotEncodesAsMessages(t *testing.T) {
	rows := 0
	for seed := range 6 {
		randomWorld(t, seed, 40, func(step int, c *Compiler, devs []string) {
			for _, dev := range devs {
				s, err := c.Snapshot(dev)
				if err != nil {
					t.Fatal(err)
				}
				got, want := encoded(t, s), viaMessages(t, s)
				if !slices.Equal(got, want) {
					t.Fatalf("seed %d step %d device %s: %d encoded entries differ from the %d built as messages", seed, step, dev, len(got), len(want))
				}
				enc := newRowEncoder(s.info, s.lim)
				for _, r := range s.sorted() {
					if r.k.write(enc, r.v) != nil || !enc.finish() {
						t.Fatalf("seed %d step %d device %s: row %+v fell back to the builder", seed, step, dev, r.k)
					}
					rows++
				}
				if got, want := s.Counts(), c.Counts(dev); fmt.Sprint(got) != fmt.Sprint(want) {
					t.Fatalf("seed %d step %d device %s: snapshot counts %v, compiler's %v", seed, step, dev, got, want)
				}
				_, groups, err := c.DeviceEntries(dev)
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(s.Groups()) != fmt.Sprint(groups) {
					t.Fatalf("seed %d step %d device %s: snapshot groups %v, compiler's %v", seed, step, dev, s.Groups(), groups)
				}
			}
		})
	}
	if rows < 1000 {
		t.Fatalf("only %d rows checked", rows)
	}
}

// TestEncoderMatchesBuilder: rows that the compiler does not make, with
// values at and past the edges (a port too wide for its field, zero and
// full prefixes, the full port range, a mask of zero), encode as the
// builder builds them, or fail with its error.
func TestEncoderMatchesBuilder(t *testing.T) {
	p, err := testTargets("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	in := p.Info
	v4, v6 := netip.MustParseAddr("10.1.2.3"), netip.MustParseAddr("2001:db8::7")
	rows := []struct {
		k rowKey
		v rowVal
	}{
		{rowKey{t: tPorts, n1: 3}, rowVal{p: [4]uint32{10, 1, 0, 1}}},
		{rowKey{t: tPorts, n1: 1 << 20}, rowVal{p: [4]uint32{10}}}, // port wider than the field
		{rowKey{t: tPorts, n1: 3}, rowVal{p: [4]uint32{1 << 30}}},  // segment wider than the param
		{rowKey{t: tDst4, n1: 1, a1: v4, b1: 32}, rowVal{p: [4]uint32{5}}},
		{rowKey{t: tDst4, n1: 1, a1: v4, b1: 8}, rowVal{p: [4]uint32{5}}}, // bits past the prefix cleared
		{rowKey{t: tDst4, n1: 1, a1: v4, b1: 0}, rowVal{p: [4]uint32{5}}}, // a zero prefix is left out
		{rowKey{t: tDst4, n1: 1, a1: v4, b1: 40}, rowVal{p: [4]uint32{5}}},
		{rowKey{t: tDst6, n1: 1, a1: v6, b1: 128}, rowVal{p: [4]uint32{5}}},
		{rowKey{t: tDst6, n1: 1, a1: v4, b1: 32}, rowVal{p: [4]uint32{5}}}, // a v4 address in a v6 field
		{rowKey{t: tSrc4, n1: 2, mac: [6]byte{2, 0, 0, 0, 0, 1}, a1: v4}, rowVal{p: [4]uint32{9}}},
		{rowKey{t: tSrc6, n1: 2, a1: v6}, rowVal{p: [4]uint32{9}}},                                // zero MAC
		{rowKey{t: tDstClass, n1: 1, proto: 6, dp: portMatch{0, 65535}}, rowVal{p: [4]uint32{1}}}, // the full range is left out
		{rowKey{t: tSrcClass, n1: 1, proto: 17, dp: portMatch{80, 80}}, rowVal{p: [4]uint32{1}}},
		{rowKey{t: tDstClass, n1: 1, proto: 6, dp: portMatch{90, 80}}, rowVal{p: [4]uint32{1}}}, // low above high
		{rowKey{t: tACL4, n1: 1, prio: 7, a1: v4, b1: 24, proto: 6, dp: portMatch{80, 0xfff0}}, rowVal{action: ActionDeny}},
		{rowKey{t: tACL4, n1: 1, prio: 7, anyPr: true}, rowVal{action: ActionAllow}},
		{rowKey{t: tACL4, n1: 1, prio: 0, anyPr: true}, rowVal{action: ActionAllow}}, // no priority on a table that needs one
		{rowKey{t: tACL6, n1: 1, prio: 3, a2: v6, b2: 64, sp: portMatch{0, 0}, proto: 17}, rowVal{action: ActionPunt}},
		{rowKey{t: tACL6, n1: 1, prio: 3, anyPr: true}, rowVal{action: Action(9)}}, // an action the pipeline does not have
		{rowKey{t: tPolPort, n1: 4, n2: 5, proto: 6, dp: portMatch{443, 443}}, rowVal{action: ActionAllow, p: [4]uint32{70}}},
		{rowKey{t: tRepRange, n1: 4, n2: 5, proto: 6, sp: portMatch{3, 3}, flags: 1}, rowVal{action: ActionDeny, p: [4]uint32{2}}},
		{rowKey{t: tPolPair, n1: 1 << 20, n2: 5}, rowVal{action: ActionAllow, p: [4]uint32{1}}}, // identity wider than the field
		{rowKey{t: tL2, n1: 1, mac: [6]byte{2, 0, 0, 0, 0, 9}}, rowVal{p: [4]uint32{4}}},
		{rowKey{t: numTables}, rowVal{}},
	}
	for _, lim := range []pipeline.Limits{{}, {RangeAsMask: true}} {
		enc := newRowEncoder(in, lim)
		for _, r := range rows {
			var got []encodedEntry
			gotErr := enc.encode(r.k, r.v, func(k, a []byte) error {
				got = append(got, encodedEntry{string(k), string(a)})
				return nil
			})
			es, wantErr := r.k.entries(in, r.v, lim)
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
				t.Errorf("%+v (%+v): encoder error %v, builder error %v", r.k, lim, gotErr, wantErr)
				continue
			}
			var want []encodedEntry
			for _, e := range es {
				want = append(want, encodedEntry{pipeline.EntryKey(e), pipeline.ActionKey(e)})
			}
			if wantErr == nil && !slices.Equal(got, want) {
				t.Errorf("%+v (%+v): encoded %q, builder %q", r.k, lim, got, want)
			}
		}
	}
}

// TestSnapshotOutlivesUpdates: a snapshot gives the same entries after
// the compiler moved on (incrementally and through full recompiles) as
// when it was taken, while the compiler's own entries follow the model;
// and snapshots are built from other goroutines while the compiler
// changes (run with -race).
func TestSnapshotOutlivesUpdates(t *testing.T) {
	type taken struct {
		s    *DeviceSnapshot
		want []encodedEntry
	}
	for seed := range 4 {
		var held []taken
		var wg sync.WaitGroup
		changed := 0
		randomWorld(t, seed, 40, func(step int, c *Compiler, devs []string) {
			for _, tk := range held {
				// Concurrently with the next Update.
				wg.Go(func() {
					if got := encoded(t, tk.s); !slices.Equal(got, tk.want) {
						t.Errorf("seed %d step %d: a snapshot of %s changed with the compiler", seed, step, tk.s.Device())
					}
				})
			}
			dev := devs[step%len(devs)]
			s, err := c.Snapshot(dev)
			if err != nil {
				t.Fatal(err)
			}
			want := encoded(t, s)
			if now := stateOf(t, c, dev); len(now) != len(want) {
				t.Fatalf("seed %d step %d: snapshot has %d entries, compiler %d", seed, step, len(want), len(now))
			}
			if len(held) > 0 && !slices.Equal(encoded(t, held[len(held)-1].s), want) {
				changed++
			}
			held = append(held, taken{s, want})
			if len(held) > 6 {
				held = held[1:]
			}
		})
		wg.Wait()
		if changed == 0 {
			t.Fatalf("seed %d: the compiler's entries never changed between snapshots", seed)
		}
	}
}

// TestSnapshotFullRecompile: snapshots survive a change that recompiles
// everything (a segment changed), and the next snapshot shows it.
func TestSnapshotFullRecompile(t *testing.T) {
	m := exampleModel(t)
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	s, err := c.Snapshot("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	before := encoded(t, s)
	var seg *Segment
	for _, sg := range m.Segments {
		if seg == nil || sg.Name < seg.Name {
			seg = sg
		}
	}
	changed := *seg
	changed.DefaultAllow = !changed.DefaultAllow
	m2, _, err := m.With([]Object{&changed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan []encodedEntry)
	go func() { done <- encoded(t, s) }()
	if _, err := c.Update(m2); err != nil {
		t.Fatal(err)
	}
	if got := <-done; !slices.Equal(got, before) {
		t.Fatal("the snapshot changed with a full recompile")
	}
	s2, err := c.Snapshot("leaf1")
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(encoded(t, s2), before) {
		t.Fatal("a snapshot after the change shows the old segment")
	}
	if _, err := c.Snapshot("nowhere"); err == nil {
		t.Fatal("a snapshot of an unknown device")
	}
}
