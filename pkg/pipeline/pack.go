package pipeline

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"google.golang.org/protobuf/proto"

	"github.com/p4ctl/p4ctl/pkg/pipeline/bfpb"
)

// Artifacts are what a Tofino or DPDK compiler produces for one program,
// the parts of a p4_device_config.
type Artifacts struct {
	// Name is the P4 program's name, as the target reports it.
	Name string
	// BfRt is bfrt.json, the BF Runtime description of the tables.
	BfRt []byte
	// Profiles are the compiled pipelines: one for a program loaded on
	// every pipe, several for per-pipe programs.
	Profiles []Profile
}

// Profile is one compiled pipeline.
type Profile struct {
	Name string
	// Context is context.json; Binary is tofino.bin (Tofino) or the
	// pipeline .spec text (DPDK).
	Context, Binary []byte
	// PipeScope is the pipes the profile runs on; empty means all.
	PipeScope []uint32
}

// legacyMaxName is the longest program or pipeline name the PI Tofino
// implementation reads from a legacy device config.
const legacyMaxName = 100

// Pack encodes a as the p4_device_config of format.
func (a Artifacts) Pack(format string) ([]byte, error) {
	if a.Name == "" {
		return nil, errors.New("pack: the program has no name")
	}
	if len(a.Profiles) == 0 {
		return nil, fmt.Errorf("pack %s: no compiled profile", a.Name)
	}
	switch format {
	case FormatBfrt:
		if len(a.BfRt) == 0 {
			return nil, fmt.Errorf("pack %s: no bfrt.json", a.Name)
		}
		m := &bfpb.BfPipelineConfig{P4Name: a.Name, BfruntimeInfo: a.BfRt}
		for _, p := range a.Profiles {
			if p.Name == "" {
				return nil, fmt.Errorf("pack %s: a profile has no name", a.Name)
			}
			m.Profiles = append(m.Profiles, &bfpb.BfPipelineConfig_Profile{ProfileName: p.Name, Context: p.Context, Binary: p.Binary, PipeScope: p.PipeScope})
		}
		return proto.MarshalOptions{Deterministic: true}.Marshal(m)
	case FormatLegacy:
		if len(a.Profiles) != 1 {
			return nil, fmt.Errorf("pack %s: the legacy format holds one profile, not %d", a.Name, len(a.Profiles))
		}
		p := a.Profiles[0]
		if len(a.Name) > legacyMaxName || len(p.Name) > legacyMaxName {
			return nil, fmt.Errorf("pack %s: the legacy format takes names of at most %d bytes", a.Name, legacyMaxName)
		}
		parts := [][]byte{[]byte(a.Name), p.Binary, p.Context}
		if len(a.BfRt) > 0 {
			parts = append(parts, []byte(p.Name), a.BfRt)
		} else {
			parts = append(parts, nil) // no pipeline name: no bfrt.json follows
		}
		var out []byte
		for _, part := range parts {
			if len(part) > math.MaxUint32 {
				return nil, fmt.Errorf("pack %s: a part of %d bytes does not fit a 32-bit length", a.Name, len(part))
			}
			out = binary.LittleEndian.AppendUint32(out, uint32(len(part)))
			out = append(out, part...)
		}
		return out, nil
	}
	return nil, fmt.Errorf("pack: unknown format %q (%s or %s)", format, FormatBfrt, FormatLegacy)
}

// UnpackBfrt decodes a BfPipelineConfig device config.
func UnpackBfrt(b []byte) (Artifacts, error) {
	var m bfpb.BfPipelineConfig
	if err := proto.Unmarshal(b, &m); err != nil {
		return Artifacts{}, fmt.Errorf("unpack bfrt device config: %w", err)
	}
	a := Artifacts{Name: m.GetP4Name(), BfRt: m.GetBfruntimeInfo()}
	for _, p := range m.GetProfiles() {
		a.Profiles = append(a.Profiles, Profile{Name: p.GetProfileName(), Context: p.GetContext(), Binary: p.GetBinary(), PipeScope: p.GetPipeScope()})
	}
	return a, nil
}
