package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// flowFlags are get flows' filters (get's --since and --follow apply too).
type flowFlags struct {
	from, to, verdict, policy, segment string
	replies, staged                    bool
}

func addFlowFlags(fs *pflag.FlagSet, f *flowFlags) {
	fs.StringVar(&f.from, "from", "", "with flows: only flows whose source endpoint matches this label selector (\"tier: web\")")
	fs.StringVar(&f.to, "to", "", "with flows: only flows whose destination endpoint matches this label selector")
	fs.StringVar(&f.verdict, "verdict", "", "with flows: allow or deny (the switch's verdict)")
	fs.StringVar(&f.policy, "policy", "", "with flows: only flows this policy decides (enforced, or staged)")
	fs.StringVar(&f.segment, "segment", "", "with flows: only this segment's flows")
	fs.BoolVar(&f.replies, "replies", false, "with flows: include the replies of allowed flows")
	fs.BoolVar(&f.staged, "staged", false, "with flows: only flows the staged policies would decide otherwise")
}

// flowsRequest checks the filters before anything is dialled: selectors
// that parse, a verdict of allow or deny, a --since not in the future.
func flowsRequest(cmd *cobra.Command, ff flowFlags, device string, since time.Duration, follow bool) (*p4ctlv1.FlowsRequest, error) {
	req := &p4ctlv1.FlowsRequest{Device: device, Follow: follow, Verdict: ff.verdict, Policy: ff.policy, Segment: ff.segment,
		Replies: ff.replies, StagedOnly: ff.staged, From: ff.from, To: ff.to,
		FromSet: cmd.Flags().Changed("from"), ToSet: cmd.Flags().Changed("to")}
	if since < 0 {
		return nil, fmt.Errorf("--since %s is in the future: give how far back to look (10m, 1h)", since)
	}
	if since > 0 {
		req.SinceUnixMs = time.Now().Add(-since).UnixMilli()
	}
	switch ff.verdict {
	case "", policy.VerdictAllow, policy.VerdictDeny:
	default:
		return nil, fmt.Errorf("--verdict %q: want allow or deny", ff.verdict)
	}
	for _, s := range []struct{ flag, v string }{{"--from", ff.from}, {"--to", ff.to}} {
		if _, err := policy.ParseSelector(s.v); err != nil {
			return nil, fmt.Errorf("%s %q: %w", s.flag, s.v, err)
		}
	}
	return req, nil
}

// flowView is one flow in json and yaml.
type flowView struct {
	Device         string `json:"device"`
	Segment        string `json:"segment"`
	InPort         uint32 `json:"in_port"`
	Src            string `json:"src"`
	SrcEndpoint    string `json:"src_endpoint,omitempty"`
	Dst            string `json:"dst"`
	DstEndpoint    string `json:"dst_endpoint,omitempty"`
	Proto          string `json:"proto"`
	SPort          uint32 `json:"sport"`
	DPort          uint32 `json:"dport"`
	Verdict        string `json:"verdict"`
	DecidedBy      string `json:"decided_by"`
	Policy         string `json:"policy,omitempty"`
	Reply          bool   `json:"reply,omitempty"`
	ModelDisagrees bool   `json:"model_disagrees,omitempty"`
	StagedVerdict  string `json:"staged_verdict,omitempty"`
	StagedPolicy   string `json:"staged_policy,omitempty"`
	StagedDecides  bool   `json:"staged_decides,omitempty"`
	First          string `json:"first_seen"`
	Last           string `json:"last_seen"`
	Count          uint64 `json:"count"`
}

func flowOf(r *p4ctlv1.FlowRecord) flowView {
	return flowView{Device: r.GetDevice(), Segment: r.GetSegment(), InPort: r.GetInPort(), Src: r.GetSrc(), SrcEndpoint: r.GetSrcEndpoint(),
		Dst: r.GetDst(), DstEndpoint: r.GetDstEndpoint(), Proto: controller.ProtoName(int(r.GetProto())), SPort: r.GetSport(), DPort: r.GetDport(),
		Verdict: r.GetVerdict(), DecidedBy: r.GetDecidedBy(), Policy: r.GetPolicy(), Reply: r.GetReply(), ModelDisagrees: r.GetModelDisagrees(),
		StagedVerdict: r.GetStagedVerdict(), StagedPolicy: r.GetStagedPolicy(), StagedDecides: r.GetStagedDecides(),
		First: unixMs(r.GetFirstUnixMs()), Last: unixMs(r.GetLastUnixMs()), Count: r.GetCount()}
}

