package p4rtsim

import (
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Digests as a P4Runtime server handles them: a digest sends nothing
// until the controller configures it (a DigestEntry); the data plane's
// messages (InjectDigest, as the simulator has no data plane) go to the
// primary as DigestLists, one message a list, each waiting for its
// DigestListAck. The simulator does not resend unacknowledged lists; it
// counts them (UnackedDigests), which is what a test of the controller
// needs to see.

// digestState is a configured digest: its config and the lists sent and
// not acknowledged.
type digestState struct {
	config  *p4v1.DigestEntry_Config
	nextID  uint64
	pending map[uint64]bool // list ids sent and not acknowledged
}

// applyDigest configures a digest. Callers hold mu.
func (s *Server) applyDigest(typ p4v1.Update_Type, e *p4v1.DigestEntry) error {
	d, ok := s.info.DigestByID(e.GetDigestId())
	if !ok {
		return status.Errorf(codes.NotFound, "unknown digest id %d", e.GetDigestId())
	}
	cur := s.digests[d.ID]
	switch typ {
	case p4v1.Update_INSERT:
		if cur != nil {
			return status.Errorf(codes.AlreadyExists, "digest %s is configured", d.Name)
		}
		if e.GetConfig() == nil {
			return status.Errorf(codes.InvalidArgument, "digest %s: no config", d.Name)
		}
		s.digests[d.ID] = &digestState{config: e.GetConfig(), pending: map[uint64]bool{}}
	case p4v1.Update_MODIFY:
		if cur == nil {
			return status.Errorf(codes.NotFound, "digest %s is not configured", d.Name)
		}
		if e.GetConfig() == nil {
			return status.Errorf(codes.InvalidArgument, "digest %s: no config", d.Name)
		}
		cur.config = e.GetConfig()
	case p4v1.Update_DELETE:
		if cur == nil {
			return status.Errorf(codes.NotFound, "digest %s is not configured", d.Name)
		}
		delete(s.digests, d.ID)
	default:
		return status.Errorf(codes.InvalidArgument, "update type %v", typ)
	}
	return nil
}

// InjectDigest sends data as a one-message list of digest id to the
// primary, as if the data plane had sent it. It reports whether it was
// sent: the digest must be configured and a primary connected.
func (s *Server) InjectDigest(id uint32, data *p4v1.P4Data) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.digests[id]
	rs := s.roles[""]
	if d == nil || rs == nil || rs.primary == nil {
		return false
	}
	d.nextID++
	d.pending[d.nextID] = true
	rs.primary.send(&p4v1.StreamMessageResponse{Update: &p4v1.StreamMessageResponse_Digest{Digest: &p4v1.DigestList{
		DigestId: id, ListId: d.nextID, Data: []*p4v1.P4Data{data}, Timestamp: time.Now().UnixNano()}}})
	return true
}

// ackDigest takes a DigestListAck. Callers hold mu.
func (s *Server) ackDigest(a *p4v1.DigestListAck) {
	if d := s.digests[a.GetDigestId()]; d != nil {
		delete(d.pending, a.GetListId())
	}
}

// UnackedDigests is how many lists of digest id were sent and not
// acknowledged.
func (s *Server) UnackedDigests(id uint32) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d := s.digests[id]; d != nil {
		return len(d.pending)
	}
	return 0
}
