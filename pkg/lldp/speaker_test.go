package lldp

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
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

func TestNoInterface(t *testing.T) {
	if _, err := NewSpeaker(Config{Interfaces: regexp.MustCompile("^no-such-interface$")}); err == nil {
		t.Error("a speaker with no interface was made")
	}
}
