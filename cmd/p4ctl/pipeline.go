package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func newPipelineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Inspect the P4 pipeline of a target and write its device config",
		Example: `  p4ctl pipeline info --target bmv2
  p4ctl pipeline pack --target bmv2 -O bmv2.json`,
	}
	var target, dir, format, out string
	load := func() (*pipeline.Pipeline, error) {
		t, err := pipeline.LookupTarget(target)
		if err != nil {
			return nil, err
		}
		if dir != "" {
			return pipeline.LoadDir(t, dir, format)
		}
		r, err := pipeline.NewResolver(nil, formatFor(target, format))
		if err != nil {
			return nil, err
		}
		return r.Pipeline(target)
	}
	info := &cobra.Command{
		Use:   "info",
		Short: "Print a target's profile and its pipeline's tables, match fields, actions and sizes",
		Example: `  p4ctl pipeline info
  p4ctl pipeline info --target tofino -o json
  p4ctl pipeline info --target tofino --pipeline-dir build/tna`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := load()
			if err != nil {
				return err
			}
			if f := output(cmd).Format(); f != FormatTable {
				return printData(cmd.OutOrStdout(), f, pipelineSummary(p))
			}
			return printPipelineText(cmd.OutOrStdout(), p)
		},
	}
	pack := &cobra.Command{
		Use:   "pack",
		Short: "Write the exact p4_device_config bytes p4ctl sends a target's devices",
		Long: `pack writes the device config of SetForwardingPipelineConfig for a target:
BMv2's JSON, or for Tofino and DPDK a serialized BfPipelineConfig (--format
bfrt, what stratum_bfrt, stratum_tdi and infrap4d take) or Tofino's legacy
PI packing (--format legacy). The artifacts are the embedded build, or a
compiler's output with --pipeline-dir (docs/targets.md). --output-file (-O)
names the file; - writes to standard output.`,
		Example: `  p4ctl pipeline pack --target bmv2 -O bmv2.json
  p4ctl pipeline pack --target tofino --format legacy -O - | sha256sum`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return fmt.Errorf("pack: give the output file with --output-file (-O); - writes to standard output")
			}
			p, err := load()
			if err != nil {
				return err
			}
			if err := p.Pushable(); err != nil {
				return err
			}
			if out == "-" {
				if _, err := cmd.OutOrStdout().Write(p.DeviceConfig); err != nil {
					return err
				}
			} else if err := os.WriteFile(out, p.DeviceConfig, 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "wrote %s: %d bytes, target %s, format %s, cookie %s\n", out, len(p.DeviceConfig), p.Target.Name, p.Format, cookieString(p.Cookie))
			return nil
		},
	}
	for _, c := range []*cobra.Command{info, pack} {
		c.Flags().StringVar(&target, "target", "bmv2", "target profile ("+strings.Join(pipeline.TargetNames(), ", ")+")")
		c.Flags().StringVar(&dir, "pipeline-dir", "", "a compiler's output for the target instead of the embedded build (docs/targets.md)")
		c.Flags().StringVar(&format, "format", "", "device config format (default: the target's first; tofino: bfrt or legacy)")
		_ = c.RegisterFlagCompletionFunc("target", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return pipeline.TargetNames(), cobra.ShellCompDirectiveNoFileComp
		})
		_ = c.RegisterFlagCompletionFunc("format", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			if t, err := pipeline.LookupTarget(target); err == nil {
				return t.Formats, cobra.ShellCompDirectiveNoFileComp
			}
			return nil, cobra.ShellCompDirectiveNoFileComp
		})
		_ = c.MarkFlagDirname("pipeline-dir")
		cmd.AddCommand(c)
	}
	addOutput(info, FormatTable, FormatJSON, FormatYAML)
	pack.Flags().StringVarP(&out, "output-file", "O", "", "file to write (- for standard output)")
	// -o/--out named the file before -o meant an output format everywhere.
	pack.Flags().StringVarP(&out, "out", "o", "", "file to write")
	_ = pack.Flags().MarkDeprecated("out", "use --output-file (-O)")
	return cmd
}

// formatFor is the resolver's format map for one target's --format.
func formatFor(target, format string) map[string]string {
	if format == "" {
		return nil
	}
	return map[string]string{target: format}
}

