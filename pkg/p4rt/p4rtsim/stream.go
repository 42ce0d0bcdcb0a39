package p4rtsim

import (
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// stream is one client's StreamChannel. Its handler goroutine owns the
// receive side; a goroutine of its own the send side.
type stream struct {
	out      chan *p4v1.StreamMessageResponse
	done     chan struct{} // closed when the handler returns
	dev      *Server       // the device of the first arbitration; nil before
	role     string        // guarded by dev.mu
	election *p4v1.Uint128 // nil until the first arbitration; guarded by dev.mu
}

// outBuffer is how many messages may wait for a slow client; past that the
// client is too slow and its stream is ended (a switch cannot block on one
// controller).
const outBuffer = 4096

// StreamChannel runs one client's stream: arbitration first, then
// packet-outs.
func (s *Server) StreamChannel(srv p4v1.P4Runtime_StreamChannelServer) error {
	return runStream(srv, s.bind)
}

// runStream runs a stream whose first arbitration binds it to the device
// bind returns for its device id; an arbitration for another device later
// is refused.
func runStream(srv p4v1.P4Runtime_StreamChannelServer, bind func(id uint64) (*Server, error)) error {
	st := &stream{out: make(chan *p4v1.StreamMessageResponse, outBuffer), done: make(chan struct{})}
	sendErr := make(chan error, 1)
	go func() {
		for {
			select {
			case m := <-st.out:
				if err := srv.Send(m); err != nil {
					sendErr <- err
					return
				}
			case <-st.done:
				return
			}
		}
	}()
	defer func() {
		if st.dev != nil {
			st.dev.leave(st)
		}
		close(st.done)
	}()

	recvd := make(chan *p4v1.StreamMessageRequest)
	recvErr := make(chan error, 1)
	go func() {
		for {
			m, err := srv.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case recvd <- m:
			case <-st.done:
				return
			}
		}
	}()
	for {
		var m *p4v1.StreamMessageRequest
		select {
		case m = <-recvd:
		case err := <-recvErr:
			return err
		case err := <-sendErr:
			return err
		case <-srv.Context().Done():
			return srv.Context().Err()
		}
		switch u := m.GetUpdate().(type) {
		case *p4v1.StreamMessageRequest_Arbitration:
			id := u.Arbitration.GetDeviceId()
			dev, err := bind(id)
			if err != nil {
				return err
			}
			if st.dev != nil && st.dev != dev {
				return status.Errorf(codes.InvalidArgument, "stream is bound to device id %d: arbitration for device id %d refused", st.dev.opts.DeviceID, id)
			}
			st.dev = dev
			if err := dev.arbitrate(st, u.Arbitration); err != nil {
				return err
			}
		case *p4v1.StreamMessageRequest_Packet:
			if st.dev == nil {
				st.send(notPrimary(u.Packet))
				break
			}
			st.dev.packetOut(st, u.Packet)
		case *p4v1.StreamMessageRequest_DigestAck:
			if st.dev != nil {
				st.dev.mu.Lock()
				st.dev.ackDigest(u.DigestAck)
				st.dev.mu.Unlock()
			}
		default:
			st.send(&p4v1.StreamMessageResponse{Update: &p4v1.StreamMessageResponse_Error{Error: &p4v1.StreamError{
				CanonicalCode: int32(codes.Unimplemented), Message: "stream message type not supported by the simulator",
			}}})
		}
	}
}

// send queues m without blocking; a client that lets outBuffer messages
// pile up loses the newest (as a switch drops packet-ins it cannot send).
func (st *stream) send(m *p4v1.StreamMessageResponse) {
	select {
	case st.out <- m:
	default:
	}
}

