package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestClientContexts: set-context, use-context, get-contexts,
// current-context and delete-context edit the file under
// $XDG_CONFIG_HOME; client commands take the addresses from the
// current context, $P4CTL_CONTEXT or --context, and flags win over the
// environment, which wins over the file.
func TestClientContexts(t *testing.T) {
	api, _ := startServe(t)
	dead := freeAddr(t) // nothing listens there
	xdg := t.TempDir()
	t.Setenv(envConfig, "")
	t.Setenv("XDG_CONFIG_HOME", xdg)
	t.Setenv("HOME", t.TempDir())
	file := filepath.Join(xdg, "p4ctl", "config.yaml")

	if _, err := stdoutOf(t, "config", "current-context"); err == nil || !strings.Contains(err.Error(), "no current context in "+file) {
		t.Errorf("current-context without a file: %v", err)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	for _, args := range [][]string{
		{"config", "set-context", "good", "--server", api, "--use"},
		{"config", "set-context", "dead", "--server", dead},
		{"config", "set-context", "tls", "--server", api, "--tls-ca", ca},
	} {
		if o, err := stdoutOf(t, args...); err != nil || !strings.Contains(o, "created") {
			t.Fatalf("%v: %v\n%s", args, err, o)
		}
	}
	if st, err := os.Stat(file); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("config file: %v %v", st, err)
	}
	o, err := stdoutOf(t, "config", "get-contexts")
	if err != nil || !strings.Contains(o, "*        good  "+api) || !strings.Contains(o, "tls   "+api+"  server verified") {
		t.Errorf("get-contexts: %v\n%s", err, o)
	}
	if o, _ := stdoutOf(t, "config", "current-context"); o != "good\n" {
		t.Errorf("current-context: %q", o)
	}

	status := func(env map[string]string, args ...string) error {
		t.Helper()
		for k, v := range env {
			t.Setenv(k, v)
		}
		defer func() {
			for k := range env {
				os.Unsetenv(k)
			}
		}()
		_, err := stdoutOf(t, append([]string{"cluster", "status"}, args...)...)
		return err
	}
	for _, tt := range []struct {
		name string
		env  map[string]string
		args []string
		ok   bool
		want string // in the error
	}{
		{name: "the current context", ok: true},
		{name: "$P4CTL_CONTEXT over the file", env: map[string]string{envContext: "dead"}, want: dead},
		{name: "--context over $P4CTL_CONTEXT", env: map[string]string{envContext: "dead"}, args: []string{"--context", "good"}, ok: true},
		{name: "$P4CTL_SERVER over the context", env: map[string]string{envServer: dead}, want: dead},
		{name: "--server over $P4CTL_SERVER", env: map[string]string{envServer: dead}, args: []string{"--server", api}, ok: true},
		{name: "--context over $P4CTL_SERVER", env: map[string]string{envServer: dead}, args: []string{"--context", "good"}, ok: true},
		{name: "--server over --context", args: []string{"--context", "dead", "--server", api}, ok: true},
		{name: "the context's TLS files", args: []string{"--context", "tls"}, want: `context "tls"'s TLS files`},
		{name: "--tls-* over the context's", args: []string{"--context", "tls", "--tls-ca", ""}, ok: true},
		{name: "an unknown context", args: []string{"--context", "nope"}, want: `context "nope" (--context) is not in ` + file + " (contexts: good, dead, tls"},
		{name: "an unknown $P4CTL_CONTEXT", env: map[string]string{envContext: "nope"}, want: `context "nope" ($P4CTL_CONTEXT)`},
	} {
		err := status(tt.env, tt.args...)
		if tt.ok && err != nil || !tt.ok && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: err %v, want ok %v (%q)", tt.name, err, tt.ok, tt.want)
		}
	}

	if o, err := stdoutOf(t, "config", "use-context", "dead"); err != nil || o != "switched to context \"dead\"\n" {
		t.Errorf("use-context: %v %q", err, o)
	}
	if err := status(nil); err == nil || !strings.Contains(err.Error(), dead) {
		t.Errorf("after use-context dead: %v", err)
	}
	if _, err := stdoutOf(t, "config", "use-context", "nope"); err == nil || !strings.Contains(err.Error(), `context "nope"`) {
		t.Errorf("use-context of an unknown context: %v", err)
	}
	// Changing one setting keeps the others.
	if _, err := stdoutOf(t, "config", "set-context", "dead", "--server", api); err != nil {
		t.Fatal(err)
	}
	if err := status(nil); err != nil {
		t.Errorf("after set-context dead --server: %v", err)
	}
	if o, err := stdoutOf(t, "config", "delete-context", "dead"); err != nil || !strings.Contains(o, "deleted") {
		t.Errorf("delete-context: %v\n%s", err, o)
	}
	if _, err := stdoutOf(t, "config", "current-context"); err == nil {
		t.Error("the deleted current context is still current")
	}
	// No context: the default address, which nothing serves here...
	// unless $P4CTL_SERVER says otherwise.
	t.Setenv(envServer, api)
	if err := status(nil); err != nil {
		t.Errorf("without a current context, $P4CTL_SERVER: %v", err)
	}
	// A bad file is named, but only bothers commands that need a context.
	writeFile(t, file, "contexts: [{name: x, severs: [a]}]\n")
	if _, err := stdoutOf(t, "config", "get-contexts"); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a bad config file: %v", err)
	}
	if err := status(nil); err != nil {
		t.Errorf("a bad config file, no context asked for: %v", err)
	}
	if err := status(nil, "--context", "x"); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a bad config file, --context: %v", err)
	}
}

