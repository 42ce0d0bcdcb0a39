package p4rtsim

import (
	"fmt"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// simCodec is the server's codec: protobuf, except that a rawFrame is sent
// as the bytes it holds, and that a WriteRequest's table entries are also
// remembered in the form they arrived in, so that storing an entry that is
// already canonical costs a copy instead of a marshal. They are remembered
// by the device the request names (device returns it, or nil when the id
// is unknown), so that the devices of a fleet share no lock.
type simCodec struct{ device func(id uint64) *Server }

func (simCodec) Marshal(v any) ([]byte, error) {
	if f, ok := v.(*rawFrame); ok {
		return f.b, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("p4rtsim codec cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (c simCodec) Unmarshal(data []byte, v any) error {
	m, ok := v.(proto.Message)
	if !ok {
		return fmt.Errorf("p4rtsim codec cannot unmarshal into %T", v)
	}
	if err := proto.Unmarshal(data, m); err != nil {
		return err
	}
	req, ok := v.(*p4v1.WriteRequest)
	if !ok || c.device == nil {
		return nil
	}
	s := c.device(req.GetDeviceId())
	if s == nil {
		return nil
	}
	if raws := rawEntries(data, len(req.GetUpdates())); raws != nil {
		s.rawMu.Lock()
		if s.raw == nil {
			s.raw = map[*p4v1.WriteRequest][][]byte{}
		}
		s.raw[req] = raws
		s.rawMu.Unlock()
	}
	return nil
}

func (simCodec) Name() string { return "proto" }

// takeRaw returns (and forgets) what the codec remembered of req.
func (s *Server) takeRaw(req *p4v1.WriteRequest) [][]byte {
	s.rawMu.Lock()
	defer s.rawMu.Unlock()
	raws, ok := s.raw[req]
	if ok {
		delete(s.raw, req)
	}
	return raws
}

// rawEntries finds, for each update of a WriteRequest's encoding, the
// bytes of its table entry: raws[i] is the encoding updates[i].entity
// .table_entry was decoded from, or nil when that is not one contiguous
// field (an entity or entry split over several occurrences, which protobuf
// merges, or another kind of entity). The slices alias data (gRPC hands
// the V1 codec a buffer of its own for each message): callers copy what
// they keep. n is the number of
// updates the message decoded to; nil is returned if the count differs.
func rawEntries(data []byte, n int) [][]byte {
	raws := make([][]byte, 0, n)
	for len(data) > 0 {
		num, typ, l := protowire.ConsumeTag(data)
		if l < 0 {
			return nil
		}
		data = data[l:]
		l = protowire.ConsumeFieldValue(num, typ, data)
		if l < 0 {
			return nil
		}
		if num == 4 && typ == protowire.BytesType { // WriteRequest.updates
			u, _ := protowire.ConsumeBytes(data[:l])
			raws = append(raws, only(only(u, 2), 2)) // Update.entity, Entity.table_entry
		}
		data = data[l:]
	}
	if len(raws) != n {
		return nil
	}
	return raws
}

// only returns the value of field num of message b when it is a
// length-delimited field that occurs exactly once, no other field of b
// with a number in the same oneof range appears, and b is well formed;
// nil otherwise. (Entity and Update both hold what we want in field 2; the
// other fields either are the oneof's other members or, for Update, the
// varint type, which is skipped.)
func only(b []byte, num protowire.Number) []byte {
	if b == nil {
		return nil
	}
	var v []byte
	found := 0
	for len(b) > 0 {
		n, typ, l := protowire.ConsumeTag(b)
		if l < 0 {
			return nil
		}
		b = b[l:]
		l = protowire.ConsumeFieldValue(n, typ, b)
		if l < 0 {
			return nil
		}
		switch {
		case n == num && typ == protowire.BytesType:
			v, _ = protowire.ConsumeBytes(b[:l])
			found++
		case typ == protowire.BytesType:
			return nil // another oneof member, or something we do not expect
		}
		b = b[l:]
	}
	if found != 1 {
		return nil
	}
	if v == nil {
		v = []byte{}
	}
	return v
}
