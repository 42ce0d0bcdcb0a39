package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
)

// newBenchFleetCmd is `p4ctl bench fleet`; the bench command adds it.
func newBenchFleetCmd() *cobra.Command {
	var (
		cfg                fleet.RunConfig
		printWorld         bool
		simAddr, output    string
		controller, simBin string
	)
	cmd := &cobra.Command{
		Use:   "fleet --devices N [--nodes 1|3] [--light] [--change] [--idle D] [--kill leader|follower] [-o table|json] | fleet --print-world --devices N [--light]",
		Short: "Measure the controller over a fleet of simulated hypervisor switches",
		Long: `fleet generates a world of N devices, one virtual switch per hypervisor:
48 VMs on ports 1-48 of each (8 with --light) in 4 segments shared by the
fleet (default deny), labelled with app and tier, and per segment
tier-to-tier policies (web to app, app to db) allowing TCP on 16 ports;
a device of the full world holds about 38,000 entries (from 10 devices
on; the destination identity tables grow by 96 entries per device).
--print-world writes it to standard output, every device at --sim-addr
with device ids 1..N.

Without --print-world it runs the benchmark on loopback: the simulator
(one 'sim --devices N' process where --sim-binary's sim has --devices,
else one 'sim --device-id i' process per device), --nodes serve processes
as one cluster, the world applied through 'apply'; then it polls 'get
devices' until every device is in sync with exactly the entries 'apply
--dry-run' predicts. It prints the time from the apply until then, each
node's peak RSS (VmHWM) and CPU time (utime+stime) with both per installed
entry, and the nodes' TCP connections to the simulator (P4Runtime
sessions). --change then applies a policy change (a port added to every
web-to-app policy: new entries on every device, none removed) and
measures it the same way, with each node's CPU per changed entry; --idle D
then leaves the cluster alone for D and gives each node's CPU over it (in
cores: what counter polls and heartbeats cost at rest); --kill comes last.
--controller-binary runs the nodes and the client commands
(serve, apply, get devices, cluster status) from another build, an older
commit's say, while the simulator comes from --sim-binary. Temporary data
directories and logs are removed at the end.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if printWorld {
				doc, err := fleet.World(fleet.Config{Devices: cfg.Devices, Light: cfg.Light, Seed: cfg.Seed, Apps: cfg.Apps,
					Device: fleet.SharedAddress(simAddr)})
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(doc)
				return err
			}
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown output format %q (table or json)", output)
			}
			self, err := os.Executable()
			if err != nil {
				return err
			}
			cfg.ControllerBinary, cfg.SimBinary = self, self
			if controller != "" {
				cfg.ControllerBinary = controller
			}
			if simBin != "" {
				cfg.SimBinary = simBin
			}
			cfg.Log = cmd.ErrOrStderr()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			res, err := fleet.Run(ctx, cfg)
			if err != nil {
				return err
			}
			if output == "json" {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(res)
			}
			printFleet(cmd.OutOrStdout(), res)
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&cfg.Devices, "devices", 10, "devices in the fleet")
	f.IntVar(&cfg.Nodes, "nodes", 1, "controller nodes: 1 or 3")
	f.BoolVar(&cfg.Light, "light", false, "the light world: 8 VMs per device instead of 48")
	f.Uint64Var(&cfg.Seed, "seed", 1, "orders the apps over the VMs")
	f.IntVar(&cfg.Apps, "apps", 0, fmt.Sprintf("apps per segment (0: %d)", fleet.AppsPerSegment))
	f.BoolVar(&printWorld, "print-world", false, "write the world's YAML to standard output and exit")
	f.StringVar(&simAddr, "sim-addr", fleet.DefaultSimAddr, "with --print-world: the address of every device")
	f.StringVar(&controller, "controller-binary", "", "p4ctl binary of the nodes and the client commands (default: this one)")
	f.StringVar(&simBin, "sim-binary", "", "p4ctl binary of the simulator (default: this one)")
	f.StringVar(&cfg.SimMode, "sim-mode", fleet.SimAuto, "auto, fleet (one 'sim --devices N') or processes (one sim per device)")
	f.StringArrayVar(&cfg.ServeArgs, "serve-arg", nil, "argument added to every node's serve command (repeatable), e.g. --serve-arg=--policy-counter-interval=-1s")
	f.DurationVar(&cfg.Timeout, "timeout", 10*time.Minute, "how long the devices may take from the apply until they hold the world")
	f.StringVar(&cfg.Kill, "kill", "", "with --nodes 3: once converged, SIGKILL the leader or a follower and measure until the surviving nodes have every device in sync again")
	f.BoolVar(&cfg.Change, "change", false, "once converged, apply a policy change and measure it")
	f.DurationVar(&cfg.Idle, "idle", 0, "once converged (and changed), stay idle this long and measure each node's CPU")
	f.StringVarP(&output, "output", "o", "table", "table or json")
	return cmd
}

// printFleet prints a run's figures.
func printFleet(w io.Writer, r *fleet.Result) {
	mib := func(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }
	plural := func(n int, one, more string) string {
		if n == 1 {
			return fmt.Sprintf("%d %s", n, one)
		}
		return fmt.Sprintf("%d %s", n, more)
	}
	fmt.Fprintf(w, "fleet: %s (%s world, %d VMs each), %s, simulator: %s (%s)\n", plural(r.Devices, "device", "devices"), r.World, r.VMs,
		plural(r.Nodes, "node", "nodes"), r.SimMode, plural(r.Sim.Processes, "process", "processes"))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "entries\t%d (%d to %d per device)\n", r.Entries, r.MinDeviceEntries, r.MaxDeviceEntries)
	fmt.Fprintf(tw, "apply committed\t%.2f s\n", r.CommitSeconds)
	fmt.Fprintf(tw, "apply to converged\t%.2f s (%.0f entries/s)\n", r.ConvergedSeconds, float64(r.Entries)/r.ConvergedSeconds)
	fmt.Fprintf(tw, "P4Runtime sessions\t%d (TCP connections from the nodes to the simulator)\n", r.Sessions)
	fmt.Fprintf(tw, "simulator\t%s peak RSS, %.1f s CPU (summed over its processes)\n", mib(r.Sim.PeakRSSBytes), r.Sim.CPUSeconds)
	tw.Flush()
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "NODE\tLEADER\tPEAK RSS\tCPU S\tAPPLY CPU S\tRSS B/ENTRY\tCPU µS/ENTRY\tSESSIONS\t")
	for _, n := range r.NodeResults {
		leader := "no"
		if n.Leader {
			leader = "yes"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.1f\t%.1f\t%.0f\t%.1f\t%d\t\n", n.ID, leader,
			mib(n.PeakRSSBytes), n.CPUSeconds, n.ApplyCPUSeconds, n.RSSBytesPerEntry, n.CPUMicrosPerEntry, n.Sessions)
	}
	tw.Flush()
	if c := r.Change; c != nil {
		fmt.Fprintf(w, "policy change: %d entries added, committed in %.2f s, every device holds them %.2f s after the apply; %.1f µs of CPU per changed entry over all nodes\n",
			c.Entries, c.CommitSeconds, c.ConvergedSeconds, c.CPUMicrosPerEntry)
		for _, n := range r.NodeResults {
			fmt.Fprintf(w, "  %s: %.2f s CPU, %.1f µs per changed entry\n", n.ID, n.ChangeCPUSeconds, n.ChangeCPUMicrosPerEntry)
		}
	}
	if r.IdleSeconds > 0 {
		fmt.Fprintf(w, "idle for %.0f s:", r.IdleSeconds)
		for _, n := range r.NodeResults {
			fmt.Fprintf(w, " %s %.3f cores", n.ID, n.IdleCores)
		}
		fmt.Fprintln(w)
	}
	if f := r.Failover; f != nil {
		written := "entries the survivors wrote: unknown (a node's metrics could not be read)"
		if f.Written >= 0 {
			written = fmt.Sprintf("%d entries written by the survivors meanwhile", f.Written)
		}
		fmt.Fprintf(w, "%s %s killed: every device primary and in sync again after %.2f s (%s leads); %s\n", f.Role, f.Killed, f.Seconds, f.Leader, written)
	}
}
