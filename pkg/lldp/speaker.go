package lldp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Config configures a Speaker.
type Config struct {
	// Interfaces selects the interfaces to speak on by name (nil: every
	// interface that is up, has a MAC and is not loopback).
	Interfaces *regexp.Regexp
	// TxInterval is how often LLDPDUs are sent (default 30s); TxHold
	// times it is the TTL they carry (default 4).
	TxInterval time.Duration
	TxHold     int
	// ChassisID is this system's chassis ID, sent with subtype MAC
	// (default: the MAC of the first interface spoken on, by name, or
	// with none yet, of the first interface of the namespace).
	ChassisID net.HardwareAddr
	// SystemName defaults to the host name.
	SystemName        string
	SystemDescription string
	// MaxNeighbors bounds neighbors per interface (DefaultMaxPerInterface).
	MaxNeighbors int
	Logger       *slog.Logger
}

// port is one interface the speaker speaks on.
type port struct {
	index int
	name  string
	mac   net.HardwareAddr
	up    bool // operationally up (IFF_RUNNING)
	fast  int  // fast-start LLDPDUs still to send, one a second
}

// txFast is how many LLDPDUs follow, a second apart, the one sent at once
// when an interface comes up or a neighbor is new there (802.1AB's fast
// start, txFastInit 4 in all): one frame can be lost, or reach a peer
// that has not yet taken the interface up itself.
const txFast = 3

// Speaker sends this system's LLDPDUs on the selected interfaces of one
// network namespace and keeps what it hears from neighbors in a Table.
// The namespace is the calling thread's when the speaker is made; Run may
// then run on any thread. The interfaces follow netlink's link events: an
// interface that appears later (a VM's tap, a new veth) is spoken on at
// once, and the neighbors heard on one that goes down or away are
// forgotten at once rather than when their TTL runs out.
type Speaker struct {
	cfg   Config
	log   *slog.Logger
	table *Table
	local Frame // the LLDPDU sent, less port ID and description

	fd int             // one AF_PACKET socket for LLDP on every interface
	ns vnetns.NsHandle // the speaker's namespace, for link events
	nl *netlink.Handle // route netlink in that namespace
	// here is set when the speaker could not switch namespaces (no
	// CAP_SYS_ADMIN, as the agent's systemd unit runs it): its netlink
	// sockets are then opened in the namespace of the thread that calls,
	// the speaker's own, since a process that cannot switch stays in one.
	here bool

	mu    sync.Mutex
	ports map[int]*port // spoken on, by interface index
	fastc chan struct{} // a port has fast-start LLDPDUs to send

	closeOnce sync.Once
}

// ethPLLDP is ETH_P_LLDP in network byte order, as AF_PACKET wants it.
var ethPLLDP = uint16(EtherType>>8 | EtherType<<8&0xff00)

// NewSpeaker opens the speaker's socket and netlink handle in the calling
// thread's network namespace and selects the interfaces there. No
// interface being selected yet is not an error (they may appear later),
// but the chassis ID then comes from another interface of the namespace,
// and with none that has a MAC address, Config.ChassisID must be set.
func NewSpeaker(cfg Config) (*Speaker, error) {
	if cfg.TxInterval <= 0 {
		cfg.TxInterval = 30 * time.Second
	}
	if cfg.TxHold <= 0 {
		cfg.TxHold = 4
	}
	if cfg.SystemName == "" {
		cfg.SystemName, _ = os.Hostname()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Speaker{cfg: cfg, log: log, table: NewTable(cfg.MaxNeighbors), fd: -1, ns: vnetns.None(),
		ports: map[int]*port{}, fastc: make(chan struct{}, 1)}
	fail := func(err error) (*Speaker, error) {
		s.close()
		return nil, fmt.Errorf("lldp: %w", err)
	}
	var err error
	if s.ns, err = vnetns.Get(); err != nil {
		return fail(fmt.Errorf("network namespace: %w", err))
	}
	if s.nl, err = netlink.NewHandleAt(s.ns); err != nil {
		if !errors.Is(err, os.ErrPermission) && !strings.Contains(err.Error(), "operation not permitted") {
			return fail(fmt.Errorf("netlink: %w", err))
		}
		if s.nl, err = netlink.NewHandle(); err != nil {
			return fail(fmt.Errorf("netlink: %w", err))
		}
		s.here = true
	}
	if s.fd, err = openSocket(); err != nil {
		return fail(err)
	}
	links, err := s.nl.LinkList()
	if err != nil {
		return fail(fmt.Errorf("list interfaces: %w", err))
	}
	s.rescan(links)
	chassis := cfg.ChassisID
	if len(chassis) != 6 {
		chassis = firstMAC(links, s.selected)
	}
	if len(chassis) != 6 {
		chassis = firstMAC(links, func(netlink.Link) bool { return true })
	}
	if len(chassis) != 6 {
		return fail(errors.New("no interface with a MAC address to take the chassis ID from: set one"))
	}
	ttl := min(cfg.TxInterval*time.Duration(cfg.TxHold), MaxTTL).Truncate(time.Second)
	s.local = Frame{ChassisIDSubtype: ChassisMAC, ChassisID: string(chassis), PortIDSubtype: PortIfName, TTL: max(ttl, time.Second),
		SystemName: cfg.SystemName, SystemDescription: cfg.SystemDescription}
	return s, nil
}

// openSocket opens the raw socket that sends and receives LLDP frames on
// every interface of the namespace, with a receive timeout so that the
// reader notices shutdown.
func openSocket() (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(ethPLLDP))
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	return fd, nil
}

