//go:build !swx

// Command p4ctl-swx is a P4Runtime server for DPDK's SWX pipeline. This
// build has no DPDK: build it with `go build -tags swx ./cmd/p4ctl-swx`
// on a host with DPDK 22.11 (docs/targets.md).
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "p4ctl-swx: built without DPDK; build it with: go build -tags swx ./cmd/p4ctl-swx (needs libdpdk-dev; docs/targets.md)")
	os.Exit(2)
}
