package tlsconf

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"sync"
	"time"
)

// RefusalLog logs refused peers, at most once per (listener, reason, peer
// address) each interval, and counts every refusal. A scan or a
// misconfigured client retrying in a loop leaves one line a minute, not
// thousands. It is safe for concurrent use.
type RefusalLog struct {
	log      *slog.Logger
	interval time.Duration

	mu     sync.Mutex
	last   map[refusalKey]time.Time // guarded by mu
	counts map[[2]string]uint64     // (listener, reason); guarded by mu
}

type refusalKey struct{ listener, reason, host string }

// NewRefusalLog logs to log (nil discards) at most once per interval per
// listener, reason and peer host.
func NewRefusalLog(log *slog.Logger, interval time.Duration) *RefusalLog {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &RefusalLog{log: log, interval: interval, last: map[refusalKey]time.Time{}, counts: map[[2]string]uint64{}}
}

// Refused records that listener refused the peer at remote because of
// err (a *PeerError gives the reason; anything else counts as a failed
// handshake).
func (r *RefusalLog) Refused(listener string, remote net.Addr, err error) {
	if r == nil {
		return
	}
	reason := "handshake"
	var pe *PeerError
	if errors.As(err, &pe) {
		reason = pe.Reason
	}
	host := ""
	if remote != nil {
		host = remote.String()
		if h, _, e := net.SplitHostPort(host); e == nil {
			host = h
		}
	}
	now := time.Now()
	k := refusalKey{listener, reason, host}
	r.mu.Lock()
	r.counts[[2]string{listener, reason}]++
	n := r.counts[[2]string{listener, reason}]
	logIt := now.Sub(r.last[k]) >= r.interval
	if logIt {
		r.last[k] = now
		if len(r.last) > 4096 { // a wide scan: forget the oldest keys
			for key, at := range r.last {
				if now.Sub(at) >= r.interval {
					delete(r.last, key)
				}
			}
		}
	}
	r.mu.Unlock()
	if logIt {
		r.log.Warn("peer refused", "listener", listener, "peer", host, "reason", reason, "err", err, "refused_total", n)
	}
}

// Counts returns the refusals so far by listener and reason.
func (r *RefusalLog) Counts() map[[2]string]uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[[2]string]uint64, len(r.counts))
	for k, v := range r.counts {
		out[k] = v
	}
	return out
}

// Probe reports whether the server at addr answers a TLS handshake
// (whatever it then thinks of this side), so that a client can say that
// it dialled a TLS server in plaintext, or the reverse, instead of
// showing a broken connection. Nothing is sent over the handshake. An
// error means addr could not be reached.
func Probe(addr string, timeout time.Duration) (bool, error) {
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return false, err
	}
	defer c.Close()
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	err = tc.HandshakeContext(ctx)
	var alert tls.AlertError
	return err == nil || errors.As(err, &alert), nil
}
