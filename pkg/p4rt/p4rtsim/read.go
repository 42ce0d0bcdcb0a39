package p4rtsim

import (
	"sort"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// readBatch is how many entities go in one ReadResponse.
const readBatch = 1000

// Read answers table entries (one, one table, or all with table_id 0),
// direct counters, indexed counters and multicast groups. The state is
// captured under the lock and streamed after it is released, so a large
// read does not stall writes; what it returns is one consistent moment.
func (s *Server) Read(req *p4v1.ReadRequest, srv p4v1.P4Runtime_ReadServer) error {
	if err := s.checkDevice(req.GetDeviceId()); err != nil {
		return err
	}
	var out []*p4v1.Entity
	s.mu.Lock()
	if s.config == nil {
		s.mu.Unlock()
		return status.Error(codes.FailedPrecondition, "no forwarding pipeline config set")
	}
	if frames, ok := s.rawTableRead(req); ok {
		s.mu.Unlock()
		for _, f := range frames {
			if err := srv.SendMsg(f); err != nil {
				return err
			}
		}
		return nil
	}
	for _, e := range req.GetEntities() {
		var err error
		out, err = s.collect(out, e)
		if err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()
	for len(out) > 0 {
		n := min(len(out), readBatch)
		if err := srv.Send(&p4v1.ReadResponse{Entities: out[:n]}); err != nil {
			return err
		}
		out = out[n:]
	}
	return nil
}

// collect appends what e selects. Callers hold mu. Entities are decoded
// fresh from the stored encodings.
func (s *Server) collect(out []*p4v1.Entity, e *p4v1.Entity) ([]*p4v1.Entity, error) {
	switch x := e.GetEntity().(type) {
	case *p4v1.Entity_TableEntry:
		return s.collectTable(out, x.TableEntry, false)
	case *p4v1.Entity_DirectCounterEntry:
		te := x.DirectCounterEntry.GetTableEntry()
		if te == nil {
			te = &p4v1.TableEntry{}
		}
		return s.collectTable(out, te, true)
	case *p4v1.Entity_CounterEntry:
		return s.collectCounters(out, x.CounterEntry)
	case *p4v1.Entity_PacketReplicationEngineEntry:
		g := x.PacketReplicationEngineEntry.GetMulticastGroupEntry()
		if g == nil {
			return nil, status.Error(codes.Unimplemented, "only multicast group entries are supported")
		}
		ids := make([]uint32, 0, len(s.groups))
		for id := range s.groups {
			if g.GetMulticastGroupId() == 0 || g.GetMulticastGroupId() == id {
				ids = append(ids, id)
			}
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			out = append(out, &p4v1.Entity{Entity: &p4v1.Entity_PacketReplicationEngineEntry{
				PacketReplicationEngineEntry: &p4v1.PacketReplicationEngineEntry{
					Type: &p4v1.PacketReplicationEngineEntry_MulticastGroupEntry{MulticastGroupEntry: proto.Clone(s.groups[id]).(*p4v1.MulticastGroupEntry)},
				}}})
		}
		return out, nil
	default:
		return nil, status.Errorf(codes.Unimplemented, "reading %T is not supported", x)
	}
}

func (s *Server) collectTable(out []*p4v1.Entity, q *p4v1.TableEntry, directCounters bool) ([]*p4v1.Entity, error) {
	var tables []*table
	if q.GetTableId() == 0 {
		tables = s.order
	} else {
		t, ok := s.tables[q.GetTableId()]
		if !ok {
			return nil, status.Errorf(codes.NotFound, "unknown table id %d", q.GetTableId())
		}
		tables = append(tables, t)
	}
	withCounters := directCounters || q.GetCounterData() != nil
	emit := func(t *table, ref uint32, wire []byte) {
		if directCounters && t.info.DirectCounterID == 0 {
			return
		}
		e := decodeEntry(wire)
		if directCounters {
			out = append(out, &p4v1.Entity{Entity: &p4v1.Entity_DirectCounterEntry{
				DirectCounterEntry: &p4v1.DirectCounterEntry{TableEntry: e, Data: s.directCounter(t, ref, wire).proto()}}})
			return
		}
		if withCounters && t.info.DirectCounterID != 0 {
			e.CounterData = s.directCounter(t, ref, wire).proto()
		}
		out = append(out, &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}})
	}
	if q.GetIsDefaultAction() && !directCounters {
		for _, t := range tables {
			act := t.deflt
			if act == nil {
				act = &p4v1.TableAction{Type: &p4v1.TableAction_Action{Action: &p4v1.Action{ActionId: t.info.DefaultActionID}}}
			}
			out = append(out, &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{
				TableId: t.info.ID, IsDefaultAction: true, Action: act}}})
		}
		return out, nil
	}
	if len(q.GetMatch()) > 0 || q.GetPriority() != 0 {
		// One entry, named by its key.
		if q.GetTableId() == 0 {
			return nil, status.Error(codes.InvalidArgument, "a match without a table id")
		}
		if err := s.info.CheckEntryKey(q); err != nil {
			return nil, status.Error(codes.InvalidArgument, err.Error())
		}
		t := tables[0]
		if _, ref, ok := t.store.find(s.key(q)); ok {
			emit(t, ref, t.store.wire(ref))
		}
		return out, nil
	}
	for _, t := range tables {
		for ref, wire := range t.store.all() {
			emit(t, ref, wire)
		}
	}
	return out, nil
}

