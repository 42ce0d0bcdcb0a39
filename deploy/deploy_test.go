// Tests of the deployment kit: the Prometheus rules and the Grafana
// dashboard name only metrics p4ctl exports, promtool accepts the rules and
// the scrape config and the alerts fire when they should, the systemd units
// are valid and as hardened as intended, and the example config names only
// flags of `p4ctl serve`.
package deploy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

const (
	rulesFile     = "prometheus/p4ctl-rules.yml"
	scrapeFile    = "prometheus/scrape.yml"
	dashboardFile = "grafana/p4ctl-dashboard.json"
	configFile    = "p4ctl.yaml"
	serverUnit    = "systemd/p4ctl.service"
	agentUnit     = "systemd/p4ctl-agent.service"
	// installedBinary is where the units expect p4ctl.
	installedBinary = "/usr/local/bin/p4ctl"
)

// ---- the p4ctl binary, built once for the tests that run it

var (
	buildOnce sync.Once
	buildDir  string
	buildBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// p4ctlBinary builds ../cmd/p4ctl once and returns its path.
func p4ctlBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "p4ctl-deploy-test-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(buildDir, "p4ctl")
		out, err := exec.Command("go", "build", "-o", buildBin, "../cmd/p4ctl").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ../cmd/p4ctl: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// flagKinds runs `p4ctl SUB --help` and returns its flags with their
// value type as pflag prints it ("" for a bool).
func flagKinds(t *testing.T, sub string) map[string]string {
	t.Helper()
	out, err := exec.Command(p4ctlBinary(t), sub, "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("p4ctl %s --help: %v\n%s", sub, err, out)
	}
	re := regexp.MustCompile(`(?m)^\s+(?:-[A-Za-z], )?--([a-z0-9-]+)(?: ([A-Za-z]+))?\s{2,}`)
	flags := map[string]string{}
	for _, m := range re.FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = m[2]
	}
	delete(flags, "help")
	if len(flags) < 3 {
		t.Fatalf("p4ctl %s --help: found %d flags in\n%s", sub, len(flags), out)
	}
	return flags
}

// ---- (a) the metrics the code exports

// exportedMetrics scans the non-test Go files under ../pkg and ../cmd for
// the metrics they declare, prometheus.NewDesc("p4ctl_...", ...) and
// prometheus.XxxOpts{Name: "p4ctl_..."}, and returns each series name a
// scrape can show, with where it is declared. A classic histogram shows
// _bucket, _sum and _count (and its bare name only as a native histogram);
// a summary its bare name (the quantiles), _sum and _count.
func exportedMetrics(t *testing.T) map[string]string {
	t.Helper()
	names := map[string]string{}
	fset := token.NewFileSet()
	add := func(pos token.Pos, name string, suffixes ...string) {
		if !strings.HasPrefix(name, "p4ctl_") {
			return
		}
		for _, s := range suffixes {
			names[name+s] = fset.Position(pos).String()
		}
	}
	for _, root := range []string{"../pkg", "../cmd"} {
		err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Contains(src, []byte(`"p4ctl_`)) {
				return nil
			}
			f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.CallExpr:
					if sel, ok := n.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == "NewDesc" && len(n.Args) > 0 {
						if s, ok := stringLit(n.Args[0]); ok {
							add(n.Pos(), s, "")
						}
					}
				case *ast.CompositeLit:
					kind, ok := optsKind(n)
					if !ok {
						return true
					}
					var parts [3]string // namespace, subsystem, name
					native := false
					for _, e := range n.Elts {
						kv, ok := e.(*ast.KeyValueExpr)
						if !ok {
							continue
						}
						key, _ := kv.Key.(*ast.Ident)
						if key == nil {
							continue
						}
						switch key.Name {
						case "Namespace":
							parts[0], _ = stringLit(kv.Value)
						case "Subsystem":
							parts[1], _ = stringLit(kv.Value)
						case "Name":
							parts[2], _ = stringLit(kv.Value)
						case "NativeHistogramBucketFactor":
							native = true
						}
					}
					if parts[2] == "" {
						return true
					}
					name := strings.Join(slices.DeleteFunc(parts[:], func(s string) bool { return s == "" }), "_")
					switch kind {
					case "Histogram":
						add(n.Pos(), name, "_bucket", "_sum", "_count")
						if native {
							add(n.Pos(), name, "")
						}
					case "Summary":
						add(n.Pos(), name, "", "_sum", "_count")
					default:
						add(n.Pos(), name, "")
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatalf("scanning %s: %v", root, err)
		}
	}
	if len(names) == 0 {
		t.Fatal("found no p4ctl_ metric declared under ../pkg and ../cmd: the scanner no longer matches how metrics are declared")
	}
	return names
}

