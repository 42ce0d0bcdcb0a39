package apiserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// Mastership is partitioned over the members (pkg/controller), so what
// the devices tell their master (status, counters, denials, flows) is
// spread over the cluster: the calls without `local` ask every member
// that masters a device for its own part and merge the answers.

// masters are the members that master a device (only dev's, when dev is
// set), with their devices.
func (s *Server) masters(dev string) map[string][]string {
	out := map[string][]string{}
	for d, a := range s.node.Assignments() {
		if dev == "" || d == dev {
			out[a.Member] = append(out[a.Member], d)
		}
	}
	for _, ds := range out {
		slices.Sort(ds)
	}
	return out
}

// memberClient is a client of member's API.
func (s *Server) memberClient(member string) (p4ctlv1.ControllerClient, error) {
	addr := s.node.APIAddr(member)
	if addr == "" {
		return nil, fmt.Errorf("member %s has not published its API address", member)
	}
	conn, err := s.leaders.get(addr)
	if err != nil {
		return nil, fmt.Errorf("dial member %s at %s: %w", member, addr, err)
	}
	return p4ctlv1.NewControllerClient(conn), nil
}

// clusterCounters merges every master's counters of its devices. A
// master that does not answer leaves its devices listed with the reason
// as their error.
func (s *Server) clusterCounters(ctx context.Context, req *p4ctlv1.CountersRequest) (*p4ctlv1.CountersResponse, error) {
	if d := req.GetDevice(); d != "" {
		if _, ok := s.ctl.Model().Devices[d]; !ok {
			return nil, status.Errorf(codes.NotFound, "device %s: not in the model", d)
		}
	}
	masters := s.masters(req.GetDevice())
	out := &p4ctlv1.CountersResponse{Node: s.node.ID()}
	var mu sync.Mutex // guards out
	var wg sync.WaitGroup
	for member, devs := range masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout := memberCallTimeout
			if req.GetRefresh() {
				timeout = refreshTimeout // the member reads its devices first
			}
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			local := &p4ctlv1.CountersRequest{Device: req.GetDevice(), Policy: req.GetPolicy(), Refresh: req.GetRefresh(), Local: true}
			var resp *p4ctlv1.CountersResponse
			var err error
			if member == s.node.ID() {
				resp, err = s.Counters(ctx, local)
			} else {
				var c p4ctlv1.ControllerClient
				if c, err = s.memberClient(member); err == nil {
					resp, err = c.Counters(ctx, local)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				for _, d := range devs {
					out.Devices = append(out.Devices, &p4ctlv1.DeviceCounters{Device: d, Error: fmt.Sprintf("master %s did not answer: %v", member, err)})
				}
				return
			}
			// Only the devices the member masters: a backup session's
			// counters are not the ones that count.
			for _, dc := range resp.GetDevices() {
				if slices.Contains(devs, dc.GetDevice()) {
					out.Devices = append(out.Devices, dc)
				}
			}
		}()
	}
	wg.Wait()
	slices.SortFunc(out.Devices, func(a, b *p4ctlv1.DeviceCounters) int {
		switch {
		case a.GetDevice() < b.GetDevice():
			return -1
		case a.GetDevice() > b.GetDevice():
			return 1
		}
		return 0
	})
	return out, nil
}

// refreshTimeout bounds a member's counters call that reads its devices
// first.
const refreshTimeout = 30 * time.Second

// memberCall is a streaming call of a member's API, as the method
// expression p4ctlv1.ControllerClient.Denials is one.
type memberCall[Req, T any] func(p4ctlv1.ControllerClient, context.Context, Req, ...grpc.CallOption) (grpc.ServerStreamingClient[T], error)

// clusterStream merges every master's stream of one of its report logs
// (the denied-flow log, the flow log) into send: first what each holds,
// then, with follow, what each hears until ctx ends. Each is asked for
// its own part with req (local set): this node by serve, the others by
// call. A member that cannot be reached is skipped (its devices' records
// are missing) and logged as what ("denials", "flows").
func clusterStream[Req interface{ GetDevice() string }, T any](ctx context.Context, s *Server, what string, req Req,
	serve func(context.Context, Req, func(*T) error) error, call memberCall[Req, T], send func(*T) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	masters := s.masters(req.GetDevice())
	if _, mine := masters[s.node.ID()]; !mine {
		// This node's log may hold reports from before a device moved.
		masters[s.node.ID()] = nil
	}
	recs := make(chan *T, 256)
	relay := func(r *T) error {
		select {
		case recs <- r:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	var wg sync.WaitGroup
	for _, member := range slices.Sorted(maps.Keys(masters)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var err error
			if member == s.node.ID() {
				err = serve(ctx, req, relay)
			} else {
				err = memberStream(ctx, s, member, req, call, relay)
			}
			if err != nil && ctx.Err() == nil && s.log != nil {
				s.log.Warn(what+" of a member not merged", "member", member, "err", err)
			}
		}()
	}
	go func() {
		wg.Wait()
		close(recs)
	}()
	for r := range recs {
		if err := send(r); err != nil {
			return err
		}
	}
	return nil
}

// memberStream relays member's own stream, as call asks for it with req,
// into send.
func memberStream[Req, T any](ctx context.Context, s *Server, member string, req Req, call memberCall[Req, T], send func(*T) error) error {
	c, err := s.memberClient(member)
	if err != nil {
		return err
	}
	st, err := call(c, ctx, req)
	if err != nil {
		return err
	}
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := send(r); err != nil {
			return err
		}
	}
}
