package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

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
func TestArtifactsFresh(t *testing.T) {
	root := repoRoot(t)
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	for _, tc := range []struct {
		arch, compiler, target, outVar string
		files                          []string
	}{
		{"v1model", "p4c-bm2-ss", "p4", "P4_OUT", []string{"p4info.txtpb", "bmv2.json"}},
		{"pna", "p4c-dpdk", "p4-pna", "P4_OUT_PNA", []string{"p4info.txtpb", "bfrt.json", "pipe/context.json", "pipe/pipe.spec"}},
		{"tna", "bf-p4c", "p4-tna", "P4_OUT_TNA", []string{"p4info.txtpb", "bfrt.json", "pipe/context.json", "pipe/tofino.bin"}},
		{"t2na", "bf-p4c", "p4-t2na", "P4_OUT_T2NA", []string{"p4info.txtpb", "bfrt.json", "pipe/context.json", "pipe/tofino2.bin"}},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			// `make test` puts its P4_TOOLS directory (/opt/p4/bin) on PATH.
			if _, err := exec.LookPath(tc.compiler); err != nil {
				t.Skipf("%s not on PATH: cannot check p4src/build/%s against the source (make test adds /opt/p4/bin)", tc.compiler, tc.arch)
			}
			out := t.TempDir()
			cmd := exec.Command("make", "--no-print-directory", "-s", tc.target, tc.outVar+"="+out)
			cmd.Dir = root
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("make %s: %v\n%s", tc.target, err, b)
			}
			committed := filepath.Join("p4src", "build", tc.arch)
			for _, f := range tc.files {
				want, err := os.ReadFile(filepath.Join(out, f))
				if err != nil {
					t.Fatal(err)
				}
				got, err := os.ReadFile(filepath.Join(root, committed, f))
				if err != nil {
					t.Fatalf("committed artifact missing: %v", err)
				}
				// Output paths appear in the JSON; the build dir name is
				// the only thing allowed to differ, beside the build time
				// a compiler stamps into its context.
				want = volatile.ReplaceAll(bytes.ReplaceAll(want, []byte(out), []byte(committed)), nil)
				got = volatile.ReplaceAll(got, nil)
				if !bytes.Equal(got, want) {
					t.Errorf("%s/%s is stale: run `make %s` and commit the result (%s)", committed, f, tc.target, firstDiff(got, want))
				}
			}
		})
	}
}

// volatile matches what a compiler writes that changes run to run.
var volatile = regexp.MustCompile(`"(build_date|compile_command)"\s*:\s*"[^"]*"`)

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
