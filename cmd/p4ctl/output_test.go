package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
)

// TestMain keeps the tests off the user's client config and environment.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "p4ctl-test-config")
	if err != nil {
		panic(err)
	}
	os.Setenv(envConfig, filepath.Join(dir, "config.yaml"))
	os.Unsetenv(envContext)
	os.Unsetenv(envServer)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runOut runs one command line in-process with stdin as standard input
// and returns its standard output and error apart; ctx bounds it (a
// command that follows a stream ends with ctx).
func runOut(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errb syncBuffer
	root := newRootCmd()
	root.SetOut(&out)
	root.SetErr(&errb)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err = root.ExecuteContext(ctx)
	return out.String(), errb.String(), err
}

// applyExample applies the example policy, its device at sim, and
// returns the file.
func applyExample(t *testing.T, api, sim string) string {
	t.Helper()
	example, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "example.yaml")
	writeFile(t, f, strings.Replace(string(example), "address: 127.0.0.1:9559", "address: "+sim, 1))
	if o, err := run(t, "apply", "-f", f, "--wait", "--timeout", "30s", "--server", api); err != nil {
		t.Fatalf("apply: %v\n%s", err, o)
	}
	return f
}

// startSim serves a simulated device in-process and returns its address.
func startSim(t *testing.T) string {
	t.Helper()
	fleet, err := p4rtsim.NewFleet(p4rtsim.FleetOptions{FirstID: 1, Devices: 1, TableSize: 10000})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); fleet.Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// TestOutputContract runs every command that prints objects or status
// with every format: the formats a command lists parse (json, yaml, one
// KIND/NAME a line), json and yaml are the same objects with lower-case
// field names, and every other format is refused, exit 1, with the list.
func TestOutputContract(t *testing.T) {
	api, sim := startServe(t)
	example := applyExample(t, api, sim)
	dir := t.TempDir()
	changed := filepath.Join(dir, "changed.yaml")
	b, _ := os.ReadFile(example)
	writeFile(t, changed, strings.Replace(string(b), "ports: [8080, 8443]", "ports: [8080]", 1)+"---\nkind: Segment\nname: lab\nid: 30\n")
	hist, err := run(t, "history", "-o", "json", "--server", api)
	if err != nil {
		t.Fatal(err)
	}
	var revs []revisionView
	if err := json.Unmarshal([]byte(hist), &revs); err != nil || len(revs) == 0 {
		t.Fatalf("history: %v\n%s", err, hist)
	}
	// A later revision, for rollback --dry-run to undo.
	extra := filepath.Join(dir, "extra.yaml")
	writeFile(t, extra, "kind: Segment\nname: extra\nid: 31\n")
	if o, err := run(t, "apply", "-f", extra, "--wait=false", "--server", api); err != nil {
		t.Fatalf("apply: %v\n%s", err, o)
	}
	if o, err := run(t, "config", "set-context", "here", "--server", api); err != nil {
		t.Fatalf("set-context: %v\n%s", err, o)
	}
	benchTarget := startSim(t)

	const (
		T, W, J, Y, N = FormatTable, FormatWide, FormatJSON, FormatYAML, FormatName
	)
	s := []string{"--server", api}
	trace := []string{"trace", "--device", "leaf1", "--in-port", "1", "--src", "10.0.0.1", "--dst", "10.0.0.3", "--dport", "8080"}
	for _, tt := range []struct {
		args    []string
		formats []Format
		stream  bool // runs until interrupted: given a short time
		exit    int  // the exit code of success (diff: 1, there are changes)
		stable  bool // two runs print the same objects: json and yaml are compared
	}{
		{args: append([]string{"get", "devices"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "segments"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "segments", "prod"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "ports"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "endpoints"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "policies"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "all"}, s...), formats: []Format{T, W, J, Y, N}, stable: true},
		{args: append([]string{"get", "links"}, s...), formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"get", "hosts"}, s...), formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"get", "denials"}, s...), formats: []Format{T, W, J, Y}, stable: true},
		{args: append([]string{"get", "denials", "--follow"}, s...), formats: []Format{T, W, J, Y}, stream: true},
		{args: append([]string{"get", "policies", "--counters"}, s...), formats: []Format{T, J, Y}},
		{args: append([]string{"cluster", "status"}, s...), formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"history"}, s...), formats: []Format{T, W, J, Y}, stable: true},
		{args: append([]string{"watch"}, s...), formats: []Format{T, J, Y}, stream: true},
		{args: []string{"version"}, formats: []Format{T, J, Y}, stable: true},
		{args: []string{"pipeline", "info", "--target", "tofino"}, formats: []Format{T, J, Y}, stable: true},
		{args: []string{"apply", "--dry-run", "-f", example}, formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"diff", "-f", changed}, s...), formats: []Format{T, J, Y, N}, exit: 1, stable: true},
		{args: append([]string{"diff", "-f", changed, "--prune"}, s...), formats: []Format{T, J, Y, N}, exit: 1, stable: true},
		{args: append(trace, s...), formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"trace", "-f", example}, trace[1:]...), formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"rollback", "--dry-run", strconv.FormatUint(revs[0].Index, 10)}, s...), formats: []Format{T, J, Y}, stable: true},
		{args: append([]string{"export"}, s...), formats: []Format{Y, J}, stable: true},
		{args: []string{"config", "get-contexts"}, formats: []Format{T, J, Y, N}, stable: true},
		{args: []string{"config", "view"}, formats: []Format{Y, J}, stable: true},
		{args: []string{"bench", "--target", benchTarget, "--entries", "200", "--batch", "50", "--batch1", "0"}, formats: []Format{T, J}},
	} {
		name := strings.Join(slices.DeleteFunc(slices.Clone(tt.args), func(a string) bool { return a == api || a == "--server" }), " ")
		t.Run(name, func(t *testing.T) {
			outputs := map[Format]string{}
			for _, f := range append(slices.Clone(allFormats), "foo") {
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				if tt.stream {
					// Interrupted, as by ^C: a cancel, not a deadline
					// (which the server would see too).
					ctx, cancel = context.WithCancel(context.Background())
					time.AfterFunc(1500*time.Millisecond, cancel)
				}
				stdout, stderr, err := runOut(ctx, "", append(slices.Clone(tt.args), "-o", string(f))...)
				cancel()
				if !slices.Contains(tt.formats, f) {
					want := `format "` + string(f) + `"`
					list := "want one of " + formatList(tt.formats)
					refused := 1
					if tt.args[0] == "diff" {
						refused = 2 // diff's 1 says there are changes
					}
					if code, _ := exitCode(err); err == nil || code != refused || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), list) {
						t.Errorf("-o %s: err %v (exit %d), want one refusing it with %q\n%s", f, err, code, list, stdout)
					}
					continue
				}
				if code, _ := exitCode(err); err != nil && code != tt.exit || err == nil && tt.exit != 0 {
					t.Errorf("-o %s: err %v, want exit %d\n%s%s", f, err, tt.exit, stdout, stderr)
					continue
				}
				outputs[f] = stdout
				checkFormat(t, f, stdout, tt.stream)
			}
			if tt.stable && outputs[J] != "" && outputs[Y] != "" {
				// One YAML document is the object json prints, or the
				// only element of its list; several are its list.
				js, docs := decodeJSON(t, outputs[J]), decodeYAML(t, outputs[Y])
				same := reflect.DeepEqual(js, any(docs))
				if len(docs) == 1 {
					same = same || reflect.DeepEqual(js, docs[0])
				}
				if !same {
					t.Errorf("json and yaml differ:\njson: %s\nyaml: %s", outputs[J], outputs[Y])
				}
			}
		})
	}
}

