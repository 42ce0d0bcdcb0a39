package p4src

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestCompressedMatchCommitted: every file embedded compressed reads, under
// its plain name, exactly as the committed plain file (the one the
// freshness test compares with the compiler's output), and is listed
// under that name.
func TestCompressedMatchCommitted(t *testing.T) {
	n := 0
	err := fs.WalkDir(build, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gz") {
			return err
		}
		n++
		plain := strings.TrimSuffix(p, ".gz")
		got, err := fs.ReadFile(Build, plain)
		if err != nil {
			t.Errorf("%s: %v", plain, err)
			return nil
		}
		want, err := os.ReadFile(plain)
		if err != nil {
			t.Errorf("committed %s: %v", plain, err)
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s.gz holds %d bytes that differ from the committed %s (%d bytes): gzip -9nkf it again", plain, len(got), plain, len(want))
		}
		if st, err := fs.Stat(Build, plain); err != nil || st.Size() != int64(len(want)) {
			t.Errorf("stat %s: %v, %v", plain, st, err)
		}
		dir, base := plain[:strings.LastIndex(plain, "/")], plain[strings.LastIndex(plain, "/")+1:]
		ents, err := fs.ReadDir(Build, dir)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range ents {
			found = found || e.Name() == base
			if strings.HasSuffix(e.Name(), ".gz") {
				t.Errorf("%s lists %s", dir, e.Name())
			}
		}
		if !found {
			t.Errorf("%s does not list %s", dir, base)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("%d compressed files embedded, want 4 (the Tofino builds' context.json and binary)", n)
	}
	if _, err := fs.ReadFile(Build, "build/tna/pipe/none.json"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a missing file: err = %v", err)
	}
	if _, err := fs.ReadFile(Build, "build/v1model/bmv2.json"); err != nil {
		t.Errorf("a plain file: %v", err)
	}
}
