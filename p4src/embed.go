// Package p4src holds the P4 source of the p4ctl pipeline and embeds its
// compiled artifacts (build/<arch>: the P4Info, and BMv2's JSON or the
// bfrt.json and pipe/ profile of a Tofino or DPDK build), so that the
// controller runs and packs device configs without a P4 compiler
// installed. The compilers' reports (build/<arch>/pipe/logs) are
// committed beside them but not embedded.
//
// The artifacts are regenerated with `make p4`, `make p4-pna`, `make
// p4-tna` and `make p4-t2na`; TestArtifactsFresh in pkg/pipeline fails when
// they are stale against the source.
package p4src

import (
	"embed"
	"io/fs"
)

// build is the tree as embedded: the Tofino builds' context.json and
// binary as name.gz, the only form committed (make p4-tna and p4-t2na
// write them so).
//
//go:embed build/v1model build/pna
//go:embed build/tna/p4info.txtpb build/tna/bfrt.json build/tna/pipe/context.json.gz build/tna/pipe/tofino.bin.gz
//go:embed build/t2na/p4info.txtpb build/t2na/bfrt.json build/t2na/pipe/context.json.gz build/t2na/pipe/tofino2.bin.gz
var build embed.FS

// Build is the tree of compiled artifacts, one directory per architecture,
// every file under the name its compiler gave it.
var Build fs.FS = gunzipFS{build}
