package apiserver

import (
	"context"
	"time"

	"google.golang.org/grpc"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/controller"
)

// Denials streams the denied-flow log. The switches report denials to
// their master, so without local the answering node merges every
// member's stream (clusterDenials); with it, this node's own.
func (s *Server) Denials(req *p4ctlv1.DenialsRequest, stream grpc.ServerStreamingServer[p4ctlv1.DenialRecord]) error {
	ctx := stream.Context()
	if !req.GetLocal() {
		return s.clusterDenials(ctx, req, stream.Send)
	}
	return s.localDenials(ctx, req, stream.Send)
}

// localDenials sends this node's own records, then with follow what it
// hears until ctx ends.
func (s *Server) localDenials(ctx context.Context, req *p4ctlv1.DenialsRequest, send func(*p4ctlv1.DenialRecord) error) error {
	since := time.Time{}
	if ms := req.GetSinceUnixMs(); ms > 0 {
		since = time.UnixMilli(ms)
	}
	var follow func() (<-chan controller.Denial, func())
	if req.GetFollow() {
		follow = s.ctl.FollowDenials
	}
	return streamLocal(ctx, follow, func() []controller.Denial { return s.ctl.Denials(req.GetDevice(), since) },
		func(d *controller.Denial) bool { return req.GetDevice() == "" || d.Device == req.GetDevice() }, DenialRecord, send)
}

// clusterDenials merges every master's denial stream into send: first
// what each holds, then, with follow, what each hears until ctx ends. A
// member that cannot be reached is skipped (its devices' denials are
// missing) and logged.
func (s *Server) clusterDenials(ctx context.Context, req *p4ctlv1.DenialsRequest, send func(*p4ctlv1.DenialRecord) error) error {
	local := &p4ctlv1.DenialsRequest{Device: req.GetDevice(), SinceUnixMs: req.GetSinceUnixMs(), Follow: req.GetFollow(), Local: true}
	return clusterStream(ctx, s, "denials", local, s.localDenials, p4ctlv1.ControllerClient.Denials, send)
}

// DenialRecord converts a controller denial record to the API's.
func DenialRecord(d controller.Denial) *p4ctlv1.DenialRecord {
	return &p4ctlv1.DenialRecord{Device: d.Device, Segment: d.Segment, InPort: d.InPort, Src: d.Src.String(), Dst: d.Dst.String(),
		Proto: int32(d.Proto), Sport: uint32(d.SPort), Dport: uint32(d.DPort), TcpFlags: uint32(d.TCPFlags),
		SrcIdentity: uint32(d.SrcID), DstIdentity: uint32(d.DstID), SrcEndpoint: d.SrcName, DstEndpoint: d.DstName,
		DeniedBy: d.DeniedBy, Rank: uint32(d.Rank), Policy: d.Policy, Trace: d.Trace, TraceDisagrees: d.Dissented,
		FirstUnixMs: d.First.UnixMilli(), LastUnixMs: d.Last.UnixMilli(), Count: d.Count}
}
