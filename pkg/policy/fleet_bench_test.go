package policy_test

import (
	"bytes"
	"net"
	"net/netip"
	"runtime"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// fleet1MDevices is the size of fleet (pkg/bench/fleet's hypervisor
// world, 48 VMs per device) that compiles to about a million entries.
const fleet1MDevices = 27

// fleetModel is the validated model of the hypervisor world of n devices.
func fleetModel(tb testing.TB, n int) *policy.Model {
	tb.Helper()
	doc, err := fleet.World(fleet.Config{Devices: n, Seed: 1})
	if err != nil {
		tb.Fatal(err)
	}
	objs, err := policy.Parse("fleet.yaml", bytes.NewReader(doc))
	if err != nil {
		tb.Fatal(err)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// liveHeap is the heap in use after a collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkCompileFleet1M compiles the hypervisor world of about a
// million entries from scratch. ns/entry and B/entry are the time and the
// allocation of a compile per compiled entry, heap-B/entry the heap the
// compiled state keeps.
func BenchmarkCompileFleet1M(b *testing.B) {
	m := fleetModel(b, fleet1MDevices)
	if _, err := pipeline.Embedded("bmv2"); err != nil { // loaded outside the timing
		b.Fatal(err)
	}
	before := liveHeap()
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		b.Fatal(err)
	}
	retained := liveHeap() - before
	entries := c.Stats().Entries
	c = nil
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	for b.Loop() {
		if c, err = policy.Compile(pipeline.Embedded, m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	ops := float64(b.N)
	b.ReportMetric(float64(entries), "entries")
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops/float64(entries), "ns/entry")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/ops/float64(entries), "B/entry")
	b.ReportMetric(float64(retained)/float64(entries), "heap-B/entry")
	runtime.KeepAlive(c)
}

// BenchmarkDiffFleet1M is one small change to the compiled million-entry
// world: Update to the changed model and back, alternately (each op is
// one Update and its delta, what a node does when a change commits), and
// DeltaTo (the delta without moving the compiler: an Update there and
// back). relabel moves one VM into another app of its tier (an identity
// leaves its device); add-vm adds a port and a VM to a device. ns/change
// and B/change are per entry of the delta.
func BenchmarkDiffFleet1M(b *testing.B) {
	m := fleetModel(b, fleet1MDevices)
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		b.Fatal(err)
	}
	dev := fleet.DeviceName(1, fleet1MDevices)
	vm := m.Endpoints[dev+"-vm01"]
	// Another VM of the same segment and tier on the device: vm takes its
	// app, so vm's identity has no endpoint left there.
	other := m.Endpoints[dev+"-vm04"]
	if vm == nil || other == nil || vm.Labels["tier"] != other.Labels["tier"] || vm.Segment != other.Segment {
		b.Fatalf("the world changed: %+v, %+v", vm, other)
	}
	relabelled := *vm
	relabelled.Labels = map[string]string{"app": other.Labels["app"], "tier": vm.Labels["tier"]}
	added := &policy.Endpoint{Name: dev + "-vm49", Segment: vm.Segment, Device: dev, Port: 49,
		MAC:    net.HardwareAddr{0x02, 0xff, 0, 0, 0, 49},
		IPs:    []netip.Addr{netip.MustParseAddr("10.1.255.254"), netip.MustParseAddr("fd00:0:0:1::fffe")},
		Labels: map[string]string{"app": other.Labels["app"], "tier": "web"}}
	port := &policy.Port{Device: dev, Port: 49, Segment: vm.Segment, Role: policy.RolePromiscuous}

	for _, change := range []struct {
		name string
		objs []policy.Object
	}{
		{"relabel", []policy.Object{&relabelled}},
		{"add-vm", []policy.Object{port, added}},
	} {
		next, _, err := m.With(change.objs, nil)
		if err != nil {
			b.Fatal(err)
		}
		report := func(b *testing.B, changes int, ms0 *runtime.MemStats) {
			var ms1 runtime.MemStats
			runtime.ReadMemStats(&ms1)
			ops := float64(b.N)
			b.ReportMetric(float64(changes), "changes")
			if changes > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/ops/float64(changes), "ns/change")
				b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/ops/float64(changes), "B/change")
			}
		}
		b.Run(change.name+"/update", func(b *testing.B) {
			models := []*policy.Model{next, m}
			changes := 0
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			i := 0
			for b.Loop() {
				d, err := c.Update(models[i%2])
				if err != nil {
					b.Fatal(err)
				}
				i++
				changes = d.Len()
			}
			b.StopTimer()
			report(b, changes, &ms0)
			if i%2 == 1 { // leave the compiler at m for the next benchmark
				if _, err := c.Update(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(change.name+"/delta-to", func(b *testing.B) {
			changes := 0
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			for b.Loop() {
				d, err := c.DeltaTo(next)
				if err != nil {
					b.Fatal(err)
				}
				changes = d.Len()
			}
			b.StopTimer()
			report(b, changes, &ms0)
		})
	}
}
