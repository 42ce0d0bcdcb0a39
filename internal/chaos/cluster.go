package chaos

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/credentials/insecure"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

const (
	numNodes   = 3
	numDevices = 2
)

// node is one controller node: its process, addresses and API client.
type node struct {
	id       string
	apiAddr  string
	raftAddr string
	dataDir  string
	proc     *proc
	conn     *grpc.ClientConn
	api      p4ctlv1.ControllerClient
}

// device is one simulated P4Runtime device.
type device struct {
	name string
	addr string
	proc *proc
}

// cluster is every process of the run and the clients that talk to them.
type cluster struct {
	cfg   *Config
	dir   string
	nodes []*node
	devs  []*device

	mu         sync.Mutex
	unexpected []string // processes that exited without being killed
}

func (c *cluster) logf(format string, args ...any) {
	if c.cfg.Log != nil {
		fmt.Fprintf(c.cfg.Log, "chaos: "+format+"\n", args...)
	}
}

// exitedUnexpectedly records a process that exited by itself.
func (c *cluster) exitedUnexpectedly(name string, err error) {
	c.mu.Lock()
	c.unexpected = append(c.unexpected, fmt.Sprintf("%s exited by itself at %s: %v", name, time.Now().Format("15:04:05.000"), err))
	c.mu.Unlock()
	c.logf("%s exited by itself: %v", name, err)
}

func (c *cluster) unexpectedExits() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.unexpected...)
}

// newCluster lays out the processes in dir on free loopback ports; it
// starts nothing.
func newCluster(cfg *Config, dir string) (*cluster, error) {
	ports, err := freePorts(numDevices + 2*numNodes)
	if err != nil {
		return nil, err
	}
	c := &cluster{cfg: cfg, dir: dir}
	addr := func(i int) string { return "127.0.0.1:" + strconv.Itoa(ports[i]) }
	for i := range numDevices {
		d := &device{name: deviceName(i), addr: addr(i)}
		d.proc = &proc{name: "device " + d.name, bin: cfg.P4ctl, args: []string{"sim", "--listen", d.addr},
			logPath: filepath.Join(dir, d.name+".log"), unexpected: c.exitedUnexpectedly}
		c.devs = append(c.devs, d)
	}
	for i := range numNodes {
		n := &node{id: fmt.Sprintf("n%d", i+1), apiAddr: addr(numDevices + 2*i), raftAddr: addr(numDevices + 2*i + 1)}
		n.dataDir = filepath.Join(dir, n.id)
		n.proc = &proc{name: "node " + n.id, bin: cfg.P4ctl, logPath: filepath.Join(dir, n.id+".log"), unexpected: c.exitedUnexpectedly}
		conn, err := grpc.NewClient(n.apiAddr,
			grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithConnectParams(grpc.ConnectParams{Backoff: backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
				MinConnectTimeout: 2 * time.Second}),
			grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)))
		if err != nil {
			c.close()
			return nil, err
		}
		n.conn, n.api = conn, p4ctlv1.NewControllerClient(conn)
		c.nodes = append(c.nodes, n)
	}
	return c, nil
}

// serveArgs are the node's arguments: the first start bootstraps node 1
// and joins the others through it; a restart names only the node's own
// data dir and addresses.
func (c *cluster) serveArgs(n *node, first bool) []string {
	args := []string{"serve", "--node-id", n.id, "--data-dir", n.dataDir, "--api-addr", n.apiAddr, "--raft-addr", n.raftAddr, "--metrics-addr", ""}
	switch {
	case first && n == c.nodes[0]:
		args = append(args, "--bootstrap")
	case first:
		args = append(args, "--join", c.nodes[0].apiAddr)
	}
	return args
}

// startDevice starts a device and waits until it accepts connections.
func (c *cluster) startDevice(ctx context.Context, d *device) error {
	if err := d.proc.start(); err != nil {
		return err
	}
	return waitTCP(ctx, d.proc, d.addr, c.cfg.StartTimeout)
}

// startNode starts a node and waits until its API answers.
func (c *cluster) startNode(ctx context.Context, n *node, first bool) error {
	if err := n.proc.start(c.serveArgs(n, first)...); err != nil {
		return err
	}
	return c.waitAPI(ctx, n, c.cfg.StartTimeout)
}

