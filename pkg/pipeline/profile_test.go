package pipeline

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/p4ctl/p4ctl/p4src"
	"github.com/p4ctl/p4ctl/pkg/pipeline/bfpb"
	"google.golang.org/protobuf/proto"
)

// TestProfileSizesMatchMain keeps each profile's Sizes equal to the
// TABLE_SIZE_<TABLE> defines of its architecture's main, read here from
// the P4 source.
func TestProfileSizesMatchMain(t *testing.T) {
	root := repoRoot(t)
	def := regexp.MustCompile(`^#define\s+TABLE_SIZE_([A-Z0-9_]+)\s+(\d+)\s*$`)
	for _, name := range TargetNames() {
		tg := mustLookup(t, name)
		if len(tg.Sizes) == 0 {
			continue
		}
		f, err := os.Open(filepath.Join(root, "p4src", tg.Arch, "main.p4"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := map[string]int64{}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := def.FindStringSubmatch(sc.Text()); m != nil {
				n, _ := strconv.ParseInt(m[2], 10, 64)
				got["ingress."+strings.ToLower(m[1])] = n
			}
		}
		f.Close()
		for tb, n := range tg.Sizes {
			if got[tb] != n {
				t.Errorf("%s: table %s: profile size %d, p4src/%s/main.p4 defines %d", name, tb, n, tg.Arch, got[tb])
			}
		}
		for tb, n := range got {
			if _, ok := tg.Sizes[tb]; !ok {
				t.Errorf("%s: p4src/%s/main.p4 sizes %s (%d), the profile does not", name, tg.Arch, tb, n)
			}
		}
	}
}

func mustLookup(t *testing.T, name string) Target {
	t.Helper()
	tg, err := LookupTarget(name)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// writeBuild lays out a compiler's output for a Tofino target in a
// temporary directory: the P4Info, bfrt.json, and the profile
// directories given (name -> binary), each with a context.json.
func writeBuild(t *testing.T, bin string, profiles map[string]string, scope map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	info, err := fs.ReadFile(p4src.Build, "build/v1model/"+P4InfoFile)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(P4InfoFile, string(info))
	write("bfrt.json", `{"schema_version":"1.0.0"}`)
	for name, b := range profiles {
		write(filepath.Join(name, "context.json"), `{"program_name":"p4ctl","pipe":"`+name+`"}`)
		write(filepath.Join(name, bin), b)
	}
	for name, s := range scope {
		write(filepath.Join(name, "pipe_scope"), s)
	}
	return dir
}

// TestLoadDirFormats loads a Tofino build in both formats and checks the
// device config against bytes laid out here from the formats' definitions.
func TestLoadDirFormats(t *testing.T) {
	tofino := mustLookup(t, "tofino")
	dir := writeBuild(t, "tofino.bin", map[string]string{"pipe": "\x01\x02BIN"}, nil)

	legacy, err := LoadDir(tofino, dir, FormatLegacy)
	if err != nil {
		t.Fatal(err)
	}
	ctx := `{"program_name":"p4ctl","pipe":"pipe"}`
	var want []byte
	for _, part := range []string{"p4ctl", "\x01\x02BIN", ctx, "pipe", `{"schema_version":"1.0.0"}`} {
		want = append(want, byte(len(part)), 0, 0, 0)
		want = append(want, part...)
	}
	if !bytes.Equal(legacy.DeviceConfig, want) {
		t.Errorf("legacy config\n got %q\nwant %q", legacy.DeviceConfig, want)
	}
	if err := legacy.Pushable(); err != nil {
		t.Errorf("a loaded build is not pushable: %v", err)
	}

	bfrt, err := LoadDir(tofino, dir, "")
	if err != nil {
		t.Fatal(err)
	}
	if bfrt.Format != FormatBfrt {
		t.Errorf("default format %s, want bfrt", bfrt.Format)
	}
	var m bfpb.BfPipelineConfig
	if err := proto.Unmarshal(bfrt.DeviceConfig, &m); err != nil {
		t.Fatal(err)
	}
	if m.GetP4Name() != "p4ctl" || string(m.GetBfruntimeInfo()) != `{"schema_version":"1.0.0"}` || len(m.GetProfiles()) != 1 ||
		m.GetProfiles()[0].GetProfileName() != "pipe" || string(m.GetProfiles()[0].GetBinary()) != "\x01\x02BIN" || string(m.GetProfiles()[0].GetContext()) != ctx {
		t.Errorf("bfrt config: %v", &m)
	}
	if bfrt.Cookie == legacy.Cookie {
		t.Error("the two formats share a cookie")
	}

	// Per-pipe programs: two profiles with their pipe scopes.
	two := writeBuild(t, "tofino.bin", map[string]string{"pipe0": "A", "pipe1": "B"}, map[string]string{"pipe0": "0 1\n", "pipe1": "2 3"})
	p, err := LoadDir(tofino, two, FormatBfrt)
	if err != nil {
		t.Fatal(err)
	}
	back, err := UnpackBfrt(p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Profiles) != 2 || back.Profiles[0].Name != "pipe0" || !slices.Equal(back.Profiles[1].PipeScope, []uint32{2, 3}) {
		t.Errorf("per-pipe profiles: %+v", back.Profiles)
	}
	if _, err := LoadDir(tofino, two, FormatLegacy); err == nil || !strings.Contains(err.Error(), "one profile, not 2") {
		t.Errorf("legacy with two profiles: err = %v", err)
	}
}

func TestLoadDirErrors(t *testing.T) {
	tofino := mustLookup(t, "tofino")
	for _, tc := range []struct {
		name, want string
		mk         func(t *testing.T) string
		format     string
	}{
		{"no such dir", "p4info.txtpb", func(t *testing.T) string { return filepath.Join(t.TempDir(), "none") }, ""},
		{"wrong binary name", "tofino.bin", func(t *testing.T) string {
			return writeBuild(t, "tofino2.bin", map[string]string{"pipe": "x"}, nil)
		}, ""},
		{"no profile", "no profile directory", func(t *testing.T) string { return writeBuild(t, "tofino.bin", nil, nil) }, ""},
		{"bad pipe scope", "pipe_scope", func(t *testing.T) string {
			return writeBuild(t, "tofino.bin", map[string]string{"pipe": "x"}, map[string]string{"pipe": "zero"})
		}, ""},
		{"bmv2 format", `not "bmv2-json"`, func(t *testing.T) string { return writeBuild(t, "tofino.bin", map[string]string{"pipe": "x"}, nil) }, FormatBMv2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadDir(tofino, tc.mk(t), tc.format); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to name %q", err, tc.want)
			}
		})
	}
}

