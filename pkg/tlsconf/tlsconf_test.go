package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
	"github.com/p4ctl/p4ctl/pkg/tlsconf/tlstest"
)

// handshake serves one TLS connection with srv and dials it with cli,
// returning the client's error and the server certificate's serial.
func handshake(t *testing.T, srv, cli *tls.Config) (string, error) {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", srv)
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	go func() {
		c, err := lis.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_ = c.(*tls.Conn).Handshake()
		_, _ = io.WriteString(c, "ok")
	}()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", lis.Addr().String(), cli)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// With TLS 1.3 a refused client certificate shows on the first read.
	if _, err := io.ReadAll(io.LimitReader(c, 2)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func TestHandshakes(t *testing.T) {
	p := tlstest.New(t)
	tests := []struct {
		name     string
		server   tlsconf.Files
		client   tlsconf.Files
		wantErr  string // in the client's error; "" for success
		setupErr string // from Client() or Server()
	}{
		{name: "TLS", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}, client: tlsconf.Files{CA: p.CA}},
		{name: "mutual TLS", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, CA: p.CA},
			client: tlsconf.Files{CA: p.CA, Cert: p.ClientCert, Key: p.ClientKey}},
		{name: "mutual TLS without a client certificate", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey, CA: p.CA},
			client: tlsconf.Files{CA: p.CA}, wantErr: "certificate"},
		{name: "server signed by a CA the client does not trust", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey},
			client: tlsconf.Files{CA: p.OtherCA}, wantErr: "certificate signed by unknown authority"},
		{name: "server name override that does not match", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey},
			client: tlsconf.Files{CA: p.CA, ServerName: "switch.example"}, wantErr: "switch.example"},
		{name: "insecure lab client", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey},
			client: tlsconf.Files{Insecure: true}},
		{name: "certificate without key", server: tlsconf.Files{Cert: p.ServerCert}, setupErr: "go together"},
		{name: "server without certificate", server: tlsconf.Files{CA: p.CA}, setupErr: "needs a certificate"},
		{name: "missing CA file", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}, client: tlsconf.Files{CA: p.CA + ".missing"},
			setupErr: "no such file"},
		{name: "CA file without PEM", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}, client: tlsconf.Files{CA: p.ServerKey},
			setupErr: "no PEM certificate"},
		{name: "key that does not match", server: tlsconf.Files{Cert: p.ServerCert, Key: p.ClientKey}, setupErr: "private key does not match"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, err := tt.server.Server()
			var cli *tls.Config
			if err == nil {
				cli, err = tt.client.Client()
			}
			if tt.setupErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.setupErr) {
					t.Fatalf("setup error = %v, want one containing %q", err, tt.setupErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = handshake(t, srv, cli)
			if tt.wantErr == "" && err != nil {
				t.Fatalf("handshake: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("handshake error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// A server's certificate is read again when its files change, so it can be
// rotated without a restart; a broken rotation keeps the last good pair.
func TestRotation(t *testing.T) {
	p := tlstest.New(t)
	files := tlsconf.Files{Cert: p.ServerCert, Key: p.ServerKey}
	srv, err := files.Server()
	if err != nil {
		t.Fatal(err)
	}
	cli, err := tlsconf.Files{CA: p.CA}.Client()
	if err != nil {
		t.Fatal(err)
	}
	first, err := handshake(t, srv, cli)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := p.Issue(t, "server-2", x509.ExtKeyUsageServerAuth)
	tlstest.Replace(t, cert, p.ServerCert)
	tlstest.Replace(t, key, p.ServerKey)
	second, err := handshake(t, srv, cli)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Fatalf("the server still presents certificate %s after rotation", first)
	}
	// A half-written rotation (garbage in the certificate file) keeps the
	// pair that worked.
	if err := os.WriteFile(p.ServerCert, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(2 * time.Minute)
	_ = os.Chtimes(p.ServerCert, later, later)
	third, err := handshake(t, srv, cli)
	if err != nil {
		t.Fatalf("after a broken rotation: %v", err)
	}
	if third != second {
		t.Errorf("serial %s after a broken rotation, want the last good %s", third, second)
	}
}
