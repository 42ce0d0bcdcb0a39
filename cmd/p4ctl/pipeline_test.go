package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p4ctl/p4ctl/p4src"
)

// TestPipelinePack: pack writes BMv2's JSON as embedded, a Tofino build
// given as a directory in the legacy layout, and refuses a target whose
// build does not exist, naming the compiler.
func TestPipelinePack(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "bmv2.bin")
	if _, err := run(t, "pipeline", "pack", "--target", "bmv2", "-O", out); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(out)
	want, _ := fs.ReadFile(p4src.Build, "build/v1model/bmv2.json")
	if !bytes.Equal(got, want) {
		t.Errorf("bmv2 pack: %d bytes, want the embedded bmv2.json (%d bytes)", len(got), len(want))
	}
	// - is standard output (the log line goes to standard error, which
	// run captures too: the JSON comes first).
	stdout, err := run(t, "pipeline", "pack", "--target", "bmv2", "-O", "-")
	if err != nil || !strings.HasPrefix(stdout, string(want)) {
		t.Errorf("pack -O -: %v, %d bytes out, want the embedded bmv2.json first", err, len(stdout))
	}
	if _, err := os.Stat("-"); err == nil {
		os.Remove("-")
		t.Error("pack -O - wrote a file named -")
	}
	// The old -o still names the file, with a deprecation notice.
	if _, err := run(t, "pipeline", "pack", "--target", "bmv2", "-o", out+".old"); err != nil {
		t.Errorf("pack -o: %v", err)
	}

	build := filepath.Join(dir, "tna")
	if err := os.MkdirAll(filepath.Join(build, "pipe"), 0o755); err != nil {
		t.Fatal(err)
	}
	info, _ := fs.ReadFile(p4src.Build, "build/v1model/p4info.txtpb")
	writeFile(t, filepath.Join(build, "p4info.txtpb"), string(info))
	writeFile(t, filepath.Join(build, "bfrt.json"), "{}")
	writeFile(t, filepath.Join(build, "pipe", "context.json"), "CTX")
	writeFile(t, filepath.Join(build, "pipe", "tofino.bin"), "BIN!")
	legacy := filepath.Join(dir, "tofino.bin")
	if _, err := run(t, "pipeline", "pack", "--target", "tofino", "--pipeline-dir", build, "--format", "legacy", "-o", legacy); err != nil {
		t.Fatal(err)
	}
	got, _ = os.ReadFile(legacy)
	var exp []byte
	// bf_switchd's layout, then the pipeline's name and its bfrt.json.
	for _, part := range []string{"p4ctl", "BIN!", "CTX", "pipe", "{}"} {
		exp = binary.LittleEndian.AppendUint32(exp, uint32(len(part)))
		exp = append(exp, part...)
	}
	if !bytes.Equal(got, exp) {
		t.Errorf("legacy pack %q, want %q", got, exp)
	}

	// Tofino 2 from the embedded build: the legacy layout starts with the
	// program's name and the binary's length.
	t2 := filepath.Join(dir, "tofino2.bin")
	if _, err := run(t, "pipeline", "pack", "--target", "tofino2", "--format", "legacy", "-o", t2); err != nil {
		t.Fatalf("tofino2 from the embedded build: %v", err)
	}
	if got, _ := os.ReadFile(t2); len(got) < 1<<20 || !bytes.HasPrefix(got, []byte("\x05\x00\x00\x00p4ctl")) {
		t.Errorf("tofino2 legacy pack: %d bytes, starts %q", len(got), got[:min(len(got), 16)])
	}
	if _, err := run(t, "pipeline", "pack", "--target", "tofino2", "--pipeline-dir", filepath.Join(dir, "none"), "-o", filepath.Join(dir, "x")); err == nil || !strings.Contains(err.Error(), "none") {
		t.Errorf("tofino2 from a missing build directory: err = %v", err)
	}
	if _, err := run(t, "pipeline", "pack", "--target", "bmv2"); err == nil || !strings.Contains(err.Error(), "--output-file (-O)") {
		t.Errorf("no output file: err = %v", err)
	}
	if _, err := run(t, "pipeline", "pack", "--target", "tofino", "--format", "zip", "-o", filepath.Join(dir, "y")); err == nil || !strings.Contains(err.Error(), `not "zip"`) {
		t.Errorf("unknown format: err = %v", err)
	}
}

// TestPipelineInfoProfile: info shows the target's profile: its build,
// formats, limits and, for hardware, the memory its tables reserve.
func TestPipelineInfoProfile(t *testing.T) {
	js, err := run(t, "pipeline", "info", "--target", "tofino", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var s pipelineSummaryJSON
	if err := json.Unmarshal([]byte(js), &s); err != nil {
		t.Fatal(err)
	}
	p := s.Profile
	if p.Name != "tofino" || p.Arch != "tna" || p.CPUPort != 320 || len(p.Formats) != 2 || p.Fit == nil || p.Fit.Err() != nil {
		t.Errorf("tofino profile %+v", p)
	}
	for _, tb := range s.Tables {
		if tb.Name == "ingress.policy_port" && tb.Size != 65536 {
			t.Errorf("tofino policy_port size %d", tb.Size)
		}
	}
	text, err := run(t, "pipeline", "info", "--target", "dpdk")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"p4c-dpdk --arch pna", "range entries as value/mask blocks", "no packet replication"} {
		if !strings.Contains(text, want) {
			t.Errorf("dpdk info lacks %q", want)
		}
	}
}
