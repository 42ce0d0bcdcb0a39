package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// TestArtifactsFresh recompiles the P4 source with `make p4` into a
// temporary directory and fails when the committed artifacts differ: the
// embedded pipeline must be the output of the committed source.
func TestArtifactsFresh(t *testing.T) {
	root := repoRoot(t)
	// `make test` puts its P4_TOOLS directory (/opt/p4/bin) on PATH.
	if _, err := exec.LookPath("p4c-bm2-ss"); err != nil {
		t.Skip("p4c-bm2-ss not on PATH: cannot check p4src/build against the source (make test adds /opt/p4/bin)")
	}
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not found")
	}
	out := t.TempDir()
	cmd := exec.Command("make", "--no-print-directory", "-s", "p4", "P4_OUT="+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make p4: %v\n%s", err, b)
	}
	for _, f := range []string{"p4info.txtpb", "bmv2.json"} {
		want, err := os.ReadFile(filepath.Join(out, f))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(root, "p4src", "build", "v1model", f))
		if err != nil {
			t.Fatalf("committed artifact missing: %v", err)
		}
		// Output paths appear in the JSON; the build dir name is the only
		// thing allowed to differ.
		want = bytes.ReplaceAll(want, []byte(out), []byte("p4src/build/v1model"))
		if !bytes.Equal(got, want) {
			t.Errorf("p4src/build/v1model/%s is stale: run `make p4` and commit the result (%s)", f, firstDiff(got, want))
		}
	}
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
