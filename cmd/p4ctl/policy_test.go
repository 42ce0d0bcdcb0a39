package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// TestDryRun: apply --dry-run shows each table's match class and fill,
// splits the entries between exact/LPM and ternary/range tables, and with
// --fit places them into a Tofino pipe; an unknown budget is named.
func TestDryRun(t *testing.T) {
	out, err := run(t, "apply", "-f", "../../examples/segmentation.yaml", "--dry-run", "--summary", "--fit", "tofino")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"TABLE                    MATCH    INSERT",
		"ingress.policy_port      exact    3",
		"ingress.dst_port_class   range    2",
		"ingress.acl_v4           ternary  12",
		"ingress.dst_identity_v4  lpm      6",
		"64 entries in exact/LPM tables, 23 in ternary/range tables",
		"tofino pipe: 0.1 of 960 SRAM blocks, 0.2 of 288 TCAM blocks: fits",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	js, err := run(t, "apply", "-f", "../../examples/segmentation.yaml", "--dry-run", "-o", "json", "--fit", "tofino2")
	if err != nil {
		t.Fatal(err)
	}
	var dr dryRun
	if err := json.Unmarshal([]byte(js), &dr); err != nil {
		t.Fatal(err)
	}
	d := dr.Devices["leaf1"]
	if d.Match["ingress.policy_range"] != "exact" || d.ExactEntries != 64 || d.TCAMEntries != 23 || d.Fit == nil || d.Fit.Budget != "tofino2" || d.Fit.Err() != nil {
		t.Errorf("json %+v", d)
	}
	if _, err := run(t, "apply", "-f", "../../examples/segmentation.yaml", "--dry-run", "--fit", "tofino9"); err == nil || !strings.Contains(err.Error(), `--fit "tofino9": no such budget (tofino, tofino2)`) {
		t.Errorf("unknown budget: err = %v", err)
	}
}

func TestValidateNoDocuments(t *testing.T) {
	f := filepath.Join(t.TempDir(), "empty.yaml")
	writeFile(t, f, "# nothing here\n")
	if _, err := run(t, "validate", "-f", f); err == nil || !strings.Contains(err.Error(), f+": no documents") {
		t.Errorf("validate of an empty file: err = %v", err)
	}
}

// TestValidateStrict: warnings pass validate, and fail it with --strict.
func TestValidateStrict(t *testing.T) {
	f := filepath.Join(t.TempDir(), "warn.yaml")
	writeFile(t, f, "kind: Segment\nname: empty\nid: 9\n") // a segment without ports
	if _, err := run(t, "validate", "-f", f); err != nil {
		t.Fatalf("warnings alone: %v", err)
	}
	if _, err := run(t, "validate", "--strict", "-f", f); err == nil || !strings.Contains(err.Error(), "1 warnings (--strict)") {
		t.Errorf("--strict: err = %v", err)
	}
}

func TestVersion(t *testing.T) {
	out, err := run(t, "version", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	if v.Module != "github.com/p4ctl/p4ctl" || v.PipelineCookie != fmt.Sprintf("%#016x", p.Cookie) || v.Go == "" {
		t.Errorf("version %+v", v)
	}
}

// TestFlagErrors: numbers out of range say the range; dry-run flags
// without --dry-run are refused rather than ignored.
func TestFlagErrors(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "-f", "../../examples/segmentation.yaml", "--device", "leaf1", "--in-port", "1", "--src", "10.0.0.1", "--dst", "10.0.0.3", "--dport", "70000"},
			"--dport 70000: out of range: it takes 0 to 65535"},
		{[]string{"apply", "-f", "../../examples/segmentation.yaml", "--fit", "tofino"}, "--fit needs --dry-run"},
	} {
		if _, err := run(t, tt.args...); err == nil || err.Error() != tt.want {
			t.Errorf("%v: err = %v, want %q", tt.args, err, tt.want)
		}
	}
}
