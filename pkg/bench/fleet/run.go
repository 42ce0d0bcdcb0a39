package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// Simulator modes: one process serving every device (device ids 1..N on
// one address), or one process per device.
const (
	SimAuto      = "auto"
	SimFleet     = "fleet"
	SimProcesses = "processes"
)

// RunConfig is one benchmark run.
type RunConfig struct {
	// Devices and Nodes are the fleet's size and the cluster's (1 or 3).
	Devices, Nodes int
	// Light, Seed and Apps choose the world (Config).
	Light bool
	Seed  uint64
	Apps  int
	// ControllerBinary runs the nodes (serve) and is the client that
	// applies and reads (apply, apply --dry-run, get devices, cluster
	// status); SimBinary runs the simulator (sim). They may be different
	// builds of p4ctl: only flags both have had are used.
	ControllerBinary, SimBinary string
	// SimMode is SimFleet (`sim --devices N`), SimProcesses (`sim
	// --device-id i` per device) or SimAuto (empty): fleet when
	// SimBinary's sim has --devices.
	SimMode string
	// ServeArgs are added to every node's serve arguments.
	ServeArgs []string
	// Timeout bounds the wait from the apply until every device holds
	// the world (0: 10 minutes); starting takes at most a minute more.
	Timeout time.Duration
	// Kill, with 3 nodes, kills a node (SIGKILL) once the fleet has
	// converged: KillLeader or KillFollower; then it measures the time
	// until the surviving nodes have every device in sync again. Empty:
	// none.
	Kill string
	// Change, once converged, applies the Changed world (a port added to
	// every web-to-app policy) and measures it: the entries it adds, the
	// time until every device holds them, each node's CPU over it.
	Change bool
	// Idle, when positive, then leaves the converged cluster alone that
	// long and measures each node's CPU over it: what counter polls and
	// heartbeats cost at rest.
	Idle time.Duration
	// Log, when set, gets a line per step.
	Log io.Writer
}

// NodeResult is one controller node's figures over the run (from its
// start until the fleet converged).
type NodeResult struct {
	ID     string `json:"id"`
	Leader bool   `json:"leader"`
	// PeakRSSBytes is VmHWM; CPUSeconds utime + stime over the run, and
	// ApplyCPUSeconds the part from the apply until convergence.
	PeakRSSBytes    int64   `json:"peak_rss_bytes"`
	CPUSeconds      float64 `json:"cpu_seconds"`
	ApplyCPUSeconds float64 `json:"apply_cpu_seconds"`
	// Per installed entry (of the whole fleet): peak RSS bytes, and CPU
	// microseconds over the run.
	RSSBytesPerEntry  float64 `json:"rss_bytes_per_entry"`
	CPUMicrosPerEntry float64 `json:"cpu_us_per_entry"`
	// Sessions are its established TCP connections to the simulator.
	Sessions int `json:"p4runtime_sessions"`
	// ChangeCPUSeconds is its CPU from the change's apply until the
	// fleet held it, and ChangeCPUMicrosPerEntry that per changed entry
	// (RunConfig.Change).
	ChangeCPUSeconds        float64 `json:"change_cpu_seconds,omitempty"`
	ChangeCPUMicrosPerEntry float64 `json:"change_cpu_us_per_entry,omitempty"`
	// IdleCores is its CPU seconds per second while idle (RunConfig.Idle).
	IdleCores float64 `json:"idle_cores,omitempty"`
}

// Change is the policy change's outcome.
type Change struct {
	// Entries is the entries the change adds over the fleet (it removes
	// none); CommitSeconds and ConvergedSeconds as for the first apply.
	Entries          int     `json:"entries"`
	CommitSeconds    float64 `json:"commit_seconds"`
	ConvergedSeconds float64 `json:"converged_seconds"`
	// CPUMicrosPerEntry is every node's CPU over the change, summed, per
	// changed entry.
	CPUMicrosPerEntry float64 `json:"cpu_us_per_entry"`
}

