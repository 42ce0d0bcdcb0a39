package p4rt

import (
	"context"
	"errors"
	"fmt"
	"io"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Reading a million entries as protobuf messages costs about fifteen
// allocations per entry and dominates a no-op reconcile. ReadKeys asks
// for the same ReadResponses but keeps them as wire bytes and parses each
// table entry straight into its EntryKey and ActionKey bytes, allocating
// nothing per entry.

// rawCodec passes rawMsg values through as wire bytes in both directions
// and treats everything else as protobuf.
type rawCodec struct{}

type rawMsg struct{ b []byte }

func (rawCodec) Marshal(v any) ([]byte, error) {
	if r, ok := v.(*rawMsg); ok {
		return r.b, nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("raw codec cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (rawCodec) Unmarshal(data []byte, v any) error {
	switch r := v.(type) {
	case *rawMsg:
		r.b = append(r.b[:0], data...)
		return nil
	case proto.Message:
		return proto.Unmarshal(data, r)
	}
	return fmt.Errorf("raw codec cannot unmarshal into %T", v)
}

func (rawCodec) Name() string { return "proto" }

var readDesc = &grpc.StreamDesc{StreamName: "Read", ServerStreams: true}

// ReadKeys reads every entry of the given tables and calls fn with each
// entry's key and action in the canonical encodings of pipeline.EntryKey
// and pipeline.ActionKey. The slices are only valid during the call.
func (s *Session) ReadKeys(ctx context.Context, tableIDs []uint32, fn func(key, action []byte) error) error {
	req := &p4v1.ReadRequest{DeviceId: s.deviceID, Role: s.role}
	for _, id := range tableIDs {
		req.Entities = append(req.Entities, &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: id}}})
	}
	return s.readRaw(ctx, req, false, func(p *keyParser) error { return fn(p.key, p.action) })
}

// ReadCounters reads the direct counter of every entry of the given
// tables (each must have one) and calls fn with the entry's key, in the
// encoding of pipeline.EntryKey, and its packet and byte counts. Like
// ReadKeys it parses the wire bytes and allocates nothing per entry; the
// key is only valid during the call. An entry the device returns without
// counter data is an error naming its table.
func (s *Session) ReadCounters(ctx context.Context, tableIDs []uint32, fn func(key []byte, packets, bytes int64) error) error {
	req := &p4v1.ReadRequest{DeviceId: s.deviceID, Role: s.role}
	for _, id := range tableIDs {
		req.Entities = append(req.Entities, &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: &p4v1.TableEntry{TableId: id, CounterData: &p4v1.CounterData{}}}})
	}
	return s.readRaw(ctx, req, true, func(p *keyParser) error {
		if !p.hasCounter {
			return fmt.Errorf("an entry of table %d came without counter data", pipeline.KeyTableID(p.key))
		}
		return fn(p.key, p.packets, p.bytes)
	})
}

// readRaw sends req and calls fn with the parser positioned on each table
// entry of the responses; with skipAction, the entries' actions are not
// parsed.
func (s *Session) readRaw(ctx context.Context, req *p4v1.ReadRequest, skipAction bool, fn func(p *keyParser) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	st, err := s.conn.NewStream(ctx, readDesc, "/p4.v1.P4Runtime/Read", grpc.ForceCodec(rawCodec{}))
	if err != nil {
		return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
	}
	if err := st.SendMsg(req); err != nil {
		return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
	}
	if err := st.CloseSend(); err != nil {
		return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
	}
	p := keyParser{skipAction: skipAction}
	var m rawMsg
	for {
		err := st.RecvMsg(&m)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
		}
		if err := p.response(m.b, func(_, _ []byte) error { return fn(&p) }); err != nil {
			return fmt.Errorf("p4rt %s: read: %w", s.addr, err)
		}
	}
}

type rawMatch struct {
	id     uint32
	tag    pipeline.MatchTag
	v1, v2 []byte
	plen   int32
}

type rawParam struct {
	id uint32
	v  []byte
}

// keyParser turns wire-format table entries into key and action bytes
// through pipeline.KeyWriter and pipeline.ActionWriter, reusing its
// buffers from entry to entry.
type keyParser struct {
	matches []rawMatch
	params  []rawParam
	kw      pipeline.KeyWriter
	aw      pipeline.ActionWriter
	key     []byte
	action  []byte
	te      []byte
	// skipAction leaves the action unparsed (action stays empty): counter
	// reads need the key and the counts alone.
	skipAction bool
	// The entry's counter_data, when it has one.
	hasCounter     bool
	packets, bytes int64
}

var errWire = errors.New("malformed ReadResponse")

// fields walks the fields of one message, calling f with each field's
// number, type and value (the varint, or the bytes of a length-delimited
// field).
func fields(b []byte, f func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return errWire
		}
		b = b[n:]
		var v uint64
		var bs []byte
		switch typ {
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		case protowire.BytesType:
			bs, n = protowire.ConsumeBytes(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return errWire
		}
		b = b[n:]
		if err := f(num, typ, v, bs); err != nil {
			return err
		}
	}
	return nil
}

