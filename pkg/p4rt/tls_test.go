package p4rt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
)

// testPKI is a CA with one server certificate (for 127.0.0.1) and one
// client certificate.
type testPKI struct {
	pool           *x509.CertPool
	server, client tls.Certificate
}

func newPKI(t *testing.T) testPKI {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey := key()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "p4ctl test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	issue := func(serial int64, usage x509.ExtKeyUsage, ips []net.IP) tls.Certificate {
		k := key()
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "p4ctl test"},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips, KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return testPKI{
		pool:   pool,
		server: issue(2, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP("127.0.0.1")}),
		client: issue(3, x509.ExtKeyUsageClientAuth, nil),
	}
}

func TestMutualTLS(t *testing.T) {
	pki := newPKI(t)
	p := embedded(t)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	sim := p4rtsim.New(p4rtsim.Options{DeviceID: 1, TLS: &tls.Config{
		Certificates: []tls.Certificate{pki.server}, ClientCAs: pki.pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}})
	go func() { done <- sim.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("sim: %v", err)
		}
	}()
	addr := lis.Addr().String()
	open := func(cfg *tls.Config, election uint64) error {
		octx, ocancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer ocancel()
		s, err := p4rt.Open(octx, addr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: election}, TLS: cfg})
		if err != nil {
			return err
		}
		defer s.Close()
		return s.SetPipeline(octx, p)
	}
	if err := open(&tls.Config{RootCAs: pki.pool, Certificates: []tls.Certificate{pki.client}}, 1); err != nil {
		t.Fatalf("mutual TLS with a valid client certificate: %v", err)
	}
	if err := open(&tls.Config{RootCAs: pki.pool}, 2); err == nil {
		t.Error("a client without a certificate was accepted")
	}
	if err := open(nil, 3); err == nil {
		t.Error("a plaintext client was accepted by a TLS device")
	}
	err = open(&tls.Config{Certificates: []tls.Certificate{pki.client}}, 4)
	if err == nil {
		t.Fatal("a client that cannot verify the server connected anyway")
	}
	// The operator is told why, not only that time ran out.
	if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("error %q does not say the certificate was the problem", err)
	}
	t.Logf("untrusted server: %v", err)
}