// SimResult is the simulator processes' figures, summed.
type SimResult struct {
	Processes    int     `json:"processes"`
	PeakRSSBytes int64   `json:"peak_rss_bytes"`
	CPUSeconds   float64 `json:"cpu_seconds"`
}

// Failover is the kill scenario's outcome.
type Failover struct {
	// Killed is the node killed, and Role what it was (leader or
	// follower); Leader leads after.
	Killed string `json:"killed"`
	Role   string `json:"role"`
	Leader string `json:"leader"`
	// Seconds is the time from the kill until the surviving nodes had
	// every device primary and in sync with its entries.
	Seconds float64 `json:"seconds"`
	// Written is the entries and groups the surviving nodes inserted,
	// modified or deleted from the kill until then
	// (p4ctl_device_changes_total): 0 where the devices the dead node
	// mastered were in sync, as the new masters find them. -1: a node's
	// metrics could not be read.
	Written int64 `json:"written"`
}

// Result is what a run measured.
type Result struct {
	Devices int    `json:"devices"`
	Nodes   int    `json:"nodes"`
	World   string `json:"world"` // "full" or "light"
	VMs     int    `json:"vms"`
	SimMode string `json:"sim_mode"`
	// Entries is every device's entries, as the controller's dry run
	// predicted and the devices hold; Min/MaxDeviceEntries their spread.
	Entries          int `json:"entries"`
	MinDeviceEntries int `json:"min_device_entries"`
	MaxDeviceEntries int `json:"max_device_entries"`
	// CommitSeconds is the apply's time until it returned (committed);
	// ConvergedSeconds until every device was seen in sync with exactly
	// the predicted entries (polled every PollInterval).
	CommitSeconds    float64      `json:"commit_seconds"`
	ConvergedSeconds float64      `json:"converged_seconds"`
	Sessions         int          `json:"p4runtime_sessions"`
	NodeResults      []NodeResult `json:"per_node"`
	Sim              SimResult    `json:"simulator"`
	Change           *Change      `json:"change,omitempty"`
	// IdleSeconds is how long the idle phase lasted (RunConfig.Idle).
	IdleSeconds float64   `json:"idle_seconds,omitempty"`
	Failover    *Failover `json:"failover,omitempty"`
}

// Kill scenarios.
const (
	KillLeader   = "leader"
	KillFollower = "follower"
)

// PollInterval is how often a run reads the devices' status.
const PollInterval = 250 * time.Millisecond

// startTimeout bounds each start: a simulator, a node, the cluster.
const startTimeout = time.Minute

// node is one controller process of a run.
type node struct {
	id, api, raft, dir string
	metrics            string // its /metrics address
	p                  *proc
	conn               *grpc.ClientConn
	client             p4ctlv1.ControllerClient
	applyCPU           float64 // CPU seconds when the apply started
	dead               bool    // killed by the run
}

// run is the state of one Run.
type run struct {
	cfg      RunConfig
	dir      string
	sims     []*proc
	simPorts map[int]bool
	nodes    []*node
	world    string // the world's file
}

func (r *run) logf(format string, args ...any) {
	if r.cfg.Log != nil {
		fmt.Fprintf(r.cfg.Log, "fleet: "+format+"\n", args...)
	}
}

