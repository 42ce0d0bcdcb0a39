package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestAssignEpochs: a device moved to another member gets a new, higher
// epoch; one given to the member it has keeps its epoch; "" forgets it.
// The assignment survives a restart from the log and from a snapshot.
func TestAssignEpochs(t *testing.T) {
	dir := t.TempDir()
	n := start(t, fast("n1", dir, true))
	waitLeader(t, n)
	ctx := ctxT(t, 20*time.Second)
	if err := n.Assign(ctx, map[string]string{"hv1": "n1", "hv2": "n2", "hv3": "n1"}); err != nil {
		t.Fatal(err)
	}
	first := n.Assignments()
	if first["hv1"].Member != "n1" || first["hv2"].Member != "n2" || first["hv1"].Epoch == 0 || first["hv1"].Epoch != first["hv2"].Epoch {
		t.Fatalf("after the first assignment: %+v", first)
	}
	if err := n.Assign(ctx, map[string]string{"hv1": "n1", "hv2": "n3", "hv3": ""}); err != nil {
		t.Fatal(err)
	}
	second := n.Assignments()
	if second["hv1"] != first["hv1"] {
		t.Errorf("hv1 stayed with n1 but its assignment went from %+v to %+v", first["hv1"], second["hv1"])
	}
	if second["hv2"].Member != "n3" || second["hv2"].Epoch <= first["hv2"].Epoch {
		t.Errorf("hv2 moved to n3: %+v after %+v, want n3 with a higher epoch", second["hv2"], first["hv2"])
	}
	if _, ok := second["hv3"]; ok {
		t.Errorf("hv3 was forgotten but is %+v", second["hv3"])
	}
	if first["hv3"].Member != "n1" {
		t.Error("the first map changed: assignments must be replaced, not modified")
	}
	if got := second.PerMember(); !reflect.DeepEqual(got, map[string]int{"n1": 1, "n3": 1}) {
		t.Errorf("per member %v", got)
	}
	n.Close()
	for _, snap := range []bool{false, true} {
		n, err := Start(fast("n1", dir, true))
		if err != nil {
			t.Fatal(err)
		}
		waitLeader(t, n)
		if err := n.Barrier(ctxT(t, 10*time.Second)); err != nil {
			t.Fatal(err)
		}
		if got := n.Assignments(); !reflect.DeepEqual(got, second) {
			t.Errorf("snapshot=%v: restarted with %+v, want %+v", snap, got, second)
		}
		if !snap {
			if err := n.Snapshot(); err != nil {
				t.Fatal(err)
			}
		}
		n.Close()
	}
}

// TestLiveMembers: the leader counts a member down once its heartbeats
// have failed for the grace, and live again when they resume.
func TestLiveMembers(t *testing.T) {
	n1 := start(t, fast("n1", t.TempDir(), true))
	waitLeader(t, n1)
	n2 := start(t, fast("n2", t.TempDir(), false))
	ctx := ctxT(t, 20*time.Second)
	if err := n1.Join(ctx, "n2", n2.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	n3 := start(t, fast("n3", t.TempDir(), false))
	if err := n1.Join(ctx, "n3", n3.RaftAddr()); err != nil {
		t.Fatal(err)
	}
	const grace = 500 * time.Millisecond
	if got := n1.LiveMembers(grace); !reflect.DeepEqual(got, []string{"n1", "n2", "n3"}) {
		t.Fatalf("live %v before any failure", got)
	}
	n3.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !reflect.DeepEqual(n1.LiveMembers(grace), []string{"n1", "n2"}) {
		if time.Now().After(deadline) {
			t.Fatalf("n3 stopped; live members still %v", n1.LiveMembers(grace))
		}
		select {
		case <-n1.MembersChanged():
		case <-time.After(50 * time.Millisecond):
		}
	}
	if down, since := n1.MemberDown("n3", grace); !down || since.IsZero() {
		t.Errorf("MemberDown(n3) = %v, %v", down, since)
	}
}

// TestLivenessOldLeader: a new leader counts the old leader's failures
// from when it last heard from it, once its own heartbeat to it fails;
// not when that heartbeat succeeds, not for other members, and not when
// another member won the term.
func TestLivenessOldLeader(t *testing.T) {
	heard := time.Now().Add(-5 * time.Second)
	leader := func(id string) raft.Observation {
		return raft.Observation{Data: raft.LeaderObservation{LeaderID: raft.ServerID(id)}}
	}
	failed := func(id string) raft.Observation {
		return raft.Observation{Data: raft.FailedHeartbeatObservation{PeerID: raft.ServerID(id)}}
	}
	resumed := func(id string) raft.Observation {
		return raft.Observation{Data: raft.ResumedHeartbeatObservation{PeerID: raft.ServerID(id)}}
	}
	const grace = 3 * time.Second
	for _, tc := range []struct {
		name   string
		obs    []raft.Observation
		member string
		down   bool // at once, though its failure was observed just now
	}{
		{"old leader dead", []raft.Observation{leader("n1"), leader(""), leader("n2"), failed("n1")}, "n1", true},
		{"old leader answers first", []raft.Observation{leader("n1"), leader(""), leader("n2"), resumed("n1"), failed("n1")}, "n1", false},
		{"another member fails", []raft.Observation{leader("n1"), leader(""), leader("n2"), failed("n3")}, "n3", false},
		{"another member won", []raft.Observation{leader("n1"), leader(""), leader("n3"), leader(""), leader("n2"), failed("n1")}, "n1", false},
		{"this member was the leader", []raft.Observation{leader("n2"), leader(""), leader("n2"), failed("n1")}, "n1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLiveness("n2")
			for _, o := range tc.obs {
				l.observe(o, heard)
			}
			if down, _ := l.down(tc.member, grace, time.Now()); down != tc.down {
				t.Errorf("down(%s) = %v, want %v", tc.member, down, tc.down)
			}
			if _, failing := l.failing[tc.member]; !failing && tc.down {
				t.Errorf("%s not failing", tc.member)
			}
		})
	}
}
