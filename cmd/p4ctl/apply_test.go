package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// startServe runs `p4ctl serve --bootstrap` in-process on loopback with a
// simulated device and returns the API address and the sim's.
func startServe(t *testing.T) (api, sim string) {
	t.Helper()
	api, sim = freeAddr(t), freeAddr(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() {
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"serve", "--node-id", "n1", "--bootstrap", "--data-dir", filepath.Join(t.TempDir(), "data"), "--api-addr", api,
			"--raft-addr", freeAddr(t), "--metrics-addr", "", "--sim", sim, "--log-level", "warn"})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := run(t, "cluster", "status", "--server", api); err == nil {
			return api, sim
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not answer within 20s:\n%s", out.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestApplyFilesAndWait: several -f files are one change (a Port may name
// a Segment of another file; a bad file applies none of them), and --wait
// waits on the devices the change writes to, not on an unreachable device
// it does not touch; a change that touches it names it and its error.
func TestApplyFilesAndWait(t *testing.T) {
	api, sim := startServe(t)
	dir := t.TempDir()
	example, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.yaml")
	writeFile(t, base, strings.Replace(string(example), "address: 127.0.0.1:9559", "address: "+sim, 1)+
		"---\nkind: Device\nname: ghost\naddress: "+freeAddr(t)+"\n---\nkind: Port\ndevice: ghost\nport: 1\nsegment: guest\nrole: promiscuous\n")
	if o, err := run(t, "apply", "-f", base, "--wait=false", "--server", api); err != nil {
		t.Fatalf("apply: %v\n%s", err, o)
	}
	ports, segs, bad := filepath.Join(dir, "ports.yaml"), filepath.Join(dir, "segs.yaml"), filepath.Join(dir, "bad.yaml")
	writeFile(t, ports, "kind: Port\ndevice: leaf1\nport: 30\nsegment: lab\nrole: promiscuous\n")
	writeFile(t, segs, "kind: Segment\nname: lab\nid: 30\n")
	writeFile(t, bad, "kind: Segment\nname: lab2\nid: 30\n")
	o, err := run(t, "apply", "-f", segs, "-f", ports, "-f", bad, "--wait=false", "--server", api)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml:1: Segment lab2: id: segment id 30 is already lab's ("+segs+":1)") {
		t.Fatalf("three files, the last bad: %v\n%s", err, o)
	}
	if o, _ := run(t, "get", "segments", "--server", api); strings.Contains(o, "lab") {
		t.Fatalf("a refused multi-file apply committed part of it:\n%s", o)
	}
	if o, err := run(t, "apply", "-f", ports, "-f", segs, "--wait=false", "--server", api); err != nil || !strings.Contains(o, "2 objects applied") {
		t.Fatalf("a port and, in the next file, its segment: %v\n%s", err, o)
	}

	// An endpoint on leaf1: waits on leaf1 only.
	ep := filepath.Join(dir, "ep.yaml")
	writeFile(t, ep, "kind: Endpoint\nname: web-9\nsegment: prod\nmac: 02:00:00:00:00:99\nips: [10.0.0.99]\ndevice: leaf1\nport: 1\nlabels: {app: shop, tier: web}\n")
	o, err = run(t, "apply", "-f", ep, "--wait", "--timeout", "20s", "--server", api)
	if err != nil || !strings.Contains(o, "leaf1 programmed") {
		t.Fatalf("apply --wait of a change to leaf1, with ghost unreachable: %v\n%s", err, o)
	}
	// A segment change is compiled in full: every device, ghost too.
	writeFile(t, segs, "kind: Segment\nname: lab\nid: 30\ndefault: allow\n")
	o, err = run(t, "apply", "-f", segs, "--wait", "--timeout", "3s", "--server", api)
	if err == nil || !strings.Contains(err.Error(), "waiting on ghost") || !strings.Contains(err.Error(), "ghost: ") {
		t.Fatalf("apply --wait of a change that reaches ghost: %v\n%s", err, o)
	}
}

// TestServerList: --server takes several addresses and uses the first that
// takes the connection; P4CTL_SERVER stands in for --server, and a flag
// given wins over it.
func TestServerList(t *testing.T) {
	api, _ := startServe(t)
	dead := freeAddr(t) // nothing listens there
	if o, err := run(t, "cluster", "status", "-s", dead+", "+api); err != nil || !strings.Contains(o, "node n1") {
		t.Fatalf("--server with a dead address first: %v\n%s", err, o)
	}
	t.Setenv("P4CTL_SERVER", dead+","+api)
	if o, err := run(t, "cluster", "status"); err != nil || !strings.Contains(o, "node n1") {
		t.Fatalf("P4CTL_SERVER: %v\n%s", err, o)
	}
	if _, err := run(t, "cluster", "status", "--server", dead); err == nil || !strings.Contains(err.Error(), dead) {
		t.Fatalf("--server over P4CTL_SERVER: %v", err)
	}
}

// TestApplyLargeFile: a file over gRPC's default 4 MiB message limit
// applies (the API takes what the parser takes).
func TestApplyLargeFile(t *testing.T) {
	api, _ := startServe(t)
	// Six documents of 900 KB each (a document may have 1 MiB).
	var b strings.Builder
	line := "# " + strings.Repeat("x", 98) + "\n"
	for i := range 6 {
		fmt.Fprintf(&b, "---\nkind: Segment\nname: big-%d\nid: %d\n", i, 44+i)
		for range 9000 {
			b.WriteString(line)
		}
	}
	if b.Len() < 5<<20 {
		t.Fatalf("the file is %d bytes, want over 5 MiB", b.Len())
	}
	f := filepath.Join(t.TempDir(), "big.yaml")
	writeFile(t, f, b.String())
	if o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api); err != nil || !strings.Contains(o, "6 objects applied") {
		t.Fatalf("a 5 MiB file: %v\n%s", err, o)
	}
}

