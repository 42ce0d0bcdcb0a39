package p4rt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
)

// The write side of the compact path: WriteRequests are encoded straight
// from EntrySet bytes with protowire, never as protobuf messages.

func be32(s string) uint32 {
	return uint32(s[0])<<24 | uint32(s[1])<<16 | uint32(s[2])<<8 | uint32(s[3])
}

// tableEntry appends to b the wire form of the table entry whose EntryKey
// and ActionKey are key and action (the layouts pipeline.EntryKey and
// pipeline.ActionKey write), using the encoder's scratch buffers.
func (w *writeEncoder) tableEntry(b []byte, key, action string) ([]byte, error) {
	if len(key) < 8 {
		return nil, fmt.Errorf("entry key of %d bytes is too short", len(key))
	}
	table := be32(key[:4])
	prio := be32(key[4:8])
	k := key[8:]
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(table))
	if len(k) > 0 && k[0] == 'D' {
		b = protowire.AppendTag(b, 8, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
		k = k[1:]
	}
	value := func() (string, bool) {
		if len(k) < 1 || len(k) < 1+int(k[0]) {
			return "", false
		}
		v := k[1 : 1+int(k[0])]
		k = k[1+int(k[0]):]
		return v, true
	}
	for len(k) > 0 {
		if len(k) < 5 {
			return nil, fmt.Errorf("truncated match in entry key")
		}
		id := be32(k[:4])
		tag := k[4]
		k = k[5:]
		var num protowire.Number
		inner := w.inner[:0]
		switch tag {
		case 'e', 'o', 'l':
			v, ok := value()
			if !ok {
				return nil, fmt.Errorf("truncated value in entry key")
			}
			inner = protowire.AppendTag(inner, 1, protowire.BytesType)
			inner = protowire.AppendString(inner, v)
			switch tag {
			case 'e':
				num = 2
			case 'o':
				num = 7
			case 'l':
				num = 4
				if len(k) < 4 {
					return nil, fmt.Errorf("truncated prefix length in entry key")
				}
				inner = protowire.AppendTag(inner, 2, protowire.VarintType)
				inner = protowire.AppendVarint(inner, uint64(int64(int32(be32(k[:4])))))
				k = k[4:]
			}
		case 't', 'r':
			v1, ok1 := value()
			v2, ok2 := value()
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("truncated value in entry key")
			}
			inner = protowire.AppendTag(inner, 1, protowire.BytesType)
			inner = protowire.AppendString(inner, v1)
			inner = protowire.AppendTag(inner, 2, protowire.BytesType)
			inner = protowire.AppendString(inner, v2)
			num = 3
			if tag == 'r' {
				num = 6
			}
		default:
			return nil, fmt.Errorf("match tag %q cannot be written", tag)
		}
		fm := protowire.SizeTag(1) + protowire.SizeVarint(uint64(id)) + protowire.SizeTag(num) + protowire.SizeBytes(len(inner))
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendVarint(b, uint64(fm))
		b = protowire.AppendTag(b, 1, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(id))
		b = protowire.AppendTag(b, num, protowire.BytesType)
		b = protowire.AppendBytes(b, inner)
		w.inner = inner
	}
	if len(action) >= 4 {
		a := action[4:]
		act := protowire.AppendTag(w.act[:0], 1, protowire.VarintType)
		act = protowire.AppendVarint(act, uint64(be32(action[:4])))
		for len(a) > 0 {
			if len(a) < 5 || len(a) < 5+int(a[4]) {
				return nil, fmt.Errorf("truncated param in action key")
			}
			id, v := be32(a[:4]), a[5:5+int(a[4])]
			a = a[5+int(a[4]):]
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
	if prio != 0 {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, uint64(int64(int32(prio))))
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
	id = protowire.AppendVarint(id, s.election.High)
	id = protowire.AppendTag(id, 2, protowire.VarintType)
	id = protowire.AppendVarint(id, s.election.Low)
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
// iteration order; a failed batch does not stop the others.
func (s *Session) WriteSet(ctx context.Context, set *EntrySet, typ p4v1.Update_Type, o BulkOptions) error {
	return s.writeIndexed(ctx, set, nil, typ, o)
}

// writeIndexed writes set.vals[i] for i in idx (every entry if idx is nil).
func (s *Session) writeIndexed(ctx context.Context, set *EntrySet, idx []uint32, typ p4v1.Update_Type, o BulkOptions) error {
	o = o.withDefaults()
	total := len(set.vals)
	if idx != nil {
		total = len(idx)
	}
	type job struct {
		base, n int
		req     []byte
	}
	jobs := make(chan job)
	var (
		mu  sync.Mutex
		agg *WriteError
		wg  sync.WaitGroup
	)
	for w := 0; w < o.InFlight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				err := s.writeRaw(ctx, j.req)
				if o.OnBatch != nil {
					o.OnBatch(j.n)
				}
				if err == nil {
					continue
				}
				mu.Lock()
				if agg == nil {
					agg = &WriteError{Device: s.addr, Err: err}
				}
				var we *WriteError
				if errors.As(err, &we) && len(we.Updates) > 0 {
					for _, u := range we.Updates {
						u.Index += j.base
						agg.Updates = append(agg.Updates, u)
					}
				} else {
					agg.Err = err
				}
				mu.Unlock()
			}
		}()
	}
	enc := s.newWriteEncoder()
	base := 0
	var encErr error
	for i := 0; i < total; i++ {
		v := i
		if idx != nil {
			v = int(idx[i])
		}
		if encErr = enc.add(typ, set.vals[v].key, set.vals[v].action); encErr != nil {
			break
		}
		if enc.n == o.BatchSize || i == total-1 {
			n := enc.n
			select {
			case jobs <- job{base, n, enc.take()}:
			case <-ctx.Done():
				encErr = ctx.Err()
			}
			base += n
			if encErr != nil {
				break
			}
		}
	}
	close(jobs)
	wg.Wait()
	if encErr != nil {
		return fmt.Errorf("p4rt %s: write: %w", s.addr, encErr)
	}
	if agg == nil {
		return nil
	}
	return agg
}
