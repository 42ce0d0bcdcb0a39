package apiserver

import (
	"errors"
	"io"
	"time"

	"google.golang.org/grpc"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/controller"
)

// Denials streams the denied-flow log. Only the leader, primary of every
// device, receives the switches' reports, so a follower relays the
// leader's stream.
func (s *Server) Denials(req *p4ctlv1.DenialsRequest, stream grpc.ServerStreamingServer[p4ctlv1.DenialRecord]) error {
	ctx := stream.Context()
	if !s.node.IsLeader() {
		c, err := s.leaderClient()
		if err != nil {
			return err
		}
		up, err := c.Denials(ctx, req)
		if err != nil {
			return err
		}
		for {
			r, err := up.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := stream.Send(r); err != nil {
				return err
			}
		}
	}
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
		if err := stream.Send(DenialRecord(d)); err != nil {
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
			if err := stream.Send(DenialRecord(d)); err != nil {
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
