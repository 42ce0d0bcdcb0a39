package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/policy"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// apiClient is how a client command reaches a node's API: its address
// and, when the API serves TLS, the files to verify it and to present a
// client certificate (mutual TLS).
type apiClient struct {
	server string
	tls    tlsconf.Files
	fs     *pflag.FlagSet // where --server was defined: to tell whether it was given
}

// envServer names the environment variable that gives the API addresses
// when --server is not.
const envServer = "P4CTL_SERVER"

// flags adds --server (-s) and the --tls-* flags to fs.
func (a *apiClient) flags(fs *pflag.FlagSet) {
	fs.StringVarP(&a.server, "server", "s", defaultAPIAddr, "API address of a controller node, or several comma-separated, tried in order until one takes the connection (default $"+envServer+", else "+defaultAPIAddr+")")
	tlsClientFlags(fs, "tls-", "the API", &a.tls)
	a.fs = fs
}

// servers are the API addresses to try, in order: --server, else
// $P4CTL_SERVER, else the default.
func (a *apiClient) servers() []string {
	list := a.server
	if env := os.Getenv(envServer); env != "" && a.fs != nil && !a.fs.Changed("server") {
		list = env
	}
	var out []string
	for _, s := range strings.Split(list, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// tlsClientFlags adds the flags of a TLS client to fs, named prefix+ca etc.
func tlsClientFlags(fs *pflag.FlagSet, prefix, what string, f *tlsconf.Files) {
	fs.StringVar(&f.CA, prefix+"ca", "", "CA bundle (PEM) that verifies "+what+"; setting any --"+prefix+"* flag turns TLS on")
	fs.StringVar(&f.Cert, prefix+"cert", "", "client certificate (PEM) for mutual TLS with "+what)
	fs.StringVar(&f.Key, prefix+"key", "", "key (PEM) of --"+prefix+"cert")
	fs.StringVar(&f.ServerName, prefix+"server-name", "", "name to verify in the certificate of "+what+" (default: the host dialled)")
}

// dialOptions returns the gRPC transport for f: TLS when any setting is
// given, plaintext otherwise.
func dialOptions(f tlsconf.Files) ([]grpc.DialOption, error) {
	size := grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(apiserver.MaxMessageSize), grpc.MaxCallSendMsgSize(apiserver.MaxMessageSize))
	if !f.Enabled() {
		return []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), size}, nil
	}
	cfg, err := f.Client()
	if err != nil {
		return nil, err
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg)), size}, nil
}

// dial connects to the API of a running node: with several addresses, the
// first that takes the connection (gRPC's pick_first over them, in
// order; a node that refuses or goes away is passed over for the next).
func (a *apiClient) dial() (p4ctlv1.ControllerClient, func(), error) {
	opts, err := dialOptions(a.tls)
	if err != nil {
		return nil, nil, fmt.Errorf("--tls-*: %w", err)
	}
	servers := a.servers()
	var target string
	switch len(servers) {
	case 0:
		return nil, nil, errors.New("--server: no address given")
	case 1:
		target = servers[0]
	default:
		r := manual.NewBuilderWithScheme("p4ctl-servers")
		st := resolver.State{}
		for _, s := range servers {
			addr := resolver.Address{Addr: s}
			if host, _, err := net.SplitHostPort(s); err == nil {
				addr.ServerName = host // each node's certificate is checked for its own name
			}
			st.Addresses = append(st.Addresses, addr)
		}
		r.InitialState(st)
		opts = append(opts, grpc.WithResolvers(r))
		target = r.Scheme() + ":///servers"
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, nil, fmt.Errorf("--server %s: %w", strings.Join(servers, ","), err)
	}
	return p4ctlv1.NewControllerClient(conn), func() { conn.Close() }, nil
}

