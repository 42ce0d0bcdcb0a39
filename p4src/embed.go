// Package p4src holds the P4 source of the p4ctl pipeline and embeds its
// compiled artifacts (build/<arch>/p4info.txtpb and build/<arch>/bmv2.json),
// so that the controller runs without a P4 compiler installed.
//
// The artifacts are regenerated with `make p4`; TestArtifactsFresh in
// pkg/pipeline fails when they are stale against the source.
package p4src

import "embed"

// Build is the tree of compiled artifacts, one directory per architecture.
//
//go:embed build
var Build embed.FS
