package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

func newHistoryCmd() *cobra.Command {
	var (
		api    apiClient
		output string
	)
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List the committed changes of the model: revision (raft index), time, client, what changed",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := callAPI(cmd, &api, 30*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.HistoryResponse, error) {
				return c.History(ctx, &p4ctlv1.HistoryRequest{})
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, resp.GetRevisions())
			}
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "REVISION\tTIME\tCLIENT\tCHANGE")
			for _, r := range resp.GetRevisions() {
				when := "-"
				if r.GetTimeUnixNano() != 0 {
					when = time.Unix(0, r.GetTimeUnixNano()).UTC().Format(time.RFC3339)
				}
				client := r.GetClient()
				if client == "" {
					client = "-"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.GetIndex(), when, client, r.GetSummary())
			}
			return tw.Flush()
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

func newDiffCmd() *cobra.Command {
	var (
		api    apiClient
		file   string
		output string
	)
	cmd := &cobra.Command{
		Use:   "diff -f FILE",
		Short: "Show what applying FILE would change: objects, and entries per device (commits nothing)",
		Long: `diff shows what applying FILE would change, checked as apply checks it,
and commits nothing. Like diff(1) and kubectl diff, it exits 0 when nothing
would change, 1 when something would, and 2 on an error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			changed, err := runDiff(cmd, &api, file, output)
			switch {
			case err != nil:
				return &exitError{code: 2, err: err}
			case changed:
				return &exitError{code: 1}
			}
			return nil
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringVarP(&file, "file", "f", "", "policy file (- reads standard input)")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

// runDiff prints what applying file would change and reports whether
// anything would.
func runDiff(cmd *cobra.Command, api *apiClient, file, output string) (bool, error) {
	if file == "" {
		return false, fmt.Errorf("no file given (-f FILE, or -f - for standard input)")
	}
	var b []byte
	var err error
	if file == "-" {
		b, err = io.ReadAll(cmd.InOrStdin())
	} else {
		b, err = os.ReadFile(file)
	}
	if err != nil {
		return false, err
	}
	resp, err := callAPI(cmd, api, 60*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.DiffResponse, error) {
		return c.Diff(ctx, &p4ctlv1.DiffRequest{File: file, Docs: b})
	})
	if err != nil {
		return false, err
	}
	changed := len(resp.GetObjects()) > 0
	for _, d := range resp.GetDevices() {
		changed = changed || d.GetInsert()+d.GetModify()+d.GetDelete()+d.GetGroups() > 0
	}
	w := cmd.OutOrStdout()
	if output == "json" {
		return changed, printJSON(w, resp)
	}
	for _, wn := range resp.GetWarnings() {
		fmt.Fprintln(cmd.ErrOrStderr(), "warning:", wn)
	}
	if len(resp.GetObjects()) == 0 {
		fmt.Fprintln(w, "no object changes")
	}
	for _, o := range resp.GetObjects() {
		sign := map[string]string{"added": "+", "changed": "~", "removed": "-"}[o.GetChange()]
		fmt.Fprintf(w, "%s %s\n", sign, o.GetRef())
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "DEVICE\tINSERT\tMODIFY\tDELETE\tGROUPS")
	for _, d := range resp.GetDevices() {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", d.GetDevice(), d.GetInsert(), d.GetModify(), d.GetDelete(), d.GetGroups())
	}
	return changed, tw.Flush()
}

func newRollbackCmd() *cobra.Command {
	var api apiClient
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "rollback REVISION",
		Short: "Bring the model back to what it was right after a revision (see history), as one checked change",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			rev, err := strconv.ParseUint(args[0], 10, 64)
			if err != nil {
				return fmt.Errorf("revision %q: want a raft index from p4ctl history", args[0])
			}
			resp, err := callAPI(cmd, &api, timeout, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.ApplyResponse, error) {
				return c.Rollback(ctx, &p4ctlv1.RollbackRequest{Revision: rev})
			})
			if err != nil {
				return err
			}
			for _, wn := range resp.GetWarnings() {
				fmt.Fprintln(cmd.ErrOrStderr(), "warning:", wn)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rolled back to revision %d: %s restored or removed (revision %d)\n", rev, plural(int(resp.GetObjects()), "object"), resp.GetIndex())
			return nil
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().DurationVar(&timeout, "timeout", time.Minute, "how long to wait for the commit")
	return cmd
}
