// Package apiserver serves p4ctl's northbound gRPC API (api/p4ctl/v1) for
// one node: reads from the node's own state, writes through its
// controller, and writes sent to a follower forwarded to the leader's API.
package apiserver

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// Server implements p4ctlv1.ControllerServer.
//
// gRPC calls its handlers from a goroutine per RPC, concurrently; each
// reads the node and controller through their own locks. Serve is called
// once and blocks until its ctx ends.
type Server struct {
	p4ctlv1.UnimplementedControllerServer

	node *cluster.Node
	ctl  *controller.Controller
	auth *access.Authenticator
	log  *slog.Logger
	// leaders holds a connection per leader API address, so forwarding
	// pays for a (mutual TLS) handshake once per leader, not per call.
	leaders *connCache
}

// Options configure a Server.
type Options struct {
	// Forward are the options for dialling the leader's API (nil:
	// plaintext).
	Forward []grpc.DialOption
	// Auth authenticates and authorizes every call (nil: no TLS, every
	// caller unauthenticated with every right, as on loopback).
	Auth *access.Authenticator
	// Logger receives the audit of every change and membership call (nil:
	// slog.Default()).
	Logger *slog.Logger
}

// New returns a server for node and its controller.
func New(node *cluster.Node, ctl *controller.Controller, o Options) *Server {
	if o.Forward == nil {
		o.Forward = []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	}
	if o.Auth == nil {
		o.Auth, _ = access.NewAuthenticator(access.Config{})
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return &Server{node: node, ctl: ctl, auth: o.Auth, log: o.Logger, leaders: newConnCache(o.Forward)}
}

// MaxMessageSize is the largest request the API takes (and answer it
// sends): the policy parser's own limit, so any file that parses can be
// applied.
const MaxMessageSize = policy.MaxFileBytes

// Serve serves the API on lis until ctx ends.
func (s *Server) Serve(ctx context.Context, lis net.Listener, opts ...grpc.ServerOption) error {
	opts = append(opts, s.auth.Interceptors("api", RoleFor)...)
	opts = append(opts, grpc.MaxRecvMsgSize(MaxMessageSize), grpc.MaxSendMsgSize(MaxMessageSize))
	gs := grpc.NewServer(append(opts, grpc.ChainUnaryInterceptor(s.staleness))...)
	p4ctlv1.RegisterControllerServer(gs, s)
	// Serve returns once every call has ended (streams are given
	// stopGrace to finish, then cut), so the node it serves can close.
	ctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		<-ctx.Done()
		graceful := make(chan struct{})
		go func() { gs.GracefulStop(); close(graceful) }()
		select {
		case <-graceful:
		case <-time.After(stopGrace):
			gs.Stop()
			<-graceful
		}
	}()
	err := gs.Serve(lis)
	cancel()
	<-stopped
	s.leaders.close()
	return err
}

// stopGrace is how long Serve lets calls in flight finish once its
// context ends.
const stopGrace = 5 * time.Second

// toStatus maps errors to gRPC codes the client can act on.
func toStatus(err error) error {
	var pe policy.Errors
	var e *policy.Error
	var nl *cluster.ErrNotLeader
	switch {
	case err == nil:
		return nil
	case errors.As(err, &nl):
		return status.Error(codes.Unavailable, err.Error())
	case errors.Is(err, policy.ErrCapacity):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, policy.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.As(err, &pe), errors.As(err, &e):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.FailedPrecondition, err.Error())
}

// leaderClient is a client of the leader's API, when this node is not the
// leader.
func (s *Server) leaderClient() (p4ctlv1.ControllerClient, error) {
	id, _ := s.node.Leader()
	if id == "" {
		return nil, status.Error(codes.Unavailable, "no raft leader (no quorum?)")
	}
	addr := s.node.APIAddr(id)
	if addr == "" {
		return nil, status.Errorf(codes.Unavailable, "the leader %s has not published its API address", id)
	}
	conn, err := s.leaders.get(addr)
	if err != nil {
		return nil, status.Errorf(codes.Unavailable, "dial the leader %s at %s: %v", id, addr, err)
	}
	return p4ctlv1.NewControllerClient(conn), nil
}