// rpcErr turns a gRPC status into its message, naming the server.
func (a *apiClient) rpcErr(err error) error {
	st, ok := status.FromError(err)
	if !ok {
		return err
	}
	servers := a.servers()
	if len(servers) != 1 {
		return fmt.Errorf("%s: %s (%s)", strings.Join(servers, ","), st.Message(), st.Code())
	}
	server := servers[0]
	if st.Code() == codes.Unavailable {
		// A TLS client of a plaintext server, or the reverse, sees only a
		// broken connection: say which it is.
		if speaks, perr := tlsconf.Probe(server, 2*time.Second); perr == nil {
			switch {
			case speaks && !a.tls.Enabled():
				return fmt.Errorf("%s serves TLS and this client dialled in plaintext: give --tls-ca (and --tls-cert/--tls-key for mutual TLS): %s (%s)", server, st.Message(), st.Code())
			case !speaks && a.tls.Enabled():
				return fmt.Errorf("%s serves plaintext and this client dialled with TLS: drop the --tls-* flags: %s (%s)", server, st.Message(), st.Code())
			}
		}
	}
	return fmt.Errorf("%s: %s (%s)", server, st.Message(), st.Code())
}

func withTimeout(cmd *cobra.Command, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(cmd.Context(), d)
}

// staleNote says on stderr when a follower answered a read, and how stale
// its answer may be (apiserver's staleness headers).
func staleNote(cmd *cobra.Command, hdr metadata.MD) {
	if by := hdr.Get(apiserver.HeaderServedBy); len(by) == 0 || by[0] != "follower" {
		return
	}
	contact, applied := "unknown", "unknown"
	if v := hdr.Get(apiserver.HeaderLastContact); len(v) > 0 {
		contact = v[0] + " ms ago"
		if v[0] == "never" {
			contact = "never"
		}
	}
	if v := hdr.Get(apiserver.HeaderApplied); len(v) > 0 {
		applied = v[0]
	}
	fmt.Fprintf(cmd.ErrOrStderr(), "note: answered by a follower (last heard from the leader: %s; applied index %s): a change committed since may be missing\n", contact, applied)
}

// callAPI dials the API, makes one call with a context that ends after d,
// and names the server in the error.
func callAPI[T any](cmd *cobra.Command, a *apiClient, d time.Duration, call func(context.Context, p4ctlv1.ControllerClient) (T, error)) (T, error) {
	var zero T
	c, ctx, done, err := a.session(cmd, d)
	if err != nil {
		return zero, err
	}
	defer done()
	resp, err := call(ctx, c)
	if err != nil {
		return zero, a.rpcErr(err)
	}
	return resp, nil
}

// session dials the API and gives a context that ends after d; done
// releases both.
func (a *apiClient) session(cmd *cobra.Command, d time.Duration) (p4ctlv1.ControllerClient, context.Context, func(), error) {
	c, closeConn, err := a.dial()
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := withTimeout(cmd, d)
	return c, ctx, func() { cancel(); closeConn() }, nil
}

