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
	"sync"
	"time"

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
	// (default: the MAC of the first interface spoken on, by name).
	ChassisID net.HardwareAddr
	// SystemName defaults to the host name.
	SystemName        string
	SystemDescription string
	// MaxNeighbors bounds neighbors per interface (DefaultMaxPerInterface).
	MaxNeighbors int
	Logger       *slog.Logger
}

// port is one interface the speaker owns a socket on.
type port struct {
	name string
	mac  net.HardwareAddr
	fd   int
}

// Speaker sends this system's LLDPDUs on a set of interfaces and keeps
// what it hears from neighbors in a Table. The interfaces and their
// sockets are chosen when it is made, in the network namespace of the
// calling thread; Run may then run anywhere.
type Speaker struct {
	cfg   Config
	log   *slog.Logger
	table *Table
	ports []*port
	local Frame // the LLDPDU sent, less port ID and description

	closeOnce sync.Once
}

// ethPLLDP is ETH_P_LLDP in network byte order, as AF_PACKET wants it.
var ethPLLDP = uint16(EtherType>>8 | EtherType<<8&0xff00)

// NewSpeaker opens a raw socket for LLDP on every selected interface. It
// fails if none is selected or one cannot be opened.
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
	ifs, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("lldp: list interfaces: %w", err)
	}
	s := &Speaker{cfg: cfg, log: log, table: NewTable(cfg.MaxNeighbors)}
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) != 6 {
			continue
		}
		if cfg.Interfaces != nil {
			if !cfg.Interfaces.MatchString(ifi.Name) {
				continue
			}
		} else if ifi.Flags&net.FlagUp == 0 {
			continue
		}
		fd, err := openPort(ifi.Index)
		if err != nil {
			s.closePorts()
			return nil, fmt.Errorf("lldp: interface %s: %w", ifi.Name, err)
		}
		s.ports = append(s.ports, &port{name: ifi.Name, mac: ifi.HardwareAddr, fd: fd})
	}
	if len(s.ports) == 0 {
		return nil, errors.New("lldp: no interface to speak on")
	}
	chassis := cfg.ChassisID
	if len(chassis) != 6 {
		chassis = s.ports[0].mac
	}
	ttl := min(cfg.TxInterval*time.Duration(cfg.TxHold), MaxTTL).Truncate(time.Second)
	s.local = Frame{ChassisIDSubtype: ChassisMAC, ChassisID: string(chassis), PortIDSubtype: PortIfName, TTL: max(ttl, time.Second),
		SystemName: cfg.SystemName, SystemDescription: cfg.SystemDescription}
	return s, nil
}

// openPort opens a raw socket for LLDP frames on interface index ifindex,
// a member of the LLDP multicast group, with a receive timeout so that
// readers notice shutdown.
func openPort(ifindex int) (int, error) {
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(ethPLLDP))
	if err != nil {
		return -1, fmt.Errorf("AF_PACKET socket: %w", err)
	}
	fail := func(err error) (int, error) {
		unix.Close(fd)
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: ethPLLDP, Ifindex: ifindex}); err != nil {
		return fail(fmt.Errorf("bind: %w", err))
	}
	mreq := unix.PacketMreq{Ifindex: int32(ifindex), Type: unix.PACKET_MR_MULTICAST, Alen: 6}
	copy(mreq.Address[:], MulticastMAC)
	if err := unix.SetsockoptPacketMreq(fd, unix.SOL_PACKET, unix.PACKET_ADD_MEMBERSHIP, &mreq); err != nil {
		return fail(fmt.Errorf("join LLDP multicast: %w", err))
	}
	tv := unix.Timeval{Usec: 100_000}
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		return fail(err)
	}
	return fd, nil
}

// Table is the neighbors heard.
func (s *Speaker) Table() *Table { return s.table }

// Local is the LLDPDU this system sends (port fields aside).
func (s *Speaker) Local() Frame { return s.local }

// Interfaces are the interfaces spoken on.
func (s *Speaker) Interfaces() []string {
	out := make([]string, len(s.ports))
	for i, p := range s.ports {
		out[i] = p.name
	}
	return out
}

// Run sends LLDPDUs every TxInterval, hears neighbors and ages them out,
// until ctx ends; then it sends a shutdown LLDPDU (TTL 0) on every
// interface and closes the sockets.
func (s *Speaker) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range s.ports {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.receive(ctx, p)
		}()
	}
	defer func() {
		cancel()
		wg.Wait()
		s.send(0)
		s.closePorts()
	}()
	s.send(s.local.TTL)
	tx := time.NewTicker(s.cfg.TxInterval)
	defer tx.Stop()
	expiry := time.NewTimer(time.Hour)
	defer expiry.Stop()
	for {
		next := time.Hour
		if at := s.table.NextExpiry(); !at.IsZero() {
			next = max(time.Until(at), time.Millisecond)
		}
		expiry.Reset(next)
		select {
		case <-ctx.Done():
			return nil
		case <-tx.C:
			s.send(s.local.TTL)
		case <-expiry.C:
			s.table.Expire(time.Now())
		case <-s.table.owner:
			// A new neighbor may expire before the timer: re-arm.
		}
	}
}

// send transmits this system's LLDPDU with ttl on every interface.
func (s *Speaker) send(ttl time.Duration) {
	for _, p := range s.ports {
		f := s.local
		f.TTL, f.PortID, f.PortDescription = ttl, p.name, p.name
		b, err := f.Marshal(p.mac)
		if err != nil {
			s.log.Warn("lldp: encode", "interface", p.name, "err", err)
			continue
		}
		if err := unix.Send(p.fd, b, 0); err != nil {
			s.log.Debug("lldp: send", "interface", p.name, "err", err)
		}
	}
}

// receive reads LLDPDUs on p into the table until ctx ends.
func (s *Speaker) receive(ctx context.Context, p *port) {
	buf := make([]byte, 9216)
	for ctx.Err() == nil {
		n, from, err := unix.Recvfrom(p.fd, buf, 0)
		if err != nil {
			continue // timeout or EINTR: check ctx and read on
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue // our own
		}
		if n >= 12 && bytes.Equal(buf[6:12], p.mac) {
			continue
		}
		f, err := Parse(buf[:n])
		if err != nil {
			s.log.Debug("lldp: bad frame", "interface", p.name, "err", err)
			continue
		}
		s.table.Update(p.name, f, time.Now())
	}
}

func (s *Speaker) closePorts() {
	s.closeOnce.Do(func() {
		for _, p := range s.ports {
			unix.Close(p.fd)
		}
	})
}
