// Package pipeline is the controller's view of a compiled P4 pipeline: it
// embeds the p4ctl pipeline's artifacts, indexes its P4Info by name and id,
// builds and validates table entries by name with canonical P4Runtime
// encodings, and packs the device config each target expects in
// SetForwardingPipelineConfig.
//
// It knows nothing of policy or of any device session; pkg/p4rt carries what
// this package builds.
package pipeline

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/p4ctl/p4ctl/p4src"
)

// Pipeline is a compiled pipeline ready to push to one kind of target.
type Pipeline struct {
	Target       Target
	Info         *Info
	DeviceConfig []byte
	// Cookie identifies the (P4Info, device config) pair: a device whose
	// pipeline cookie equals it already runs this pipeline.
	Cookie uint64
	// Format is DeviceConfig's format (FormatBMv2, FormatBfrt or
	// FormatLegacy).
	Format string
	// Source says where the artifacts came from: the embedded build
	// directory, a compiler's output directory, or the profile's model.
	Source string
	// NoConfig, when set, says why the pipeline has no device config:
	// no compiled artifacts exist for the target's architecture, and Info
	// is the profile's model of its tables (the shared P4Info with the
	// profile's sizes). It serves capacity checks and dry runs; a device
	// of the target cannot be given it.
	NoConfig error
}

// Pushable says whether p can be sent to a device.
func (p *Pipeline) Pushable() error {
	if p.NoConfig != nil {
		return p.NoConfig
	}
	if len(p.DeviceConfig) == 0 {
		return fmt.Errorf("target %s: empty device config", p.Target.Name)
	}
	return nil
}

// P4InfoFile is the name of the P4Info artifact (text format) in every
// architecture directory of p4src/build.
const P4InfoFile = "p4info.txtpb"

// Embedded returns the p4ctl pipeline compiled into the binary for the
// target called name, in the target's default device config format. Every
// profile's architecture has an embedded build (p4src/build); one without
// would get its modelled pipeline: see Pipeline.NoConfig.
func Embedded(target string) (*Pipeline, error) {
	t, err := LookupTarget(target)
	if err != nil {
		return nil, err
	}
	dir := path.Join("build", t.Arch)
	if _, err := fs.Stat(p4src.Build, path.Join(dir, P4InfoFile)); err != nil {
		return modelled(t)
	}
	return embeddedAs(t, t.Formats[0])
}

// embeddedAs is t's embedded build with its device config in format.
func embeddedAs(t Target, format string) (*Pipeline, error) {
	dir := path.Join("build", t.Arch)
	sub, err := fs.Sub(p4src.Build, dir)
	if err != nil {
		return nil, err
	}
	p, err := LoadFS(t, sub, format)
	if err != nil {
		return nil, fmt.Errorf("embedded pipeline for %s: %w", t.Name, err)
	}
	p.Source = "embedded p4src/" + dir
	return p, nil
}

// LoadDir loads the artifacts a compiler wrote into dir for target t (the
// layout of p4src/build/<arch>, which docs/targets.md gives per target)
// and packs the device config in format ("" for the target's default).
func LoadDir(t Target, dir, format string) (*Pipeline, error) {
	if format == "" {
		format = t.Formats[0]
	}
	p, err := LoadFS(t, os.DirFS(dir), format)
	if err != nil {
		return nil, fmt.Errorf("pipeline for %s from %s: %w", t.Name, dir, err)
	}
	p.Source = dir
	return p, nil
}

// LoadFS loads t's artifacts from fsys and packs them in format.
func LoadFS(t Target, fsys fs.FS, format string) (*Pipeline, error) {
	if !slices.Contains(t.Formats, format) {
		return nil, fmt.Errorf("target %s takes device configs as %v, not %q", t.Name, t.Formats, format)
	}
	info, err := fs.ReadFile(fsys, P4InfoFile)
	if err != nil {
		return nil, err
	}
	var cfg []byte
	if format == FormatBMv2 {
		if cfg, err = fs.ReadFile(fsys, "bmv2.json"); err != nil {
			return nil, err
		}
	} else {
		a, err := ReadArtifacts(t, fsys)
		if err != nil {
			return nil, err
		}
		if cfg, err = a.Pack(format); err != nil {
			return nil, err
		}
	}
	p, err := Load(t, info, cfg)
	if err != nil {
		return nil, err
	}
	p.Format = format
	return p, nil
}

