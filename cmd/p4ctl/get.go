package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// getKinds are what get takes, as completion offers them.
var getKinds = []string{"devices", "segments", "ports", "endpoints", "policies", "links", "hosts", "denials", "flows", "all"}

// declaredKinds are the kinds of the model, as delete and export take
// them.
var declaredKinds = []string{"devices", "segments", "ports", "endpoints", "policies"}

var allFormats = []Format{FormatTable, FormatWide, FormatJSON, FormatYAML, FormatName}

func newGetCmd() *cobra.Command {
	var (
		api      apiClient
		counters bool
		follow   bool
		since    time.Duration
		flows    flowFlags
	)
	cmd := &cobra.Command{
		Use:   "get devices|segments|ports|endpoints|policies|links|hosts|denials|flows|all [NAME...]",
		Short: "Show objects, device status and topology from a running controller",
		Long: `get shows the declared objects of a kind with what the controller
observes of them: devices' sessions and entries, ports' oper status and
neighbors (gNMI, LLDP), and where endpoints that name a host are placed.
links are the switch-to-switch links learned by LLDP through the pipeline;
hosts are the hosts heard on device ports. all is every declared object.
policies --counters reads every device's policy hit counters now (packets
and bytes that hit each policy's entries, per device and per rule).
denials [DEVICE] are the denied flows the switches reported (a sample,
rate-limited in the data plane), one per source, destination, protocol and
port, with first and last seen and how many reports; --since limits them
to the recent, --follow streams changes until interrupted. flows [DEVICE]
is the flow log: flow starts allowed and denied, each with what decided it
and, where staged policies exist, what they would decide; --from and --to
filter by label selector, --verdict, --policy, --segment, --staged (only
flows the staged policies would decide otherwise), --replies.

Output (-o): table, wide (more columns), json, yaml (the same objects as
json), name (KIND/NAME, as delete takes them). Segments, policies and all
are policy documents in json and yaml (yaml is what apply takes; see also
export); devices, ports and endpoints are their settings joined with what
is observed. links, hosts and --counters take table, json and yaml;
denials take table, wide, json and yaml (with --follow, one JSON object a
line or one YAML document per record).`,
		Example: `  p4ctl get devices
  p4ctl get policies web-to-app -o yaml
  p4ctl get endpoints -o wide
  p4ctl get all -o name
  p4ctl get policies --counters
  p4ctl get denials leaf1 --since 10m --follow -o json
  p4ctl get flows --from "tier: web" --to "tier: db" --verdict deny --since 1h`,
		Args: cobra.MinimumNArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return getKinds, cobra.ShellCompDirectiveNoFileComp
			}
			switch strings.ToLower(args[0]) {
			case "denials", "denial":
				if len(args) == 1 {
					return api.completeNames(policy.KindDevice, nil), cobra.ShellCompDirectiveNoFileComp
				}
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			kind, err := apiserver.KindOf(args[0])
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return api.completeNames(kind, args[1:]), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd, &api, args, getFlags{output: output(cmd), counters: counters, follow: follow, since: since, flows: &flows})
		},
	}
	api.flags(cmd.Flags())
	addDeferredOutput(cmd, allFormats...)
	cmd.Flags().BoolVar(&counters, "counters", false, "with policies: the hit counters, read from the devices now")
	cmd.Flags().BoolVar(&follow, "follow", false, "with denials and flows: stream changes until interrupted")
	cmd.Flags().DurationVar(&since, "since", 0, "with denials and flows: only flows seen in this last while (0: all held)")
	addFlowFlags(cmd.Flags(), &flows)
	return cmd
}

// output is the -o flag addOutput put on cmd.
func output(cmd *cobra.Command) *outputFlag {
	return cmd.Flags().Lookup("output").Value.(*outputFlag)
}

type getFlags struct {
	output   *outputFlag
	counters bool
	follow   bool
	since    time.Duration
	flows    *flowFlags
}