// arbitrate takes an arbitration update of st, a stream bound to s.
func (s *Server) arbitrate(st *stream, a *p4v1.MasterArbitrationUpdate) error {
	role := a.GetRole().GetName()
	if a.GetElectionId() == nil {
		return status.Error(codes.InvalidArgument, "arbitration without election id")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.election != nil && st.role != role {
		return status.Errorf(codes.FailedPrecondition, "stream already arbitrated for role %q", st.role)
	}
	rs := s.roles[role]
	if rs == nil {
		rs = &roleState{streams: map[*stream]struct{}{}}
		s.roles[role] = rs
	}
	for other := range rs.streams {
		if other != st && other.election != nil && cmp128(other.election, a.GetElectionId()) == 0 {
			return status.Errorf(codes.InvalidArgument, "election id %s is in use by another client", fmtID(a.GetElectionId()))
		}
	}
	st.role = role
	st.election = proto.Clone(a.GetElectionId()).(*p4v1.Uint128)
	if _, ok := rs.streams[st]; !ok {
		rs.streams[st] = struct{}{}
		s.sessions.Add(1)
	}

	wasPrimary := rs.primary == st
	if rs.past == nil || cmp128(st.election, rs.past) >= 0 {
		changed := rs.primary != st
		rs.primary = st
		rs.past = st.election
		if changed {
			s.log.Info("new primary", "role", role, "election_id", fmtID(st.election))
		}
		s.notifyAll(role, rs)
		return nil
	}
	if wasPrimary {
		// The primary downgraded itself: no primary until a client
		// advertises at least the highest id seen.
		rs.primary = nil
		s.notifyAll(role, rs)
		return nil
	}
	st.send(s.advisory(role, rs, st))
	return nil
}

// advisory is the arbitration notification for st.
func (s *Server) advisory(role string, rs *roleState, st *stream) *p4v1.StreamMessageResponse {
	a := &p4v1.MasterArbitrationUpdate{DeviceId: s.opts.DeviceID, ElectionId: rs.past}
	if role != "" {
		a.Role = &p4v1.Role{Name: role}
	}
	switch {
	case rs.primary == st:
		a.Status = &rpcstatus.Status{Code: int32(code.Code_OK)}
	case rs.primary != nil:
		a.Status = &rpcstatus.Status{Code: int32(code.Code_ALREADY_EXISTS), Message: "a primary with a higher election id exists"}
	default:
		a.Status = &rpcstatus.Status{Code: int32(code.Code_NOT_FOUND), Message: "no primary"}
	}
	return &p4v1.StreamMessageResponse{Update: &p4v1.StreamMessageResponse_Arbitration{Arbitration: a}}
}

func (s *Server) notifyAll(role string, rs *roleState) {
	for st := range rs.streams {
		st.send(s.advisory(role, rs, st))
	}
}

// leave removes a closed stream; a departing primary leaves no primary.
func (s *Server) leave(st *stream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.roles[st.role]
	if rs == nil {
		return
	}
	if _, ok := rs.streams[st]; !ok {
		return
	}
	delete(rs.streams, st)
	s.sessions.Add(-1)
	if rs.primary == st {
		rs.primary = nil
		s.log.Info("primary disconnected", "role", st.role)
		s.notifyAll(st.role, rs)
	}
}

func (s *Server) packetOut(st *stream, p *p4v1.PacketOut) {
	s.mu.Lock()
	rs := s.roles[st.role]
	primary := rs != nil && rs.primary == st
	s.mu.Unlock()
	if !primary {
		st.send(notPrimary(p))
		return
	}
	if s.opts.OnPacketOut != nil {
		s.opts.OnPacketOut(p)
	}
}

// notPrimary is the error a packet-out from a client that is not primary
// gets.
func notPrimary(p *p4v1.PacketOut) *p4v1.StreamMessageResponse {
	return &p4v1.StreamMessageResponse{Update: &p4v1.StreamMessageResponse_Error{Error: &p4v1.StreamError{
		CanonicalCode: int32(codes.PermissionDenied), Message: "packet-out from a non-primary client",
		Details: &p4v1.StreamError_PacketOut{PacketOut: &p4v1.PacketOutError{PacketOut: p}},
	}}}
}

// InjectPacketIn delivers a packet-in to the primary of the default role,
// as if the data plane had punted it. It reports whether there was a
// primary to receive it.
func (s *Server) InjectPacketIn(p *p4v1.PacketIn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	rs := s.roles[""]
	if rs == nil || rs.primary == nil {
		return false
	}
	rs.primary.send(&p4v1.StreamMessageResponse{Update: &p4v1.StreamMessageResponse_Packet{Packet: p}})
	return true
}
