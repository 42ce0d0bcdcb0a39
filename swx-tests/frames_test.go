package swxtests

import (
	"github.com/gopacket/gopacket/layers"

	"github.com/p4ctl/p4ctl/internal/frametest"
)

// The cases' endpoints and packets are frametest's, shared with the BMv2
// tier (bmv2-tests); the shorthands for the flows the cases send are this
// tier's.
type (
	host = frametest.Host
	flow = frametest.Flow
)

func udp(src, dst host, dport uint16) flow {
	return flow{Src: src, Dst: dst, Proto: layers.IPProtocolUDP, SPort: 40000, DPort: dport}
}

func tcp(src, dst host, sport, dport uint16, syn, ack bool) flow {
	return flow{Src: src, Dst: dst, Proto: layers.IPProtocolTCP, SPort: sport, DPort: dport, SYN: syn, ACK: ack}
}
