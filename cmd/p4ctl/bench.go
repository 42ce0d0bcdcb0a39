package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/p4ctl/p4ctl/pkg/bench"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func newBenchCmd() *cobra.Command {
	var (
		target              string
		entries, batch, inf int
		batch1              int
		deviceID            uint64
		asJSON, force       bool
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure P4Runtime write, read and reconcile rates against a device or p4rtsim",
		Long: `bench fills the exact-match policy table of a device (ingress.policy_port)
with --entries identity-pair entries and reports, in one run: the protobuf
codec's own rate on the same WriteRequests (the reference limit), the write
rate, the read-back rate, the time of a no-op reconcile, the controller heap
per desired entry, the rate of the same batched writes into the simplest
exact table (ingress.l2: the device's ceiling) and the policy rate as a
share of it, and the rate of a naive client that sends one update per Write
RPC.

--target sim starts p4ctl's simulator as a separate process on loopback, so
the heap figure is the controller's alone. --target ADDR uses the device at
ADDR: its pipeline is replaced, which empties its tables. A device that
another client (a p4ctl controller, say) is primary of is refused, naming
the pipeline and the entries a run would erase, unless --force: a run then
takes mastership with an election id above the primary's. An address
where nothing takes a connection within 5 s is refused, naming it.

-o json prints one JSON object (--json, its old name, still does).`,
		Example: `  p4ctl bench --entries 100000
  p4ctl bench --target 127.0.0.1:9559 --entries 50000 -o json
  p4ctl bench fleet --devices 100 --light`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if entries <= 0 || batch <= 0 || inf <= 0 || batch1 < 0 {
				return fmt.Errorf("--entries, --batch and --inflight must be positive, --batch1 not negative")
			}
			if asJSON {
				if cmd.Flags().Changed("output") && output(cmd).Format() != FormatJSON {
					return fmt.Errorf("--json and -o %s disagree: give -o json alone", output(cmd).Format())
				}
				_ = output(cmd).Set(string(FormatJSON))
			}
			asJSON = output(cmd).Format() == FormatJSON
			ctx := cmd.Context()
			p, err := pipeline.Embedded("bmv2")
			if err != nil {
				return err
			}
			tbl, _ := p.Info.Table(bench.Table)
			addr := target
			if target == "sim" {
				a, stop, err := startSimProcess(entries + batch1)
				if err != nil {
					return err
				}
				defer stop()
				addr = a
			} else if int64(entries+batch1) > tbl.Size {
				return fmt.Errorf("%d entries (+%d batch-1) do not fit %s (size %d on the device)", entries, batch1, bench.Table, tbl.Size)
			} else if err := reachable(ctx, target, benchDialTimeout); err != nil {
				return err
			}
			cfg := bench.Config{Target: target, Addr: addr, DeviceID: deviceID, Pipeline: p,
				Entries: entries, Batch: batch, InFlight: inf, Batch1Sample: batch1, Force: force}
			stderr := cmd.ErrOrStderr()
			if f, ok := stderr.(*os.File); ok && !asJSON && term.IsTerminal(int(f.Fd())) {
				cfg.Progress = progressBar(stderr)
			}
			ctx, cancel := context.WithTimeout(ctx, 30*time.Minute)
			defer cancel()
			r, err := bench.Run(ctx, cfg)
			if cfg.Progress != nil {
				fmt.Fprint(stderr, "\r\033[K")
			}
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), r)
			}
			printBench(cmd.OutOrStdout(), r)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&target, "target", "sim", "sim (p4rtsim in a child process) or a P4Runtime address")
	f.IntVar(&entries, "entries", 1_000_000, "entries to write, read and reconcile")
	f.IntVar(&batch, "batch", 1000, "updates per Write RPC")
	f.IntVar(&inf, "inflight", 4, "Write RPCs in flight")
	f.IntVar(&batch1, "batch1", 1000, "entries also written one per RPC, for the naive rate (0: skip)")
	f.Uint64Var(&deviceID, "device-id", 1, "P4Runtime device id")
	f.BoolVar(&asJSON, "json", false, "print one JSON object")
	_ = f.MarkDeprecated("json", "use -o json")
	addOutput(cmd, FormatTable, FormatJSON)
	f.BoolVar(&force, "force", false, "run on a device another client (a controller) is primary of: takes mastership from it, replaces its pipeline and erases its entries")
	_ = cmd.RegisterFlagCompletionFunc("target", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"sim\tp4rtsim in a child process"}, cobra.ShellCompDirectiveNoFileComp
	})
	cmd.AddCommand(newBenchFleetCmd())
	return cmd
}