// TestModelledTarget: a target without an embedded build has its
// profile's table sizes for checks and refuses to be pushed, naming the
// compiler.
func TestModelledTarget(t *testing.T) {
	for _, name := range []string{"tofino", "tofino2"} {
		tg := mustLookup(t, name)
		if _, err := fs.Stat(p4src.Build, "build/"+tg.Arch+"/"+P4InfoFile); err == nil {
			t.Logf("%s: a %s build is embedded; nothing modelled", name, tg.Arch)
			continue
		}
		p, err := Embedded(name)
		if err != nil {
			t.Fatal(err)
		}
		err = p.Pushable()
		if err == nil || !strings.Contains(err.Error(), "bf-p4c") || !strings.Contains(err.Error(), "--pipeline-dir "+name+"=") {
			t.Errorf("%s: Pushable = %v", name, err)
		}
		for tb, n := range tg.Sizes {
			if got, ok := p.Info.Table(tb); !ok || got.Size != n {
				t.Errorf("%s: table %s size %v, profile %d", name, tb, got, n)
			}
		}
		if p.Info.P4Info.GetPkgInfo().GetArch() != tg.Arch {
			t.Errorf("%s: arch %q", name, p.Info.P4Info.GetPkgInfo().GetArch())
		}
	}
}

func TestResolver(t *testing.T) {
	dir := writeBuild(t, "tofino.bin", map[string]string{"pipe": "x"}, nil)
	r, err := NewResolver(map[string]string{"tofino": dir}, map[string]string{"tofino": FormatLegacy})
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Pipeline("tofino")
	if err != nil || p.Format != FormatLegacy || p.Source != dir {
		t.Fatalf("tofino: %+v, %v", p, err)
	}
	if q, _ := r.Pipeline("tofino"); q != p {
		t.Error("a second lookup loaded the pipeline again")
	}
	if b, err := r.Pipeline("bmv2"); err != nil || b.Format != FormatBMv2 {
		t.Errorf("bmv2: %+v, %v", b, err)
	}
	for _, tc := range []struct {
		dirs, formats map[string]string
		want          string
	}{
		{map[string]string{"netfpga": dir}, nil, `unknown target "netfpga"`},
		{nil, map[string]string{"tofino": "tar"}, `not "tar"`},
		{nil, map[string]string{"bmv2": FormatBfrt}, `not "bfrt"`},
		{map[string]string{"tofino": filepath.Join(dir, "missing")}, nil, "missing"},
	} {
		if _, err := NewResolver(tc.dirs, tc.formats); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewResolver(%v, %v): err = %v, want %q", tc.dirs, tc.formats, err, tc.want)
		}
	}
}