func runGet(cmd *cobra.Command, api *apiClient, args []string, fl getFlags) error {
	what := strings.ToLower(args[0])
	w := cmd.OutOrStdout()
	if what == "flows" || what == "flow" {
		return runGetFlows(cmd, api, args, fl)
	}
	// The format is checked against what is asked for before dialling.
	var f Format
	var err error
	kind := ""
	switch what {
	case "denials", "denial":
		if len(args) > 2 {
			return fmt.Errorf("get denials takes one device at most")
		}
		f, err = fl.output.only("get denials", FormatTable, FormatWide, FormatJSON, FormatYAML)
	case "links", "link", "hosts", "host":
		f, err = fl.output.only("get "+what, FormatTable, FormatJSON, FormatYAML)
	case "all":
		if len(args) > 1 {
			return fmt.Errorf("get all takes no names")
		}
		f, err = fl.output.only("get all", allFormats...)
	default:
		if kind, err = apiserver.KindOf(args[0]); err != nil {
			return unknownKind(args[0], getKinds...)
		}
		switch {
		case fl.counters && kind != policy.KindPolicy:
			return fmt.Errorf("--counters is for policies, not %s", args[0])
		case fl.counters:
			f, err = fl.output.only("get policies --counters", FormatTable, FormatJSON, FormatYAML)
		default:
			f, err = fl.output.only("get "+args[0], allFormats...)
		}
	}
	if err != nil {
		return err
	}
	c, ctx, done, err := api.session(cmd, 30*time.Second)
	if err != nil {
		return err
	}
	defer done()
	switch what {
	case "denials", "denial":
		dev := ""
		if len(args) == 2 {
			dev = args[1]
		}
		if fl.follow {
			// Until interrupted, not the client's default timeout.
			var stop context.CancelFunc
			ctx, stop = signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
		}
		return api.rpcErr(getDenials(ctx, c, w, f, dev, fl.since, fl.follow))
	case "links", "link", "hosts", "host":
		resp, err := c.Topology(ctx, &p4ctlv1.TopologyRequest{FromLeader: true})
		if err != nil {
			return api.rpcErr(err)
		}
		return printTopology(w, strings.TrimSuffix(what, "s"), f, resp)
	case "all":
		objs, err := getObjects(ctx, cmd, api, c, "", nil)
		if err != nil {
			return err
		}
		return printDeclared(w, f, objs)
	}
	names := args[1:]
	switch kind {
	case policy.KindPolicy:
		if fl.counters {
			return api.rpcErr(getCounters(ctx, c, w, f, names))
		}
	case policy.KindPort, policy.KindEndpoint:
		objs, err := getObjects(ctx, cmd, api, c, kind, names)
		if err != nil {
			return err
		}
		if f == FormatName {
			return printObjects(w, f, objs)
		}
		// Declared objects with what is observed of them.
		tp, err := c.Topology(ctx, &p4ctlv1.TopologyRequest{FromLeader: true})
		if err != nil {
			return api.rpcErr(err)
		}
		return printObserved(w, kind, f, objs, tp)
	case policy.KindDevice:
		return getDevices(ctx, api, c, w, f, names)
	}
	objs, err := getObjects(ctx, cmd, api, c, kind, names)
	if err != nil {
		return err
	}
	return printDeclared(w, f, objs)
}

// getObjects asks for the declared objects of kind ("": every kind)
// named (all when none), saying on stderr when a follower answered.
func getObjects(ctx context.Context, cmd *cobra.Command, api *apiClient, c p4ctlv1.ControllerClient, kind string, names []string) ([]policy.Object, error) {
	var hdr metadata.MD
	resp, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: kind, Names: names}, grpc.Header(&hdr))
	if err != nil {
		return nil, api.rpcErr(err)
	}
	staleNote(cmd, hdr)
	return policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
}

// printDeclared prints declared objects in any format: documents in json
// and yaml, a table of kind, name and the settings that matter.
func printDeclared(w io.Writer, f Format, objs []policy.Object) error {
	switch f {
	case FormatTable, FormatWide:
		return printObjectTable(w, objs, f == FormatWide)
	}
	return printObjects(w, f, objs)
}

