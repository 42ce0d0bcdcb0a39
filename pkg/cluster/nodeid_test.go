package cluster

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func TestNodeID(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	idA, err := NodeID(filepath.Join(a, "data"), "")
	if err != nil {
		t.Fatal(err)
	}
	idB, err := NodeID(b, "")
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^p4ctl-[0-9a-f]{8}$`).MatchString(idA) || idA == idB {
		t.Errorf("generated ids %q and %q: want distinct p4ctl-<8 hex>", idA, idB)
	}
	// Stable: the next start finds it, given or not.
	for _, given := range []string{"", idA} {
		if again, err := NodeID(filepath.Join(a, "data"), given); err != nil || again != idA {
			t.Errorf("restart with %q: %q, %v; want %q", given, again, err, idA)
		}
	}
	// Another id on that data dir is refused, naming both.
	if _, err := NodeID(filepath.Join(a, "data"), "n7"); err == nil || !strings.Contains(err.Error(), "belongs to node "+idA+", not n7") {
		t.Errorf("other id: err = %v", err)
	}
	// An id given on a fresh data dir is the one stored.
	c := t.TempDir()
	if id, err := NodeID(c, "n1"); err != nil || id != "n1" {
		t.Errorf("given: %q, %v", id, err)
	}
	if b, _ := os.ReadFile(filepath.Join(c, NodeIDFile)); string(b) != "n1\n" {
		t.Errorf("stored %q", b)
	}
	if err := os.WriteFile(filepath.Join(c, NodeIDFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NodeID(c, ""); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("empty file: err = %v", err)
	}
	// Raft state without an id file (a data dir from before ids were
	// stored) needs the id it was started with.
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "raft.db"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NodeID(d, ""); err == nil || !strings.Contains(err.Error(), "holds raft state but no node-id: give --node-id") {
		t.Errorf("old data dir: err = %v", err)
	}
	if id, err := NodeID(d, "old"); err != nil || id != "old" {
		t.Errorf("old data dir with its id: %q, %v", id, err)
	}
}
