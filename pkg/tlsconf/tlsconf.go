// Package tlsconf builds the TLS configurations p4ctl's servers and
// clients use (the northbound API, P4Runtime sessions, gNMI) from PEM
// files named on the command line. Certificates and keys are read again
// when their files change, so they can be rotated without a restart.
package tlsconf

import (
	"crypto/tls"
	"errors"
)

// Files names the PEM files of one TLS endpoint. All are optional, but
// Cert and Key go together.
type Files struct {
	// CA is the bundle that verifies the peer: the server's chain for a
	// client; for a server, client certificates (mutual TLS) when set.
	CA string
	// Cert and Key are this side's certificate chain and private key.
	Cert, Key string
	// ServerName overrides the name a client verifies in the server's
	// certificate (default: the host part of the address dialled).
	ServerName string
	// Insecure, for a client, skips verification of the server: only for
	// labs where the switch's certificate cannot be checked.
	Insecure bool
}

// Enabled reports whether any TLS setting is given.
func (f Files) Enabled() bool {
	return f.CA != "" || f.Cert != "" || f.Key != "" || f.ServerName != "" || f.Insecure
}

func (f Files) check() error {
	if (f.Cert == "") != (f.Key == "") {
		return errors.New("a certificate and its key go together: give both or neither")
	}
	return nil
}

// Client returns the configuration for dialling a server: the server is
// verified against CA (the system roots when CA is empty), and Cert/Key,
// when given, are presented for mutual TLS (read again when they change).
// The CA is read once: a client's connections verify the server's name,
// which only crypto/tls's own verification sees for every kind of address.
func (f Files) Client() (*tls.Config, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: f.ServerName, InsecureSkipVerify: f.Insecure}
	if f.CA != "" {
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	if f.Cert != "" {
		kp, err := newKeyPair(f.Cert, f.Key)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	}
	return cfg, nil
}

// Server returns the configuration for serving: Cert and Key are
// required; with CA, clients must present a certificate it verifies
// (mutual TLS), checked against the CA file's current contents at every
// handshake.
func (f Files) Server() (*tls.Config, error) {
	if err := f.check(); err != nil {
		return nil, err
	}
	if f.Cert == "" {
		return nil, errors.New("serving TLS needs a certificate and key")
	}
	kp, err := newKeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return kp.get() }}
	if f.CA != "" {
		ca, err := newCAPool(f.CA)
		if err != nil {
			return nil, err
		}
		base := cfg.Clone()
		base.ClientAuth = tls.RequireAndVerifyClientCert
		cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
			c := base.Clone()
			c.ClientCAs = ca.get()
			return c, nil
		}
		// For a caller that inspects the configuration.
		cfg.ClientAuth, cfg.ClientCAs = tls.RequireAndVerifyClientCert, ca.get()
	}
	return cfg, nil
}

// ServerRequestingClientCerts is Server's configuration without the CA:
// clients are asked for a certificate but the handshake verifies none and
// accepts a client without one. Every request on such a connection must
// be authenticated by the caller (pkg/access), which can then refuse it
// with a reason the client sees, where a refused handshake shows the
// client nothing but a broken connection.
func (f Files) ServerRequestingClientCerts() (*tls.Config, error) {
	f.CA = ""
	cfg, err := f.Server()
	if err != nil {
		return nil, err
	}
	cfg.ClientAuth = tls.RequestClientCert
	return cfg, nil
}