// membership joins (or leaves) the LLDP multicast group on an interface,
// so that a NIC that filters multicast passes LLDP frames up.
func (s *Speaker) membership(ifindex int, join bool) error {
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], MulticastMAC)
	opt := unix.PACKET_ADD_MEMBERSHIP
	if !join {
		opt = unix.PACKET_DROP_MEMBERSHIP
	}
	return unix.SetsockoptPacketMreq(s.fd, unix.SOL_PACKET, opt, &mreq)
}

// selected reports whether the speaker speaks on l: not loopback, an
// Ethernet MAC, and either named by Config.Interfaces or (without it) up.
func (s *Speaker) selected(l netlink.Link) bool {
	a := l.Attrs()
	if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 {
		return false
	}
	if s.cfg.Interfaces != nil {
		return s.cfg.Interfaces.MatchString(a.Name)
	}
	return a.Flags&net.FlagUp != 0
}

// firstMAC is the MAC of the first link by name that ok accepts, or nil.
func firstMAC(links []netlink.Link, ok func(netlink.Link) bool) net.HardwareAddr {
	var best netlink.Link
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || len(a.HardwareAddr) != 6 || !ok(l) {
			continue
		}
		if best == nil || a.Name < best.Attrs().Name {
			best = l
		}
	}
	if best == nil {
		return nil
	}
	return best.Attrs().HardwareAddr
}

// rescan makes the interfaces spoken on those of links that are
// selected: new ones join the LLDP group, vanished, renamed or re-addressed
// ones are dropped with their neighbors, and the neighbors of one that is
// no longer operationally up are forgotten. It returns the interfaces
// that are new, or newly up, so that the caller can announce itself there.
func (s *Speaker) rescan(links []netlink.Link) (fresh []*port) {
	want := map[int]*port{}
	for _, l := range links {
		if s.selected(l) {
			a := l.Attrs()
			want[a.Index] = &port{index: a.Index, name: a.Name, mac: a.HardwareAddr, up: a.RawFlags&unix.IFF_RUNNING != 0}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, p := range s.ports {
		w, ok := want[i]
		if ok && w.name == p.name && bytes.Equal(w.mac, p.mac) {
			continue
		}
		// A vanished interface left the group with its index; the error
		// is expected there.
		_ = s.membership(i, false)
		delete(s.ports, i)
		s.table.RemoveInterface(p.name)
		s.log.Info("lldp: interface dropped", "interface", p.name)
	}
	for i, w := range want {
		p, ok := s.ports[i]
		if !ok {
			if err := s.membership(i, true); err != nil {
				s.log.Warn("lldp: interface not spoken on", "interface", w.name, "err", err)
				continue
			}
			s.ports[i] = w
			s.log.Info("lldp: speaking on interface", "interface", w.name)
			if w.up {
				fresh = append(fresh, w)
			}
			continue
		}
		if p.up && !w.up {
			s.table.RemoveInterface(p.name)
			p.fast = 0
		} else if !p.up && w.up {
			fresh = append(fresh, p)
		}
		p.up = w.up
	}
	for _, p := range fresh {
		s.fastStart(p)
	}
	return fresh
}

// fastStart schedules p's fast-start LLDPDUs. Callers hold s.mu.
func (s *Speaker) fastStart(p *port) {
	p.fast = txFast
	select {
	case s.fastc <- struct{}{}:
	default:
	}
}

// fastDue takes one fast-start LLDPDU from every port that has one left,
// and reports whether any port has more.
func (s *Speaker) fastDue() (due []*port, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.ports {
		if p.fast > 0 {
			p.fast--
			due = append(due, &port{index: p.index, name: p.name, mac: p.mac})
			more = more || p.fast > 0
		}
	}
	return due, more
}

// Table is the neighbors heard.
func (s *Speaker) Table() *Table { return s.table }

// Local is the LLDPDU this system sends (port fields aside).
func (s *Speaker) Local() Frame { return s.local }

// Interfaces are the interfaces spoken on now, by name.
func (s *Speaker) Interfaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.ports))
	for _, p := range s.ports {
		out = append(out, p.name)
	}
	slices.Sort(out)
	return out
}

