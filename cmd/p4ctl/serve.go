package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/apiserver"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

const defaultAPIAddr = "127.0.0.1:9600"

func newServeCmd() *cobra.Command {
	var (
		config, nodeID, dataDir, apiAddr, raftAddr, join, logLevel string
		bootstrap                                                  bool
		applyFiles, sims                                           []string
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
			return serve(ctx, log, serveConfig{nodeID: nodeID, dataDir: dataDir, apiAddr: apiAddr, raftAddr: raftAddr,
				bootstrap: bootstrap, join: join, apply: applyFiles, sims: sims}, cmd)
		},
	}
	f := cmd.Flags()
	f.StringVar(&config, "config", "", "YAML file of these flags (key: value; flags given on the command line win)")
	host, _ := os.Hostname()
	f.StringVar(&nodeID, "node-id", host, "this node's id in the cluster (keep it across restarts)")
	f.StringVar(&dataDir, "data-dir", "p4ctl-data", "raft log, stable store and snapshots")
	f.StringVar(&apiAddr, "api-addr", defaultAPIAddr, "northbound gRPC API address")
	f.StringVar(&raftAddr, "raft-addr", "127.0.0.1:9601", "raft address")
	f.BoolVar(&bootstrap, "bootstrap", false, "start a new cluster with this node (ignored when --data-dir has state)")
	f.StringVar(&join, "join", "", "API address of a cluster member to join through")
	f.StringSliceVar(&applyFiles, "apply", nil, "policy file to apply once this node leads (repeatable)")
	f.StringSliceVar(&sims, "sim", nil, "serve a simulated P4Runtime device (p4rtsim, device id 1) at this address (repeatable)")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
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
	nodeID, dataDir, apiAddr, raftAddr, join string
	bootstrap                                bool
	apply, sims                              []string
}

func serve(ctx context.Context, log *slog.Logger, sc serveConfig, cmd *cobra.Command) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 4)
	for _, addr := range sc.sims {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--sim %s: %w", addr, err)
		}
		sim := p4rtsim.New(p4rtsim.Options{DeviceID: 1, Logger: log.With("sim", addr)})
		go func() { errc <- sim.Serve(ctx, lis) }()
		log.Info("simulated device serving", "addr", lis.Addr())
	}
	node, err := cluster.Start(cluster.Config{ID: sc.nodeID, RaftAddr: sc.raftAddr, DataDir: sc.dataDir, Bootstrap: sc.bootstrap, Logger: log})
	if err != nil {
		return err
	}
	defer node.Close()
	ctl := controller.New(controller.Config{Node: node, Targets: pipeline.Embedded, Logger: log})
	ctlDone := make(chan struct{})
	go func() {
		defer close(ctlDone)
		ctl.Run(ctx)
	}()
	defer func() { cancel(); <-ctlDone }()

	lis, err := net.Listen("tcp", sc.apiAddr)
	if err != nil {
		return fmt.Errorf("--api-addr %s: %w", sc.apiAddr, err)
	}
	api := apiserver.New(node, ctl)
	go func() { errc <- api.Serve(ctx, lis) }()
	log.Info("p4ctl node serving", "node", sc.nodeID, "api", lis.Addr(), "raft", node.RaftAddr(), "data_dir", sc.dataDir)

	// Publish this node's API address whenever it leads.
	events, unsub := ctl.Subscribe()
	defer unsub()
	publish := func() {
		if node.IsLeader() && node.APIAddr(sc.nodeID) != lis.Addr().String() {
			c, done := context.WithTimeout(ctx, 10*time.Second)
			defer done()
			if err := node.SetAPIAddr(c, sc.nodeID, lis.Addr().String()); err != nil {
				log.Warn("publish API address", "err", err)
			}
		}
	}
	if sc.join != "" {
		if err := joinCluster(ctx, sc.join, &p4ctlv1.JoinRequest{Id: sc.nodeID, RaftAddr: node.RaftAddr(), ApiAddr: lis.Addr().String()}); err != nil {
			return err
		}
	}
	applied := len(sc.apply) == 0
	tryApply := func() {
		if applied || !node.IsLeader() {
			return
		}
		applied = true
		for _, f := range sc.apply {
			b, err := os.ReadFile(f)
			if err != nil {
				log.Error("apply", "file", f, "err", err)
				continue
			}
			c, done := context.WithTimeout(ctx, 60*time.Second)
			res, err := ctl.Apply(c, f, b)
			done()
			if err != nil {
				log.Error("apply", "file", f, "err", err)
				continue
			}
			log.Info("applied", "file", f, "objects", res.Objects, "index", res.Index)
		}
		go printStatus(ctx, cmd, node, ctl)
	}
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			log.Info("shutting down")
			return nil
		case err := <-errc:
			if err != nil && ctx.Err() == nil {
				return err
			}
		case <-events:
			publish()
			tryApply()
		case <-tick.C:
			publish()
			tryApply()
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

func joinCluster(ctx context.Context, addr string, req *p4ctlv1.JoinRequest) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return fmt.Errorf("--join %s: %w", addr, err)
	}
	defer conn.Close()
	c, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := p4ctlv1.NewControllerClient(conn).Join(c, req); err != nil {
		return fmt.Errorf("--join %s: %w", addr, err)
	}
	return nil
}
