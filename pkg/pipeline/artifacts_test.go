package pipeline

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// readArtifact reads a build file, or where only its gzipped form is
// there (the Tofino builds' large files are kept as name.gz alone), that
// form decompressed.
func readArtifact(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if !errors.Is(err, fs.ErrNotExist) {
		return b, err
	}
	f, gzErr := os.Open(path + ".gz")
	if gzErr != nil {
		return nil, err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return nil, fmt.Errorf("%s.gz: %w", path, err)
	}
	return io.ReadAll(zr)
}

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "p4src", "v1model", "main.p4")); err != nil {
		t.Fatalf("cannot find p4src from %s: %v", root, err)
	}
	return root
}

// TestArtifactsFresh recompiles the P4 source of each architecture with
// make into a temporary directory and fails when the committed artifacts
// differ: an embedded pipeline must be the output of the committed
// source. An architecture whose compiler is not installed is skipped.
// bf-p4c takes a minute or two over each Tofino build; they run side by
// side, and -short skips them.
func TestArtifactsFresh(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	tofino := []string{"p4info.txtpb", "bfrt.json", "pipe/context.json", "pipe/logs/resources.json", "pipe/logs/table_summary.log"}
	for _, tc := range []struct {
		arch, compiler, target, outVar string
		files                          []string
		// optional files are compared where the fresh build has them
		// (mau.resources.log needs p4c's p4c-build-logs).
		optional []string
	}{
		{arch: "v1model", compiler: "p4c-bm2-ss", target: "p4", outVar: "P4_OUT", files: []string{"p4info.txtpb", "bmv2.json"}},
		{arch: "pna", compiler: "p4c-dpdk", target: "p4-pna", outVar: "P4_OUT_PNA", files: []string{"p4info.txtpb", "bfrt.json", "pipe/context.json", "pipe/pipe.spec"}},
		// The make targets find bf-p4c themselves (BF_P4C_DIR), and say
		// "skipped" where it is missing.
		{arch: "tna", target: "p4-tna", outVar: "P4_OUT_TNA", files: append(slices.Clone(tofino), "pipe/tofino.bin"), optional: []string{"pipe/logs/mau.resources.log"}},
		{arch: "t2na", target: "p4-t2na", outVar: "P4_OUT_T2NA", files: append(slices.Clone(tofino), "pipe/tofino2.bin"), optional: []string{"pipe/logs/mau.resources.log"}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			if tc.compiler == "" {
				if testing.Short() {
					t.Skipf("-short: not recompiling p4src/%s with bf-p4c", tc.arch)
				}
				t.Parallel()
			} else if _, err := exec.LookPath(tc.compiler); err != nil {
				// `make test` puts its P4_TOOLS directory (/opt/p4/bin) on PATH.
				t.Skipf("%s not on PATH: cannot check p4src/build/%s against the source (make test adds /opt/p4/bin)", tc.compiler, tc.arch)
			}
			out := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "-s", tc.target, tc.outVar+"="+out)
			cmd.Dir = root
			b, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("make %s: %v\n%s", tc.target, err, b)
			}
			if bytes.Contains(b, []byte(tc.target+": skipped")) {
				t.Skipf("cannot check p4src/build/%s against the source: %s", tc.arch, bytes.TrimSpace(b))
			}
			committed := filepath.Join("p4src", "build", tc.arch)
			files := slices.Clone(tc.files)
			for _, f := range tc.optional {
				if _, err := os.Stat(filepath.Join(out, f)); err == nil {
					files = append(files, f)
				}
			}
			for _, f := range files {
				want, err := readArtifact(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				got, err := readArtifact(filepath.Join(root, committed, f))
				if err != nil {
					t.Fatalf("committed artifact missing: %v", err)
				}
				// Output paths appear in the JSON; the build dir name is
				// the only thing allowed to differ, beside what a compiler
				// stamps into each run.
				want = volatile.ReplaceAll(canonical(t, f, bytes.ReplaceAll(want, []byte(out), []byte(committed))), nil)
				got = volatile.ReplaceAll(canonical(t, f, got), nil)
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%s is stale: run `make %s` and commit the result (%s)", committed, f, tc.target, firstDiff(got, want))
				}
			}
		})
	}
}

