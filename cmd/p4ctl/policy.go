package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"github.com/spf13/cobra"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// loadPolicy parses, validates and compiles the files; warnings go to
// stderr.
func loadPolicy(cmd *cobra.Command, files []string) (*policy.Compiler, error) {
	c, _, err := loadPolicyWarn(cmd, files)
	return c, err
}

// loadPolicyWarn is loadPolicy, also returning the warnings it printed.
func loadPolicyWarn(cmd *cobra.Command, files []string) (*policy.Compiler, []string, error) {
	if len(files) == 0 {
		return nil, nil, errors.New("no file given (-f FILE, or -f - for standard input)")
	}
	var objs []policy.Object
	var errs policy.Errors
	for _, f := range files {
		var r io.Reader
		if f == "-" {
			r = cmd.InOrStdin()
		} else {
			fh, err := os.Open(f)
			if err != nil {
				return nil, nil, err
			}
			defer fh.Close()
			r = fh
		}
		o, err := policy.Parse(f, r)
		var pe policy.Errors
		switch {
		case errors.As(err, &pe):
			errs = append(errs, pe...)
		case err != nil:
			return nil, nil, err
		case len(o) == 0:
			errs = append(errs, &policy.Error{Src: policy.Source{File: f}, Msg: "no documents"})
		}
		objs = append(objs, o...)
	}
	if len(errs) > 0 {
		return nil, nil, errs
	}
	m, warnings, err := policy.Build(objs)
	if err != nil {
		return nil, nil, err
	}
	for _, w := range warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	c, err := policy.Compile(pipeline.Embedded, m)
	return c, warnings, err
}

