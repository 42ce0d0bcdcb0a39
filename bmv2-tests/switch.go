package bmv2tests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/internal/rawport"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// GRPCAddr is where simple_switch_grpc serves P4Runtime inside the
// switch's namespace.
const GRPCAddr = "127.0.0.1:9559"

// Config describes a switch to start.
type Config struct {
	// Ports are the P4 port numbers to create, each with a veth pair.
	Ports []uint32
	// DeviceID is the P4Runtime device id (default 1).
	DeviceID uint64
	// LogDir receives the switch's log (default: a temporary directory).
	LogDir string
	// Attach are ports on interfaces the caller provides (a veth end to
	// another switch, say), by P4 port: each interface, found in the host's
	// namespace, is moved into the switch's and brought up. No host port
	// is opened on them.
	Attach map[uint32]string
}

// Switch is a running simple_switch_grpc in its own network namespace.
type Switch struct {
	NS       string
	DeviceID uint64
	Ports    map[uint32]*HostPort
	LogFile  string

	rx chan Frame // frames received on every host port

	cmd     *exec.Cmd
	exited  chan struct{}
	mu      sync.Mutex
	waitErr error
}

// Start creates the namespace and veth pairs and starts simple_switch_grpc
// on them with no program loaded. The caller pushes the pipeline.
func Start(ctx context.Context, cfg Config) (sw *Switch, err error) {
	if cfg.DeviceID == 0 {
		cfg.DeviceID = 1
	}
	ns := fmt.Sprintf("p4ctl-bmv2-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	if err := ip("netns", "add", ns); err != nil {
		return nil, err
	}
	sw = &Switch{NS: ns, DeviceID: cfg.DeviceID, Ports: map[uint32]*HostPort{}, exited: make(chan struct{}), rx: make(chan Frame, 8192)}
	defer func() {
		if err != nil {
			sw.Stop()
		}
	}()
	if err := rawport.Quiet(ns); err != nil {
		return nil, err
	}
	if err := ip("-n", ns, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	args := []string{"netns", "exec", ns, "simple_switch_grpc", "--device-id", strconv.FormatUint(cfg.DeviceID, 10), "--no-p4"}
	for _, p := range cfg.Ports {
		host, swif := fmt.Sprintf("h%d", p), fmt.Sprintf("sw%d", p)
		if err := ip("-n", ns, "link", "add", host, "type", "veth", "peer", "name", swif); err != nil {
			return nil, err
		}
		for _, ifn := range []string{host, swif} {
			if err := ip("-n", ns, "link", "set", ifn, "up"); err != nil {
				return nil, err
			}
		}
		hp, err := rawport.Open(ns, p, host, sw.rx)
		if err != nil {
			return nil, err
		}
		sw.Ports[p] = hp
		args = append(args, "-i", fmt.Sprintf("%d@%s", p, swif))
	}
	for p, ifn := range cfg.Attach {
		if err := ip("link", "set", ifn, "netns", ns); err != nil {
			return nil, err
		}
		if err := ip("-n", ns, "link", "set", ifn, "up"); err != nil {
			return nil, err
		}
		args = append(args, "-i", fmt.Sprintf("%d@%s", p, ifn))
	}
	cpu := strconv.FormatUint(uint64(mustTarget("bmv2").CPUPort), 10)
	args = append(args, "--", "--grpc-server-addr", GRPCAddr, "--cpu-port", cpu)

	logDir := cfg.LogDir
	if logDir == "" {
		if logDir, err = os.MkdirTemp("", "p4ctl-bmv2-"); err != nil {
			return nil, err
		}
	}
	sw.LogFile = filepath.Join(logDir, ns+".log")
	logf, err := os.Create(sw.LogFile)
	if err != nil {
		return nil, err
	}
	sw.cmd = exec.Command("ip", args...)
	sw.cmd.Stdout, sw.cmd.Stderr = logf, logf
	if err := sw.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("start simple_switch_grpc: %w", err)
	}
	go func() {
		err := sw.cmd.Wait()
		logf.Close()
		sw.mu.Lock()
		sw.waitErr = err
		sw.mu.Unlock()
		close(sw.exited)
	}()
	return sw, nil
}

func mustTarget(name string) pipeline.Target {
	t, err := pipeline.LookupTarget(name)
	if err != nil {
		panic(err)
	}
	return t
}

// Open opens a P4Runtime session with the switch, waiting until its gRPC
// server is up. It fails early if the switch process exits.
func (sw *Switch) Open(ctx context.Context, election p4rt.ElectionID) (*p4rt.Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sw.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	s, err := p4rt.Open(ctx, GRPCAddr, p4rt.Options{
		DeviceID:    sw.DeviceID,
		ElectionID:  election,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(netnsDialer(sw.NS))},
	})
	if err != nil {
		select {
		case <-sw.exited:
			return nil, fmt.Errorf("simple_switch_grpc exited (%v); log %s:\n%s", sw.exitErr(), sw.LogFile, sw.LogTail(2000))
		default:
		}
		return nil, err
	}
	return s, nil
}

func (sw *Switch) exitErr() error {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return sw.waitErr
}

// LogTail returns at most n bytes of the end of the switch's log.
func (sw *Switch) LogTail(n int) string {
	b, _ := os.ReadFile(sw.LogFile)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Frames returns the frames the switch transmitted on any host port, in
// the order the test's readers saw them.
func (sw *Switch) Frames() <-chan Frame { return sw.rx }

// Stop ends the switch and removes its namespace with everything in it.
func (sw *Switch) Stop() {
	for _, hp := range sw.Ports {
		hp.Close()
	}
	if sw.cmd != nil && sw.cmd.Process != nil {
		// ip netns exec replaces itself with the switch: signal it directly.
		_ = sw.cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-sw.exited:
		case <-time.After(5 * time.Second):
			_ = sw.cmd.Process.Kill()
			<-sw.exited
		}
	}
	_ = ip("netns", "del", sw.NS)
}

// Frame is a frame a host port received: what the switch sent out of that
// port.
type Frame = rawport.Frame

// HostPort is the test's end of one switch port: an AF_PACKET socket on the
// host side of the veth pair.
type HostPort = rawport.Port
