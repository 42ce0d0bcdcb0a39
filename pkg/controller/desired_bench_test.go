package controller

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// fleetController is a controller (not running) whose compiler holds the
// hypervisor world of n devices (pkg/bench/fleet), with a worker per
// device, at model index 1.
func fleetController(b *testing.B, n int) (*Controller, []*worker, int) {
	b.Helper()
	doc, err := fleet.World(fleet.Config{Devices: n, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	objs, err := policy.Parse("fleet.yaml", bytes.NewReader(doc))
	if err != nil {
		b.Fatal(err)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		b.Fatal(err)
	}
	c := New(Config{Node: node(b, "n1", b.TempDir(), true), Targets: pipeline.Embedded})
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, err := c.compiler.Update(m); err != nil {
		b.Fatal(err)
	}
	c.index = 1
	var ws []*worker
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for name := range m.Devices {
			if !yield(name) {
				return
			}
		}
	}) {
		w := newWorker(ctx, c, m.Devices[name])
		c.workers[name] = w
		ws = append(ws, w)
	}
	return c, ws, c.compiler.Stats().Entries
}

// buildDesired is one device's desired state, as reconcile builds it.
func buildDesired(ctx context.Context, c *Controller, w *worker) (desiredState, error) {
	return c.desired(ctx, w)
}

// BenchmarkDesiredFleet builds the desired state of every device of the
// hypervisor world at once, as when every device connects together, while
// the API asks for the devices' status every millisecond. ms/wave is the
// time until every device's state is built; api-max-ms and api-p99-ms are
// how long Devices() waited for the controller's lock meanwhile (the
// lock's longest hold); B/entry is the allocation per desired entry.
func BenchmarkDesiredFleet(b *testing.B) {
	for _, n := range []int{8, 16} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			c, ws, entries := fleetController(b, n)
			ctx := context.Background()
			var lat []time.Duration
			var ms0, ms1 runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms0)
			b.ResetTimer()
			for b.Loop() {
				stop := make(chan struct{})
				probed := make(chan []time.Duration)
				go func() {
					var l []time.Duration
					defer func() { probed <- l }()
					for {
						select {
						case <-stop:
							return
						case <-time.After(time.Millisecond):
						}
						start := time.Now()
						c.Devices()
						l = append(l, time.Since(start))
					}
				}()
				var wg sync.WaitGroup
				for _, w := range ws {
					wg.Go(func() {
						if _, err := buildDesired(ctx, c, w); err != nil {
							b.Error(err)
						}
					})
				}
				wg.Wait()
				close(stop)
				lat = append(lat, <-probed...)
			}
			b.StopTimer()
			runtime.ReadMemStats(&ms1)
			slices.Sort(lat)
			ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
			waves := float64(b.N)
			b.ReportMetric(ms(b.Elapsed())/waves, "ms/wave")
			b.ReportMetric(float64(entries), "entries")
			b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/waves/float64(entries), "B/entry")
			if len(lat) > 0 {
				b.ReportMetric(ms(lat[len(lat)-1]), "api-max-ms")
				b.ReportMetric(ms(lat[len(lat)*99/100]), "api-p99-ms")
			}
			b.ReportMetric(0, "ns/op")
		})
	}
}

// heldSection is the part of a device's desired state built under the
// controller's lock: the snapshot.
func heldSection(ctx context.Context, c *Controller, w *worker) error {
	_, _, err := c.snapshotDevice(w)
	return err
}

// BenchmarkDesiredLockHold measures how long building one device's
// desired state holds the controller's lock, device after device, on the
// hypervisor world: hold-ms is the mean hold per device, max-hold-ms the
// longest.
func BenchmarkDesiredLockHold(b *testing.B) {
	for _, n := range []int{8, 16} {
		b.Run(fmt.Sprintf("devices=%d", n), func(b *testing.B) {
			c, ws, _ := fleetController(b, n)
			ctx := context.Background()
			var total, longest time.Duration
			holds := 0
			for b.Loop() {
				for _, w := range ws {
					start := time.Now()
					if err := heldSection(ctx, c, w); err != nil {
						b.Fatal(err)
					}
					d := time.Since(start)
					total += d
					longest = max(longest, d)
					holds++
				}
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(holds), "hold-ms")
			b.ReportMetric(float64(longest.Microseconds())/1000, "max-hold-ms")
			b.ReportMetric(0, "ns/op")
		})
	}
}
