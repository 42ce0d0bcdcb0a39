package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"time"
)

// keyPair is a certificate and key loaded from files, loaded again when
// either file's modification time changes. The check is two stats per
// handshake; gRPC connections are long-lived, so that is rare.
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	current *tls.Certificate // guarded by mu
	stamp   [2]time.Time     // guarded by mu
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

// leaf is the pair's current certificate, parsed.
func (kp *keyPair) leaf() (*x509.Certificate, error) {
	c, err := kp.get()
	if err != nil {
		return nil, err
	}
	if c.Leaf != nil {
		return c.Leaf, nil
	}
	return x509.ParseCertificate(c.Certificate[0])
}

// caPool is a CA bundle loaded from a file, loaded again when the file's
// modification time changes, so a CA can be rotated (or a compromised
// one dropped) without a restart. A file that stops parsing keeps the
// last good bundle.
type caPool struct {
	file string

	mu    sync.Mutex
	pool  *x509.CertPool // guarded by mu
	stamp time.Time      // guarded by mu
}

func newCAPool(file string) (*caPool, error) {
	c := &caPool{file: file}
	st, err := os.Stat(file)
	if err != nil {
		return nil, fmt.Errorf("CA bundle: %w", err)
	}
	pool, err := loadPool(file)
	if err != nil {
		return nil, err
	}
	c.pool, c.stamp = pool, st.ModTime()
	return c, nil
}

func (c *caPool) get() *x509.CertPool {
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := os.Stat(c.file)
	if err != nil || st.ModTime().Equal(c.stamp) {
		return c.pool
	}
	if pool, err := loadPool(c.file); err == nil {
		c.pool, c.stamp = pool, st.ModTime()
	}
	return c.pool
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