// getDevices prints the devices named (all when none): the cluster's
// view, each device as its master reports it, joined with its declared
// settings.
func getDevices(ctx context.Context, api *apiClient, c p4ctlv1.ControllerClient, w io.Writer, f Format, names []string) error {
	resp, err := c.Devices(ctx, &p4ctlv1.DevicesRequest{FromLeader: true})
	if err != nil {
		return api.rpcErr(err)
	}
	devs := resp.GetDevices()
	if len(names) > 0 {
		devs = slices.DeleteFunc(devs, func(d *p4ctlv1.DeviceStatus) bool { return !slices.Contains(names, d.GetName()) })
		for _, name := range names {
			if !slices.ContainsFunc(devs, func(d *p4ctlv1.DeviceStatus) bool { return d.GetName() == name }) {
				return fmt.Errorf("device %q not found", name)
			}
		}
	}
	switch f {
	case FormatTable:
		printDeviceTable(w, devs)
		return nil
	case FormatName:
		out := make([]string, len(devs))
		for i, d := range devs {
			out[i] = "device/" + d.GetName()
		}
		return printNames(w, out)
	}
	decl, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: policy.KindDevice, Names: names})
	if err != nil {
		return api.rpcErr(err)
	}
	objs, err := policy.Parse("server", strings.NewReader(string(decl.GetDocs())))
	if err != nil {
		return err
	}
	byName := map[string]*policy.Device{}
	for _, o := range objs {
		if d, ok := o.(*policy.Device); ok {
			byName[d.Name] = d
		}
	}
	view := devicesJSON(devs, byName)
	if f == FormatWide {
		return printDeviceWide(w, view)
	}
	return printData(w, f, view)
}

// deviceJSON is a device as `get devices` shows it in json and yaml: its
// declared settings and the leader's view of its state.
type deviceJSON struct {
	Name           string           `json:"name" yaml:"name"`
	Address        string           `json:"address" yaml:"address"`
	Master         string           `json:"master,omitempty" yaml:"master,omitempty"`
	MasterEpoch    uint64           `json:"master_epoch,omitempty" yaml:"master_epoch,omitempty"`
	DeviceID       uint64           `json:"device_id,omitempty" yaml:"device_id,omitempty"`
	Target         string           `json:"target,omitempty" yaml:"target,omitempty"`
	GNMI           string           `json:"gnmi,omitempty" yaml:"gnmi,omitempty"`
	Connected      bool             `json:"connected" yaml:"connected"`
	Primary        bool             `json:"primary" yaml:"primary"`
	InSync         bool             `json:"in_sync" yaml:"in_sync"`
	PipelineCookie string           `json:"pipeline_cookie" yaml:"pipeline_cookie"` // cookieString; "" before a pipeline is known
	Entries        map[string]int64 `json:"entries" yaml:"entries"`
	LastError      string           `json:"last_error" yaml:"last_error"`
	PipelinePush   string           `json:"pipeline_push,omitempty" yaml:"pipeline_push,omitempty"`
	PushGapMs      int64            `json:"push_gap_ms,omitempty" yaml:"push_gap_ms,omitempty"`
	DenialLog      string           `json:"denial_log,omitempty" yaml:"denial_log,omitempty"`
	FlowLog        string           `json:"flow_log,omitempty" yaml:"flow_log,omitempty"`
	Queued         bool             `json:"queued,omitempty" yaml:"queued,omitempty"` // the full reconcile waits for its share of the master's reconcile budget
}

// devicesJSON joins the devices' states with their declared settings
// (decl, by name; a device missing there shows its state alone).
func devicesJSON(ds []*p4ctlv1.DeviceStatus, decl map[string]*policy.Device) []deviceJSON {
	out := []deviceJSON{}
	for _, d := range ds {
		e := d.GetEntries()
		if e == nil {
			e = map[string]int64{}
		}
		j := deviceJSON{Name: d.GetName(), Address: d.GetAddress(), Master: d.GetMaster(), MasterEpoch: d.GetMasterEpoch(), Connected: d.GetConnected(), Primary: d.GetPrimary(),
			InSync: d.GetInSync(), Queued: d.GetQueued(), Entries: e, LastError: d.GetLastError(),
			PipelinePush: d.GetPipelinePush(), PushGapMs: d.GetPushGapMs(), DenialLog: d.GetDenialLog(), FlowLog: d.GetFlowLog()}
		if c := d.GetPipelineCookie(); c != 0 {
			j.PipelineCookie = cookieString(c)
		}
		if dd := decl[d.GetName()]; dd != nil {
			j.DeviceID, j.Target, j.GNMI = dd.DeviceID, dd.Target, dd.GNMI
		}
		out = append(out, j)
	}
	return out
}