func (p *keyParser) response(b []byte, fn func(key, action []byte) error) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, _ uint64, entity []byte) error {
		if num != 1 || typ != protowire.BytesType {
			return nil
		}
		// Protobuf merges repeated occurrences of a message field, which is
		// the same as parsing their concatenation; another member of the
		// Entity oneof clears the table entry. The one occurrence there
		// almost always is, is parsed where it lies.
		var first []byte
		occurrences := 0
		err := fields(entity, func(num protowire.Number, typ protowire.Type, _ uint64, te []byte) error {
			if typ != protowire.BytesType || num < 1 || num > 12 {
				return nil
			}
			if num != 2 {
				occurrences = 0
				return nil
			}
			occurrences++
			switch occurrences {
			case 1:
				first = te
			case 2:
				p.te = append(append(p.te[:0], first...), te...)
			default:
				p.te = append(p.te, te...)
			}
			return nil
		})
		if err != nil || occurrences == 0 {
			return err
		}
		te := first
		if occurrences > 1 {
			te = p.te
		}
		if err := p.entry(te); err != nil {
			return err
		}
		return fn(p.key, p.action)
	})
}

func (p *keyParser) entry(b []byte) error {
	p.matches, p.params = p.matches[:0], p.params[:0]
	p.hasCounter, p.packets, p.bytes = false, 0, 0
	var table, prio uint32
	var isDefault, hasAction bool
	var actionID uint32
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		switch {
		case num == 1 && typ == protowire.VarintType:
			table = uint32(v)
		case num == 2 && typ == protowire.BytesType:
			return p.match(bs)
		case num == 3 && typ == protowire.BytesType:
			if p.skipAction {
				return nil
			}
			return fields(bs, func(num protowire.Number, typ protowire.Type, _ uint64, act []byte) error {
				switch {
				case num == 1 && typ == protowire.BytesType: // the direct action
				case (num == 2 || num == 3) && typ == protowire.VarintType, num == 4 && typ == protowire.BytesType:
					// Another member of the TableAction oneof (action
					// profiles) replaces a direct action.
					hasAction, actionID, p.params = false, 0, p.params[:0]
					return nil
				default:
					// Unknown, or a known field with the wrong wire type:
					// protobuf keeps it as an unknown field.
					return nil
				}
				if !hasAction {
					actionID, p.params = 0, p.params[:0]
				}
				hasAction = true
				return fields(act, func(num protowire.Number, typ protowire.Type, v uint64, prm []byte) error {
					switch {
					case num == 1 && typ == protowire.VarintType:
						actionID = uint32(v)
					case num == 4 && typ == protowire.BytesType:
						var q rawParam
						err := fields(prm, func(num protowire.Number, typ protowire.Type, v uint64, val []byte) error {
							switch {
							case num == 2 && typ == protowire.VarintType:
								q.id = uint32(v)
							case num == 3 && typ == protowire.BytesType:
								q.v = val
							}
							return nil
						})
						p.params = append(p.params, q)
						return err
					}
					return nil
				})
			})
		case num == 4 && typ == protowire.VarintType:
			prio = uint32(v)
		case num == 8 && typ == protowire.VarintType:
			isDefault = v != 0
		case num == 7 && typ == protowire.BytesType: // counter_data
			p.hasCounter = true
			return fields(bs, func(num protowire.Number, typ protowire.Type, v uint64, _ []byte) error {
				switch {
				case num == 1 && typ == protowire.VarintType:
					p.bytes = int64(v)
				case num == 2 && typ == protowire.VarintType:
					p.packets = int64(v)
				}
				return nil
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	// The key and action, byte for byte as pipeline.EntryKey and
	// pipeline.ActionKey build them.
	p.kw.Begin(table, int32(prio), isDefault)
	for _, m := range p.matches {
		switch m.tag {
		case pipeline.TagExact:
			p.kw.Exact(m.id, m.v1)
		case pipeline.TagLPM:
			p.kw.LPM(m.id, m.v1, m.plen)
		case pipeline.TagTernary:
			p.kw.Ternary(m.id, m.v1, m.v2)
		case pipeline.TagRange:
			p.kw.Range(m.id, m.v1, m.v2)
		case pipeline.TagOptional:
			p.kw.Optional(m.id, m.v1)
		case pipeline.TagOther:
			p.kw.Other(m.id, m.v1, m.v2)
		default:
			p.kw.Unset(m.id)
		}
	}
	p.key = p.kw.Bytes()
	p.action = p.action[:0]
	if hasAction {
		p.aw.Begin(actionID)
		for _, q := range p.params {
			p.aw.Param(q.id, q.v)
		}
		p.action = p.aw.Bytes()
	}
	return nil
}

func (p *keyParser) match(b []byte) error {
	var m rawMatch
	err := fields(b, func(num protowire.Number, typ protowire.Type, v uint64, bs []byte) error {
		if num == 1 && typ == protowire.VarintType {
			m.id = uint32(v)
			return nil
		}
		if typ != protowire.BytesType {
			return nil
		}
		var tag pipeline.MatchTag
		switch num {
		case 2:
			tag = pipeline.TagExact
		case 3:
			tag = pipeline.TagTernary
		case 4:
			tag = pipeline.TagLPM
		case 6:
			tag = pipeline.TagRange
		case 7:
			tag = pipeline.TagOptional
		case 100:
			tag = pipeline.TagOther // a google.protobuf.Any: type_url, value
		default:
			return nil
		}
		if tag != m.tag { // a new oneof member starts empty; the same one merges
			m = rawMatch{id: m.id, tag: tag}
		}
		return fields(bs, func(num protowire.Number, typ protowire.Type, v uint64, val []byte) error {
			switch {
			case num == 1 && typ == protowire.BytesType:
				m.v1 = val
			case num == 2 && typ == protowire.BytesType:
				m.v2 = val
			case num == 2 && typ == protowire.VarintType && tag == pipeline.TagLPM:
				m.plen = int32(v)
			}
			return nil
		})
	})
	if m.tag == 0 {
		m.tag = pipeline.TagUnset // no match type set
	}
	p.matches = append(p.matches, m)
	return err
}
