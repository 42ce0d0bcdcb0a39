package pipeline

import (
	"fmt"
	"sort"
)

// Target is a target profile: how a device of one kind takes the p4ctl
// pipeline, what its tables hold and what its match units can do. A
// Device's target field names one.
type Target struct {
	// Name as written in a Device's target field.
	Name string
	// Arch is the P4 architecture of the target's main (p4src/<arch>) and
	// of its artifacts (p4src/build/<arch>).
	Arch string
	// Description is a line for `p4ctl pipeline info`.
	Description string
	// Compiler is the command that builds the artifacts from
	// p4src/<arch>/main.p4.
	Compiler string
	// Formats are the device config formats the target takes; the first
	// is the default.
	Formats []string
	// BinaryFile is the compiled pipeline in each profile directory of a
	// Tofino or DPDK build; empty for BMv2.
	BinaryFile string
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
	// first phase of device update") until it restarts. Stratum answers
	// UNIMPLEMENTED on every target.
	Reconcile bool
	// Limits are what the target's match units and externs cannot do.
	Limits Limits
	// DenialMark, when not zero, is the bit of packet_in._pad by which the
	// target's main marks a denied frame it sends to the CPU port in
	// place of a denial digest (PNA on DPDK: p4c-dpdk implements no
	// digest); the bits below it are the reason (DENIED_BY_*). The
	// controller logs such packet-ins as denials.
	DenialMark uint8
	// Sizes are the table sizes of the target's main (the TABLE_SIZE_*
	// defines of p4src/<arch>/main.p4) where they differ from the shared
	// defaults: the modelled pipeline of a target without artifacts takes
	// them, and TestProfileSizesMatchMain keeps them equal to the source.
	Sizes map[string]int64
}

// Limits are a target's restrictions on what the controller writes.
type Limits struct {
	// RangeAsMask: a range field is compiled as a wildcard, so a range
	// entry must be expressible as a value and mask (p4c-dpdk). The
	// policy compiler then splits each port range into aligned blocks.
	RangeAsMask bool
	// NoMulticast: the target does not replicate packets (PNA): flood
	// groups are not written, and an unknown unicast destination is
	// dropped, so every endpoint needs its L2 entry.
	NoMulticast bool
}

// Device config formats.
const (
	// FormatBMv2 is BMv2's JSON as p4c-bm2-ss writes it.
	FormatBMv2 = "bmv2-json"
	// FormatBfrt is a serialized BfPipelineConfig: what stratum_bfrt,
	// stratum_tdi and IPDK's infrap4d take.
	FormatBfrt = "bfrt"
	// FormatLegacy is the packing bf_switchd's PI implementation reads
	// (open-p4studio's bf-drivers, src/pi/pi_imp.c, _pi_update_device_start):
	// the program name, tofino.bin and context.json, then the pipeline
	// (profile) name and bfrt.json, each behind its length as a 32-bit
	// little-endian integer (the reader copies the host's integer; the
	// switch CPU is x86). A zero pipeline-name length ends it without
	// bfrt.json. It holds one profile.
	FormatLegacy = "legacy"
)

// Table sizes of the Tofino mains (p4src/tna and p4src/t2na main.p4):
// what bf-p4c fits into one pipe together. The compiler reserves memory for
// every table's declared size, so a device's entries fit its pipe when each
// table's fit its size (Budgets carries what each table was given). The
// policy tables take the SRAM of the stages between the checks before them
// and the verdict after; the identity LPM tables and the ACLs share the
// TCAM of the first stages (docs/targets.md).
var (
	tofinoSizes = map[string]int64{
		"ingress.src_identity_v4": 16384,
		"ingress.src_identity_v6": 4096,
		"ingress.dst_identity_v4": 16384,
		"ingress.dst_identity_v6": 8192,
		"ingress.acl_v4":          1024,
		"ingress.acl_v6":          512,
		"ingress.dst_port_class":  512,
		"ingress.src_port_class":  512,
		"ingress.policy_pair":     2048,
		"ingress.policy_proto":    4096,
		"ingress.policy_port":     65536,
		"ingress.policy_range":    32768,
		"ingress.reply_proto":     8192,
		"ingress.reply_port":      32768,
		"ingress.reply_range":     32768,
		"ingress.l2":              65536,
	}
	tofino2Sizes = map[string]int64{
		"ingress.src_identity_v4": 32768,
		"ingress.src_identity_v6": 8192,
		"ingress.dst_identity_v4": 32768,
		"ingress.dst_identity_v6": 16384,
		"ingress.acl_v4":          2048,
		"ingress.acl_v6":          512,
		"ingress.dst_port_class":  1024,
		"ingress.src_port_class":  1024,
		"ingress.policy_pair":     16384,
		"ingress.policy_proto":    32768,
		"ingress.policy_port":     131072,
		"ingress.policy_range":    32768,
		"ingress.reply_proto":     16384,
		"ingress.reply_port":      65536,
		"ingress.reply_range":     65536,
		"ingress.l2":              131072,
	}
)

var targets = map[string]Target{
	"bmv2": {
		Name: "bmv2", Arch: "v1model", Description: "BMv2 simple_switch_grpc (software switch)",
		Compiler: "p4c-bm2-ss", Formats: []string{FormatBMv2}, CPUPort: 510,
	},
	"tofino": {
		Name: "tofino", Arch: "tna", Description: "Intel Tofino 1 under Stratum (stratum_bfrt) or the P4 Studio PI agent",
		Compiler: "bf-p4c --target tofino --arch tna", Formats: []string{FormatBfrt, FormatLegacy}, BinaryFile: "tofino.bin",
		CPUPort: 320, Budget: "tofino", Sizes: tofinoSizes,
	},
	"tofino2": {
		Name: "tofino2", Arch: "t2na", Description: "Intel Tofino 2 under Stratum (stratum_bfrt)",
		Compiler: "bf-p4c --target tofino2 --arch t2na", Formats: []string{FormatBfrt, FormatLegacy}, BinaryFile: "tofino2.bin",
		CPUPort: 0, Budget: "tofino2", Sizes: tofino2Sizes,
	},
	"dpdk": {
		Name: "dpdk", Arch: "pna", Description: "P4 DPDK SmartNIC or host (IPDK infrap4d, stratum_tdi)",
		Compiler: "p4c-dpdk --arch pna", Formats: []string{FormatBfrt}, BinaryFile: "pipe.spec",
		CPUPort: 255, Limits: Limits{RangeAsMask: true, NoMulticast: true}, DenialMark: 0x80,
	},
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
