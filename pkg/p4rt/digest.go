package p4rt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// DigestConfig is how a device batches a digest's messages: a list goes
// out when it holds MaxListSize messages or its first waited MaxTimeout,
// and a list not acknowledged within AckTimeout may be sent again.
type DigestConfig struct {
	MaxTimeout  time.Duration
	MaxListSize int32
	AckTimeout  time.Duration
}

// ConfigureDigest turns digest id on at the device with cfg (a device
// sends no digest until it is configured): an insert, or a modify where
// the device has it already.
func (s *Session) ConfigureDigest(ctx context.Context, id uint32, cfg DigestConfig) error {
	entry := &p4v1.DigestEntry{DigestId: id, Config: &p4v1.DigestEntry_Config{
		MaxTimeoutNs: cfg.MaxTimeout.Nanoseconds(), MaxListSize: cfg.MaxListSize, AckTimeoutNs: cfg.AckTimeout.Nanoseconds()}}
	ent := &p4v1.Entity{Entity: &p4v1.Entity_DigestEntry{DigestEntry: entry}}
	err := s.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: ent})
	if err != nil && alreadyExists(err) {
		err = s.Write(ctx, &p4v1.Update{Type: p4v1.Update_MODIFY, Entity: ent})
	}
	if err != nil {
		return fmt.Errorf("p4rt %s: digest %d: %w", s.addr, id, err)
	}
	return nil
}

// alreadyExists reports whether a write failed for an entity the device
// has already.
func alreadyExists(err error) bool {
	var we *WriteError
	if errors.As(err, &we) {
		for _, u := range we.Updates {
			if u.Code == codes.AlreadyExists {
				return true
			}
		}
	}
	return status.Code(err) == codes.AlreadyExists
}

// Digests returns the digest lists the device sends. Each must be
// acknowledged (AckDigest) or the device sends it again; lists a slow
// reader leaves are dropped unacknowledged and counted.
func (s *Session) Digests() <-chan *p4v1.DigestList { return s.digests }

// AckDigest acknowledges list l.
func (s *Session) AckDigest(l *p4v1.DigestList) error {
	err := s.send(&p4v1.StreamMessageRequest{Update: &p4v1.StreamMessageRequest_DigestAck{
		DigestAck: &p4v1.DigestListAck{DigestId: l.GetDigestId(), ListId: l.GetListId()}}})
	if err != nil {
		return fmt.Errorf("p4rt %s: digest ack: %w", s.addr, err)
	}
	return nil
}

// DroppedDigests is the number of digest lists dropped because Digests
// was not drained fast enough.
func (s *Session) DroppedDigests() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.droppedDigs
}
