package pipeline

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline/bfpb"
)

// TestPackLegacy checks the PI Tofino packing against bytes laid out here
// by hand: "p4ctl" (5 bytes), the binary, the context, each behind a
// little-endian 32-bit length; then the pipeline's name and bfrt.json, or,
// without a bfrt.json, a zero length for the name.
func TestPackLegacy(t *testing.T) {
	a := Artifacts{Name: "p4ctl", Profiles: []Profile{{Name: "pipe", Binary: []byte{0xde, 0xad, 0xbe, 0xef}, Context: []byte(`{"c":1}`)}}}
	got, err := a.Pack(FormatLegacy)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{5, 0, 0, 0, 'p', '4', 'c', 't', 'l', 4, 0, 0, 0, 0xde, 0xad, 0xbe, 0xef, 7, 0, 0, 0, '{', '"', 'c', '"', ':', '1', '}', 0, 0, 0, 0}
	if !bytes.Equal(got, want) {
		t.Errorf("legacy packing without bfrt.json\n got %v\nwant %v", got, want)
	}
	a.BfRt = []byte(`{}`)
	got, err = a.Pack(FormatLegacy)
	if err != nil {
		t.Fatal(err)
	}
	want = append(want[:len(want)-4], 4, 0, 0, 0, 'p', 'i', 'p', 'e', 2, 0, 0, 0, '{', '}')
	if !bytes.Equal(got, want) {
		t.Errorf("legacy packing with bfrt.json\n got %v\nwant %v", got, want)
	}
	two := a
	two.Profiles = append(two.Profiles, Profile{Name: "pipe2"})
	if _, err := two.Pack(FormatLegacy); err == nil || !strings.Contains(err.Error(), "one profile, not 2") {
		t.Errorf("two profiles: err = %v", err)
	}
	long := a
	long.Name = strings.Repeat("x", 101)
	if _, err := long.Pack(FormatLegacy); err == nil || !strings.Contains(err.Error(), "at most 100 bytes") {
		t.Errorf("a 101-byte name: err = %v", err)
	}
}

// piDeviceData is what bf_switchd's PI implementation reads from a legacy
// device config, step by step as open-p4studio's pi_imp.c
// (_pi_update_device_start) reads it: a 32-bit length copied from the
// bytes in the host's order (x86: little-endian) before each part, the
// program name at most 100 bytes, then tofino.bin and context.json, then
// the pipeline name's length; when it is not 0, the name (at most 100)
// and bfrt.json. It fails where that code would read past the end.
type piDeviceData struct {
	name, bin, context, pipeline, bfrt []byte
}

func readPIDeviceData(b []byte) (piDeviceData, error) {
	var d piDeviceData
	off := 0
	chunk := func(limit int) ([]byte, error) {
		if off+4 > len(b) {
			return nil, fmt.Errorf("a length at %d runs past the end (%d bytes)", off, len(b))
		}
		n := int(b[off]) | int(b[off+1])<<8 | int(b[off+2])<<16 | int(b[off+3])<<24
		off += 4
		if limit > 0 && n > limit {
			return nil, fmt.Errorf("a name of %d bytes at %d (at most %d)", n, off, limit)
		}
		if off+n > len(b) {
			return nil, fmt.Errorf("a part of %d bytes at %d runs past the end (%d bytes)", n, off, len(b))
		}
		part := b[off : off+n]
		off += n
		return part, nil
	}
	var err error
	if d.name, err = chunk(100); err != nil {
		return d, err
	}
	if d.bin, err = chunk(0); err != nil {
		return d, err
	}
	if d.context, err = chunk(0); err != nil {
		return d, err
	}
	if d.pipeline, err = chunk(100); err != nil {
		return d, err
	}
	if len(d.pipeline) > 0 {
		if d.bfrt, err = chunk(0); err != nil {
			return d, err
		}
	}
	if off != len(b) {
		return d, fmt.Errorf("%d bytes after the last part", len(b)-off)
	}
	return d, nil
}

// TestPackEmbeddedTofino packs the embedded Tofino builds in both formats
// and checks them against the committed files, read here from disk: the
// legacy config byte for byte against a packing done here with
// encoding/binary, and as PI's reader takes it apart; the bfrt config
// field by field.
func TestPackEmbeddedTofino(t *testing.T) {
	root := repoRoot(t)
	for _, tc := range []struct{ target, arch, bin string }{
		{"tofino", "tna", "tofino.bin"},
		{"tofino2", "t2na", "tofino2.bin"},
	} {
		t.Run(tc.target, func(t *testing.T) {
			read := func(f string) []byte {
				b, err := readArtifact(filepath.Join(root, "p4src", "build", tc.arch, f))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			bin, ctx, bfrt := read("pipe/"+tc.bin), read("pipe/context.json"), read("bfrt.json")
			if len(bin) == 0 || len(ctx) == 0 || len(bfrt) == 0 {
				t.Fatal("an empty artifact")
			}
			r, err := NewResolver(nil, map[string]string{tc.target: FormatLegacy})
			if err != nil {
				t.Fatal(err)
			}
			legacy, err := r.Pipeline(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if err := legacy.Pushable(); err != nil || legacy.Format != FormatLegacy {
				t.Fatalf("legacy: format %s, %v", legacy.Format, err)
			}
			var want bytes.Buffer
			for _, part := range [][]byte{[]byte("p4ctl"), bin, ctx, []byte("pipe"), bfrt} {
				if err := binary.Write(&want, binary.LittleEndian, uint32(len(part))); err != nil {
					t.Fatal(err)
				}
				want.Write(part)
			}
			if !bytes.Equal(legacy.DeviceConfig, want.Bytes()) {
				t.Errorf("legacy config of %d bytes differs from the %d packed here", len(legacy.DeviceConfig), want.Len())
			}
			d, err := readPIDeviceData(legacy.DeviceConfig)
			if err != nil {
				t.Fatalf("PI's reader: %v", err)
			}
			if string(d.name) != "p4ctl" || !bytes.Equal(d.bin, bin) || !bytes.Equal(d.context, ctx) || string(d.pipeline) != "pipe" || !bytes.Equal(d.bfrt, bfrt) {
				t.Errorf("PI reads name %q, %d binary bytes, %d context bytes, pipeline %q, %d bfrt bytes", d.name, len(d.bin), len(d.context), d.pipeline, len(d.bfrt))
			}

			p, err := Embedded(tc.target)
			if err != nil {
				t.Fatal(err)
			}
			if p.Format != FormatBfrt || p.Pushable() != nil {
				t.Fatalf("default: format %s, %v", p.Format, p.Pushable())
			}
			var m bfpb.BfPipelineConfig
			if err := proto.Unmarshal(p.DeviceConfig, &m); err != nil {
				t.Fatal(err)
			}
			if m.GetP4Name() != "p4ctl" || !bytes.Equal(m.GetBfruntimeInfo(), bfrt) || len(m.GetProfiles()) != 1 {
				t.Fatalf("bfrt config: name %q, %d profiles", m.GetP4Name(), len(m.GetProfiles()))
			}
			pr := m.GetProfiles()[0]
			if pr.GetProfileName() != "pipe" || !bytes.Equal(pr.GetBinary(), bin) || !bytes.Equal(pr.GetContext(), ctx) || len(pr.GetPipeScope()) != 0 {
				t.Errorf("bfrt profile %q: %d binary bytes, %d context bytes, scope %v", pr.GetProfileName(), len(pr.GetBinary()), len(pr.GetContext()), pr.GetPipeScope())
			}
			if p.Cookie == legacy.Cookie {
				t.Error("the two formats share a cookie")
			}
		})
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