// flowJudgement is a flow's verdict in words: "allowed by web-to-app;
// would be denied by staged web-lockdown".
func flowJudgement(v flowView) string {
	s := "allowed"
	if v.Verdict == policy.VerdictDeny {
		s = "denied"
	}
	switch {
	case v.Policy != "":
		s += " by " + v.Policy
	case v.DecidedBy == "default":
		s += " by the segment default"
	default:
		s += " by " + v.DecidedBy
	}
	if v.Reply {
		s += " (reply)"
	}
	if v.ModelDisagrees {
		s += "; the model now decides otherwise"
	}
	if v.StagedVerdict != "" && (v.StagedVerdict != v.Verdict || v.StagedDecides) {
		would := "would be "
		if v.StagedVerdict == v.Verdict {
			would = "would still be "
		}
		would += map[string]string{policy.VerdictAllow: "allowed", policy.VerdictDeny: "denied", policy.VerdictPunt: "punted"}[v.StagedVerdict]
		if v.StagedDecides {
			would += " by staged " + v.StagedPolicy
		} else if v.StagedPolicy != "" {
			would += " by " + v.StagedPolicy
		} else {
			would += " by the segment default"
		}
		s += "; " + would
	}
	return s
}

// runGetFlows prints the flow log: a table (wide: with ports, first seen
// and counts), json or yaml; with --follow, every change until
// interrupted, one JSON object a line.
func runGetFlows(cmd *cobra.Command, api *apiClient, args []string, fl getFlags) error {
	if len(args) > 2 {
		return fmt.Errorf("get flows takes one device at most")
	}
	f, err := fl.output.only("get flows", FormatTable, FormatWide, FormatJSON, FormatYAML)
	if err != nil {
		return err
	}
	dev := ""
	if len(args) == 2 {
		dev = args[1]
	}
	req, err := flowsRequest(cmd, *fl.flows, dev, fl.since, fl.follow)
	if err != nil {
		return err
	}
	c, ctx, done, err := api.session(cmd, 30*time.Second)
	if err != nil {
		return err
	}
	defer done()
	if fl.follow {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	return api.rpcErr(printFlows(ctx, c, cmd.OutOrStdout(), f, req))
}

func printFlows(ctx context.Context, c p4ctlv1.ControllerClient, w io.Writer, f Format, req *p4ctlv1.FlowsRequest) error {
	st, err := c.Flows(ctx, req)
	if err != nil {
		return err
	}
	return printRecords(ctx, w, f, req.GetFollow(), st, flowOf, flowTable)
}

// flowTable is get flows' table.
var flowTable = recordTable[flowView]{
	header:     "LAST SEEN\tDEVICE\tSEGMENT\tFROM\tTO\tPROTO/PORT\tCOUNT\tVERDICT",
	wideHeader: "LAST SEEN\tFIRST SEEN\tDEVICE\tSEGMENT\tIN PORT\tFROM\tTO\tPROTO/PORT\tSPORT\tCOUNT\tDECIDED BY\tVERDICT",
	row: func(w io.Writer, v flowView, wide bool) {
		port := protoPort(v.Proto, v.DPort)
		if wide {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s (%s)\t%s (%s)\t%s\t%d\t%d\t%s\t%s\n", v.Last, v.First, v.Device, v.Segment, v.InPort,
				v.Src, orDash(v.SrcEndpoint), v.Dst, orDash(v.DstEndpoint), port, v.SPort, v.Count, v.DecidedBy, flowJudgement(v))
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s (%s)\t%s (%s)\t%s\t%d\t%s\n", v.Last, v.Device, v.Segment, v.Src, orDash(v.SrcEndpoint),
				v.Dst, orDash(v.DstEndpoint), port, v.Count, flowJudgement(v))
		}
	},
}

// stagedHitsView is get policies --counters' staged part in json and yaml.
type stagedHitsView struct {
	Policy  string `json:"policy"`
	Flows   int64  `json:"flows"`
	Reports uint64 `json:"reports"`
	Changed int64  `json:"changed"`
}

