package pipeline

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBudgetModel checks the memory model on two tables, with the figures
// worked out here by hand from the P4Info shapes: ingress.policy_port is
// a 56-bit exact key (identities 16+16, protocol 8, port 16) with a
// 16-bit rank and one of 3 actions plus NoAction (3 bits of action id)
// and 4 bits of version/valid: 79 bits, one entry per 128-bit word;
// ingress.acl_v4 is 120 ternary bits, three 44-bit TCAM rows.
func TestBudgetModel(t *testing.T) {
	p, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	b := Budget{Name: "model", Stages: 12, SRAMBlocks: 80, TCAMBlocks: 24, SRAMWords: 1024, SRAMWordBits: 128, TCAMRows: 512, TCAMRowBits: 44, HashFill: 0.9}
	f := b.Fit(p.Info, map[string]int{"ingress.policy_port": 10240, "ingress.acl_v4": 512})
	blockBits := 1024.0 * 128
	wantSRAM := 10240/0.9/1024 + 10240*64/blockBits + // policy_port words, then its direct counter
		512*3/blockBits // the ACL's action ids
	wantTCAM := 3.0
	if math.Abs(f.SRAMBlocks-wantSRAM) > 1e-9 || math.Abs(f.TCAMBlocks-wantTCAM) > 1e-9 {
		t.Errorf("fit %+v: SRAM %.4f blocks (want %.4f), TCAM %.4f (want %.4f)", f, f.SRAMBlocks, wantSRAM, f.TCAMBlocks, wantTCAM)
	}
	if f.SRAMTotal != 12*80 || f.TCAMTotal != 12*24 || f.Err() != nil {
		t.Errorf("totals %d/%d, err %v", f.SRAMTotal, f.TCAMTotal, f.Err())
	}
	// A million single-port rules with counters take more SRAM than the
	// model's pipe has.
	big := b.Fit(p.Info, map[string]int{"ingress.policy_port": 1 << 20})
	if err := big.Err(); err == nil || !strings.Contains(err.Error(), "model: entries need") {
		t.Errorf("1M policy entries: %v", err)
	}
}

// TestBudgetCompiled: a compiled budget takes each table's entries as
// their share of the table's placed blocks, and refuses a table past its
// size naming what it needs.
func TestBudgetCompiled(t *testing.T) {
	b := Budget{Name: "chip", Stages: 2, SRAMBlocks: 10, TCAMBlocks: 4, Tables: map[string]TableBudget{
		"ingress.policy_port": {Size: 1000, SRAM: 8},
		"ingress.acl_v4":      {Size: 100, SRAM: 1, TCAM: 2},
	}}
	for _, tc := range []struct {
		name       string
		entries    map[string]int
		sram, tcam float64
		err        string
	}{
		{"empty", nil, 0, 0, ""},
		{"half", map[string]int{"ingress.policy_port": 500, "ingress.acl_v4": 50}, 4.5, 1, ""},
		{"full", map[string]int{"ingress.policy_port": 1000, "ingress.acl_v4": 100}, 9, 2, ""},
		{"one over", map[string]int{"ingress.policy_port": 1001}, 8.008, 0, "chip: table ingress.policy_port needs 1001 entries and holds 1000"},
		{"not placed", map[string]int{"ingress.l2": 1}, 0, 0, "chip: the compiled program has no table ingress.l2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := b.Fit(nil, tc.entries)
			if math.Abs(f.SRAMBlocks-tc.sram) > 1e-9 || math.Abs(f.TCAMBlocks-tc.tcam) > 1e-9 || f.SRAMTotal != 20 || f.TCAMTotal != 8 {
				t.Errorf("fit %+v, want %.3f SRAM and %.3f TCAM blocks of 20 and 8", f, tc.sram, tc.tcam)
			}
			if err := f.Err(); (err == nil) != (tc.err == "") || err != nil && err.Error() != tc.err {
				t.Errorf("err = %v, want %q", err, tc.err)
			}
		})
	}
}

