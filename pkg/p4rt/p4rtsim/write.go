package p4rtsim

import (
	"bytes"
	"context"
	"fmt"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/genproto/googleapis/rpc/code"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// counterData is a counter cell: a direct counter or an indexed one.
type counterData struct{ bytes, packets int64 }

func (c counterData) proto() *p4v1.CounterData {
	return &p4v1.CounterData{ByteCount: c.bytes, PacketCount: c.packets}
}

func counterOf(c *p4v1.CounterData) counterData {
	return counterData{bytes: c.GetByteCount(), packets: c.GetPacketCount()}
}

// indexedCounter is an indexed counter's cells, allocated on the first
// nonzero write: most devices of a fleet never have one set.
type indexedCounter struct {
	size  int64
	cells []counterData
}

func (c *indexedCounter) get(i int64) counterData {
	if c.cells == nil {
		return counterData{}
	}
	return c.cells[i]
}

func (c *indexedCounter) set(i int64, d counterData) {
	if c.cells == nil {
		if d == (counterData{}) {
			return
		}
		c.cells = make([]counterData, c.size)
	}
	c.cells[i] = d
}

// table is a table's state: its entries (see entryStore) and default
// action.
type table struct {
	info  *pipeline.Table
	size  int64
	store entryStore
	deflt *p4v1.TableAction // set by a default-entry MODIFY; nil: the P4Info's
}

// decodeEntry decodes a stored entry.
func decodeEntry(wire []byte) *p4v1.TableEntry {
	e := &p4v1.TableEntry{}
	if err := proto.Unmarshal(wire, e); err != nil {
		panic(fmt.Sprintf("p4rtsim: stored entry does not decode: %v", err)) // we encoded it
	}
	return e
}

// storedWire returns the encoding an entry is kept in: its normalized
// form, without counter data. raw, if not nil, is the encoding te was
// decoded from; when te is already in stored form (the common case) raw
// is the answer and nothing is marshalled. The result aliases raw or
// s.wbuf: the store copies it. Callers hold mu.
func (s *Server) storedWire(te *p4v1.TableEntry, raw []byte) []byte {
	m := te
	if te.GetCounterData() != nil || !pipeline.IsNormalized(te) {
		m = pipeline.NormalizeEntry(te)
		m.CounterData = nil
	} else if raw != nil {
		return raw
	}
	b, err := proto.MarshalOptions{}.MarshalAppend(s.wbuf[:0], m)
	if err != nil {
		panic(fmt.Sprintf("p4rtsim: marshal a decoded entry: %v", err))
	}
	s.wbuf = b
	return b
}

// key returns the hash of te's entry key and the key: pipeline.EntryKey
// without the table id, which every entry of a table shares. The key is
// in s.kw's buffer, valid until the next call. Callers hold mu.
func (s *Server) key(te *p4v1.TableEntry) (uint32, []byte) {
	s.kw.Begin(te.GetTableId(), te.GetPriority(), te.GetIsDefaultAction())
	for _, m := range te.GetMatch() {
		s.kw.Match(m)
	}
	k := s.kw.Bytes()[4:]
	return hashKey(k), k
}

// Write applies the updates in order, each on its own: updates before and
// after a failed one are applied (CONTINUE_ON_ERROR, what BMv2 does). When
// any update fails the RPC returns UNKNOWN with one p4.v1.Error per update
// in the details, OK for the ones applied.
func (s *Server) Write(ctx context.Context, req *p4v1.WriteRequest) (*p4v1.WriteResponse, error) {
	raws := s.takeRaw(req) // first: what the codec kept must not outlive the call
	if err := s.checkDevice(req.GetDeviceId()); err != nil {
		return nil, err
	}
	if d := s.opts.WriteDelay; d > 0 {
		// A slow switch: the request is held before it is looked at.
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	s.writes.Add(1)
	if a := req.GetAtomicity(); a != p4v1.WriteRequest_CONTINUE_ON_ERROR {
		return nil, status.Errorf(codes.Unimplemented, "atomicity %s is not supported", a)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkPrimary(req.GetRole(), req.GetElectionId()); err != nil {
		return nil, err
	}
	if s.config == nil {
		return nil, status.Error(codes.FailedPrecondition, "no forwarding pipeline config set")
	}
	var errs []error
	failed := 0
	var staged []int // updates the backend staged, by index
	for i, u := range req.GetUpdates() {
		var raw []byte
		if i < len(raws) {
			raw = raws[i]
		}
		n := len(s.undos)
		err := s.apply(u, raw)
		if len(s.undos) > n {
			staged = append(staged, i)
		}
		if err != nil && errs == nil {
			errs = make([]error, len(req.GetUpdates()))
		}
		if errs != nil {
			errs[i] = err
		}
		if err != nil {
			failed++
		}
	}
	if b := s.opts.Backend; b != nil && len(staged) > 0 {
		if err := b.Commit(); err != nil {
			// Nothing staged reached the pipeline: neither may it stay in
			// the store.
			b.Abort()
			s.revert(s.undos)
			for _, u := range s.undos {
				if u.te.GetIsDefaultAction() {
					u.t.deflt = u.defltBefore
				}
			}
			err = backendError(err, codes.Internal)
			if errs == nil {
				errs = make([]error, len(req.GetUpdates()))
			}
			for _, i := range staged {
				if errs[i] == nil {
					failed++
				}
				errs[i] = err
			}
		}
	}
	clear(s.undos)
	s.undos = s.undos[:0]
	if failed == 0 {
		return &p4v1.WriteResponse{}, nil
	}
	st := status.New(codes.Unknown, fmt.Sprintf("%d of %d updates failed", failed, len(req.GetUpdates()))).Proto()
	for _, err := range errs {
		pe := &p4v1.Error{CanonicalCode: int32(code.Code_OK)}
		if err != nil {
			pe = &p4v1.Error{CanonicalCode: int32(status.Code(err)), Message: status.Convert(err).Message(), Space: "p4rtsim"}
		}
		d, _ := anypb.New(pe)
		st.Details = append(st.Details, d)
	}
	return nil, status.ErrorProto(st)
}

// apply applies one update; raw is the table entry's encoding in the
// request, when the codec found it.
func (s *Server) apply(u *p4v1.Update, raw []byte) error {
	switch e := u.GetEntity().GetEntity().(type) {
	case *p4v1.Entity_TableEntry:
		return s.applyTableEntry(u.GetType(), e.TableEntry, raw)
	case *p4v1.Entity_PacketReplicationEngineEntry:
		g := e.PacketReplicationEngineEntry.GetMulticastGroupEntry()
		if g == nil {
			return status.Error(codes.Unimplemented, "only multicast group entries are supported")
		}
		return s.applyGroup(u.GetType(), g)
	case *p4v1.Entity_DirectCounterEntry:
		return s.applyDirectCounter(u.GetType(), e.DirectCounterEntry)
	case *p4v1.Entity_CounterEntry:
		return s.applyCounter(u.GetType(), e.CounterEntry)
	case *p4v1.Entity_DigestEntry:
		return s.applyDigest(u.GetType(), e.DigestEntry)
	case nil:
		return status.Error(codes.InvalidArgument, "update without entity")
	default:
		return status.Errorf(codes.Unimplemented, "entity %T is not supported", e)
	}
}

func (s *Server) applyTableEntry(typ p4v1.Update_Type, te *p4v1.TableEntry, raw []byte) error {
	t, ok := s.tables[te.GetTableId()]
	if !ok {
		return status.Errorf(codes.NotFound, "unknown table id %d", te.GetTableId())
	}
	if te.GetIsDefaultAction() {
		if typ != p4v1.Update_MODIFY {
			return status.Errorf(codes.InvalidArgument, "table %s: the default entry can only be modified", t.info.Name)
		}
		if err := s.info.CheckEntry(te); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
		if b := s.opts.Backend; b != nil {
			if err := b.Stage(typ, t.info, te); err != nil {
				return backendError(err, codes.InvalidArgument)
			}
			s.undos = append(s.undos, undo{t: t, te: te, defltBefore: t.deflt})
		}
		t.deflt = proto.Clone(te.GetAction()).(*p4v1.TableAction)
		return nil
	}
	switch typ {
	case p4v1.Update_INSERT, p4v1.Update_MODIFY:
		if err := s.info.CheckEntry(te); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	case p4v1.Update_DELETE:
		if err := s.info.CheckEntryKey(te); err != nil {
			return status.Error(codes.InvalidArgument, err.Error())
		}
	default:
		return status.Errorf(codes.InvalidArgument, "update type %s", typ)
	}
	h, key := s.key(te)
	slot, ref, exists := t.store.find(h, key)
	counted := t.info.DirectCounterID != 0
	if b := s.opts.Backend; b != nil {
		switch {
		case typ == p4v1.Update_INSERT && exists:
			return status.Errorf(codes.AlreadyExists, "table %s: entry already exists", t.info.Name)
		case typ == p4v1.Update_INSERT && int64(t.store.count()) >= t.size:
			return status.Errorf(codes.ResourceExhausted, "table %s is full (%d entries)", t.info.Name, t.size)
		case typ != p4v1.Update_INSERT && !exists:
			return status.Errorf(codes.NotFound, "table %s: no such entry", t.info.Name)
		}
		if err := b.Stage(typ, t.info, te); err != nil {
			return backendError(err, codes.InvalidArgument)
		}
		u := undo{t: t, te: te}
		if exists {
			u.old = bytes.Clone(t.store.wire(ref))
		}
		s.undos = append(s.undos, u)
		// The counter a write gives is the backend's to keep.
		if c := te.GetCounterData(); c != nil && counted && typ != p4v1.Update_DELETE {
			te = proto.Clone(te).(*p4v1.TableEntry)
			te.CounterData = nil
			raw = nil
		}
		counted = false
	}
	switch typ {
	case p4v1.Update_INSERT:
		if exists {
			return status.Errorf(codes.AlreadyExists, "table %s: entry already exists", t.info.Name)
		}
		if int64(t.store.count()) >= t.size {
			return status.Errorf(codes.ResourceExhausted, "table %s is full (%d entries)", t.info.Name, t.size)
		}
		ref, ok := t.store.insert(h, key, s.storedWire(te, raw))
		if !ok {
			return status.Errorf(codes.ResourceExhausted, "table %s: the simulator's storage for it is full", t.info.Name)
		}
		if c := te.GetCounterData(); c != nil && counted {
			t.store.setCounter(ref, counterOf(c))
		}
	case p4v1.Update_MODIFY:
		if !exists {
			return status.Errorf(codes.NotFound, "table %s: no such entry", t.info.Name)
		}
		ref, ok := t.store.replace(slot, ref, s.storedWire(te, raw))
		if !ok {
			return status.Errorf(codes.ResourceExhausted, "table %s: the simulator's storage for it is full", t.info.Name)
		}
		if c := te.GetCounterData(); c != nil && counted {
			t.store.setCounter(ref, counterOf(c))
		}
		t.store.tidy()
	case p4v1.Update_DELETE:
		if !exists {
			return status.Errorf(codes.NotFound, "table %s: no such entry", t.info.Name)
		}
		t.store.remove(slot, ref)
	}
	return nil
}

func (s *Server) applyGroup(typ p4v1.Update_Type, g *p4v1.MulticastGroupEntry) error {
	id := g.GetMulticastGroupId()
	if id == 0 {
		return status.Error(codes.InvalidArgument, "multicast group id 0 is reserved")
	}
	_, exists := s.groups[id]
	switch typ {
	case p4v1.Update_INSERT:
		if exists {
			return status.Errorf(codes.AlreadyExists, "multicast group %d already exists", id)
		}
	case p4v1.Update_MODIFY, p4v1.Update_DELETE:
		if !exists {
			return status.Errorf(codes.NotFound, "multicast group %d does not exist", id)
		}
	default:
		return status.Errorf(codes.InvalidArgument, "update type %s", typ)
	}
	if typ == p4v1.Update_DELETE {
		delete(s.groups, id)
		return nil
	}
	seen := map[[2]uint32]bool{}
	for _, r := range g.GetReplicas() {
		port, ok := pipeline.ReplicaPort(r)
		if !ok {
			return status.Errorf(codes.InvalidArgument, "multicast group %d: a replica without a port of at most 32 bits", id)
		}
		k := [2]uint32{port, r.GetInstance()}
		if seen[k] {
			return status.Errorf(codes.InvalidArgument, "multicast group %d: replica (port %d, instance %d) twice", id, k[0], k[1])
		}
		seen[k] = true
	}
	s.groups[id] = proto.Clone(g).(*p4v1.MulticastGroupEntry)
	return nil
}

func (s *Server) applyDirectCounter(typ p4v1.Update_Type, dc *p4v1.DirectCounterEntry) error {
	if typ != p4v1.Update_MODIFY {
		return status.Error(codes.InvalidArgument, "direct counters can only be modified")
	}
	te := dc.GetTableEntry()
	t, ok := s.tables[te.GetTableId()]
	if !ok || t.info.DirectCounterID == 0 {
		return status.Errorf(codes.InvalidArgument, "table id %d has no direct counter", te.GetTableId())
	}
	_, ref, ok := t.store.find(s.key(te))
	if !ok {
		return status.Errorf(codes.NotFound, "table %s: no such entry", t.info.Name)
	}
	if b := s.opts.Backend; b != nil {
		d := dc.GetData()
		if err := b.SetDirectCounter(t.info, te, d.GetPacketCount(), d.GetByteCount()); err != nil {
			return backendError(err, codes.Internal)
		}
		return nil
	}
	t.store.setCounter(ref, counterOf(dc.GetData()))
	return nil
}

func (s *Server) applyCounter(typ p4v1.Update_Type, ce *p4v1.CounterEntry) error {
	if typ != p4v1.Update_MODIFY {
		return status.Error(codes.InvalidArgument, "counters can only be modified")
	}
	cells, ok := s.indexed[ce.GetCounterId()]
	if !ok {
		return status.Errorf(codes.NotFound, "unknown counter id %d", ce.GetCounterId())
	}
	i := ce.GetIndex().GetIndex()
	if ce.GetIndex() == nil || i < 0 || i >= cells.size {
		return status.Errorf(codes.OutOfRange, "counter index %d outside 0..%d", i, cells.size-1)
	}
	if b := s.opts.Backend; b != nil {
		c := s.counterInfo(ce.GetCounterId())
		if err := b.SetCounter(c, i, ce.GetData().GetPacketCount(), ce.GetData().GetByteCount()); err != nil {
			return backendError(err, codes.Internal)
		}
		return nil
	}
	cells.set(i, counterOf(ce.GetData()))
	return nil
}

// AddDirectCounter adds to the direct counter of the entry with e's key, as
// if the data plane had matched it. It reports whether the entry exists.
func (s *Server) AddDirectCounter(e *p4v1.TableEntry, packets, bytes int64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tables[e.GetTableId()]
	if !ok {
		return false
	}
	_, ref, ok := t.store.find(s.key(e))
	if !ok {
		return false
	}
	c := t.store.counter(ref)
	c.packets += packets
	c.bytes += bytes
	t.store.setCounter(ref, c)
	return true
}
