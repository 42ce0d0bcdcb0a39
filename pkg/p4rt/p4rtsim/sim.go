// Package p4rtsim is an in-process P4Runtime target for tests and
// benchmarks. It implements the control plane of a switch faithfully
// enough to test a controller against: client arbitration per the
// P4Runtime spec (highest election id is primary, backups' writes refused
// with PERMISSION_DENIED, duplicate election ids refused with
// INVALID_ARGUMENT, advisory notifications on every change), pipeline
// config with cookie, table entries validated against the P4Info with
// per-update ALREADY_EXISTS / NOT_FOUND / RESOURCE_EXHAUSTED /
// INVALID_ARGUMENT errors, wildcard reads, direct and indexed counters,
// multicast groups, and packet I/O hooks.
//
// A Server is one device; a Fleet serves many on one gRPC server, each
// RPC going to the device its device_id names, so that one process can
// stand for a rack of switches. Table entries are kept compactly (see
// entryStore, about 120 bytes of heap per entry of a policy table), and
// devices that run the same pipeline share one parsed copy of it.
//
// It forwards no packets itself: the data plane is BMv2's job
// (bmv2-tests), or a Backend's (Options.Backend: cmd/p4ctl-swx runs the
// server over DPDK's SWX pipeline).
package p4rtsim

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Options configure a simulated device.
type Options struct {
	// DeviceID is the P4Runtime device id the target answers to.
	DeviceID uint64
	// Logger receives the target's events; nil discards them.
	Logger *slog.Logger
	// TableSize, if set, overrides the P4Info size of every table (for
	// benchmarks that need more entries than the program declares).
	TableSize int64
	// OnPacketOut is called with every packet-out the primary sends.
	OnPacketOut func(*p4v1.PacketOut)
	// TLS, if set, makes Serve accept TLS only (mutual TLS when it asks
	// for client certificates).
	TLS *tls.Config
	// NoReconcile makes the target answer RECONCILE_AND_COMMIT with
	// UNIMPLEMENTED, as Stratum does on every target.
	NoReconcile bool
	// WriteDelay holds every Write RPC that long before it is handled, as
	// a slow switch would (tests of writes in flight).
	WriteDelay time.Duration
	// Backend, if set, is the data plane the server programs (see
	// Backend): pipelines are loaded into it, table writes committed to
	// it, counters read from it. Without one the server is the simulator.
	Backend Backend
}

// Writes is how many Write RPCs the target has handled.
func (s *Server) Writes() int64 { return s.writes.Load() }

// Sessions is how many streams are open and arbitrated (primary or
// backup, any role): the P4Runtime sessions controllers hold.
func (s *Server) Sessions() int { return int(s.sessions.Load()) }

// DeviceID is the P4Runtime device id the target answers to.
func (s *Server) DeviceID() uint64 { return s.opts.DeviceID }

// Server is a simulated P4Runtime device. Register it on a grpc.Server
// (see Serve) or call its methods directly; a Fleet holds many.
type Server struct {
	p4v1.UnimplementedP4RuntimeServer

	opts Options
	log  *slog.Logger

	writes   atomic.Int64 // Write RPCs handled (past the delay)
	sessions atomic.Int64 // arbitrated streams open

	mu    sync.Mutex
	roles map[string]*roleState

	// The forwarding state, guarded by mu.
	config      *p4v1.ForwardingPipelineConfig // nil until a pipeline is committed; shares pipe's parts
	pipe        *sharedPipeline                // the committed pipeline (held: the cache's reference is weak)
	info        *pipeline.Info                 // pipe.info
	saved       *sharedPipeline                // VERIFY_AND_SAVE, waiting for COMMIT
	savedCookie *p4v1.ForwardingPipelineConfig_Cookie
	tables      map[uint32]*table
	order       []*table // tables sorted by name, the order of wildcard reads
	groups      map[uint32]*p4v1.MulticastGroupEntry
	indexed     map[uint32]*indexedCounter
	digests     map[uint32]*digestState // configured digests, by id

	// The store changes of the updates a Write staged on the backend,
	// guarded by mu.
	undos []undo

	// Scratch space of the table-entry paths, guarded by mu.
	kw   pipeline.KeyWriter // entry keys
	wbuf []byte             // marshalled entries

	// The table entries' encodings in WriteRequests decoded by the codec
	// and not yet applied, by request.
	rawMu sync.Mutex
	raw   map[*p4v1.WriteRequest][][]byte
}

// roleState is the arbitration of one role: its streams, its primary and
// the highest election id seen.
type roleState struct {
	streams map[*stream]struct{}
	primary *stream
	past    *p4v1.Uint128 // highest election id ever seen; nil if none
}

// New returns a device with no pipeline.
func New(o Options) *Server {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{opts: o, log: log, roles: map[string]*roleState{}}
}

// ServerOptions are the options a gRPC server that serves s needs: the
// simulator's codec (bulk reads are sent as prepared wire bytes), message
// limits sized for large batches, and TLS when Options.TLS is set. Serve
// uses them; a caller that registers s, or a wrapper of it, on a server
// of its own must pass them too.
func (s *Server) ServerOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.MaxRecvMsgSize(math.MaxInt32), grpc.MaxSendMsgSize(math.MaxInt32), grpc.ForceServerCodec(simCodec{s.self})}
	if s.opts.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(s.opts.TLS)))
	}
	return opts
}

// Serve registers s on a new gRPC server (see ServerOptions) and serves
// lis until ctx ends. It returns the server's error, or nil after a
// graceful stop.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	return serve(ctx, lis, s.ServerOptions(), s)
}

func cmp128(a, b *p4v1.Uint128) int {
	switch {
	case a.GetHigh() != b.GetHigh():
		if a.GetHigh() < b.GetHigh() {
			return -1
		}
		return 1
	case a.GetLow() != b.GetLow():
		if a.GetLow() < b.GetLow() {
			return -1
		}
		return 1
	}
	return 0
}

func (s *Server) checkDevice(id uint64) error {
	if id != s.opts.DeviceID {
		return unknownDevice(id)
	}
	return nil
}

func unknownDevice(id uint64) error { return status.Errorf(codes.NotFound, "unknown device id %d", id) }

// self is s if id is its device id, nil otherwise (the codec's lookup).
func (s *Server) self(id uint64) *Server {
	if id != s.opts.DeviceID {
		return nil
	}
	return s
}

// bind is the device a stream's arbitration for id binds it to.
func (s *Server) bind(id uint64) (*Server, error) {
	if err := s.checkDevice(id); err != nil {
		return nil, err
	}
	return s, nil
}

// checkPrimary reports whether election is the current primary's id for
// role. Callers hold s.mu.
func (s *Server) checkPrimary(role string, election *p4v1.Uint128) error {
	rs := s.roles[role]
	if rs == nil || rs.primary == nil || election == nil || cmp128(rs.primary.election, election) != 0 {
		return status.Errorf(codes.PermissionDenied, "election id %v is not the primary's for role %q", fmtID(election), role)
	}
	return nil
}

func fmtID(id *p4v1.Uint128) string {
	if id == nil {
		return "(none)"
	}
	return fmt.Sprintf("%d:%d", id.GetHigh(), id.GetLow())
}

// Capabilities reports the P4Runtime API version implemented.
func (s *Server) Capabilities(context.Context, *p4v1.CapabilitiesRequest) (*p4v1.CapabilitiesResponse, error) {
	return &p4v1.CapabilitiesResponse{P4RuntimeApiVersion: "1.5.0"}, nil
}
