package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/console"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

const defaultAPIAddr = "127.0.0.1:9600"

func newServeCmd() *cobra.Command {
	var (
		config, nodeID, dataDir, apiAddr, raftAddr, logLevel, metricsAddr string
		uiAddr                                                            string
		bootstrap, insecureListen, pprof, backupSessions                  bool
		applyFiles, sims                                                  []string
		roles                                                             [4][]string // viewer, operator, admin, member
		historyRetention, counterSeries, flowRecords, reconcileMiB        int
		counterInterval, memberDownAfter                                  time.Duration
		pipelineDirs, configFormats                                       map[string]string
		join                                                              apiClient
		apiTLS, deviceTLS                                                 tlsconf.Files
	)
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run a controller node: raft member, device sessions, northbound API",
		Long: `serve runs one p4ctl node. --bootstrap starts a new cluster with this node
as its only member; --join API_ADDR asks an existing member to add this one.
A node restarted on its --data-dir rejoins with its state. --sim ADDR serves
an in-process simulated device there (for trying p4ctl without switches), and
--apply FILE applies a policy file once this node leads.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if config != "" {
				if err := loadConfig(cmd.Flags(), config); err != nil {
					return err
				}
			}
			var level slog.Level
			if err := level.UnmarshalText([]byte(logLevel)); err != nil {
				return fmt.Errorf("--log-level: %w", err)
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// The node's own certificate serves the API and, as a client
			// certificate, authenticates it to the other members.
			join.tls.Cert, join.tls.Key = apiTLS.Cert, apiTLS.Key
			return serve(ctx, log, serveConfig{nodeID: nodeID, dataDir: dataDir, apiAddr: apiAddr, raftAddr: raftAddr,
				bootstrap: bootstrap, join: join, apply: applyFiles, sims: sims, metricsAddr: metricsAddr,
				apiTLS: apiTLS, deviceTLS: deviceTLS, roles: roles, insecureListen: insecureListen, pprof: pprof, historyRetention: historyRetention,
				pipelineDirs: pipelineDirs, configFormats: configFormats, counterInterval: counterInterval, counterSeries: counterSeries,
				flowRecords: flowRecords, memberDownAfter: memberDownAfter, backupSessions: backupSessions, uiAddr: uiAddr,
				reconcileMiB: reconcileMiB}, cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "YAML file of these flags (key: value; flags given on the command line win)")
	f.StringVar(&nodeID, "node-id", "", "this node's id in the cluster (default: the one stored in --data-dir, else generated once and stored there)")
	f.StringVar(&dataDir, "data-dir", "p4ctl-data", "raft log, stable store and snapshots")
	f.StringVar(&apiAddr, "api-addr", defaultAPIAddr, "northbound gRPC API address")
	f.StringVar(&raftAddr, "raft-addr", "127.0.0.1:9601", "raft address")
	f.BoolVar(&bootstrap, "bootstrap", false, "start a new cluster with this node (ignored when --data-dir has state)")
	f.StringVar(&join.server, "join", "", "API address of a cluster member to join through")
	f.StringVar(&metricsAddr, "metrics-addr", "127.0.0.1:9602", "address of the Prometheus /metrics endpoint (empty: none); over TLS with a viewer's client certificate when the node has TLS")
	f.StringVar(&uiAddr, "ui-addr", "", "address of the read-only web console (empty: none; docs/console.md); over TLS with a viewer's client certificate when the node has TLS")
	f.BoolVar(&pprof, "pprof", false, "serve Go's profiler at /debug/pprof/ on --metrics-addr (admin role with TLS)")
	f.StringVar(&apiTLS.Cert, "tls-cert", "", "certificate (PEM) the API serves; turns TLS on for the API")
	f.StringVar(&apiTLS.Key, "tls-key", "", "key (PEM) of --tls-cert")
	f.StringVar(&apiTLS.CA, "tls-client-ca", "", "CA bundle (PEM): API clients must present a certificate it verifies (mutual TLS)")
	f.StringVar(&join.tls.CA, "tls-ca", "", "the cluster CA (PEM): verifies other members' certificates, on raft and on their API (join, forwarding to the leader)")
	tlsClientFlags(f, "device-tls-", "the devices' P4Runtime servers", &deviceTLS)
	for i, r := range []string{"viewer", "operator", "admin"} {
		f.StringArrayVar(&roles[i], "role-"+r, nil, "client certificates with the "+r+" role: CN=name, DNS:name, URI:uri, EMAIL:address, IP:address or *; wildcards as in CN=ci-* (repeatable; needs --tls-client-ca)")
	}
	f.StringArrayVar(&roles[3], "role-member", nil, "certificates of cluster members (verified by --tls-ca), as --role-admin's patterns: only they speak raft and forward clients' calls (default: the --role-admin patterns)")
	f.BoolVar(&insecureListen, "insecure-listen", false, "serve the API, raft and metrics without TLS on addresses other than loopback")
	f.IntVar(&historyRetention, "history-retention", cluster.DefaultHistoryRetention, "revisions of the model to keep for history and rollback (-1: all)")
	f.StringSliceVar(&applyFiles, "apply", nil, "policy file to apply once this node leads (repeatable)")
	f.StringSliceVar(&sims, "sim", nil, "serve a simulated P4Runtime device (p4rtsim, device id 1) at this address (repeatable)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.DurationVar(&counterInterval, "policy-counter-interval", time.Minute, "how often each device's master reads its policy hit counters, for the metrics (negative: only on demand)")
	f.IntVar(&flowRecords, "flow-log-records", controller.DefaultMaxFlowRecords, "flow records this node keeps in its flow log, the least recently seen evicted first")
	f.IntVar(&counterSeries, "policy-counter-series", 1000, "Prometheus series of policy counters, (device, policy) pairs, beyond which policies are summed as policy=\"_other\"")
	f.DurationVar(&memberDownAfter, "member-down-after", controller.DefaultMemberDownAfter, "how long a member may fail raft's heartbeats before the leader gives its devices to the other members (and how long a member cut off from the leader keeps writing): above raft's 1s heartbeat timeout")
	f.IntVar(&reconcileMiB, "reconcile-memory-mib", controller.DefaultReconcileMemory>>20, "MiB that full reconciles in flight may hold together, about 100 bytes per entry of their devices: more devices then queue (0: no bound)")
	f.BoolVar(&backupSessions, "backup-sessions", false, "also hold a backup P4Runtime session to every device another member masters (a quicker takeover, at one session per device per member)")
	f.StringToStringVar(&pipelineDirs, "pipeline-dir", nil, "TARGET=DIR: the pipeline for a target's devices from a compiler's output (bf-p4c or p4c-dpdk, laid out as in docs/targets.md) instead of the embedded build (repeatable)")
	f.StringToStringVar(&configFormats, "config-format", nil, "TARGET=FORMAT: the device config format of a target (tofino: bfrt or legacy; docs/targets.md) (repeatable)")
	return cmd
}

// loadConfig sets every flag the file names that the command line did
// not.
func loadConfig(fs *pflag.FlagSet, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	var kv map[string]any
	if err := yaml.Unmarshal(b, &kv); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	for k, v := range kv {
		f := fs.Lookup(k)
		if f == nil || k == "config" {
			return fmt.Errorf("%s: unknown setting %q", file, k)
		}
		if f.Changed {
			continue
		}
		vals := []any{v}
		if l, ok := v.([]any); ok {
			vals = l
		}
		for _, x := range vals {
			if err := fs.Set(k, fmt.Sprint(x)); err != nil {
				return fmt.Errorf("%s: %s: %w", file, k, err)
			}
		}
	}
	return nil
}

type serveConfig struct {
	nodeID, dataDir, apiAddr, raftAddr, metricsAddr string
	bootstrap                                       bool
	apply, sims                                     []string
	// join is the member to join through; its TLS settings are also how
	// this node reaches the leader to forward writes.
	join              apiClient
	apiTLS, deviceTLS tlsconf.Files
	// Per target: a compiler's output directory and a device config
	// format, for the pipeline resolver.
	pipelineDirs, configFormats map[string]string
	roles                       [4][]string // certificate patterns of viewer, operator, admin, member
	insecureListen, pprof       bool
	historyRetention            int
	reconcileMiB                int // --reconcile-memory-mib; 0: no bound
	// Policy hit counters: the leader's read interval, the series cap.
	counterInterval time.Duration
	counterSeries   int
	// The flow log's cap, in records.
	flowRecords int
	// Mastership: the grace before a silent member's devices move, and
	// whether to hold backup sessions.
	memberDownAfter time.Duration
	backupSessions  bool
	// uiAddr is the web console's address (empty: none).
	uiAddr string
}

// peerDial are the gRPC options for reaching another member's API.
func (sc serveConfig) peerDial() ([]grpc.DialOption, error) {
	peer := sc.join.tls
	if sc.apiTLS.Cert != "" && !peer.Enabled() {
		return nil, errors.New("--tls-cert: members reach each other's API over TLS too; give --tls-ca (the CA of their certificates)")
	}
	return dialOptions(peer)
}

func serve(ctx context.Context, log *slog.Logger, sc serveConfig, cmd *cobra.Command) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Every goroutine serve starts runs through tasks: the first error
	// stops the node, later ones are dropped (never block a sender), and
	// all are waited for before the raft node closes.
	tasks := newTasks()
	if sc.memberDownAfter == 0 {
		sc.memberDownAfter = controller.DefaultMemberDownAfter
	}
	if sc.flowRecords < 1 {
		return fmt.Errorf("--flow-log-records %d: must be at least 1", sc.flowRecords)
	}
	if sc.memberDownAfter <= time.Second {
		return fmt.Errorf("--member-down-after %s: must be above raft's heartbeat timeout (1s), or a member cut off from the leader could still be writing when its devices move", sc.memberDownAfter)
	}
	// Check every TLS setting before anything starts.
	sec, err := sc.security(log)
	if err != nil {
		return err
	}
	if err := console.CheckListen(sc.uiAddr, sc.apiTLS.Enabled(), sc.insecureListen); err != nil {
		return err
	}
	peerDial, err := sc.peerDial()
	if err != nil {
		return err
	}
	var deviceTLS *tls.Config
	if sc.deviceTLS.Enabled() {
		if deviceTLS, err = sc.deviceTLS.Client(); err != nil {
			return fmt.Errorf("device TLS (--device-tls-*): %w", err)
		}
	}
	targets, err := pipeline.NewResolver(sc.pipelineDirs, sc.configFormats)
	if err != nil {
		return err
	}
	for _, addr := range sc.sims {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--sim %s: %w", addr, err)
		}
		sim := p4rtsim.New(p4rtsim.Options{DeviceID: 1, Logger: log.With("sim", addr)})
		tasks.run(func() error { return sim.Serve(ctx, lis) })
		log.Info("simulated device serving", "addr", lis.Addr())
	}
	if sc.nodeID, err = cluster.NodeID(sc.dataDir, sc.nodeID); err != nil {
		return err
	}
	if sc.reconcileMiB < 0 {
		return fmt.Errorf("--reconcile-memory-mib %d: give a size in MiB, or 0 for no bound", sc.reconcileMiB)
	}
	reconcileMemory := int64(sc.reconcileMiB) << 20
	if sc.reconcileMiB == 0 {
		reconcileMemory = -1 // the controller's "no bound"
	}
	if sc.historyRetention == 0 || sc.historyRetention < -1 {
		return fmt.Errorf("--history-retention %d: keep at least 1 revision, or -1 for all", sc.historyRetention)
	}
	node, err := cluster.Start(cluster.Config{ID: sc.nodeID, RaftAddr: sc.raftAddr, DataDir: sc.dataDir, Bootstrap: sc.bootstrap, Logger: log,
		HistoryRetention: sc.historyRetention, TLS: sec.raft, InsecureListen: sc.insecureListen, Refusals: sec.refusals})
	if err != nil {
		return err
	}
	defer node.Close()
	// Runs before node.Close: nothing that uses the node outlives it.
	defer func() { cancel(); tasks.wait() }()
	ctl := controller.New(controller.Config{Node: node, Targets: targets.Pipeline, Logger: log, DeviceTLS: deviceTLS,
		CounterReadInterval: sc.counterInterval, MaxCounterSeries: sc.counterSeries, MaxFlowRecords: sc.flowRecords, MemberDownAfter: sc.memberDownAfter, BackupSessions: sc.backupSessions,
		ReconcileMemory: reconcileMemory})
	if sc.metricsAddr != "" {
		reg := prometheus.NewRegistry()
		reg.MustRegister(node, ctl, sec, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
		addr, err := serveMetrics(ctx, sc.metricsAddr, reg, sec, sc.pprof, tasks)
		if err != nil {
			return err
		}
		scheme := "http://"
		if sec.metricsTLS != nil {
			scheme = "https://"
		}
		log.Info("metrics serving", "addr", scheme+addr+"/metrics", "pprof", sc.pprof)
	}
	tasks.run(func() error { ctl.Run(ctx); return nil })

	lis, err := net.Listen("tcp", sc.apiAddr)
	if err != nil {
		return fmt.Errorf("--api-addr %s: %w", sc.apiAddr, err)
	}
	api := apiserver.New(node, ctl, apiserver.Options{Forward: peerDial, Auth: sec.auth, Logger: log})
	tasks.run(func() error { return api.Serve(ctx, lis, sec.apiOpts...) })
	// Each member sees the switch links into the devices it masters; they
	// share them so that every member compiles the same fabric.
	tasks.run(func() error { api.ExchangeLinks(ctx, controller.DefaultProbeInterval, ctl.ProbeTTL()); return nil })
	if sc.uiAddr != "" {
		if err := serveConsole(ctx, log, sc, api, targets, sec, tasks); err != nil {
			return err
		}
	}
	log.Info("p4ctl node serving", "node", sc.nodeID, "api", lis.Addr(), "raft", node.RaftAddr(), "data_dir", sc.dataDir)

	if sc.join.server != "" {
		if err := checkJoinMode(sc.join); err != nil {
			return err
		}
		if err := joinCluster(ctx, sc.join, &p4ctlv1.JoinRequest{Id: sc.nodeID, RaftAddr: node.RaftAddr(), ApiAddr: lis.Addr().String()}); err != nil {
			return err
		}
	}
	duties := &controller.Duties{Node: node, Controller: ctl, NodeID: sc.nodeID, APIAddr: lis.Addr().String(),
		Apply: sc.apply, Logger: log, Applied: func() {
			if len(sc.apply) > 0 {
				tasks.run(func() error { printStatus(ctx, cmd, node, ctl); return nil })
			}
		}}
	tasks.run(func() error { return duties.Run(ctx) })
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case err := <-tasks.errc:
			if err != nil && ctx.Err() == nil {
				return err
			}
		}
	}
}

// printStatus prints the devices once they are in sync (or after 20s).
func printStatus(ctx context.Context, cmd *cobra.Command, node *cluster.Node, ctl *controller.Controller) {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		devs := ctl.Devices()
		committed, _ := node.Model()
		all := ctl.Model() == committed && len(devs) == len(committed.Devices)
		for _, d := range devs {
			all = all && d.InSync
		}
		if all {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintln(w, "devices:")
	printDeviceTable(w, apiserver.DeviceStatuses(ctl.Devices()))
}

// joinCluster asks the member at a.server to add the node req describes.
func joinCluster(ctx context.Context, a apiClient, req *p4ctlv1.JoinRequest) error {
	c, done, err := a.dial()
	if err != nil {
		return fmt.Errorf("join through %s: %w", a.server, err)
	}
	defer done()
	c2, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := c.Join(c2, req); err != nil {
		return fmt.Errorf("join: %w", a.rpcErr(err))
	}
	return nil
}

// serveMetrics serves reg's metrics at addr/metrics until ctx ends, and
// with pprof Go's profiler at /debug/pprof/; over TLS to viewers (the
// profiler to admins) when the node has TLS. It returns the address it
// listens on.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, sec *security, pprof bool, tasks *tasks) (string, error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("--metrics-addr %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", sec.auth.Handler("metrics", access.RoleViewer, promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	if pprof {
		pp := http.NewServeMux()
		pp.HandleFunc("/debug/pprof/", httppprof.Index)
		pp.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
		pp.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		pp.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		pp.HandleFunc("/debug/pprof/trace", httppprof.Trace)
		mux.Handle("/debug/pprof/", sec.auth.Handler("pprof", access.RoleAdmin, pp))
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, TLSConfig: sec.metricsTLS,
		ErrorLog: stdlog.New(io.Discard, "", 0)} // refused handshakes are logged by the authenticator
	tasks.run(func() error {
		<-ctx.Done()
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(c)
	})
	tasks.run(func() error {
		var err error
		if sec.metricsTLS != nil {
			err = srv.ServeTLS(lis, "", "")
		} else {
			err = srv.Serve(lis)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("metrics: %w", err)
		}
		return nil
	})
	return lis.Addr().String(), nil
}

// serveConsole serves the web console at sc.uiAddr: a client of this
// node's API, which it reaches in process (read-only), admitting viewers
// as the API does.
func serveConsole(ctx context.Context, log *slog.Logger, sc serveConfig, api *apiserver.Server, targets *pipeline.Resolver, sec *security, tasks *tasks) error {
	var cfg *tls.Config
	if sc.apiTLS.Enabled() {
		var err error
		if cfg, err = sc.apiTLS.ServerRequestingClientCerts(); err != nil {
			return fmt.Errorf("console TLS (--tls-*): %w", err)
		}
	}
	lis, err := net.Listen("tcp", sc.uiAddr)
	if err != nil {
		return fmt.Errorf("--ui-addr %s: %w", sc.uiAddr, err)
	}
	pipe := console.NewPipeListener()
	tasks.run(func() error { return api.Serve(ctx, pipe) })
	client, conn, err := console.DialInProcess(pipe)
	if err != nil {
		lis.Close()
		return err
	}
	ui := console.New(console.Options{API: client, Auth: sec.auth, Pipeline: targets.Pipeline, Logger: log})
	tasks.run(func() error { defer conn.Close(); return ui.Serve(ctx, lis, cfg) })
	scheme := "http://"
	if cfg != nil {
		scheme = "https://"
	}
	log.Info("console serving", "addr", scheme+lis.Addr().String()+"/")
	return nil
}

// tasks are the goroutines of a serving node: each runs through run, the
// first error among them is in errc, and wait returns when all ended.
type tasks struct {
	wg   sync.WaitGroup
	errc chan error // holds the first error; later ones are dropped
}

func newTasks() *tasks { return &tasks{errc: make(chan error, 1)} }

func (t *tasks) run(f func() error) {
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		if err := f(); err != nil {
			select {
			case t.errc <- err:
			default:
			}
		}
	}()
}

func (t *tasks) wait() { t.wg.Wait() }