func (s *Server) collectCounters(out []*p4v1.Entity, q *p4v1.CounterEntry) ([]*p4v1.Entity, error) {
	ids := make([]uint32, 0, len(s.indexed))
	if q.GetCounterId() != 0 {
		if _, ok := s.indexed[q.GetCounterId()]; !ok {
			return nil, status.Errorf(codes.NotFound, "unknown counter id %d", q.GetCounterId())
		}
		ids = append(ids, q.GetCounterId())
	} else {
		for id := range s.indexed {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	}
	for _, id := range ids {
		cells := s.indexed[id]
		lo, hi := int64(0), cells.size
		if q.GetIndex() != nil {
			lo = q.GetIndex().GetIndex()
			if lo < 0 || lo >= hi {
				return nil, status.Errorf(codes.OutOfRange, "counter index %d outside 0..%d", lo, hi-1)
			}
			hi = lo + 1
		}
		for i := lo; i < hi; i++ {
			out = append(out, &p4v1.Entity{Entity: &p4v1.Entity_CounterEntry{CounterEntry: &p4v1.CounterEntry{
				CounterId: id, Index: &p4v1.Index{Index: i}, Data: s.indexedCell(id, cells, i).proto()}}})
		}
	}
	return out, nil
}

// rawFrame is a ReadResponse already in wire form; simCodec sends it as is.
type rawFrame struct{ b []byte }

// rawTableRead answers a read of whole tables (no single entry) from each
// entry's stored encoding, framed into ReadResponses of readBatch
// entities: the common bulk reads, of entries or of entries with their
// direct counters, without building messages. Callers hold mu.
func (s *Server) rawTableRead(req *p4v1.ReadRequest) ([]*rawFrame, bool) {
	var tables []*table
	counters := false
	for i, e := range req.GetEntities() {
		q := e.GetTableEntry()
		if q == nil || len(q.GetMatch()) > 0 || q.GetPriority() != 0 || q.GetIsDefaultAction() || q.GetAction() != nil {
			return nil, false
		}
		if c := q.GetCounterData(); c != nil {
			if c.GetByteCount() != 0 || c.GetPacketCount() != 0 || i > 0 && !counters {
				return nil, false
			}
			counters = true
		} else if counters {
			return nil, false // mixed: the message path
		}
		if q.GetTableId() == 0 {
			tables = append(tables, s.order...)
			continue
		}
		t, ok := s.tables[q.GetTableId()]
		if !ok {
			return nil, false // the message path reports the error
		}
		tables = append(tables, t)
	}
	var frames []*rawFrame
	var buf []byte
	n := 0
	for _, t := range tables {
		withCounter := counters && t.info.DirectCounterID != 0
		for ref, wire := range t.store.all() {
			// ReadResponse.entities (1) { Entity.table_entry (2) { ... } };
			// a direct counter is TableEntry.counter_data (7) appended to
			// the stored fields.
			te := len(wire)
			var cd int
			var counter counterData
			if withCounter {
				counter = s.directCounter(t, ref, wire)
				cd = protowire.SizeTag(1) + protowire.SizeVarint(uint64(counter.bytes)) +
					protowire.SizeTag(2) + protowire.SizeVarint(uint64(counter.packets))
				te += protowire.SizeTag(7) + protowire.SizeBytes(cd)
			}
			inner := protowire.SizeTag(2) + protowire.SizeBytes(te)
			if buf == nil {
				// A frame's worth of entries like this one, so that the
				// buffer is not grown (and copied) on the way.
				buf = make([]byte, 0, readBatch*(protowire.SizeTag(1)+protowire.SizeBytes(inner)+4))
			}
			buf = protowire.AppendTag(buf, 1, protowire.BytesType)
			buf = protowire.AppendVarint(buf, uint64(inner))
			buf = protowire.AppendTag(buf, 2, protowire.BytesType)
			buf = protowire.AppendVarint(buf, uint64(te))
			buf = append(buf, wire...)
			if withCounter {
				buf = protowire.AppendTag(buf, 7, protowire.BytesType)
				buf = protowire.AppendVarint(buf, uint64(cd))
				buf = protowire.AppendTag(buf, 1, protowire.VarintType)
				buf = protowire.AppendVarint(buf, uint64(counter.bytes))
				buf = protowire.AppendTag(buf, 2, protowire.VarintType)
				buf = protowire.AppendVarint(buf, uint64(counter.packets))
			}
			if n++; n == readBatch {
				frames = append(frames, &rawFrame{buf})
				buf, n = nil, 0
			}
		}
	}
	if n > 0 {
		frames = append(frames, &rawFrame{buf})
	}
	return frames, true
}