// forward sends a call to the leader's API.
func forward[T any](s *Server, call func(p4ctlv1.ControllerClient) (T, error)) (T, error) {
	c, err := s.leaderClient()
	if err != nil {
		var zero T
		return zero, err
	}
	return call(c)
}

func (s *Server) Apply(ctx context.Context, req *p4ctlv1.ApplyRequest) (*p4ctlv1.ApplyResponse, error) {
	ctx = s.withClient(ctx)
	resp, err := onLeader(ctx, s, func(ctx context.Context) (*p4ctlv1.ApplyResponse, error) { return s.apply(ctx, req) },
		func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.ApplyResponse, error) {
			return c.Apply(ctx, req)
		})
	what := fileNames(req.GetFile(), req.GetFiles())
	if req.GetPrune() {
		what += " (prune)"
	}
	s.audit(ctx, "apply", what, resp.GetIndex(), err)
	return resp, err
}

func (s *Server) apply(ctx context.Context, req *p4ctlv1.ApplyRequest) (*p4ctlv1.ApplyResponse, error) {
	if req.GetPrune() {
		// The node works out the deletions against the model it prepares
		// the change on (again on every retry of a stale change).
		ctx = cluster.WithPrune(ctx, req.GetPruneRevision())
	}
	res, err := s.ctl.ApplyFiles(ctx, sources(req.GetFile(), req.GetDocs(), req.GetFiles()), req.GetStrict())
	if err != nil {
		return nil, toStatus(err)
	}
	return &p4ctlv1.ApplyResponse{Index: res.Index, Objects: int32(res.Objects), Warnings: res.Warnings,
		Devices: res.Devices, AllDevices: res.AllDevices, Unchanged: res.Unchanged}, nil
}

// sources are a request's files: files when given, else the one of file
// and docs.
func sources(file string, docs []byte, files []*p4ctlv1.SourceFile) []cluster.Source {
	if len(files) == 0 {
		return []cluster.Source{{File: cmp.Or(file, "request"), Docs: string(docs)}}
	}
	out := make([]cluster.Source, len(files))
	for i, f := range files {
		out[i] = cluster.Source{File: cmp.Or(f.GetName(), fmt.Sprintf("request file %d", i+1)), Docs: string(f.GetDocs())}
	}
	return out
}

// fileNames names a request's files for the audit log.
func fileNames(file string, files []*p4ctlv1.SourceFile) string {
	if len(files) == 0 {
		return file
	}
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.GetName()
	}
	return strings.Join(names, ", ")
}

func (s *Server) Delete(ctx context.Context, req *p4ctlv1.DeleteRequest) (*p4ctlv1.DeleteResponse, error) {
	ctx = s.withClient(ctx)
	resp, err := onLeader(ctx, s, func(ctx context.Context) (*p4ctlv1.DeleteResponse, error) { return s.delete(ctx, req) },
		func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.DeleteResponse, error) {
			return c.Delete(ctx, req)
		})
	var what []string
	for _, o := range req.GetObjects() {
		what = append(what, o.GetKind()+" "+o.GetName())
	}
	s.audit(ctx, "delete", strings.Join(what, ", "), resp.GetIndex(), err)
	return resp, err
}

func (s *Server) delete(ctx context.Context, req *p4ctlv1.DeleteRequest) (*p4ctlv1.DeleteResponse, error) {
	var dels []policy.Deletion
	for _, o := range req.GetObjects() {
		dels = append(dels, policy.Deletion{Kind: o.GetKind(), Name: o.GetName()})
	}
	if len(dels) == 0 {
		return nil, status.Error(codes.InvalidArgument, "nothing to delete")
	}
	res, err := s.ctl.Delete(ctx, dels)
	if err != nil {
		return nil, toStatus(err)
	}
	return &p4ctlv1.DeleteResponse{Index: res.Index, Objects: int32(res.Objects)}, nil
}