// waitAPI waits until n answers ClusterStatus.
func (c *cluster) waitAPI(ctx context.Context, n *node, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	exited := n.proc.exited()
	for {
		_, err := c.status(ctx, n)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: API not answering after %s: %w", n.id, timeout, err)
		}
		select {
		case <-exited:
			return fmt.Errorf("node %s exited before serving (log: %s)", n.id, n.proc.logPath)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// status asks n for its raft status, within 2 s.
func (c *cluster) status(ctx context.Context, n *node) (*p4ctlv1.ClusterStatusResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	return n.api.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
}

// leader asks the running nodes which one leads; nil when none says.
func (c *cluster) leader(ctx context.Context) *node {
	for _, n := range c.nodes {
		if !n.proc.running() {
			continue
		}
		st, err := c.status(ctx, n)
		if err != nil || st.GetLeader() == "" {
			continue
		}
		for _, m := range c.nodes {
			if m.id == st.GetLeader() {
				return m
			}
		}
	}
	return nil
}

// start brings up the devices, then node 1 as a new cluster, then the
// others joining it, and waits until node 1 counts three members and
// every node knows the leader.
func (c *cluster) start(ctx context.Context) error {
	for _, d := range c.devs {
		if err := c.startDevice(ctx, d); err != nil {
			return err
		}
		c.logf("device %s serving at %s", d.name, d.addr)
	}
	for _, n := range c.nodes {
		if err := c.startNode(ctx, n, true); err != nil {
			return err
		}
		if n == c.nodes[0] {
			if err := c.until(ctx, c.cfg.StartTimeout, "node n1 to lead", func() error {
				st, err := c.status(ctx, n)
				if err == nil && st.GetState() != "Leader" {
					err = fmt.Errorf("state %s", st.GetState())
				}
				return err
			}); err != nil {
				return err
			}
		}
		c.logf("node %s serving: api %s, raft %s", n.id, n.apiAddr, n.raftAddr)
	}
	return c.until(ctx, c.cfg.StartTimeout, "three members with a leader", func() error {
		for _, n := range c.nodes {
			st, err := c.status(ctx, n)
			if err != nil {
				return err
			}
			if len(st.GetMembers()) != numNodes || st.GetLeader() == "" {
				return fmt.Errorf("%s: %d members, leader %q", n.id, len(st.GetMembers()), st.GetLeader())
			}
		}
		return nil
	})
}

// until calls f every 200 ms until it succeeds or timeout passes.
func (c *cluster) until(ctx context.Context, timeout time.Duration, what string, f func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("waiting %s for %s: %w", timeout, what, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// applyBase applies the base policy through node 1 (retried within the
// start timeout) and waits until the leader has every device in sync.
func (c *cluster) applyBase(ctx context.Context) error {
	var addrs []string
	for _, d := range c.devs {
		addrs = append(addrs, d.addr)
	}
	docs := baseDocs(addrs)
	err := c.until(ctx, c.cfg.StartTimeout, "the base policy to apply", func() error {
		actx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
		defer cancel()
		_, err := c.nodes[0].api.Apply(actx, &p4ctlv1.ApplyRequest{File: "chaos-base.yaml", Docs: docs})
		return err
	})
	if err != nil {
		return err
	}
	return c.until(ctx, c.cfg.StartTimeout, "the devices to be in sync", func() error {
		l := c.leader(ctx)
		if l == nil {
			return errors.New("no leader")
		}
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		resp, err := l.api.Devices(dctx, &p4ctlv1.DevicesRequest{FromLeader: true})
		if err != nil {
			return err
		}
		if len(resp.GetDevices()) != numDevices {
			return fmt.Errorf("%d devices", len(resp.GetDevices()))
		}
		for _, d := range resp.GetDevices() {
			if !d.GetInSync() {
				return fmt.Errorf("device %s not in sync: %s", d.GetName(), d.GetLastError())
			}
		}
		return nil
	})
}

// ensureRunning restarts any process that is not running (one that
// exited by itself); the nemesis restarts the ones it kills.
func (c *cluster) ensureRunning(ctx context.Context) error {
	var errs []error
	for _, d := range c.devs {
		if !d.proc.running() {
			c.logf("device %s is down at the end: restarting it", d.name)
			errs = append(errs, c.startDevice(ctx, d))
		}
	}
	for _, n := range c.nodes {
		if !n.proc.running() {
			c.logf("node %s is down at the end: restarting it", n.id)
			errs = append(errs, c.startNode(ctx, n, false))
		}
	}
	return errors.Join(errs...)
}

// close stops every process (nodes first) and closes the clients.
func (c *cluster) close() {
	var wg sync.WaitGroup
	for _, n := range c.nodes {
		wg.Go(func() {
			if err := n.proc.stop(15 * time.Second); err != nil {
				c.logf("stop %s: %v", n.id, err)
			}
		})
	}
	wg.Wait()
	for _, d := range c.devs {
		if err := d.proc.stop(5 * time.Second); err != nil {
			c.logf("stop %s: %v", d.name, err)
		}
	}
	for _, n := range c.nodes {
		if n.conn != nil {
			n.conn.Close()
		}
	}
}
