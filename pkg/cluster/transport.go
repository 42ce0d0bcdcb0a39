package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// DefaultPeerRecheck is how often a TLS node verifies again the
// certificates of the members its live raft connections are with.
const DefaultPeerRecheck = 10 * time.Second

// handshakeTimeout bounds a raft connection's TLS handshake, so a peer
// that connects and says nothing holds a goroutine only that long.
const handshakeTimeout = 10 * time.Second

// tlsRecordHandshake is the first byte of every TLS connection (a
// handshake record), and no raft RPC type.
const tlsRecordHandshake = 0x16

// streamLayer is raft's StreamLayer over a listener we opened ourselves,
// so that port 0 works and the advertised address is the bound one. With
// peers set it speaks mutual TLS between members: a connection is used
// only after the other side's certificate chains to the cluster CA and
// names a member, and every live connection is checked again each
// recheck interval, so a certificate that expires or whose CA is rotated
// out stops that member's raft traffic. Without peers it is plaintext
// TCP, and refuses a TLS client (a member configured otherwise).
type streamLayer struct {
	lis      net.Listener
	peers    *tlsconf.Peers // nil: plaintext
	log      *slog.Logger
	refusals *tlsconf.RefusalLog

	mu      sync.Mutex
	conns   map[*peerConn]struct{}    // live TLS connections; guarded by mu
	inbound map[*inboundConn]struct{} // accepted connections not yet closed by their handler; guarded by mu

	done chan struct{}
	wg   sync.WaitGroup
}

func newStreamLayer(lis net.Listener, peers *tlsconf.Peers, recheck time.Duration, log *slog.Logger, refusals *tlsconf.RefusalLog) *streamLayer {
	l := &streamLayer{lis: lis, peers: peers, log: log, refusals: refusals, conns: map[*peerConn]struct{}{},
		inbound: map[*inboundConn]struct{}{}, done: make(chan struct{})}
	if peers != nil {
		l.wg.Add(1)
		go l.recheck(recheck)
	}
	return l
}

func (l *streamLayer) Addr() net.Addr { return l.lis.Addr() }

// closeWait bounds how long Close waits for raft's handlers of accepted
// connections to return.
const closeWait = 5 * time.Second

// Close stops accepting, cuts every accepted connection and waits for
// raft's handler of each to return: raft serves heartbeats from those
// handlers, straight into its stable store, so none may still run when
// the node closes the store.
func (l *streamLayer) Close() error {
	err := l.lis.Close()
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
	l.mu.Lock()
	conns := make([]*inboundConn, 0, len(l.inbound))
	for c := range l.inbound {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	deadline := time.After(closeWait)
	for _, c := range conns {
		c.Conn.Close() // the handler's read fails, and it closes c
		select {
		case <-c.handled:
		case <-deadline:
			l.log.Warn("raft: a connection handler did not return at close", "peer", c.RemoteAddr())
			return err
		}
	}
	return err
}

// inboundConn is an accepted connection; handled is closed when raft's
// handler closes it, on its way out.
type inboundConn struct {
	net.Conn
	layer   *streamLayer
	once    sync.Once
	handled chan struct{}
}

func (c *inboundConn) Close() error {
	var err error
	c.once.Do(func() {
		c.layer.mu.Lock()
		delete(c.layer.inbound, c)
		c.layer.mu.Unlock()
		err = c.Conn.Close()
		close(c.handled)
	})
	return err
}

// Accept returns the next connection without waiting for its handshake,
// which runs on its first read (in the connection's own goroutine), so a
// slow or silent peer holds up no one else.
func (l *streamLayer) Accept() (net.Conn, error) {
	c, err := l.lis.Accept()
	if err != nil {
		return nil, err
	}
	var conn net.Conn = &plainConn{Conn: c, layer: l}
	if l.peers != nil {
		conn = &peerConn{Conn: tls.Server(c, l.peers.Server()), layer: l, usage: x509.ExtKeyUsageClientAuth}
	}
	in := &inboundConn{Conn: conn, layer: l, handled: make(chan struct{})}
	l.mu.Lock()
	l.inbound[in] = struct{}{}
	l.mu.Unlock()
	return in, nil
}

// Dial connects to the member at addr; with TLS, it returns once the
// member's certificate is checked.
func (l *streamLayer) Dial(addr raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", string(addr), timeout)
	if err != nil || l.peers == nil {
		return c, err
	}
	pc := &peerConn{Conn: tls.Client(c, l.peers.Client()), layer: l, usage: x509.ExtKeyUsageServerAuth}
	ctx, cancel := context.WithTimeout(context.Background(), min(timeout, handshakeTimeout))
	defer cancel()
	if err := pc.handshake(ctx); err != nil {
		return nil, fmt.Errorf("raft TLS with %s: %w", addr, err)
	}
	return pc, nil
}

// recheck verifies every live connection's peer again each interval and
// closes those that no longer pass.
func (l *streamLayer) recheck(every time.Duration) {
	defer l.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			return
		case <-t.C:
		}
		l.mu.Lock()
		conns := make([]*peerConn, 0, len(l.conns))
		for c := range l.conns {
			conns = append(conns, c)
		}
		l.mu.Unlock()
		for _, c := range conns {
			if err := l.peers.Check(c.chain, c.usage); err != nil {
				l.refusals.Refused("raft", c.RemoteAddr(), err)
				l.log.Warn("raft connection closed: the member's certificate no longer passes", "peer", c.RemoteAddr(), "err", err)
				c.Close()
			}
		}
	}
}

