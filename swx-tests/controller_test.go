package swxtests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestControllerProgramsSWX: p4ctl itself, pointed at p4ctl-swx as a
// device of target dpdk, takes mastership, finds the pipeline it would
// push already there, reconciles the README example onto it until the
// device is in sync, and the frames then go where the policy says. (The
// scenario's extra punt rule is not in the controller's model: the
// controller deletes it.) The scenario is programmed again afterwards.
func TestControllerProgramsSWX(t *testing.T) {
	requireDPDK(t)
	bin := p4ctlBin(t)
	dir := t.TempDir()
	src, err := os.ReadFile("../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	text := strings.Replace(string(src), "target: bmv2", "target: dpdk", 1)
	text = strings.Replace(text, "address: 127.0.0.1:9559", "address: "+Addr, 1)
	if err := os.WriteFile(policyFile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	// The controller arbitrates with 0x70346374<<32 | epoch, above the
	// tier's ids so far; the server keeps the highest id it saw, so the
	// tier's sessions afterwards go above the controller's.
	if env.sess != nil {
		env.sess.Close()
		env.sess = nil
	}
	env.stale = true
	defer func() {
		if n := uint64(0x70346375) << 32; env.election.Load() < n {
			env.election.Store(n)
		}
	}()
	const api = "127.0.0.1:9600"
	serve := exec.Command("ip", "netns", "exec", env.srv.NS, bin, "serve", "--node-id", "n1", "--bootstrap", "--data-dir", filepath.Join(dir, "data"),
		"--api-addr", api, "--raft-addr", "127.0.0.1:9601", "--metrics-addr", "127.0.0.1:9602", "--apply", policyFile)
	logf, err := os.Create(filepath.Join(dir, "serve.log"))
	if err != nil {
		t.Fatal(err)
	}
	serve.Stdout, serve.Stderr = logf, logf
	serve.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := serve.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = serve.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = serve.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = serve.Process.Kill()
			<-done
		}
		logf.Close()
	}()
	start := time.Now()
	var last string
	for {
		out, err := exec.Command("ip", "netns", "exec", env.srv.NS, bin, "get", "devices", "-o", "json", "-s", api).Output()
		var devs []struct {
			Name      string         `json:"name"`
			Connected bool           `json:"connected"`
			Primary   bool           `json:"primary"`
			InSync    bool           `json:"in_sync"`
			LastError string         `json:"last_error"`
			Entries   map[string]int `json:"entries"`
		}
		if err == nil && json.Unmarshal(out, &devs) == nil && len(devs) == 1 {
			last = string(out)
			if d := devs[0]; d.InSync && d.Primary {
				n := 0
				for _, c := range d.Entries {
					n += c
				}
				t.Logf("controller: leaf1 primary and in sync after %s, %d entries", time.Since(start).Round(time.Millisecond), n)
				break
			}
		}
		if time.Since(start) > 60*time.Second {
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			t.Fatalf("leaf1 not in sync after 60 s; last status %s\nserve log tail:\n%s", last, tail(b, 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	web, app := h(t, "web-1"), h(t, "app-1")
	runDeliveries(t, []deliveryCase{
		{"web to app tcp/8080", tcp(web, app, 40001, 8080, true, false), []uint32{app.Port}},
		{"web to app tcp/22", tcp(web, app, 40002, 22, true, false), nil},
	})
	controllerLogsDenial(t, bin, api, dir)
}

// controllerLogsDenial: the device's denial log is on, and a real frame
// the pipeline denies reaches the controller as a marked packet-in and is
// in `p4ctl get denials` as the record the digest makes on BMv2: named
// from the model, with what denied it and the trace.
func controllerLogsDenial(t *testing.T, bin, api, dir string) {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", env.srv.NS, bin, "get", "devices", "-o", "json", "-s", api).Output()
	var devs []struct {
		Name      string `json:"name"`
		DenialLog string `json:"denial_log"`
	}
	if err != nil || json.Unmarshal(out, &devs) != nil || len(devs) != 1 || devs[0].DenialLog != "on" {
		t.Errorf("get devices: %s (err %v), want leaf1's denial log on", out, err)
	}
	web, app := h(t, "web-1"), h(t, "app-1")
	// A destination port no other case uses: the server reports a flow
	// once per 8.4 s epoch and a source 16 times, whoever sent them, so
	// the frame is sent again until it is logged (at most three epochs).
	dport := 20000 + uint16(time.Now().UnixNano()%5000)
	f := tcp(web, app, 41999, dport, true, false)
	type record struct {
		Device      string `json:"device"`
		Segment     string `json:"segment"`
		InPort      uint32 `json:"in_port"`
		Src         string `json:"src"`
		SrcEndpoint string `json:"src_endpoint"`
		SrcIdentity uint32 `json:"src_identity"`
		Dst         string `json:"dst"`
		DstEndpoint string `json:"dst_endpoint"`
		Proto       string `json:"proto"`
		SPort       uint32 `json:"sport"`
		DPort       uint32 `json:"dport"`
		DeniedBy    string `json:"denied_by"`
		Trace       string `json:"trace"`
		Disagrees   bool   `json:"trace_disagrees"`
		Count       uint64 `json:"count"`
	}
	start := time.Now()
	var sent time.Time
	for ; ; time.Sleep(250 * time.Millisecond) {
		if time.Since(sent) > 2*time.Second {
			send(t, web.Port, f.WithToken(token(t)).Frame(t))
			sent = time.Now()
		}
		out, err = exec.Command("ip", "netns", "exec", env.srv.NS, bin, "get", "denials", "leaf1", "-o", "json", "-s", api).Output()
		var recs []record
		if err == nil && json.Unmarshal(out, &recs) == nil {
			for _, r := range recs {
				if r.DPort != uint32(dport) {
					continue
				}
				t.Logf("controller: denied web-1 -> app-1 tcp/%d in the denial log after %s: %+v", dport, time.Since(start).Round(time.Millisecond), r)
				if r.Device != "leaf1" || r.Segment != "prod" || r.InPort != web.Port || r.Src != web.IP4.String() || r.Dst != app.IP4.String() ||
					r.SrcEndpoint != "web-1" || r.DstEndpoint != "app-1" || r.SrcIdentity == 0 || r.Proto != "tcp" || r.SPort != 41999 ||
					r.DeniedBy != "default" || !strings.HasPrefix(r.Trace, "deny") || r.Disagrees || r.Count == 0 {
					t.Errorf("denial record %+v", r)
				}
				return
			}
		}
		if time.Since(start) > 30*time.Second {
			b, _ := os.ReadFile(filepath.Join(dir, "serve.log"))
			t.Fatalf("web-1 -> app-1 tcp/%d not in the denial log after 30 s; get denials: %s\nserve log tail:\n%s", dport, out, tail(b, 3000))
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