// TestEmbeddedDPDK: the dpdk target's device config is a BfPipelineConfig
// holding the committed build's files.
func TestEmbeddedDPDK(t *testing.T) {
	p, err := Embedded("dpdk")
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Pushable(); err != nil {
		t.Fatal(err)
	}
	a, err := UnpackBfrt(p.DeviceConfig)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := fs.ReadFile(p4src.Build, "build/pna/pipe/pipe.spec")
	ctx, _ := fs.ReadFile(p4src.Build, "build/pna/pipe/context.json")
	bfrt, _ := fs.ReadFile(p4src.Build, "build/pna/bfrt.json")
	if a.Name != "p4ctl" || len(a.Profiles) != 1 || a.Profiles[0].Name != "pipe" || !bytes.Equal(a.Profiles[0].Binary, spec) ||
		!bytes.Equal(a.Profiles[0].Context, ctx) || !bytes.Equal(a.BfRt, bfrt) || len(spec) == 0 {
		t.Errorf("dpdk config: name %q, %d profiles", a.Name, len(a.Profiles))
	}
}

// TestArchitecturesShareNames: every architecture's P4Info names its
// tables, match fields, actions and action parameters as v1model's does,
// with the same ids, so the controller has one name list. Widths may
// differ where the architecture's port type does.
func TestArchitecturesShareNames(t *testing.T) {
	ref, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	shape := func(in *Info) map[string]uint32 {
		out := map[string]uint32{}
		for _, tb := range in.Tables() {
			out["table "+tb.Name] = tb.ID
			for _, f := range tb.Fields {
				out["field "+tb.Name+"/"+f.Name] = f.ID
			}
			for _, r := range tb.Actions {
				out["action "+tb.Name+"/"+r.Action.Name] = r.Action.ID
				for _, prm := range r.Action.Params {
					out["param "+r.Action.Name+"/"+prm.Name] = prm.ID
				}
			}
		}
		return out
	}
	want := shape(ref.Info)
	for _, name := range TargetNames() {
		p, err := Embedded(name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Source == "modelled" {
			continue
		}
		got := shape(p.Info)
		for k, id := range want {
			if got[k] != id {
				t.Errorf("%s: %s has id %d, v1model %d", name, k, got[k], id)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: %s is not in v1model's P4Info", name, k)
			}
		}
	}
}

// TestDenialMarkMatchesMain: a target's DenialMark is its main's
// DENIAL_REPORT constant, and a main without one has no mark.
func TestDenialMarkMatchesMain(t *testing.T) {
	root := repoRoot(t)
	def := regexp.MustCompile(`(?m)^const\s+bit<8>\s+DENIAL_REPORT\s*=\s*0x([0-9a-fA-F]+)\s*;`)
	for _, name := range TargetNames() {
		tg := mustLookup(t, name)
		src, err := os.ReadFile(filepath.Join(root, "p4src", tg.Arch, "main.p4"))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want uint64
		if m := def.FindSubmatch(src); m != nil {
			want, _ = strconv.ParseUint(string(m[1]), 16, 8)
		}
		if uint64(tg.DenialMark) != want {
			t.Errorf("%s: profile DenialMark 0x%x, p4src/%s/main.p4 DENIAL_REPORT 0x%x", name, tg.DenialMark, tg.Arch, want)
		}
	}
}