// ReadArtifacts reads a Tofino or DPDK build from fsys: bfrt.json at the
// top and one directory per profile holding context.json and the
// target's binary (t.BinaryFile). A profile directory's pipe_scope, when
// the profile runs on some pipes only, is in a file pipe_scope holding
// the pipe numbers separated by spaces.
func ReadArtifacts(t Target, fsys fs.FS) (Artifacts, error) {
	if t.BinaryFile == "" {
		return Artifacts{}, fmt.Errorf("target %s has no Tofino or DPDK artifacts", t.Name)
	}
	a := Artifacts{Name: ProgramName}
	var err error
	if a.BfRt, err = fs.ReadFile(fsys, "bfrt.json"); err != nil {
		return Artifacts{}, err
	}
	ents, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return Artifacts{}, err
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		ctx, err := fs.ReadFile(fsys, path.Join(e.Name(), "context.json"))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		} else if err != nil {
			return Artifacts{}, err
		}
		bin, err := fs.ReadFile(fsys, path.Join(e.Name(), t.BinaryFile))
		if err != nil {
			return Artifacts{}, fmt.Errorf("profile %s: %w", e.Name(), err)
		}
		pr := Profile{Name: e.Name(), Context: ctx, Binary: bin}
		if scope, err := fs.ReadFile(fsys, path.Join(e.Name(), "pipe_scope")); err == nil {
			for _, f := range strings.Fields(string(scope)) {
				n, err := strconv.ParseUint(f, 10, 32)
				if err != nil {
					return Artifacts{}, fmt.Errorf("profile %s: pipe_scope: %w", e.Name(), err)
				}
				pr.PipeScope = append(pr.PipeScope, uint32(n))
			}
		}
		a.Profiles = append(a.Profiles, pr)
	}
	if len(a.Profiles) == 0 {
		return Artifacts{}, fmt.Errorf("no profile directory holding context.json and %s", t.BinaryFile)
	}
	return a, nil
}

// ProgramName is the p4ctl program's name in device configs (p4_name).
const ProgramName = "p4ctl"

// modelled is t's pipeline without artifacts: the v1model P4Info, whose
// table, action and field names and ids every architecture shares (the
// include/ controls name them globally), with t's table sizes.
func modelled(t Target) (*Pipeline, error) {
	text, err := fs.ReadFile(p4src.Build, path.Join("build", "v1model", P4InfoFile))
	if err != nil {
		return nil, err
	}
	var p4info p4cfg.P4Info
	if err := prototext.Unmarshal(text, &p4info); err != nil {
		return nil, fmt.Errorf("parse P4Info: %w", err)
	}
	for _, tb := range p4info.GetTables() {
		if n, ok := t.Sizes[tb.GetPreamble().GetName()]; ok {
			tb.Size = n
		}
	}
	if p4info.PkgInfo != nil {
		p4info.PkgInfo.Arch = t.Arch
	}
	info, err := NewInfo(&p4info)
	if err != nil {
		return nil, err
	}
	model, err := prototext.Marshal(&p4info)
	if err != nil {
		return nil, err
	}
	return &Pipeline{Target: t, Info: info, Cookie: cookieOf(model, nil), Source: "modelled",
		NoConfig: fmt.Errorf("target %s: no %s build of p4src/%s/main.p4 is embedded (%s was not available); compile it and give the output with serve --pipeline-dir %s=DIR", t.Name, t.Arch, t.Arch, t.Compiler, t.Name)}, nil
}

// Load builds a Pipeline from a P4Info in protobuf text format and the
// target's device config bytes.
func Load(t Target, p4infoText, deviceConfig []byte) (*Pipeline, error) {
	var p4info p4cfg.P4Info
	if err := prototext.Unmarshal(p4infoText, &p4info); err != nil {
		return nil, fmt.Errorf("parse P4Info: %w", err)
	}
	info, err := NewInfo(&p4info)
	if err != nil {
		return nil, err
	}
	if len(deviceConfig) == 0 {
		return nil, fmt.Errorf("target %s: empty device config", t.Name)
	}
	return &Pipeline{Target: t, Info: info, DeviceConfig: deviceConfig, Format: t.Formats[0], Cookie: cookieOf(p4infoText, deviceConfig)}, nil
}

func cookieOf(p4infoText, deviceConfig []byte) uint64 {
	h := sha256.New()
	h.Write(p4infoText)
	h.Write([]byte{0})
	h.Write(deviceConfig)
	return binary.BigEndian.Uint64(h.Sum(nil))
}
