package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/cluster"
)

// Calls that need the leader (apply, delete, join, leave) ride out an
// election: while no leader is known, the leader has not published its
// API address yet, it cannot be reached, or it lost its leadership during
// the call, the call is tried again with backoff until its deadline, and
// then fails saying an election was in progress. A retried apply is
// harmless (applying the same documents twice commits the same model); a
// delete or leave whose first try did commit fails its retry naming what
// is no longer there.

// electionBackoff bounds the wait between tries.
var electionBackoff = struct{ first, max time.Duration }{50 * time.Millisecond, time.Second}

// onLeader runs local on the leader, or remote against the leader's API,
// until one answers with something other than "no leader". It gives up a
// little before the call's deadline, so that its answer, rather than the
// client's own deadline, reaches the client.
func onLeader[T any](ctx context.Context, s *Server, local func(context.Context) (T, error), remote func(context.Context, p4ctlv1.ControllerClient) (T, error)) (T, error) {
	if d, ok := ctx.Deadline(); ok {
		margin := min(250*time.Millisecond, time.Until(d)/10)
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, d.Add(-margin))
		defer cancel()
	}
	start := time.Now()
	wait := electionBackoff.first
	for {
		var res T
		var err error
		if s.node.IsLeader() {
			res, err = local(ctx)
		} else {
			res, err = forward(s, func(c p4ctlv1.ControllerClient) (T, error) { return remote(ctx, c) })
		}
		code := status.Code(err)
		if code == codes.DeadlineExceeded && ctx.Err() != nil && !s.node.IsLeader() {
			// The try took the rest of the time: the leader went away
			// while it was under way.
			code = codes.Unavailable
		}
		if err == nil || code != codes.Unavailable {
			return res, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			var zero T
			return zero, status.Errorf(codes.Unavailable, "no leader within the call's deadline: an election was in progress for %s (last: %s)",
				time.Since(start).Round(time.Millisecond), status.Convert(err).Message())
		case <-t.C:
		}
		wait = min(2*wait, electionBackoff.max)
	}
}

// Header keys of a read served by a follower: how stale its answer may
// be.
const (
	HeaderServedBy    = "p4ctl-served-by"      // "leader" or "follower"
	HeaderLastContact = "p4ctl-leader-contact" // ms since the follower last heard from the leader
	HeaderApplied     = "p4ctl-applied-index"  // the raft index the answer reflects
)

// staleness is a unary interceptor that tells, in the response headers of
// every call, whether a leader or a follower answered it, the raft index
// the node has applied, and on a follower how long ago it last heard from
// the leader: the bound on how stale a follower's read is.
func (s *Server) staleness(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	md := metadata.Pairs(HeaderApplied, strconv.FormatUint(s.node.Status().AppliedIndex, 10))
	if s.node.IsLeader() {
		md.Append(HeaderServedBy, "leader")
	} else {
		md.Append(HeaderServedBy, "follower")
		if last := s.node.LastContact(); !last.IsZero() {
			md.Append(HeaderLastContact, strconv.FormatInt(time.Since(last).Milliseconds(), 10))
		} else {
			md.Append(HeaderLastContact, "never")
		}
	}
	if err := grpc.SetHeader(ctx, md); err != nil && !errors.Is(err, context.Canceled) {
		return nil, fmt.Errorf("apiserver: set headers: %w", err)
	}
	return h(ctx, req)
}

// HeaderClient carries, on a call a member forwards to the leader, the
// identity of the client that sent it to the member.
const HeaderClient = "p4ctl-client"

// clientOf is who sent the call, as recorded in history: for a call a
// member forwarded (a peer whose certificate the cluster CA verified and
// the member patterns name), the client the member authenticated; else
// the caller's own verified certificate; else "unauthenticated" and its
// address. What a caller says of itself in the header is believed from
// members only.
func (s *Server) clientOf(ctx context.Context) string {
	id, ok := access.FromContext(ctx)
	if !ok {
		// Not through the interceptors (an in-process caller).
		var remote net.Addr
		if p, ok := peer.FromContext(ctx); ok {
			remote = p.Addr
		}
		id, _ = s.auth.Authenticate("api", remote, nil)
	}
	if id.Role == access.RoleMember {
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get(HeaderClient); len(v) == 1 && v[0] != "" {
				return v[0]
			}
		}
	}
	return id.Name
}

// withClient is ctx carrying the call's client for the change it makes
// (cluster.WithClient), and, for a forwarded call, in its metadata.
func (s *Server) withClient(ctx context.Context) context.Context {
	c := s.clientOf(ctx)
	return metadata.AppendToOutgoingContext(cluster.WithClient(ctx, c), HeaderClient, c)
}

// audit logs a change or membership call as this node finished it: who
// asked, what, the revision it made, and the result.
func (s *Server) audit(ctx context.Context, op, what string, index uint64, err error) {
	attrs := []any{"op", op, "client", cluster.ClientOf(ctx), "what", what, "node", s.node.ID(), "leader", s.node.IsLeader()}
	if index > 0 {
		attrs = append(attrs, "revision", index)
	}
	if err != nil {
		msg := status.Convert(err).Message()
		if first, rest, ok := strings.Cut(msg, "\n"); ok {
			msg = fmt.Sprintf("%s (and %d more lines)", first, strings.Count(rest, "\n")+1)
		}
		s.log.Info("api change refused", append(attrs, "result", status.Code(err).String(), "err", msg)...)
		return
	}
	s.log.Info("api change", append(attrs, "result", "ok")...)
}
