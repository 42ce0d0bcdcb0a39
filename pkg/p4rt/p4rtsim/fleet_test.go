package p4rtsim_test

// A fleet of devices: dispatch by device id, independence, sessions.

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
)

const fleetSize = 50 // devices 1..50

// startFleet serves a fleet over bufconn until the test ends.
func startFleet(t *testing.T, o p4rtsim.FleetOptions) (*p4rtsim.Fleet, grpc.DialOption) {
	t.Helper()
	f, err := p4rtsim.NewFleet(o)
	if err != nil {
		t.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, lis) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("fleet: %v", err)
		}
	})
	return f, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
}

func openDevice(t *testing.T, dial grpc.DialOption, device, election uint64) *p4rt.Session {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: device, ElectionID: p4rt.ElectionID{Low: election}, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		t.Fatalf("device %d: %v", device, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func client(t *testing.T, dial grpc.DialOption) p4v1.P4RuntimeClient {
	t.Helper()
	conn, err := grpc.NewClient(p4rttest.SimAddr, dial, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return p4v1.NewP4RuntimeClient(conn)
}

func TestNewFleetValidates(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    p4rtsim.FleetOptions
		ok   bool
	}{
		{"one", p4rtsim.FleetOptions{FirstID: 1, Devices: 1}, true},
		{"no devices", p4rtsim.FleetOptions{FirstID: 1}, false},
		{"negative", p4rtsim.FleetOptions{FirstID: 1, Devices: -3}, false},
		{"too many", p4rtsim.FleetOptions{FirstID: 1, Devices: p4rtsim.MaxFleetDevices + 1}, false},
		{"last id is the largest", p4rtsim.FleetOptions{FirstID: ^uint64(0) - 9, Devices: 10}, true},
		{"ids overflow", p4rtsim.FleetOptions{FirstID: ^uint64(0) - 9, Devices: 11}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := p4rtsim.NewFleet(tc.o)
			if (err == nil) != tc.ok {
				t.Fatalf("NewFleet(%+v): err = %v, want ok = %v", tc.o, err, tc.ok)
			}
			if err != nil {
				return
			}
			if f.Len() != tc.o.Devices || f.FirstID() != tc.o.FirstID || f.LastID() != tc.o.FirstID+uint64(tc.o.Devices-1) {
				t.Errorf("fleet of %d from %d to %d, want %d from %d", f.Len(), f.FirstID(), f.LastID(), tc.o.Devices, tc.o.FirstID)
			}
			for _, id := range []uint64{f.FirstID(), f.LastID()} {
				if d := f.Device(id); d == nil || d.DeviceID() != id {
					t.Errorf("Device(%d) = %v", id, d)
				}
			}
			if tc.o.FirstID > 0 && f.Device(tc.o.FirstID-1) != nil {
				t.Errorf("Device(%d) is in the fleet", tc.o.FirstID-1)
			}
		})
	}
}

// TestFleetConformance runs the conformance suite on the first and the
// last device of a fleet.
func TestFleetConformance(t *testing.T) {
	_, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 1, Devices: fleetSize})
	for _, id := range []uint64{1, fleetSize} {
		t.Run(fmt.Sprintf("device%d", id), func(t *testing.T) {
			p4rttest.Run(t, p4rttest.Target{Addr: p4rttest.SimAddr, DeviceID: id, DialOptions: []grpc.DialOption{dial}, Pipeline: embedded(t)})
		})
	}
}