// report is the part of bf-p4c's resources.json the budgets come from.
type report struct {
	Resources struct {
		MAU struct {
			NStages int `json:"nStages"`
			Stages  []struct {
				Stage int `json:"stage_number"`
				RAMs  struct {
					NRows    int `json:"nRows"`
					NColumns int `json:"nColumns"`
					SRAMs    []struct {
						Usages []struct {
							UsedBy string `json:"used_by"`
						} `json:"usages"`
					} `json:"srams"`
				} `json:"rams"`
				TCAMs struct {
					NRows    int `json:"nRows"`
					NColumns int `json:"nColumns"`
					TCAMs    []struct {
						Usages []struct {
							UsedBy string `json:"used_by"`
						} `json:"usages"`
					} `json:"tcams"`
				} `json:"tcams"`
			} `json:"mau_stages"`
		} `json:"mau"`
	} `json:"resources"`
}

// placedFromReport reads what the compiler placed for each table of the
// committed build of arch: its P4Info size and the SRAM and TCAM blocks
// the resource report names the table, its action data ($action), an
// algorithmic LPM table's pre-classifier and its direct counter. It returns them with the pipe's stages and the
// blocks of a stage.
func placedFromReport(t *testing.T, arch string) (map[string]TableBudget, int, int, int) {
	t.Helper()
	root := repoRoot(t)
	dir := filepath.Join(root, "p4src", "build", arch)
	b, err := readArtifact(filepath.Join(dir, "pipe", "logs", "resources.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	info, err := os.ReadFile(filepath.Join(dir, P4InfoFile))
	if err != nil {
		t.Fatal(err)
	}
	p, err := Load(Target{Name: arch, Formats: []string{FormatBfrt}}, info, []byte{0})
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{} // resource name -> table
	out := map[string]TableBudget{}
	for _, tb := range p.Info.Tables() {
		out[tb.Name] = TableBudget{Size: tb.Size}
		for _, part := range []string{"", "$action", "_preclassifier", "_preclassifier$action"} {
			owner[tb.Name+part] = tb.Name // an ALPM table's pre-classifier is its own
		}
	}
	for _, c := range p.Info.DirectCounters() {
		if tb, ok := p.Info.TableByID(c.TableID); ok {
			owner[c.Name] = tb.Name
		}
	}
	sram, tcam := 0, 0
	for _, st := range r.Resources.MAU.Stages {
		sram, tcam = st.RAMs.NRows*st.RAMs.NColumns, st.TCAMs.NRows*st.TCAMs.NColumns
		for _, m := range st.RAMs.SRAMs {
			for _, u := range m.Usages {
				if tb, ok := owner[u.UsedBy]; ok {
					x := out[tb]
					x.SRAM++
					out[tb] = x
				}
			}
		}
		for _, m := range st.TCAMs.TCAMs {
			for _, u := range m.Usages {
				if tb, ok := owner[u.UsedBy]; ok {
					x := out[tb]
					x.TCAM++
					out[tb] = x
				}
			}
		}
	}
	return out, r.Resources.MAU.NStages, sram, tcam
}

// TestBudgetsMatchReport keeps the Tofino budgets equal to what bf-p4c's
// resource reports of the committed builds say, and each table's size to
// the build's P4Info.
func TestBudgetsMatchReport(t *testing.T) {
	for _, name := range TargetNames() {
		tg := mustLookup(t, name)
		if tg.Budget == "" {
			continue
		}
		b := Budgets[tg.Budget]
		placed, stages, sram, tcam := placedFromReport(t, tg.Arch)
		if b.Stages != stages || b.SRAMBlocks != sram || b.TCAMBlocks != tcam {
			t.Errorf("%s: budget %d stages of %d SRAM and %d TCAM blocks, the report %d of %d and %d", name, b.Stages, b.SRAMBlocks, b.TCAMBlocks, stages, sram, tcam)
		}
		if !maps.Equal(b.Tables, placed) {
			var lit strings.Builder
			for _, tb := range slices.Sorted(maps.Keys(placed)) {
				x := placed[tb]
				fmt.Fprintf(&lit, "\t\t%q: {Size: %d, SRAM: %d, TCAM: %d},\n", tb, x.Size, x.SRAM, x.TCAM)
			}
			t.Errorf("%s: the budget's tables differ from p4src/build/%s/pipe/logs/resources.json; it reports:\n%s", name, tg.Arch, lit.String())
		}
	}
}

// TestProfileSizesFitBudget: each Tofino profile's tables fit their pipe at
// their sizes, and one entry more than a table's size is refused, naming
// the table, the entries it needs and its size.
func TestProfileSizesFitBudget(t *testing.T) {
	for _, name := range TargetNames() {
		tg := mustLookup(t, name)
		if tg.Budget == "" {
			continue
		}
		p, err := Embedded(name)
		if err != nil {
			t.Fatal(err)
		}
		full := map[string]int{}
		for _, tb := range p.Info.Tables() {
			full[tb.Name] = int(tb.Size)
		}
		b := Budgets[tg.Budget]
		f := b.Fit(p.Info, full)
		t.Logf("%s at full size: %.0f of %d SRAM blocks, %.0f of %d TCAM blocks", name, f.SRAMBlocks, f.SRAMTotal, f.TCAMBlocks, f.TCAMTotal)
		if err := f.Err(); err != nil {
			t.Errorf("%s: declared sizes do not fit: %v", name, err)
		}
		for tb, n := range tg.Sizes {
			over := maps.Clone(full)
			over[tb] = int(n) + 1
			want := fmt.Sprintf("%s: table %s needs %d entries and holds %d", tg.Budget, tb, n+1, n)
			if err := b.Fit(p.Info, over).Err(); err == nil || err.Error() != want {
				t.Errorf("%s: %s one over its size: err = %v, want %q", name, tb, err, want)
			}
		}
	}
}

// TestFitAgreesWithDevice: over random worlds of entries, --fit's check
// (the budget alone, whatever pipeline the counts come from) and a device
// of the target's (CheckCapacity: its tables' sizes, then the budget)
// accept and refuse the same entries.
func TestFitAgreesWithDevice(t *testing.T) {
	bmv2, err := Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(26, 4))
	for _, name := range []string{"tofino", "tofino2"} {
		p, err := Embedded(name)
		if err != nil {
			t.Fatal(err)
		}
		b := Budgets[p.Target.Budget]
		tables := p.Info.Tables()
		refused := 0
		for i := range 2000 {
			counts := map[string]int{}
			for _, tb := range tables {
				switch r.IntN(4) {
				case 0: // empty
				case 1: // anywhere up to twice its size
					counts[tb.Name] = r.IntN(2*int(tb.Size) + 1)
				case 2: // at the edge
					counts[tb.Name] = int(tb.Size) + r.IntN(3) - 1
				default: // well inside
					counts[tb.Name] = r.IntN(int(tb.Size)/2 + 1)
				}
			}
			fit := b.Fit(bmv2.Info, counts).Err()
			dev := p.CheckCapacity(counts)
			if (fit == nil) != (dev == nil) {
				t.Fatalf("%s world %d: --fit says %v, the device %v (counts %v)", name, i, fit, dev, counts)
			}
			if fit != nil {
				refused++
			}
		}
		if refused == 0 || refused == 2000 {
			t.Errorf("%s: %d of 2000 worlds refused: the worlds do not cross the sizes", name, refused)
		}
	}
}

// TestCheckCapacity: a device's check refuses every table past its size,
// naming each, and a target without a budget checks sizes alone.
func TestCheckCapacity(t *testing.T) {
	for _, tc := range []struct {
		target  string
		entries map[string]int
		want    []string
	}{
		{"tofino", map[string]int{"ingress.policy_port": 65536, "ingress.l2": 10}, nil},
		{"tofino", map[string]int{"ingress.policy_port": 65537}, []string{"table ingress.policy_port needs 65537 entries and holds 65536"}},
		{"tofino", map[string]int{"ingress.acl_v6": 513, "ingress.policy_pair": 9000}, []string{
			"table ingress.acl_v6 needs 513 entries and holds 512", "table ingress.policy_pair needs 9000 entries and holds 2048"}},
		{"tofino2", map[string]int{"ingress.policy_port": 131073}, []string{"table ingress.policy_port needs 131073 entries and holds 131072"}},
		{"bmv2", map[string]int{"ingress.policy_port": 300000}, nil},
		{"bmv2", map[string]int{"ingress.policy_port": 1<<20 + 1}, []string{"table ingress.policy_port needs 1048577 entries and holds 1048576"}},
	} {
		p, err := Embedded(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		err = p.CheckCapacity(tc.entries)
		if (err == nil) != (len(tc.want) == 0) {
			t.Errorf("%s %v: err = %v, want %q", tc.target, tc.entries, err, tc.want)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s %v: err = %v, want it to say %q", tc.target, tc.entries, err, w)
			}
		}
	}
}
