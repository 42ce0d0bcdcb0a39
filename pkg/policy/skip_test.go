package policy

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestUpdateSkipping: two compilers take the same random changes, one
// with Update and one with UpdateSkipping over a random set of devices.
// They end every step in the same state; the devices not skipped get the
// same changes; every skipped device whose rows changed is marked
// Skipped with no entries built; and a change that does not fit is
// refused by both.
func TestUpdateSkipping(t *testing.T) {
	for seed := range 12 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := &world{r: rand.New(rand.NewPCG(uint64(seed), 11)), dpdk: seed%2 == 1, devices: 2 + seed%3}
			m := w.base(t, 4)
			plain, skipping := NewCompiler(testTargets), NewCompiler(testTargets)
			skipped := 0
			for step := range 40 {
				change, dels := w.randomChange(m, step, true)
				next, _, err := m.With(change, dels)
				if err != nil {
					continue
				}
				skip := map[string]bool{}
				for _, d := range w.devs() {
					skip[d] = w.r.IntN(2) == 0
				}
				want, err1 := plain.Update(next)
				got, err2 := skipping.UpdateSkipping(next, func(dev string) bool { return skip[dev] })
				if (err1 == nil) != (err2 == nil) {
					t.Fatalf("step %d: Update: %v; UpdateSkipping: %v", step, err1, err2)
				}
				if err1 != nil {
					continue
				}
				m = next
				for _, dev := range w.devs() {
					wd, gd := want.Devices[dev], got.Devices[dev]
					if skip[dev] {
						if wd != nil && wd.Len() > 0 && (gd == nil || !gd.Skipped) {
							t.Fatalf("step %d, device %s: %d changes, and the skipped device is not marked Skipped", step, dev, wd.Len())
						}
						if gd != nil && gd.Len() > 0 {
							t.Fatalf("step %d, device %s: skipped, yet %d entries built", step, dev, gd.Len())
						}
						if gd != nil && gd.Skipped {
							skipped++
						}
						continue
					}
					if keysOf(wd) != keysOf(gd) {
						t.Fatalf("step %d, device %s: changes differ:\n%s\n%s", step, dev, keysOf(wd), keysOf(gd))
					}
				}
				for _, dev := range w.devs() {
					if a, b := stateOf(t, plain, dev), stateOf(t, skipping, dev); diffStates(a, b) != "[]" {
						t.Fatalf("step %d, device %s: the compilers' states differ: %s", step, dev, diffStates(a, b))
					}
				}
			}
			if skipped == 0 {
				t.Error("no device was ever marked Skipped: the test did not exercise skipping")
			}
		})
	}
}

// keysOf lists a device delta's changes by kind and entry key.
func keysOf(d *DeviceDelta) string {
	if d == nil {
		return "[]"
	}
	var out []string
	for kind, es := range map[string][]*p4v1.TableEntry{"insert": d.Insert, "modify": d.Modify, "delete": d.Delete} {
		for _, e := range es {
			out = append(out, kind+" "+pipeline.EntryKey(e)+" "+pipeline.ActionKey(e))
		}
	}
	out = append(out, fmt.Sprint("groups ", len(d.GroupInsert), len(d.GroupModify), len(d.GroupDelete)))
	slices.Sort(out)
	return fmt.Sprint(out)
}

// TestTryLeavesNoTrace runs two compilers over random changes: one only
// updates, the other first tries each change (TryTouched) and DeltaTo's
// it, then updates. Their updates give the same changes and leave the
// same state, and the devices a try names include every device the
// update then writes to.
func TestTryLeavesNoTrace(t *testing.T) {
	for seed := range 8 {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := &world{r: rand.New(rand.NewPCG(uint64(seed), 13)), dpdk: seed%2 == 1, devices: 2 + seed%3}
			m := w.base(t, 4)
			plain, trying := NewCompiler(testTargets), NewCompiler(testTargets)
			tried := 0
			for step := range 40 {
				change, dels := w.randomChange(m, step, true)
				next, _, err := m.With(change, dels)
				if err != nil {
					continue
				}
				devs, all, tryErr := trying.TryTouched(next)
				if step > 0 && tryErr == nil {
					tried++
				}
				if tryErr == nil {
					if _, err := trying.DeltaTo(next); err != nil {
						t.Fatalf("step %d: the try passed, DeltaTo: %v", step, err)
					}
				}
				want, err1 := plain.Update(next)
				got, err2 := trying.Update(next)
				if (err1 == nil) != (err2 == nil) || (err1 == nil) != (tryErr == nil) {
					t.Fatalf("step %d: Update: %v; after a try: %v; the try: %v", step, err1, err2, tryErr)
				}
				if err1 != nil {
					continue
				}
				m = next
				for dev, wd := range want.Devices {
					if keysOf(wd) != keysOf(got.Devices[dev]) {
						t.Fatalf("step %d, device %s: changes differ after a try:\n%s\n%s", step, dev, keysOf(wd), keysOf(got.Devices[dev]))
					}
					if wd.Len() > 0 && !all && !slices.Contains(devs, dev) {
						t.Fatalf("step %d: the try named %v, the update writes to %s", step, devs, dev)
					}
				}
				for _, dev := range w.devs() {
					if a, b := stateOf(t, plain, dev), stateOf(t, trying, dev); diffStates(a, b) != "[]" {
						t.Fatalf("step %d, device %s: states differ after a try: %s", step, dev, diffStates(a, b))
					}
				}
			}
			if tried == 0 {
				t.Error("no change was tried")
			}
		})
	}
}
