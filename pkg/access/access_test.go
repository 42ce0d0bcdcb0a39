package access

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/tlsconf"
	"github.com/p4ctl/p4ctl/pkg/tlsconf/tlstest"
)

func TestPatterns(t *testing.T) {
	for _, bad := range []string{"", "cn=x", "SAN:x", "CN=", "CN=[", "DNS:"} {
		if _, err := NewRoles([]string{bad}, nil, nil, nil); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	r, err := NewRoles(nil, []string{"DNS:ci.example.com", "*"}, []string{"URI:spiffe://p4ctl/ctl-*"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.RoleOf(&x509.Certificate{}); got != RoleOperator {
		t.Errorf("any certificate: %s, want operator (*)", got)
	}
	if len(r.grants) != 3 || len(r.members) != 1 {
		t.Errorf("grants %+v members %+v: the admin pattern should name the members", r.grants, r.members)
	}
	r, err = NewRoles(nil, nil, []string{"CN=alice"}, []string{"CN=ctl-*"})
	if err != nil {
		t.Fatal(err)
	}
	alice := &x509.Certificate{}
	alice.Subject.CommonName = "alice"
	ctl := &x509.Certificate{}
	ctl.Subject.CommonName = "ctl-2"
	if r.IsMember(alice) || !r.IsMember(ctl) || r.RoleOf(alice) != RoleAdmin || r.RoleOf(ctl) != RoleNone {
		t.Errorf("member patterns given: alice member=%v role=%s, ctl-2 member=%v role=%s",
			r.IsMember(alice), r.RoleOf(alice), r.IsMember(ctl), r.RoleOf(ctl))
	}
}

func load(t *testing.T, file string) []*x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return []*x509.Certificate{c}
}

// TestAuthenticateMatrix: who a peer is, for every kind of certificate
// and setting, and the reason of every refusal.
func TestAuthenticateMatrix(t *testing.T) {
	members := tlstest.New(t) // the cluster CA and its member certificate
	clients := tlstest.New(t) // the clients' CA
	mv, err := tlsconf.NewVerifier(members.CA)
	if err != nil {
		t.Fatal(err)
	}
	cv, err := tlsconf.NewVerifier(clients.CA)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := NewRoles([]string{"CN=viewer"}, []string{"CN=p4ctl test client"}, nil, []string{"CN=p4ctl test member"})
	if err != nil {
		t.Fatal(err)
	}
	mtls, err := NewAuthenticator(Config{TLS: true, Clients: cv, Members: mv, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	memberRoles, err := NewRoles(nil, nil, nil, []string{"CN=p4ctl test member"})
	if err != nil {
		t.Fatal(err)
	}
	serverOnly, err := NewAuthenticator(Config{TLS: true, Members: mv, Roles: memberRoles})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := NewAuthenticator(Config{})
	if err != nil {
		t.Fatal(err)
	}
	noRoles, err := NewAuthenticator(Config{TLS: true, Clients: cv, Members: mv})
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := clients.IssueWith(t, "expired", tlstest.Options{CN: "p4ctl test client", NotAfter: time.Now().Add(-time.Hour)})
	clientAsMember, _ := clients.IssueWith(t, "fake-member", tlstest.Options{CN: "p4ctl test member"})
	memberNamedOther, _ := members.IssueWith(t, "not-member", tlstest.Options{CN: "somebody"})
	remote := &net.TCPAddr{IP: net.ParseIP("192.0.2.7"), Port: 40123}
	state := func(file string) *tls.ConnectionState {
		if file == "" {
			return &tls.ConnectionState{}
		}
		return &tls.ConnectionState{PeerCertificates: load(t, file)}
	}
	tests := []struct {
		name   string
		a      *Authenticator
		cs     *tls.ConnectionState
		want   Identity
		reason string // of the refusal; "" for none
	}{
		{"plaintext", plain, nil, Identity{Name: "unauthenticated 192.0.2.7", Role: RoleAdmin}, ""},
		{"member", mtls, state(members.MemberCert), Identity{Name: "CN=p4ctl test member", Role: RoleMember, Authenticated: true}, ""},
		{"operator", mtls, state(clients.ClientCert), Identity{Name: "CN=p4ctl test client", Role: RoleOperator, Authenticated: true}, ""},
		{"no certificate", mtls, state(""), Identity{}, tlsconf.ReasonNoCertificate},
		{"expired", mtls, state(expired), Identity{}, tlsconf.ReasonExpired},
		// A member's name on a client CA's certificate is no member.
		{"client CA certificate named like a member", mtls, state(clientAsMember), Identity{Name: "CN=p4ctl test member", Role: RoleNone, Authenticated: true}, ""},
		// The cluster CA's certificate of a non-member is refused, and
		// says why rather than "unknown authority".
		{"cluster CA certificate of a non-member", mtls, state(memberNamedOther), Identity{}, tlsconf.ReasonNotAuthorized},
		{"other CA", mtls, state(members.OtherCA), Identity{}, tlsconf.ReasonUnknownAuthority},
		{"server-only TLS, no certificate", serverOnly, state(""), Identity{Name: "unauthenticated 192.0.2.7", Role: RoleAdmin}, ""},
		{"server-only TLS, a member", serverOnly, state(members.MemberCert), Identity{Name: "CN=p4ctl test member", Role: RoleMember, Authenticated: true}, ""},
		{"no roles: any cluster CA certificate is a member's", noRoles, state(memberNamedOther), Identity{Name: "CN=somebody", Role: RoleMember, Authenticated: true}, ""},
		{"no roles: a client is an admin", noRoles, state(clients.ClientCert), Identity{Name: "CN=p4ctl test client", Role: RoleAdmin, Authenticated: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := tt.a.Authenticate("api", remote, tt.cs)
			var pe *tlsconf.PeerError
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.reason != "" && (!errors.As(err, &pe) || pe.Reason != tt.reason):
				t.Fatalf("err = %v, want a refusal for %q", err, tt.reason)
			case id != tt.want:
				t.Fatalf("identity %+v, want %+v", id, tt.want)
			}
		})
	}
	if _, err := NewAuthenticator(Config{TLS: true, Members: mv, Roles: roles, Clients: nil}); err == nil {
		t.Error("viewer and operator patterns without a clients' CA accepted")
	}
	if _, err := NewAuthenticator(Config{Roles: roles}); err == nil {
		t.Error("roles without TLS accepted")
	}
}

// TestHandler: an HTTP endpoint for viewers answers 401 without a
// certificate, 403 to a client without the role, 200 to a viewer.
func TestHandler(t *testing.T) {
	pki := tlstest.New(t)
	cv, err := tlsconf.NewVerifier(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	roles, err := NewRoles([]string{"CN=viewer"}, nil, nil, []string{"CN=p4ctl test member"})
	if err != nil {
		t.Fatal(err)
	}
	refusals := tlsconf.NewRefusalLog(nil, time.Minute)
	a, err := NewAuthenticator(Config{TLS: true, Clients: cv, Members: cv, Roles: roles, Refusals: refusals})
	if err != nil {
		t.Fatal(err)
	}
	h := a.Handler("metrics", RoleViewer, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) }))
	viewer, _ := pki.IssueWith(t, "viewer", tlstest.Options{CN: "viewer"})
	for _, tt := range []struct {
		cert string
		code int
		body string
	}{
		{"", http.StatusUnauthorized, "no certificate presented"},
		{pki.ClientCert, http.StatusForbidden, "needs the viewer role; CN=p4ctl test client has no role"},
		{viewer, http.StatusOK, "ok"},
	} {
		r := httptest.NewRequest("GET", "/metrics", nil)
		r.TLS = &tls.ConnectionState{}
		if tt.cert != "" {
			r.TLS.PeerCertificates = load(t, tt.cert)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.body) {
			t.Errorf("%q: %d %q, want %d with %q", tt.cert, w.Code, w.Body.String(), tt.code, tt.body)
		}
	}
	if c := refusals.Counts(); c[[2]string{"metrics", tlsconf.ReasonNoCertificate}] != 1 || c[[2]string{"metrics", "role"}] != 1 {
		t.Errorf("refusals counted: %v", c)
	}
}
