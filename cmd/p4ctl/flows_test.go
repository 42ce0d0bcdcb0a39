package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// TestFlowsCLI: get flows refuses bad filters before dialling; a staged
// policy is applied, listed as staged, promoted once (a second promote,
// and promoting a policy that was never staged, are refused and change
// nothing); diff --flows and suggest answer on an empty flow log; get
// devices says the flow log is on.
func TestFlowsCLI(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "flows", "--from", "tier in (web"}, "--from"},
		{[]string{"get", "flows", "--since", "-5m"}, "in the future"},
		{[]string{"get", "flows", "--verdict", "maybe"}, "want allow or deny"},
		{[]string{"get", "flows", "-o", "name"}, "does not apply to get flows"},
		{[]string{"diff", "-f", "x.yaml", "--since", "1h"}, "--since needs --flows"},
	} {
		out, err := run(t, append(tc.args, "--server", "127.0.0.1:1")...)
		if err == nil || !strings.Contains(err.Error()+out, tc.want) {
			t.Errorf("%v: %v %s, want %q", tc.args, err, out, tc.want)
		}
	}

	api, sim := startServe(t)
	applyExample(t, api, sim)
	staged := filepath.Join(t.TempDir(), "staged.yaml")
	if err := os.WriteFile(staged, []byte("kind: Policy\nname: web-lockdown\nsegment: prod\npriority: 300\nmode: staged\nfrom: \"tier: web\"\nto: \"tier: app\"\nrules:\n  - {proto: tcp, ports: [8443], action: deny}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := run(t, "diff", "-f", staged, "--flows", "--server", api)
	if !strings.Contains(out, "no verdict changes") {
		t.Errorf("diff --flows: %v\n%s", err, out)
	}
	// Standard input is read once and serves both the diff and the flows.
	stagedDoc, _ := os.ReadFile(staged)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stdout, stderr, err := runOut(ctx, string(stagedDoc), "diff", "-f", "-", "--flows", "--server", api)
	if code, _ := exitCode(err); !strings.Contains(stdout, "web-lockdown") || !strings.Contains(stdout, "no verdict changes") || err == nil || code != 1 {
		t.Errorf("diff -f - --flows: %v\n%s%s", err, stdout, stderr)
	}
	if out, err := run(t, "apply", "-f", staged, "--server", api); err != nil {
		t.Fatalf("apply staged: %v\n%s", err, out)
	}
	if out, err := run(t, "get", "policies", "web-lockdown", "-o", "yaml", "--server", api); err != nil || !strings.Contains(out, "mode: staged") {
		t.Errorf("get staged policy: %v\n%s", err, out)
	}
	before := historyLen(t, api)
	if out, err := run(t, "promote", "web-to-app", "--server", api); err == nil || !strings.Contains(err.Error(), "not staged") {
		t.Errorf("promote of an enforced policy: %v\n%s", err, out)
	}
	if out, err := run(t, "promote", "nope", "--server", api); err == nil {
		t.Errorf("promote of no policy: %s", out)
	}
	if n := historyLen(t, api); n != before {
		t.Errorf("refused promotes made %d revisions", n-before)
	}
	if out, err := run(t, "promote", "web-lockdown", "--server", api); err != nil || !strings.Contains(out, "promoted web-lockdown") {
		t.Fatalf("promote: %v\n%s", err, out)
	}
	if n := historyLen(t, api); n != before+1 {
		t.Errorf("promote made %d revisions, want 1", n-before)
	}
	if out, err := run(t, "get", "policies", "web-lockdown", "-o", "yaml", "--server", api); err != nil || strings.Contains(out, "mode: staged") {
		t.Errorf("promoted policy still staged: %v\n%s", err, out)
	}
	// Staging it again over the enforced policy is refused.
	if out, err := run(t, "apply", "-f", staged, "--server", api); err == nil || !strings.Contains(err.Error()+out, "is enforced") {
		t.Errorf("staged over enforced: %v\n%s", err, out)
	}
	if out, err := run(t, "suggest", "--server", api); err != nil || !strings.Contains(out, "# p4ctl suggest: 0 policies") {
		t.Errorf("suggest: %v\n%s", err, out)
	}
	if out, err := run(t, "get", "devices", "--server", api); err != nil || !strings.Contains(out, "FLOW LOG") {
		t.Errorf("get devices: %v\n%s", err, out)
	}
}

// impactClient answers FlowImpact with a fixed response.
type impactClient struct {
	p4ctlv1.ControllerClient
	resp *p4ctlv1.FlowImpactResponse
}

func (c impactClient) FlowImpact(context.Context, *p4ctlv1.FlowImpactRequest, ...grpc.CallOption) (*p4ctlv1.FlowImpactResponse, error) {
	return c.resp, nil
}

// TestConfirmImpactOffTerminal: off a terminal, apply prints the impact
// summary and proceeds, even when the change denies observed flows.
func TestConfirmImpactOffTerminal(t *testing.T) {
	c := impactClient{resp: &p4ctlv1.FlowImpactResponse{Flows: 3, NewlyDenied: 2, Changes: []*p4ctlv1.FlowChange{{Segment: "shop", From: "tier=web",
		To: "tier=app", Proto: 6, Dport: 8080, Before: "allow", After: "deny", AfterPolicy: "web-lockdown", Flows: 2, Reports: 5, Examples: []string{"web-1 -> app-1"}}}}}
	cmd := newApplyCmd()
	cmd.SetContext(context.Background())
	var out strings.Builder
	cmd.SetOut(&out)
	cmd.SetIn(strings.NewReader("n\n"))
	if err := confirmImpact(cmd, c, &p4ctlv1.ApplyRequest{}, []string{"x.yaml"}, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"2 would be denied", "tier=web", "tcp/8080", "allow (default)", "deny (web-lockdown)", "web-1 -> app-1"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
}
