package pipeline

import (
	"bytes"
	"testing"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/protobuf/proto"
)

func denialDigest(t testing.TB) *Digest {
	t.Helper()
	p, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	d, ok := p.Info.Digest("denial_t")
	if !ok {
		t.Fatal("the bmv2 pipeline has no denial_t digest")
	}
	if got, ok := p.Info.DigestByID(d.ID); !ok || got != d {
		t.Fatal("DigestByID does not find it")
	}
	return d
}

// TestDigestRoundTrip: what Encode writes Decode reads back, canonical;
// values wider than their member and unknown members are refused.
func TestDigestRoundTrip(t *testing.T) {
	d := denialDigest(t)
	want := map[string][]byte{"segment": {0x0a}, "src_addr": bytes.Repeat([]byte{0xff}, 16), "l4_dst": {0x15, 0x38}, "ip_version": {4}}
	data, err := d.Encode(map[string][]byte{"segment": {0, 0x0a}, "src_addr": want["src_addr"], "l4_dst": want["l4_dst"], "ip_version": {4}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := d.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range want {
		if !bytes.Equal(got[k], v) {
			t.Errorf("%s = %x, want %x", k, got[k], v)
		}
	}
	if !bytes.Equal(got["rank"], []byte{0}) {
		t.Errorf("a member not given is %x, want zero", got["rank"])
	}
	for name, vals := range map[string]map[string][]byte{
		"wider than the member": {"segment": {1, 0, 0}},
		"no such member":        {"nope": {1}},
	} {
		if _, err := d.Encode(vals); err == nil {
			t.Errorf("%s: encoded", name)
		}
	}
	// A report from a device that does not match the digest.
	short := &p4v1.P4Data{Data: &p4v1.P4Data_Struct{Struct: &p4v1.P4StructLike{Members: data.GetStruct().GetMembers()[:3]}}}
	if _, err := d.Decode(short); err == nil {
		t.Error("a struct with too few members decoded")
	}
	if _, err := d.Decode(&p4v1.P4Data{Data: &p4v1.P4Data_Bitstring{Bitstring: []byte{1}}}); err == nil {
		t.Error("a bitstring decoded as a struct")
	}
}

// FuzzDigestDecode: whatever a device sends, Decode returns values that
// fit their members or an error, and never panics.
func FuzzDigestDecode(f *testing.F) {
	d := denialDigest(f)
	seed, _ := d.Encode(map[string][]byte{"segment": {10}, "ip_version": {6}})
	b, _ := proto.Marshal(seed)
	f.Add(b)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		var data p4v1.P4Data
		if proto.Unmarshal(b, &data) != nil {
			return
		}
		vals, err := d.Decode(&data)
		if err != nil {
			return
		}
		for _, m := range d.Members {
			if v, ok := vals[m.Name]; !ok || BitLen(v) > int(m.Bitwidth) {
				t.Fatalf("member %s: %x (present %v) does not fit %d bits", m.Name, v, ok, m.Bitwidth)
			}
		}
	})
}