// TestFleetDevicesIndependent writes to one device and reads its
// neighbour: pipelines, entries and arbitration are the device's own.
func TestFleetDevicesIndependent(t *testing.T) {
	f, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 1, Devices: fleetSize})
	p := embedded(t)
	ctx := context.Background()
	s3 := openDevice(t, dial, 3, 10)
	s4 := openDevice(t, dial, 4, 10) // the same election id: another device
	for _, s := range []*p4rt.Session{s3, s4} {
		if err := s.SetPipeline(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s3.Write(ctx, update(p4v1.Update_INSERT, portEntry(t, p.Info, 1)), update(p4v1.Update_INSERT, portEntry(t, p.Info, 2))); err != nil {
		t.Fatal(err)
	}
	if n := len(readTable(t, s3, 0)); n != 2 {
		t.Errorf("device 3 holds %d entries, want 2", n)
	}
	if n := len(readTable(t, s4, 0)); n != 0 {
		t.Errorf("device 4 holds %d entries written to device 3", n)
	}
	// Device 4 takes the same entry: it is not a duplicate there.
	if err := s4.Write(ctx, update(p4v1.Update_INSERT, portEntry(t, p.Info, 1))); err != nil {
		t.Fatalf("device 4: %v", err)
	}
	if f.Device(3).Writes() != 1 || f.Device(4).Writes() != 1 || f.Writes() != 2 {
		t.Errorf("writes: device 3 %d, device 4 %d, fleet %d; want 1, 1, 2", f.Device(3).Writes(), f.Device(4).Writes(), f.Writes())
	}
	// Device 5 has no pipeline.
	rt := client(t, dial)
	if _, err := rt.GetForwardingPipelineConfig(ctx, &p4v1.GetForwardingPipelineConfigRequest{DeviceId: 5}); status.Code(err) != codes.FailedPrecondition {
		t.Errorf("device 5 config: %v, want FAILED_PRECONDITION", err)
	}
}

func TestFleetUnknownDevice(t *testing.T) {
	_, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 1, Devices: fleetSize})
	rt := client(t, dial)
	ctx := context.Background()
	for _, id := range []uint64{0, fleetSize + 1, 1 << 40} {
		for _, tc := range []struct {
			rpc  string
			call func() error
		}{
			{"Write", func() error {
				_, err := rt.Write(ctx, &p4v1.WriteRequest{DeviceId: id, ElectionId: &p4v1.Uint128{Low: 1}})
				return err
			}},
			{"Read", func() error {
				rc, err := rt.Read(ctx, &p4v1.ReadRequest{DeviceId: id})
				if err != nil {
					return err
				}
				_, err = rc.Recv()
				return err
			}},
			{"SetForwardingPipelineConfig", func() error {
				_, err := rt.SetForwardingPipelineConfig(ctx, &p4v1.SetForwardingPipelineConfigRequest{DeviceId: id})
				return err
			}},
			{"GetForwardingPipelineConfig", func() error {
				_, err := rt.GetForwardingPipelineConfig(ctx, &p4v1.GetForwardingPipelineConfigRequest{DeviceId: id})
				return err
			}},
			{"StreamChannel", func() error {
				sc, err := rt.StreamChannel(ctx)
				if err != nil {
					return err
				}
				defer sc.CloseSend()
				if err := sc.Send(arbitration(id, 1)); err != nil {
					return err
				}
				_, err = sc.Recv()
				return err
			}},
		} {
			err := tc.call()
			if status.Code(err) != codes.NotFound || !strings.Contains(status.Convert(err).Message(), fmt.Sprintf("device id %d", id)) {
				t.Errorf("%s for device %d: %v, want NOT_FOUND naming the id", tc.rpc, id, err)
			}
		}
	}
}

func arbitration(device, election uint64) *p4v1.StreamMessageRequest {
	return &p4v1.StreamMessageRequest{Update: &p4v1.StreamMessageRequest_Arbitration{Arbitration: &p4v1.MasterArbitrationUpdate{
		DeviceId: device, ElectionId: &p4v1.Uint128{Low: election}}}}
}

// TestFleetStreamBoundToDevice: a stream belongs to the device of its
// first arbitration.
func TestFleetStreamBoundToDevice(t *testing.T) {
	f, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 1, Devices: fleetSize})
	sc, err := client(t, dial).StreamChannel(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(arbitration(2, 1)); err != nil {
		t.Fatal(err)
	}
	m, err := sc.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if a := m.GetArbitration(); a.GetDeviceId() != 2 || a.GetStatus().GetCode() != int32(codes.OK) {
		t.Fatalf("arbitration answer %v, want device 2 primary", m)
	}
	if err := sc.Send(arbitration(2, 5)); err != nil { // same device: fine
		t.Fatal(err)
	}
	if _, err := sc.Recv(); err != nil {
		t.Fatal(err)
	}
	if err := sc.Send(arbitration(3, 5)); err != nil {
		t.Fatal(err)
	}
	for {
		_, err = sc.Recv()
		if err != nil {
			break
		}
	}
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("arbitration for device 3 on device 2's stream: %v, want INVALID_ARGUMENT", err)
	}
	waitSessions(t, f, map[uint64]int{2: 0, 3: 0}, 0)
}

