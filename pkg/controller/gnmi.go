package controller

import (
	"context"
	"crypto/tls"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/p4ctl/p4ctl/pkg/gnmi/subscriber"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// gnmiWatch is the subscription to one device's gNMI server and what it
// has said of the device's LLDP neighbors.
type gnmiWatch struct {
	addr   string
	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex                                    // taken before the topology's own lock
	neighbors map[string]map[string]subscriber.NeighborInfo // interface -> id -> neighbor; guarded by mu
	// stopped is set when the watch is dropped: a callback still under
	// way then changes nothing, so a removed device's hosts stay removed.
	stopped bool // guarded by mu
}

// stop ends the watch and forgets the hosts it reported.
func (w *gnmiWatch) stop(c *Controller, device string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.cancel()
	c.topo.SetHosts(device, topo.SourceGNMI, nil, time.Now())
}

// syncGNMI starts a subscription for every device with a gNMI address and
// stops those of devices that lost or changed theirs. Callers hold c.mu.
func (c *Controller) syncGNMI(ctx context.Context, wg *sync.WaitGroup, m *policy.Model) {
	for name, w := range c.gnmiWatches {
		if d, ok := m.Devices[name]; !ok || d.GNMI != w.addr {
			w.stop(c, name)
			delete(c.gnmiWatches, name)
		}
	}
	for name, d := range m.Devices {
		if d.GNMI == "" || c.gnmiWatches[name] != nil {
			continue
		}
		wctx, cancel := context.WithCancel(ctx)
		w := &gnmiWatch{addr: d.GNMI, cancel: cancel, done: make(chan struct{}), neighbors: map[string]map[string]subscriber.NeighborInfo{}}
		c.gnmiWatches[name] = w
		s := &subscriber.Subscriber{Device: name, Addr: d.GNMI, Dial: gnmiDial(c.cfg.DeviceTLS, c.cfg.GNMIDialOptions, d),
			SampleInterval: c.cfg.CounterInterval, Logger: c.log}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(w.done)
			// Run fails only when it cannot make its gRPC client (a bad
			// dial option): the device's port state is then unknown, which
			// the status says.
			if err := s.Run(wctx, func(e subscriber.Event) { c.onGNMI(w, e) }); err != nil {
				c.log.Error("gnmi subscription", "device", name, "gnmi", d.GNMI, "err", err)
			}
		}()
	}
}

func gnmiDial(tc *tls.Config, extra func(*policy.Device) []grpc.DialOption, d *policy.Device) []grpc.DialOption {
	creds := insecure.NewCredentials()
	if tc != nil {
		creds = credentials.NewTLS(tc)
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if extra != nil {
		opts = append(opts, extra(d)...)
	}
	return opts
}

// onGNMI feeds what a device's gNMI server says into the topology.
func (c *Controller) onGNMI(w *gnmiWatch, e subscriber.Event) {
	now := time.Now()
	switch e.Kind {
	case subscriber.PortState:
		c.topo.UpdatePort(topo.Port{Device: e.Device, Interface: e.Interface, Oper: e.Oper}, now)
	case subscriber.PortID:
		c.topo.UpdatePort(topo.Port{Device: e.Device, Interface: e.Interface, ID: e.ID}, now)
		c.setGNMIHosts(w, e.Device, now) // neighbors on it can be placed now
	case subscriber.PortCounters:
		ct := e.Counters
		c.topo.UpdatePort(topo.Port{Device: e.Device, Interface: e.Interface, Counters: topo.Counters{InOctets: ct.InOctets, OutOctets: ct.OutOctets,
			InPkts: ct.InPkts, OutPkts: ct.OutPkts, InErrors: ct.InErrors, OutErrors: ct.OutErrors, InDiscards: ct.InDiscards, OutDiscards: ct.OutDiscards}}, now)
	case subscriber.Neighbor, subscriber.NeighborGone:
		w.mu.Lock()
		if w.stopped {
			w.mu.Unlock()
			return
		}
		if w.neighbors[e.Interface] == nil {
			w.neighbors[e.Interface] = map[string]subscriber.NeighborInfo{}
		}
		if e.Kind == subscriber.Neighbor {
			w.neighbors[e.Interface][e.Neighbor.ID] = e.Neighbor
		} else {
			delete(w.neighbors[e.Interface], e.Neighbor.ID)
		}
		w.mu.Unlock()
		c.setGNMIHosts(w, e.Device, now)
	case subscriber.Disconnected:
		// What the device said may be stale now: forget its neighbors
		// until it says them again.
		w.mu.Lock()
		defer w.mu.Unlock()
		clear(w.neighbors)
		if !w.stopped {
			c.topo.SetHosts(e.Device, topo.SourceGNMI, nil, now)
		}
	}
}

// setGNMIHosts tells the topology every neighbor the device reports on a
// port whose P4 id it has said.
func (c *Controller) setGNMIHosts(w *gnmiWatch, dev string, now time.Time) {
	// Held until the topology has the hosts, so stop cannot slip in
	// between and have its removal overwritten.
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	var hosts []topo.Host
	for ifn, byID := range w.neighbors {
		port, ok := c.topo.PortID(dev, ifn)
		if !ok {
			continue
		}
		for _, n := range byID {
			hosts = append(hosts, topo.Host{Name: n.SystemName, ChassisID: n.ChassisID, PortID: n.PortID, At: topo.End{Device: dev, Port: port}, Interface: ifn})
		}
	}
	c.topo.SetHosts(dev, topo.SourceGNMI, hosts, now)
}
