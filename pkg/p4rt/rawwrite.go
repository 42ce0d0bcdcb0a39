package p4rt

import (
	"context"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// The write side of the compact path: WriteRequests are encoded straight
// from EntrySet bytes with protowire, never as protobuf messages.

// tableEntry appends to b the wire form of the table entry whose EntryKey
// and ActionKey are key and action, read with pipeline.ReadKey and
// pipeline.ReadAction, using the encoder's scratch buffers.
func (w *writeEncoder) tableEntry(b []byte, key, action string) ([]byte, error) {
	r, err := pipeline.ReadKey(key)
	if err != nil {
		return nil, err
	}
	ar, err := pipeline.ReadAction(action)
	if err != nil {
		return nil, err
	}
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(r.Table))
	for m, ok := r.Next(); ok; m, ok = r.Next() {
		// The FieldMatch member (num) and its message (inner).
		var num protowire.Number
		inner := w.inner[:0]
		switch m.Tag {
		case pipeline.TagExact, pipeline.TagOptional, pipeline.TagLPM:
			inner = protowire.AppendTag(inner, 1, protowire.BytesType)
			inner = protowire.AppendString(inner, m.V1)
			switch m.Tag {
			case pipeline.TagExact:
				num = 2
			case pipeline.TagOptional:
				num = 7
			default:
				num = 4
				inner = protowire.AppendTag(inner, 2, protowire.VarintType)
				inner = protowire.AppendVarint(inner, uint64(int64(m.PrefixLen)))
			}
		case pipeline.TagTernary, pipeline.TagRange, pipeline.TagOther:
			// Two values as fields 1 and 2: value and mask, low and high,
			// or an Any's type_url and value.
			inner = protowire.AppendTag(inner, 1, protowire.BytesType)
			inner = protowire.AppendString(inner, m.V1)
			inner = protowire.AppendTag(inner, 2, protowire.BytesType)
			inner = protowire.AppendString(inner, m.V2)
			switch m.Tag {
			case pipeline.TagTernary:
				num = 3
			case pipeline.TagRange:
				num = 6
			default:
				num = 100
			}
		}
		fm := protowire.SizeTag(1) + protowire.SizeVarint(uint64(m.Field))
		if num != 0 { // an unset match is its field id alone
			fm += protowire.SizeTag(num) + protowire.SizeBytes(len(inner))
		}
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(fm))
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(m.Field))
		if num != 0 {
			b = protowire.AppendTag(b, num, protowire.BytesType)
			b = protowire.AppendBytes(b, inner)
		}
		w.inner = inner
	}
	if ar.Direct {
		act := protowire.AppendTag(w.act[:0], 1, protowire.VarintType)
		act = protowire.AppendVarint(act, uint64(ar.ActionID))
		for id, v, ok := ar.Next(); ok; id, v, ok = ar.Next() {
			prm := protowire.SizeTag(2) + protowire.SizeVarint(uint64(id)) + protowire.SizeTag(3) + protowire.SizeBytes(len(v))
			act = protowire.AppendTag(act, 4, protowire.BytesType)
			act = protowire.AppendVarint(act, uint64(prm))
			act = protowire.AppendTag(act, 2, protowire.VarintType)
			act = protowire.AppendVarint(act, uint64(id))
			act = protowire.AppendTag(act, 3, protowire.BytesType)
			act = protowire.AppendString(act, v)
		}
		b = protowire.AppendTag(b, 3, protowire.BytesType) // TableEntry.action
		b = protowire.AppendVarint(b, uint64(protowire.SizeTag(1)+protowire.SizeBytes(len(act))))
		b = protowire.AppendTag(b, 1, protowire.BytesType) // TableAction.action
		b = protowire.AppendBytes(b, act)
		w.act = act
	}
	if r.Priority != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(r.Priority)))
	}
	if r.IsDefault {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	return b, nil
}

// writeEncoder builds WriteRequests update by update.
type writeEncoder struct {
	header     []byte // device_id, role, election_id
	req        []byte
	te         []byte
	inner, act []byte // scratch for one match and one action
	n          int
}

func (s *Session) newWriteEncoder() *writeEncoder {
	h := protowire.AppendTag(nil, 1, protowire.VarintType)
	h = protowire.AppendVarint(h, s.deviceID)
	if s.role != "" {
		h = protowire.AppendTag(h, 6, protowire.BytesType)
		h = protowire.AppendString(h, s.role)
	}
	var id []byte
	id = protowire.AppendTag(id, 1, protowire.VarintType)
	election := s.ElectionID()
	id = protowire.AppendVarint(id, election.High)
	id = protowire.AppendTag(id, 2, protowire.VarintType)
	id = protowire.AppendVarint(id, election.Low)
	h = protowire.AppendTag(h, 3, protowire.BytesType)
	h = protowire.AppendBytes(h, id)
	return &writeEncoder{header: h, req: append([]byte(nil), h...)}
}

func (w *writeEncoder) add(typ p4v1.Update_Type, key, action string) error {
	te, err := w.tableEntry(w.te[:0], key, action)
	if err != nil {
		return err
	}
	w.te = te
	entity := protowire.SizeTag(2) + protowire.SizeBytes(len(te))
	update := protowire.SizeTag(1) + protowire.SizeVarint(uint64(typ)) + protowire.SizeTag(2) + protowire.SizeBytes(entity)
	b := protowire.AppendTag(w.req, 4, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(update))
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(typ))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	b = protowire.AppendVarint(b, uint64(entity))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	w.req = protowire.AppendBytes(b, te)
	w.n++
	return nil
}

// take returns the request built so far and starts a new one.
func (w *writeEncoder) take() []byte {
	r := w.req
	w.req = append(make([]byte, 0, cap(r)), w.header...)
	w.n = 0
	return r
}

// writeRaw sends one encoded WriteRequest.
func (s *Session) writeRaw(ctx context.Context, req []byte) error {
	err := s.conn.Invoke(ctx, "/p4.v1.P4Runtime/Write", &rawMsg{b: req}, &p4v1.WriteResponse{}, grpc.ForceCodec(rawCodec{}))
	if err == nil {
		return nil
	}
	return &WriteError{Device: s.addr, Updates: decodeUpdateErrors(err), Err: err}
}

// WriteSet writes every entry of set as an update of type typ, encoded
// from the set's compact form, in batches with up to o.InFlight RPCs in
// flight. Failed updates are reported by their position in the set's
// iteration order; a failed batch does not stop the others (see bulkWrite
// for the error's contents).
func (s *Session) WriteSet(ctx context.Context, set *EntrySet, typ p4v1.Update_Type, o BulkOptions) error {
	return s.writeIndexed(ctx, set, nil, typ, o)
}

// writeIndexed writes set.vals[i] for i in idx (every entry if idx is nil)
// through bulkWrite, encoding each batch from the compact form; the
// indexes of its *WriteError are positions in idx.
func (s *Session) writeIndexed(ctx context.Context, set *EntrySet, idx []uint32, typ p4v1.Update_Type, o BulkOptions) error {
	total := len(set.vals)
	if idx != nil {
		total = len(idx)
	}
	enc := s.newWriteEncoder()
	return s.bulkWrite(ctx, total, o, func(lo, hi int) (func(context.Context) error, error) {
		for i := lo; i < hi; i++ {
			v := i
			if idx != nil {
				v = int(idx[i])
			}
			if err := enc.add(typ, set.vals[v].key, set.vals[v].action); err != nil {
				return nil, err
			}
		}
		req := enc.take()
		return func(ctx context.Context) error { return s.writeRaw(ctx, req) }, nil
	})
}