// waitSessions waits until each device in want and the fleet count the
// sessions they should (streams end asynchronously).
func waitSessions(t *testing.T, f *p4rtsim.Fleet, want map[uint64]int, total int) {
	t.Helper()
	ok := func() bool {
		for id, n := range want {
			if f.Device(id).Sessions() != n {
				return false
			}
		}
		return f.Sessions() == total
	}
	deadline := time.Now().Add(10 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			got := map[uint64]int{}
			for id := range want {
				got[id] = f.Device(id).Sessions()
			}
			t.Fatalf("sessions %v (fleet %d), want %v (fleet %d)", got, f.Sessions(), want, total)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFleetSessions(t *testing.T) {
	f, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 100, Devices: fleetSize})
	waitSessions(t, f, map[uint64]int{100: 0}, 0)
	a := openDevice(t, dial, 100, 1)
	openDevice(t, dial, 100, 2) // a backup is a session too
	openDevice(t, dial, 149, 1)
	waitSessions(t, f, map[uint64]int{100: 2, 149: 1, 120: 0}, 3)
	a.Close()
	waitSessions(t, f, map[uint64]int{100: 1, 149: 1}, 2)
}

// TestFleetSharesPipeline: devices that commit the same pipeline share
// one index of it and one copy of its device config, and the codec's
// per-request state does not outlive a request, whatever its device.
func TestFleetSharesPipeline(t *testing.T) {
	f, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 1, Devices: 4})
	p := embedded(t)
	ctx := context.Background()
	for id := uint64(1); id <= 3; id++ {
		s := openDevice(t, dial, id, 1)
		if err := s.SetPipeline(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := s.Write(ctx, update(p4v1.Update_INSERT, portEntry(t, p.Info, id))); err != nil {
			t.Fatal(err)
		}
	}
	d1, d2, d3 := f.Device(1), f.Device(2), f.Device(3)
	if d1.Info() == nil || d1.Info() != d2.Info() || d2.Info() != d3.Info() {
		t.Errorf("devices hold pipeline indexes %p, %p, %p: want one", d1.Info(), d2.Info(), d3.Info())
	}
	if c1, c3 := d1.DeviceConfig(), d3.DeviceConfig(); len(c1) == 0 || &c1[0] != &c3[0] {
		t.Error("devices hold copies of the device config")
	}
	// Writes the devices refuse: not primary (device 4 has no session),
	// and a device the fleet does not have.
	rt := client(t, dial)
	for _, id := range []uint64{4, 9} {
		_, err := rt.Write(ctx, &p4v1.WriteRequest{DeviceId: id, ElectionId: &p4v1.Uint128{Low: 1}, Updates: []*p4v1.Update{update(p4v1.Update_INSERT, portEntry(t, p.Info, 1))}})
		if err == nil {
			t.Errorf("write to device %d accepted", id)
		}
	}
	for id := uint64(1); id <= 4; id++ {
		if n := f.Device(id).PendingRaws(); n != 0 {
			t.Errorf("device %d: the codec holds %d requests' entries after they were handled", id, n)
		}
	}
}

// TestFleetConcurrentWrites fills devices at once, each through its own
// session (run it with -race: the devices share the pipeline and the
// codec, nothing else).
func TestFleetConcurrentWrites(t *testing.T) {
	const devices, n = 8, 1500
	f, dial := startFleet(t, p4rtsim.FleetOptions{FirstID: 1, Devices: devices, TableSize: n})
	p := embedded(t)
	ctx := context.Background()
	sessions := make([]*p4rt.Session, devices)
	for i := range sessions {
		sessions[i] = openDevice(t, dial, uint64(i+1), 1)
	}
	sets := make([]*p4rt.EntrySet, devices)
	for i := range sets {
		sets[i] = p4rt.NewEntrySet(n)
		for j := range n - i { // a different count on each device
			if err := sets[i].Add(policyEntry(t, p.Info, j, "policy_port_allow", uint64(i+1))); err != nil {
				t.Fatal(err)
			}
		}
	}
	errs := make(chan error, devices)
	for i, s := range sessions {
		go func() {
			if err := s.SetPipeline(ctx, p); err != nil {
				errs <- err
				return
			}
			errs <- s.WriteSet(ctx, sets[i], p4v1.Update_INSERT, p4rt.BulkOptions{BatchSize: 100, InFlight: 2})
		}()
	}
	for range sessions {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i, s := range sessions {
		if got := len(readTable(t, s, 0)); got != n-i {
			t.Errorf("device %d holds %d entries, want %d", i+1, got, n-i)
		}
	}
	waitSessions(t, f, map[uint64]int{1: 1, devices: 1}, devices)
}
