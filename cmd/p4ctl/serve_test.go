package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
	"github.com/p4ctl/p4ctl/pkg/tlsconf/tlstest"
	"go.yaml.in/yaml/v3"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a running
// command.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// run runs one p4ctl command line in-process and returns its output.
func run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out syncBuffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := root.ExecuteContext(ctx)
	return out.String(), err
}

// TestServe runs `p4ctl serve` from a --config file with mutual TLS on
// the API, applies the example through the CLI with --wait, reads the
// devices back, and scrapes /metrics; then stops it as SIGTERM would.
func TestServe(t *testing.T) {
	pki := tlstest.New(t)
	dir := t.TempDir()
	api, raftAddr, metrics, sim := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	cfg := filepath.Join(dir, "p4ctl.yaml")
	// The file's api-addr cannot be listened on: the command line's wins.
	writeFile(t, cfg, fmt.Sprintf(`node-id: n1
data-dir: %s
api-addr: 192.0.2.1:1
raft-addr: %s
bootstrap: true
sim: [%s]
metrics-addr: %s
tls-cert: %s
tls-key: %s
tls-client-ca: %s
tls-ca: %s
role-viewer: ["CN=p4ctl test viewer"]
role-operator: ["CN=p4ctl test client"]
role-member: ["CN=p4ctl test member"]
log-level: warn
`, filepath.Join(dir, "data"), raftAddr, sim, metrics, pki.MemberCert, pki.MemberKey, pki.CA, pki.CA))

	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs([]string{"serve", "--config", cfg, "--api-addr", api})
		done <- root.ExecuteContext(ctx)
	}()
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v\n%s", err, out.String())
			}
		case <-time.After(30 * time.Second):
			t.Errorf("serve did not stop within 30s of its context ending")
		}
	}
	t.Cleanup(stop)

	example, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	policyFile := filepath.Join(dir, "policy.yaml")
	writeFile(t, policyFile, strings.Replace(string(example), "address: 127.0.0.1:9559", "address: "+sim, 1))
	mtls := []string{"--server", api, "--tls-ca", pki.CA, "--tls-cert", pki.ClientCert, "--tls-key", pki.ClientKey}

	// The node needs a moment to listen and lead: retry the first apply.
	var applyOut string
	deadline := time.Now().Add(30 * time.Second)
	for {
		applyOut, err = run(t, append([]string{"apply", "-f", policyFile, "--wait", "--timeout", "30s"}, mtls...)...)
		if err == nil || time.Now().After(deadline) || !strings.Contains(err.Error(), "Unavailable") {
			break
		}
		time.Sleep(200 * time.Millisecond) // the server is starting; nothing to wait on but time
	}
	if err != nil {
		t.Fatalf("apply: %v\n%s\nserve: %s", err, applyOut, out.String())
	}
	if !strings.Contains(applyOut, "every device programmed") {
		t.Errorf("apply --wait output:\n%s", applyOut)
	}

	// watch hears the next change, with its index.
	var watchOut syncBuffer
	wctx, wcancel := context.WithCancel(context.Background())
	watchDone := make(chan error, 1)
	go func() {
		root := newRootCmd()
		root.SetOut(&watchOut)
		root.SetErr(&watchOut)
		root.SetArgs(append([]string{"watch"}, mtls...))
		watchDone <- root.ExecuteContext(wctx)
	}()
	// The first line is the current index: the stream is open.
	waitOut := func(lines int) {
		deadline := time.Now().Add(10 * time.Second)
		for strings.Count(watchOut.String(), "model at index") < lines && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitOut(1)
	extra := filepath.Join(dir, "extra.yaml")
	writeFile(t, extra, "kind: Segment\nname: watched\nid: 321\n")
	if o, err := run(t, append([]string{"apply", "-f", extra, "--wait=false"}, mtls...)...); err != nil {
		t.Fatalf("apply extra: %v\n%s", err, o)
	}
	waitOut(2)
	// The device's status changed too (it was brought to the new
	// index): a device event follows, coalesced.
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(watchOut.String(), "status changed") && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	wcancel()
	if err := <-watchDone; err != nil || strings.Count(watchOut.String(), "model at index") < 2 ||
		!regexp.MustCompile(`device \S+ status changed`).MatchString(watchOut.String()) {
		t.Errorf("watch: %v\n%s", err, watchOut.String())
	}

	// history names both changes and who made them; diff shows what a
	// file would change without committing it; rollback undoes the
	// segment.
	hs, err := run(t, append([]string{"history", "-o", "json"}, mtls...)...)
	if err != nil {
		t.Fatal(err)
	}
	var revs []struct {
		Index   uint64   `json:"index"`
		Client  string   `json:"client"`
		Summary string   `json:"summary"`
		Added   []string `json:"added"`
	}
	if err := json.Unmarshal([]byte(hs), &revs); err != nil || len(revs) != 2 || revs[0].Client != "CN=p4ctl test client" ||
		len(revs[1].Added) != 1 || revs[1].Added[0] != "Segment watched" {
		t.Fatalf("history: %v\n%s", err, hs)
	}
	more := filepath.Join(dir, "more.yaml")
	writeFile(t, more, "kind: Endpoint\nname: app-9\nsegment: prod\nmac: 02:00:00:00:00:99\nips: [10.0.0.99]\ndevice: leaf1\nport: 3\nlabels: {tier: app}\n")
	// diff exits 1 when there are changes, 0 when there are none, 2 on
	// an error.
	ds, err := run(t, append([]string{"diff", "-f", more}, mtls...)...)
	if code, _ := exitCode(err); err == nil || code != 1 || !strings.Contains(ds, "+ Endpoint app-9") || !regexp.MustCompile(`leaf1\s+[1-9]\d*\s+0\s+0\s+0`).MatchString(ds) {
		t.Errorf("diff of a change: %v\n%s", err, ds)
	}
	if ds, err := run(t, append([]string{"diff", "-f", extra}, mtls...)...); err != nil || !strings.Contains(ds, "no object changes") {
		t.Errorf("diff of what the model holds: %v\n%s", err, ds)
	}
	if _, err := run(t, append([]string{"diff", "-f", more + ".missing"}, mtls...)...); err == nil {
		t.Error("diff of a missing file succeeded")
	} else if code, say := exitCode(err); code != 2 || !say {
		t.Errorf("diff of a missing file: exit %d (message %v): %v", code, say, err)
	}
	first := strconv.FormatUint(revs[0].Index, 10)
	if rs, err := run(t, append([]string{"rollback", first}, mtls...)...); err != nil || !strings.Contains(rs, "rolled back to revision "+first) {
		t.Errorf("rollback: %v\n%s", err, rs)
	}
	if gs, err := run(t, append([]string{"get", "segments", "-o", "yaml"}, mtls...)...); err != nil || strings.Contains(gs, "watched") {
		t.Errorf("after the rollback: %v\n%s", err, gs)
	}

	js, err := run(t, append([]string{"get", "devices", "-o", "json"}, mtls...)...)
	if err != nil {
		t.Fatalf("get devices: %v", err)
	}
	var devs []deviceJSON
	if err := json.Unmarshal([]byte(js), &devs); err != nil {
		t.Fatalf("get devices -o json: %v\n%s", err, js)
	}
	if len(devs) != 1 || devs[0].Name != "leaf1" || !devs[0].Connected || !devs[0].Primary || !devs[0].InSync ||
		devs[0].PipelineCookie == "" || devs[0].Entries["ingress.policy_port"] == 0 || devs[0].LastError != "" {
		t.Errorf("devices: %s", js)
	}
	// YAML is the same object: settings and state.
	ys, err := run(t, append([]string{"get", "devices", "-o", "yaml"}, mtls...)...)
	if err != nil {
		t.Fatalf("get devices -o yaml: %v", err)
	}
	var ydevs []deviceJSON
	if err := yaml.Unmarshal([]byte(ys), &ydevs); err != nil || len(ydevs) != 1 || ydevs[0].Target != "bmv2" || !ydevs[0].InSync ||
		ydevs[0].Entries["ingress.policy_port"] != devs[0].Entries["ingress.policy_port"] {
		t.Errorf("get devices -o yaml: %v\n%s", err, ys)
	}

	// Topology and observed state (no LLDP is heard here: no links, no
	// hosts, every declared port listed).
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "links", "-o", "json"}, "[]"},
		{[]string{"get", "hosts"}, "HOST"},
		{[]string{"get", "ports", "-o", "json"}, `"declared": true`},
		{[]string{"get", "endpoints"}, "leaf1/"},
		// Counters read now: the simulator counts nothing, so every
		// policy that has entries shows 0; no denial reported yet.
		{[]string{"get", "policies", "--counters"}, "web-to-app       leaf1   0        0      0: 0, 1: 0, 2: 0"},
		{[]string{"get", "policies", "web-to-app", "--counters", "-o", "json"}, `"policy": "web-to-app"`},
		{[]string{"get", "denials"}, "LAST SEEN"},
		{[]string{"get", "devices"}, "DENIAL LOG"},
	} {
		o, err := run(t, append(tt.args, mtls...)...)
		if err != nil || !strings.Contains(o, tt.want) {
			t.Errorf("%v: err %v, output lacks %q:\n%s", tt.args, err, tt.want, o)
		}
	}
	if o, err := run(t, append([]string{"get", "switches"}, mtls...)...); err == nil || !strings.Contains(err.Error(), "links, hosts") {
		t.Errorf("get switches: err %v\n%s", err, o)
	}
	for _, args := range [][]string{
		{"get", "policies", "no-such-policy", "--counters"},
		{"get", "endpoints", "--counters"},
	} {
		if o, err := run(t, append(args, mtls...)...); err == nil {
			t.Errorf("%v succeeded:\n%s", args, o)
		}
	}

	// Without a client certificate, or without TLS, the API refuses.
	for name, args := range map[string][]string{
		"no client certificate": {"--server", api, "--tls-ca", pki.CA},
		"plaintext":             {"--server", api},
		"untrusted server":      {"--server", api, "--tls-ca", pki.OtherCA, "--tls-cert", pki.ClientCert, "--tls-key", pki.ClientKey},
	} {
		if o, err := run(t, append([]string{"get", "devices"}, args...)...); err == nil {
			t.Errorf("%s: get devices succeeded:\n%s", name, o)
		}
	}

	// /metrics is served over TLS to viewers and above; a client without
	// a certificate, or over plaintext, gets nothing.
	scrape := func(cert, key string) (*http.Response, error) {
		ctc, err := tlsconf.Files{CA: pki.CA, Cert: cert, Key: key}.Client()
		if err != nil {
			t.Fatal(err)
		}
		c := &http.Client{Transport: &http.Transport{TLSClientConfig: ctc}, Timeout: 10 * time.Second}
		return c.Get("https://" + metrics + "/metrics")
	}
	if resp, err := scrape("", ""); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a client certificate: %v %v", resp, err)
	}
	if resp, err := http.Get("http://" + metrics + "/metrics"); err == nil && resp.StatusCode == http.StatusOK {
		t.Errorf("/metrics over plaintext answered 200")
	}
	viewerCert, viewerKey := pki.Issue(t, "viewer", x509.ExtKeyUsageClientAuth)
	resp, err := scrape(viewerCert, viewerKey)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics with a viewer's certificate: %s", resp.Status)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"p4ctl_raft_leader 1",
		`p4ctl_raft_state{state="Leader"} 1`,
		`p4ctl_raft_members{suffrage="Voter"} 1`,
		`p4ctl_raft_commit_seconds_count{result="ok"}`,
		`p4ctl_apply_seconds_count{op="apply",result="ok"} 2`, `p4ctl_apply_seconds_count{op="rollback",result="ok"} 1`,
		`p4ctl_device_in_sync{device="leaf1"} 1`,
		`p4ctl_device_primary{device="leaf1"} 1`,
		`p4ctl_device_entries{device="leaf1",table="ingress.policy_port"}`,
		`p4ctl_device_write_seconds_count{device="leaf1",kind="reconcile"}`,
		`p4ctl_device_changes_total{device="leaf1",op="insert"}`,
		`p4ctl_refused_peers_total{listener="metrics",reason="no certificate"} 1`,
		`p4ctl_refused_peers_total{listener="api",reason="no certificate"}`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", body)
	}
	stop()
}