// checkFormat checks that out is well-formed in f.
func checkFormat(t *testing.T, f Format, out string, stream bool) {
	t.Helper()
	switch f {
	case FormatJSON:
		if stream {
			sc := bufio.NewScanner(strings.NewReader(out))
			for sc.Scan() {
				if !json.Valid(sc.Bytes()) {
					t.Errorf("-o json --follow: line %q is not one JSON object", sc.Text())
				}
			}
			return
		}
		if !json.Valid([]byte(out)) {
			t.Errorf("-o json: not JSON:\n%s", out)
			return
		}
		var v any
		_ = json.Unmarshal([]byte(out), &v)
		checkKeys(t, v, "")
	case FormatYAML:
		dec := yaml.NewDecoder(strings.NewReader(out))
		for {
			var v any
			err := dec.Decode(&v)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Errorf("-o yaml: %v\n%s", err, out)
				return
			}
		}
	case FormatName:
		for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
			if !regexp.MustCompile(`^[a-z]+/\S+$`).MatchString(l) {
				t.Errorf("-o name: line %q is not KIND/NAME", l)
			}
		}
	default:
		if strings.TrimSpace(out) == "" && !stream {
			t.Errorf("-o %s printed nothing", f)
		}
	}
}

// checkKeys fails on a JSON field name with an upper-case letter (Go's
// field names leaking through).
func checkKeys(t *testing.T, v any, path string) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, c := range x {
			if strings.ToLower(k) != k {
				t.Errorf("json field %s%s is not lower case", path, k)
			}
			checkKeys(t, c, path+k+".")
		}
	case []any:
		for _, c := range x {
			checkKeys(t, c, path)
		}
	}
}

func decodeJSON(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// decodeYAML decodes the documents of a stream into what JSON would
// decode the same objects to.
func decodeYAML(t *testing.T, s string) []any {
	t.Helper()
	dec := yaml.NewDecoder(strings.NewReader(s))
	docs := []any{}
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if v == nil {
			continue
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, decodeJSON(t, string(b)))
	}
	return docs
}
