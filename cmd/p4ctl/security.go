package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// security is what a node's flags say about trust: who its listeners
// admit, and the TLS each one serves.
type security struct {
	prometheus.Collector // refused peers, by listener and reason

	auth       *access.Authenticator
	apiOpts    []grpc.ServerOption
	raft       *tlsconf.Peers // nil: plaintext raft
	metricsTLS *tls.Config    // nil: plaintext metrics
	refusals   *tlsconf.RefusalLog
}

// security checks the node's TLS and role flags and builds its
// listeners' trust. Without TLS every listener must be on loopback unless
// --insecure-listen; with it, raft is mutual TLS among the members named
// by --role-member (or --role-admin), and the API and metrics ask every
// client for a certificate and refuse, with the reason, those that fall
// short.
func (sc serveConfig) security(log *slog.Logger) (*security, error) {
	s := &security{refusals: tlsconf.NewRefusalLog(log, time.Minute)}
	s.Collector = access.RefusalCollector(s.refusals)
	tlsOn := sc.apiTLS.Enabled()
	if !tlsOn {
		for _, l := range []struct{ flag, addr string }{{"--api-addr", sc.apiAddr}, {"--raft-addr", sc.raftAddr}, {"--metrics-addr", sc.metricsAddr}} {
			if l.addr == "" || access.Loopback(l.addr) {
				continue
			}
			if !sc.insecureListen {
				return nil, fmt.Errorf("%s %s: without TLS p4ctl listens on loopback only; give --tls-cert, --tls-key and --tls-ca (and --tls-client-ca for clients' certificates), or --insecure-listen", l.flag, l.addr)
			}
			log.Warn("listening in plaintext on an address other than loopback (--insecure-listen): anyone who reaches it is trusted", "flag", l.flag, "addr", l.addr)
		}
		if sc.roles[0] != nil || sc.roles[1] != nil || sc.roles[2] != nil || sc.roles[3] != nil {
			return nil, errors.New("--role-*: roles are bound to client certificates; give --tls-cert, --tls-key, --tls-ca and --tls-client-ca (mutual TLS)")
		}
		auth, err := access.NewAuthenticator(access.Config{Refusals: s.refusals})
		s.auth = auth
		return s, err
	}
	api, err := sc.apiTLS.ServerRequestingClientCerts()
	if err != nil {
		return nil, fmt.Errorf("API TLS (--tls-*): %w", err)
	}
	if sc.join.tls.CA == "" {
		return nil, errors.New("--tls-cert: a TLS node needs --tls-cert, --tls-key and --tls-ca (the cluster CA: members verify each other with it, on raft and on the API)")
	}
	cfg := access.Config{TLS: true, Refusals: s.refusals}
	if cfg.Members, err = tlsconf.NewVerifier(sc.join.tls.CA); err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	if sc.apiTLS.CA != "" {
		if cfg.Clients, err = tlsconf.NewVerifier(sc.apiTLS.CA); err != nil {
			return nil, fmt.Errorf("--tls-client-ca: %w", err)
		}
	}
	if sc.roles[0] != nil || sc.roles[1] != nil || sc.roles[2] != nil || sc.roles[3] != nil {
		if cfg.Roles, err = access.NewRoles(sc.roles[0], sc.roles[1], sc.roles[2], sc.roles[3]); err != nil {
			return nil, fmt.Errorf("--role-*: %w", err)
		}
		if !cfg.Roles.HasMembers() {
			return nil, errors.New("--role-*: no pattern names the cluster's members, so no node could speak raft: give --role-member (or --role-admin) patterns matching the members' certificates")
		}
	} else {
		log.Warn("TLS without --role-*: every certificate the cluster CA (--tls-ca) verifies is a member's and may speak raft, and every client certificate --tls-client-ca verifies may do everything")
	}
	if s.auth, err = access.NewAuthenticator(cfg); err != nil {
		return nil, fmt.Errorf("--role-*: %w", err)
	}
	if s.raft, err = (tlsconf.Files{Cert: sc.apiTLS.Cert, Key: sc.apiTLS.Key, CA: sc.join.tls.CA}).Peers(s.auth.IsMember); err != nil {
		return nil, fmt.Errorf("raft TLS (--tls-cert, --tls-key, --tls-ca): %w", err)
	}
	s.apiOpts = []grpc.ServerOption{grpc.Creds(credentials.NewTLS(api))}
	if sc.metricsAddr != "" {
		if s.metricsTLS, err = sc.apiTLS.ServerRequestingClientCerts(); err != nil {
			return nil, fmt.Errorf("metrics TLS (--tls-*): %w", err)
		}
	}
	return s, nil
}

// checkJoinMode refuses to join through a member whose API speaks TLS
// when this node has none, or the reverse: such a cluster would mix TLS
// and plaintext members, whose raft refuses each other.
func checkJoinMode(a apiClient) error {
	speaks, err := tlsconf.Probe(a.server, 5*time.Second)
	if err != nil {
		return fmt.Errorf("--join %s: %w", a.server, err)
	}
	switch {
	case speaks && !a.tls.Enabled():
		return fmt.Errorf("--join %s: that member serves TLS and this node has none: a cluster cannot mix TLS and plaintext members (give --tls-cert, --tls-key and --tls-ca)", a.server)
	case !speaks && a.tls.Enabled():
		return fmt.Errorf("--join %s: that member serves plaintext and this node has TLS: a cluster cannot mix TLS and plaintext members", a.server)
	}
	return nil
}
