package pipeline

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline/bfpb"
)

// TestPackLegacy checks the PI Tofino packing against bytes laid out here
// by hand: "p4ctl" (5 bytes), the binary, the context, each behind a
// little-endian 32-bit length.
func TestPackLegacy(t *testing.T) {
	a := Artifacts{Name: "p4ctl", Profiles: []Profile{{Name: "pipe", Binary: []byte{0xde, 0xad, 0xbe, 0xef}, Context: []byte(`{"c":1}`)}}}
	got, err := a.Pack(FormatLegacy)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{5, 0, 0, 0, 'p', '4', 'c', 't', 'l', 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 7, 0, 0, 0, '{', '"', 'c', '"', ':', '1', '}'}
	if !bytes.Equal(got, want) {
		t.Errorf("legacy packing\n got %v\nwant %v", got, want)
	}
	two := a
	two.Profiles = append(two.Profiles, Profile{Name: "pipe2"})
	if _, err := two.Pack(FormatLegacy); err == nil || !strings.Contains(err.Error(), "one profile, not 2") {
		t.Errorf("two profiles: err = %v", err)
	}
}

// TestPackBfrt checks the BfPipelineConfig packing against a message
// encoded here field by field from its wire format (field 1 p4_name,
// 2 bfruntime_info, 3 profiles {1 profile_name, 2 context, 3 binary,
// 4 pipe_scope packed}), and round-trips it through the generated
// message.
func TestPackBfrt(t *testing.T) {
	a := Artifacts{Name: "p4ctl", BfRt: []byte(`{"b":2}`), Profiles: []Profile{
		{Name: "pipe0", Context: []byte("ctx0"), Binary: []byte("bin0"), PipeScope: []uint32{0, 1}},
		{Name: "pipe1", Context: []byte("ctx1"), Binary: []byte("bin1"), PipeScope: []uint32{2, 3}},
	}}
	got, err := a.Pack(FormatBfrt)
	if err != nil {
		t.Fatal(err)
	}
	field := func(num int, wire byte, body []byte) []byte {
		out := []byte{byte(num<<3) | wire}
		out = binary.AppendUvarint(out, uint64(len(body)))
		return append(out, body...)
	}
	profile := func(name, ctx, bin string, scope ...byte) []byte {
		var p []byte
		p = append(p, field(1, 2, []byte(name))...)
		p = append(p, field(2, 2, []byte(ctx))...)
		p = append(p, field(3, 2, []byte(bin))...)
		p = append(p, field(4, 2, scope)...) // packed varints; each < 128
		return p
	}
	var want []byte
	want = append(want, field(1, 2, []byte("p4ctl"))...)
	want = append(want, field(2, 2, []byte(`{"b":2}`))...)
	want = append(want, field(3, 2, profile("pipe0", "ctx0", "bin0", 0, 1))...)
	want = append(want, field(3, 2, profile("pipe1", "ctx1", "bin1", 2, 3))...)
	if !bytes.Equal(got, want) {
		t.Errorf("bfrt packing\n got %x\nwant %x", got, want)
	}
	var m bfpb.BfPipelineConfig
	if err := proto.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if m.GetP4Name() != "p4ctl" || len(m.GetProfiles()) != 2 || m.GetProfiles()[1].GetPipeScope()[1] != 3 || string(m.GetProfiles()[0].GetBinary()) != "bin0" {
		t.Errorf("round trip: %v", &m)
	}
	back, err := UnpackBfrt(got)
	if err != nil || back.Name != a.Name || string(back.Profiles[1].Context) != "ctx1" {
		t.Errorf("unpack: %+v, %v", back, err)
	}
	for _, bad := range []Artifacts{{BfRt: a.BfRt, Profiles: a.Profiles}, {Name: "x", Profiles: a.Profiles}, {Name: "x", BfRt: a.BfRt}} {
		if _, err := bad.Pack(FormatBfrt); err == nil {
			t.Errorf("%+v packed", bad)
		}
	}
	if _, err := a.Pack("tar"); err == nil || !strings.Contains(err.Error(), `unknown format "tar"`) {
		t.Errorf("unknown format: err = %v", err)
	}
}