// inSync is the IN SYNC column: true or false, and "false (queued)"
// while the device's full reconcile waits for its share of its master's
// reconcile budget.
func inSync(in, queued bool) string {
	if !in && queued {
		return "false (queued)"
	}
	return strconv.FormatBool(in)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// printDeviceTable prints the devices' status, one a line.
func printDeviceTable(w io.Writer, ds []*p4ctlv1.DeviceStatus) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tMASTER\tCONNECTED\tPRIMARY\tIN SYNC\tENTRIES\tPIPELINE PUSH\tDENIAL LOG\tFLOW LOG\tLAST ERROR")
	for _, d := range ds {
		total := int64(0)
		for _, n := range d.GetEntries() {
			total += n
		}
		push := d.GetPipelinePush()
		if push != "" && d.GetPushGapMs() > 0 {
			push = fmt.Sprintf("%s (%d ms gap)", push, d.GetPushGapMs())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%s\t%d\t%s\t%s\t%s\t%s\n", d.GetName(), d.GetAddress(), orDash(d.GetMaster()), d.GetConnected(), d.GetPrimary(), inSync(d.GetInSync(), d.GetQueued()),
			total, orDash(push), orDash(d.GetDenialLog()), orDash(d.GetFlowLog()), d.GetLastError())
	}
	tw.Flush()
}

// printDeviceWide is the device table with the declared settings, the
// mastership epoch and the pipeline cookie.
func printDeviceWide(w io.Writer, ds []deviceJSON) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tTARGET\tDEVICE ID\tGNMI\tMASTER\tEPOCH\tCONNECTED\tPRIMARY\tIN SYNC\tENTRIES\tPIPELINE COOKIE\tPIPELINE PUSH\tDENIAL LOG\tFLOW LOG\tLAST ERROR")
	for _, d := range ds {
		total := int64(0)
		for _, n := range d.Entries {
			total += n
		}
		push := d.PipelinePush
		if push != "" && d.PushGapMs > 0 {
			push = fmt.Sprintf("%s (%d ms gap)", push, d.PushGapMs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%v\t%v\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n", d.Name, d.Address, orDash(d.Target), d.DeviceID, orDash(d.GNMI),
			orDash(d.Master), d.MasterEpoch, d.Connected, d.Primary, inSync(d.InSync, d.Queued), total, orDash(d.PipelineCookie), orDash(push), orDash(d.DenialLog), orDash(d.FlowLog), d.LastError)
	}
	return tw.Flush()
}

// printObjectTable prints declared objects: kind, name and their
// settings in short, or with wide all of them.
func printObjectTable(w io.Writer, objs []policy.Object, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tDETAIL")
	for _, o := range objs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Kind(), strings.TrimPrefix(o.Ref(), o.Kind()+" "), objectDetail(o, wide))
	}
	return tw.Flush()
}

// objectDetail is an object's settings on one line: those that matter
// most, or with wide all of them.
func objectDetail(o policy.Object, wide bool) string {
	var d []string
	add := func(format string, args ...any) { d = append(d, fmt.Sprintf(format, args...)) }
	switch x := o.(type) {
	case *policy.Device:
		add("%s device_id=%d target=%s", x.Address, x.DeviceID, x.Target)
		if wide && x.GNMI != "" {
			add("gnmi=%s", x.GNMI)
		}
	case *policy.Segment:
		add("id=%d default_allow=%v", x.ID, x.DefaultAllow)
	case *policy.Port:
		add("segment=%s role=%s", x.Segment, x.Role)
		if wide {
			if x.Role == policy.RoleCommunity {
				add("community=%d", x.Community)
			}
			add("punt_arp=%v", x.PuntARP)
		}
	case *policy.Endpoint:
		var ls []string
		for _, k := range slices.Sorted(maps.Keys(x.Labels)) {
			ls = append(ls, k+"="+x.Labels[k])
		}
		at := fmt.Sprintf("%s/%d", x.Device, x.Port)
		if x.Host != "" {
			at = "host=" + x.Host
		}
		add("%s %v %s %s", x.MAC, x.IPs, at, strings.Join(ls, ","))
		if wide {
			add("segment=%s", x.Segment)
		}
	case *policy.Policy:
		add("segment=%s priority=%d rules=%d", x.Segment, x.Priority, len(x.Rules))
		if x.Staged {
			add("mode=staged")
		}
		if wide {
			from, to := x.From.String(), x.To.String()
			if x.FromCIDRs != nil {
				from = fmt.Sprint(x.FromCIDRs)
			}
			if x.ToCIDRs != nil {
				to = fmt.Sprint(x.ToCIDRs)
			}
			var rules []string
			for _, r := range x.Rules {
				rule := policy.ProtoName(r.Proto)
				for i, p := range r.Ports {
					sep := "/"
					if i > 0 {
						sep = ","
					}
					if p.Lo == p.Hi {
						rule += fmt.Sprintf("%s%d", sep, p.Lo)
					} else {
						rule += fmt.Sprintf("%s%d-%d", sep, p.Lo, p.Hi)
					}
				}
				rules = append(rules, fmt.Sprintf("%s:%s", rule, r.Action))
			}
			add("from=%q to=%q [%s]", from, to, strings.Join(rules, " "))
		}
	}
	return strings.Join(d, " ")
}