func newGetCmd() *cobra.Command {
	var (
		api      apiClient
		output   string
		counters bool
		follow   bool
		since    time.Duration
	)
	cmd := &cobra.Command{
		Use:   "get devices|segments|ports|endpoints|policies|links|hosts|denials [NAME...]",
		Short: "Show objects, device status and topology from a running controller",
		Long: `get shows the declared objects of a kind (-o yaml gives them as documents;
devices, in every format, are one object: their settings and the leader's
view of their state),
with what the controller observes: devices' sessions and entries, ports'
oper status and neighbors (gNMI, LLDP), and where endpoints that name a
host are placed. links are the switch-to-switch links learned by LLDP
through the pipeline; hosts are the hosts heard on device ports.
policies --counters reads every device's policy hit counters now (packets
and bytes that hit each policy's entries, per device and per rule).
denials [DEVICE] are the denied flows the switches reported (a sample,
rate-limited in the data plane), one per source, destination, protocol and
port, with first and last seen and how many reports; --since limits them
to the recent, --follow streams changes until interrupted.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := api.session(cmd, 30*time.Second)
			if err != nil {
				return err
			}
			defer done()
			w := cmd.OutOrStdout()
			switch strings.ToLower(args[0]) {
			case "denials", "denial":
				if len(args) > 2 {
					return fmt.Errorf("get denials takes one device at most")
				}
				dev := ""
				if len(args) == 2 {
					dev = args[1]
				}
				if follow {
					// Until interrupted, not the client's default timeout.
					var stop context.CancelFunc
					ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
					defer stop()
				}
				if output == "yaml" {
					output = "json"
				}
				if err := getDenials(ctx, c, w, output, dev, since, follow); err != nil {
					return api.rpcErr(err)
				}
				return nil
			case "links", "link", "hosts", "host":
				resp, err := c.Topology(ctx, &p4ctlv1.TopologyRequest{FromLeader: true})
				if err != nil {
					return api.rpcErr(err)
				}
				return printTopology(w, strings.TrimSuffix(strings.ToLower(args[0]), "s"), output, resp)
			}
			kind, err := apiserver.KindOf(args[0])
			if err != nil {
				return unknownKind(args[0], "devices", "segments", "ports", "endpoints", "policies", "links", "hosts", "denials")
			}
			if counters {
				if kind != policy.KindPolicy {
					return fmt.Errorf("--counters is for policies, not %s", args[0])
				}
				if err := getCounters(ctx, c, w, output, args[1:]); err != nil {
					return api.rpcErr(err)
				}
				return nil
			}
			if (kind == policy.KindPort || kind == policy.KindEndpoint) && output != "yaml" {
				// Declared objects with what is observed of them.
				var hdr metadata.MD
				resp, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: kind, Names: args[1:]}, grpc.Header(&hdr))
				if err != nil {
					return api.rpcErr(err)
				}
				staleNote(cmd, hdr)
				objs, err := policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
				if err != nil {
					return err
				}
				tp, err := c.Topology(ctx, &p4ctlv1.TopologyRequest{FromLeader: true})
				if err != nil {
					return api.rpcErr(err)
				}
				return printObserved(w, kind, output, objs, tp)
			}
			if kind == policy.KindDevice {
				// The cluster's view: each device as its master reports it.
				resp, err := c.Devices(ctx, &p4ctlv1.DevicesRequest{FromLeader: true})
				if err != nil {
					return api.rpcErr(err)
				}
				devs := resp.GetDevices()
				if len(args) > 1 {
					devs = slices.DeleteFunc(devs, func(d *p4ctlv1.DeviceStatus) bool { return !slices.Contains(args[1:], d.GetName()) })
					for _, name := range args[1:] {
						if !slices.ContainsFunc(devs, func(d *p4ctlv1.DeviceStatus) bool { return d.GetName() == name }) {
							return fmt.Errorf("device %q not found", name)
						}
					}
				}
				if output == "table" {
					printDeviceTable(w, devs)
					return nil
				}
				decl, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: kind, Names: args[1:]})
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
				if output == "json" {
					return printJSON(w, view)
				}
				return printYAML(w, view)
			}
			var hdr metadata.MD
			resp, err := c.Get(ctx, &p4ctlv1.GetRequest{Kind: kind, Names: args[1:]}, grpc.Header(&hdr))
			if err != nil {
				return api.rpcErr(err)
			}
			staleNote(cmd, hdr)
			switch output {
			case "yaml":
				_, err := w.Write(resp.GetDocs())
				return err
			case "json", "table":
				objs, err := policy.Parse("server", strings.NewReader(string(resp.GetDocs())))
				if err != nil {
					return err
				}
				if output == "json" {
					return printJSON(w, objectsJSON(objs))
				}
				printObjectTable(w, objs)
				return nil
			}
			return fmt.Errorf("unknown output format %q (table, json or yaml)", output)
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "table", "table, json or yaml")
	cmd.Flags().BoolVar(&counters, "counters", false, "with policies: the hit counters, read from the devices now")
	cmd.Flags().BoolVar(&follow, "follow", false, "with denials: stream changes until interrupted")
	cmd.Flags().DurationVar(&since, "since", 0, "with denials: only flows seen in this last while (0: all held)")
	return cmd
}

// deviceJSON is a device as `get devices` shows it in every format: its
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
	PipelineCookie uint64           `json:"pipeline_cookie" yaml:"pipeline_cookie"`
	Entries        map[string]int64 `json:"entries" yaml:"entries"`
	LastError      string           `json:"last_error" yaml:"last_error"`
	PipelinePush   string           `json:"pipeline_push,omitempty" yaml:"pipeline_push,omitempty"`
	PushGapMs      int64            `json:"push_gap_ms,omitempty" yaml:"push_gap_ms,omitempty"`
	DenialLog      string           `json:"denial_log,omitempty" yaml:"denial_log,omitempty"`
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
			InSync: d.GetInSync(), PipelineCookie: d.GetPipelineCookie(), Entries: e, LastError: d.GetLastError(),
			PipelinePush: d.GetPipelinePush(), PushGapMs: d.GetPushGapMs(), DenialLog: d.GetDenialLog()}
		if dd := decl[d.GetName()]; dd != nil {
			j.DeviceID, j.Target, j.GNMI = dd.DeviceID, dd.Target, dd.GNMI
		}
		out = append(out, j)
	}
	return out
}

func printYAML(w io.Writer, v any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return err
	}
	return enc.Close()
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func printDeviceTable(w io.Writer, ds []*p4ctlv1.DeviceStatus) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tADDRESS\tMASTER\tCONNECTED\tPRIMARY\tIN SYNC\tENTRIES\tPIPELINE PUSH\tDENIAL LOG\tLAST ERROR")
	for _, d := range ds {
		total := int64(0)
		for _, n := range d.GetEntries() {
			total += n
		}
		push := d.GetPipelinePush()
		switch {
		case push == "":
			push = "-"
		case d.GetPushGapMs() > 0:
			push = fmt.Sprintf("%s (%d ms gap)", push, d.GetPushGapMs())
		}
		dl := d.GetDenialLog()
		if dl == "" {
			dl = "-"
		}
		master := d.GetMaster()
		if master == "" {
			master = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%v\t%v\t%d\t%s\t%s\t%s\n", d.GetName(), d.GetAddress(), master, d.GetConnected(), d.GetPrimary(), d.GetInSync(), total, push, dl, d.GetLastError())
	}
	tw.Flush()
}

func objectsJSON(objs []policy.Object) []map[string]any {
	out := []map[string]any{}
	for _, o := range objs {
		out = append(out, map[string]any{"kind": o.Kind(), "name": strings.TrimPrefix(o.Ref(), o.Kind()+" "), "spec": o})
	}
	return out
}

func printObjectTable(w io.Writer, objs []policy.Object) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tDETAIL")
	for _, o := range objs {
		detail := ""
		switch x := o.(type) {
		case *policy.Device:
			detail = fmt.Sprintf("%s device_id=%d target=%s", x.Address, x.DeviceID, x.Target)
		case *policy.Segment:
			detail = fmt.Sprintf("id=%d default_allow=%v", x.ID, x.DefaultAllow)
		case *policy.Port:
			detail = fmt.Sprintf("segment=%s role=%s", x.Segment, x.Role)
		case *policy.Endpoint:
			var ls []string
			for _, k := range slices.Sorted(maps.Keys(x.Labels)) {
				ls = append(ls, k+"="+x.Labels[k])
			}
			detail = fmt.Sprintf("%s %v %s/%d %s", x.MAC, x.IPs, x.Device, x.Port, strings.Join(ls, ","))
		case *policy.Policy:
			detail = fmt.Sprintf("segment=%s priority=%d rules=%d", x.Segment, x.Priority, len(x.Rules))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", o.Kind(), strings.TrimPrefix(o.Ref(), o.Kind()+" "), detail)
	}
	tw.Flush()
}

func newDeleteCmd() *cobra.Command {
	var api apiClient
	cmd := &cobra.Command{
		Use:   "delete KIND NAME...",
		Short: "Delete objects from a running controller (all or none)",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, err := apiserver.KindOf(args[0])
			if err != nil {
				return unknownKind(args[0], "devices", "segments", "ports", "endpoints", "policies")
			}
			c, ctx, done, err := api.session(cmd, 60*time.Second)
			if err != nil {
				return err
			}
			defer done()
			req := &p4ctlv1.DeleteRequest{}
			for _, n := range args[1:] {
				req.Objects = append(req.Objects, &p4ctlv1.ObjectRef{Kind: kind, Name: n})
			}
			resp, err := c.Delete(ctx, req)
			if err != nil {
				return api.rpcErr(err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted %s (log index %d)\n", plural(int(resp.GetObjects()), "object"), resp.GetIndex())
			return nil
		},
	}
	api.flags(cmd.Flags())
	return cmd
}

func newClusterCmd() *cobra.Command {
	var (
		api    apiClient
		output string
	)
	cmd := &cobra.Command{Use: "cluster", Short: "Inspect and change the controller cluster"}
	st := &cobra.Command{
		Use:   "status",
		Short: "Raft state, leader and members",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := callAPI(cmd, &api, 10*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.ClusterStatusResponse, error) {
				return c.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
			})
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, resp)
			}
			fmt.Fprintf(w, "node %s: %s, term %d, applied %d/%d, leader %s\n", resp.GetNode(), resp.GetState(), resp.GetTerm(), resp.GetAppliedIndex(), resp.GetLastIndex(), resp.GetLeader())
			tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
			fmt.Fprintln(tw, "MEMBER\tRAFT\tAPI\tSUFFRAGE\tLEADER\tDEVICES\tSTATE")
			for _, m := range resp.GetMembers() {
				state := "up"
				if m.GetDown() {
					state = "down (its devices move)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%s\n", m.GetId(), m.GetRaftAddr(), m.GetApiAddr(), m.GetSuffrage(), m.GetLeader(), m.GetDevices(), state)
			}
			return tw.Flush()
		},
	}
	st.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	var raftAddr, apiAddr string
	join := &cobra.Command{
		Use:   "join ID --raft-addr ADDR [--api-addr ADDR]",
		Short: "Add a node (already running with serve) as a voting member",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := withTimeout(cmd, 30*time.Second)
			defer cancel()
			return joinCluster(ctx, api, &p4ctlv1.JoinRequest{Id: args[0], RaftAddr: raftAddr, ApiAddr: apiAddr})
		},
	}
	join.Flags().StringVar(&raftAddr, "raft-addr", "", "the node's raft address")
	join.Flags().StringVar(&apiAddr, "api-addr", "", "the node's API address")
	leave := &cobra.Command{
		Use:   "leave ID",
		Short: "Remove a member",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := api.session(cmd, 30*time.Second)
			if err != nil {
				return err
			}
			defer done()
			if _, err := c.Leave(ctx, &p4ctlv1.LeaveRequest{Id: args[0]}); err != nil {
				return api.rpcErr(err)
			}
			return nil
		},
	}
	api.flags(cmd.PersistentFlags())
	cmd.AddCommand(st, join, leave)
	return cmd
}

// unknownKind refuses a kind, listing the known ones and the nearest
// (within two edits) as a suggestion.
func unknownKind(kind string, known ...string) error {
	best, dist := "", 3
	for _, k := range known {
		if d := editDistance(strings.ToLower(kind), k); d < dist {
			best, dist = k, d
		}
	}
	msg := fmt.Sprintf("unknown kind %q (%s)", kind, strings.Join(known, ", "))
	if best != "" {
		msg += fmt.Sprintf("; did you mean %q?", best)
	}
	return errors.New(msg)
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