// optsKind says whether c is a prometheus.XxxOpts literal and which.
// An untyped literal (an element of a []prometheus.XxxOpts) that has a
// Name counts as one too: a histogram when it has Buckets.
func optsKind(c *ast.CompositeLit) (string, bool) {
	if c.Type == nil {
		hasName, hasBuckets := false, false
		for _, e := range c.Elts {
			if kv, ok := e.(*ast.KeyValueExpr); ok {
				if id, ok := kv.Key.(*ast.Ident); ok {
					hasName = hasName || id.Name == "Name"
					hasBuckets = hasBuckets || id.Name == "Buckets"
				}
			}
		}
		if !hasName {
			return "", false
		}
		if hasBuckets {
			return "Histogram", true
		}
		return "", true
	}
	sel, ok := c.Type.(*ast.SelectorExpr)
	if !ok {
		return "", false
	}
	if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "prometheus" {
		return "", false
	}
	switch sel.Sel.Name {
	case "HistogramOpts":
		return "Histogram", true
	case "SummaryOpts":
		return "Summary", true
	case "CounterOpts", "GaugeOpts", "UntypedOpts", "Opts":
		return "", true
	}
	return "", false
}

func stringLit(e ast.Expr) (string, bool) {
	lit, ok := e.(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return "", false
	}
	s, err := strconv.Unquote(lit.Value)
	return s, err == nil
}

// metricRef finds p4ctl metric names in a PromQL expression.
var metricRef = regexp.MustCompile(`(?:^|[^A-Za-z0-9_:])(p4ctl_[A-Za-z0-9_:]*)`)

func metricsIn(expr string) []string {
	var out []string
	for _, m := range metricRef.FindAllStringSubmatch(expr, -1) {
		out = append(out, m[1])
	}
	return out
}

// ---- (b) the rules and the dashboard name only exported metrics

type ruleFile struct {
	Groups []struct {
		Name        string `yaml:"name"`
		Interval    string `yaml:"interval,omitempty"`
		QueryOffset string `yaml:"query_offset,omitempty"`
		Limit       int    `yaml:"limit,omitempty"`
		Rules       []rule `yaml:"rules"`
	} `yaml:"groups"`
}

type rule struct {
	Alert         string            `yaml:"alert,omitempty"`
	Record        string            `yaml:"record,omitempty"`
	Expr          string            `yaml:"expr"`
	For           string            `yaml:"for,omitempty"`
	KeepFiringFor string            `yaml:"keep_firing_for,omitempty"`
	Labels        map[string]string `yaml:"labels,omitempty"`
	Annotations   map[string]string `yaml:"annotations,omitempty"`
}

func readRules(t *testing.T) ruleFile {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var rf ruleFile
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	if len(rf.Groups) == 0 {
		t.Fatalf("%s: no rule groups", rulesFile)
	}
	return rf
}

var promDuration = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

func TestRulesUseExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	rf := readRules(t)
	seen := map[string]bool{}
	used := map[string]bool{}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			what := fmt.Sprintf("%s: group %s: rule %s%s", rulesFile, g.Name, r.Alert, r.Record)
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: no expr", what)
			}
			for _, m := range metricsIn(r.Expr) {
				used[m] = true
				if _, ok := exported[m]; !ok {
					t.Errorf("%s: expr uses %s, which p4ctl does not export (expr: %s)", what, m, strings.TrimSpace(r.Expr))
				}
			}
			if r.Alert == "" {
				continue
			}
			if seen[r.Alert] {
				t.Errorf("%s: alert name used twice", what)
			}
			seen[r.Alert] = true
			if !promDuration.MatchString(r.For) {
				t.Errorf("%s: for: %q, want a duration such as 1m", what, r.For)
			}
			if s := r.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, s) {
				t.Errorf("%s: labels.severity %q, want critical, warning or info", what, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no annotations.%s", what, a)
				}
			}
		}
	}
	t.Logf("%d alerts over %d p4ctl metrics", len(seen), len(used))
}

// dashboardQuery is a query of the dashboard and where it is.
type dashboardQuery struct{ where, text string }

