package policy_test

import (
	"slices"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// counterFleetDevices is the size of fleet (pkg/bench/fleet's hypervisor
// world) whose devices hold about 35,000 counted policy entries each.
const counterFleetDevices = 30

// BenchmarkCounterIndexFleet is a device's counter index after a change
// of one policy (segment 1's web-to-app policy allows one more port), on
// a device of the hypervisor world with about 35,000 counted entries,
// side by side: scratch builds it from the compiler's rows
// (CounterIndex); update brings the index of the model before up to date
// (PrepareCounterIndex, then Build), and prepare is the part of that
// taken under the controller's lock. entries is the device's counted
// entries, added those the update adds (the new port's, both ways).
func BenchmarkCounterIndexFleet(b *testing.B) {
	m := fleetModel(b, counterFleetDevices)
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		b.Fatal(err)
	}
	dev := fleet.DeviceName(1, counterFleetDevices)
	old, err := c.CounterIndex(dev)
	if err != nil {
		b.Fatal(err)
	}
	q := m.Policies["seg1-web-to-app"]
	if q == nil || len(q.Rules) != 1 {
		b.Fatalf("the world changed: %+v", q)
	}
	p := *q
	p.Rules = slices.Clone(p.Rules)
	p.Rules[0].Ports = append(slices.Clone(p.Rules[0].Ports), policy.PortRange{Lo: fleet.ChangedPort, Hi: fleet.ChangedPort})
	next, _, err := m.With([]policy.Object{&p}, nil)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := c.Update(next); err != nil {
		b.Fatal(err)
	}
	prepare := func(b *testing.B) *policy.CounterIndexUpdate {
		u, err := c.PrepareCounterIndex(old, m, dev)
		if err != nil {
			b.Fatal(err)
		}
		if u.Full() {
			b.Fatal("the index is built from scratch")
		}
		return u
	}
	want, err := c.CounterIndex(dev)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("scratch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.CounterIndex(dev); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(want.Live()), "entries")
	})
	b.Run("update", func(b *testing.B) {
		b.ReportAllocs()
		var x *policy.CounterIndex
		for b.Loop() {
			x = prepare(b).Build()
		}
		if x.Live() != want.Live() || !x.Extends(old) {
			b.Fatalf("%d entries (extending the old index: %v), from scratch %d", x.Live(), x.Extends(old), want.Live())
		}
		b.ReportMetric(float64(x.Live()), "entries")
		b.ReportMetric(float64(x.Len()-old.Len()), "added")
	})
	b.Run("prepare", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			prepare(b)
		}
	})
}
