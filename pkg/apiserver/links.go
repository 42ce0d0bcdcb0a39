package apiserver

import (
	"context"
	"fmt"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// Links between switches are learned from LLDP probes that come back as
// packet-ins, and a device's packet-ins reach only its master: with
// mastership partitioned, each member sees the links into the devices it
// masters. Every member compiles the fabric from the links seen in both
// directions, so the members share what they saw: ExchangeLinks asks the
// others for the links they observed themselves and records them here.

// ExchangeLinks runs until ctx ends: every interval it asks every other
// member for the links it learned through its own packet-ins and adds
// them to this node's topology, expiring a probe's TTL after the member
// last saw them (so a link nobody sees any more ages out, and links are
// never passed on second hand).
func (s *Server) ExchangeLinks(ctx context.Context, every, ttl time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, m := range s.node.Status().Members {
			if m.ID == s.node.ID() {
				continue
			}
			if err := s.pullLinks(ctx, m.ID, ttl); err != nil && ctx.Err() == nil && s.log != nil {
				s.log.Debug("links of a member", "member", m.ID, "err", err)
			}
		}
	}
}

// pullLinks records member's own observed links in this node's topology.
func (s *Server) pullLinks(ctx context.Context, member string, ttl time.Duration) error {
	c, err := s.memberClient(member)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, memberCallTimeout)
	defer cancel()
	resp, err := c.Topology(ctx, &p4ctlv1.TopologyRequest{})
	if err != nil {
		return err
	}
	now := time.Now()
	for _, l := range resp.GetLinks() {
		if l.GetSource() != topo.SourcePacketIO {
			continue // second hand, or from the switches' gNMI (every node reads that itself)
		}
		seen := time.UnixMilli(l.GetLastSeenUnixMs())
		if seen.After(now) {
			seen = now // the member's clock runs ahead: hold the link no longer than a probe's TTL from now
		}
		expires := seen.Add(ttl)
		if !expires.After(now) {
			continue
		}
		s.ctl.Topology().SeeLink(topo.Link{From: topo.End{Device: l.GetADevice(), Port: l.GetAPort()}, To: topo.End{Device: l.GetBDevice(), Port: l.GetBPort()},
			LastSeen: seen, ExpiresAt: expires}, fmt.Sprintf("member %s (%s)", member, topo.SourcePacketIO))
	}
	return nil
}