// dashboardQueries walks the dashboard and returns its PromQL (targets'
// and annotations' expr) and its template variable queries, and reports
// every datasource reference that is not the datasource variable.
func dashboardQueries(t *testing.T) (dash map[string]any, promql, variables []dashboardQuery) {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	var walk func(where string, v any)
	walk = func(where string, v any) {
		switch v := v.(type) {
		case map[string]any:
			if ds, ok := v["datasource"]; ok {
				checkDatasource(t, where, ds)
			}
			for _, k := range slices.Sorted(maps.Keys(v)) {
				sub := where + "." + k
				if title, ok := v["title"].(string); ok && k == "targets" {
					sub = fmt.Sprintf("%s (panel %q).targets", where, title)
				}
				switch s, isString := v[k].(string); {
				case isString && k == "expr":
					promql = append(promql, dashboardQuery{sub, s})
				case isString && (k == "query" || k == "definition") && strings.Contains(where, "templating"):
					variables = append(variables, dashboardQuery{sub, s})
				default:
					walk(sub, v[k])
				}
			}
		case []any:
			for i, x := range v {
				walk(fmt.Sprintf("%s[%d]", where, i), x)
			}
		}
	}
	walk("dashboard", dash)
	return dash, promql, variables
}

func checkDatasource(t *testing.T, where string, ds any) {
	t.Helper()
	switch ds := ds.(type) {
	case string:
		if ds != "$datasource" && ds != "${datasource}" {
			t.Errorf("%s: %s: datasource %q, want the datasource variable ${datasource}", dashboardFile, where, ds)
		}
	case map[string]any:
		uid, _ := ds["uid"].(string)
		if ds["type"] == "grafana" || uid == "$datasource" || uid == "${datasource}" {
			return
		}
		t.Errorf("%s: %s: datasource uid %q, want the datasource variable ${datasource}, not a fixed uid", dashboardFile, where, uid)
	}
}

func TestDashboardUsesExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	dash, promql, variables := dashboardQueries(t)
	if len(promql) == 0 {
		t.Fatalf("%s: no PromQL queries found", dashboardFile)
	}
	hasDSVar := false
	templating, _ := dash["templating"].(map[string]any)
	list, _ := templating["list"].([]any)
	for _, v := range list {
		if v, ok := v.(map[string]any); ok && v["type"] == "datasource" && v["name"] == "datasource" && v["query"] == "prometheus" {
			hasDSVar = true
		}
	}
	if !hasDSVar {
		t.Errorf("%s: no Prometheus datasource template variable named datasource", dashboardFile)
	}
	used := map[string]bool{}
	for _, q := range append(promql, variables...) {
		for _, m := range metricsIn(q.text) {
			used[m] = true
			if _, ok := exported[m]; !ok {
				t.Errorf("%s: %s uses %s, which p4ctl does not export (query: %s)", dashboardFile, q.where, m, q.text)
			}
		}
	}
	ids := map[float64]bool{}
	panels, _ := dash["panels"].([]any)
	for _, p := range panels {
		p, _ := p.(map[string]any)
		id, _ := p["id"].(float64)
		if ids[id] {
			t.Errorf("%s: panel id %v used twice", dashboardFile, id)
		}
		ids[id] = true
	}
	var unshown []string
	for _, m := range slices.Sorted(maps.Keys(exported)) {
		base := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(m, "_bucket"), "_sum"), "_count")
		if !used[m] && !used[base+"_bucket"] && !used[base+"_count"] {
			unshown = append(unshown, m)
		}
	}
	t.Logf("%d queries over %d p4ctl series names; exported but not shown: %v", len(promql), len(used), unshown)
}

// ---- (c) promtool

func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not on PATH (Debian: apt-get install prometheus): rules and scrape config not checked by Prometheus")
	}
	return p
}

func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
	return string(out), err
}

func writeYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestPromtoolCheckRules(t *testing.T) {
	pt := promtool(t)
	if out, err := run(t, pt, "check", "rules", rulesFile); err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", rulesFile, err, out)
	}
}

