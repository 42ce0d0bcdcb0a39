package apiserver

import (
	"context"
	"strings"
	"testing"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/topo"
)

// TestExchangeLinks: a link n2 learned from a probe's packet-in reaches
// n1's topology, marked as n2's; a link n1 holds only second hand is not
// passed back; and it ages out a probe's TTL after n2 last saw it.
func TestExchangeLinks(t *testing.T) {
	m1 := startMember(t, "n1", true)
	until(t, "n1 leads", m1.node.IsLeader)
	if err := m1.node.SetAPIAddr(ctxT(t), "n1", m1.api); err != nil {
		t.Fatal(err)
	}
	m2 := startMember(t, "n2", false)
	if _, err := m1.c.Join(ctxT(t), &p4ctlv1.JoinRequest{Id: "n2", RaftAddr: m2.node.RaftAddr(), ApiAddr: m2.api}); err != nil {
		t.Fatal(err)
	}
	until(t, "n2 knows n1's API", func() bool { return m2.node.APIAddr("n1") == m1.api })
	// leaf1's port 5 probe arrived at spine1 port 1, whose master is n2.
	frame, err := topo.ProbeFrame("leaf1", 5, 20*time.Second, "p4ctl n1")
	if err != nil {
		t.Fatal(err)
	}
	if err := m2.ctl.Topology().HandlePacketIn("spine1", 1, frame, time.Now()); err != nil {
		t.Fatal(err)
	}
	const ttl = 2 * time.Second
	if err := m1.srv.pullLinks(ctxT(t), "n2", ttl); err != nil {
		t.Fatal(err)
	}
	_, links, _ := m1.ctl.Topology().Snapshot()
	if len(links) != 1 || links[0].From != (topo.End{Device: "leaf1", Port: 5}) || links[0].To != (topo.End{Device: "spine1", Port: 1}) ||
		!strings.Contains(links[0].Source, "member n2") {
		t.Fatalf("n1's links after pulling n2's: %+v", links)
	}
	// n2 pulls from n1: n1 has the link second hand only, so nothing
	// comes back that would keep it alive after n2 stops seeing it.
	if err := m2.srv.pullLinks(ctxT(t), "n1", ttl); err != nil {
		t.Fatal(err)
	}
	_, l2, _ := m2.ctl.Topology().Snapshot()
	if len(l2) != 1 || l2[0].Source != topo.SourcePacketIO {
		t.Fatalf("n2's links after pulling n1's: %+v", l2)
	}
	// Expiry: ttl after n2 last saw it.
	m1.ctl.Topology().Expire(time.Now().Add(ttl + time.Second))
	if _, links, _ := m1.ctl.Topology().Snapshot(); len(links) != 0 {
		t.Errorf("the link outlived its TTL on n1: %+v", links)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m1.srv.ExchangeLinks(ctx, time.Hour, ttl) // returns at once when ctx is done
}
