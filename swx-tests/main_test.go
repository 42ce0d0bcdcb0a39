package swxtests

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/internal/frametest"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// The scenario: the README example (examples/segmentation.yaml) on a
// device of target dpdk, compiled by pkg/policy as p4ctl would write it
// (no flood groups, an L2 entry per endpoint, port ranges as aligned
// blocks), written through the reconciler.
var env struct {
	skip     string
	bin      string
	workDir  string
	srv      *Server
	sess     *p4rt.Session
	pipe     *pipeline.Pipeline
	model    *policy.Model
	comp     *policy.Compiler
	entries  []*p4v1.TableEntry
	hosts    map[string]host
	election atomic.Uint64 // the High of the next session's election id: ids only grow
	stale    bool          // the conformance suite replaced the pipeline
	tokenSeq atomic.Uint64
}

const device = "leaf1"

// ports: the example's ports and port 7, which no policy configures.
var ports = []uint32{1, 2, 3, 4, 5, 6, 7, 8}

func TestMain(m *testing.M) {
	env.skip = Prerequisites()
	if env.skip != "" {
		// One line, and no test runs: each would only say it again.
		fmt.Printf("swx-tests: SKIPPING the DPDK tier: %s\n", env.skip)
		os.Exit(0)
	}
	start := time.Now()
	code, err := run(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "swx-tests: %v\n", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "swx-tests: DPDK tier took %s\n", time.Since(start).Round(time.Millisecond))
	os.Exit(code)
}

func run(m *testing.M) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir, err := os.MkdirTemp("", "p4ctl-swx-tests-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	if env.bin, err = Build(dir); err != nil {
		return 0, err
	}
	env.workDir = "/var/tmp/p4ctl-swx-tests" // compiled pipelines, kept between runs
	if env.pipe, err = pipeline.Embedded("dpdk"); err != nil {
		return 0, err
	}
	if err := compileExample(); err != nil {
		return 0, err
	}
	srv, err := Start(ctx, Config{Bin: env.bin, Ports: ports, WorkDir: env.workDir, Args: strings.Fields(os.Getenv("P4CTL_SWX_ARGS"))})
	if err != nil {
		return 0, err
	}
	defer srv.Stop()
	env.srv = srv
	env.election.Store(1 << 20) // below p4ctl's own (TestControllerProgramsSWX)
	if err := programScenario(ctx); err != nil {
		return 0, fmt.Errorf("program the scenario: %w\nserver log:\n%s", err, srv.LogTail(3000))
	}
	defer func() {
		if env.sess != nil {
			env.sess.Close()
		}
	}()
	code := m.Run()
	if code != 0 || os.Getenv("P4CTL_SWX_DUMP") != "" {
		// The pipeline's own counters, to see where frames went.
		_ = syscall.Kill(srv.Pid(), syscall.SIGUSR1)
		time.Sleep(300 * time.Millisecond)
		fmt.Fprintf(os.Stderr, "swx-tests: the pipeline's counters:\n%s\n", strings.Join(srv.LogLines("swx:"), "\n"))
	}
	return code, nil
}

// compileExample compiles the README example for a dpdk device.
func compileExample() error {
	src, err := os.ReadFile("../examples/segmentation.yaml")
	if err != nil {
		return err
	}
	text := strings.Replace(string(src), "target: bmv2", "target: dpdk", 1)
	m, c, err := frametest.Example(text)
	if err != nil {
		return err
	}
	entries, groups, err := c.DeviceEntries(device)
	if err != nil {
		return err
	}
	if len(groups) > 0 {
		return fmt.Errorf("the compiler wrote %d multicast groups for a dpdk device", len(groups))
	}
	env.model, env.comp, env.entries = m, c, entries
	env.hosts = map[string]host{}
	for _, h := range frametest.Hosts(m) {
		env.hosts[h.Name] = h
	}
	return nil
}

// programScenario opens a session with an election id above every one
// used before, pushes the pipeline and writes the compiled entries.
func programScenario(ctx context.Context) error {
	if env.sess != nil {
		env.sess.Close()
	}
	sess, err := env.srv.Open(ctx, p4rt.ElectionID{High: env.election.Add(1), Low: 1})
	if err != nil {
		return err
	}
	env.sess = sess
	if err := sess.SetPipeline(ctx, env.pipe); err != nil {
		return fmt.Errorf("push the dpdk pipeline: %w", err)
	}
	set := p4rt.NewEntrySet(len(env.entries))
	for _, e := range env.entries {
		if err := set.Add(e); err != nil {
			return err
		}
	}
	var tables []uint32
	for _, tb := range env.pipe.Info.Tables() {
		tables = append(tables, tb.ID)
	}
	if _, err := sess.ReconcileDevice(ctx, set, nil, p4rt.BulkOptions{BatchSize: 100, InFlight: 2}, tables...); err != nil {
		return fmt.Errorf("write the compiled example: %w", err)
	}
	plan, err := sess.ReconcileDevice(ctx, set, nil, p4rt.BulkOptions{}, tables...)
	if err != nil || !plan.Empty() {
		return fmt.Errorf("second reconcile: plan %v, err %v; want no writes", plan, err)
	}
	env.stale = false
	return nil
}

func requireDPDK(t *testing.T) {
	t.Helper()
	if env.skip != "" {
		t.Skip(env.skip)
	}
	if env.stale {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := programScenario(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

func token(t *testing.T) string {
	return fmt.Sprintf("p4ctl:swx:%d", env.tokenSeq.Add(1))
}

func send(t *testing.T, port uint32, frame []byte) {
	t.Helper()
	hp, ok := env.srv.Ports[port]
	if !ok {
		t.Fatalf("no port %d", port)
	}
	if err := hp.Send(frame); err != nil {
		t.Fatal(err)
	}
}

// A drop is an absence: once every expected copy is in, a case watches
// quietWindow more for copies that must not exist.
const quietWindow = 300 * time.Millisecond

// expectDelivery asserts that the frames carrying tok leave on exactly
// the ports want, once each.
func expectDelivery(t *testing.T, tok string, want ...uint32) {
	t.Helper()
	frametest.ExpectDelivery(t, env.srv.Frames(), tok, 5*time.Second, quietWindow, want...)
}
