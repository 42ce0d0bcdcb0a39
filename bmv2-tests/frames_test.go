package bmv2tests

import "github.com/p4ctl/p4ctl/internal/frametest"

// The cases' endpoints and packets are frametest's, shared with the DPDK
// tier (swx-tests); the scenario's hosts and the shorthands for the flows
// the cases send (udp, tcp) are this tier's.
type (
	host = frametest.Host
	flow = frametest.Flow
)
