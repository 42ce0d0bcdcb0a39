package pipeline

import (
	"fmt"
	"strings"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// Controller packet metadata (the packet_in and packet_out headers that
// P4Info declares) as named values, checked against the declared widths.

// EncodeMetadata returns the metadata of a packet-out or packet-in with the
// given field values by name. Every field must be given except padding
// (fields whose name starts with "_"), which is sent as zero; an unknown
// name or a value wider than its field is an error naming the field.
func (m *PacketMetadata) EncodeMetadata(values map[string]uint64) ([]*p4v1.PacketMetadata, error) {
	for name := range values {
		if _, ok := m.fieldByName[name]; !ok {
			return nil, fmt.Errorf("%s: no metadata field %q (fields: %s)", m.Name, name, m.fieldNames())
		}
	}
	out := make([]*p4v1.PacketMetadata, 0, len(m.Fields))
	for _, f := range m.Fields {
		v, ok := values[f.Name]
		if !ok && !strings.HasPrefix(f.Name, "_") {
			return nil, fmt.Errorf("%s: metadata field %q not given", m.Name, f.Name)
		}
		b, err := Encode(Uint(v), f.Bitwidth)
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", m.Name, f.Name, err)
		}
		out = append(out, &p4v1.PacketMetadata{MetadataId: f.ID, Value: b})
	}
	return out, nil
}

// DecodeMetadata returns the field values of a packet's metadata by name.
// An unknown id, a field given twice, a value wider than its field or
// wider than 64 bits is an error; fields the target left out are absent
// from the map.
func (m *PacketMetadata) DecodeMetadata(md []*p4v1.PacketMetadata) (map[string]uint64, error) {
	out := make(map[string]uint64, len(md))
	for _, x := range md {
		f, ok := m.fieldByID[x.GetMetadataId()]
		if !ok {
			return nil, fmt.Errorf("%s: unknown metadata id %d", m.Name, x.GetMetadataId())
		}
		if _, dup := out[f.Name]; dup {
			return nil, fmt.Errorf("%s.%s: given twice", m.Name, f.Name)
		}
		if n := BitLen(x.GetValue()); n > int(f.Bitwidth) {
			return nil, fmt.Errorf("%s.%s: value 0x%x needs %d bits, field is %d bits wide", m.Name, f.Name, x.GetValue(), n, f.Bitwidth)
		}
		v, err := ToUint64(x.GetValue())
		if err != nil {
			return nil, fmt.Errorf("%s.%s: %w", m.Name, f.Name, err)
		}
		out[f.Name] = v
	}
	return out, nil
}

func (m *PacketMetadata) fieldNames() string {
	names := make([]string, len(m.Fields))
	for i, f := range m.Fields {
		names[i] = f.Name
	}
	return strings.Join(names, ", ")
}
