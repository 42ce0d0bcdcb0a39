package pipeline

import (
	"strings"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

func TestPacketMetadata(t *testing.T) {
	p, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	out, ok := p.Info.PacketMetadata("packet_out")
	if !ok {
		t.Fatal("no packet_out header")
	}
	port, _ := out.Field("egress_port")

	md, err := out.EncodeMetadata(map[string]uint64{"egress_port": 3})
	if err != nil {
		t.Fatal(err)
	}
	back, err := out.DecodeMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	if back["egress_port"] != 3 || len(back) != len(out.Fields) {
		t.Errorf("round trip gave %v, want egress_port 3 and every field", back)
	}

	encodeErrs := []struct {
		name   string
		values map[string]uint64
		want   string
	}{
		{"unknown field", map[string]uint64{"egress_port": 1, "vlan": 2}, `no metadata field "vlan"`},
		{"missing field", map[string]uint64{}, `"egress_port" not given`},
		{"wider than the field", map[string]uint64{"egress_port": 512}, "packet_out.egress_port: value 0x0200 needs 10 bits, field is 9 bits wide"},
	}
	for _, c := range encodeErrs {
		t.Run("encode/"+c.name, func(t *testing.T) {
			if _, err := out.EncodeMetadata(c.values); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}

	decodeErrs := []struct {
		name string
		md   []*p4v1.PacketMetadata
		want string
	}{
		{"unknown id", []*p4v1.PacketMetadata{{MetadataId: 99, Value: []byte{1}}}, "unknown metadata id 99"},
		{"twice", []*p4v1.PacketMetadata{{MetadataId: port.ID, Value: []byte{1}}, {MetadataId: port.ID, Value: []byte{2}}}, "egress_port: given twice"},
		{"too wide", []*p4v1.PacketMetadata{{MetadataId: port.ID, Value: []byte{4, 0}}}, "needs 11 bits, field is 9 bits wide"},
	}
	for _, c := range decodeErrs {
		t.Run("decode/"+c.name, func(t *testing.T) {
			if _, err := out.DecodeMetadata(c.md); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	// A target may send a value padded to the byte width.
	if v, err := out.DecodeMetadata([]*p4v1.PacketMetadata{{MetadataId: port.ID, Value: []byte{0, 0, 7}}}); err != nil || v["egress_port"] != 7 {
		t.Errorf("padded value: %v, %v", v, err)
	}
}