// Run starts the simulator and the cluster on loopback, applies the
// world and waits until every device holds it, measures, and stops
// everything; its temporary directory is removed.
func Run(ctx context.Context, cfg RunConfig) (*Result, error) {
	switch {
	case cfg.Devices < 1:
		return nil, errors.New("fleet: at least one device")
	case cfg.Nodes != 1 && cfg.Nodes != 3:
		return nil, fmt.Errorf("fleet: %d nodes: 1 or 3", cfg.Nodes)
	case cfg.Kill != "" && cfg.Kill != KillLeader && cfg.Kill != KillFollower:
		return nil, fmt.Errorf("fleet: kill %q: %s or %s", cfg.Kill, KillLeader, KillFollower)
	case cfg.Kill != "" && cfg.Nodes != 3:
		return nil, errors.New("fleet: killing a node takes 3 nodes")
	case cfg.ControllerBinary == "" || cfg.SimBinary == "":
		return nil, errors.New("fleet: the controller and simulator binaries must be given")
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Minute
	}
	dir, err := os.MkdirTemp("", "p4ctl-fleet-")
	if err != nil {
		return nil, err
	}
	r := &run{cfg: cfg, dir: dir, simPorts: map[int]bool{}}
	defer func() {
		r.stop()
		os.RemoveAll(dir)
	}()
	mode, err := r.simMode(ctx)
	if err != nil {
		return nil, err
	}
	sims := cfg.Devices
	if mode == SimFleet {
		sims = 1
	}
	ports, err := freePorts(3*cfg.Nodes + sims)
	if err != nil {
		return nil, err
	}
	addrOf := func(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }
	for i := range cfg.Nodes {
		n := &node{id: fmt.Sprintf("n%d", i+1), api: addrOf(ports[3*i]), raft: addrOf(ports[3*i+1]), metrics: addrOf(ports[3*i+2])}
		n.dir = filepath.Join(dir, n.id)
		if n.conn, err = grpc.NewClient(n.api, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20))); err != nil {
			return nil, err
		}
		n.client = p4ctlv1.NewControllerClient(n.conn)
		r.nodes = append(r.nodes, n)
	}
	simPorts := ports[3*cfg.Nodes:]
	for _, p := range simPorts {
		r.simPorts[p] = true
	}

	// The world, and what the controller's compiler makes of it.
	wc := Config{Devices: cfg.Devices, Light: cfg.Light, Seed: cfg.Seed, Apps: cfg.Apps}
	if mode == SimFleet {
		wc.Device = SharedAddress(addrOf(simPorts[0]))
	} else {
		addrs := make([]string, len(simPorts))
		for i, p := range simPorts {
			addrs[i] = addrOf(p)
		}
		wc.Device = Addresses(addrs)
	}
	doc, err := World(wc)
	if err != nil {
		return nil, err
	}
	r.world = filepath.Join(dir, "world.yaml")
	if err := os.WriteFile(r.world, doc, 0o644); err != nil {
		return nil, err
	}
	want, err := r.dryRun(ctx, r.world)
	if err != nil {
		return nil, err
	}
	res := &Result{Devices: cfg.Devices, Nodes: cfg.Nodes, World: "full", VMs: wc.VMs(), SimMode: mode, MinDeviceEntries: -1}
	if cfg.Light {
		res.World = "light"
	}
	for _, d := range want {
		n := 0
		for _, c := range d {
			n += c
		}
		res.Entries += n
		if res.MinDeviceEntries < 0 || n < res.MinDeviceEntries {
			res.MinDeviceEntries = n
		}
		res.MaxDeviceEntries = max(res.MaxDeviceEntries, n)
	}
	r.logf("world: %d devices x %d VMs, %d entries (%d to %d per device)", cfg.Devices, wc.VMs(), res.Entries, res.MinDeviceEntries, res.MaxDeviceEntries)

	if err := r.startSims(ctx, mode, simPorts); err != nil {
		return nil, err
	}
	if err := r.startCluster(ctx); err != nil {
		return nil, err
	}

	for _, n := range r.nodes {
		u, err := readUsage(n.p.pid())
		if err != nil {
			return nil, err
		}
		n.applyCPU = u.cpu
	}
	start := time.Now()
	r.logf("applying %s", r.world)
	if _, err := runCLI(ctx, cfg.Timeout, cfg.ControllerBinary, "apply", "-f", r.world, "--server", r.servers(), "--timeout", cfg.Timeout.String()); err != nil {
		return nil, err
	}
	res.CommitSeconds = time.Since(start).Seconds()
	r.logf("committed after %.2f s; waiting for the devices", res.CommitSeconds)
	if err := r.converge(ctx, want, start.Add(cfg.Timeout)); err != nil {
		return nil, err
	}
	res.ConvergedSeconds = time.Since(start).Seconds()
	r.logf("converged after %.2f s", res.ConvergedSeconds)

	if err := r.measure(ctx, res); err != nil {
		return nil, err
	}
	if cfg.Change {
		wc.Changed = true
		if want, err = r.change(ctx, wc, want, res); err != nil {
			return nil, err
		}
	}
	if cfg.Idle > 0 {
		if err := r.idle(ctx, res); err != nil {
			return nil, err
		}
	}
	if cfg.Kill != "" {
		if res.Failover, err = r.kill(ctx, want); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// simMode resolves SimAuto: fleet when the simulator binary's sim takes
// --devices.
func (r *run) simMode(ctx context.Context) (string, error) {
	switch r.cfg.SimMode {
	case SimFleet, SimProcesses:
		return r.cfg.SimMode, nil
	case "", SimAuto:
	default:
		return "", fmt.Errorf("fleet: simulator mode %q: %s, %s or %s", r.cfg.SimMode, SimAuto, SimFleet, SimProcesses)
	}
	help, err := runCLI(ctx, 30*time.Second, r.cfg.SimBinary, "sim", "--help")
	if err != nil {
		return "", err
	}
	if strings.Contains(string(help), "--devices") {
		return SimFleet, nil
	}
	return SimProcesses, nil
}

// startSims starts the simulator: one process on ports[0] serving
// device ids 1..N, or one per device with device id i on ports[i-1].
func (r *run) startSims(ctx context.Context, mode string, ports []int) error {
	for i, port := range ports {
		addr := "127.0.0.1:" + strconv.Itoa(port)
		args := []string{"sim", "--listen", addr}
		name := "sim"
		if mode == SimFleet {
			args = append(args, "--devices", strconv.Itoa(r.cfg.Devices))
		} else {
			args = append(args, "--device-id", strconv.Itoa(i+1))
			name = fmt.Sprintf("sim%d", i+1)
		}
		p, err := startProc(r.dir, name, r.cfg.SimBinary, args...)
		if err != nil {
			return err
		}
		r.sims = append(r.sims, p)
	}
	for i, p := range r.sims {
		if err := waitTCP(ctx, p, "127.0.0.1:"+strconv.Itoa(ports[i]), startTimeout); err != nil {
			return err
		}
	}
	r.logf("%d simulator process(es) serving (%s)", len(r.sims), mode)
	return nil
}

// startCluster starts node 1 as a new cluster and the others joining it,
// and waits until every node knows the leader and all the members.
func (r *run) startCluster(ctx context.Context) error {
	for i, n := range r.nodes {
		args := []string{"serve", "--node-id", n.id, "--data-dir", n.dir, "--api-addr", n.api, "--raft-addr", n.raft, "--metrics-addr", n.metrics}
		if i == 0 {
			args = append(args, "--bootstrap")
		} else {
			args = append(args, "--join", r.nodes[0].api)
		}
		args = append(args, r.cfg.ServeArgs...)
		p, err := startProc(r.dir, n.id, r.cfg.ControllerBinary, args...)
		if err != nil {
			return err
		}
		n.p = p
		// The first must lead before the others join through it.
		if err := r.until(ctx, startTimeout, "node "+n.id+" to serve", func() error {
			if n.p.exited() {
				return n.p.exitError()
			}
			st, err := r.status(ctx, n)
			if err == nil && st.GetLeader() == "" {
				err = errors.New("no leader yet")
			}
			return err
		}); err != nil {
			return err
		}
	}
	err := r.until(ctx, startTimeout, "every node to know the cluster", func() error {
		for _, n := range r.nodes {
			if n.p.exited() {
				return n.p.exitError()
			}
			st, err := r.status(ctx, n)
			if err != nil {
				return err
			}
			if len(st.GetMembers()) != len(r.nodes) || st.GetLeader() == "" {
				return fmt.Errorf("node %s: %d members, leader %q", n.id, len(st.GetMembers()), st.GetLeader())
			}
		}
		return nil
	})
	if err == nil {
		r.logf("%d node(s) serving", len(r.nodes))
	}
	return err
}

// status asks n for its raft state.
func (r *run) status(ctx context.Context, n *node) (*p4ctlv1.ClusterStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return n.client.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
}

// until calls f every PollInterval until it succeeds or timeout passes.
func (r *run) until(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		var exited *exitedError
		switch {
		case err == nil:
			return nil
		case errors.As(err, &exited):
			return err
		case time.Now().After(deadline):
			return fmt.Errorf("fleet: waited %s for %s: %w", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(PollInterval):
		}
	}
}

// servers are the API addresses of the live nodes, comma-separated (the
// client tries them in order).
func (r *run) servers() string {
	var s []string
	for _, n := range r.nodes {
		if !n.dead {
			s = append(s, n.api)
		}
	}
	return strings.Join(s, ",")
}

// dryRun asks the controller binary what each device gets: its entries
// per table.
func (r *run) dryRun(ctx context.Context, world string) (map[string]map[string]int, error) {
	out, err := runCLI(ctx, 10*time.Minute, r.cfg.ControllerBinary, "apply", "--dry-run", "-o", "json", "-f", world)
	if err != nil {
		return nil, err
	}
	var dr struct {
		Devices map[string]struct {
			Tables map[string]int `json:"tables"`
		} `json:"devices"`
	}
	if err := json.Unmarshal(out, &dr); err != nil {
		return nil, fmt.Errorf("apply --dry-run -o json: %w", err)
	}
	if len(dr.Devices) != r.cfg.Devices {
		return nil, fmt.Errorf("apply --dry-run: %d devices, the world has %d", len(dr.Devices), r.cfg.Devices)
	}
	want := map[string]map[string]int{}
	for name, d := range dr.Devices {
		want[name] = nonZero(d.Tables)
	}
	return want, nil
}

func nonZero(m map[string]int) map[string]int {
	out := map[string]int{}
	for k, v := range m {
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// converge polls the devices until each is connected, primary and in
// sync, holding exactly want's entries, in the view of a live node, or
// until deadline.
func (r *run) converge(ctx context.Context, want map[string]map[string]int, deadline time.Time) error {
	var last error
	for {
		last = r.converged(ctx, want)
		if last == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("fleet: the devices did not converge in time: %w", last)
		}
		for _, n := range r.nodes {
			if !n.dead && n.p.exited() {
				return n.p.exitError()
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(PollInterval):
		}
	}
}

// converged is nil when every device holds want, else it says which do
// not and why. Each live node is asked for its own view: the node that
// writes a device (the leader, or the device's master where mastership
// is partitioned among the members) is the one that says it is primary.
func (r *run) converged(ctx context.Context, want map[string]map[string]int) error {
	done := map[string]bool{}
	why := map[string]string{}
	for _, n := range r.nodes {
		if n.dead {
			continue
		}
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		resp, err := n.client.Devices(c, &p4ctlv1.DevicesRequest{})
		cancel()
		if err != nil {
			return fmt.Errorf("node %s: devices: %w", n.id, err)
		}
		for _, d := range resp.GetDevices() {
			w, ok := want[d.GetName()]
			if !ok || done[d.GetName()] {
				continue
			}
			switch {
			case !d.GetConnected():
				why[d.GetName()] = "not connected " + d.GetLastError()
			case !d.GetPrimary():
				if why[d.GetName()] == "" {
					why[d.GetName()] = "not primary " + d.GetLastError()
				}
			case !d.GetInSync():
				why[d.GetName()] = "not in sync " + d.GetLastError()
			case !equalCounts(d.GetEntries(), w):
				why[d.GetName()] = fmt.Sprintf("entries %v, want %v", d.GetEntries(), w)
			default:
				done[d.GetName()] = true
			}
		}
	}
	var behind []string
	for _, name := range slices.Sorted(maps.Keys(want)) {
		if !done[name] {
			reason := why[name]
			if reason == "" {
				reason = "no node writes it"
			}
			behind = append(behind, name+": "+strings.TrimSpace(reason))
		}
	}
	if len(behind) == 0 {
		return nil
	}
	more := ""
	if len(behind) > 3 {
		more = fmt.Sprintf(" (and %d more)", len(behind)-3)
		behind = behind[:3]
	}
	return fmt.Errorf("%s%s", strings.Join(behind, "; "), more)
}

// equalCounts reports whether a device's entries per table are want's.
func equalCounts(got map[string]int64, want map[string]int) bool {
	n := 0
	for t, c := range got {
		if c == 0 {
			continue
		}
		if int64(want[t]) != c {
			return false
		}
		n++
	}
	return n == len(want)
}

// measure reads each node's and the simulator's usage and the nodes'
// connections to the simulator.
func (r *run) measure(ctx context.Context, res *Result) error {
	conns, err := tcpConns()
	if err != nil {
		return err
	}
	st, err := r.status(ctx, r.nodes[0])
	if err != nil {
		return err
	}
	for _, n := range r.nodes {
		u, err := readUsage(n.p.pid())
		if err != nil {
			return err
		}
		s, err := countSessions(n.p.pid(), r.simPorts, conns)
		if err != nil {
			return err
		}
		nr := NodeResult{ID: n.id, Leader: n.id == st.GetLeader(), PeakRSSBytes: u.peakRSS, CPUSeconds: u.cpu,
			ApplyCPUSeconds: u.cpu - n.applyCPU, Sessions: s}
		if res.Entries > 0 {
			nr.RSSBytesPerEntry = float64(u.peakRSS) / float64(res.Entries)
			nr.CPUMicrosPerEntry = u.cpu * 1e6 / float64(res.Entries)
		}
		res.Sessions += s
		res.NodeResults = append(res.NodeResults, nr)
	}
	for _, p := range r.sims {
		u, err := readUsage(p.pid())
		if err != nil {
			return err
		}
		res.Sim.Processes++
		res.Sim.PeakRSSBytes += u.peakRSS
		res.Sim.CPUSeconds += u.cpu
	}
	return nil
}

// change applies the world wc (Changed) over the converged one, whose
// entries are want, waits until every device holds it and records the
// change in res; it returns the new world's entries.
func (r *run) change(ctx context.Context, wc Config, want map[string]map[string]int, res *Result) (map[string]map[string]int, error) {
	doc, err := World(wc)
	if err != nil {
		return nil, err
	}
	world := filepath.Join(r.dir, "changed.yaml")
	if err := os.WriteFile(world, doc, 0o644); err != nil {
		return nil, err
	}
	after, err := r.dryRun(ctx, world)
	if err != nil {
		return nil, err
	}
	ch := &Change{}
	for dev, tables := range after {
		for t, n := range tables {
			d := n - want[dev][t]
			if d < 0 {
				return nil, fmt.Errorf("fleet: the changed world has fewer %s entries on %s (%d, not %d)", t, dev, n, want[dev][t])
			}
			ch.Entries += d
		}
	}
	if ch.Entries == 0 {
		return nil, errors.New("fleet: the changed world adds no entry")
	}
	cpu := make([]float64, len(r.nodes))
	for i, n := range r.nodes {
		u, err := readUsage(n.p.pid())
		if err != nil {
			return nil, err
		}
		cpu[i] = u.cpu
	}
	r.logf("applying the change (%d entries more)", ch.Entries)
	start := time.Now()
	if _, err := runCLI(ctx, r.cfg.Timeout, r.cfg.ControllerBinary, "apply", "-f", world, "--server", r.servers(), "--timeout", r.cfg.Timeout.String()); err != nil {
		return nil, err
	}
	ch.CommitSeconds = time.Since(start).Seconds()
	if err := r.converge(ctx, after, start.Add(r.cfg.Timeout)); err != nil {
		return nil, fmt.Errorf("after the change: %w", err)
	}
	ch.ConvergedSeconds = time.Since(start).Seconds()
	total := 0.0
	for i, n := range r.nodes {
		u, err := readUsage(n.p.pid())
		if err != nil {
			return nil, err
		}
		nr := &res.NodeResults[i]
		nr.ChangeCPUSeconds = u.cpu - cpu[i]
		nr.ChangeCPUMicrosPerEntry = nr.ChangeCPUSeconds * 1e6 / float64(ch.Entries)
		total += nr.ChangeCPUSeconds
	}
	ch.CPUMicrosPerEntry = total * 1e6 / float64(ch.Entries)
	r.logf("change converged after %.2f s", ch.ConvergedSeconds)
	res.Change = ch
	return after, nil
}

// idle leaves the cluster alone for RunConfig.Idle and records each
// node's CPU over it.
func (r *run) idle(ctx context.Context, res *Result) error {
	cpu := make([]float64, len(r.nodes))
	for i, n := range r.nodes {
		u, err := readUsage(n.p.pid())
		if err != nil {
			return err
		}
		cpu[i] = u.cpu
	}
	r.logf("idle for %s", r.cfg.Idle)
	start := time.Now()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(r.cfg.Idle):
	}
	took := time.Since(start).Seconds()
	for i, n := range r.nodes {
		u, err := readUsage(n.p.pid())
		if err != nil {
			return err
		}
		res.NodeResults[i].IdleCores = (u.cpu - cpu[i]) / took
	}
	res.IdleSeconds = took
	return nil
}

// kill kills the leader or a follower and waits until the surviving
// nodes have the fleet converged again.
func (r *run) kill(ctx context.Context, want map[string]map[string]int) (*Failover, error) {
	st, err := r.status(ctx, r.nodes[0])
	if err != nil {
		return nil, err
	}
	var victim *node
	for _, n := range r.nodes {
		if (n.id == st.GetLeader()) == (r.cfg.Kill == KillLeader) {
			victim = n
			break
		}
	}
	if victim == nil {
		return nil, fmt.Errorf("fleet: no %s to kill (leader %q)", r.cfg.Kill, st.GetLeader())
	}
	before := r.written(ctx, victim)
	r.logf("killing the %s, %s", r.cfg.Kill, victim.id)
	start := time.Now()
	victim.p.kill()
	victim.dead = true
	if err := r.converge(ctx, want, start.Add(r.cfg.Timeout)); err != nil {
		return nil, fmt.Errorf("after killing %s: %w", victim.id, err)
	}
	f := &Failover{Killed: victim.id, Role: r.cfg.Kill, Seconds: time.Since(start).Seconds(), Written: -1}
	if after := r.written(ctx, victim); before >= 0 && after >= 0 {
		f.Written = after - before
	}
	r.logf("converged again after %.2f s", f.Seconds)
	for _, n := range r.nodes {
		if n.dead {
			continue
		}
		if st, err := r.status(ctx, n); err == nil {
			f.Leader = st.GetLeader()
			break
		}
	}
	return f, nil
}

// written sums p4ctl_device_changes_total over the nodes but skip, from
// their /metrics; -1 if one cannot be read.
func (r *run) written(ctx context.Context, skip *node) int64 {
	var sum float64
	for _, n := range r.nodes {
		if n == skip || n.dead {
			continue
		}
		v, err := scrapeSum(ctx, "http://"+n.metrics+"/metrics", "p4ctl_device_changes_total")
		if err != nil {
			r.logf("metrics of %s: %v", n.id, err)
			return -1
		}
		sum += v
	}
	return int64(sum)
}

// scrapeSum sums the samples of metric name in the Prometheus text
// exposition at url.
func scrapeSum(ctx context.Context, url, name string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s: %s", url, resp.Status)
	}
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || rest == "" || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		fields := strings.Fields(line[strings.LastIndexByte(line, '}')+1:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %q: %v", url, line, err)
		}
		sum += v
	}
	return sum, sc.Err()
}

// stop stops the nodes, then the simulators.
func (r *run) stop() {
	for _, n := range r.nodes {
		if n.p != nil {
			go n.p.stop(15 * time.Second)
		}
	}
	for _, n := range r.nodes {
		if n.p != nil {
			<-n.p.done
		}
	}
	for _, p := range r.sims {
		go p.stop(5 * time.Second)
	}
	for _, p := range r.sims {
		<-p.done
	}
	for _, n := range r.nodes {
		if n.conn != nil {
			n.conn.Close()
		}
	}
}
