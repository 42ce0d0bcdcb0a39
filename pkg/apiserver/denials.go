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
	// Follow first, so that nothing between the snapshot and the stream
	// is missed (a record may come twice, the newer last).
	var follow <-chan controller.Denial
	if req.GetFollow() {
		ch, cancel := s.ctl.FollowDenials()
		defer cancel()
		follow = ch
	}
	for _, d := range s.ctl.Denials(req.GetDevice(), since) {
		if err := send(DenialRecord(d)); err != nil {
			return err
		}
	}
	if follow == nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case d := <-follow:
			if req.GetDevice() != "" && d.Device != req.GetDevice() {
				continue
			}
			if err := send(DenialRecord(d)); err != nil {
				return err
			}
		}
	}
}

// DenialRecord converts a controller denial record to the API's.
func DenialRecord(d controller.Denial) *p4ctlv1.DenialRecord {
	return &p4ctlv1.DenialRecord{Device: d.Device, Segment: d.Segment, InPort: d.InPort, Src: d.Src.String(), Dst: d.Dst.String(),
		Proto: int32(d.Proto), Sport: uint32(d.SPort), Dport: uint32(d.DPort), TcpFlags: uint32(d.TCPFlags),
		SrcIdentity: uint32(d.SrcID), DstIdentity: uint32(d.DstID), SrcEndpoint: d.SrcName, DstEndpoint: d.DstName,
		DeniedBy: d.DeniedBy, Rank: uint32(d.Rank), Policy: d.Policy, Trace: d.Trace, TraceDisagrees: d.Dissented,
		FirstUnixMs: d.First.UnixMilli(), LastUnixMs: d.Last.UnixMilli(), Count: d.Count}
}