func newValidateCmd() *cobra.Command {
	var files []string
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate -f FILE",
		Short: "Check policy documents: syntax, references, uniqueness, and that they fit every device",
		Example: `  p4ctl validate -f examples/segmentation.yaml
  p4ctl validate --strict -f segments.yaml -f policies.yaml
  p4ctl export | p4ctl validate -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, warnings, err := loadPolicyWarn(cmd, files)
			if err != nil {
				return err
			}
			if strict && len(warnings) > 0 {
				return fmt.Errorf("%d warnings (--strict)", len(warnings))
			}
			m := c.Model()
			st := c.Stats()
			fmt.Fprintf(cmd.OutOrStdout(), "valid: %d devices, %d segments, %d ports, %d endpoints, %d policies; %d identities, %d entries\n",
				len(m.Devices), len(m.Segments), len(m.Ports), len(m.Endpoints), len(m.Policies), st.Identities, st.Entries)
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "file", "f", nil, "policy file (repeatable; - reads standard input)")
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too (a selector that matches nothing, a segment without ports): for CI")
	return cmd
}

type dryRunDevice struct {
	Tables  map[string]int `json:"tables"`
	Entries int            `json:"entries"`
	Groups  int            `json:"multicast_groups"`
	// Match is each table's match class (exact, lpm, ternary, range);
	// ExactEntries and TCAMEntries split Entries between exact/LPM tables
	// and ternary/range ones.
	Match        map[string]string `json:"match"`
	ExactEntries int               `json:"exact_entries"`
	TCAMEntries  int               `json:"tcam_entries"`
	// Fit is the device's entries against the --fit budget.
	Fit *pipeline.Fit `json:"fit,omitempty"`
}

type dryRun struct {
	Devices      map[string]dryRunDevice `json:"devices"`
	NaiveEntries int                     `json:"naive_entries"`
	Entries      int                     `json:"entries"`
	Identities   int                     `json:"identities"`
}

func newApplyCmd() *cobra.Command {
	var files []string
	var dry, summary, wait, strictApply, prune, yes bool
	var (
		fit     string
		api     apiClient
		timeout time.Duration
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE [-f FILE...] [--prune [--yes]] | apply -f FILE --dry-run",
		Short: "Apply policy documents to a running controller, or show offline what they compile to",
		Long: `apply sends the files to the controller at --server, which validates them,
checks that they fit every device, commits them through raft as one change
and programs the devices; one bad document applies nothing, and files that
equal what the model holds commit nothing. With --dry-run it works offline
instead: it compiles the documents and prints, per device and table, the
entries a device that starts empty gets (-o table, json or yaml).

--prune makes the files the whole model: the objects of the model they do
not name are deleted in the same change (export prints a model as files).
It first lists what would be deleted, and asks on a terminal; without a
terminal on standard input it refuses unless --yes is given. If the model
changes between that list and the commit, nothing is applied.

Before it commits, apply shows the observed flows (the flow log) whose
verdict the change would change, grouped by identity pair and port; when
it would deny flows the switches saw allowed, it asks on a terminal
(--yes skips the question); without a terminal it proceeds, having
printed the summary.

On a terminal apply then follows the devices until each is programmed with
the change, with a progress bar (--wait=false returns at commit); elsewhere
it returns at commit unless --wait is given. A device that has not caught up
within --timeout is named in the error.`,
		Example: `  p4ctl apply -f examples/segmentation.yaml
  p4ctl apply -f segments.yaml -f policies.yaml --strict
  p4ctl apply -f desired.yaml --prune --yes
  p4ctl apply -f examples/segmentation.yaml --dry-run --summary --fit tofino
  p4ctl export | p4ctl apply -f - --wait=false`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !dry {
				for flag, what := range map[string]string{"fit": "--fit", "summary": "--summary", "output": "-o"} {
					if cmd.Flags().Changed(flag) {
						return fmt.Errorf("%s needs --dry-run", what)
					}
				}
				if !cmd.Flags().Changed("wait") {
					wait = isTerminal(cmd.ErrOrStderr())
				}
				return applyRemote(cmd, &api, files, applyOptions{wait: wait, strict: strictApply, prune: prune, yes: yes, timeout: timeout})
			}
			if prune {
				return fmt.Errorf("--prune works on a running controller's model, and --dry-run compiles the files alone: see diff --prune")
			}
			budget, ok := pipeline.Budgets[fit]
			if fit != "" && !ok {
				return fmt.Errorf("--fit %q: no such budget (%s)", fit, strings.Join(slices.Sorted(maps.Keys(pipeline.Budgets)), ", "))
			}
			c, err := loadPolicy(cmd, files)
			if err != nil {
				return err
			}
			st := c.Stats()
			out := dryRun{Devices: map[string]dryRunDevice{}, NaiveEntries: st.NaiveEntries, Entries: st.Entries, Identities: st.Identities}
			w := cmd.OutOrStdout()
			f := output(cmd).Format()
			for _, dev := range slices.Sorted(maps.Keys(c.Model().Devices)) {
				entries, groups, err := c.DeviceEntries(dev)
				if err != nil {
					return err
				}
				d := dryRunDevice{Tables: st.Devices[dev], Entries: len(entries), Groups: len(groups), Match: map[string]string{}}
				in := c.DeviceInfo(dev)
				for _, t := range policy.TableNames() {
					if tb, ok := in.Table(t); ok {
						d.Match[t] = tb.MatchClass().String()
						if tb.TCAM() {
							d.TCAMEntries += d.Tables[t]
						} else {
							d.ExactEntries += d.Tables[t]
						}
					}
				}
				// A device of a hardware target is placed into its own
				// pipe; --fit places every device into the one named.
				b, place := budget, fit != ""
				if t, err := pipeline.LookupTarget(c.Model().Devices[dev].Target); err == nil && !place {
					b, place = pipeline.Budgets[t.Budget]
				}
				if place {
					f := b.Fit(in, d.Tables)
					d.Fit = &f
				}
				out.Devices[dev] = d
				if f == FormatTable {
					printDevicePlan(w, c, dev, d, entries, summary)
				}
			}
			if f != FormatTable {
				return printData(w, f, out)
			}
			ratio := 0.0
			if out.Entries > 0 {
				ratio = float64(out.NaiveEntries) / float64(out.Entries)
			}
			fmt.Fprintf(w, "\n%d entries on %d devices from %d identities; a per-endpoint-pair expansion would need %d (%.1fx)\n",
				out.Entries, len(out.Devices), out.Identities, out.NaiveEntries, ratio)
			return nil
		},
	}
	cmd.Flags().StringSliceVarP(&files, "file", "f", nil, "policy file (repeatable; - reads standard input)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "compile and print offline; write nothing")
	api.flags(cmd.Flags())
	cmd.Flags().BoolVar(&summary, "summary", false, "with --dry-run: counts only, without the entries")
	cmd.Flags().StringVar(&fit, "fit", "", "with --dry-run, place every device's entries into this hardware pipe's memory (tofino, tofino2; docs/targets.md); devices of a hardware target are placed into their own without it")
	_ = cmd.RegisterFlagCompletionFunc("fit", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return slices.Sorted(maps.Keys(pipeline.Budgets)), cobra.ShellCompDirectiveNoFileComp
	})
	cmd.Flags().BoolVar(&wait, "wait", false, "wait until every device the change writes to is programmed with it (default: on a terminal)")
	cmd.Flags().BoolVar(&strictApply, "strict", false, "refuse the change, committing nothing, when validation warns (a selector that matches nothing, a segment without ports)")
	cmd.Flags().BoolVar(&prune, "prune", false, "also delete, in the same change, every object of the model the files do not name")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "do not ask: --prune's deletions (needed when standard input is not a terminal), and a change that denies observed flows")
	cmd.Flags().DurationVar(&timeout, "timeout", 5*time.Minute, "how long to wait for the commit, and then for the devices")
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML)
	return cmd
}

func printDevicePlan(w io.Writer, c *policy.Compiler, dev string, d dryRunDevice, entries []*p4v1.TableEntry, summary bool) {
	in := c.DeviceInfo(dev)
	fmt.Fprintf(w, "device %s: %d entries to insert, %d multicast groups\n", dev, d.Entries, d.Groups)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  TABLE\tMATCH\tINSERT\tMODIFY\tDELETE\tFILL")
	for _, t := range policy.TableNames() {
		size := int64(0)
		if tb, ok := in.Table(t); ok {
			size = tb.Size
		}
		fmt.Fprintf(tw, "  %s\t%s\t%d\t0\t0\t%d/%d\n", t, d.Match[t], d.Tables[t], d.Tables[t], size)
	}
	tw.Flush()
	fmt.Fprintf(w, "  %d entries in exact/LPM tables, %d in ternary/range tables\n", d.ExactEntries, d.TCAMEntries)
	if f := d.Fit; f != nil {
		verdict := "fits"
		if err := f.Err(); err != nil {
			verdict = "does not fit: " + err.Error()
		}
		fmt.Fprintf(w, "  %s pipe: %.1f of %d SRAM blocks, %.1f of %d TCAM blocks: %s\n", f.Budget, f.SRAMBlocks, f.SRAMTotal, f.TCAMBlocks, f.TCAMTotal, verdict)
	}
	if summary {
		return
	}
	for _, e := range entries {
		fmt.Fprintf(w, "  + %s\n", in.FormatEntry(e))
	}
}

func newTraceCmd() *cobra.Command {
	var files []string
	var dev, src, dst, proto, flags, srcMAC, dstMAC string
	var api apiClient
	var inPort uint32
	var sport, dport uint16
	cmd := &cobra.Command{
		Use:   "trace [-f FILE] --device D --in-port N --src IP --dst IP",
		Short: "Follow one packet through a device's compiled entries and explain the verdict",
		Long: `trace follows one packet through the entries a device is programmed with:
those the controller at --server compiled, or with -f those the files
compile to offline. It prints the verdict and why, the ports copies leave
by, the policy that decided and every entry the packet hits.`,
		Example: `  p4ctl trace --device leaf1 --in-port 1 --src 10.0.0.1 --dst 10.0.0.3 --dport 8080
  p4ctl trace -f examples/segmentation.yaml --device leaf1 --in-port 1 --src 10.0.0.1 --dst 10.0.0.3 --proto udp --dport 53 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var p policy.Packet
			var err error
			p.InPort = inPort
			if p.Src, err = netip.ParseAddr(src); err != nil {
				return fmt.Errorf("--src: %w", err)
			}
			if p.Dst, err = netip.ParseAddr(dst); err != nil {
				return fmt.Errorf("--dst: %w", err)
			}
			p.Src, p.Dst = p.Src.Unmap(), p.Dst.Unmap()
			if p.Proto, err = apiserver.ParseProto(proto); err != nil {
				return fmt.Errorf("--proto: %w", err)
			}
			p.SPort, p.DPort = sport, dport
			if flags != "" {
				for _, f := range strings.Split(flags, ",") {
					bit, ok := tcpFlagBits[strings.ToLower(strings.TrimSpace(f))]
					if !ok {
						return fmt.Errorf("--tcp-flags: unknown flag %q (fin, syn, rst, psh, ack, urg, ece, cwr)", f)
					}
					p.TCPFlags |= bit
				}
			}
			for _, m := range []struct {
				flag, s string
				out     *net.HardwareAddr
			}{{"--src-mac", srcMAC, &p.SrcMAC}, {"--dst-mac", dstMAC, &p.DstMAC}} {
				if m.s == "" {
					continue
				}
				if *m.out, err = net.ParseMAC(m.s); err != nil || len(*m.out) != 6 {
					return fmt.Errorf("%s: want a 48-bit MAC, got %q", m.flag, m.s)
				}
			}
			var res *policy.TraceResult
			if len(files) == 0 {
				if res, err = traceRemote(cmd, &api, dev, p); err != nil {
					return err
				}
			} else {
				c, err := loadPolicy(cmd, files)
				if err != nil {
					return err
				}
				if res, err = c.Trace(dev, p); err != nil {
					return err
				}
			}
			w := cmd.OutOrStdout()
			if f := output(cmd).Format(); f != FormatTable {
				return printData(w, f, traceViewOf(res))
			}
			fmt.Fprintf(w, "verdict: %s (%s)\n", res.Verdict, res.Reason)
			if res.Policy != "" {
				fmt.Fprintf(w, "policy:  %s\n", res.Policy)
			}
			if len(res.Ports) > 0 {
				fmt.Fprintf(w, "ports:   %v\n", res.Ports)
			}
			for _, h := range res.Entries {
				from := ""
				if len(h.From) > 0 {
					from = "   [" + strings.Join(h.From, ", ") + "]"
				}
				fmt.Fprintf(w, "  hit %s%s\n", h.Entry, from)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringSliceVarP(&files, "file", "f", nil, "policy file to trace offline (repeatable; - reads standard input); without it, ask --server")
	api.flags(f)
	f.StringVar(&dev, "device", "", "device name")
	f.Uint32Var(&inPort, "in-port", 0, "ingress port")
	f.StringVar(&src, "src", "", "source IP")
	f.StringVar(&dst, "dst", "", "destination IP")
	f.StringVar(&proto, "proto", "tcp", "tcp, udp, icmp, icmpv6 or a protocol number")
	f.Uint16Var(&sport, "sport", 40000, "L4 source port")
	f.Uint16Var(&dport, "dport", 0, "L4 destination port")
	f.StringVar(&flags, "tcp-flags", "syn", "TCP flags, comma separated")
	f.StringVar(&srcMAC, "src-mac", "", "source MAC (default: the endpoint owning --src)")
	f.StringVar(&dstMAC, "dst-mac", "", "destination MAC (default: the endpoint owning --dst)")
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML)
	_ = cmd.RegisterFlagCompletionFunc("device", func(cmd *cobra.Command, args []string, s string) ([]string, cobra.ShellCompDirective) {
		if len(files) > 0 {
			// Offline: the devices of the files.
			objs, err := readObjects(cmd, files)
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []string
			for _, o := range objs {
				if d, ok := o.(*policy.Device); ok {
					out = append(out, d.Name)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return completeDevices(&api)(cmd, args, s)
	})
	for _, req := range []string{"device", "in-port", "src", "dst"} {
		_ = cmd.MarkFlagRequired(req)
	}
	return cmd
}

// traceView is trace in json and yaml.
type traceView struct {
	Verdict  string         `json:"verdict"`
	Reason   string         `json:"reason"`
	Decision string         `json:"decision"` // before forwarding and egress; "" when the packet did not get that far
	Policy   string         `json:"policy"`   // the deciding policy, if one did
	Ports    []uint32       `json:"ports"`
	Entries  []traceHitView `json:"entries"`
}

type traceHitView struct {
	Table string   `json:"table"`
	Entry string   `json:"entry"`
	From  []string `json:"from"`
}

func traceViewOf(r *policy.TraceResult) traceView {
	v := traceView{Verdict: r.Verdict, Reason: r.Reason, Decision: r.Decision, Policy: r.Policy, Ports: nonNil(r.Ports), Entries: []traceHitView{}}
	for _, h := range r.Entries {
		v.Entries = append(v.Entries, traceHitView{Table: h.Table, Entry: h.Entry, From: nonNil(h.From)})
	}
	return v
}

var tcpFlagBits = map[string]uint8{"fin": 0x01, "syn": 0x02, "rst": 0x04, "psh": 0x08, "ack": 0x10, "urg": 0x20, "ece": 0x40, "cwr": 0x80}

// applyOptions are apply's settings against a running controller.
type applyOptions struct {
	wait, strict, prune, yes bool
	timeout                  time.Duration
}

func applyRemote(cmd *cobra.Command, api *apiClient, files []string, o applyOptions) error {
	if len(files) == 0 {
		return errors.New("no file given (-f FILE, or -f - for standard input)")
	}
	// Every file goes in one request: one change, all or nothing.
	req := p4ctlv1.ApplyRequest{Strict: o.strict, Prune: o.prune}
	size := 0
	for _, f := range files {
		b, err := readSource(cmd, f)
		if err != nil {
			return err
		}
		size += len(b)
		req.Files = append(req.Files, &p4ctlv1.SourceFile{Name: f, Docs: b})
	}
	name := strings.Join(files, ", ")
	c, done, err := api.dial()
	if err != nil {
		return err
	}
	defer done()
	if o.prune {
		rev, err := confirmPrune(cmd, api, c, &req, files, o.yes)
		if err != nil {
			return err
		}
		req.PruneRevision = rev
	}
	if err := confirmImpact(cmd, c, &req, files, o.yes); err != nil {
		return err
	}
	ctx, cancel := withTimeout(cmd, o.timeout)
	start := time.Now()
	stop := spinner(cmd.ErrOrStderr(), fmt.Sprintf("%s: validating and committing %s", name, sizeOf(size)))
	resp, err := c.Apply(ctx, &req)
	stop()
	cancel()
	if err != nil {
		return api.rpcErr(err)
	}
	for _, w := range resp.GetWarnings() {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", w)
	}
	if resp.GetUnchanged() {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s unchanged: the model already holds them (revision %d; nothing committed)\n", name, plural(int(resp.GetObjects()), "object"), resp.GetIndex())
		return nil
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s applied (log index %d, %s)\n", name, plural(int(resp.GetObjects()), "object"), resp.GetIndex(), time.Since(start).Round(time.Millisecond))
	if !o.wait {
		return nil
	}
	if !resp.GetAllDevices() && len(resp.GetDevices()) == 0 {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: no device's entries change\n", name)
		return nil
	}
	ctx, cancel = withTimeout(cmd, o.timeout)
	defer cancel()
	var only []string
	if !resp.GetAllDevices() {
		only = resp.GetDevices()
	}
	if err := waitForDevices(ctx, c, resp.GetIndex(), only, cmd.ErrOrStderr()); err != nil {
		return err
	}
	what := "every device"
	if only != nil {
		what = strings.Join(only, ", ")
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s programmed (%s)\n", name, what, time.Since(start).Round(time.Millisecond))
	return nil
}

// confirmPrune lists what apply --prune would delete and has it
// confirmed: by --yes, or by the user on a terminal. It returns the
// revision the list was made on, which the apply then insists on.
func confirmPrune(cmd *cobra.Command, api *apiClient, c p4ctlv1.ControllerClient, req *p4ctlv1.ApplyRequest, files []string, yes bool) (uint64, error) {
	ctx, cancel := withTimeout(cmd, time.Minute)
	defer cancel()
	d, err := c.Diff(ctx, &p4ctlv1.DiffRequest{Files: req.GetFiles(), Prune: true})
	if err != nil {
		return 0, api.rpcErr(err)
	}
	var gone []string
	for _, o := range d.GetObjects() {
		if o.GetChange() == "removed" {
			gone = append(gone, o.GetRef())
		}
	}
	if len(gone) == 0 {
		return d.GetRevision(), nil
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "--prune deletes %s the files do not name (model revision %d):\n", plural(len(gone), "object"), d.GetRevision())
	for _, ref := range gone {
		fmt.Fprintf(w, "  - %s\n", ref)
	}
	if yes {
		return d.GetRevision(), nil
	}
	in := cmd.InOrStdin()
	if slices.Contains(files, "-") || !isTerminal(in) {
		return 0, fmt.Errorf("--prune would delete %s and standard input is not a terminal to ask: give --yes to delete them", plural(len(gone), "object"))
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "delete them? [y/N] ")
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return d.GetRevision(), nil
	}
	return 0, errors.New("nothing applied: the deletions were not confirmed")
}

// plural is n and the noun, in the plural unless n is 1.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// sizeOf renders n bytes for people.
func sizeOf(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func traceRemote(cmd *cobra.Command, api *apiClient, dev string, p policy.Packet) (*policy.TraceResult, error) {
	c, ctx, done, err := api.session(cmd, 30*time.Second)
	if err != nil {
		return nil, err
	}
	defer done()
	req := &p4ctlv1.TraceRequest{Device: dev, InPort: p.InPort, Src: p.Src.String(), Dst: p.Dst.String(), Proto: strconv.Itoa(p.Proto),
		Sport: uint32(p.SPort), Dport: uint32(p.DPort), TcpFlags: uint32(p.TCPFlags)}
	if p.SrcMAC != nil {
		req.SrcMac = p.SrcMAC.String()
	}
	if p.DstMAC != nil {
		req.DstMac = p.DstMAC.String()
	}
	resp, err := c.Trace(ctx, req)
	if err != nil {
		return nil, api.rpcErr(err)
	}
	res := &policy.TraceResult{Verdict: resp.GetVerdict(), Reason: resp.GetReason(), Policy: resp.GetPolicy(), Ports: resp.GetPorts()}
	for _, h := range resp.GetEntries() {
		res.Entries = append(res.Entries, policy.TraceHit{Table: h.GetTable(), Entry: h.GetEntry(), From: h.GetFrom()})
	}
	if res.Ports == nil {
		res.Ports = []uint32{}
	}
	return res, nil
}