// TestApplyUnchanged: applying what the model already holds commits
// nothing and makes no revision.
func TestApplyUnchanged(t *testing.T) {
	api, _ := startServe(t)
	f := filepath.Join(t.TempDir(), "seg.yaml")
	writeFile(t, f, "kind: Segment\nname: lab\nid: 30\n")
	if o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api); err != nil || !strings.Contains(o, "1 object applied") {
		t.Fatalf("first apply: %v\n%s", err, o)
	}
	o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api)
	if err != nil || !strings.Contains(o, "1 object unchanged") {
		t.Fatalf("second apply: %v\n%s", err, o)
	}
	h, err := run(t, "history", "-o", "json", "--server", api)
	if err != nil || strings.Count(h, `"index"`) != 1 {
		t.Fatalf("history after an identical re-apply: %v\n%s", err, h)
	}
}

// TestNotFoundAndStillUsed: a name the model lacks is NotFound (exit 1)
// for get and delete alike; a typo'd kind gets a suggestion; deleting a
// segment that ports and endpoints use names them once, and nothing is
// deleted.
func TestNotFoundAndStillUsed(t *testing.T) {
	api, sim := startServe(t)
	example, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "example.yaml")
	writeFile(t, f, strings.Replace(string(example), "address: 127.0.0.1:9559", "address: "+sim, 1))
	if o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api); err != nil {
		t.Fatalf("apply: %v\n%s", err, o)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "devices", "leaf9"}, `device "leaf9" not found`},
		{[]string{"get", "policies", "nope"}, "(NotFound)"},
		{[]string{"delete", "endpoint", "nope"}, "Endpoint nope: not found (NotFound)"},
		{[]string{"get", "devcies"}, `did you mean "devices"?`},
		{[]string{"delete", "segment", "prod"}, "Segment prod: still used by Endpoint app-1, Endpoint batch-1"},
	} {
		o, err := run(t, append(tt.args, "--server", api)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: err = %v, want one containing %q\n%s", tt.args, err, tt.want, o)
		}
	}
	_, err = run(t, "delete", "segment", "prod", "--server", api)
	if n := strings.Count(err.Error(), "\n"); n > 0 {
		t.Errorf("delete segment prod: %d lines, want one:\n%v", n+1, err)
	}
	if o, err := run(t, "get", "segments", "prod", "--server", api); err != nil || !strings.Contains(o, "prod") {
		t.Errorf("the refused delete removed the segment: %v\n%s", err, o)
	}
}

// TestApplyStrict: with --strict a change that validation warns about
// (a segment without ports) is refused and nothing is committed; without
// it the change applies and the warning is printed.
func TestApplyStrict(t *testing.T) {
	api, _ := startServe(t)
	f := filepath.Join(t.TempDir(), "seg.yaml")
	writeFile(t, f, "kind: Segment\nname: lonely\nid: 31\n")
	o, err := run(t, "apply", "-f", f, "--strict", "--wait=false", "--server", api)
	if err == nil || !strings.Contains(err.Error(), "warning (--strict)") {
		t.Fatalf("--strict with a warning: %v\n%s", err, o)
	}
	if o, _ := run(t, "get", "segments", "--server", api); strings.Contains(o, "lonely") {
		t.Fatalf("a refused --strict apply committed:\n%s", o)
	}
	if o, err := run(t, "apply", "-f", f, "--wait=false", "--server", api); err != nil || !strings.Contains(o, "warning:") {
		t.Fatalf("without --strict: %v\n%s", err, o)
	}
}