// stagedHits asks for the staged policies' hits in the flow log; nil when
// the server does not have the RPC.
func stagedHits(ctx context.Context, c p4ctlv1.ControllerClient, names []string) ([]stagedHitsView, error) {
	resp, err := c.StagedHits(ctx, &p4ctlv1.StagedHitsRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []stagedHitsView
	for _, h := range resp.GetPolicies() {
		if len(names) > 0 && names[0] != "" && !slices.Contains(names, h.GetPolicy()) {
			continue
		}
		out = append(out, stagedHitsView{Policy: h.GetPolicy(), Flows: h.GetFlows(), Reports: h.GetReports(), Changed: h.GetChanged()})
	}
	return out, nil
}

func printStagedHits(w io.Writer, hs []stagedHitsView) error {
	if len(hs) == 0 {
		return nil
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "STAGED POLICY\tFLOWS IT WOULD DECIDE\tREPORTS\tVERDICTS IT WOULD CHANGE")
	for _, h := range hs {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\n", h.Policy, h.Flows, h.Reports, h.Changed)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "(staged policies are not enforced: their hits are the observed flows they would decide, from the flow log)")
	return nil
}

// flowImpact asks what the files would change of the observed flows.
func flowImpact(ctx context.Context, c p4ctlv1.ControllerClient, files []*p4ctlv1.SourceFile, prune bool, since time.Duration) (*p4ctlv1.FlowImpactResponse, error) {
	req := &p4ctlv1.FlowImpactRequest{Files: files, Prune: prune}
	if since < 0 {
		return nil, fmt.Errorf("--since %s is in the future: give how far back to look (10m, 1h)", since)
	}
	if since > 0 {
		req.SinceUnixMs = time.Now().Add(-since).UnixMilli()
	}
	return c.FlowImpact(ctx, req)
}

// impactView is the flow impact in json and yaml.
type impactView struct {
	Flows        int64            `json:"flows"`
	NewlyDenied  int64            `json:"newly_denied"`
	NewlyAllowed int64            `json:"newly_allowed"`
	Changes      []flowChangeView `json:"changes"`
}

type flowChangeView struct {
	Segment      string   `json:"segment"`
	From         string   `json:"from"`
	To           string   `json:"to"`
	Proto        string   `json:"proto"`
	DPort        uint32   `json:"dport"`
	Before       string   `json:"before"`
	After        string   `json:"after"`
	BeforePolicy string   `json:"before_policy,omitempty"`
	AfterPolicy  string   `json:"after_policy,omitempty"`
	Flows        int64    `json:"flows"`
	Reports      uint64   `json:"reports"`
	Last         string   `json:"last_seen"`
	Examples     []string `json:"examples"`
}

func impactOf(r *p4ctlv1.FlowImpactResponse) impactView {
	v := impactView{Flows: r.GetFlows(), NewlyDenied: r.GetNewlyDenied(), NewlyAllowed: r.GetNewlyAllowed(), Changes: []flowChangeView{}}
	for _, c := range r.GetChanges() {
		v.Changes = append(v.Changes, flowChangeView{Segment: c.GetSegment(), From: c.GetFrom(), To: c.GetTo(), Proto: controller.ProtoName(int(c.GetProto())),
			DPort: c.GetDport(), Before: c.GetBefore(), After: c.GetAfter(), BeforePolicy: c.GetBeforePolicy(), AfterPolicy: c.GetAfterPolicy(),
			Flows: c.GetFlows(), Reports: c.GetReports(), Last: unixMs(c.GetLastUnixMs()), Examples: nonNil(c.GetExamples())})
	}
	return v
}

func decidedText(verdict, pol string) string {
	if pol == "" {
		return verdict + " (default)"
	}
	return verdict + " (" + pol + ")"
}

// printImpact prints the observed flows whose verdict changes, grouped
// by identity pair and port.
func printImpact(w io.Writer, v impactView) error {
	if len(v.Changes) == 0 {
		fmt.Fprintf(w, "observed flows: %d judged, no verdict changes\n", v.Flows)
		return nil
	}
	fmt.Fprintf(w, "observed flows: %d judged; %d would be denied, %d would be allowed that are not now\n", v.Flows, v.NewlyDenied, v.NewlyAllowed)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  SEGMENT\tFROM\tTO\tPROTO/PORT\tNOW\tAFTER\tFLOWS\tREPORTS\tLAST SEEN\tE.G.")
	for _, c := range v.Changes {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%s\n", c.Segment, c.From, c.To, protoPort(c.Proto, c.DPort), decidedText(c.Before, c.BeforePolicy),
			decidedText(c.After, c.AfterPolicy), c.Flows, c.Reports, c.Last, strings.Join(c.Examples, "; "))
	}
	return tw.Flush()
}

// confirmImpact shows what an apply would change of the observed flows
// and, when it would deny some that flow now, has it confirmed: by --yes,
// or by the user on a terminal; off a terminal it proceeds (the summary
// is printed). A server without the flow log says nothing.
func confirmImpact(cmd *cobra.Command, c p4ctlv1.ControllerClient, req *p4ctlv1.ApplyRequest, files []string, yes bool) error {
	ctx, cancel := withTimeout(cmd, time.Minute)
	defer cancel()
	resp, err := flowImpact(ctx, c, req.GetFiles(), req.GetPrune(), 0)
	if status.Code(err) == codes.Unimplemented {
		return nil
	}
	if err != nil {
		// The apply reports bad files itself.
		return nil
	}
	if len(resp.GetChanges()) == 0 {
		return nil
	}
	w := cmd.OutOrStdout()
	if err := printImpact(w, impactOf(resp)); err != nil {
		return err
	}
	in := cmd.InOrStdin()
	if resp.GetNewlyDenied() == 0 || yes || slices.Contains(files, "-") || !isTerminal(in) {
		return nil
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "the change denies %s that the switches saw allowed; apply it? [y/N] ", plural(int(resp.GetNewlyDenied()), "observed flow"))
	answer, _ := bufio.NewReader(in).ReadString('\n')
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return nil
	}
	return errors.New("nothing applied: the change would deny observed flows and was not confirmed")
}

