package p4rtsim

// Many simulated devices behind one gRPC server (Fleet).

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// MaxFleetDevices is the most devices a Fleet serves.
const MaxFleetDevices = 100_000

// FleetOptions configure a fleet of simulated devices.
type FleetOptions struct {
	// FirstID is the P4Runtime device id of the first device; the others
	// follow it: FirstID .. FirstID+Devices-1.
	FirstID uint64
	// Devices is how many devices the fleet serves, 1 .. MaxFleetDevices.
	Devices int
	// Logger receives the devices' events, with their device_id; nil
	// discards them.
	Logger *slog.Logger
	// TableSize, if set, overrides the P4Info size of every table.
	TableSize int64
	// OnPacketOut is called with every packet-out a device's primary
	// sends, and the device's id.
	OnPacketOut func(deviceID uint64, p *p4v1.PacketOut)
	// TLS, if set, makes Serve accept TLS only.
	TLS *tls.Config
	// NoReconcile makes every device answer RECONCILE_AND_COMMIT with
	// UNIMPLEMENTED.
	NoReconcile bool
	// WriteDelay holds every Write RPC that long before it is handled.
	WriteDelay time.Duration
}

// Fleet serves many simulated devices on one gRPC server, as a process
// that simulates a rack of hypervisor switches needs: every RPC is sent
// to the device its device_id names, and a StreamChannel to the device
// of its first arbitration. The devices are Servers, independent of each
// other (arbitration, pipeline, tables, groups, counters, digests), each
// with its own lock; the fleet adds no lock of its own to their paths.
// Devices that run the same pipeline share one copy of it.
type Fleet struct {
	p4v1.UnimplementedP4RuntimeServer

	first   uint64
	devices []*Server
	tls     *tls.Config
}

// NewFleet returns a fleet of o.Devices devices with no pipeline. It
// fails when the count is out of range or the ids overflow a uint64.
func NewFleet(o FleetOptions) (*Fleet, error) {
	if o.Devices < 1 || o.Devices > MaxFleetDevices {
		return nil, fmt.Errorf("p4rtsim: a fleet of %d devices: want 1 to %d", o.Devices, MaxFleetDevices)
	}
	if o.FirstID > math.MaxUint64-uint64(o.Devices-1) {
		return nil, fmt.Errorf("p4rtsim: device ids %d and %d more overflow a uint64", o.FirstID, o.Devices-1)
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &Fleet{first: o.FirstID, devices: make([]*Server, o.Devices), tls: o.TLS}
	for i := range f.devices {
		id := o.FirstID + uint64(i)
		do := Options{DeviceID: id, Logger: log.With("device_id", id), TableSize: o.TableSize, NoReconcile: o.NoReconcile, WriteDelay: o.WriteDelay}
		if o.OnPacketOut != nil {
			do.OnPacketOut = func(p *p4v1.PacketOut) { o.OnPacketOut(id, p) }
		}
		f.devices[i] = New(do)
	}
	return f, nil
}

// FirstID is the device id of the first device.
func (f *Fleet) FirstID() uint64 { return f.first }

// Len is the number of devices.
func (f *Fleet) Len() int { return len(f.devices) }

// LastID is the device id of the last device.
func (f *Fleet) LastID() uint64 { return f.first + uint64(len(f.devices)-1) }

// Device returns the device with P4Runtime device id id, nil if the fleet
// has none.
func (f *Fleet) Device(id uint64) *Server {
	if id < f.first || id-f.first >= uint64(len(f.devices)) {
		return nil
	}
	return f.devices[id-f.first]
}

// device is Device, or NOT_FOUND naming the id.
func (f *Fleet) device(id uint64) (*Server, error) {
	if s := f.Device(id); s != nil {
		return s, nil
	}
	return nil, unknownDevice(id)
}

// Sessions is how many arbitrated streams are open on all devices.
func (f *Fleet) Sessions() int {
	n := 0
	for _, s := range f.devices {
		n += s.Sessions()
	}
	return n
}

// Writes is how many Write RPCs the devices have handled.
func (f *Fleet) Writes() int64 {
	var n int64
	for _, s := range f.devices {
		n += s.Writes()
	}
	return n
}

// ServerOptions are the options a gRPC server that serves f needs (see
// Server.ServerOptions): the codec finds the device of each WriteRequest.
func (f *Fleet) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32), grpc.ForceServerCodec(simCodec{f.Device})}
	if f.tls != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(f.tls)))
	}
	return opts
}

// Serve registers f on a new gRPC server (see ServerOptions) and serves
// lis until ctx ends. It returns the server's error, or nil after a
// graceful stop.
func (f *Fleet) Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, f.ServerOptions(), f)
}

// serve serves srv on lis with opts until ctx ends.
func serve(ctx context.Context, lis net.Listener, opts []grpc.ServerOption, srv p4v1.P4RuntimeServer) error {
	gs := grpc.NewServer(opts...)
	p4v1.RegisterP4RuntimeServer(gs, srv)
	stopped := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			gs.Stop()
		case <-stopped:
		}
	}()
	err := gs.Serve(lis)
	close(stopped)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// Capabilities reports the P4Runtime API version implemented.
func (f *Fleet) Capabilities(ctx context.Context, req *p4v1.CapabilitiesRequest) (*p4v1.CapabilitiesResponse, error) {
	return f.devices[0].Capabilities(ctx, req)
}

// Write sends req to its device.
func (f *Fleet) Write(ctx context.Context, req *p4v1.WriteRequest) (*p4v1.WriteResponse, error) {
	s, err := f.device(req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	return s.Write(ctx, req)
}

// Read sends req to its device.
func (f *Fleet) Read(req *p4v1.ReadRequest, srv p4v1.P4Runtime_ReadServer) error {
	s, err := f.device(req.GetDeviceId())
	if err != nil {
		return err
	}
	return s.Read(req, srv)
}

// SetForwardingPipelineConfig sends req to its device.
func (f *Fleet) SetForwardingPipelineConfig(ctx context.Context, req *p4v1.SetForwardingPipelineConfigRequest) (*p4v1.SetForwardingPipelineConfigResponse, error) {
	s, err := f.device(req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	return s.SetForwardingPipelineConfig(ctx, req)
}

// GetForwardingPipelineConfig sends req to its device.
func (f *Fleet) GetForwardingPipelineConfig(ctx context.Context, req *p4v1.GetForwardingPipelineConfigRequest) (*p4v1.GetForwardingPipelineConfigResponse, error) {
	s, err := f.device(req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	return s.GetForwardingPipelineConfig(ctx, req)
}

// StreamChannel runs a stream bound to the device of its first
// arbitration: an arbitration naming another device later is refused
// with INVALID_ARGUMENT, one naming an unknown device with NOT_FOUND.
func (f *Fleet) StreamChannel(srv p4v1.P4Runtime_StreamChannelServer) error {
	return runStream(srv, f.device)
}