func writeFile(t *testing.T, name, s string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestServeConfigErrors(t *testing.T) {
	dir := t.TempDir()
	pki := tlstest.New(t)
	tests := []struct {
		name, file, want string
	}{
		{"unknown setting", "node-id: a\nraft-adr: 127.0.0.1:1\n", `unknown setting "raft-adr"`},
		{"bad value", "bootstrap: perhaps\n", "bootstrap"},
		{"not a mapping", "- a\n- b\n", "p4ctl.yaml"},
		{"config inside config", "config: other.yaml\n", `unknown setting "config"`},
		{"half a certificate", fmt.Sprintf("data-dir: %s\ntls-cert: x.pem\n", filepath.Join(dir, "d")), "go together"},
		{"certificate file missing", fmt.Sprintf("data-dir: %s\ntls-cert: x.pem\ntls-key: y.pem\n", filepath.Join(dir, "d")), "x.pem"},
		{"roles without mutual TLS", fmt.Sprintf("data-dir: %s\nrole-viewer: [\"CN=monitor\"]\n", filepath.Join(dir, "d")), "roles are bound to client certificates; give --tls-cert, --tls-key, --tls-ca and --tls-client-ca"},
		{"TLS without the cluster CA", fmt.Sprintf("data-dir: %s\ntls-cert: %s\ntls-key: %s\n", filepath.Join(dir, "d"), pki.MemberCert, pki.MemberKey),
			"a TLS node needs --tls-cert, --tls-key and --tls-ca"},
		{"roles naming no member", fmt.Sprintf("data-dir: %s\ntls-cert: %s\ntls-key: %s\ntls-client-ca: %s\ntls-ca: %s\nrole-viewer: [\"CN=x\"]\n",
			filepath.Join(dir, "d"), pki.MemberCert, pki.MemberKey, pki.CA, pki.CA), "no pattern names the cluster's members"},
		{"a node certificate that is not a member's", fmt.Sprintf("data-dir: %s\ntls-cert: %s\ntls-key: %s\ntls-client-ca: %s\ntls-ca: %s\nrole-member: [\"CN=ctl-*\"]\n",
			filepath.Join(dir, "d"), pki.MemberCert, pki.MemberKey, pki.CA, pki.CA), "this node's own certificate as a member: certificate CN=p4ctl test member: not a cluster member"},
		{"a node certificate only for servers", fmt.Sprintf("data-dir: %s\ntls-cert: %s\ntls-key: %s\ntls-ca: %s\n",
			filepath.Join(dir, "d"), pki.ServerCert, pki.ServerKey, pki.CA), "this node's own certificate as a member: certificate CN=p4ctl test server"},
		{"a flow log of no records", fmt.Sprintf("data-dir: %s\nflow-log-records: 0\n", filepath.Join(dir, "d")), "--flow-log-records 0: must be at least 1"},
		{"a role pattern of nothing", fmt.Sprintf("data-dir: %s\ntls-cert: %s\ntls-key: %s\ntls-client-ca: %s\ntls-ca: %s\nrole-admin: [\"SAN:x\"]\n",
			filepath.Join(dir, "d"), pki.ServerCert, pki.ServerKey, pki.CA, pki.CA), `--role-*: admin role: pattern "SAN:x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := filepath.Join(dir, "p4ctl.yaml")
			writeFile(t, f, tt.file)
			_, err := run(t, "serve", "--config", f, "--api-addr", freeAddr(t), "--raft-addr", freeAddr(t), "--metrics-addr", "")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
	if _, err := run(t, "serve", "--config", filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Errorf("missing config file: err = %v", err)
	}
	// Without TLS every listener stays on loopback unless told otherwise.
	for _, flag := range []string{"--api-addr", "--raft-addr", "--metrics-addr"} {
		args := map[string]string{"--api-addr": freeAddr(t), "--raft-addr": freeAddr(t), "--metrics-addr": ""}
		args[flag] = "0.0.0.0:0"
		_, err := run(t, "serve", "--data-dir", filepath.Join(dir, "e"), "--api-addr", args["--api-addr"], "--raft-addr", args["--raft-addr"], "--metrics-addr", args["--metrics-addr"])
		if err == nil || !strings.Contains(err.Error(), flag+" 0.0.0.0:0: without TLS p4ctl listens on loopback only") {
			t.Errorf("plaintext %s on all addresses: err = %v", flag, err)
		}
	}
}