type profileSummary struct {
	Name        string        `json:"name"`
	Arch        string        `json:"arch"`
	Description string        `json:"description"`
	Compiler    string        `json:"compiler"`
	Formats     []string      `json:"formats"`
	Format      string        `json:"format,omitempty"`
	CPUPort     uint32        `json:"cpu_port"`
	Reconcile   bool          `json:"reconcile_and_commit"`
	Limits      limitsSummary `json:"limits"`
	Source      string        `json:"source"`
	NoConfig    string        `json:"no_device_config,omitempty"`
	ConfigBytes int           `json:"device_config_bytes,omitempty"`
	// Fit is the budget's use with every table at its declared size.
	Fit *pipeline.Fit `json:"full_size_fit,omitempty"`
}

// limitsSummary is pipeline.Limits in json and yaml.
type limitsSummary struct {
	RangeAsMask bool `json:"range_as_mask"`
	NoMulticast bool `json:"no_multicast"`
}

type fieldSummary struct {
	Name     string `json:"name"`
	ID       uint32 `json:"id"`
	Match    string `json:"match"`
	Bitwidth int32  `json:"bitwidth"`
}

type actionSummary struct {
	Name        string   `json:"name"`
	ID          uint32   `json:"id"`
	Params      []string `json:"params"`
	DefaultOnly bool     `json:"default_only,omitempty"`
}

type tableSummary struct {
	Name          string          `json:"name"`
	ID            uint32          `json:"id"`
	Size          int64           `json:"size"`
	Priority      bool            `json:"needs_priority"`
	DirectCounter bool            `json:"direct_counter"`
	Fields        []fieldSummary  `json:"match_fields"`
	Actions       []actionSummary `json:"actions"`
	Default       string          `json:"const_default_action,omitempty"`
}

type counterSummary struct {
	Name string `json:"name"`
	ID   uint32 `json:"id"`
	Unit string `json:"unit"`
	Size int64  `json:"size,omitempty"`
}

type pipelineSummaryJSON struct {
	Target   string              `json:"target"`
	Arch     string              `json:"arch"`
	Profile  profileSummary      `json:"profile"`
	Cookie   string              `json:"cookie"`
	Tables   []tableSummary      `json:"tables"`
	Counters []counterSummary    `json:"counters"`
	Packet   map[string][]string `json:"controller_packet_metadata"`
}

func pipelineSummary(p *pipeline.Pipeline) pipelineSummaryJSON {
	t := p.Target
	out := pipelineSummaryJSON{Target: t.Name, Arch: t.Arch, Cookie: cookieString(p.Cookie), Packet: map[string][]string{},
		Tables: []tableSummary{}, Counters: []counterSummary{},
		Profile: profileSummary{Name: t.Name, Arch: t.Arch, Description: t.Description, Compiler: t.Compiler, Formats: t.Formats,
			Format: p.Format, CPUPort: t.CPUPort, Reconcile: t.Reconcile,
			Limits: limitsSummary{RangeAsMask: t.Limits.RangeAsMask, NoMulticast: t.Limits.NoMulticast}, Source: p.Source, ConfigBytes: len(p.DeviceConfig)}}
	if p.NoConfig != nil {
		out.Profile.NoConfig = p.NoConfig.Error()
	}
	if b, ok := pipeline.Budgets[t.Budget]; ok {
		full := map[string]int{}
		for _, tb := range p.Info.Tables() {
			full[tb.Name] = int(tb.Size)
		}
		f := b.Fit(p.Info, full)
		out.Profile.Fit = &f
	}
	for _, t := range p.Info.Tables() {
		ts := tableSummary{Name: t.Name, ID: t.ID, Size: t.Size, Priority: t.NeedsPriority, DirectCounter: t.DirectCounterID != 0,
			Fields: []fieldSummary{}, Actions: []actionSummary{}}
		for _, f := range t.Fields {
			ts.Fields = append(ts.Fields, fieldSummary{Name: f.Name, ID: f.ID, Match: f.Kind.String(), Bitwidth: f.Bitwidth})
		}
		for _, r := range t.Actions {
			as := actionSummary{Name: r.Action.Name, ID: r.Action.ID, DefaultOnly: r.DefaultOnly, Params: []string{}}
			for _, prm := range r.Action.Params {
				as.Params = append(as.Params, fmt.Sprintf("%s:%d", prm.Name, prm.Bitwidth))
			}
			ts.Actions = append(ts.Actions, as)
		}
		if t.ConstDefault {
			if a, ok := p.Info.ActionByID(t.DefaultActionID); ok {
				ts.Default = a.Name
			}
		}
		out.Tables = append(out.Tables, ts)
	}
	for _, c := range p.Info.Counters() {
		out.Counters = append(out.Counters, counterSummary{Name: c.Name, ID: c.ID, Unit: c.Unit, Size: c.Size})
	}
	for _, c := range p.Info.DirectCounters() {
		out.Counters = append(out.Counters, counterSummary{Name: c.Name, ID: c.ID, Unit: c.Unit})
	}
	for _, name := range []string{"packet_in", "packet_out"} {
		if m, ok := p.Info.PacketMetadata(name); ok {
			for _, f := range m.Fields {
				out.Packet[name] = append(out.Packet[name], fmt.Sprintf("%s:%d", f.Name, f.Bitwidth))
			}
		}
	}
	return out
}

