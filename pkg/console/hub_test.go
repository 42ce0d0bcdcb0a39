package console

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// countingAPI counts the calls the console makes of the RPCs it used to
// poll.
type countingAPI struct {
	p4ctlv1.ControllerClient
	devices, topology, counters, watch atomic.Int64
}

func (a *countingAPI) Devices(ctx context.Context, in *p4ctlv1.DevicesRequest, opts ...grpc.CallOption) (*p4ctlv1.DevicesResponse, error) {
	a.devices.Add(1)
	return a.ControllerClient.Devices(ctx, in, opts...)
}

func (a *countingAPI) Topology(ctx context.Context, in *p4ctlv1.TopologyRequest, opts ...grpc.CallOption) (*p4ctlv1.TopologyResponse, error) {
	a.topology.Add(1)
	return a.ControllerClient.Topology(ctx, in, opts...)
}

func (a *countingAPI) Counters(ctx context.Context, in *p4ctlv1.CountersRequest, opts ...grpc.CallOption) (*p4ctlv1.CountersResponse, error) {
	a.counters.Add(1)
	return a.ControllerClient.Counters(ctx, in, opts...)
}

func (a *countingAPI) Watch(ctx context.Context, in *p4ctlv1.WatchRequest, opts ...grpc.CallOption) (grpc.ServerStreamingClient[p4ctlv1.Event], error) {
	a.watch.Add(1)
	return a.ControllerClient.Watch(ctx, in, opts...)
}

// TestLiveFabric: with the safety refresh a minute away, a device going
// away reaches every open fabric page within seconds, pushed by the
// Watch; the pages share one Watch, and the console reads the devices'
// status once per change, not once per page; counters streams share one
// reading loop.
func TestLiveFabric(t *testing.T) {
	const pages = 8
	st := startStack(t)
	api := &countingAPI{ControllerClient: st.client}
	base := st.serveConsole(t, Options{API: api, FabricInterval: time.Minute, CounterInterval: 200 * time.Millisecond}, nil)

	fabricOf := func(ev sseEvent) FabricView {
		t.Helper()
		var f FabricView
		if err := json.Unmarshal([]byte(ev.data), &f); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var streams []<-chan sseEvent
	for i := range pages {
		evs, stop := openSSE(t, nil, base+"/api/v1/events?fabric=1", "")
		defer stop()
		next(t, evs, "model", 5*time.Second)
		if f := fabricOf(next(t, evs, "fabric", 5*time.Second)); len(f.Devices) != 2 {
			t.Errorf("page %d: first fabric %+v", i, f)
		}
		streams = append(streams, evs)
	}
	t.Logf("%d pages open: %d Watch, %d Devices, %d Topology calls", pages, api.watch.Load(), api.devices.Load(), api.topology.Load())
	if n := api.watch.Load(); n != 1 {
		t.Errorf("%d pages opened %d Watch streams, want 1", pages, n)
	}
	if n := api.devices.Load(); n >= pages {
		t.Errorf("%d pages opened with %d Devices calls: one per page or more", pages, n)
	}

	// leaf2 goes away: every page shows it disconnected, long before the
	// safety refresh.
	devices0 := api.devices.Load()
	start := time.Now()
	st.stopSim["leaf2"]()
	for i, evs := range streams {
		deadline := time.Now().Add(5 * time.Second)
		for gone := false; !gone; {
			f := fabricOf(next(t, evs, "fabric", time.Until(deadline)))
			for _, d := range f.Devices {
				gone = gone || d.Name == "leaf2" && !d.Connected
			}
		}
		if i == 0 {
			t.Logf("leaf2 gone: on the first page after %s", time.Since(start).Round(time.Millisecond))
		}
	}
	took := time.Since(start)
	calls := api.devices.Load() - devices0
	t.Logf("leaf2 gone: on all %d pages after %s, with %d Devices calls", pages, took.Round(time.Millisecond), calls)
	if took > 5*time.Second {
		t.Errorf("leaf2's status took %s to reach the pages", took)
	}
	if calls == 0 || calls >= pages {
		t.Errorf("%d Devices calls for a change shown on %d pages: want at least one, fewer than one per page", calls, pages)
	}

	// Counters: one loop for every open stream, at CounterInterval.
	counters0 := api.counters.Load()
	for i := range pages {
		cs, stop := openSSE(t, nil, base+"/api/v1/counters/stream", "")
		defer stop()
		var cv CountersView
		json.Unmarshal([]byte(next(t, cs, "counters", 5*time.Second).data), &cv)
		if len(cv.Devices) != 2 {
			t.Errorf("counters stream %d: %+v", i, cv)
		}
	}
	cstart := time.Now()
	time.Sleep(time.Second)
	reads, window := api.counters.Load()-counters0, time.Since(cstart)
	t.Logf("%d counters streams: %d Counters calls in %s", pages, reads, window.Round(time.Millisecond))
	if max := int64(window/(200*time.Millisecond)) + 3; reads > max {
		t.Errorf("%d counters streams made %d Counters calls in %s: want at most %d (one loop at 200ms)", pages, reads, window, max)
	}
	if n := api.watch.Load(); n != 1 {
		t.Errorf("Watch calls at the end: %d, want 1", n)
	}
}

// TestLiveFabricTopology: a host heard on a port (a topology change)
// shows on an open fabric page at once, pushed by the Watch's topology
// event: no poll is due.
func TestLiveFabricTopology(t *testing.T) {
	st := startStack(t)
	api := &countingAPI{ControllerClient: st.client}
	base := st.serveConsole(t, Options{API: api, FabricInterval: time.Minute}, nil)
	evs, stop := openSSE(t, nil, base+"/api/v1/events?fabric=1", "")
	defer stop()
	next(t, evs, "fabric", 5*time.Second)
	// A host is heard on leaf1's port 3: the topology changes, and the
	// page shows the host.
	start := time.Now()
	st.host(t, "leaf1", 3, "hv-7")
	deadline := time.Now().Add(5 * time.Second)
	for seen := false; !seen; {
		var f FabricView
		json.Unmarshal([]byte(next(t, evs, "fabric", time.Until(deadline)).data), &f)
		for _, h := range f.Hosts {
			seen = seen || h.Host == "hv-7" && h.Device == "leaf1" && h.Port == 3
		}
	}
	t.Logf("host on the page after %s (%d Topology calls)", time.Since(start).Round(time.Millisecond), api.topology.Load())
}