// Run sends LLDPDUs every TxInterval, hears neighbors, ages them out and
// follows interfaces as they come and go, until ctx ends; then it sends a
// shutdown LLDPDU (TTL 0) on every interface and closes its sockets. A
// speaker runs once.
func (s *Speaker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Link events drive the interface set; a rescan on every transmit
	// covers a subscription that failed or lost events.
	events := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	var ns *vnetns.NsHandle
	if !s.here {
		ns = &s.ns
	}
	if err := netlink.LinkSubscribeWithOptions(events, done, netlink.LinkSubscribeOptions{Namespace: ns,
		ErrorCallback: func(err error) {
			if ctx.Err() == nil {
				s.log.Warn("lldp: link events", "err", err)
			}
		}}); err != nil {
		s.log.Warn("lldp: no link events; interfaces rescanned every transmit interval", "err", err)
		events = nil
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		s.receive(ctx)
	}()
	defer func() {
		cancel()
		close(done)
		wg.Wait()
		s.send(0, s.all())
		s.close()
	}()
	// rescan lists the interfaces again and returns the ones to announce
	// on now.
	rescan := func() []*port {
		links, err := s.nl.LinkList()
		if err != nil {
			s.log.Warn("lldp: list interfaces", "err", err)
			return nil
		}
		return s.rescan(links)
	}
	// Interfaces that came or went between NewSpeaker's listing and the
	// subscription sent no event the speaker saw: list them again.
	rescan()
	s.send(s.local.TTL, s.all())
	tx := time.NewTicker(s.cfg.TxInterval)
	defer tx.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	fast := time.NewTimer(time.Hour)
	fast.Stop()
	defer fast.Stop()
	fastArmed := false
	for {
		expiry.Reset(s.table.untilExpiry())
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-events:
			if !ok {
				s.log.Warn("lldp: link events ended; interfaces rescanned every transmit interval")
				events = nil
				continue
			}
			// One listing answers a burst of events.
			for drained := false; !drained; {
				select {
				case <-events:
				default:
					drained = true
				}
			}
			s.send(s.local.TTL, rescan())
		case <-tx.C:
			rescan()
			s.send(s.local.TTL, s.all())
		case <-s.fastc:
			if !fastArmed {
				fast.Reset(time.Second)
				fastArmed = true
			}
		case <-fast.C:
			due, more := s.fastDue()
			s.send(s.local.TTL, due)
			if fastArmed = more; more {
				fast.Reset(time.Second)
			}
		case <-expiry.C:
			s.table.Expire(time.Now())
		case <-s.table.owner:
			// A new neighbor may expire before the timer: re-arm.
		}
	}
}

// all is a snapshot of the interfaces spoken on.
func (s *Speaker) all() []*port {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*port, 0, len(s.ports))
	for _, p := range s.ports {
		out = append(out, &port{index: p.index, name: p.name, mac: p.mac, up: p.up})
	}
	return out
}

// send transmits this system's LLDPDU with ttl on ports.
func (s *Speaker) send(ttl time.Duration, ports []*port) {
	to := unix.SockaddrLinklayer{Protocol: ethPLLDP, Halen: 6}
	copy(to.Addr[:], MulticastMAC)
	for _, p := range ports {
		f := s.local
		f.TTL, f.PortID, f.PortDescription = ttl, p.name, p.name
		b, err := f.Marshal(p.mac)
		if err != nil {
			s.log.Warn("lldp: encode", "interface", p.name, "err", err)
			continue
		}
		to.Ifindex = p.index
		if err := unix.Sendto(s.fd, b, 0, &to); err != nil {
			s.log.Debug("lldp: send", "interface", p.name, "err", err)
		}
	}
}

// receive reads LLDPDUs from every interface spoken on into the table
// until ctx ends. The port lookup and the table update happen under the
// lock rescan drops ports under, so a frame read just before its
// interface went away cannot bring its neighbor back.
func (s *Speaker) receive(ctx context.Context) {
	buf := make([]byte, 9216)
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(s.fd, buf, 0)
		if err != nil {
			continue // timeout or EINTR: check ctx and read on
		}
		ll, ok := from.(*unix.SockaddrLinklayer)
		if !ok || ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own
		}
		s.mu.Lock()
		p := s.ports[ll.Ifindex]
		if p == nil || (n >= 12 && bytes.Equal(buf[6:12], p.mac)) {
			s.mu.Unlock()
			continue
		}
		f, err := Parse(buf[:n])
		if err != nil {
			s.mu.Unlock()
			s.log.Debug("lldp: bad frame", "interface", p.name, "err", err)
			continue
		}
		if s.table.Update(p.name, f, time.Now()) && f.TTL > 0 && p.fast == 0 {
			// A new (or changed) neighbor learns of us within a second
			// too, rather than at our next regular LLDPDU.
			s.fastStart(p)
		}
		s.mu.Unlock()
	}
}

// close releases the socket, the netlink handle and the namespace handle.
func (s *Speaker) close() {
	s.closeOnce.Do(func() {
		if s.fd >= 0 {
			unix.Close(s.fd)
		}
		if s.nl != nil {
			s.nl.Close()
		}
		if s.ns.IsOpen() {
			s.ns.Close()
		}
	})
}
