// Command chaos parses the flags of a chaos test of a p4ctl cluster, runs
// it (internal/chaos) and prints its report; it exits 1 when the run
// fails and 2 when the flags are wrong.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/p4ctl/p4ctl/internal/chaos"
)

func main() {
	cfg := chaos.DefaultConfig()
	cfg.P4ctl = "bin/p4ctl"
	flag.StringVar(&cfg.P4ctl, "p4ctl", cfg.P4ctl, "the p4ctl binary the nodes and devices run")
	flag.DurationVar(&cfg.Duration, "duration", cfg.Duration, "how long writers and faults run")
	flag.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of every random choice (default: from the clock; printed)")
	flag.IntVar(&cfg.Writers, "writers", cfg.Writers, "goroutines applying endpoints")
	flag.DurationVar(&cfg.ApplyTimeout, "apply-timeout", cfg.ApplyTimeout, "timeout of each apply")
	flag.DurationVar(&cfg.WritePause, "write-pause", cfg.WritePause, "each writer's pause between applies")
	flag.DurationVar(&cfg.ConvergeTimeout, "converge-timeout", cfg.ConvergeTimeout, "how long to wait for convergence after the faults")
	flag.DurationVar(&cfg.MonitorInterval, "monitor-interval", cfg.MonitorInterval, "how often every device's entry count is read during the run (0: never)")
	flag.BoolVar(&cfg.AllowEntryRemovals, "allow-entry-removals", cfg.AllowEntryRemovals, "report device entries that went down and reconciles that deleted entries without failing")
	flag.StringVar(&cfg.WorkDir, "work-dir", cfg.WorkDir, "where to make the run's temporary directory (default: the system's)")
	flag.BoolVar(&cfg.KeepWorkDir, "keep", cfg.KeepWorkDir, "keep the run's directory (node data and logs) when it passes too")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "chaos: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	report, err := chaos.Run(ctx, cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	report.Print(os.Stdout)
	if !report.Passed() {
		stop()
		os.Exit(1)
	}
}
