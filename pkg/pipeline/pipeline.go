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
	"fmt"
	"io/fs"
	"path"
	"sort"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	"google.golang.org/protobuf/encoding/prototext"

	"github.com/p4ctl/p4ctl/p4src"
)

// Target describes how a device of one kind takes a pipeline.
type Target struct {
	// Name as written in a Device's target field.
	Name string
	// Arch is the P4 architecture of the artifacts built for the target
	// (the directory under p4src/build).
	Arch string
	// DeviceConfigFile is the artifact carried as p4_device_config.
	DeviceConfigFile string
	// CPUPort is the port number the target uses for packet I/O, as the
	// pipeline's CPU_PORT constant.
	CPUPort uint32
	// Budget names the target's memory budget in Budgets, checked beside
	// the table sizes; empty for a software target, whose tables hold
	// what their size says.
	Budget string
	// Reconcile says a pipeline upgrade may ask the target to
	// RECONCILE_AND_COMMIT (keep the forwarding state). It is off for
	// BMv2: simple_switch_grpc 1.15.5 with PI f96af95 answers "Error when
	// reconciling config" and then refuses every pipeline push ("Error in
	// first phase of device update") until it restarts.
	Reconcile bool
}

// Targets are the device kinds p4ctl can program. BMv2 (simple_switch_grpc)
// is the one exercised here; Tofino and PNA SmartNIC targets need their own
// architecture mains and artifacts and are not listed until they exist.
var targets = map[string]Target{
	"bmv2": {Name: "bmv2", Arch: "v1model", DeviceConfigFile: "bmv2.json", CPUPort: 510},
}

// TargetNames returns the names of the known targets, sorted.
func TargetNames() []string {
	out := make([]string, 0, len(targets))
	for n := range targets {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// LookupTarget returns the target called name.
func LookupTarget(name string) (Target, error) {
	t, ok := targets[name]
	if !ok {
		return Target{}, fmt.Errorf("unknown target %q (known: %v)", name, TargetNames())
	}
	return t, nil
}

// Pipeline is a compiled pipeline ready to push to one kind of target.
type Pipeline struct {
	Target       Target
	Info         *Info
	DeviceConfig []byte
	// Cookie identifies the (P4Info, device config) pair: a device whose
	// pipeline cookie equals it already runs this pipeline.
	Cookie uint64
}

// P4InfoFile is the name of the P4Info artifact (text format) in every
// architecture directory of p4src/build.
const P4InfoFile = "p4info.txtpb"

// Embedded returns the p4ctl pipeline compiled into the binary for the
// target called name.
func Embedded(target string) (*Pipeline, error) {
	t, err := LookupTarget(target)
	if err != nil {
		return nil, err
	}
	dir := path.Join("build", t.Arch)
	info, err := fs.ReadFile(p4src.Build, path.Join(dir, P4InfoFile))
	if err != nil {
		return nil, fmt.Errorf("embedded pipeline for %s: %w", target, err)
	}
	cfg, err := fs.ReadFile(p4src.Build, path.Join(dir, t.DeviceConfigFile))
	if err != nil {
		return nil, fmt.Errorf("embedded pipeline for %s: %w", target, err)
	}
	return Load(t, info, cfg)
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
	h := sha256.New()
	h.Write(p4infoText)
	h.Write([]byte{0})
	h.Write(deviceConfig)
	cookie := binary.BigEndian.Uint64(h.Sum(nil))
	return &Pipeline{Target: t, Info: info, DeviceConfig: deviceConfig, Cookie: cookie}, nil
}
