package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// revisionView is a revision in json and yaml.
type revisionView struct {
	Index        uint64   `json:"index"`
	Time         string   `json:"time"` // RFC 3339, UTC; "" when not known
	TimeUnixNano int64    `json:"time_unix_nano"`
	Client       string   `json:"client"`
	Summary      string   `json:"summary"`
	Added        []string `json:"added"`
	Changed      []string `json:"changed"`
	Removed      []string `json:"removed"`
}

func revisionsOf(rs []*p4ctlv1.Revision) []revisionView {
	out := []revisionView{}
	for _, r := range rs {
		v := revisionView{Index: r.GetIndex(), TimeUnixNano: r.GetTimeUnixNano(), Client: r.GetClient(), Summary: r.GetSummary(),
			Added: nonNil(r.GetAdded()), Changed: nonNil(r.GetChanged()), Removed: nonNil(r.GetRemoved())}
		if v.TimeUnixNano != 0 {
			v.Time = time.Unix(0, v.TimeUnixNano).UTC().Format(time.RFC3339)
		}
		out = append(out, v)
	}
	return out
}

func newHistoryCmd() *cobra.Command {
	var api apiClient
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the committed changes of the model: revision (raft index), time, client, what changed",
		Long: `history lists the revisions of the model the cluster keeps, oldest first:
each committed change with its raft index (what rollback takes), when and
for whom it was made, and the objects it added, changed and removed
(-o wide lists them all).`,
		Example: `  p4ctl history
  p4ctl history -o wide
  p4ctl history -o json | jq '.[-1].index'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := callAPI(cmd, &api, 30*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.HistoryResponse, error) {
				return c.History(ctx, &p4ctlv1.HistoryRequest{})
			})
			if err != nil {
				return err
			}
			revs := revisionsOf(resp.GetRevisions())
			w := cmd.OutOrStdout()
			f := output(cmd).Format()
			switch f {
			case FormatJSON, FormatYAML:
				return printData(w, f, revs)
			}
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			if f == FormatWide {
				fmt.Fprintln(tw, "REVISION\tTIME\tCLIENT\tADDED\tCHANGED\tREMOVED")
			} else {
				fmt.Fprintln(tw, "REVISION\tTIME\tCLIENT\tCHANGE")
			}
			for _, r := range revs {
				if f == FormatWide {
					fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", r.Index, orDash(r.Time), orDash(r.Client),
						orDash(strings.Join(r.Added, ", ")), orDash(strings.Join(r.Changed, ", ")), orDash(strings.Join(r.Removed, ", ")))
					continue
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Index, orDash(r.Time), orDash(r.Client), r.Summary)
			}
			return tw.Flush()
		},
	}
	api.flags(cmd.Flags())
	addOutput(cmd, FormatTable, FormatWide, FormatJSON, FormatYAML)
	return cmd
}

func newDiffCmd() *cobra.Command {
	var (
		api   apiClient
		files []string
		prune bool
		flows bool
		since time.Duration
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE [-f FILE...] [--prune] [--flows [--since D]]",
		Short: "Show what applying files would change: objects field by field, and entries per device (commits nothing)",
		Long: `diff shows what applying the files would change, checked as apply checks
it, and commits nothing: each object added (+), removed (-) or changed (~,
one line per field that changes, as PATH: BEFORE -> AFTER), and the
entries and multicast groups each device would get written. With --prune
the objects the files do not name are listed as removed, as apply --prune
would remove them (entries per device are then not worked out). With
--flows it also lists the observed flows (the flow log, last seen within
--since) whose verdict the change would change, grouped by identity pair
and port, with counts and last seen.

Like diff(1) and kubectl diff, it exits 0 when nothing would change, 1 when
something would, and 2 on an error.`,
		Example: `  p4ctl diff -f examples/segmentation.yaml
  p4ctl diff -f desired.yaml --prune
  p4ctl diff -f lockdown.yaml --flows --since 24h
  p4ctl diff -f policy.yaml -o json | jq '.objects[].fields'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if since != 0 && !flows {
				return fmt.Errorf("--since needs --flows")
			}
			if len(files) == 0 {
				return &exitError{code: 2, err: fmt.Errorf("no file given (-f FILE, or -f - for standard input)")}
			}
			srcs, err := readSources(cmd, files)
			if err == nil {
				var changed bool
				changed, err = runDiff(cmd, &api, srcs, prune, output(cmd).Format())
				if err == nil && flows {
					var moved bool
					moved, err = runDiffFlows(cmd, &api, srcs, prune, since, output(cmd).Format())
					changed = changed || moved
				}
				if err == nil && changed {
					return &exitError{code: 1}
				}
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return nil
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringSliceVarP(&files, "file", "f", nil, "policy file (repeatable; - reads standard input)")
	cmd.Flags().BoolVar(&prune, "prune", false, "also list as removed the objects of the model the files do not name")
	cmd.Flags().BoolVar(&flows, "flows", false, "also list the observed flows whose verdict the change would change")
	cmd.Flags().DurationVar(&since, "since", 0, "with --flows: only flows seen in this last while (0: all held)")
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML, FormatName)
	return cmd
}