// benchDialTimeout is how long bench waits for a --target address to
// take a connection.
const benchDialTimeout = 5 * time.Second

// reachable checks that something takes TCP connections at addr within
// timeout, so that a run against a wrong address fails naming it rather
// than waiting on a P4Runtime session that never opens.
func reachable(ctx context.Context, addr string, timeout time.Duration) error {
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("--target %s: nothing answers there within %s: %w", addr, timeout, err)
	}
	return c.Close()
}

// startSimProcess runs `p4ctl sim` as a child on a free loopback port and
// returns its address.
func startSimProcess(tableSize int) (string, func(), error) {
	exe, err := os.Executable()
	if err != nil {
		return "", nil, err
	}
	c := exec.Command(exe, "sim", "--listen", "127.0.0.1:0", "--table-size", strconv.Itoa(tableSize))
	out, err := c.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	c.Stderr = io.Discard
	if err := c.Start(); err != nil {
		return "", nil, err
	}
	stop := func() {
		_ = c.Process.Signal(os.Interrupt)
		_ = c.Wait()
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		stop()
		return "", nil, fmt.Errorf("p4ctl sim did not start: %w", err)
	}
	// "p4rtsim listening on ADDR (device id N)"
	fields := strings.Fields(line)
	if len(fields) < 4 || fields[1] != "listening" {
		stop()
		return "", nil, fmt.Errorf("unexpected p4ctl sim output %q", line)
	}
	return fields[3], stop, nil
}

func progressBar(w io.Writer) func(phase string, done, total int) {
	last := time.Time{}
	return func(phase string, done, total int) {
		if time.Since(last) < 100*time.Millisecond && done < total {
			return
		}
		last = time.Now()
		const width = 30
		n := 0
		if total > 0 {
			n = done * width / total
		}
		fmt.Fprintf(w, "\r\033[K%-10s [%s%s] %d/%d", phase, strings.Repeat("#", n), strings.Repeat(".", width-n), done, total)
	}
}

func printBench(w io.Writer, r bench.Result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	ratio := func(v float64) string { return fmt.Sprintf("%.2f x codec", v/r.ProtoLimitEntriesPerS) }
	fmt.Fprintf(w, "target %s: %d entries of %s, batch %d, %d in flight, %.1f wire bytes/entry\n",
		r.Target, r.Entries, bench.Table, r.Batch, r.InFlight, r.WireBytesPerEntry)
	fmt.Fprintf(tw, "codec limit (marshal+unmarshal)\t%.0f entries/s\t\t\n", r.ProtoLimitEntriesPerS)
	fmt.Fprintf(tw, "write\t%.0f entries/s\t%s\t\n", r.WriteEntriesPerS, ratio(r.WriteEntriesPerS))
	fmt.Fprintf(tw, "read\t%.0f entries/s\t%s\t\n", r.ReadEntriesPerS, ratio(r.ReadEntriesPerS))
	fmt.Fprintf(tw, "no-op reconcile\t%.3f s\t\t\n", r.ReconcileNoopS)
	if r.CeilingEntries > 0 {
		fmt.Fprintf(tw, "ceiling: %s (%d entries)\t%.0f entries/s\tpolicy write at %.2f x ceiling\t\n",
			bench.CeilingTable, r.CeilingEntries, r.CeilingEntriesPerS, r.WriteOfCeiling)
	}
	fmt.Fprintf(tw, "controller heap\t%.0f bytes/entry\t\t\n", r.HeapBytesPerEntry)
	if r.Batch1Entries > 0 {
		fmt.Fprintf(tw, "one update per RPC (%d entries)\t%.0f entries/s\t%.1fx slower than batched\t\n",
			r.Batch1Entries, r.Batch1EntriesPerS, r.WriteEntriesPerS/r.Batch1EntriesPerS)
	}
	tw.Flush()
}