var kinds = []string{policy.KindDevice, policy.KindSegment, policy.KindPort, policy.KindEndpoint, policy.KindPolicy}

// KindOf accepts a kind in any case, singular or plural ("endpoints").
func KindOf(s string) (string, error) {
	for _, k := range kinds {
		if strings.EqualFold(s, k) || strings.EqualFold(s, k+"s") || strings.EqualFold(s, strings.TrimSuffix(k, "y")+"ies") {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown kind %q (devices, segments, ports, endpoints, policies)", s)
}

func (s *Server) Get(_ context.Context, req *p4ctlv1.GetRequest) (*p4ctlv1.GetResponse, error) {
	kind := ""
	if req.GetKind() != "" {
		k, err := KindOf(req.GetKind())
		if err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		kind = k
	}
	m, index := s.node.Model()
	var out []policy.Object
	found := map[string]bool{}
	for _, o := range m.Objects() {
		if kind != "" && o.Kind() != kind {
			continue
		}
		name := strings.TrimPrefix(o.Ref(), o.Kind()+" ")
		if len(req.GetNames()) > 0 && !slices.Contains(req.GetNames(), name) {
			continue
		}
		found[name] = true
		out = append(out, o)
	}
	for _, n := range req.GetNames() {
		if !found[n] {
			return nil, status.Errorf(codes.NotFound, "%s %q not found", kind, n)
		}
	}
	return &p4ctlv1.GetResponse{Docs: policy.Marshal(out), Index: index}, nil
}

func (s *Server) Devices(ctx context.Context, req *p4ctlv1.DevicesRequest) (*p4ctlv1.DevicesResponse, error) {
	if req.GetFromLeader() && !req.GetLocal() {
		return s.clusterDevices(ctx)
	}
	return &p4ctlv1.DevicesResponse{Node: s.node.ID(), Devices: DeviceStatuses(s.ctl.Devices())}, nil
}

// Counters answers with the policy hit counters of every device (each
// from its master), or with local those this node has read, reading the
// devices first when asked to.
func (s *Server) Counters(ctx context.Context, req *p4ctlv1.CountersRequest) (*p4ctlv1.CountersResponse, error) {
	if p := req.GetPolicy(); p != "" {
		if _, ok := s.ctl.Model().Policies[p]; !ok {
			return nil, status.Errorf(codes.NotFound, "policy %s: not in the model", p)
		}
	}
	if !req.GetLocal() {
		return s.clusterCounters(ctx, req)
	}
	ds, err := s.ctl.Counters(ctx, req.GetDevice(), req.GetRefresh())
	if errors.Is(err, controller.ErrNoDevice) {
		return nil, status.Error(codes.NotFound, err.Error())
	}
	if err != nil {
		return nil, status.Error(codes.Unavailable, err.Error())
	}
	out := &p4ctlv1.CountersResponse{Node: s.node.ID()}
	ms := func(t time.Time) int64 {
		if t.IsZero() {
			return 0
		}
		return t.UnixMilli()
	}
	for _, d := range ds {
		dc := &p4ctlv1.DeviceCounters{Device: d.Device, ReadAtUnixMs: ms(d.ReadAt), TookMs: d.Took.Milliseconds(), Entries: int64(d.Entries),
			Unknown: int64(d.Unknown), Resets: d.Resets, LastResetUnixMs: ms(d.LastReset), ResetEntries: int64(d.ResetEntries), Error: d.Error}
		for _, p := range d.Policies {
			if req.GetPolicy() != "" && p.Policy != req.GetPolicy() {
				continue
			}
			pc := &p4ctlv1.PolicyCounters{Policy: p.Policy, Packets: p.Packets, Bytes: p.Bytes}
			for _, r := range p.Rules {
				pc.Rules = append(pc.Rules, &p4ctlv1.RuleCounters{Rule: int32(r.Rule), Packets: r.Packets, Bytes: r.Bytes})
			}
			dc.Policies = append(dc.Policies, pc)
		}
		out.Devices = append(out.Devices, dc)
	}
	return out, nil
}

// DeviceStatuses converts the controller's device status to the API's.
func DeviceStatuses(ds []controller.DeviceStatus) []*p4ctlv1.DeviceStatus {
	var out []*p4ctlv1.DeviceStatus
	for _, d := range ds {
		p := &p4ctlv1.DeviceStatus{Name: d.Name, Address: d.Address, Master: d.Master, MasterEpoch: d.MasterEpoch, Connected: d.Connected, Primary: d.Primary, InSync: d.InSync,
			PipelineCookie: d.PipelineCookie, LastError: d.LastError, Entries: map[string]int64{},
			ModelIndex: d.ModelIndex, WriteDone: int64(d.WriteDone), WriteTotal: int64(d.WriteTotal), Queued: d.Queued,
			PipelinePush: d.PipelinePush, PushGapMs: d.PushGap.Milliseconds(), DenialLog: d.DenialLog, FlowLog: d.FlowLog}
		for t, n := range d.Entries {
			p.Entries[t] = int64(n)
		}
		out = append(out, p)
	}
	return out
}

// ParseProto reads a protocol name or number.
func ParseProto(s string) (int, error) {
	switch strings.ToLower(s) {
	case "tcp":
		return policy.ProtoTCP, nil
	case "udp":
		return policy.ProtoUDP, nil
	case "icmp":
		return policy.ProtoICMP, nil
	case "icmpv6":
		return policy.ProtoICMPv6, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("want tcp, udp, icmp, icmpv6 or a number 0-255, got %q", s)
	}
	return int(n), nil
}

func (s *Server) Trace(_ context.Context, req *p4ctlv1.TraceRequest) (*p4ctlv1.TraceResponse, error) {
	var p policy.Packet
	var err error
	bad := func(err error) error { return status.Error(codes.InvalidArgument, err.Error()) }
	p.InPort = req.GetInPort()
	if p.Src, err = netip.ParseAddr(req.GetSrc()); err != nil {
		return nil, bad(fmt.Errorf("src: %w", err))
	}
	if p.Dst, err = netip.ParseAddr(req.GetDst()); err != nil {
		return nil, bad(fmt.Errorf("dst: %w", err))
	}
	p.Src, p.Dst = p.Src.Unmap(), p.Dst.Unmap()
	if p.Proto, err = ParseProto(req.GetProto()); err != nil {
		return nil, bad(fmt.Errorf("proto: %w", err))
	}
	if req.GetSport() > 65535 || req.GetDport() > 65535 || req.GetTcpFlags() > 255 {
		return nil, bad(errors.New("ports are 0-65535 and TCP flags 0-255"))
	}
	p.SPort, p.DPort, p.TCPFlags = uint16(req.GetSport()), uint16(req.GetDport()), uint8(req.GetTcpFlags())
	for _, m := range []struct {
		s   string
		out *net.HardwareAddr
	}{{req.GetSrcMac(), &p.SrcMAC}, {req.GetDstMac(), &p.DstMAC}} {
		if m.s == "" {
			continue
		}
		if *m.out, err = net.ParseMAC(m.s); err != nil || len(*m.out) != 6 {
			return nil, bad(fmt.Errorf("MAC %q", m.s))
		}
	}
	res, err := s.ctl.Trace(req.GetDevice(), p)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	out := &p4ctlv1.TraceResponse{Verdict: res.Verdict, Reason: res.Reason, Policy: res.Policy, Ports: res.Ports}
	for _, h := range res.Entries {
		out.Entries = append(out.Entries, &p4ctlv1.TraceHit{Table: h.Table, Entry: h.Entry, From: h.From})
	}
	return out, nil
}

func (s *Server) ClusterStatus(context.Context, *p4ctlv1.ClusterStatusRequest) (*p4ctlv1.ClusterStatusResponse, error) {
	st := s.node.Status()
	resp := &p4ctlv1.ClusterStatusResponse{Node: st.ID, State: st.State, Term: st.Term, LastIndex: st.LastIndex, AppliedIndex: st.AppliedIndex, Leader: st.LeaderID}
	per := s.node.Assignments().PerMember()
	for _, m := range st.Members {
		resp.Members = append(resp.Members, &p4ctlv1.Member{Id: m.ID, RaftAddr: m.Addr, ApiAddr: s.node.APIAddr(m.ID), Suffrage: m.Suffrage, Leader: m.Leader,
			Devices: int64(per[m.ID]), Down: s.ctl.MemberDown(m.ID)})
	}
	return resp, nil
}

func (s *Server) Join(ctx context.Context, req *p4ctlv1.JoinRequest) (*p4ctlv1.JoinResponse, error) {
	ctx = s.withClient(ctx)
	resp, err := onLeader(ctx, s, func(ctx context.Context) (*p4ctlv1.JoinResponse, error) { return s.join(ctx, req) },
		func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.JoinResponse, error) {
			return c.Join(ctx, req)
		})
	s.audit(ctx, "join", fmt.Sprintf("%s raft %s api %s", req.GetId(), req.GetRaftAddr(), req.GetApiAddr()), 0, err)
	return resp, err
}

func (s *Server) join(ctx context.Context, req *p4ctlv1.JoinRequest) (*p4ctlv1.JoinResponse, error) {
	if req.GetId() == "" || req.GetRaftAddr() == "" {
		return nil, status.Error(codes.InvalidArgument, "join needs an id and a raft address")
	}
	if err := s.node.Join(ctx, req.GetId(), req.GetRaftAddr()); err != nil {
		if errors.Is(err, cluster.ErrMembership) {
			return nil, status.Error(codes.AlreadyExists, err.Error())
		}
		return nil, toStatus(err)
	}
	if req.GetApiAddr() != "" {
		if err := s.node.SetAPIAddr(ctx, req.GetId(), req.GetApiAddr()); err != nil {
			return nil, toStatus(err)
		}
	}
	return &p4ctlv1.JoinResponse{}, nil
}

func (s *Server) Leave(ctx context.Context, req *p4ctlv1.LeaveRequest) (*p4ctlv1.LeaveResponse, error) {
	ctx = s.withClient(ctx)
	resp, err := onLeader(ctx, s, func(ctx context.Context) (*p4ctlv1.LeaveResponse, error) { return s.leave(ctx, req) },
		func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.LeaveResponse, error) {
			return c.Leave(ctx, req)
		})
	s.audit(ctx, "leave", req.GetId(), 0, err)
	return resp, err
}

