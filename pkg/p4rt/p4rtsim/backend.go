package p4rtsim

import (
	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Backend is a data plane behind a Server (Options.Backend): the server
// keeps doing what it does for the simulator (arbitration, validation of
// every update against the P4Info, the entry store that answers reads,
// per-update errors, packet I/O on the stream) and hands the backend
// what changes the forwarding state, so that a real pipeline runs what
// the store holds. Calls come one at a time, under the server's lock.
//
// A table write is staged update by update (Stage, after the server has
// checked the update and before it changes its store); a Stage error
// fails that update alone. At the end of the Write RPC the staged updates
// are committed together (Commit); if that fails, the store changes of
// every staged update are undone and each of them fails with the
// commit's error, so the store keeps saying what the pipeline holds.
type Backend interface {
	// Verify checks that the pipeline can run on the data plane, without
	// touching the running one.
	Verify(p *BackendPipeline) error
	// Load builds the pipeline and runs it in place of the running one,
	// with empty tables. When it fails the running pipeline is untouched.
	Load(p *BackendPipeline) error
	// Stage schedules one checked update of a table entry (or, with
	// e.IsDefaultAction, of the table's default action).
	Stage(typ p4v1.Update_Type, t *pipeline.Table, e *p4v1.TableEntry) error
	// Commit applies the staged updates at once; Abort drops them.
	Commit() error
	Abort()
	// DirectCounter reads the counter of the entry with e's key;
	// SetDirectCounter sets it.
	DirectCounter(t *pipeline.Table, e *p4v1.TableEntry) (packets, bytes int64, err error)
	SetDirectCounter(t *pipeline.Table, e *p4v1.TableEntry, packets, bytes int64) error
	// Counter reads cell i of an indexed counter; SetCounter sets it.
	Counter(c *pipeline.Counter, i int64) (packets, bytes int64, err error)
	SetCounter(c *pipeline.Counter, i int64, packets, bytes int64) error
}

// BackendPipeline is a pipeline a Backend is asked to verify or load.
type BackendPipeline struct {
	P4Info       *p4cfg.P4Info
	Info         *pipeline.Info
	DeviceConfig []byte
}

func (sp *sharedPipeline) backend() *BackendPipeline {
	return &BackendPipeline{P4Info: sp.p4info, Info: sp.info, DeviceConfig: sp.deviceConfig}
}

// undo is what reverts one staged table update in the store.
type undo struct {
	t   *table
	te  *p4v1.TableEntry // the update's entry (its key)
	old []byte           // the entry's stored encoding before; nil if it did not exist
	// defltBefore is a default-action update's table default before it.
	defltBefore *p4v1.TableAction
}

// revert undoes the store changes of staged updates, last first. Callers
// hold mu.
func (s *Server) revert(us []undo) {
	for i := len(us) - 1; i >= 0; i-- {
		u := us[i]
		if u.te.GetIsDefaultAction() {
			continue // the default's old action is restored by the caller
		}
		h, key := s.key(u.te)
		slot, ref, exists := u.t.store.find(h, key)
		switch {
		case exists && u.old == nil:
			u.t.store.remove(slot, ref)
		case exists:
			u.t.store.replace(slot, ref, u.old)
			u.t.store.tidy()
		case u.old != nil:
			h, key = s.key(u.te)
			u.t.store.insert(h, key, u.old)
		}
	}
}

// backendError is the status a backend's error becomes: its own status,
// or INVALID_ARGUMENT.
func backendError(err error, c codes.Code) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(c, err.Error())
}

// counterInfo is the P4Info's indexed counter with id. Callers hold mu.
func (s *Server) counterInfo(id uint32) *pipeline.Counter {
	for _, c := range s.info.Counters() {
		if c.ID == id {
			return c
		}
	}
	return &pipeline.Counter{ID: id}
}

// directCounter is the direct counter of the stored entry at ref (its
// encoding wire): the store's, or the backend's. Callers hold mu.
func (s *Server) directCounter(t *table, ref uint32, wire []byte) counterData {
	b := s.opts.Backend
	if b == nil {
		return t.store.counter(ref)
	}
	p, by, err := b.DirectCounter(t.info, decodeEntry(wire))
	if err != nil {
		s.log.Warn("direct counter read", "table", t.info.Name, "err", err)
		return counterData{}
	}
	return counterData{packets: p, bytes: by}
}

// indexedCell is cell i of indexed counter id: the store's, or the
// backend's. Callers hold mu.
func (s *Server) indexedCell(id uint32, cells *indexedCounter, i int64) counterData {
	b := s.opts.Backend
	if b == nil {
		return cells.get(i)
	}
	p, by, err := b.Counter(s.counterInfo(id), i)
	if err != nil {
		s.log.Warn("counter read", "counter", id, "err", err)
		return counterData{}
	}
	return counterData{packets: p, bytes: by}
}
