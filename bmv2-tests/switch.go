package bmv2tests

import (
	"bytes"
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
	// No IPv6 on any interface: the kernel would otherwise send router and
	// neighbour solicitations and MLD reports into the switch.
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if out, err := exec.Command("ip", "netns", "exec", ns, "sysctl", "-qw", k+"=1").CombinedOutput(); err != nil {
			return nil, fmt.Errorf("sysctl %s in %s: %v: %s", k, ns, err, out)
		}
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
		hp, err := openHostPort(ns, p, host, sw.rx)
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

// Frame is a frame received on a host port.
type Frame struct {
	Port uint32
	Data []byte
}

// HostPort is the test's end of one switch port: an AF_PACKET socket on the
// host side of the veth pair.
type HostPort struct {
	Port   uint32
	Ifname string
	fd     int
	frames chan<- Frame
	stop   chan struct{}
	done   chan struct{}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

func openHostPort(ns string, port uint32, ifname string, rx chan<- Frame) (*HostPort, error) {
	hp := &HostPort{Port: port, Ifname: ifname, fd: -1, frames: rx, stop: make(chan struct{}), done: make(chan struct{})}
	err := inNetns(ns, func() error {
		ifi, err := netInterfaceIndex(ifname)
		if err != nil {
			return err
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return fmt.Errorf("AF_PACKET socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("bind %s: %w", ifname, err)
		}
		// A receive timeout lets the reader notice Close.
		tv := unix.Timeval{Usec: 50_000}
		if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			unix.Close(fd)
			return err
		}
		hp.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("host port %d (%s): %w", port, ifname, err)
	}
	go hp.readLoop()
	return hp, nil
}

func netInterfaceIndex(name string) (int, error) {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return 0, err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFINDEX, ifr); err != nil {
		return 0, fmt.Errorf("interface %s: %w", name, err)
	}
	return int(ifr.Uint32()), nil
}

// readLoop owns the socket's receive side until Close.
func (hp *HostPort) readLoop() {
	defer close(hp.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-hp.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(hp.fd, buf, 0)
		if err != nil {
			continue // timeout (EAGAIN) or EINTR: check stop and read on
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own transmissions
		}
		select {
		case hp.frames <- Frame{Port: hp.Port, Data: bytes.Clone(buf[:n])}:
		default: // a test that never drains; newer frames are dropped
		}
	}
}

// Send transmits one Ethernet frame into the switch port.
func (hp *HostPort) Send(frame []byte) error {
	if err := unix.Send(hp.fd, frame, 0); err != nil {
		return fmt.Errorf("send on %s: %w", hp.Ifname, err)
	}
	return nil
}

// Close stops the reader and closes the socket.
func (hp *HostPort) Close() {
	select {
	case <-hp.stop:
		return
	default:
	}
	close(hp.stop)
	<-hp.done
	unix.Close(hp.fd)
}
