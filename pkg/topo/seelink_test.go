package topo

import (
	"testing"
	"time"
)

// TestSeeLink: a member's link is added; an older report of the same
// From does not replace a fresher one; a newer one does; it expires when
// it says.
func TestSeeLink(t *testing.T) {
	tp := New()
	now := time.Now()
	from := End{"leaf1", 5}
	tp.SeeLink(Link{From: from, To: End{"spine1", 1}, LastSeen: now, ExpiresAt: now.Add(20 * time.Second)}, "member n2")
	tp.SeeLink(Link{From: from, To: End{"spine2", 1}, LastSeen: now.Add(-time.Second), ExpiresAt: now.Add(19 * time.Second)}, "member n3")
	_, links, _ := tp.Snapshot()
	if len(links) != 1 || links[0].To != (End{"spine1", 1}) || links[0].Source != "member n2" {
		t.Fatalf("after an older report: %+v", links)
	}
	tp.SeeLink(Link{From: from, To: End{"spine2", 1}, LastSeen: now.Add(time.Second), ExpiresAt: now.Add(21 * time.Second)}, "member n3")
	_, links, _ = tp.Snapshot()
	if len(links) != 1 || links[0].To != (End{"spine2", 1}) {
		t.Fatalf("after a newer report: %+v", links)
	}
	if !tp.Expire(now.Add(22 * time.Second)) {
		t.Error("the link did not expire")
	}
}
