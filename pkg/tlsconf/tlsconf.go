// Package tlsconf builds the TLS configurations p4ctl's servers and
// clients use (the northbound API, P4Runtime sessions, gNMI) from PEM
// files named on the command line. Certificates and keys are read again
// when their files change, so they can be rotated without a restart.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
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
// when given, are presented for mutual TLS.
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
// (mutual TLS).
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
		pool, err := loadPool(f.CA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

func loadPool(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("CA bundle %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// keyPair is a certificate and key loaded from files, loaded again when
// either file's modification time changes. The check is two stats per
// handshake; gRPC connections are long-lived, so that is rare.
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	current *tls.Certificate
	stamp   [2]time.Time
}

func newKeyPair(cert, key string) (*keyPair, error) {
	kp := &keyPair{cert: cert, key: key}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	return kp, nil
}

func (kp *keyPair) get() (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	var stamp [2]time.Time
	for i, f := range []string{kp.cert, kp.key} {
		st, err := os.Stat(f)
		if err != nil {
			if kp.current != nil {
				return kp.current, nil // keep serving the last good pair
			}
			return nil, fmt.Errorf("certificate: %w", err)
		}
		stamp[i] = st.ModTime()
	}
	if kp.current != nil && stamp == kp.stamp {
		return kp.current, nil
	}
	c, err := tls.LoadX509KeyPair(kp.cert, kp.key)
	if err != nil {
		if kp.current != nil {
			return kp.current, nil // a half-written rotation: keep the last good pair
		}
		return nil, fmt.Errorf("certificate %s, key %s: %w", kp.cert, kp.key, err)
	}
	kp.current, kp.stamp = &c, stamp
	return kp.current, nil
}
