// Package tlstest writes a throw-away PKI (a CA, a server certificate for
// 127.0.0.1 and localhost, a client certificate, a cluster member's, and
// a CA nobody trusts) as PEM files for tests of TLS and mutual TLS.
package tlstest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// PKI holds the paths of the PEM files New wrote.
type PKI struct {
	CA                    string
	ServerCert, ServerKey string
	ClientCert, ClientKey string
	// OtherCA is a CA no peer here trusts: peers that trust only it must
	// fail to verify, and a certificate it signed (Other) must be refused.
	OtherCA string
	// MemberCert and MemberKey are a cluster member's certificate (CN
	// "p4ctl test member", for both server and client authentication).
	MemberCert, MemberKey string

	other    *x509.Certificate
	otherKey *ecdsa.PrivateKey

	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
	dir    string
	serial int64
}

// New writes a fresh PKI into a temporary directory of t.
func New(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{dir: t.TempDir(), serial: 10}
	p.caCert, p.caKey = newCA(t, "p4ctl test CA")
	p.CA = p.write(t, "ca.pem", "CERTIFICATE", p.caCert.Raw)
	p.other, p.otherKey = newCA(t, "another CA")
	p.OtherCA = p.write(t, "other-ca.pem", "CERTIFICATE", p.other.Raw)
	p.ServerCert, p.ServerKey = p.Issue(t, "server", x509.ExtKeyUsageServerAuth)
	p.ClientCert, p.ClientKey = p.Issue(t, "client", x509.ExtKeyUsageClientAuth)
	p.MemberCert, p.MemberKey = p.IssueWith(t, "member", Options{})
	return p
}

// Options shape a certificate IssueWith writes.
type Options struct {
	// CN is the subject's common name (default "p4ctl test " + name).
	CN string
	// Usages are its extended key usages (default: server and client).
	Usages []x509.ExtKeyUsage
	// NotBefore and NotAfter bound its validity (default: an hour ago to
	// a day from now).
	NotBefore, NotAfter time.Time
	// ByOther signs it with OtherCA instead of CA.
	ByOther bool
}

// IssueWith writes a certificate and key shaped by o under name and
// returns their paths; it is for 127.0.0.1, ::1 and localhost.
func (p *PKI) IssueWith(t testing.TB, name string, o Options) (cert, key string) {
	t.Helper()
	if o.CN == "" {
		o.CN = "p4ctl test " + name
	}
	if o.Usages == nil {
		o.Usages = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	if o.NotBefore.IsZero() {
		o.NotBefore = time.Now().Add(-time.Hour)
	}
	if o.NotAfter.IsZero() {
		o.NotAfter = time.Now().Add(24 * time.Hour)
	}
	ca, caKey := p.caCert, p.caKey
	if o.ByOther {
		ca, caKey = p.other, p.otherKey
	}
	k := newKey(t)
	p.serial++
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial), Subject: pkix.Name{CommonName: o.CN},
		NotBefore: o.NotBefore, NotAfter: o.NotAfter, ExtKeyUsage: o.Usages, KeyUsage: x509.KeyUsageDigitalSignature,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return p.write(t, name+".pem", "CERTIFICATE", der), p.write(t, name+"-key.pem", "PRIVATE KEY", kder)
}

// RotateCA replaces the CA file's contents with a new CA (the old one is
// no longer trusted by whoever reads the file again) and returns a PKI
// whose Issue and IssueWith sign with the new CA and write into the same
// directory.
func (p *PKI) RotateCA(t testing.TB) *PKI {
	t.Helper()
	q := *p
	q.caCert, q.caKey = newCA(t, "p4ctl test CA, rotated")
	q.serial += 1000
	q.CA = p.write(t, "ca.pem", "CERTIFICATE", q.caCert.Raw)
	// Make the change visible on file systems with coarse timestamps.
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(q.CA, later, later); err != nil {
		t.Fatal(err)
	}
	return &q
}

// Issue writes a new certificate and key signed by the CA under name, for
// one extended key usage, and returns their paths (IssueWith with only
// the usage set).
func (p *PKI) Issue(t testing.TB, name string, usage x509.ExtKeyUsage) (cert, key string) {
	t.Helper()
	return p.IssueWith(t, name, Options{Usages: []x509.ExtKeyUsage{usage}})
}

// Replace writes the contents of file from over file to, as a rotation
// does, and moves to's modification time a minute ahead so that the
// change shows on file systems with coarse timestamps.
func Replace(t testing.TB, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(time.Minute)
	if err := os.Chtimes(to, later, later); err != nil {
		t.Fatal(err)
	}
}

// Path is the path of a file New, Issue or IssueWith wrote by name (as
// "name.pem" or "name-key.pem").
func (p *PKI) Path(file string) string { return filepath.Join(p.dir, file) }

func (p *PKI) write(t testing.TB, name, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(p.dir, name)
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func newCA(t testing.TB, name string) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	k := newKey(t)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, k
}
