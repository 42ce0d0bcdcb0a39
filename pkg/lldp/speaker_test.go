package lldp

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/internal/netns"
)

// rootTier skips, saying why, where network namespaces cannot be made.
func rootTier(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("root tier: not root (network namespaces and raw sockets need root)")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("root tier: iproute2's ip is not on PATH")
	}
}

// twoNamespaces makes namespaces a and b joined by veth va (in a) - vb
// (in b), removed when the test ends.
func twoNamespaces(t *testing.T) (a, b string) {
	t.Helper()
	tag := fmt.Sprintf("%d-%d", os.Getpid()%100000, time.Now().UnixNano()%100000)
	a, b = "p4ctl-lldp-a-"+tag, "p4ctl-lldp-b-"+tag
	for _, ns := range []string{a, b} {
		if err := netns.IP("netns", "add", ns); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = netns.IP("netns", "del", ns) })
		if err := netns.IP("-n", ns, "link", "set", "lo", "up"); err != nil {
			t.Fatal(err)
		}
	}
	if err := netns.IP("link", "add", "va", "netns", a, "type", "veth", "peer", "name", "vb", "netns", b); err != nil {
		t.Fatal(err)
	}
	for ns, ifn := range map[string]string{a: "va", b: "vb"} {
		if err := netns.IP("-n", ns, "link", "set", ifn, "up"); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func speakerIn(t *testing.T, ns string, cfg Config) *Speaker {
	t.Helper()
	var s *Speaker
	if err := netns.Do(ns, func() error {
		var err error
		s, err = NewSpeaker(cfg)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return s
}

// waitNeighbor waits for the table to hold (or, with want false, to no
// longer hold) a neighbor called system on local interface ifn, heard
// from port port.
func waitNeighbor(t *testing.T, ctx context.Context, tab *Table, ifn, system, port string, want bool) {
	t.Helper()
	for {
		found := false
		for _, n := range tab.Neighbors() {
			if n.LocalInterface == ifn && n.SystemName == system && n.PortID == port {
				found = true
			}
		}
		if found == want {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("neighbor %s/%s on %s present=%v not reached: %+v", system, port, ifn, want, tab.Neighbors())
		case <-tab.Changes():
		}
	}
}

// TestSpeakersDiscoverEachOther: two speakers in two namespaces joined
// by a veth pair hear each other, and one that stops is forgotten at once
// by the other (its shutdown LLDPDU), long before its TTL.
func TestSpeakersDiscoverEachOther(t *testing.T) {
	rootTier(t)
	a, b := twoNamespaces(t)
	only := func(name string) *regexp.Regexp { return regexp.MustCompile("^" + name + "$") }
	// TTL 40s: removal within the test's deadline can only be the shutdown.
	sa := speakerIn(t, a, Config{Interfaces: only("va"), TxInterval: 10 * time.Second, SystemName: "host-a", SystemDescription: "test"})
	sb := speakerIn(t, b, Config{Interfaces: only("vb"), TxInterval: 10 * time.Second, SystemName: "host-b"})
	if got := sa.Interfaces(); len(got) != 1 || got[0] != "va" {
		t.Fatalf("speaker a on %v", got)
	}
	ctxA, stopA := context.WithCancel(context.Background())
	ctxB, stopB := context.WithCancel(context.Background())
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- sa.Run(ctxA) }()
	go func() { doneB <- sb.Run(ctxB) }()
	t.Cleanup(func() { stopA(); stopB(); <-doneA })

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	waitNeighbor(t, ctx, sa.Table(), "va", "host-b", "vb", true)
	waitNeighbor(t, ctx, sb.Table(), "vb", "host-a", "va", true)
	t.Logf("both neighbors known %s after start", time.Since(start).Round(10*time.Microsecond))
	n := sa.Table().Neighbors()[0]
	if n.TTL != 40*time.Second || n.ChassisString() != sb.Local().ChassisString() || n.PortDescription != "vb" {
		t.Errorf("a's neighbor %+v", n)
	}

	stopB()
	if err := <-doneB; err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	waitNeighbor(t, ctx, sa.Table(), "va", "host-b", "vb", false)
	t.Logf("b forgotten %s after it stopped", time.Since(stopped).Round(10*time.Microsecond))
}

// TestSpeakerFollowsInterfaces: a speaker started before any of its
// interfaces exists (a hypervisor before its VMs) speaks on one as soon as
// it appears, and forgets its neighbors as soon as it goes down or away.
func TestSpeakerFollowsInterfaces(t *testing.T) {
	rootTier(t)
	a, b := twoNamespaces(t)
	// a selects only "vc", which does not exist yet; its chassis ID comes
	// from va. b speaks on every "v" interface.
	sa := speakerIn(t, a, Config{Interfaces: regexp.MustCompile("^vc$"), TxInterval: 10 * time.Second, SystemName: "host-a"})
	sb := speakerIn(t, b, Config{Interfaces: regexp.MustCompile("^v"), TxInterval: 10 * time.Second, SystemName: "host-b"})
	if got := sa.Interfaces(); len(got) != 0 {
		t.Fatalf("speaker a on %v before vc exists", got)
	}
	if sa.Local().ChassisID == "" {
		t.Fatal("speaker a has no chassis ID")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(context.Background())
	doneA, doneB := make(chan error, 1), make(chan error, 1)
	go func() { doneA <- sa.Run(runCtx) }()
	go func() { doneB <- sb.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-doneA; <-doneB })

	// TxInterval is 10s: hearing each other well within it means the new
	// interface was announced when it appeared, not at the next tick.
	added := time.Now()
	if err := netns.IP("link", "add", "vc", "netns", a, "type", "veth", "peer", "name", "vd", "netns", b); err != nil {
		t.Fatal(err)
	}
	for ns, ifn := range map[string]string{a: "vc", b: "vd"} {
		if err := netns.IP("-n", ns, "link", "set", ifn, "up"); err != nil {
			t.Fatal(err)
		}
	}
	waitNeighbor(t, ctx, sa.Table(), "vc", "host-b", "vd", true)
	waitNeighbor(t, ctx, sb.Table(), "vd", "host-a", "vc", true)
	t.Logf("neighbors on the new interfaces %s after they were made", time.Since(added).Round(time.Millisecond))
	if got := sa.Interfaces(); len(got) != 1 || got[0] != "vc" {
		t.Fatalf("speaker a on %v", got)
	}
	if got := sb.Interfaces(); len(got) != 2 || got[0] != "vb" || got[1] != "vd" {
		t.Fatalf("speaker b on %v", got)
	}

	// Down: b forgets a on vd at once (TTL is 40s) but keeps speaking on vd.
	if err := netns.IP("-n", b, "link", "set", "vd", "down"); err != nil {
		t.Fatal(err)
	}
	waitNeighbor(t, ctx, sb.Table(), "vd", "host-a", "vc", false)
	if got := sb.Interfaces(); len(got) != 2 {
		t.Fatalf("speaker b on %v after vd went down", got)
	}
	// Up again: heard again without waiting for a tick.
	if err := netns.IP("-n", b, "link", "set", "vd", "up"); err != nil {
		t.Fatal(err)
	}
	waitNeighbor(t, ctx, sa.Table(), "vc", "host-b", "vd", true)
	// Gone: deleting vc deletes its peer vd too; both sides forget.
	removed := time.Now()
	if err := netns.IP("-n", a, "link", "del", "vc"); err != nil {
		t.Fatal(err)
	}
	waitNeighbor(t, ctx, sa.Table(), "vc", "host-b", "vd", false)
	waitNeighbor(t, ctx, sb.Table(), "vd", "host-a", "vc", false)
	t.Logf("neighbors forgotten %s after the interfaces were deleted", time.Since(removed).Round(time.Millisecond))
	if got := sa.Interfaces(); len(got) != 0 {
		t.Fatalf("speaker a still on %v", got)
	}
	if got := sb.Interfaces(); len(got) != 1 || got[0] != "vb" {
		t.Fatalf("speaker b on %v after vd was deleted", got)
	}
}

// TestNoChassis: in a namespace with no interface that has a MAC, a
// speaker needs a configured chassis ID; with one it starts on no
// interface.
func TestNoChassis(t *testing.T) {
	rootTier(t)
	tag := fmt.Sprintf("%d-%d", os.Getpid()%100000, time.Now().UnixNano()%100000)
	ns := "p4ctl-lldp-empty-" + tag
	if err := netns.IP("netns", "add", ns); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = netns.IP("netns", "del", ns) })
	err := netns.Do(ns, func() error {
		_, err := NewSpeaker(Config{})
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "chassis ID") {
		t.Fatalf("speaker without a chassis ID: %v", err)
	}
	s := speakerIn(t, ns, Config{ChassisID: net.HardwareAddr{2, 0, 0, 0, 0, 1}})
	if got := s.Interfaces(); len(got) != 0 {
		t.Errorf("speaker on %v in an empty namespace", got)
	}
	s.close()
}
