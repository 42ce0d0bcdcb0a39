package policy_test

import (
	"fmt"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// BenchmarkSnapshotFleet measures what device snapshots cost the holder
// of the compiler's lock, on the hypervisor world of 16 devices (about
// 37,000 entries each). snapshot is taking one device's snapshot (what
// the controller does under its lock before a reconcile). update/held=none
// is one VM relabelled and back, an Update each; update/held=all is the
// same with every device's snapshot taken before each Update, so that
// each Update first copies the row sets it changes (copy-on-write): the
// worst case, every device reconciling between every two changes.
func BenchmarkSnapshotFleet(b *testing.B) {
	const n = 16
	m := fleetModel(b, n)
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		b.Fatal(err)
	}
	dev := fleet.DeviceName(1, n)
	vm, other := m.Endpoints[dev+"-vm01"], m.Endpoints[dev+"-vm04"]
	if vm == nil || other == nil {
		b.Fatal("the world changed")
	}
	relabelled := *vm
	relabelled.Labels = map[string]string{"app": other.Labels["app"], "tier": vm.Labels["tier"]}
	next, _, err := m.With([]policy.Object{&relabelled}, nil)
	if err != nil {
		b.Fatal(err)
	}
	var devs []string
	for name := range m.Devices {
		devs = append(devs, name)
	}
	b.Run("snapshot", func(b *testing.B) {
		i := 0
		for b.Loop() {
			if _, err := c.Snapshot(devs[i%len(devs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	for _, held := range []bool{false, true} {
		b.Run(fmt.Sprintf("update/held=%v", map[bool]string{false: "none", true: "all"}[held]), func(b *testing.B) {
			models := []*policy.Model{next, m}
			i := 0
			for b.Loop() {
				if held {
					b.StopTimer()
					for _, d := range devs {
						if _, err := c.Snapshot(d); err != nil {
							b.Fatal(err)
						}
					}
					b.StartTimer()
				}
				if _, err := c.Update(models[i%2]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			b.StopTimer()
			if i%2 == 1 {
				if _, err := c.Update(m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
