package apiserver

import (
	"context"
	"maps"
	"net/netip"
	"slices"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// Flows streams the flow log. The switches report flows to their master,
// so without local the answering node merges every member's stream
// (clusterFlows); with it, this node's own. Bad filters are refused
// before anything is asked.
func (s *Server) Flows(req *p4ctlv1.FlowsRequest, stream grpc.ServerStreamingServer[p4ctlv1.FlowRecord]) error {
	f, err := FlowFilterOf(req, time.Now())
	if err != nil {
		return err
	}
	ctx := stream.Context()
	if !req.GetLocal() {
		return s.clusterFlows(ctx, req, stream.Send)
	}
	return s.localFlows(ctx, req, f, stream.Send)
}

// FlowFilterOf checks a request's filters: selectors that parse, a
// verdict of allow or deny, a since that is not in the future.
func FlowFilterOf(req *p4ctlv1.FlowsRequest, now time.Time) (controller.FlowFilter, error) {
	f := controller.FlowFilter{Device: req.GetDevice(), Segment: req.GetSegment(), Verdict: req.GetVerdict(), Policy: req.GetPolicy(),
		NoReplies: !req.GetReplies(), StagedOnly: req.GetStagedOnly()}
	if ms := req.GetSinceUnixMs(); ms > 0 {
		f.Since = time.UnixMilli(ms)
		if f.Since.After(now.Add(time.Minute)) { // a minute for clocks apart
			return f, status.Errorf(codes.InvalidArgument, "since %s is in the future", f.Since.UTC().Format(time.RFC3339))
		}
	}
	switch f.Verdict {
	case "", policy.VerdictAllow, policy.VerdictDeny:
	default:
		return f, status.Errorf(codes.InvalidArgument, "verdict %q: want allow or deny", f.Verdict)
	}
	var err error
	if req.GetFromSet() || req.GetFrom() != "" {
		f.HasFrom = true
		if f.From, err = policy.ParseSelector(req.GetFrom()); err != nil {
			return f, status.Errorf(codes.InvalidArgument, "from selector %q: %v", req.GetFrom(), err)
		}
	}
	if req.GetToSet() || req.GetTo() != "" {
		f.HasTo = true
		if f.To, err = policy.ParseSelector(req.GetTo()); err != nil {
			return f, status.Errorf(codes.InvalidArgument, "to selector %q: %v", req.GetTo(), err)
		}
	}
	return f, nil
}

// localFlows sends this node's own records, then with follow what it
// hears until ctx ends.
func (s *Server) localFlows(ctx context.Context, req *p4ctlv1.FlowsRequest, f controller.FlowFilter, send func(*p4ctlv1.FlowRecord) error) error {
	var follow func() (<-chan controller.FlowRecord, func())
	if req.GetFollow() {
		follow = s.ctl.FollowFlows
	}
	return streamLocal(ctx, follow, func() []controller.FlowRecord { return s.ctl.Flows(f) },
		func(r *controller.FlowRecord) bool { return s.ctl.MatchFlow(f, r) }, FlowRecordOf, send)
}

// FlowRecordOf converts a controller flow record to the API's.
func FlowRecordOf(r controller.FlowRecord) *p4ctlv1.FlowRecord {
	return &p4ctlv1.FlowRecord{Device: r.Device, Segment: r.Segment, InPort: r.InPort, Src: r.Src.String(), Dst: r.Dst.String(),
		Proto: int32(r.Proto), Sport: uint32(r.SPort), Dport: uint32(r.DPort), SrcIdentity: uint32(r.SrcID), DstIdentity: uint32(r.DstID),
		SrcEndpoint: r.SrcName, DstEndpoint: r.DstName, Verdict: r.Verdict, DecidedBy: r.DecidedBy, Rank: uint32(r.Rank), Policy: r.Policy,
		Reply: r.Reply, ModelDisagrees: r.Disagrees, StagedVerdict: r.StagedVerdict, StagedPolicy: r.StagedPolicy, StagedDecides: r.StagedByStage,
		FirstUnixMs: r.First.UnixMilli(), LastUnixMs: r.Last.UnixMilli(), Count: r.Count}
}

// clusterFlows merges every master's flow stream into send: first what
// each holds, then, with follow, what each hears until ctx ends. A member
// that cannot be reached is skipped (its devices' flows are missing) and
// logged.
func (s *Server) clusterFlows(ctx context.Context, req *p4ctlv1.FlowsRequest, send func(*p4ctlv1.FlowRecord) error) error {
	local := proto.Clone(req).(*p4ctlv1.FlowsRequest)
	local.Local = true
	f, err := FlowFilterOf(req, time.Now())
	if err != nil {
		return err
	}
	serve := func(ctx context.Context, req *p4ctlv1.FlowsRequest, send func(*p4ctlv1.FlowRecord) error) error {
		return s.localFlows(ctx, req, f, send)
	}
	return clusterStream(ctx, s, "flows", local, serve, p4ctlv1.ControllerClient.Flows, send)
}

// allFlows collects the cluster's records req selects (no follow).
func (s *Server) allFlows(ctx context.Context, req *p4ctlv1.FlowsRequest) ([]*p4ctlv1.FlowRecord, error) {
	var out []*p4ctlv1.FlowRecord
	err := s.clusterFlows(ctx, req, func(r *p4ctlv1.FlowRecord) error {
		out = append(out, r)
		return nil
	})
	return out, err
}

// ObservedFlows converts API flow records for policy.Impact and
// policy.Suggest.
func ObservedFlows(rs []*p4ctlv1.FlowRecord) []policy.ObservedFlow {
	out := make([]policy.ObservedFlow, 0, len(rs))
	for _, r := range rs {
		src, err1 := netip.ParseAddr(r.GetSrc())
		dst, err2 := netip.ParseAddr(r.GetDst())
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, policy.ObservedFlow{
			Flow:    policy.Flow{Segment: r.GetSegment(), Src: src, Dst: dst, Proto: int(r.GetProto()), SPort: uint16(r.GetSport()), DPort: uint16(r.GetDport())},
			SrcName: r.GetSrcEndpoint(), DstName: r.GetDstEndpoint(), Count: r.GetCount(), Last: time.UnixMilli(r.GetLastUnixMs()), Verdict: r.GetVerdict()})
	}
	return out
}

