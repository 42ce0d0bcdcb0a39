package lldp

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestLLDPDInterop runs lldpd in one namespace and our speaker in another,
// joined by a veth pair: lldpd must report our system name and port, and
// our speaker must hear lldpd's frames. It skips where lldpd is missing.
func TestLLDPDInterop(t *testing.T) {
	rootTier(t)
	for _, tool := range []string{"lldpd", "lldpcli"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not on PATH (apt-get install lldpd): the interoperability test needs it", tool)
		}
	}
	nsL, nsS := twoNamespaces(t) // va in nsL (lldpd), vb in nsS (ours)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// lldpcli drops root before it connects: the socket's directory must
	// be open to lldpd's group, which t.TempDir is not.
	dir, err := os.MkdirTemp("", "p4ctl-lldpd-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "lldpd.socket")
	lldpd := exec.Command("ip", "netns", "exec", nsL, "lldpd", "-d", "-u", sock, "-I", "va")
	logs, err := lldpd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := lldpd.Start(); err != nil {
		t.Fatalf("start lldpd: %v", err)
	}
	// lldpd starts paused until its own lldpcli has read its
	// configuration, and logs when it resumes; configure it after that.
	ready, logged := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(logs)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "should resume operations") {
				select {
				case <-ready:
				default:
					close(ready)
				}
			}
		}
	}()
	t.Cleanup(func() {
		_ = lldpd.Process.Signal(syscall.SIGTERM)
		<-logged
		_ = lldpd.Wait()
	})
	select {
	case <-ready:
	case <-ctx.Done():
		t.Fatal("lldpd did not start")
	}
	lldpcli := func(args ...string) (string, error) {
		out, err := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", nsL, "lldpcli", "-u", sock}, args...)...).CombinedOutput()
		return string(out), err
	}
	if out, err := lldpcli("configure", "lldp", "tx-interval", "1"); err != nil {
		t.Fatalf("lldpcli configure lldp tx-interval 1: %v: %s", err, out)
	}

	s := speakerIn(t, nsS, Config{Interfaces: regexp.MustCompile("^vb$"), TxInterval: 200 * time.Millisecond, SystemName: "p4ctl-interop"})
	sctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(sctx) }()
	t.Cleanup(func() { stop(); <-done })

	// lldpd learns us. It has no change notification to wait on, so ask it
	// again every 100 ms until it answers or the test's deadline passes.
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		kv, err := lldpcli("-f", "keyvalue", "show", "neighbors")
		if err != nil {
			t.Fatalf("lldpcli show neighbors: %v: %s", err, kv)
		}
		if strings.Contains(kv, ".chassis.name=p4ctl-interop\n") && strings.Contains(kv, ".port.ifname=vb\n") {
			break
		}
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("lldpd did not report our speaker; lldpcli show neighbors said:\n%s", kv)
		}
	}
	// We learn lldpd: it announces the host name (namespaces share the UTS
	// namespace) and describes its port by name.
	host, _ := os.Hostname()
	for {
		ns := s.Table().Neighbors()
		if len(ns) == 1 && ns[0].SystemName == host && ns[0].PortDescription == "va" {
			if ns[0].ChassisIDSubtype != ChassisMAC || ns[0].TTL <= 0 {
				t.Errorf("lldpd as a neighbor: %+v", ns[0])
			}
			t.Logf("lldpd as our neighbor: %s", ns[0].Frame)
			break
		}
		select {
		case <-s.Table().Changes():
		case <-ctx.Done():
			t.Fatalf("our speaker did not learn lldpd; neighbors %+v", fmt.Sprint(ns))
		}
	}

	// The agent's other source: lldpd's own table, read through lldpcli.
	// Resync is an hour, so only lldpcli watch can bring the changes.
	r, err := NewLLDPD(ctx, LLDPDConfig{Socket: sock, Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if r.Local().SystemName != host || r.Local().ChassisIDSubtype != ChassisMAC {
		t.Errorf("lldpd's local chassis %+v", r.Local())
	}
	rctx, rstop := context.WithCancel(ctx)
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(rctx) }()
	t.Cleanup(func() { rstop(); <-rdone })
	waitNeighbor(t, ctx, r.Table(), "va", "p4ctl-interop", "vb", true)
	// Our speaker stops and says so; lldpd forgets it and reports that.
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	done <- nil // for the cleanup
	stopped := time.Now()
	waitNeighbor(t, ctx, r.Table(), "va", "p4ctl-interop", "vb", false)
	t.Logf("lldpd's neighbor gone from the mirror %s after our speaker stopped", time.Since(stopped).Round(time.Millisecond))

	if _, err := NewLLDPD(ctx, LLDPDConfig{Socket: filepath.Join(dir, "no-such.socket")}); err == nil || !strings.Contains(err.Error(), "no-such.socket") {
		t.Errorf("lldpd on a missing socket: %v", err)
	}
}