func printPipelineText(w io.Writer, p *pipeline.Pipeline) error {
	s := pipelineSummary(p)
	pr := s.Profile
	fmt.Fprintf(w, "pipeline: p4ctl isolation + ACL, target %s (arch %s), cookie %s\n", s.Target, s.Arch, s.Cookie)
	fmt.Fprintf(w, "target:   %s\n", pr.Description)
	fmt.Fprintf(w, "compiler: %s\n", pr.Compiler)
	fmt.Fprintf(w, "artifacts: %s\n", pr.Source)
	if pr.NoConfig != "" {
		fmt.Fprintf(w, "device config: none: %s\n", pr.NoConfig)
	} else {
		fmt.Fprintf(w, "device config: %s, %d bytes (formats: %s)\n", pr.Format, pr.ConfigBytes, strings.Join(pr.Formats, ", "))
	}
	fmt.Fprintf(w, "CPU port: %d; pipeline upgrade: %s\n", pr.CPUPort, map[bool]string{true: "RECONCILE_AND_COMMIT, else VERIFY_AND_COMMIT and a rewrite", false: "VERIFY_AND_COMMIT and a rewrite"}[pr.Reconcile])
	var lim []string
	if pr.Limits.RangeAsMask {
		lim = append(lim, "range entries as value/mask blocks")
	}
	if pr.Limits.NoMulticast {
		lim = append(lim, "no packet replication (no flood groups)")
	}
	if len(lim) > 0 {
		fmt.Fprintf(w, "limits:   %s\n", strings.Join(lim, "; "))
	}
	if f := pr.Fit; f != nil {
		fmt.Fprintf(w, "memory:   every table at its size takes %.0f of %d SRAM and %.0f of %d TCAM blocks of a %s pipe\n", f.SRAMBlocks, f.SRAMTotal, f.TCAMBlocks, f.TCAMTotal, f.Budget)
	}
	for _, t := range s.Tables {
		var attrs []string
		attrs = append(attrs, fmt.Sprintf("size %d", t.Size))
		if t.Priority {
			attrs = append(attrs, "priority")
		}
		if t.DirectCounter {
			attrs = append(attrs, "direct counter")
		}
		fmt.Fprintf(w, "\nTABLE %s (%s)\n", t.Name, strings.Join(attrs, ", "))
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, f := range t.Fields {
			fmt.Fprintf(tw, "  match\t%s\t%s\tbit<%d>\n", f.Name, f.Match, f.Bitwidth)
		}
		for _, a := range t.Actions {
			scope := ""
			if a.DefaultOnly {
				scope = "default only"
			}
			fmt.Fprintf(tw, "  action\t%s(%s)\t%s\t\n", a.Name, strings.Join(a.Params, ", "), scope)
		}
		if t.Default != "" {
			fmt.Fprintf(tw, "  default\t%s\tconst\t\n", t.Default)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(w)
	for _, c := range s.Counters {
		if c.Size > 0 {
			fmt.Fprintf(w, "COUNTER %s (%s, %d cells)\n", c.Name, c.Unit, c.Size)
		} else {
			fmt.Fprintf(w, "DIRECT COUNTER %s (%s)\n", c.Name, c.Unit)
		}
	}
	for _, name := range []string{"packet_in", "packet_out"} {
		fmt.Fprintf(w, "CONTROLLER HEADER %s: %s\n", name, strings.Join(s.Packet[name], ", "))
	}
	return nil
}