// diffView is diff in json and yaml.
type diffView struct {
	Revision uint64             `json:"revision"` // the model revision diffed against
	Changed  bool               `json:"changed"`
	Objects  []objectChangeView `json:"objects"`
	Devices  []deviceChangeView `json:"devices"`
	// DevicesUnknown: with --prune the entries per device are not worked
	// out, and Devices is empty.
	DevicesUnknown bool     `json:"devices_unknown"`
	Warnings       []string `json:"warnings"`
}

// objectChangeView is one object a change adds, changes or removes: its
// documents before and after, and for a change the fields that differ.
type objectChangeView struct {
	Ref    string        `json:"ref"`
	Kind   string        `json:"kind"`
	Name   string        `json:"name"`
	Change string        `json:"change"` // added, changed or removed
	Fields []fieldChange `json:"fields"`
	Before any           `json:"before"`
	After  any           `json:"after"`
}

type deviceChangeView struct {
	Device string `json:"device"`
	Insert int32  `json:"insert"`
	Modify int32  `json:"modify"`
	Delete int32  `json:"delete"`
	Groups int32  `json:"groups"`
}

// objectChangesOf are the API's object changes with their fields.
func objectChangesOf(cs []*p4ctlv1.ObjectChange) ([]objectChangeView, error) {
	out := []objectChangeView{}
	for _, c := range cs {
		kind, name, _ := strings.Cut(c.GetRef(), " ")
		v := objectChangeView{Ref: c.GetRef(), Kind: kind, Name: name, Change: c.GetChange(), Fields: []fieldChange{}}
		for _, d := range []struct {
			doc string
			out *any
		}{{c.GetBefore(), &v.Before}, {c.GetAfter(), &v.After}} {
			n, err := parseDocument(d.doc)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.GetRef(), err)
			}
			if n != nil {
				*d.out = docJSON{n}
			}
		}
		if c.GetChange() == "changed" {
			fs, err := fieldChanges(c.GetBefore(), c.GetAfter())
			if err != nil {
				return nil, fmt.Errorf("%s: %w", c.GetRef(), err)
			}
			v.Fields = fs
		}
		out = append(out, v)
	}
	return out, nil
}

// printObjectChanges prints each change: + and - with the object, ~ with
// a line per field.
func printObjectChanges(w io.Writer, cs []objectChangeView) {
	for _, o := range cs {
		sign := map[string]string{"added": "+", "changed": "~", "removed": "-"}[o.Change]
		if o.Change != "changed" || len(o.Fields) == 0 {
			fmt.Fprintf(w, "%s %s\n", sign, o.Ref)
			continue
		}
		for _, fc := range o.Fields {
			fmt.Fprintf(w, "%s %s: %s: %s -> %s\n", sign, o.Ref, fc.Path, flowString(fc.Before), flowString(fc.After))
		}
	}
}

