package apiserver

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// TestPruneDiffRollbackPreview: Diff with prune lists what the files do
// not name as removed, with each object's documents; Apply with prune
// commits the files and the deletions as one revision, and refuses (and
// changes nothing) when the model is no longer at the revision the
// preview was made on; Rollback with dry_run answers with the changes and
// commits nothing. A follower forwards them to the leader.
func TestPruneDiffRollbackPreview(t *testing.T) {
	m1 := startMember(t, "n1", true)
	until(t, "n1 leads", m1.node.IsLeader)
	if err := m1.node.SetAPIAddr(ctxT(t), "n1", m1.api); err != nil {
		t.Fatal(err)
	}
	base := "kind: Segment\nname: a\nid: 10\n---\nkind: Segment\nname: b\nid: 11\n"
	res, err := m1.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{File: "base.yaml", Docs: []byte(base)})
	if err != nil {
		t.Fatal(err)
	}
	first := res.GetIndex()
	keep := []*p4ctlv1.SourceFile{{Name: "keep.yaml", Docs: []byte("kind: Segment\nname: a\nid: 10\ndefault: allow\n")}}

	d, err := m1.c.Diff(ctxT(t), &p4ctlv1.DiffRequest{Files: keep, Prune: true})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*p4ctlv1.ObjectChange{}
	for _, o := range d.GetObjects() {
		got[o.GetRef()] = o
	}
	if len(got) != 2 || got["Segment a"].GetChange() != "changed" || got["Segment b"].GetChange() != "removed" || !d.GetDevicesUnknown() ||
		d.GetRevision() != first || !strings.Contains(got["Segment a"].GetBefore(), "default: deny") ||
		!strings.Contains(got["Segment a"].GetAfter(), "default: allow") || got["Segment b"].GetAfter() != "" {
		t.Fatalf("diff with prune: %v", d)
	}
	// Without prune, b stays, and the documents come along too.
	d, err = m1.c.Diff(ctxT(t), &p4ctlv1.DiffRequest{Files: keep})
	if err != nil || len(d.GetObjects()) != 1 || d.GetObjects()[0].GetBefore() == "" || d.GetDevicesUnknown() {
		t.Fatalf("diff: %v %v", d, err)
	}

	// Previewed on another revision: refused, nothing changes.
	_, err = m1.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{Files: keep, Prune: true, PruneRevision: first - 1})
	if status.Code(err) != codes.FailedPrecondition || !strings.Contains(err.Error(), "previewed on revision") {
		t.Errorf("prune previewed on another revision: %v", err)
	}
	if _, rev := m1.node.Model(); rev != first {
		t.Errorf("the refused prune changed the model (index %d)", rev)
	}
	// Through the follower's API it reaches the leader.
	m2 := startMember(t, "n2", false)
	if _, err := m1.c.Join(ctxT(t), &p4ctlv1.JoinRequest{Id: "n2", RaftAddr: m2.node.RaftAddr(), ApiAddr: m2.api}); err != nil {
		t.Fatal(err)
	}
	res, err = m2.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{Files: keep, Prune: true, PruneRevision: first})
	if err != nil || res.GetObjects() != 2 || res.GetUnchanged() {
		t.Fatalf("prune: %v %v", res, err)
	}
	hist := m1.node.History()
	last := hist[len(hist)-1]
	if len(hist) != 2 || strings.Join(last.Changed, ",") != "Segment a" || strings.Join(last.Removed, ",") != "Segment b" {
		t.Errorf("the prune's revision: %+v", last)
	}
	// The same again: nothing to do, no revision.
	if res, err := m1.c.Apply(ctxT(t), &p4ctlv1.ApplyRequest{Files: keep, Prune: true}); err != nil || !res.GetUnchanged() {
		t.Errorf("prune again: %v %v", res, err)
	}

	// Rollback preview: b comes back, a goes back to deny; nothing is
	// committed.
	pre, err := m2.c.Rollback(ctxT(t), &p4ctlv1.RollbackRequest{Revision: first, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	got = map[string]*p4ctlv1.ObjectChange{}
	for _, o := range pre.GetChanges() {
		got[o.GetRef()] = o
	}
	if len(got) != 2 || got["Segment b"].GetChange() != "added" || got["Segment a"].GetChange() != "changed" || pre.GetIndex() != res.GetIndex() {
		t.Errorf("rollback preview: %v", pre)
	}
	if n := len(m1.node.History()); n != 2 {
		t.Errorf("the rollback preview committed: %d revisions", n)
	}
}
