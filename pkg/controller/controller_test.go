package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// simDevice is a p4rtsim device served over loopback TCP, restartable on
// the same address.
type simDevice struct {
	t      testing.TB
	addr   string
	srv    *p4rtsim.Server
	cancel context.CancelFunc
	done   chan struct{}
}

func startSim(t testing.TB, addr string) *simDevice {
	t.Helper()
	return startSimWith(t, addr, p4rtsim.Options{DeviceID: 1})
}

func startSimWith(t testing.TB, addr string, o p4rtsim.Options) *simDevice {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var lis net.Listener
	var err error
	for range 50 { // the old listener's port may take a moment to free
		if lis, err = net.Listen("tcp", addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	d := &simDevice{t: t, addr: lis.Addr().String(), cancel: cancel, done: make(chan struct{})}
	srv := p4rtsim.New(o)
	d.srv = srv
	go func() {
		defer close(d.done)
		srv.Serve(ctx, lis)
	}()
	t.Cleanup(d.stop)
	return d
}

func (d *simDevice) stop() {
	d.cancel()
	<-d.done
}

// read returns what the device holds, as EntryKey -> ActionKey, read with
// a session of its own (reads need no arbitration).
func (d *simDevice) read(t *testing.T) map[string]string {
	t.Helper()
	s, err := p4rt.Connect(d.addr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 7}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out := map[string]string{}
	err = s.ReadKeys(ctx, []uint32{0}, func(k, a []byte) error {
		out[string(k)] = string(a)
		return nil
	})
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	return out
}

// want is what the controller's compiler says device dev should hold.
// (Identity ids are the compiler's own; pkg/policy tests what the entries
// mean.)
func want(t *testing.T, c *Controller, dev string) map[string]string {
	t.Helper()
	c.mu.Lock()
	es, _, err := c.compiler.DeviceEntries(dev)
	c.mu.Unlock()
	if err != nil {
		return map[string]string{"error": err.Error()}
	}
	out := map[string]string{}
	for _, e := range es {
		out[pipeline.EntryKey(e)] = pipeline.ActionKey(e)
	}
	return out
}

func diff(got, want map[string]string) (missing, stale int) {
	for k, v := range want {
		if got[k] != v {
			missing++
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			stale++
		}
	}
	return
}

// eventually waits for cond, failing with msg() after d.
func eventually(t testing.TB, d time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", d, msg())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// node starts a raft node with raft's default timeouts (1 s heartbeat and
// election): shorter ones lose leadership while three nodes on two
// cores, under the race detector, each apply a large document.
func node(t testing.TB, id, dir string, bootstrap bool) *cluster.Node {
	t.Helper()
	n, err := cluster.Start(cluster.Config{ID: id, RaftAddr: "127.0.0.1:0", DataDir: dir, Bootstrap: bootstrap})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func runController(t testing.TB, n *cluster.Node) (*Controller, context.CancelFunc) {
	t.Helper()
	return runControllerWith(t, n, pipeline.Embedded)
}

func runControllerWith(t testing.TB, n *cluster.Node, targets policy.Targets) (*Controller, context.CancelFunc) {
	t.Helper()
	return runControllerCfg(t, Config{Node: n, Targets: targets})
}

// runControllerCfg runs a controller of cfg (RetryInterval 200ms unless
// set) until the test ends or the returned function stops it.
func runControllerCfg(t testing.TB, cfg Config) (*Controller, context.CancelFunc) {
	t.Helper()
	if cfg.RetryInterval == 0 {
		cfg.RetryInterval = 200 * time.Millisecond
	}
	c := New(cfg)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		c.Run(ctx)
	}()
	stop := func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return c, stop
}

// exampleFor is the README example pointed at the given device address,
// plus a second device with one port so that two devices are in play.
func exampleFor(t testing.TB, addr1, addr2 string) []byte {
	b, err := os.ReadFile("../../examples/segmentation.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Replace(string(b), "address: 127.0.0.1:9559", "address: "+addr1, 1)
	s += fmt.Sprintf("---\nkind: Device\nname: leaf2\naddress: %s\n---\nkind: Port\ndevice: leaf2\nport: 1\nsegment: prod\nrole: promiscuous\n"+
		"---\nkind: Endpoint\nname: app-2\nsegment: prod\nmac: 02:00:00:00:02:01\nips: [10.0.2.1]\ndevice: leaf2\nport: 1\nlabels: {app: shop, tier: app}\n", addr2)
	return []byte(s)
}

func waitLeader(t testing.TB, nodes ...*cluster.Node) *cluster.Node {
	t.Helper()
	var l *cluster.Node
	eventually(t, 10*time.Second, func() bool {
		for _, n := range nodes {
			if n.IsLeader() {
				l = n
				return true
			}
		}
		return false
	}, func() string { return "no leader" })
	return l
}

func inSync(t *testing.T, c *Controller, devs map[string]*simDevice, m func() *policy.Model) {
	t.Helper()
	eventually(t, time.Minute, func() bool {
		c.mu.Lock()
		current := c.source == m()
		c.mu.Unlock()
		if !current {
			return false
		}
		for name, d := range devs {
			missing, stale := diff(d.read(t), want(t, c, name))
			if missing+stale > 0 {
				return false
			}
		}
		return true
	}, func() string {
		var b strings.Builder
		for name, d := range devs {
			missing, stale := diff(d.read(t), want(t, c, name))
			fmt.Fprintf(&b, "%s: %d missing, %d stale; ", name, missing, stale)
		}
		fmt.Fprintf(&b, "status %+v", c.Devices())
		return b.String()
	})
}

// exampleInSync runs a one-node controller with the example applied on
// two simulated devices, and waits until they hold it.
func exampleInSync(t *testing.T) (n *cluster.Node, c *Controller, d1, d2 *simDevice, model func() *policy.Model) {
	t.Helper()
	d1, d2 = startSim(t, ""), startSim(t, "")
	n = node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c, _ = runController(t, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, "example.yaml", exampleFor(t, d1.addr, d2.addr)); err != nil {
		t.Fatal(err)
	}
	model = func() *policy.Model { m, _ := n.Model(); return m }
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	return n, c, d1, d2, model
}

func TestSingleNodeProgramsDevices(t *testing.T) {
	_, c, d1, d2, model := exampleInSync(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	devs := map[string]*simDevice{"leaf1": d1, "leaf2": d2}
	st := c.Devices()
	if len(st) != 2 || !st[0].Connected || !st[0].Primary || st[0].PipelineCookie == 0 || st[0].Entries["ingress.policy_port"] == 0 {
		t.Errorf("status %+v", st)
	}

	// A change is written as a delta.
	if _, err := c.Apply(ctx, "more.yaml", []byte("kind: Endpoint\nname: app-3\nsegment: prod\nmac: 02:00:00:00:02:03\nips: [10.0.2.3]\ndevice: leaf2\nport: 1\nlabels: {app: shop, tier: db}\n")); err != nil {
		t.Fatal(err)
	}
	inSync(t, c, devs, model)

	// A device that restarts empty gets its pipeline and entries back.
	d2.stop()
	d2 = startSim(t, d2.addr)
	devs["leaf2"] = d2
	inSync(t, c, devs, model)

	// What does not fit, or does not validate, is refused before commit.
	_, err := c.Apply(ctx, "bad.yaml", []byte("kind: Port\ndevice: leaf1\nport: 510\nsegment: prod\nrole: isolated\n"))
	if err == nil || !strings.Contains(err.Error(), "CPU port") {
		t.Errorf("CPU port: err = %v", err)
	}
}

// TestFailover: three nodes, two devices, about 60,000 entries applied;
// the master of leaf1 is killed while it writes them. The leader gives
// leaf1 to a survivor, which takes it with a higher election id and
// brings it equal to the desired state, and a session with the dead
// master's id can no longer write.
func TestFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("failover test in -short mode")
	}
	d1, d2 := startSim(t, ""), startSim(t, "")
	n1 := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n1)
	n2 := node(t, "n2", t.TempDir(), false)
	n3 := node(t, "n3", t.TempDir(), false)
	// A liveness bound, not a speed target: under -race on a loaded
	// two-core machine, committing 20,000 endpoints on three nodes in one
	// process has taken over a minute.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	for _, n := range []*cluster.Node{n2, n3} {
		if err := n1.Join(ctx, n.ID(), n.RaftAddr()); err != nil {
			t.Fatal(err)
		}
	}
	nodes := []*cluster.Node{n1, n2, n3}
	var ctls []*Controller
	var stops []context.CancelFunc
	for _, n := range nodes {
		c, stop := runController(t, n)
		ctls, stops = append(ctls, c), append(stops, stop)
	}

	docs := exampleFor(t, d1.addr, d2.addr)
	big := bigDocs(20000) // 20,000 endpoints x 3 entries on leaf1
	if _, err := ctls[0].Apply(ctx, "example.yaml", docs); err != nil {
		t.Fatal(err)
	}
	if _, err := ctls[0].Apply(ctx, "big.yaml", big); err != nil {
		t.Fatal(err)
	}
	// Kill leaf1's master while it writes.
	var victim int
	var epoch uint64
	eventually(t, 20*time.Second, func() bool {
		a := n1.Assignments()["leaf1"]
		for i, c := range ctls {
			if nodes[i].ID() != a.Member {
				continue
			}
			for _, st := range c.Devices() {
				if st.Name == "leaf1" && st.Primary {
					victim, epoch = i, a.Epoch
					return true
				}
			}
		}
		return false
	}, func() string { return fmt.Sprintf("leaf1's master never became primary: %+v", n1.Assignments()) })
	killed := time.Now()
	stops[victim]()
	nodes[victim].Close()
	var live []*cluster.Node
	for i, n := range nodes {
		if i != victim {
			live = append(live, n)
		}
	}
	leader := waitLeader(t, live...)
	var next *Controller
	eventually(t, 30*time.Second, func() bool {
		a := leader.Assignments()["leaf1"]
		for i, n := range nodes {
			if i != victim && n.ID() == a.Member {
				next = ctls[i]
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("leaf1 not given to a survivor: %+v", leader.Assignments()) })
	inSync(t, next, map[string]*simDevice{"leaf1": d1}, func() *policy.Model { m, _ := next.cfg.Node.Model(); return m })
	got := d1.read(t)
	t.Logf("master killed -> %d entries on leaf1 equal to the desired state in %s", len(got), time.Since(killed).Round(time.Millisecond))
	if len(got) < 60000 {
		t.Errorf("leaf1 holds %d entries, want at least 60,000", len(got))
	}

	// The dead master's election id (its epoch) is below the new one's:
	// a late write from it is refused.
	ctx, cancel2 := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel2()
	old, err := p4rt.Connect(d1.addr, p4rt.Options{DeviceID: 1, ElectionID: MasterElectionID(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	m, err := old.WaitArbitrated(ctx)
	if err != nil || m.Primary {
		t.Fatalf("a session with the dead master's id: primary=%v err=%v", m.Primary, err)
	}
	e, _ := pipeline.Embedded("bmv2")
	seg, _ := e.Info.NewEntry("ingress.segments").Exact("segment", pipeline.Uint(999)).
		Action("set_segment", pipeline.P("default_allow", pipeline.Uint(1)), pipeline.P("flood_group", pipeline.Uint(999))).Build()
	err = old.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: seg}}})
	if err == nil || !strings.Contains(err.Error(), "PermissionDenied") && !strings.Contains(err.Error(), "PERMISSION_DENIED") && !strings.Contains(err.Error(), "primary") {
		t.Errorf("late write from the dead master's id: err = %v", err)
	}
}

// bigDocs is a segment of its own on leaf1 port 9 with n endpoints, each
// with an IPv4 and an IPv6 address and one of 50 label sets.
func bigDocs(n int) []byte {
	var b strings.Builder
	b.WriteString("kind: Segment\nname: bulk\nid: 40\n---\nkind: Port\ndevice: leaf1\nport: 9\nsegment: bulk\nrole: promiscuous\n")
	for i := range n {
		fmt.Fprintf(&b, "---\nkind: Endpoint\nname: bulk-%d\nsegment: bulk\nmac: 02:10:00:%02x:%02x:%02x\nips: [10.%d.%d.%d, \"2001:db8:1::%x\"]\ndevice: leaf1\nport: 9\nlabels: {app: bulk, shard: s%d}\n",
			i, i>>16&0xff, i>>8&0xff, i&0xff, 100+i>>16&0xff, i>>8&0xff, i&0xff, i+1, i%50)
	}
	return []byte(b.String())
}

// TestDeviceRejectsPipeline: a device that refuses the pipeline is
// reported with the device's reason and retried; the model stays
// committed, the other device is programmed, and once the device's target
// is fixed it is brought up without another command.
func TestDeviceRejectsPipeline(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	// Target "lab-broken" is our pipeline without its device config, as a
	// target whose compiler was not available is (pipeline.Pipeline's
	// NoConfig): the worker must report it and push nothing.
	targets := func(name string) (*pipeline.Pipeline, error) {
		if name != "lab-broken" {
			return pipeline.Embedded(name)
		}
		p, err := pipeline.Embedded("bmv2")
		if err != nil {
			return nil, err
		}
		broken := *p
		broken.DeviceConfig, broken.Cookie = nil, p.Cookie+1
		broken.NoConfig = errors.New("target lab-broken: no p4_device_config was built")
		return &broken, nil
	}
	c, _ := runControllerWith(t, n, targets)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	docs := exampleFor(t, d1.addr, d2.addr)
	docs = []byte(strings.Replace(string(docs), "name: leaf2\n", "name: leaf2\ntarget: lab-broken\n", 1))
	res, err := c.Apply(ctx, "example.yaml", docs)
	if err != nil {
		t.Fatal(err)
	}
	status := func(name string) DeviceStatus {
		for _, d := range c.Devices() {
			if d.Name == name {
				return d
			}
		}
		return DeviceStatus{}
	}
	eventually(t, 20*time.Second, func() bool {
		return status("leaf1").InSync && strings.Contains(status("leaf2").LastError, "p4_device_config")
	}, func() string { return fmt.Sprintf("status %+v", c.Devices()) })
	if st := status("leaf2"); st.InSync || st.ModelIndex != 0 || st.PipelineCookie != 0 {
		t.Errorf("leaf2 refused the pipeline but reports %+v", st)
	}
	// It has no pipeline, so it has nothing to read.
	if got := d2.read(t); !strings.Contains(got["error"], "pipeline") {
		t.Errorf("leaf2 refused the pipeline but reads as %v", got)
	}
	// The model is committed as given: the device's refusal is a runtime
	// state, reported and retried, not a reason to lose the change.
	if m, _ := n.Model(); m.Devices["leaf2"] == nil || m.Devices["leaf2"].Target != "lab-broken" {
		t.Fatalf("model lost leaf2 or its target: %+v", m.Devices["leaf2"])
	}
	if st := status("leaf1"); st.ModelIndex < res.Index {
		t.Errorf("leaf1 at model index %d, want >= %d", st.ModelIndex, res.Index)
	}

	// Fixing the target brings leaf2 up.
	if _, err := c.Apply(ctx, "fix.yaml", []byte(fmt.Sprintf("kind: Device\nname: leaf2\naddress: %s\ntarget: bmv2\n", d2.addr))); err != nil {
		t.Fatal(err)
	}
	model := func() *policy.Model { m, _ := n.Model(); return m }
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	eventually(t, 10*time.Second, func() bool { st := status("leaf2"); return st.InSync && st.LastError == "" },
		func() string { return fmt.Sprintf("leaf2 %+v", status("leaf2")) })
}

// Re-applying a device document unchanged keeps its session: no new
// stream, no mastership change, no reconcile. Changing its address moves
// the session, the old one closing first.
func TestDeviceReapplyKeepsSession(t *testing.T) {
	_, c, d1, d2, model := exampleInSync(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c.mu.Lock()
	before := c.workers["leaf2"]
	c.mu.Unlock()
	res, err := c.Apply(ctx, "again.yaml", []byte(fmt.Sprintf("kind: Device\nname: leaf2\naddress: %s\n", d2.addr)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		for _, d := range c.Devices() {
			if d.Name == "leaf2" {
				return d.ModelIndex >= res.Index && d.InSync
			}
		}
		return false
	}, func() string { return fmt.Sprintf("%+v", c.Devices()) })
	c.mu.Lock()
	after := c.workers["leaf2"]
	c.mu.Unlock()
	if before != after {
		t.Error("re-applying leaf2 unchanged restarted its session")
	}

	// A new address: a new session to the device found there.
	d3 := startSim(t, "")
	if _, err := c.Apply(ctx, "moved.yaml", []byte(fmt.Sprintf("kind: Device\nname: leaf2\naddress: %s\n", d3.addr))); err != nil {
		t.Fatal(err)
	}
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d3}, model)
}