// TestPromtoolCheckConfig checks scrape.yml with the rules it includes,
// the TLS files it names replaced by files that exist.
func TestPromtoolCheckConfig(t *testing.T) {
	b, err := os.ReadFile(scrapeFile)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", scrapeFile, err)
	}
	// What holds without promtool: the rules are included, and every
	// p4ctl job scrapes over mutual TLS.
	files, _ := cfg["rule_files"].([]any)
	if !slices.Contains(files, any(filepath.Base(rulesFile))) {
		t.Errorf("%s: rule_files %v does not include %s", scrapeFile, files, filepath.Base(rulesFile))
	}
	jobs, _ := cfg["scrape_configs"].([]any)
	if len(jobs) == 0 {
		t.Fatalf("%s: no scrape_configs", scrapeFile)
	}
	for _, j := range jobs {
		j, _ := j.(map[string]any)
		tc, _ := j["tls_config"].(map[string]any)
		if j["scheme"] != "https" || tc["ca_file"] == nil || tc["cert_file"] == nil || tc["key_file"] == nil {
			t.Errorf("%s: job %v: want scheme https and tls_config with ca_file, cert_file and key_file (mutual TLS)", scrapeFile, j["job_name"])
		}
	}

	pt := promtool(t)
	dir := t.TempDir()
	abs, err := filepath.Abs(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg["rule_files"] = []string{abs}
	for _, j := range jobs {
		j, _ := j.(map[string]any)
		tc, _ := j["tls_config"].(map[string]any)
		for _, k := range []string{"ca_file", "cert_file", "key_file"} {
			if p, ok := tc[k].(string); ok {
				local := filepath.Join(dir, filepath.Base(p))
				if err := os.WriteFile(local, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				tc[k] = local
			}
		}
	}
	tmp := filepath.Join(dir, "prometheus.yml")
	writeYAML(t, tmp, cfg)
	out, err := run(t, pt, "check", "config", tmp)
	if err != nil {
		t.Fatalf("promtool check config (%s with the rules, TLS files stubbed): %v\n%s", scrapeFile, err, out)
	}
	if !strings.Contains(out, abs) {
		t.Errorf("promtool check config did not check the rules file:\n%s", out)
	}
}

// TestPromtoolDashboardQueries checks that every PromQL query of the
// dashboard parses, as recording rules, with Grafana's variables filled in.
func TestPromtoolDashboardQueries(t *testing.T) {
	_, promql, _ := dashboardQueries(t)
	pt := promtool(t)
	vars := regexp.MustCompile(`\$\{?(\w+)\}?`)
	var rules []rule
	for i, q := range promql {
		expr := vars.ReplaceAllStringFunc(q.text, func(v string) string {
			switch strings.Trim(v, "${}") {
			case "__rate_interval", "__interval", "__range":
				return "5m"
			}
			return ".*"
		})
		rules = append(rules, rule{Record: fmt.Sprintf("dashboard:query_%d", i), Expr: expr})
	}
	path := filepath.Join(t.TempDir(), "dashboard-queries.yml")
	writeYAML(t, path, map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": rules}}})
	if out, err := run(t, pt, "check", "rules", path); err != nil {
		for i, q := range promql {
			out = strings.ReplaceAll(out, fmt.Sprintf("dashboard:query_%d\"", i), q.where+"\"")
		}
		t.Fatalf("promtool: a dashboard query does not parse: %v\n%s", err, out)
	}
}

// TestPromtoolAlertsFire runs the alerts, annotations left out, on
// series of a three-node cluster: each fires where it should and nowhere
// else (in particular, device state is judged on the leader only).
func TestPromtoolAlertsFire(t *testing.T) {
	rf := readRules(t)
	pt := promtool(t)
	for gi := range rf.Groups {
		for ri := range rf.Groups[gi].Rules {
			rf.Groups[gi].Rules[ri].Annotations = nil
		}
	}
	dir := t.TempDir()
	writeYAML(t, filepath.Join(dir, "rules.yml"), rf)

	type series = map[string]string
	s := func(name, labels, values string) series {
		return series{"series": name + `{job="p4ctl", ` + labels + `}`, "values": values}
	}
	type alert = map[string]string // expected labels, alertname aside
	type check struct {
		at, alert string
		want      []alert
	}
	type scenario struct {
		name   string
		series []series
		checks []check
	}
	cluster := func(leaders ...string) []series { // ctl-1..3, leader flags
		var out []series
		for i, v := range leaders {
			inst := fmt.Sprintf(`instance="ctl-%d"`, i+1)
			out = append(out, s("p4ctl_raft_leader", inst, v), s("up", inst, "1x80"))
		}
		return out
	}
	scenarios := []scenario{
		{
			// ctl-1 masters leaf1 and leaf2, ctl-2 leaf3; ctl-2 holds
			// backup sessions to leaf1 and leaf2 (never primary, never in
			// sync: no alert), ctl-1 one to leaf3.
			name: "leaf2 out of sync and taken by another client; backups quiet",
			series: append(cluster("1x80", "0x80", "0x80"),
				s("p4ctl_device_master", `instance="ctl-1", device="leaf1"`, "1x80"),
				s("p4ctl_device_master", `instance="ctl-1", device="leaf2"`, "1x80"),
				s("p4ctl_device_master", `instance="ctl-1", device="leaf3"`, "0x80"),
				s("p4ctl_device_master", `instance="ctl-2", device="leaf1"`, "0x80"),
				s("p4ctl_device_master", `instance="ctl-2", device="leaf2"`, "0x80"),
				s("p4ctl_device_master", `instance="ctl-2", device="leaf3"`, "1x80"),
				s("p4ctl_device_in_sync", `instance="ctl-1", device="leaf1"`, "1x80"),
				s("p4ctl_device_in_sync", `instance="ctl-1", device="leaf2"`, "0x80"),
				s("p4ctl_device_in_sync", `instance="ctl-1", device="leaf3"`, "0x80"),
				s("p4ctl_device_in_sync", `instance="ctl-2", device="leaf1"`, "0x80"),
				s("p4ctl_device_in_sync", `instance="ctl-2", device="leaf2"`, "0x80"),
				s("p4ctl_device_in_sync", `instance="ctl-2", device="leaf3"`, "1x80"),
				s("p4ctl_device_primary", `instance="ctl-1", device="leaf1"`, "1x80"),
				s("p4ctl_device_primary", `instance="ctl-1", device="leaf2"`, "0x80"),
				s("p4ctl_device_primary", `instance="ctl-1", device="leaf3"`, "0x80"),
				s("p4ctl_device_primary", `instance="ctl-2", device="leaf1"`, "0x80"),
				s("p4ctl_device_primary", `instance="ctl-2", device="leaf2"`, "0x80"),
				s("p4ctl_device_primary", `instance="ctl-2", device="leaf3"`, "1x80"),
			),
			checks: []check{
				{"45s", "P4ctlDeviceNotInSync", nil}, // pending for 1m
				{"2m", "P4ctlDeviceNotInSync", []alert{{"job": "p4ctl", "instance": "ctl-1", "device": "leaf2", "severity": "critical"}}},
				{"2m", "P4ctlDeviceNotPrimary", []alert{{"job": "p4ctl", "instance": "ctl-1", "device": "leaf2", "severity": "critical"}}},
				{"2m", "P4ctlNoLeader", nil},
				{"5m", "P4ctlSeveralLeaders", nil},
				{"5m", "P4ctlNodeDown", nil},
			},
		},
		{
			name: "no leader, ctl-2 down",
			series: []series{
				s("p4ctl_raft_leader", `instance="ctl-1"`, "0x80"),
				s("p4ctl_raft_leader", `instance="ctl-3"`, "0x80"),
				s("up", `instance="ctl-1"`, "1x80"),
				s("up", `instance="ctl-2"`, "0x80"),
			},
			checks: []check{
				{"2m", "P4ctlNoLeader", []alert{{"job": "p4ctl", "severity": "critical"}}},
				{"3m", "P4ctlNodeDown", []alert{{"job": "p4ctl", "instance": "ctl-2", "severity": "warning"}}},
			},
		},
		{
			name:   "an election: a leader again after 30s",
			series: cluster("0 0 0x78", "0 0 1x78", "0x80"),
			checks: []check{{"3m", "P4ctlNoLeader", nil}, {"3m", "P4ctlSeveralLeaders", nil}},
		},
		{
			name:   "two nodes say they lead",
			series: cluster("1x80", "1x80", "0x80"),
			checks: []check{{"3m", "P4ctlSeveralLeaders", []alert{{"job": "p4ctl", "severity": "warning"}}}},
		},
		{
			name: "leaf1 keeps failing, leaf2 failed once long ago",
			series: []series{
				s("p4ctl_device_sync_failures_total", `instance="ctl-1", device="leaf1"`, "0+1x80"),
				s("p4ctl_device_sync_failures_total", `instance="ctl-1", device="leaf2"`, "5x80"),
			},
			checks: []check{
				{"5m", "P4ctlDeviceSyncFailing", nil},
				{"15m", "P4ctlDeviceSyncFailing", []alert{{"job": "p4ctl", "instance": "ctl-1", "device": "leaf1", "severity": "warning"}}},
			},
		},
		{
			name: "a scan in segment web, background denials in guest",
			series: []series{
				s("p4ctl_denial_reports_total", `instance="ctl-1", device="leaf1", segment="web"`, "0+30x80"),
				s("p4ctl_denial_reports_total", `instance="ctl-1", device="leaf1", segment="guest"`, "0+3x80"),
			},
			checks: []check{{"10m", "P4ctlDenialBurst", []alert{{"job": "p4ctl", "instance": "ctl-1", "device": "leaf1", "segment": "web", "severity": "warning"}}}},
		},
		{
			name: "leaf1's counters reset at 5m",
			series: []series{
				s("p4ctl_policy_resets_total", `instance="ctl-1", device="leaf1"`, "0x20 1x60"),
				s("p4ctl_policy_resets_total", `instance="ctl-1", device="leaf2"`, "2x80"),
			},
			checks: []check{
				{"4m", "P4ctlPolicyCountersReset", nil},
				{"8m", "P4ctlPolicyCountersReset", []alert{{"job": "p4ctl", "instance": "ctl-1", "device": "leaf1", "severity": "info"}}},
			},
		},
		{
			name: "leaf1 reports a segment the model lacks; leaf2 dropped a malformed flow report once",
			series: []series{
				s("p4ctl_denial_reports_dropped_total", `instance="ctl-1", device="leaf1", reason="unknown segment"`, "0+2x80"),
				s("p4ctl_flow_reports_dropped_total", `instance="ctl-1", device="leaf2", reason="malformed"`, "0 1x80"),
			},
			checks: []check{
				{"1m", "P4ctlReportsDropped", nil},
				{"10m", "P4ctlReportsDropped", []alert{{"job": "p4ctl", "instance": "ctl-1", "device": "leaf1", "reason": "unknown segment", "severity": "warning"}}},
			},
		},
		{
			name: "the flow log evicts for over an hour",
			series: []series{
				s("p4ctl_flow_records_evicted_total", `instance="ctl-1"`, "0x20 0+3x400"),
				s("p4ctl_flow_records_evicted_total", `instance="ctl-2"`, "7x420"),
			},
			checks: []check{
				{"30m", "P4ctlFlowLogFull", nil},
				{"100m", "P4ctlFlowLogFull", []alert{{"job": "p4ctl", "instance": "ctl-1", "severity": "info"}}},
			},
		},
		{
			name: "raft refuses an expired member, the API a client's role",
			series: []series{
				s("p4ctl_refused_peers_total", `instance="ctl-1", listener="raft", reason="expired"`, "0+1x80"),
				s("p4ctl_refused_peers_total", `instance="ctl-1", listener="api", reason="role"`, "0+5x80"),
			},
			checks: []check{{"10m", "P4ctlRaftPeersRefused", []alert{{"job": "p4ctl", "instance": "ctl-1", "reason": "expired", "severity": "warning"}}}},
		},
	}
	// Every alert is exercised firing at least once.
	fired := map[string]bool{}
	var tests []any
	for _, sc := range scenarios {
		var checks []any
		for _, c := range sc.checks {
			exp := []any{}
			for _, a := range c.want {
				exp = append(exp, map[string]any{"exp_labels": a})
				fired[c.alert] = true
			}
			checks = append(checks, map[string]any{"eval_time": c.at, "alertname": c.alert, "exp_alerts": exp})
		}
		tests = append(tests, map[string]any{"name": sc.name, "interval": "15s", "input_series": sc.series, "alert_rule_test": checks})
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			if r.Alert != "" && !fired[r.Alert] {
				t.Errorf("alert %s has no scenario in which it fires: add one to TestPromtoolAlertsFire", r.Alert)
			}
		}
	}
	path := filepath.Join(dir, "rules_test.yml")
	writeYAML(t, path, map[string]any{"rule_files": []string{"rules.yml"}, "evaluation_interval": "15s", "tests": tests})
	if out, err := run(t, pt, "test", "rules", path); err != nil {
		t.Fatalf("promtool test rules: %v\n%s", err, out)
	}
}

// ---- (d) systemd units

// unit is a parsed unit file: section -> key -> values in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := unit{}
	section := ""
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	for i, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value in a section: %s", path, i+1, line)
			}
			k = strings.TrimSpace(k)
			u[section][k] = append(u[section][k], strings.Join(strings.Fields(v), " "))
		}
	}
	return u
}