// newPromoteCmd: p4ctl promote POLICY... enforces staged policies, as one
// revision.
func newPromoteCmd() *cobra.Command {
	var api apiClient
	cmd := &cobra.Command{
		Use:   "promote POLICY [POLICY...]",
		Short: "Enforce staged policies (mode: staged to mode: enforce), as one change",
		Long: `promote enforces staged policies: each named policy must be staged (mode:
staged), and all of them become enforced in one change (one revision), as
applying them with mode: enforce would. A name that is not a policy, or a
policy that is enforced already, is refused and nothing changes. Before it
commits, promote shows what the change does to the observed flows (see
diff --flows).`,
		Example: `  p4ctl get flows --staged
  p4ctl promote web-lockdown`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			return api.completeNames(policy.KindPolicy, args), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := api.session(cmd, time.Minute)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: policy.KindPolicy, Names: args})
			if err != nil {
				return api.rpcErr(err)
			}
			objs, err := policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
			if err != nil {
				return err
			}
			byName := map[string]*policy.Policy{}
			for _, o := range objs {
				if p, ok := o.(*policy.Policy); ok {
					byName[p.Name] = p
				}
			}
			var promoted []policy.Object
			for _, name := range args {
				p := byName[name]
				switch {
				case p == nil:
					return fmt.Errorf("policy %s: no such policy; nothing promoted", name)
				case !p.Staged:
					return fmt.Errorf("policy %s is not staged (it is enforced already); nothing promoted", name)
				}
				q := *p
				q.Staged = false
				promoted = append(promoted, &q)
			}
			req := &p4ctlv1.ApplyRequest{Files: []*p4ctlv1.SourceFile{{Name: "promote", Docs: policy.Marshal(promoted)}}}
			if err := confirmImpact(cmd, c, req, nil, false); err != nil {
				return err
			}
			ar, err := c.Apply(ctx, req)
			if err != nil {
				return api.rpcErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "promoted %s: enforced from revision %d\n", strings.Join(args, ", "), ar.GetIndex())
			return nil
		},
	}
	api.flags(cmd.Flags())
	return cmd
}

// runDiffFlows prints what the files would change of the observed flows
// and reports whether any verdict changes.
func runDiffFlows(cmd *cobra.Command, api *apiClient, srcs []*p4ctlv1.SourceFile, prune bool, since time.Duration, f Format) (bool, error) {
	if since < 0 {
		return false, fmt.Errorf("--since %s is in the future: give how far back to look (10m, 1h)", since)
	}
	resp, err := callAPI(cmd, api, 60*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.FlowImpactResponse, error) {
		return flowImpact(ctx, c, srcs, prune, since)
	})
	if err != nil {
		return false, err
	}
	v := impactOf(resp)
	w := cmd.OutOrStdout()
	switch f {
	case FormatJSON, FormatYAML:
		return len(v.Changes) > 0, printData(w, f, v)
	case FormatName:
		return len(v.Changes) > 0, nil
	}
	return len(v.Changes) > 0, printImpact(w, v)
}
