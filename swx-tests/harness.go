// Package swxtests is the DPDK tier: p4ctl's PNA pipeline on DPDK's SWX
// pipeline behind p4ctl-swx (cmd/p4ctl-swx), proven with real frames.
//
// A Server is p4ctl-swx in a network namespace of its own, its ports
// net_tap devices there; the test holds an AF_PACKET socket on each TAP's
// kernel side, so a frame it sends enters the pipeline on that port and a
// frame the pipeline sends out of the port is read there. P4Runtime is
// served on the namespace's loopback and reached with a dialer that
// connects from inside it; deleting the namespace removes everything.
//
// The tier skips with one line when DPDK is absent (libdpdk-dev, the DPDK
// source tree with the pipeline headers, gcc) or the process is not root.
package swxtests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/internal/netns"
	"github.com/p4ctl/p4ctl/internal/rawport"
	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// Addr is where p4ctl-swx serves P4Runtime inside its namespace.
const Addr = "127.0.0.1:9559"

// DPDKSource is the DPDK source tree the pipeline's generated C needs
// (RTE_INSTALL_DIR overrides it).
func DPDKSource() string {
	if d := os.Getenv("RTE_INSTALL_DIR"); d != "" {
		return d
	}
	return "/opt/dpdk-src/dpdk-22.11.11"
}

// Prerequisites returns why the DPDK tier cannot run here, or "" when it
// can.
func Prerequisites() string {
	if os.Geteuid() != 0 {
		return "not root: network namespaces, TAP devices and DPDK need root"
	}
	if out, err := exec.Command("pkg-config", "--modversion", "libdpdk").Output(); err != nil {
		return "DPDK is not installed (pkg-config libdpdk: apt-get install dpdk libdpdk-dev)"
	} else if v := strings.TrimSpace(string(out)); !strings.HasPrefix(v, "22.11") {
		return "DPDK " + v + " is installed; the tier runs DPDK 22.11's SWX pipeline"
	}
	if _, err := os.Stat(filepath.Join(DPDKSource(), "lib/pipeline/rte_swx_pipeline_internal.h")); err != nil {
		return "no DPDK source tree at " + DPDKSource() + " (apt-get source dpdk there, or set RTE_INSTALL_DIR; docs/targets.md)"
	}
	for _, tool := range []string{"gcc", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			return tool + " is not on PATH"
		}
	}
	return ""
}

// Build builds p4ctl-swx with the swx tag into dir.
func Build(dir string) (string, error) {
	bin := filepath.Join(dir, "p4ctl-swx")
	cmd := exec.Command("go", "build", "-tags", "swx", "-o", bin, "github.com/p4ctl/p4ctl/cmd/p4ctl-swx")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build -tags swx ./cmd/p4ctl-swx: %v\n%s", err, out)
	}
	return bin, nil
}

// Config describes a server to start.
type Config struct {
	Bin   string
	Ports []uint32
	// WorkDir keeps the compiled pipeline libraries between runs.
	WorkDir string
	// Args are more p4ctl-swx flags.
	Args []string
}

// Server is a running p4ctl-swx in its own network namespace.
type Server struct {
	NS      string
	Ports   map[uint32]*HostPort
	LogFile string

	rx chan Frame

	cmd    *exec.Cmd
	exited chan struct{}
	mu     sync.Mutex
	err    error
}