// last is the value a key ends up with (an empty assignment resets).
func (u unit) last(section, key string) (string, bool) {
	v := u[section][key]
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

func (u unit) want(t *testing.T, path, section, key, value string) {
	t.Helper()
	if got, ok := u.last(section, key); !ok || got != value {
		t.Errorf("%s: [%s] %s=%q, want %q", path, section, key, got, value)
	}
}

// checkExecFlags checks that every --flag of the unit's ExecStart is a flag
// of the p4ctl command it runs.
func checkExecFlags(t *testing.T, path, execStart, sub string) {
	t.Helper()
	flags := flagKinds(t, sub)
	for _, w := range strings.Fields(execStart) {
		if !strings.HasPrefix(w, "--") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(w, "--"), "=")
		if _, ok := flags[name]; !ok {
			t.Errorf("%s: ExecStart passes --%s, which is not a flag of p4ctl %s", path, name, sub)
		}
	}
}

func TestSystemdUnits(t *testing.T) {
	srv := readUnit(t, serverUnit)
	execStart, _ := srv.last("Service", "ExecStart")
	if execStart != installedBinary+" serve --config /etc/p4ctl/p4ctl.yaml" {
		t.Errorf("%s: ExecStart=%q, want %s serve --config /etc/p4ctl/p4ctl.yaml", serverUnit, execStart, installedBinary)
	}
	checkExecFlags(t, serverUnit, execStart, "serve")
	for k, v := range map[string]string{"User": "p4ctl", "StateDirectory": "p4ctl", "Restart": "on-failure", "NoNewPrivileges": "yes",
		"ProtectSystem": "strict", "ProtectHome": "yes", "PrivateTmp": "yes", "CapabilityBoundingSet": "", "AmbientCapabilities": "",
		"ReadWritePaths": "/var/lib/p4ctl"} {
		srv.want(t, serverUnit, "Service", k, v)
	}
	if sig, ok := srv.last("Service", "KillSignal"); ok && sig != "SIGTERM" {
		t.Errorf("%s: KillSignal=%s: serve stops gracefully on SIGTERM", serverUnit, sig)
	}

	agent := readUnit(t, agentUnit)
	execStart, _ = agent.last("Service", "ExecStart")
	if !strings.HasPrefix(execStart, installedBinary+" agent ") || !strings.Contains(execStart, "--listen ") || !strings.Contains(execStart, "--lldp") {
		t.Errorf("%s: ExecStart=%q, want %s agent --listen ADDR --lldp ...", agentUnit, execStart, installedBinary)
	}
	checkExecFlags(t, agentUnit, execStart, "agent")
	agent.want(t, agentUnit, "Service", "NoNewPrivileges", "yes")
	agent.want(t, agentUnit, "Service", "ProtectSystem", "strict")
	for _, k := range []string{"CapabilityBoundingSet", "AmbientCapabilities"} {
		v, _ := agent.last("Service", k)
		caps := strings.Fields(v)
		if len(caps) == 0 {
			t.Errorf("%s: %s is empty: the LLDP speaker needs CAP_NET_RAW", agentUnit, k)
		}
		for _, c := range caps {
			if c != "CAP_NET_RAW" && c != "CAP_NET_ADMIN" {
				t.Errorf("%s: %s grants %s: the agent needs CAP_NET_RAW (and at most CAP_NET_ADMIN)", agentUnit, k, c)
			}
		}
	}

	t.Run("systemd-analyze", func(t *testing.T) { systemdAnalyze(t) })
}

