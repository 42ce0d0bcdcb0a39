package controller

import (
	"fmt"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

func devices(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("hv%04d", i+1)
	}
	return out
}

// TestRendezvousMovesOnlyWhatItMust: adding a fourth member moves about a
// quarter of the devices, all of them to the new member; removing a
// member moves only its own devices; the spread is even.
func TestRendezvousMovesOnlyWhatItMust(t *testing.T) {
	devs := devices(1000)
	three := Rendezvous(devs, []string{"n1", "n2", "n3"})
	four := Rendezvous(devs, []string{"n1", "n2", "n3", "n4"})
	moved := 0
	for _, d := range devs {
		if three[d] != four[d] {
			moved++
			if four[d] != "n4" {
				t.Errorf("%s moved from %s to %s, not to the new member", d, three[d], four[d])
			}
		}
	}
	if moved < 180 || moved > 320 {
		t.Errorf("adding a fourth member moved %d of 1000 devices, want about 250", moved)
	}
	per := map[string]int{}
	for _, m := range three {
		per[m]++
	}
	for m, n := range per {
		if n < 280 || n > 390 {
			t.Errorf("member %s masters %d of 1000 devices, want about 333", m, n)
		}
	}
	two := Rendezvous(devs, []string{"n1", "n3"})
	for _, d := range devs {
		if three[d] != "n2" && two[d] != three[d] {
			t.Errorf("%s moved from %s to %s though its master stayed", d, three[d], two[d])
		}
	}
	// Order of the members does not matter; no members, no masters.
	again := Rendezvous(devs, []string{"n3", "n1", "n2"})
	for _, d := range devs {
		if again[d] != three[d] {
			t.Fatalf("%s: %s with members in another order, %s before", d, again[d], three[d])
		}
	}
	if got := Rendezvous(devs, nil); len(got) != 0 {
		t.Errorf("no members: %d assignments", len(got))
	}
}

func TestAssignMoves(t *testing.T) {
	cur := cluster.Assignments{"a": {Member: "n1", Epoch: 5}, "b": {Member: "n2", Epoch: 6}, "gone": {Member: "n1", Epoch: 7}}
	got := assignMoves(cur, map[string]string{"a": "n1", "b": "n3", "new": "n2"})
	want := map[string]string{"b": "n3", "new": "n2", "gone": ""}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("moves %v, want %v", got, want)
	}
}

// TestMasterElectionIDOrder: a later epoch outranks an earlier one, and
// every master outranks the ids of leaders before epochs (the term in
// the same word) for any epoch above the term, and every backup.
func TestMasterElectionIDOrder(t *testing.T) {
	less := func(a, b p4rt.ElectionID) bool { return a.High < b.High || a.High == b.High && a.Low < b.Low }
	for _, c := range []struct{ a, b uint64 }{{1, 2}, {9, 10}, {1 << 20, 1<<20 + 1}} {
		if !less(MasterElectionID(c.a), MasterElectionID(c.b)) {
			t.Errorf("epoch %d does not rank below epoch %d", c.a, c.b)
		}
	}
	if !less(LeaderElectionID(11), MasterElectionID(12)) {
		t.Error("epoch 12 does not outrank the term-11 leader id")
	}
	backup := (&Controller{cfg: Config{Node: nil}}).backupElectionFor("n1")
	if !less(backup, MasterElectionID(1)) {
		t.Errorf("backup id %s does not rank below the first epoch's", backup)
	}
}
