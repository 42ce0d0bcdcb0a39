// Package rawport is a test's end of a switch port: an AF_PACKET socket on
// one interface inside a named network namespace, which sends whole
// Ethernet frames into the port and hands every frame the port transmits to
// a channel.
//
// The data-plane test tiers use it on the host side of BMv2's veth pairs
// (bmv2-tests) and on the kernel side of DPDK's TAP devices (swx-tests).
package rawport

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/p4ctl/p4ctl/internal/netns"
)

// Frame is a frame read on a port.
type Frame struct {
	Port uint32 // the P4 port it left the switch on
	Data []byte
}

// Port is one open AF_PACKET socket, bound to its interface.
type Port struct {
	Port   uint32 // the P4 port the interface is attached to
	Ifname string

	fd     int
	frames chan<- Frame
	stop   chan struct{}
	done   chan struct{}
}

// Open binds a raw socket to interface ifname in the network namespace ns
// and starts reading it: every frame the interface receives (what the
// switch sent out of P4 port port), but none it sends itself, goes to rx as
// a Frame of that port. A frame rx has no room for is dropped, so a test
// that stops draining never blocks the reader. Close stops it.
func Open(ns string, port uint32, ifname string, rx chan<- Frame) (*Port, error) {
	p := &Port{Port: port, Ifname: ifname, fd: -1, frames: rx, stop: make(chan struct{}), done: make(chan struct{})}
	err := netns.Do(ns, func() error {
		ifi, err := ifIndex(ifname)
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
		p.fd = fd
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("host port %d (%s): %w", port, ifname, err)
	}
	go p.readLoop()
	return p, nil
}

// Quiet turns IPv6 off in the network namespace ns, for the interfaces
// there and those made later. The kernel would otherwise send router and
// neighbour solicitations and MLD reports of its own into the switch, and
// a port would carry more than the test's frames and the switch's.
func Quiet(ns string) error {
	for _, k := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if err := netns.IP("netns", "exec", ns, "sysctl", "-qw", k+"=1"); err != nil {
			return err
		}
	}
	return nil
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// ifIndex is the index of interface name in the calling thread's network
// namespace.
func ifIndex(name string) (int, error) {
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
func (p *Port) readLoop() {
	defer close(p.done)
	buf := make([]byte, 65536)
	for {
		select {
		case <-p.stop:
			return
		default:
		}
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if err != nil {
			continue // timeout (EAGAIN) or EINTR: check stop and read on
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own transmissions
		}
		select {
		case p.frames <- Frame{Port: p.Port, Data: bytes.Clone(buf[:n])}:
		default: // a test that never drains; newer frames are dropped
		}
	}
}

// Send transmits one Ethernet frame into the switch port.
func (p *Port) Send(frame []byte) error {
	if err := unix.Send(p.fd, frame, 0); err != nil {
		return fmt.Errorf("send on %s: %w", p.Ifname, err)
	}
	return nil
}

// Close stops the reader and closes the socket. It may be called more than
// once.
func (p *Port) Close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	<-p.done
	unix.Close(p.fd)
}