// systemdAnalyze verifies copies of the units that run a freshly built
// p4ctl (verify wants the binary to exist), and scores their exposure.
func systemdAnalyze(t *testing.T) {
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze not on PATH: unit files not verified by systemd")
	}
	bin := p4ctlBinary(t)
	dir := t.TempDir()
	var units []string
	for _, u := range []string{serverUnit, agentUnit} {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, filepath.Base(u))
		if err := os.WriteFile(path, bytes.ReplaceAll(b, []byte(installedBinary), []byte(bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		units = append(units, path)
	}
	out, err := run(t, sa, append([]string{"verify"}, units...)...)
	var ours []string // what systemd says about our units (warnings included)
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "p4ctl.service") || strings.Contains(line, "p4ctl-agent.service") || strings.Contains(line, dir) {
			ours = append(ours, line)
		}
	}
	if len(ours) > 0 {
		t.Fatalf("systemd-analyze verify:\n%s", strings.Join(ours, "\n"))
	}
	if err != nil {
		t.Skipf("systemd-analyze verify failed without naming the units (no usable systemd here?): %v: %s", err, strings.TrimSpace(out))
	}
	exposure := regexp.MustCompile(`Overall exposure level for (\S+): ([0-9.]+)`)
	for _, u := range units {
		out, err := run(t, sa, "security", "--offline=true", u)
		m := exposure.FindStringSubmatch(out)
		if err != nil || m == nil {
			t.Logf("systemd-analyze security --offline=true %s: no score (%v)", filepath.Base(u), err)
			continue
		}
		score, _ := strconv.ParseFloat(m[2], 64)
		t.Logf("systemd-analyze security: %s exposure %.1f", m[1], score)
		if score > 3.0 {
			t.Errorf("%s: exposure %.1f above 3.0: hardening was weakened\n%s", m[1], score, out)
		}
	}
}

