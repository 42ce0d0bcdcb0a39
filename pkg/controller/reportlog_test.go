package controller

import (
	"bytes"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestReportLogShared: what the denial and flow logs share reads a
// report's flow and counts the malformed ones (warned of once per device
// and reason, in the log's words), and followers hear what is sent until
// they stop.
func TestReportLogShared(t *testing.T) {
	var logged bytes.Buffer
	c := &Controller{log: slog.New(slog.NewTextHandler(&logged, nil))}
	l := newFlowLog(0)
	U := pipeline.Uint
	good := map[string][]byte{"ip_version": U(4), "src_addr": netip.MustParseAddr("10.0.0.1").AsSlice(),
		"dst_addr": netip.MustParseAddr("10.0.0.2").AsSlice(), "segment": U(10), "ip_proto": U(6), "l4_dst": U(443), "decided_by": U(2)}
	k, by, ok := l.keyOf(c, "leaf1", good, "decided_by")
	want := reportKey{device: "leaf1", segment: 10, src: netip.MustParseAddr("10.0.0.1"), dst: netip.MustParseAddr("10.0.0.2"), proto: 6, dport: 443}
	if !ok || by != "policy" || k != want {
		t.Errorf("keyOf: %+v %q %v", k, by, ok)
	}
	for _, bad := range []map[string][]byte{
		{"ip_version": U(5)},
		{"ip_version": U(4), "src_addr": netip.MustParseAddr("fd00::1").AsSlice(), "dst_addr": U(1)},
		{"ip_version": U(4), "src_addr": U(1), "dst_addr": U(2), "denied_by": U(9)},
	} {
		if _, _, ok := l.keyOf(c, "leaf1", bad, "denied_by"); ok {
			t.Errorf("keyOf %v: ok", bad)
		}
	}
	if n := l.dropped[[2]string{"leaf1", "malformed"}]; n != 3 {
		t.Errorf("dropped %d, want 3", n)
	}
	if n := strings.Count(logged.String(), "flow report not logged"); n != 1 {
		t.Errorf("warned %d times, want once:\n%s", n, logged.String())
	}
	if !strings.Contains(logged.String(), "ip_version 5") {
		t.Errorf("warning: %s", logged.String())
	}

	ch, stop := l.follow()
	l.mu.Lock()
	l.sendLocked(FlowRecord{Device: "leaf1"})
	l.mu.Unlock()
	select {
	case r := <-ch:
		if r.Device != "leaf1" {
			t.Errorf("followed %+v", r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("nothing followed")
	}
	stop()
	l.mu.Lock()
	l.sendLocked(FlowRecord{Device: "leaf2"})
	n := len(l.subs)
	l.mu.Unlock()
	if n != 0 || len(ch) != 0 {
		t.Errorf("after stop: %d followers, %d queued", n, len(ch))
	}
}
