package access

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
)

// Config says whom an Authenticator admits.
type Config struct {
	// TLS is whether the listeners serve TLS. Without it nobody is
	// authenticated: every peer is "unauthenticated" with the admin role
	// (such a node listens on loopback only, unless told otherwise).
	TLS bool
	// Clients verifies client certificates (--tls-client-ca); nil: the
	// listeners ask for none, and a client without a member's certificate
	// is unauthenticated.
	Clients *tlsconf.Verifier
	// Members verifies members' certificates (the cluster CA, --tls-ca);
	// nil: no peer can be a member.
	Members *tlsconf.Verifier
	// Roles binds certificates to roles; nil: no roles, so every client
	// with a verified certificate is an admin, and every certificate the
	// cluster CA verifies is a member's.
	Roles *Roles
	// Refusals logs and counts refused peers; nil: neither.
	Refusals *tlsconf.RefusalLog
}

// Authenticator turns a connection's TLS state into an Identity, or a
// refusal naming the reason. It is read-only once made and safe for
// concurrent use.
type Authenticator struct{ cfg Config }

// NewAuthenticator checks cfg and returns its Authenticator.
func NewAuthenticator(cfg Config) (*Authenticator, error) {
	if !cfg.TLS && (cfg.Clients != nil || cfg.Members != nil || cfg.Roles != nil) {
		return nil, errors.New("certificates and roles need TLS")
	}
	if cfg.Roles != nil && cfg.Clients == nil && (len(cfg.Roles.grants) > 0) {
		return nil, errors.New("roles are bound to client certificates; give --tls-client-ca (mutual TLS)")
	}
	return &Authenticator{cfg: cfg}, nil
}

// Identity is who a peer proved to be.
type Identity struct {
	// Name is "CN=..." of a verified certificate, else "unauthenticated"
	// and the peer's address (without its port, which says nothing
	// lasting about the peer).
	Name string
	// Role is what the peer may do.
	Role Role
	// Authenticated is true when a certificate was verified.
	Authenticated bool
}

// Authenticate is who the peer at remote is, from its connection's TLS
// state (nil for a plaintext connection). A refusal is a
// *tlsconf.PeerError, already logged for listener.
func (a *Authenticator) Authenticate(listener string, remote net.Addr, cs *tls.ConnectionState) (Identity, error) {
	anon := Identity{Name: "unauthenticated " + hostOf(remote), Role: RoleAdmin}
	if !a.cfg.TLS || cs == nil {
		return anon, nil
	}
	now := time.Now()
	var memberErr error
	if a.cfg.Members != nil && len(cs.PeerCertificates) > 0 {
		leaf, err := a.cfg.Members.Verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, now)
		switch {
		case err == nil && (a.cfg.Roles == nil || a.cfg.Roles.IsMember(leaf)):
			return Identity{Name: tlsconf.Subject(leaf), Role: RoleMember, Authenticated: true}, nil
		case err == nil:
			memberErr = &tlsconf.PeerError{Reason: tlsconf.ReasonNotAuthorized, Subject: tlsconf.Subject(leaf),
				Err: errors.New("verified by the cluster CA but not a member by the member (or admin) patterns")}
		default:
			memberErr = err
		}
	}
	if a.cfg.Clients == nil {
		// Server-only TLS: clients are not asked to prove anything.
		return anon, nil
	}
	leaf, err := a.cfg.Clients.Verify(cs.PeerCertificates, x509.ExtKeyUsageClientAuth, now)
	if err != nil {
		var pe *tlsconf.PeerError
		if memberErr != nil && errors.As(err, &pe) && pe.Reason == tlsconf.ReasonUnknownAuthority {
			// Verified by neither CA: the member check says more when
			// the cluster CA knew the certificate.
			var me *tlsconf.PeerError
			if errors.As(memberErr, &me) && me.Reason != tlsconf.ReasonUnknownAuthority {
				err = memberErr
			}
		}
		a.cfg.Refusals.Refused(listener, remote, err)
		return Identity{}, err
	}
	id := Identity{Name: tlsconf.Subject(leaf), Role: RoleAdmin, Authenticated: true}
	if a.cfg.Roles != nil {
		id.Role = a.cfg.Roles.RoleOf(leaf)
	}
	return id, nil
}

// Require refuses id unless it has role need for what (an RPC's or a
// path's name); with cert, also unless it was authenticated by a
// certificate. The refusal is logged for listener.
func (a *Authenticator) Require(listener string, remote net.Addr, id Identity, need Role, cert bool, what string) error {
	if cert && a.cfg.TLS && !id.Authenticated {
		err := &tlsconf.PeerError{Reason: tlsconf.ReasonNoCertificate,
			Err: fmt.Errorf("%s needs a client certificate with the %s role", what, need)}
		a.cfg.Refusals.Refused(listener, remote, err)
		return err
	}
	if id.Role < need {
		err := &tlsconf.PeerError{Reason: "role", Err: fmt.Errorf("%s needs the %s role; %s has %s role", what, need, id.Name, id.Role)}
		a.cfg.Refusals.Refused(listener, remote, err)
		return err
	}
	return nil
}

// IsMember is raft's admission of a certificate the cluster CA verified:
// nil when it names a member.
func (a *Authenticator) IsMember(c *x509.Certificate) error {
	if a.cfg.Roles == nil || a.cfg.Roles.IsMember(c) {
		return nil
	}
	return errors.New("not a cluster member by the member (or admin) role's patterns")
}

func hostOf(a net.Addr) string {
	if a == nil {
		return "peer"
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}