// Start creates the namespace and starts p4ctl-swx with one net_tap port
// per P4 port, then opens the test's end of each.
func Start(ctx context.Context, cfg Config) (s *Server, err error) {
	removeStale()
	ns := fmt.Sprintf("p4ctl-swx-%d-%d", os.Getpid(), time.Now().UnixNano()%1_000_000)
	if err := netns.IP("netns", "add", ns); err != nil {
		return nil, err
	}
	s = &Server{NS: ns, Ports: map[uint32]*HostPort{}, rx: make(chan Frame, 8192), exited: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if err := rawport.Quiet(ns); err != nil {
		return nil, err
	}
	if err := netns.IP("-n", ns, "link", "set", "lo", "up"); err != nil {
		return nil, err
	}
	args := []string{"netns", "exec", ns, cfg.Bin, "--listen", Addr, "--work-dir", cfg.WorkDir, "--dpdk-src", DPDKSource()}
	for i, p := range cfg.Ports {
		args = append(args, "--port", fmt.Sprintf("%d=net_tap%d,iface=t%d", p, i, p))
	}
	args = append(args, cfg.Args...)
	logf, err := os.CreateTemp("", "p4ctl-swx-*.log")
	if err != nil {
		return nil, err
	}
	s.LogFile = logf.Name()
	s.cmd = exec.Command("ip", args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// A test binary that dies (a closed output pipe, a timeout) must not
	// leave a server busy-polling a core: ip execs p4ctl-swx, which keeps
	// the parent-death signal.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		err := s.cmd.Wait()
		logf.Close()
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.exited)
	}()
	// Wait for the listening line: the ports exist then.
	for {
		b, _ := os.ReadFile(s.LogFile)
		if bytes.Contains(b, []byte("p4ctl-swx listening on")) {
			break
		}
		select {
		case <-s.exited:
			return nil, fmt.Errorf("p4ctl-swx exited (%v):\n%s", s.exitErr(), s.LogTail(3000))
		case <-ctx.Done():
			return nil, fmt.Errorf("p4ctl-swx did not start: %v\n%s", ctx.Err(), s.LogTail(3000))
		case <-time.After(50 * time.Millisecond):
		}
	}
	for _, p := range cfg.Ports {
		ifn := fmt.Sprintf("t%d", p)
		if err := netns.IP("-n", ns, "link", "set", ifn, "up"); err != nil {
			return nil, err
		}
		hp, err := rawport.Open(ns, p, ifn, s.rx)
		if err != nil {
			return nil, err
		}
		s.Ports[p] = hp
	}
	return s, nil
}

func (s *Server) exitErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Exited is closed when the server process ends.
func (s *Server) Exited() <-chan struct{} { return s.exited }

// DialOptions reach the server's P4Runtime address from the test.
func (s *Server) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithContextDialer(netns.Dialer(s.NS))}
}

// Open opens a P4Runtime session, failing early if the server exits.
func (s *Server) Open(ctx context.Context, election p4rt.ElectionID) (*p4rt.Session, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	sess, err := p4rt.Open(ctx, Addr, p4rt.Options{DeviceID: 1, ElectionID: election, DialOptions: s.DialOptions()})
	if err != nil {
		return nil, fmt.Errorf("%w; server log:\n%s", err, s.LogTail(2000))
	}
	return sess, nil
}

// LogTail is at most n bytes of the end of the server's log.
func (s *Server) LogTail(n int) string {
	b, _ := os.ReadFile(s.LogFile)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// LogLines returns the log's lines that contain sub.
func (s *Server) LogLines(sub string) []string {
	f, err := os.Open(s.LogFile)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			out = append(out, sc.Text())
		}
	}
	return out
}

// Frames are the frames the pipeline sent out of any port.
func (s *Server) Frames() <-chan Frame { return s.rx }

// Pid is the server's process id (ip netns exec execs it).
func (s *Server) Pid() int { return s.cmd.Process.Pid }

// Stop ends the server and removes its namespace.
func (s *Server) Stop() {
	for _, hp := range s.Ports {
		hp.Close()
	}
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Signal(unix.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			<-s.exited
		}
	}
	_ = netns.IP("netns", "del", s.NS)
}

// Frame is a frame read on a port: what the pipeline sent out of it.
type Frame = rawport.Frame

// HostPort is the test's end of a port: AF_PACKET on the TAP.
type HostPort = rawport.Port

// CPUSeconds is the server process's user and system CPU time so far.
func (s *Server) CPUSeconds() float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.Pid()))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100
}

// removeStale deletes the namespaces of earlier runs whose test process
// is gone (killed before it could clean up; its server died with it).
func removeStale() {
	ents, _ := os.ReadDir("/var/run/netns")
	for _, e := range ents {
		var pid, n int
		if _, err := fmt.Sscanf(e.Name(), "p4ctl-swx-%d-%d", &pid, &n); err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
			_ = netns.IP("netns", "del", e.Name())
		}
	}
}