// ---- (e) the example config names only flags of `p4ctl serve`

func TestConfigKeysAreServeFlags(t *testing.T) {
	flags := flagKinds(t, "serve")
	b, err := os.ReadFile(configFile)
	if err != nil {
		t.Fatal(err)
	}
	var kv map[string]any
	if err := yaml.Unmarshal(b, &kv); err != nil {
		t.Fatalf("%s: %v", configFile, err)
	}
	if len(kv) == 0 {
		t.Fatalf("%s: no settings", configFile)
	}
	for _, k := range slices.Sorted(maps.Keys(kv)) {
		kind, ok := flags[k]
		if !ok || k == "config" {
			t.Errorf("%s: %q is not a flag of p4ctl serve (serve refuses it)", configFile, k)
			continue
		}
		if err := checkValue(kind, kv[k]); err != nil {
			t.Errorf("%s: %s: %v", configFile, k, err)
		}
	}
	// The data dir is the unit's state directory.
	state, _ := readUnit(t, serverUnit).last("Service", "StateDirectory")
	if got := kv["data-dir"]; got != "/var/lib/"+state {
		t.Errorf("%s: data-dir %v, want /var/lib/%s (StateDirectory of %s)", configFile, got, state, serverUnit)
	}

	// serve itself takes the file: whatever stops it, it is not a setting
	// (those errors start with the file's name). The addresses and data
	// dir are overridden, so a host that has the certificates starts a
	// throwaway node on loopback, stopped at the deadline.
	abs, err := filepath.Abs(configFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p4ctlBinary(t), "serve", "--config", abs, "--data-dir", t.TempDir(),
		"--api-addr", "127.0.0.1:0", "--raft-addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0")
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if strings.Contains(string(out), abs+":") {
		t.Errorf("p4ctl serve --config %s refused a setting: %v\n%s", configFile, err, out)
	} else if err != nil && !errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Logf("p4ctl serve took every setting, then stopped as expected here: %s", strings.TrimSpace(string(out)))
	}
}

// checkValue checks v is a YAML value that serve's config loader turns
// into a valid value of a flag of the given pflag type.
func checkValue(kind string, v any) error {
	vals := []any{v}
	if l, ok := v.([]any); ok {
		if !strings.HasSuffix(kind, "Array") && kind != "strings" && kind != "stringToString" {
			return fmt.Errorf("a list, but the flag (%s) is not repeatable", kind)
		}
		vals = l
	}
	for _, x := range vals {
		switch kind {
		case "":
			if _, ok := x.(bool); !ok {
				return fmt.Errorf("%v: want true or false", x)
			}
		case "int":
			if _, ok := x.(int); !ok {
				return fmt.Errorf("%v: want an integer", x)
			}
		case "duration":
			s, _ := x.(string)
			if _, err := time.ParseDuration(s); err != nil {
				return fmt.Errorf("%v: want a duration such as 10s", x)
			}
		case "stringToString":
			s, _ := x.(string)
			if !strings.Contains(s, "=") {
				return fmt.Errorf("%v: want KEY=VALUE", x)
			}
		default:
			switch x.(type) {
			case map[string]any, []any, nil:
				return fmt.Errorf("%v: want a string", x)
			}
		}
	}
	return nil
}
