package chaos

import (
	"strings"
	"testing"
)

func TestReconcileRemovals(t *testing.T) {
	log := `time=2026-12-06T06:12:08.850Z level=INFO msg="raft node started" node=n3
time=2026-12-06T06:12:10.561Z level=INFO msg="device reconciled" node=n3 device=sw2 pipeline_push="" plan="0 inserts, 0 modifies, 20224 deletes" took=462ms
time=2026-12-06T06:12:11.000Z level=INFO msg="device reconciled" node=n3 device=sw1 pipeline_push=install plan="40 inserts, 0 modifies, 0 deletes; multicast groups: 1 inserts, 0 modifies, 0 deletes" took=4ms
time=2026-12-06T06:20:26.019Z level=INFO msg="device reconciled" node=n1 device=sw2 pipeline_push="" plan="0 inserts, 2 modifies, 3 deletes" took=40ms
`
	rs, err := reconcileRemovals(strings.NewReader(log))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rs {
		got = append(got, r.String())
	}
	want := []string{"2026-12-06T06:12:10.561Z: n3's reconcile of sw2 deleted 20224 entries", "2026-12-06T06:20:26.019Z: n1's reconcile of sw2 deleted 3 entries"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q", got)
	}
}