// runDiff prints what applying files would change and reports whether
// anything would.
func runDiff(cmd *cobra.Command, api *apiClient, srcs []*p4ctlv1.SourceFile, prune bool, f Format) (bool, error) {
	req := &p4ctlv1.DiffRequest{Prune: prune, Files: srcs}
	resp, err := callAPI(cmd, api, 60*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.DiffResponse, error) {
		return c.Diff(ctx, req)
	})
	if err != nil {
		return false, err
	}
	objs, err := objectChangesOf(resp.GetObjects())
	if err != nil {
		return false, err
	}
	v := diffView{Revision: resp.GetRevision(), Objects: objs, Devices: []deviceChangeView{}, DevicesUnknown: resp.GetDevicesUnknown(),
		Warnings: nonNil(resp.GetWarnings()), Changed: len(objs) > 0}
	for _, d := range resp.GetDevices() {
		v.Devices = append(v.Devices, deviceChangeView{Device: d.GetDevice(), Insert: d.GetInsert(), Modify: d.GetModify(), Delete: d.GetDelete(), Groups: d.GetGroups()})
		v.Changed = v.Changed || d.GetInsert()+d.GetModify()+d.GetDelete()+d.GetGroups() > 0
	}
	w := cmd.OutOrStdout()
	switch f {
	case FormatJSON, FormatYAML:
		return v.Changed, printData(w, f, v)
	case FormatName:
		names := make([]string, len(objs))
		for i, o := range objs {
			names[i] = refName(o.Ref)
		}
		return v.Changed, printNames(w, names)
	}
	for _, wn := range v.Warnings {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", wn)
	}
	if len(objs) == 0 {
		fmt.Fprintln(w, "no object changes")
	}
	printObjectChanges(w, objs)
	if v.DevicesUnknown {
		fmt.Fprintln(w, "entries per device: not worked out with --prune (apply checks every device before it commits)")
		return v.Changed, nil
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tINSERT\tMODIFY\tDELETE\tGROUPS")
	for _, d := range v.Devices {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", d.Device, d.Insert, d.Modify, d.Delete, d.Groups)
	}
	return v.Changed, tw.Flush()
}

// rollbackView is rollback --dry-run in json and yaml.
type rollbackView struct {
	To       uint64             `json:"to"`       // the revision rolled back to
	Revision uint64             `json:"revision"` // the model revision the preview was made on
	Objects  []objectChangeView `json:"objects"`
	Warnings []string           `json:"warnings"`
}

func newRollbackCmd() *cobra.Command {
	var (
		api     apiClient
		timeout time.Duration
		dry     bool
	)
	cmd := &cobra.Command{
		Use:   "rollback REVISION",
		Short: "Bring the model back to what it was right after a revision (see history), as one checked change",
		Long: `rollback brings the model back to what it was right after REVISION (a raft
index from history): every object a later revision added is removed, and
every one it changed or removed is put back, as one change checked like any
apply. --dry-run shows that change, field by field as diff does, and
commits nothing (the devices' capacity is checked on the real run only).`,
		Example: `  p4ctl history
  p4ctl rollback --dry-run 12
  p4ctl rollback 12`,
		Args: cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return api.completeRevisions(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("revision %q: want a raft index from p4ctl history", args[0])
			}
			if !dry && cmd.Flags().Changed("output") {
				return fmt.Errorf("-o needs --dry-run")
			}
			resp, err := callAPI(cmd, &api, timeout, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.ApplyResponse, error) {
				return c.Rollback(ctx, &p4ctlv1.RollbackRequest{Revision: rev, DryRun: dry})
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if dry {
				objs, err := objectChangesOf(resp.GetChanges())
				if err != nil {
					return err
				}
				v := rollbackView{To: rev, Revision: resp.GetIndex(), Objects: objs, Warnings: nonNil(resp.GetWarnings())}
				if f := output(cmd).Format(); f != FormatTable {
					return printData(w, f, v)
				}
				for _, wn := range v.Warnings {
					fmt.Fprintln(cmd.ErrOrStderr(), "warning:", wn)
				}
				fmt.Fprintf(w, "rollback to revision %d would change %s (the model is at revision %d; nothing committed):\n", rev, plural(len(objs), "object"), v.Revision)
				printObjectChanges(w, objs)
				return nil
			}
			for _, wn := range resp.GetWarnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", wn)
			}
			fmt.Fprintf(w, "rolled back to revision %d: %s restored or removed (revision %d)\n", rev, plural(int(resp.GetObjects()), "object"), resp.GetIndex())
			return nil
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the commit")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "show what the rollback would change; commit nothing")
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML)
	return cmd
}

// completeRevisions are the revisions the cluster keeps, newest first,
// asked within a second.
func (a *apiClient) completeRevisions() []string {
	c, done, err := a.dial()
	if err != nil {
		return nil
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := c.History(ctx, &p4ctlv1.HistoryRequest{})
	if err != nil {
		return nil
	}
	var out []string
	rs := resp.GetRevisions()
	for i := len(rs) - 1; i >= 0; i-- {
		out = append(out, fmt.Sprintf("%d\t%s", rs[i].GetIndex(), rs[i].GetSummary()))
	}
	return out
}