// FlowImpact judges the observed flows on the model and on the model
// with the files applied, and answers the groups whose verdict changes.
func (s *Server) FlowImpact(ctx context.Context, req *p4ctlv1.FlowImpactRequest) (*p4ctlv1.FlowImpactResponse, error) {
	if ms := req.GetSinceUnixMs(); ms > 0 && time.UnixMilli(ms).After(time.Now().Add(time.Minute)) {
		return nil, status.Errorf(codes.InvalidArgument, "since %s is in the future", time.UnixMilli(ms).UTC().Format(time.RFC3339))
	}
	srcs := sources("", nil, req.GetFiles())
	objs, err := cluster.ParseSources(srcs)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(objs) == 0 {
		return nil, status.Error(codes.InvalidArgument, "no documents")
	}
	rev := s.node.Revision()
	cur, _ := s.node.Model()
	var dels []policy.Deletion
	if req.GetPrune() {
		dels = cluster.Pruned(cur, objs)
	}
	next, _, err := cur.With(objs, dels)
	if err != nil {
		return nil, toStatus(err)
	}
	recs, err := s.allFlows(ctx, &p4ctlv1.FlowsRequest{SinceUnixMs: req.GetSinceUnixMs(), Replies: true})
	if err != nil {
		return nil, err
	}
	flows := ObservedFlows(recs)
	resp := &p4ctlv1.FlowImpactResponse{Flows: int64(len(flows)), Revision: rev}
	for _, g := range policy.Impact(cur, next, flows) {
		resp.Changes = append(resp.Changes, &p4ctlv1.FlowChange{Segment: g.Segment, From: g.From, To: g.To, Proto: int32(g.Proto), Dport: uint32(g.DPort),
			Before: g.Before.Verdict, After: g.After.Verdict, BeforePolicy: g.Before.Policy, AfterPolicy: g.After.Policy,
			Flows: int64(g.Flows), Reports: g.Reports, LastUnixMs: g.Last.UnixMilli(), Examples: g.Examples})
		switch {
		case g.After.Verdict == policy.VerdictDeny:
			resp.NewlyDenied += int64(g.Flows)
		case g.After.Verdict == policy.VerdictAllow:
			resp.NewlyAllowed += int64(g.Flows)
		}
	}
	return resp, nil
}

// StagedHits counts, per staged policy, the cluster's observed flows it
// would decide.
func (s *Server) StagedHits(ctx context.Context, _ *p4ctlv1.StagedHitsRequest) (*p4ctlv1.StagedHitsResponse, error) {
	recs, err := s.allFlows(ctx, &p4ctlv1.FlowsRequest{})
	if err != nil {
		return nil, err
	}
	by := map[string]*p4ctlv1.StagedPolicyHits{}
	for _, r := range recs {
		if !r.GetStagedDecides() {
			continue
		}
		h := by[r.GetStagedPolicy()]
		if h == nil {
			h = &p4ctlv1.StagedPolicyHits{Policy: r.GetStagedPolicy()}
			by[h.Policy] = h
		}
		h.Flows++
		h.Reports += r.GetCount()
		if r.GetStagedVerdict() != r.GetVerdict() {
			h.Changed++
		}
	}
	resp := &p4ctlv1.StagedHitsResponse{}
	// Staged policies that decide nothing observed are listed too.
	m, _ := s.node.Model()
	for name, p := range m.Policies {
		if p.Staged && by[name] == nil {
			by[name] = &p4ctlv1.StagedPolicyHits{Policy: name}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(by)) {
		resp.Policies = append(resp.Policies, by[name])
	}
	return resp, nil
}
