package swx

import (
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestNarrowEmbedded: the embedded PNA build's metadata is more than DPDK
// 22.11 addresses until the widened one-bit fields are narrowed.
func TestNarrowEmbedded(t *testing.T) {
	p, err := pipeline.Embedded("dpdk")
	if err != nil {
		t.Fatal(err)
	}
	a, err := pipeline.UnpackBfrt(p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := parseSpec(a.Profiles[0].Binary)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkMetadata(raw); err == nil {
		t.Logf("the raw spec's metadata (%d bytes) fits already", raw.metaBytes())
	}
	prog, err := Parse(p.Info, p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("metadata %d -> %d bytes, narrowed %v", raw.metaBytes(), prog.spec.metaBytes(), prog.Narrowed)
	for _, must := range []string{"local_metadata_egress_port", "local_metadata_ingress_port", "local_metadata_frame_len", "table_entry_index"} {
		for _, n := range prog.Narrowed {
			if n == must {
				t.Errorf("%s narrowed: it holds values above 255", n)
			}
		}
	}
}
