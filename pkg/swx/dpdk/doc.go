// Package dpdk runs DPDK's SWX pipeline (DPDK 22.11, Debian's libdpdk-dev)
// for pkg/swx: EAL, the ports (virtual devices such as net_tap or
// net_af_packet), a pipeline built from a p4c-dpdk .spec (the pipeline's
// codegen, then gcc into a shared library, then the library loaded), its
// data-plane thread on one lcore, the control API, and the CPU port's
// rings. It is cgo and builds only with the swx build tag
// (go build -tags swx), so that p4ctl itself stays pure Go; without the
// tag the package is empty.
package dpdk
