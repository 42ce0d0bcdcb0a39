package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"time"
)

// Peers is the mutual TLS of cluster members among themselves: each side
// presents its own certificate (Cert, Key), verifies the other's against
// the cluster CA, and admits it only if authorize says the certificate is
// a member's. Both ends check both things, so a certificate of another CA,
// or of the right CA but without the member role, can neither connect nor
// be connected to. The key pair and CA are read again when their files
// change, and Check lets a caller re-verify a long-lived connection's peer
// (an expired or rotated-out certificate).
type Peers struct {
	kp        *keyPair
	ca        *Verifier
	authorize func(*x509.Certificate) error
}

// Peers builds the members' TLS from f's Cert, Key and CA (all required).
// authorize decides whether a verified certificate is a member's; it must
// be safe for concurrent use.
func (f Files) Peers(authorize func(*x509.Certificate) error) (*Peers, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.Cert == "" || f.CA == "" {
		return nil, errors.New("members' mutual TLS needs a certificate, its key and the cluster CA")
	}
	if authorize == nil {
		return nil, errors.New("members' mutual TLS needs an authorization of member certificates")
	}
	kp, err := newKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	ca, err := NewVerifier(f.CA)
	if err != nil {
		return nil, err
	}
	return &Peers{kp: kp, ca: ca, authorize: authorize}, nil
}

// Check verifies a peer's chain against the cluster CA for usage (a
// dialling peer's certificate is a client's, an accepting one's a
// server's) now, and that it is a member's. A refusal is a *PeerError.
func (p *Peers) Check(chain []*x509.Certificate, usage x509.ExtKeyUsage) error {
	leaf, err := p.ca.Verify(chain, usage, time.Now())
	if err != nil {
		return err
	}
	if err := p.authorize(leaf); err != nil {
		return &PeerError{Reason: ReasonNotAuthorized, Subject: Subject(leaf), Err: err}
	}
	return nil
}

// Self checks this node's own certificate as a peer would: it must be
// valid now and a member's, or no other member will admit this one.
func (p *Peers) Self() error {
	leaf, err := p.kp.leaf()
	if err != nil {
		return err
	}
	c, err := p.kp.get()
	if err != nil {
		return err
	}
	chain := []*x509.Certificate{leaf}
	for _, der := range c.Certificate[1:] {
		if ic, err := x509.ParseCertificate(der); err == nil {
			chain = append(chain, ic)
		}
	}
	for _, u := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := p.Check(chain, u); err != nil {
			return fmt.Errorf("this node's own certificate as a member: %w", err)
		}
	}
	return nil
}

// Server is the configuration of the accepting side: a client
// certificate is required and checked with Check.
func (p *Peers) Server() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, ClientAuth: tls.RequireAnyClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return p.kp.get() },
		VerifyConnection: func(cs tls.ConnectionState) error {
			return p.Check(cs.PeerCertificates, x509.ExtKeyUsageClientAuth)
		}}
}

// Client is the configuration of the dialling side: the server's
// certificate is checked with Check. The member role, not a host name,
// is what a member's certificate proves, so no name is verified.
func (p *Peers) Client() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return p.kp.get() },
		VerifyConnection: func(cs tls.ConnectionState) error {
			return p.Check(cs.PeerCertificates, x509.ExtKeyUsageServerAuth)
		}}
}
