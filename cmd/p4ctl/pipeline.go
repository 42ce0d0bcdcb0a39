package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func newPipelineCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pipeline",
		Short: "Inspect the embedded P4 pipeline",
	}
	var target, output string
	info := &cobra.Command{
		Use:   "info",
		Short: "Print the embedded pipeline's tables, match fields, actions and sizes",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := pipeline.Embedded(target)
			if err != nil {
				return err
			}
			switch output {
			case "text":
				return printPipelineText(cmd.OutOrStdout(), p)
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(pipelineSummary(p))
			}
			return fmt.Errorf("unknown output format %q (text or json)", output)
		},
	}
	info.Flags().StringVar(&target, "target", "bmv2", "target profile ("+strings.Join(pipeline.TargetNames(), ", ")+")")
	info.Flags().StringVarP(&output, "output", "o", "text", "output format: text or json")
	cmd.AddCommand(info)
	return cmd
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
	Cookie   string              `json:"cookie"`
	Tables   []tableSummary      `json:"tables"`
	Counters []counterSummary    `json:"counters"`
	Packet   map[string][]string `json:"controller_packet_metadata"`
}

func pipelineSummary(p *pipeline.Pipeline) pipelineSummaryJSON {
	out := pipelineSummaryJSON{Target: p.Target.Name, Arch: p.Target.Arch, Cookie: fmt.Sprintf("%#016x", p.Cookie), Packet: map[string][]string{}}
	for _, t := range p.Info.Tables() {
		ts := tableSummary{Name: t.Name, ID: t.ID, Size: t.Size, Priority: t.NeedsPriority, DirectCounter: t.DirectCounterID != 0}
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
	fmt.Fprintf(w, "pipeline: p4ctl isolation + ACL, target %s (arch %s), cookie %s\n", s.Target, s.Arch, s.Cookie)
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