// completeNames are the names of kind's objects, asked from the server
// within a second, less those already given; nothing when it does not
// answer.
func (a *apiClient) completeNames(kind string, given []string) []string {
	c, done, err := a.dial()
	if err != nil {
		return nil
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: kind})
	if err != nil {
		return nil
	}
	objs, err := policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
	if err != nil {
		return nil
	}
	var out []string
	for _, o := range objs {
		if name := strings.TrimPrefix(o.Ref(), o.Kind()+" "); !slices.Contains(given, name) {
			out = append(out, name)
		}
	}
	return out
}

// completeDevices completes a --device flag with the devices' names.
func completeDevices(api *apiClient) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return api.completeNames(policy.KindDevice, nil), cobra.ShellCompDirectiveNoFileComp
	}
}

func newDeleteCmd() *cobra.Command {
	var (
		api   apiClient
		files []string
	)
	cmd := &cobra.Command{
		Use:   "delete KIND NAME... | delete KIND/NAME... | delete -f FILE...",
		Short: "Delete objects from a running controller (all or none)",
		Long: `delete removes objects from the model as one change: all of them, or none
when one is missing or still used by an object that stays (the error names
it). Objects are named by kind and names, as KIND/NAME (what get -o name
prints), or by the documents of files (-f: the objects they declare).`,
		Example: `  p4ctl delete endpoint web-9
  p4ctl delete port leaf1/30 segment/lab
  p4ctl get endpoints -o name | grep web- | xargs p4ctl delete
  p4ctl delete -f lab.yaml`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
			if len(files) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			if len(args) == 0 {
				if k, _, ok := strings.Cut(toComplete, "/"); ok {
					if kind, err := apiserver.KindOf(k); err == nil {
						var out []string
						for _, n := range api.completeNames(kind, nil) {
							out = append(out, k+"/"+n)
						}
						return out, cobra.ShellCompDirectiveNoFileComp
					}
				}
				return declaredKinds, cobra.ShellCompDirectiveNoFileComp
			}
			if strings.Contains(args[0], "/") {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			kind, err := apiserver.KindOf(args[0])
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return api.completeNames(kind, args[1:]), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			refs, err := deletionRefs(cmd, args, files)
			if err != nil {
				return err
			}
			c, ctx, done, err := api.session(cmd, 60*time.Second)
			if err != nil {
				return err
			}
			defer done()
			resp, err := c.Delete(ctx, &p4ctlv1.DeleteRequest{Objects: refs})
			if err != nil {
				return api.rpcErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (log index %d)\n", plural(int(resp.GetObjects()), "object"), resp.GetIndex())
			return nil
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringSliceVarP(&files, "file", "f", nil, "delete the objects this policy file declares (repeatable; - reads standard input)")
	return cmd
}

// deletionRefs are the objects delete's arguments or files name.
func deletionRefs(cmd *cobra.Command, args, files []string) ([]*p4ctlv1.ObjectRef, error) {
	var refs []*p4ctlv1.ObjectRef
	if len(files) > 0 {
		if len(args) > 0 {
			return nil, fmt.Errorf("delete takes objects by name or by -f, not both")
		}
		objs, err := readObjects(cmd, files)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			refs = append(refs, &p4ctlv1.ObjectRef{Kind: o.Kind(), Name: strings.TrimPrefix(o.Ref(), o.Kind()+" ")})
		}
		return refs, nil
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("nothing to delete: give KIND NAME..., KIND/NAME... or -f FILE")
	}
	if strings.Contains(args[0], "/") {
		for _, a := range args {
			k, name, ok := strings.Cut(a, "/")
			if !ok || name == "" {
				return nil, fmt.Errorf("%q: want KIND/NAME", a)
			}
			kind, err := apiserver.KindOf(k)
			if err != nil {
				return nil, unknownKind(k, declaredKinds...)
			}
			refs = append(refs, &p4ctlv1.ObjectRef{Kind: kind, Name: name})
		}
		return refs, nil
	}
	if len(args) < 2 {
		return nil, fmt.Errorf("delete %s: name the objects (delete KIND NAME...)", args[0])
	}
	kind, err := apiserver.KindOf(args[0])
	if err != nil {
		return nil, unknownKind(args[0], declaredKinds...)
	}
	for _, n := range args[1:] {
		refs = append(refs, &p4ctlv1.ObjectRef{Kind: kind, Name: n})
	}
	return refs, nil
}

// readObjects parses the documents of files (- is standard input),
// without validating them as a model: each must be a well-formed object.
func readObjects(cmd *cobra.Command, files []string) ([]policy.Object, error) {
	var objs []policy.Object
	var errs policy.Errors
	for _, f := range files {
		b, err := readSource(cmd, f)
		if err != nil {
			return nil, err
		}
		o, err := policy.Parse(f, strings.NewReader(string(b)))
		if pe, ok := err.(policy.Errors); ok {
			errs = append(errs, pe...)
			continue
		}
		if err != nil {
			return nil, err
		}
		if len(o) == 0 {
			errs = append(errs, &policy.Error{Src: policy.Source{File: f}, Msg: "no documents"})
		}
		objs = append(objs, o...)
	}
	if len(errs) > 0 {
		return nil, errs
	}
	return objs, nil
}

// readSources reads the files named on the command line once each, so
// that standard input (-) can serve more than one request.
func readSources(cmd *cobra.Command, files []string) ([]*p4ctlv1.SourceFile, error) {
	srcs := make([]*p4ctlv1.SourceFile, 0, len(files))
	for _, f := range files {
		b, err := readSource(cmd, f)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, &p4ctlv1.SourceFile{Name: f, Docs: b})
	}
	return srcs, nil
}

// readSource reads a file named on the command line; - is standard
// input.
func readSource(cmd *cobra.Command, f string) ([]byte, error) {
	if f == "-" {
		return io.ReadAll(cmd.InOrStdin())
	}
	return os.ReadFile(f)
}

func newExportCmd() *cobra.Command {
	var api apiClient
	cmd := &cobra.Command{
		Use:   "export [KIND [NAME...]]",
		Short: "Print the desired state as policy documents that validate and apply take",
		Long: `export prints the model a running controller holds (or the objects of one
kind, or those named) as policy documents: validate takes them, apply of
them is a no-op, and apply --prune of them makes a cluster hold exactly
this. -o json gives the same objects as a JSON list.`,
		Example: `  p4ctl export > desired.yaml
  p4ctl export policies
  p4ctl export -s old-cluster:9600 | p4ctl apply --prune --yes -s new-cluster:9600 -f -`,
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) == 0 {
				return declaredKinds, cobra.ShellCompDirectiveNoFileComp
			}
			kind, err := apiserver.KindOf(args[0])
			if err != nil {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return api.completeNames(kind, args[1:]), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			kind := ""
			var names []string
			if len(args) > 0 {
				var err error
				if kind, err = apiserver.KindOf(args[0]); err != nil {
					return unknownKind(args[0], declaredKinds...)
				}
				names = args[1:]
			}
			c, ctx, done, err := api.session(cmd, 30*time.Second)
			if err != nil {
				return err
			}
			defer done()
			var hdr metadata.MD
			resp, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: kind, Names: names}, grpc.Header(&hdr))
			if err != nil {
				return api.rpcErr(err)
			}
			staleNote(cmd, hdr)
			objs, err := policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			f := output(cmd).Format()
			if f == FormatYAML {
				fmt.Fprintf(w, "# p4ctl export from %s: %s at log index %d\n", strings.Join(api.servers(), ","), plural(len(objs), "object"), resp.GetIndex())
			}
			return printObjects(w, f, objs)
		},
	}
	api.flags(cmd.Flags())
	addOutput(cmd, FormatYAML, FormatJSON)
	return cmd
}
