//go:build swx

package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/swx"
)

// benchMain is `p4ctl-swx bench`: the same N exact policy entries
// (ingress.policy_port) inserted through the pipeline's own control API
// (entry lines read, added and committed in batches: the ceiling) and
// then, in the same process, through P4Runtime (p4ctl's bulk writer, over
// loopback TCP, into p4ctl-swx's server), then read back, with and
// without their direct counters. No data ports: the CPU port only.
func benchMain(args []string) error {
	fs := flag.NewFlagSet("p4ctl-swx bench", flag.ContinueOnError)
	var df dpFlags
	df.register(fs)
	n := fs.Int("entries", 100000, "entries to insert")
	batch := fs.Int("batch", 1000, "entries per commit (control API) and per WriteRequest (P4Runtime)")
	inflight := fs.Int("inflight", 2, "Write RPCs in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	p, err := pipeline.Embedded("dpdk")
	if err != nil {
		return err
	}
	prog, err := swx.Parse(p.Info, p.DeviceConfig)
	if err != nil {
		return err
	}
	info, _ := p.Info.Table("ingress.policy_port")
	tb, _ := prog.Table(info.ID)
	entries := make([]*p4v1.TableEntry, *n)
	lines := make([]string, *n)
	U := pipeline.Uint
	for i := range entries {
		e, err := p.Info.NewEntry("ingress.policy_port").Exact("src_identity", U(uint64(1+i%1000))).Exact("dst_identity", U(uint64(1+(i/1000)%1000))).
			Exact("ip_proto", U(6)).Exact("l4_dst_port", U(uint64(80+i/1000000))).Action("policy_port_allow", pipeline.P("rank", U(100))).Build()
		if err != nil {
			return err
		}
		entries[i] = e
		if lines[i], err = tb.Line(e, nil); err != nil {
			return err
		}
	}
	dp, err := df.open(nil)
	if err != nil {
		return err
	}
	defer dp.Close()

	// 1. The control API alone.
	t0 := time.Now()
	pl, err := dp.Build(prog.Spec)
	if err != nil {
		return err
	}
	if err := dp.Run(pl); err != nil {
		return err
	}
	build := time.Since(t0)
	var stage, commit time.Duration
	for lo := 0; lo < *n; lo += *batch {
		hi := min(lo+*batch, *n)
		t := time.Now()
		for _, l := range lines[lo:hi] {
			if err := pl.Stage(tb.Name, l, swx.OpAdd); err != nil {
				return err
			}
		}
		c := time.Now()
		stage += c.Sub(t)
		if err := pl.Commit(); err != nil {
			return fmt.Errorf("control API commit at %d: %v", lo, err)
		}
		commit += time.Since(c)
	}
	ctl := stage + commit

	// 2. P4Runtime, into a new pipeline of the same spec.
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := p4rtsim.New(p4rtsim.Options{DeviceID: 1, NoReconcile: true, Backend: swx.NewBackend(dp, nil)})
	go func() { _ = srv.Serve(ctx, lis) }()
	sess, err := p4rt.Open(ctx, lis.Addr().String(), p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1},
		DialOptions: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}})
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := sess.SetPipeline(ctx, p); err != nil {
		return err
	}
	set := p4rt.NewEntrySet(*n)
	for _, e := range entries {
		if err := set.Add(e); err != nil {
			return err
		}
	}
	t0 = time.Now()
	if err := sess.WriteSet(ctx, set, p4v1.Update_INSERT, p4rt.BulkOptions{BatchSize: *batch, InFlight: *inflight}); err != nil {
		return fmt.Errorf("P4Runtime insert: %v", err)
	}
	p4w := time.Since(t0)
	t0 = time.Now()
	read := 0
	if err := sess.ReadKeys(ctx, []uint32{info.ID}, func(_, _ []byte) error { read++; return nil }); err != nil {
		return err
	}
	rd := time.Since(t0)
	t0 = time.Now()
	counted := 0
	if err := sess.ReadCounters(ctx, []uint32{info.ID}, func(_ []byte, _, _ int64) error { counted++; return nil }); err != nil {
		return err
	}
	rc := time.Since(t0)

	rate := func(k int, d time.Duration) string { return fmt.Sprintf("%.0f/s", float64(k)/d.Seconds()) }
	fmt.Printf("p4ctl-swx bench: %d ingress.policy_port entries, batches of %d, %s, %d CPUs (%s)\n", *n, *batch, runtime.Version(), runtime.NumCPU(), cpuModel())
	fmt.Printf("%-44s %10s %12s\n", "path", "time", "rate")
	fmt.Printf("%-44s %10s %12s\n", "pipeline build (codegen, gcc, load)", build.Round(time.Millisecond), "")
	fmt.Printf("%-44s %10s %12s\n", "control API: entry lines read + added", stage.Round(time.Millisecond), rate(*n, stage))
	fmt.Printf("%-44s %10s %12s\n", "control API: commits", commit.Round(time.Millisecond), "")
	fmt.Printf("%-44s %10s %12s\n", "control API total (the ceiling)", ctl.Round(time.Millisecond), rate(*n, ctl))
	fmt.Printf("%-44s %10s %12s\n", "P4Runtime insert (bulk, "+fmt.Sprint(*inflight)+" in flight)", p4w.Round(time.Millisecond), rate(*n, p4w))
	fmt.Printf("%-44s %10s %12.2f\n", "P4Runtime / control API", "", ctl.Seconds()/p4w.Seconds())
	fmt.Printf("%-44s %10s %12s\n", fmt.Sprintf("P4Runtime read (%d entries)", read), rd.Round(time.Millisecond), rate(read, rd))
	fmt.Printf("%-44s %10s %12s\n", fmt.Sprintf("P4Runtime read with counters (%d)", counted), rc.Round(time.Millisecond), rate(counted, rc))
	return nil
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			if _, v, ok := strings.Cut(l, ":"); ok {
				return strings.TrimSpace(v)
			}
		}
	}
	return "unknown CPU"
}
