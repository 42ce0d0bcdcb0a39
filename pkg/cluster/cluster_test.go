package cluster

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"os"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

func fast(id, dir string, bootstrap bool) Config {
	return Config{ID: id, RaftAddr: "127.0.0.1:0", DataDir: dir, Bootstrap: bootstrap,
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond, LeaderLeaseTimeout: 100 * time.Millisecond}
}

func start(t testing.TB, cfg Config) *Node {
	t.Helper()
	n, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func waitLeader(t testing.TB, nodes ...*Node) *Node {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, n := range nodes {
			if n.IsLeader() {
				return n
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no leader within 10s")
	return nil
}

func example(t testing.TB) []byte {
	b, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSingleNodeApplyAndRefuse(t *testing.T) {
	n := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n)
	res, err := n.Apply(ctxT(t, 10*time.Second), "segmentation.yaml", example(t))
	if err != nil {
		t.Fatal(err)
	}
	m, idx := n.Model()
	if res.Objects != 22 || len(m.Endpoints) != 7 || idx != res.Index {
		t.Fatalf("applied %d objects at %d; model has %d endpoints at %d", res.Objects, res.Index, len(m.Endpoints), idx)
	}
	// A bad document: refused with the validation error, state untouched.
	bad := "kind: Endpoint\nname: web-9\nsegment: prod\nmac: 02:00:00:00:00:01\ndevice: leaf1\nport: 1\n"
	_, err = n.Apply(ctxT(t, 10*time.Second), "bad.yaml", []byte(bad))
	if err == nil || !strings.Contains(err.Error(), "02:00:00:00:00:01 is already web-1's") {
		t.Fatalf("bad apply: err = %v", err)
	}
	if m2, _ := n.Model(); m2 != m {
		t.Error("a refused apply changed the model")
	}
	// Delete: all or nothing.
	_, err = n.Delete(ctxT(t, 10*time.Second), []policy.Deletion{{Kind: policy.KindEndpoint, Name: "web-1"}, {Kind: policy.KindEndpoint, Name: "nope"}})
	if err == nil || !strings.Contains(err.Error(), "Endpoint nope: not found") {
		t.Fatalf("delete with an unknown name: err = %v", err)
	}
	if m2, _ := n.Model(); len(m2.Endpoints) != 7 {
		t.Error("a refused delete changed the model")
	}
	if _, err := n.Delete(ctxT(t, 10*time.Second), []policy.Deletion{{Kind: policy.KindEndpoint, Name: "web-1"}}); err != nil {
		t.Fatal(err)
	}
	if m2, _ := n.Model(); len(m2.Endpoints) != 6 {
		t.Errorf("after delete: %d endpoints", len(m2.Endpoints))
	}
}

// TestRestartAndSnapshot restarts a node from its data directory, once
// replaying the log and once restoring a snapshot, and gets the same
// state back.
func TestRestartAndSnapshot(t *testing.T) {
	dir := t.TempDir()
	n, err := Start(fast("n1", dir, true))
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, n)
	if _, err := n.Apply(ctxT(t, 10*time.Second), "segmentation.yaml", example(t)); err != nil {
		t.Fatal(err)
	}
	// A history whose identity ids a fresh build of the final documents
	// would not reproduce: an identity comes and goes before another.
	for _, doc := range []string{
		"kind: Endpoint\nname: tmp\nsegment: prod\nmac: 02:00:00:00:09:01\ndevice: leaf1\nport: 1\nlabels: {app: tmp}\n",
		"",
		"kind: Endpoint\nname: late\nsegment: prod\nmac: 02:00:00:00:09:02\ndevice: leaf1\nport: 1\nlabels: {app: late}\n",
	} {
		var err error
		if doc == "" {
			_, err = n.Delete(ctxT(t, 10*time.Second), []policy.Deletion{{Kind: policy.KindEndpoint, Name: "tmp"}})
		} else {
			_, err = n.Apply(ctxT(t, 10*time.Second), "ids.yaml", []byte(doc))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	want, _ := n.Model()
	wantText := string(policy.Marshal(want.Objects()))
	wantIDs := want.Identities()
	fresh, _, err := policy.Build(want.Objects())
	if err != nil {
		t.Fatal(err)
	}
	if reflect.DeepEqual(fresh.Identities(), wantIDs) {
		t.Fatal("test history does not make identity ids that differ from a fresh build")
	}
	n.Close()

	for _, snap := range []bool{false, true} {
		n, err := Start(fast("n1", dir, true)) // bootstrap is ignored: state exists
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, n)
		if err := n.Barrier(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		got, _ := n.Model()
		if text := string(policy.Marshal(got.Objects())); text != wantText {
			t.Errorf("snapshot=%v: restarted with another model:\n%s", snap, text)
		}
		if ids := got.Identities(); !reflect.DeepEqual(ids, wantIDs) {
			t.Errorf("snapshot=%v: restarted with identity ids %+v, want %+v", snap, ids, wantIDs)
		}
		if !snap {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
		n.Close()
	}
}

// TestThreeNodes forms a cluster, replicates, refuses writes on
// followers (naming the leader), survives the leader's death, and refuses
// a join with an address nobody listens on.
func TestThreeNodes(t *testing.T) {
	n1 := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n1)
	n2 := start(t, fast("n2", t.TempDir(), false))
	n3 := start(t, fast("n3", t.TempDir(), false))
	for _, n := range []*Node{n2, n3} {
		if err := n1.Join(ctxT(t, 10*time.Second), n.ID(), n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.Join(ctxT(t, 5*time.Second), "n4", "127.0.0.1:1"); err == nil || !strings.Contains(err.Error(), "cannot reach its raft address 127.0.0.1:1") {
		t.Errorf("join with a dead address: err = %v", err)
	}
	res, err := n1.Apply(ctxT(t, 10*time.Second), "segmentation.yaml", example(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{n2, n3} {
		if err := n.WaitApplied(ctxT(t, 10*time.Second), res.Index); err != nil {
			t.Fatal(err)
		}
		if m, _ := n.Model(); len(m.Endpoints) != 7 {
			t.Errorf("%s has %d endpoints", n.ID(), len(m.Endpoints))
		}
	}
	var nl *ErrNotLeader
	if _, err := n2.Apply(ctxT(t, 5*time.Second), "x.yaml", []byte("kind: Segment\nname: x\nid: 99\n")); !errors.As(err, &nl) || nl.LeaderID != "n1" {
		t.Errorf("apply on a follower: err = %v", err)
	}
	st := n1.Status()
	if len(st.Members) != 3 || st.LeaderID != "n1" {
		t.Errorf("status %+v", st)
	}

	// Kill the leader: one of the others takes over with a higher term and
	// takes writes.
	term := n1.Term()
	start := time.Now()
	n1.Close()
	leader := waitLeader(t, n2, n3)
	t.Logf("new leader %s after %s", leader.ID(), time.Since(start).Round(time.Millisecond))
	if leader.Term() <= term {
		t.Errorf("new leader's term %d is not above the old %d", leader.Term(), term)
	}
	res, err = leader.Apply(ctxT(t, 10*time.Second), "more.yaml", []byte("kind: Segment\nname: lab\nid: 30\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []*Node{n2, n3} {
		if err := n.WaitApplied(ctxT(t, 10*time.Second), res.Index); err != nil {
			t.Fatal(err)
		}
		if m, _ := n.Model(); len(m.Segments) != 3 {
			t.Errorf("%s has %d segments", n.ID(), len(m.Segments))
		}
	}

	// Without quorum a write fails with an error, and changes nothing.
	other := n2
	if leader == n2 {
		other = n3
	}
	other.Close()
	before, _ := leader.Model()
	_, err = leader.Apply(ctxT(t, 3*time.Second), "noquorum.yaml", []byte("kind: Segment\nname: nq\nid: 31\n"))
	if err == nil {
		t.Fatal("apply without quorum succeeded")
	}
	t.Logf("without quorum: %v", err)
	if after, _ := leader.Model(); after != before {
		t.Error("a write without quorum changed the model")
	}
}

func TestLeadershipNotices(t *testing.T) {
	n := start(t, fast("n1", t.TempDir(), true))
	select {
	case l := <-n.Leadership():
		if !l {
			t.Fatal("first notice is not leadership gained")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no leadership notice")
	}
	if _, err := n.Apply(ctxT(t, 10*time.Second), "s.yaml", []byte("kind: Segment\nname: s\nid: 1\n")); err != nil {
		t.Fatal(err)
	}
	select {
	case idx := <-n.Changes():
		if idx == 0 {
			t.Error("change notice without an index")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no change notice")
	}
}

// TestPreparedProposals: the leader's state machine adopts a proposal's
// model when it meets the state the proposal was prepared on, and
// validates it again when something else was applied in between.
func TestPreparedProposals(t *testing.T) {
	n := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n)
	p, err := n.Prepare(context.Background(), "segmentation.yaml", example(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := n.Commit(ctxT(t, 10*time.Second), p)
	if err != nil {
		t.Fatal(err)
	}
	if m, idx := n.Model(); m != p.Next() || idx != res.Index || res.Objects != 22 {
		t.Fatalf("model adopted: %v, index %d (result %d), %d objects", m == p.Next(), idx, res.Index, res.Objects)
	}

	// Three proposals prepared on the same state: x takes segment id 99,
	// y asks for the same id, z for another. Once x commits, y and z
	// were checked against a model that is gone: every node refuses them
	// (a caller's capacity check, say, held for that model only), and z
	// prepared again commits.
	prep := func(doc string) *Proposal {
		t.Helper()
		p, err := n.Prepare(context.Background(), "more.yaml", []byte(doc))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	x, y, z := prep("kind: Segment\nname: x\nid: 99\n"), prep("kind: Segment\nname: y\nid: 99\n"), prep("kind: Segment\nname: z\nid: 98\n")
	if _, err := n.Commit(ctxT(t, 10*time.Second), x); err != nil {
		t.Fatal(err)
	}
	afterX, _ := n.Model()
	for name, p := range map[string]*Proposal{"y": y, "z": z} {
		if _, err := n.Commit(ctxT(t, 10*time.Second), p); !errors.Is(err, ErrStale) {
			t.Errorf("proposal %s, overtaken by x: err = %v, want ErrStale", name, err)
		}
	}
	if m, _ := n.Model(); m != afterX {
		t.Error("a refused proposal changed the model")
	}
	if _, err := n.Commit(ctxT(t, 10*time.Second), prep("kind: Segment\nname: z\nid: 98\n")); err != nil {
		t.Fatal(err)
	}
	m, _ := n.Model()
	if m.Segments["x"] == nil || m.Segments["z"] == nil || m.Segments["y"] != nil {
		t.Errorf("segments %v, want x and z", slices.Sorted(maps.Keys(m.Segments)))
	}
	// The revision check holds after a restart from a snapshot too.
	if err := n.Snapshot(); err != nil {
		t.Fatal(err)
	}
	_, rev := n.fsm.currentRevision()
	if _, idx := n.Model(); rev != idx {
		t.Errorf("revision %d, want the last change's index %d", rev, idx)
	}
}

// TestMembershipSafety: a join that reuses a member's id with another
// address, or another id with a member's address, is refused naming both
// and leaves the membership as it was; a member restarted on its own
// data dir with its own id and address joins again without a change; and
// the leader can leave, after which the others elect a new one.
func TestMembershipSafety(t *testing.T) {
	n1 := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n1)
	dir2 := t.TempDir()
	n2 := start(t, fast("n2", dir2, false))
	n3 := start(t, fast("n3", t.TempDir(), false))
	for _, n := range []*Node{n2, n3} {
		if err := n1.Join(ctxT(t, 10*time.Second), n.ID(), n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	members := func() string { return fmt.Sprint(n1.Status().Members) }
	before := members()

	// A newcomer started without --node-id on a machine whose member
	// already has that id.
	impostor := start(t, fast("n2", t.TempDir(), false))
	err := n1.Join(ctxT(t, 5*time.Second), "n2", impostor.RaftAddr())
	if !errors.Is(err, ErrMembership) || !strings.Contains(err.Error(), "join of n2 at "+impostor.RaftAddr()+" refused: member n2 is at "+n2.RaftAddr()) {
		t.Errorf("same id, other address: err = %v", err)
	}
	err = n1.Join(ctxT(t, 5*time.Second), "n9", n3.RaftAddr())
	if !errors.Is(err, ErrMembership) || !strings.Contains(err.Error(), "join of n9 at "+n3.RaftAddr()+" refused: that raft address is member n3's") {
		t.Errorf("other id, same address: err = %v", err)
	}
	if after := members(); after != before {
		t.Errorf("refused joins changed the membership:\n%s\n%s", before, after)
	}

	// n2 restarts on its data dir, with its id and address, and joins
	// again: accepted, nothing changes.
	addr2 := n2.RaftAddr()
	n2.Close()
	cfg := fast("n2", dir2, false)
	cfg.RaftAddr = addr2
	n2 = start(t, cfg)
	if err := n1.Join(ctxT(t, 10*time.Second), "n2", addr2); err != nil {
		t.Errorf("rejoin on its own data dir: %v", err)
	}
	if after := members(); after != before {
		t.Errorf("the rejoin changed the membership:\n%s\n%s", before, after)
	}

	// The leader leaves: the other two elect one of themselves and take
	// writes.
	if err := n1.Leave(ctxT(t, 10*time.Second), "n1"); err != nil {
		t.Fatal(err)
	}
	leader := waitLeader(t, n2, n3)
	if _, err := leader.Apply(ctxT(t, 10*time.Second), "after.yaml", []byte("kind: Segment\nname: after\nid: 40\n")); err != nil {
		t.Fatalf("apply after the leader left: %v", err)
	}
	for _, m := range leader.Status().Members {
		if m.ID == "n1" {
			t.Errorf("n1 still a member: %+v", leader.Status().Members)
		}
	}
}

// TestApplyNoDocuments: a file without documents is refused, naming the
// file, and nothing is committed.
func TestApplyNoDocuments(t *testing.T) {
	n := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n)
	_, before := n.Model()
	for _, docs := range []string{"", "---\n# a comment\n---\n"} {
		if _, err := n.Apply(ctxT(t, 5*time.Second), "empty.yaml", []byte(docs)); err == nil || err.Error() != "empty.yaml: no documents" {
			t.Errorf("apply %q: err = %v", docs, err)
		}
	}
	if _, after := n.Model(); after != before {
		t.Errorf("applied index moved from %d to %d", before, after)
	}
}

// TestHistory: every committed change is a revision (index, time, client,
// what it added, changed and removed); the history survives a restart,
// from the log and from a snapshot, and keeps only the newest
// HistoryRetention; a rollback brings back the model of an earlier
// revision, as one validated change.
func TestHistory(t *testing.T) {
	dir := t.TempDir()
	cfg := fast("n1", dir, true)
	cfg.HistoryRetention = 4
	n := start(t, cfg)
	waitLeader(t, n)
	ctx := WithClient(ctxT(t, 10*time.Second), "CN=alice")
	r1, err := n.Apply(ctx, "segmentation.yaml", example(t))
	if err != nil {
		t.Fatal(err)
	}
	at1, _ := n.Model()
	if _, err := n.Apply(ctx, "relabel.yaml", []byte("kind: Endpoint\nname: web-1\nsegment: prod\nmac: 02:00:00:00:00:01\nips: [10.0.0.1]\ndevice: leaf1\nport: 1\nlabels: {tier: app}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Delete(WithClient(ctxT(t, 10*time.Second), "CN=bob"), []policy.Deletion{{Kind: policy.KindPolicy, Name: "dns"}}); err != nil {
		t.Fatal(err)
	}
	h := n.History()
	if len(h) != 3 || h[0].Index != r1.Index || h[0].Client != "CN=alice" || h[2].Client != "CN=bob" || h[0].Time.IsZero() {
		t.Fatalf("history %+v", h)
	}
	if len(h[0].Added) != 22 || len(h[1].Changed) != 1 || h[1].Changed[0] != "Endpoint web-1" || len(h[2].Removed) != 1 ||
		!strings.HasPrefix(h[1].Summary, "apply relabel.yaml: 0 added, 1 changed, 0 removed (Endpoint web-1)") {
		t.Errorf("revisions: %+v / %+v / %+v", h[0].Added, h[1], h[2])
	}

	// Roll back to the first revision: web-1 gets its labels back and dns
	// returns.
	p, err := n.PrepareRollback(WithClient(ctxT(t, 10*time.Second), "CN=carol"), r1.Index)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Commit(ctxT(t, 10*time.Second), p); err != nil {
		t.Fatal(err)
	}
	now, _ := n.Model()
	if a, b := string(policy.Marshal(at1.Objects())), string(policy.Marshal(now.Objects())); a != b {
		t.Errorf("after the rollback the model differs from revision %d's:\n%s\n---\n%s", r1.Index, a, b)
	}
	if _, err := n.PrepareRollback(ctxT(t, 10*time.Second), 999); err == nil || !strings.Contains(err.Error(), "revision 999 is not in the history") {
		t.Errorf("unknown revision: err = %v", err)
	}

	// One more change: the oldest revision goes (retention 4).
	if _, err := n.Apply(ctxT(t, 10*time.Second), "seg.yaml", []byte("kind: Segment\nname: extra\nid: 55\n")); err != nil {
		t.Fatal(err)
	}
	want := n.History()
	if len(want) != 4 || want[0].Index == r1.Index {
		t.Errorf("retention 4 kept %d revisions from %d", len(want), want[0].Index)
	}
	n.Close()

	// Restarts: from the log, then from a snapshot.
	for _, snap := range []bool{false, true} {
		n := start(t, cfg)
		waitLeader(t, n)
		if err := n.Barrier(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := n.History(); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("snapshot=%v: history after a restart\n%+v\nwant\n%+v", snap, got, want)
		}
		if !snap {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
		n.Close()
	}
}

// TestApplyFiles: several files are one change, validated together (a
// Port in one names a Segment in the other) and refused together (a bad
// document in the second leaves the first uncommitted), errors naming
// their file.
func TestApplyFiles(t *testing.T) {
	n := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n)
	seg := Source{File: "seg.yaml", Docs: "kind: Segment\nname: s\nid: 5\n"}
	dev := Source{File: "dev.yaml", Docs: "kind: Device\nname: d1\naddress: 127.0.0.1:1\n---\nkind: Port\ndevice: d1\nport: 1\nsegment: s\nrole: promiscuous\n"}
	bad := Source{File: "bad.yaml", Docs: "kind: Segment\nname: t\nid: 5\n"}
	_, err := n.PrepareFiles(ctxT(t, 10*time.Second), []Source{dev, bad})
	if err == nil || !strings.Contains(err.Error(), `dev.yaml:5: Port d1/1: segment: unknown segment "s"`) {
		t.Fatalf("a port naming a segment no file defines: %v", err)
	}
	if _, err = n.PrepareFiles(ctxT(t, 10*time.Second), []Source{seg, dev, bad}); err == nil || !strings.Contains(err.Error(), "bad.yaml:1: Segment t: id: segment id 5 is already s's (seg.yaml:1)") {
		t.Fatalf("three files, the last bad: %v", err)
	}
	if m, _ := n.Model(); len(m.Segments) != 0 {
		t.Fatal("a refused multi-file apply changed the model")
	}
	p, err := n.PrepareFiles(ctxT(t, 10*time.Second), []Source{dev, seg})
	if err != nil {
		t.Fatalf("a port before the segment it names, in another file: %v", err)
	}
	res, err := n.Commit(ctxT(t, 10*time.Second), p)
	if err != nil || res.Objects != 3 {
		t.Fatalf("commit: %+v %v", res, err)
	}
	if h := n.History(); len(h) != 1 || !strings.Contains(h[0].Summary, "apply dev.yaml seg.yaml: 3 added") {
		t.Errorf("history %+v", h)
	}
}

// TestRollbackOfPromote: a staged policy promoted to enforced goes back
// to staged when the model is rolled back to before the promote, although
// applying a staged policy over an enforced one of the same name is
// refused.
func TestRollbackOfPromote(t *testing.T) {
	n := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n)
	ctx := ctxT(t, 10*time.Second)
	if _, err := n.Apply(ctx, "segmentation.yaml", example(t)); err != nil {
		t.Fatal(err)
	}
	staged := "kind: Policy\nname: web-lockdown\nsegment: prod\npriority: 300\nmode: staged\nfrom: \"tier: web\"\nto: \"tier: app\"\nrules:\n  - {proto: tcp, ports: [8443], action: deny}\n"
	r, err := n.Apply(ctx, "staged.yaml", []byte(staged))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "promote.yaml", []byte(strings.ReplaceAll(staged, "mode: staged", "mode: enforce"))); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Apply(ctx, "again.yaml", []byte(staged)); err == nil || !strings.Contains(err.Error(), "is enforced") {
		t.Fatalf("staged over enforced applied: %v", err)
	}
	p, err := n.PrepareRollback(ctx, r.Index)
	if err != nil {
		t.Fatalf("rolling back the promote: %v", err)
	}
	if _, err := n.Commit(ctx, p); err != nil {
		t.Fatal(err)
	}
	m, _ := n.Model()
	if p := m.Policies["web-lockdown"]; p == nil || !p.Staged {
		t.Errorf("after the rollback web-lockdown is %+v, want staged", p)
	}
}