// peerConn is a TLS connection between members.
type peerConn struct {
	*tls.Conn
	layer *streamLayer
	usage x509.ExtKeyUsage // what the peer's certificate is checked for

	once  sync.Once
	err   error               // the handshake's outcome; set in once
	chain []*x509.Certificate // the peer's, once the handshake passed
}

func (c *peerConn) handshake(ctx context.Context) error {
	c.once.Do(func() {
		if err := c.Conn.HandshakeContext(ctx); err != nil {
			c.err = err
			var reason error = err
			var rh tls.RecordHeaderError
			var pe *tlsconf.PeerError
			switch {
			case errors.As(err, &pe):
			case errors.As(err, &rh) || errors.Is(err, io.EOF):
				reason = &tlsconf.PeerError{Reason: "plaintext", Err: fmt.Errorf("%w (a member without TLS? this node's raft needs mutual TLS)", err)}
			case strings.Contains(err.Error(), "didn't provide a certificate"):
				reason = &tlsconf.PeerError{Reason: tlsconf.ReasonNoCertificate, Err: err}
			}
			c.layer.refusals.Refused("raft", c.RemoteAddr(), reason)
			c.Conn.Close()
			return
		}
		c.chain = c.ConnectionState().PeerCertificates
		c.layer.mu.Lock()
		c.layer.conns[c] = struct{}{}
		c.layer.mu.Unlock()
	})
	return c.err
}

func (c *peerConn) Read(p []byte) (int, error) {
	if err := c.handshakeTimed(); err != nil {
		return 0, err
	}
	return c.Conn.Read(p)
}

func (c *peerConn) Write(p []byte) (int, error) {
	if err := c.handshakeTimed(); err != nil {
		return 0, err
	}
	return c.Conn.Write(p)
}

func (c *peerConn) handshakeTimed() error {
	ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
	defer cancel()
	return c.handshake(ctx)
}

func (c *peerConn) Close() error {
	c.layer.mu.Lock()
	delete(c.layer.conns, c)
	c.layer.mu.Unlock()
	return c.Conn.Close()
}

// plainConn is a plaintext raft connection; one that opens with a TLS
// handshake is a member configured with TLS talking to this plaintext
// node, and is refused saying so.
type plainConn struct {
	net.Conn
	layer   *streamLayer
	checked bool // the first byte was looked at; only the reading goroutine touches it
}

func (c *plainConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if !c.checked && n > 0 {
		c.checked = true
		if p[0] == tlsRecordHandshake {
			c.layer.refusals.Refused("raft", c.RemoteAddr(), errors.New("a TLS connection: that member has TLS and this node's raft is plaintext (a cluster cannot mix them)"))
			c.Conn.Close()
			return 0, errors.New("raft: refused a TLS connection on a plaintext node")
		}
	}
	return n, err
}