func (s *Server) leave(ctx context.Context, req *p4ctlv1.LeaveRequest) (*p4ctlv1.LeaveResponse, error) {
	if err := s.node.Leave(ctx, req.GetId()); err != nil {
		return nil, toStatus(err)
	}
	if err := s.node.SetAPIAddr(ctx, req.GetId(), ""); err != nil {
		// The member is gone; only its API address stays recorded (when
		// the leader itself left, it can no longer write). Forwarding
		// dials the current leader's address, so the stale one is never
		// used: say so and succeed.
		s.log.Warn("member left; its API address is still recorded", "member", req.GetId(), "err", err)
	}
	return &p4ctlv1.LeaveResponse{}, nil
}

// Watch sends the index of the model the node holds now, then every
// change: a client that has the first event is subscribed. Changes are
// the model's, the node's leadership, a device's status (as this node
// knows it: its own sessions, every device's master) and the topology's
// links and hosts; with cluster, every other member's device and topology
// events too (watch.go).
func (s *Server) Watch(req *p4ctlv1.WatchRequest, stream p4ctlv1.Controller_WatchServer) error {
	events, cancel := s.ctl.Subscribe()
	defer cancel()
	var relayed <-chan *p4ctlv1.Event
	if req.GetCluster() {
		ctx, stopRelay := context.WithCancel(stream.Context())
		defer stopRelay()
		relayed = s.relayMembers(ctx)
	}
	if err := stream.Send(&p4ctlv1.Event{Event: &p4ctlv1.Event_ModelIndex{ModelIndex: s.ctl.ModelIndex()}}); err != nil {
		return err
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev := <-relayed:
			if err := stream.Send(ev); err != nil {
				return err
			}
		case e := <-events:
			ev := &p4ctlv1.Event{}
			switch {
			case e.Leader != nil:
				ev.Event = &p4ctlv1.Event_Leader{Leader: *e.Leader}
			case e.Device != "":
				ev.Event = &p4ctlv1.Event_Device{Device: e.Device}
			case e.Topology:
				ev.Event = &p4ctlv1.Event_Topology{Topology: true}
			default:
				ev.Event = &p4ctlv1.Event_ModelIndex{ModelIndex: e.ModelIndex}
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

// Topology reports what this node (or, when asked, the leader) knows of
// the network.
func (s *Server) Topology(ctx context.Context, req *p4ctlv1.TopologyRequest) (*p4ctlv1.TopologyResponse, error) {
	if req.GetFromLeader() && !s.node.IsLeader() {
		return forward(s, func(c p4ctlv1.ControllerClient) (*p4ctlv1.TopologyResponse, error) { return c.Topology(ctx, req) })
	}
	ports, links, hosts := s.ctl.Topology().Snapshot()
	resp := &p4ctlv1.TopologyResponse{Node: s.node.ID()}
	neighbor := map[topo.End][]string{}
	for _, l := range links {
		resp.Links = append(resp.Links, &p4ctlv1.Link{ADevice: l.From.Device, APort: l.From.Port, BDevice: l.To.Device, BPort: l.To.Port,
			Source: l.Source, LastSeenUnixMs: l.LastSeen.UnixMilli()})
		neighbor[l.From] = append(neighbor[l.From], l.To.String())
	}
	for _, h := range hosts {
		resp.Hosts = append(resp.Hosts, &p4ctlv1.HostAttachment{Host: h.Name, Device: h.At.Device, Port: h.At.Port, Interface: h.Interface,
			ChassisId: h.ChassisID, PortId: h.PortID, Source: h.Source, LastSeenUnixMs: h.LastSeen.UnixMilli()})
		name := h.Name
		if name == "" {
			name = h.ChassisID
		}
		neighbor[h.At] = append(neighbor[h.At], name)
	}
	for _, p := range ports {
		c := p.Counters
		resp.Ports = append(resp.Ports, &p4ctlv1.PortStatus{Device: p.Device, Interface: p.Interface, Port: p.ID, OperStatus: p.Oper,
			InOctets: c.InOctets, OutOctets: c.OutOctets, InPkts: c.InPkts, OutPkts: c.OutPkts, InErrors: c.InErrors, OutErrors: c.OutErrors,
			InDiscards: c.InDiscards, OutDiscards: c.OutDiscards, Neighbor: strings.Join(neighbor[topo.End{Device: p.Device, Port: p.ID}], ","),
			LastChangeUnixMs: p.LastChange.UnixMilli()})
	}
	for _, pl := range s.ctl.Placements() {
		resp.Placements = append(resp.Placements, &p4ctlv1.Placement{Endpoint: pl.Endpoint, Host: pl.Host, Device: pl.Device, Port: pl.Port, Reason: pl.Reason})
	}
	return resp, nil
}

func (s *Server) History(context.Context, *p4ctlv1.HistoryRequest) (*p4ctlv1.HistoryResponse, error) {
	resp := &p4ctlv1.HistoryResponse{}
	for _, r := range s.node.History() {
		resp.Revisions = append(resp.Revisions, &p4ctlv1.Revision{Index: r.Index, TimeUnixNano: r.Time.UnixNano(), Client: r.Client,
			Summary: r.Summary, Added: r.Added, Changed: r.Changed, Removed: r.Removed})
	}
	return resp, nil
}

// Diff says what applying the request's files would change, committing
// nothing. With prune the objects the files do not name are listed as
// removed, and the entries per device are not worked out.
func (s *Server) Diff(_ context.Context, req *p4ctlv1.DiffRequest) (*p4ctlv1.DiffResponse, error) {
	srcs := sources(req.GetFile(), req.GetDocs(), req.GetFiles())
	rev := s.node.Revision()
	if req.GetPrune() {
		objs, err := cluster.ParseSources(srcs)
		if err != nil {
			return nil, toStatus(err)
		}
		if len(objs) == 0 {
			return nil, toStatus(policy.Errors{&policy.Error{Src: policy.Source{File: srcs[0].File}, Msg: "no documents"}})
		}
		cur, _ := s.node.Model()
		next, warnings, err := cur.With(objs, cluster.Pruned(cur, objs))
		if err != nil {
			return nil, toStatus(err)
		}
		return &p4ctlv1.DiffResponse{Objects: ObjectChanges(policy.Changes(cur, next)), Warnings: warnings, DevicesUnknown: true, Revision: rev}, nil
	}
	d, err := s.ctl.Diff(srcs)
	if err != nil {
		return nil, toStatus(err)
	}
	resp := &p4ctlv1.DiffResponse{Warnings: d.Warnings, Objects: ObjectChanges(d.Changes), Revision: rev}
	for _, name := range slices.Sorted(maps.Keys(d.Delta.Devices)) {
		dd := d.Delta.Devices[name]
		resp.Devices = append(resp.Devices, &p4ctlv1.DeviceChange{Device: name, Insert: int32(len(dd.Insert)), Modify: int32(len(dd.Modify)),
			Delete: int32(len(dd.Delete)), Groups: int32(len(dd.GroupInsert) + len(dd.GroupModify) + len(dd.GroupDelete))})
	}
	return resp, nil
}

// ObjectChanges are changes as the API reports them: each object's ref,
// whether it is added, changed or removed, and its documents before and
// after.
func ObjectChanges(cs []policy.Change) []*p4ctlv1.ObjectChange {
	var out []*p4ctlv1.ObjectChange
	for _, c := range cs {
		oc := &p4ctlv1.ObjectChange{Ref: c.Ref, Change: "changed"}
		switch {
		case c.Before == nil:
			oc.Change = "added"
		case c.After == nil:
			oc.Change = "removed"
		}
		if c.Before != nil {
			oc.Before = string(policy.Marshal([]policy.Object{c.Before}))
		}
		if c.After != nil {
			oc.After = string(policy.Marshal([]policy.Object{c.After}))
		}
		out = append(out, oc)
	}
	return out
}

// Rollback brings the model back to a revision, or with dry_run says what
// that would change (validated against the current model, not committed,
// and not checked against the devices' capacity).
func (s *Server) Rollback(ctx context.Context, req *p4ctlv1.RollbackRequest) (*p4ctlv1.ApplyResponse, error) {
	ctx = s.withClient(ctx)
	resp, err := onLeader(ctx, s, func(ctx context.Context) (*p4ctlv1.ApplyResponse, error) {
		if req.GetDryRun() {
			p, err := s.node.PrepareRollback(ctx, req.GetRevision())
			if err != nil {
				return nil, toStatus(err)
			}
			cs := p.Changes()
			return &p4ctlv1.ApplyResponse{Index: p.Base(), Objects: int32(len(cs)), Warnings: p.Warnings(), Changes: ObjectChanges(cs)}, nil
		}
		res, err := s.ctl.Rollback(ctx, req.GetRevision())
		if err != nil {
			return nil, toStatus(err)
		}
		return &p4ctlv1.ApplyResponse{Index: res.Index, Objects: int32(res.Objects), Warnings: res.Warnings}, nil
	}, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.ApplyResponse, error) {
		return c.Rollback(ctx, req)
	})
	if !req.GetDryRun() {
		s.audit(ctx, "rollback", fmt.Sprintf("to revision %d", req.GetRevision()), resp.GetIndex(), err)
	}
	return resp, err
}
