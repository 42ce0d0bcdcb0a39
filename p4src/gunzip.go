package p4src

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"
)

// gunzipFS serves a tree in which some files are stored gzip-compressed
// (name.gz) under their plain names, decompressed when opened. The Tofino
// builds' context.json and binary are 35 MB as bf-p4c writes them and 1 MB
// compressed; only the compressed form is committed, and it is embedded.
type gunzipFS struct{ fsys fs.FS }

// Open opens name, or else name.gz decompressed.
func (g gunzipFS) Open(name string) (fs.File, error) {
	f, err := g.fsys.Open(name)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return f, err
	}
	gz, gzErr := g.fsys.Open(name + ".gz")
	if gzErr != nil {
		return nil, err // the plain name's error: name.gz is an implementation detail
	}
	defer gz.Close()
	zr, zErr := gzip.NewReader(gz)
	if zErr != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: zErr}
	}
	data, zErr := io.ReadAll(zr)
	if zErr != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: zErr}
	}
	return &memFile{r: bytes.NewReader(data), info: memInfo{name: path.Base(name), size: int64(len(data))}}, nil
}

// ReadDir lists name with each name.gz under its plain name.
func (g gunzipFS) ReadDir(name string) ([]fs.DirEntry, error) {
	ents, err := fs.ReadDir(g.fsys, name)
	if err != nil {
		return nil, err
	}
	for i, e := range ents {
		if !e.IsDir() && strings.HasSuffix(e.Name(), ".gz") {
			ents[i] = fs.FileInfoToDirEntry(memInfo{name: strings.TrimSuffix(e.Name(), ".gz"), size: -1})
		}
	}
	return ents, nil
}

// memFile is a decompressed file held in memory.
type memFile struct {
	r    *bytes.Reader
	info memInfo
}

func (f *memFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *memFile) Read(b []byte) (int, error) { return f.r.Read(b) }
func (f *memFile) Close() error               { return nil }

// memInfo describes a decompressed file; size -1 in a directory listing,
// where it is not known without decompressing.
type memInfo struct {
	name string
	size int64
}

func (i memInfo) Name() string       { return i.name }
func (i memInfo) Size() int64        { return i.size }
func (i memInfo) Mode() fs.FileMode  { return 0o444 }
func (i memInfo) ModTime() time.Time { return time.Time{} }
func (i memInfo) IsDir() bool        { return false }
func (i memInfo) Sys() any           { return nil }