// completions runs cobra's completion of a command line and returns its
// candidates (without descriptions).
func completions(t *testing.T, args ...string) []string {
	t.Helper()
	o, err := stdoutOf(t, append([]string{cobra.ShellCompRequestCmd}, args...)...)
	if err != nil {
		t.Fatalf("%v: %v", args, err)
	}
	var out []string
	for _, l := range strings.Split(o, "\n") {
		if l == "" || strings.HasPrefix(l, ":") || strings.HasPrefix(l, "Completion ended") {
			continue
		}
		c, _, _ := strings.Cut(l, "\t")
		out = append(out, c)
	}
	return out
}

// TestCompletion: kinds, object names from the server, formats,
// targets, devices; nothing, quickly, when the server does not answer.
func TestCompletion(t *testing.T) {
	api, sim := startServe(t)
	applyExample(t, api, sim)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"get", ""}, getKinds},
		{[]string{"get", "segments", "--server", api, ""}, []string{"guest", "prod"}},
		{[]string{"get", "segments", "prod", "--server", api, ""}, []string{"guest"}},
		{[]string{"delete", "--server", api, "segment/"}, []string{"segment/guest", "segment/prod"}},
		{[]string{"export", "devices", "--server", api, ""}, []string{"leaf1"}},
		{[]string{"get", "devices", "-o", ""}, []string{"table", "wide", "json", "yaml", "name"}},
		{[]string{"version", "-o", ""}, []string{"table", "json", "yaml"}},
		{[]string{"pipeline", "info", "--target", ""}, []string{"bmv2", "dpdk", "tofino", "tofino2"}},
		{[]string{"bench", "--target", ""}, []string{"sim"}},
		{[]string{"trace", "--server", api, "--device", ""}, []string{"leaf1"}},
		{[]string{"get", "denials", "--server", api, ""}, []string{"leaf1"}},
		{[]string{"apply", "--fit", ""}, []string{"tofino", "tofino2"}},
		{[]string{"completion", ""}, []string{"bash", "zsh", "fish", "powershell"}},
	} {
		got := completions(t, tt.args...)
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("%v: %q lacks %q", tt.args, got, w)
			}
		}
		if len(got) != len(tt.want) && tt.args[0] != "pipeline" {
			t.Errorf("%v: %q, want %q", tt.args, got, tt.want)
		}
	}
	// A server that does not answer: no names, within the second.
	start := time.Now()
	if got := completions(t, "get", "segments", "--server", freeAddr(t), ""); len(got) != 0 || time.Since(start) > 3*time.Second {
		t.Errorf("completion against nothing: %q in %s", got, time.Since(start))
	}
	for _, shell := range []string{"bash", "zsh", "fish"} {
		if o, err := stdoutOf(t, "completion", shell); err != nil || !strings.Contains(o, "p4ctl") {
			t.Errorf("completion %s: %v", shell, err)
		}
	}
}

// TestEveryCommandHasExamples: --help of every command shows examples.
func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == cobra.ShellCompRequestCmd || c.Name() == cobra.ShellCompNoDescRequestCmd {
			return
		}
		if strings.TrimSpace(c.Example) == "" {
			t.Errorf("%s has no Example", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(newRootCmd())
	if o, _ := stdoutOf(t, "get", "--help"); !strings.Contains(o, "Examples:\n  p4ctl get devices") {
		t.Errorf("get --help:\n%s", o)
	}
}

// TestBenchUnreachableTarget: a --target where nothing listens fails at
// once, naming the address.
func TestBenchUnreachableTarget(t *testing.T) {
	dead := freeAddr(t)
	start := time.Now()
	_, err := stdoutOf(t, "bench", "--target", dead, "--entries", "10")
	if err == nil || !strings.Contains(err.Error(), "--target "+dead+": nothing answers there") || time.Since(start) > 10*time.Second {
		t.Errorf("bench against nothing: %v (after %s)", err, time.Since(start))
	}
	if _, err := stdoutOf(t, "bench", "--json", "-o", "table"); err == nil || !strings.Contains(err.Error(), "disagree") {
		t.Errorf("--json with -o table: %v", err)
	}
}