// volatile matches what a compiler writes that changes run to run: the
// build time and command line in JSON; bf-p4c's run id in JSON, in the
// binary (a length-prefixed string after its key) and in the reports'
// headers; and the id and dependencies bf-p4c gives bfrt.json's snapshot
// config table, which follow whichever of the ingress and egress
// snapshots it meets first.
var volatile = regexp.MustCompile(`"(build_date|compile_command|run_id)"\s*:\s*"[^"]*"|(?s:run_id\x00.{4})[0-9a-f]+|(Created on|Run ID): [^|\n]*|"name" : "pipe\.snapshot\.cfg",\s*"id" : \d+,\s*"table_type" : "SnapshotCfg",\s*"size" : \d+,\s*"depends_on" : \[[^\]]*\]`)

// canonical is b, an artifact called name, with what bf-p4c lists in no
// fixed order put in one: resources.json's Tofino 2 CLOT-eligible fields,
// sorted by name; and a Tofino bfrt.json's tables, sorted by name (bf-p4c
// lists its ingress and egress snapshot tables in either order, run to
// run). The PNA bfrt.json, from p4c-dpdk, passes unchanged.
func canonical(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	switch path.Base(name) {
	case "resources.json":
	case "bfrt.json":
		if !bytes.Contains(b, []byte(`"pipe.snapshot.`)) {
			return b
		}
		return canonicalBfrt(t, name, b)
	default:
		return b
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if fields, ok := v["clot_eligible_fields"].([]any); ok {
				slices.SortStableFunc(fields, func(a, b any) int {
					an, _ := a.(map[string]any)["name"].(string)
					bn, _ := b.(map[string]any)["name"].(string)
					return strings.Compare(an, bn)
				})
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// canonicalBfrt sorts a bfrt.json's tables by name, and keeps the
// snapshot config table's id and dependencies out of the comparison (they
// follow whichever snapshot bf-p4c meets first).
func canonicalBfrt(t *testing.T, name string, b []byte) []byte {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	tables, _ := doc["tables"].([]any)
	tableName := func(x any) string {
		m, _ := x.(map[string]any)
		n, _ := m["name"].(string)
		return n
	}
	slices.SortStableFunc(tables, func(a, b any) int { return strings.Compare(tableName(a), tableName(b)) })
	for _, x := range tables {
		if m, ok := x.(map[string]any); ok && m["name"] == "pipe.snapshot.cfg" {
			delete(m, "id")
			delete(m, "depends_on")
		}
	}
	out, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func firstDiff(a, b []byte) string {
	al, bl := strings.Split(string(a), "\n"), strings.Split(string(b), "\n")
	for i := 0; i < len(al) && i < len(bl); i++ {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d: committed %s, fresh %s", i+1, clip(al[i]), clip(bl[i]))
		}
	}
	return "lengths differ"
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// TestVolatile: two builds that differ only in what a compiler stamps into
// each run compare equal once volatile is masked, and a real difference
// stays.
func TestVolatile(t *testing.T) {
	for _, tc := range []struct {
		name, a, b string
		same       bool
	}{
		{"build date", `{"build_date": "Sun Dec  6 09:52:49 2026", "x": 1}`, `{"build_date": "Mon Dec  7 10:00:00 2026", "x": 1}`, true},
		{"run id in JSON", `"run_id": "be50e2346b7d438b",`, `"run_id": "ef1dc9e4c8db4c0b",`, true},
		{"run id in the binary", "\x02run_id\x00\x11\x00\x00\x00be50e2346b7d438b\x00\x02program_name", "\x02run_id\x00\x11\x00\x00\x00ef1dc9e4c8db4c0b\x00\x02program_name", true},
		{"report header", "|  Created on: Sun Dec  6 09:52:49 2026    |\n|  Run ID: be50e2346b7d438b   |", "|  Created on: Sun Dec  6 09:55:13 2026    |\n|  Run ID: ef1dc9e4c8db4c0b   |", true},
		{"snapshot config id", "\"name\" : \"pipe.snapshot.cfg\",\n      \"id\" : 2444750286,\n      \"table_type\" : \"SnapshotCfg\",\n      \"size\" : 12,\n      \"depends_on\" : [2461527502, 2464553474],",
			"\"name\" : \"pipe.snapshot.cfg\",\n      \"id\" : 2447776258,\n      \"table_type\" : \"SnapshotCfg\",\n      \"size\" : 12,\n      \"depends_on\" : [2464553474, 2461527502],", true},
		{"another table's id", "\"name\" : \"pipe.ingress.l2\",\n      \"id\" : 2444750286,", "\"name\" : \"pipe.ingress.l2\",\n      \"id\" : 2447776258,", false},
		{"a size", `{"build_date": "a", "size": 1024}`, `{"build_date": "b", "size": 2048}`, false},
	} {
		got := bytes.Equal(volatile.ReplaceAll([]byte(tc.a), nil), volatile.ReplaceAll([]byte(tc.b), nil))
		if got != tc.same {
			t.Errorf("%s: equal after masking = %v, want %v", tc.name, got, tc.same)
		}
	}
}

// TestCanonicalReport: two resources.json that list the CLOT-eligible fields in
// other orders are the same once canonical; other files pass unchanged.
func TestCanonicalReport(t *testing.T) {
	a := []byte(`{"resources": {"parser": {"clots": [{"clot_eligible_fields": [{"name": "hdr.ipv4.ttl", "bit_width": 8}, {"name": "hdr.ipv4.total_len", "bit_width": 16}]}]}}}`)
	b := []byte(`{"resources": {"parser": {"clots": [{"clot_eligible_fields": [{"name": "hdr.ipv4.total_len", "bit_width": 16}, {"name": "hdr.ipv4.ttl", "bit_width": 8}]}]}}}`)
	if !bytes.Equal(canonical(t, "pipe/logs/resources.json", a), canonical(t, "pipe/logs/resources.json", b)) {
		t.Error("reordered CLOT fields differ")
	}
	c := []byte(`{"resources": {"mau": {"nStages": 12}}}`)
	if bytes.Equal(canonical(t, "pipe/logs/resources.json", a), canonical(t, "pipe/logs/resources.json", c)) {
		t.Error("different reports are the same")
	}
	if got := canonical(t, "bfrt.json", b); !bytes.Equal(got, b) {
		t.Errorf("bfrt.json changed: %s", got)
	}
	// A Tofino bfrt.json: the snapshot tables in either order, and the
	// config table's id following them, are the same; a table's size is not.
	ing := `{"name": "pipe.snapshot.ingress_trigger", "id": 2464553474}`
	eg := `{"name": "pipe.snapshot.egress_trigger", "id": 2461527502}`
	x := []byte(`{"tables": [{"name": "pipe.snapshot.cfg", "id": 1, "depends_on": [2461527502, 2464553474]}, ` + eg + `, ` + ing + `]}`)
	y := []byte(`{"tables": [{"name": "pipe.snapshot.cfg", "id": 2, "depends_on": [2464553474, 2461527502]}, ` + ing + `, ` + eg + `]}`)
	if !bytes.Equal(canonical(t, "bfrt.json", x), canonical(t, "bfrt.json", y)) {
		t.Error("reordered snapshot tables differ")
	}
	z := bytes.Replace(y, []byte(`"id": 2464553474`), []byte(`"id": 2464553475`), 1)
	if bytes.Equal(canonical(t, "bfrt.json", x), canonical(t, "bfrt.json", z)) {
		t.Error("a trigger table's changed id went unnoticed")
	}
}
