package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// newSuggestCmd: p4ctl suggest writes label policies that allow exactly
// the observed flows a segment's default allows now.
func newSuggestCmd() *cobra.Command {
	var (
		api      apiClient
		segment  string
		since    time.Duration
		mode     string
		priority int
	)
	cmd := &cobra.Command{
		Use:   "suggest [--segment S] [--since D] [--mode staged|enforce] [-o yaml|json|name]",
		Short: "Write policies, by labels, that allow exactly the observed flows a segment's default allows",
		Long: `suggest reads the flow log and the model and writes Policy documents that
allow exactly the observed flows the segment default allows now (flows an
enforced policy decides are left alone): one policy per source and
destination identity with a rule per protocol, ports as lists with runs of
consecutive ports as ranges, identity pairs with the same rules merged
into one selector where a selector can name exactly them (labels, never
addresses: a flow with a side that is no endpoint is left out and
counted). The documents validate against the model; by default they are
staged (--mode staged), so that applying them enforces nothing until
promote. Together with the segment's default set to deny, they keep every
observed flow allowed and deny the rest.

The observe, stage, enforce workflow (docs/policy.md):
  p4ctl get flows --segment shop --verdict allow        # observe
  p4ctl suggest --segment shop > shop-policy.yaml       # suggest
  p4ctl apply -f shop-policy.yaml                       # stage
  p4ctl get flows --segment shop --staged               # judge
  p4ctl promote shop-web-to-app ...                     # enforce
  p4ctl diff -f shop-deny.yaml --flows                  # then flip the default`,
		Example: `  p4ctl suggest --segment shop --since 24h > shop-policy.yaml
  p4ctl suggest --mode enforce -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := output(cmd).Format()
			if mode != policy.ModeStaged && mode != policy.ModeEnforce {
				return fmt.Errorf("--mode %q: want staged or enforce", mode)
			}
			if since < 0 {
				return fmt.Errorf("--since %s is in the future: give how far back to look (10m, 1h)", since)
			}
			c, ctx, done, err := api.session(cmd, time.Minute)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.Get(ctx, &p4ctlv1.GetRequest{})
			if err != nil {
				return api.rpcErr(err)
			}
			objs, err := policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
			if err != nil {
				return err
			}
			m, _, err := policy.Build(objs)
			if err != nil {
				return err
			}
			segs := []string{segment}
			if segment == "" {
				segs = slices.Sorted(maps.Keys(m.Segments))
			} else if m.Segments[segment] == nil {
				return fmt.Errorf("--segment %s: no such segment", segment)
			}
			req := &p4ctlv1.FlowsRequest{Segment: segment, Replies: true}
			if since > 0 {
				req.SinceUnixMs = time.Now().Add(-since).UnixMilli()
			}
			var recs []*p4ctlv1.FlowRecord
			st, err := c.Flows(ctx, req)
			if err != nil {
				return api.rpcErr(err)
			}
			for {
				r, err := st.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					return api.rpcErr(err)
				}
				recs = append(recs, r)
			}
			flows := apiserver.ObservedFlows(recs)
			var out []policy.Object
			covered := 0
			skipped := map[string]int{}
			for _, s := range segs {
				res, err := policy.Suggest(m, s, flows, mode == policy.ModeStaged, priority)
				if err != nil {
					return fmt.Errorf("segment %s: %w", s, err)
				}
				for _, p := range res.Policies {
					out = append(out, p)
				}
				covered += res.Flows
				for k, n := range res.Skipped {
					skipped[k] += n
				}
			}
			pols := fmt.Sprintf("%d policies", len(out))
			if len(out) == 1 {
				pols = "1 policy"
			}
			summary := fmt.Sprintf("%s covering %s observed in %s", pols, plural(covered, "flow"), strings.Join(segs, ", "))
			for _, k := range slices.Sorted(maps.Keys(skipped)) {
				summary += fmt.Sprintf("; %d left out (%s)", skipped[k], k)
			}
			fmt.Fprintln(cmd.ErrOrStderr(), "suggest:", summary)
			if f == FormatYAML || f == FormatTable {
				fmt.Fprintf(cmd.OutOrStdout(), "# p4ctl suggest: %s\n", summary)
				f = FormatYAML
			}
			return printObjects(cmd.OutOrStdout(), f, out)
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringVar(&segment, "segment", "", "the segment to suggest for (default: every segment)")
	cmd.Flags().DurationVar(&since, "since", 0, "only flows seen in this last while (0: all held)")
	cmd.Flags().StringVar(&mode, "mode", policy.ModeStaged, "the policies' mode: staged (evaluated, not enforced, until promote) or enforce")
	cmd.Flags().IntVar(&priority, "priority", policy.DefaultPriority, "the policies' priority")
	addOutput(cmd, FormatYAML, FormatJSON, FormatName)
	return cmd
}
