package p4src

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

// TestCompressedReadPlain: every file embedded compressed (the Tofino
// builds' context.json and binary, committed as name.gz alone) reads
// under its plain name, decompressed, with the size Stat gives, and is
// listed under that name; the plain file is not committed beside it.
func TestCompressedReadPlain(t *testing.T) {
	n := 0
	err := fs.WalkDir(build, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gz") {
			return err
		}
		n++
		plain := strings.TrimSuffix(p, ".gz")
		got, err := fs.ReadFile(Build, plain)
		if err != nil || len(got) == 0 {
			t.Errorf("%s: %d bytes, %v", plain, len(got), err)
			return nil
		}
		raw, err := fs.ReadFile(build, p)
		if err != nil || len(raw) >= len(got) {
			t.Errorf("%s: %d compressed bytes for %d, %v", p, len(raw), len(got), err)
		}
		if _, err := os.Stat(plain); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s is committed beside %s: keep the .gz alone (make p4-tna / p4-t2na)", plain, p)
		}
		if st, err := fs.Stat(Build, plain); err != nil || st.Size() != int64(len(got)) {
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
