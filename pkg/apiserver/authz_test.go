package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/access"
	"github.com/p4ctl/p4ctl/pkg/cluster"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/tlsconf"
	"github.com/p4ctl/p4ctl/pkg/tlsconf/tlstest"
)

// TestAuthorization: over mutual TLS, each client certificate gets the
// role its subject is bound to; every RPC is checked; a call above the
// client's role fails with PermissionDenied naming the role it needs.
func TestAuthorization(t *testing.T) {
	pki := tlstest.New(t)
	roles, err := access.NewRoles([]string{"CN=p4ctl test viewer"}, []string{"CN=p4ctl test operator"}, []string{"CN=p4ctl test admin*"},
		[]string{"CN=p4ctl test member"})
	if err != nil {
		t.Fatal(err)
	}
	lis, _ := serveTLS(t, pki, roles)
	expiredCert, expiredKey := pki.IssueWith(t, "expired", tlstest.Options{CN: "p4ctl test operator", NotAfter: time.Now().Add(-time.Minute)})
	otherCert, otherKey := pki.IssueWith(t, "intruder", tlstest.Options{CN: "p4ctl test admin-9", ByOther: true})
	client := func(name string) p4ctlv1.ControllerClient {
		cert, key := pki.ClientCert, pki.ClientKey
		switch name {
		case "":
		case "none":
			cert, key = "", ""
		case "expired":
			cert, key = expiredCert, expiredKey
		case "other CA":
			cert, key = otherCert, otherKey
		case "member":
			cert, key = pki.MemberCert, pki.MemberKey
		default:
			cert, key = pki.Issue(t, name, x509.ExtKeyUsageClientAuth)
		}
		return tlsClient(t, lis, pki.CA, cert, key)
	}
	call := func(c p4ctlv1.ControllerClient, method string) error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		switch method {
		case "Get":
			_, err = c.Get(ctx, &p4ctlv1.GetRequest{Kind: "Segment"})
		case "ClusterStatus":
			_, err = c.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
		case "Watch":
			var s p4ctlv1.Controller_WatchClient
			if s, err = c.Watch(ctx, &p4ctlv1.WatchRequest{}); err == nil {
				cancel() // a granted stream waits for events: end it
				_, err = s.Recv()
				if status.Code(err) == codes.Canceled {
					err = nil
				}
			}
		case "Apply":
			_, err = c.Apply(ctx, &p4ctlv1.ApplyRequest{File: "x.yaml", Docs: []byte("kind: Segment\nname: s" + strings.ToLower(method) + "\nid: 5\n")})
		case "Leave":
			_, err = c.Leave(ctx, &p4ctlv1.LeaveRequest{Id: "nobody"})
		}
		return err
	}
	cases := []struct {
		cert, method string
		code         codes.Code
		msg          string
	}{
		{"viewer", "Get", codes.OK, ""},
		{"viewer", "ClusterStatus", codes.OK, ""},
		{"viewer", "Watch", codes.OK, ""},
		{"viewer", "Apply", codes.PermissionDenied, "Apply needs the operator role; CN=p4ctl test viewer has viewer role"},
		{"operator", "Apply", codes.OK, ""},
		{"operator", "Leave", codes.PermissionDenied, "Leave needs the admin role; CN=p4ctl test operator has operator role"},
		{"admin-1", "Leave", codes.FailedPrecondition, "nobody is not a member"}, // allowed, and refused by the cluster
		{"", "Get", codes.PermissionDenied, "Get needs the viewer role; CN=p4ctl test client has no role"},
		{"member", "Leave", codes.FailedPrecondition, "nobody is not a member"},
		// Refused certificates: the client is told why, not shown a
		// broken connection.
		{"none", "Get", codes.Unauthenticated, "Get refused: no certificate presented"},
		{"expired", "Apply", codes.Unauthenticated, "Apply refused: certificate CN=p4ctl test operator: expired at "},
		{"other CA", "Get", codes.Unauthenticated, "Get refused: certificate CN=p4ctl test admin-9: not signed by a CA this side trusts"},
	}
	for _, tc := range cases {
		err := call(client(tc.cert), tc.method)
		if status.Code(err) != tc.code || tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %s: err = %v, want %s %q", tc.cert, tc.method, err, tc.code, tc.msg)
		}
	}
}

// TestHistoryClients: a revision records the client the API
// authenticated. A client that claims another identity in the forwarding
// header is recorded as itself; a member (which forwards clients' calls
// to the leader) is believed.
func TestHistoryClients(t *testing.T) {
	pki := tlstest.New(t)
	roles, err := access.NewRoles(nil, []string{"CN=p4ctl test client"}, nil, []string{"CN=p4ctl test member"})
	if err != nil {
		t.Fatal(err)
	}
	lis, n := serveTLS(t, pki, roles)
	apply := func(cert, key, claim, seg string, id int) {
		client := tlsClient(t, lis, pki.CA, cert, key)
		c, cancel := context.WithTimeout(metadata.AppendToOutgoingContext(context.Background(), HeaderClient, claim), 10*time.Second)
		defer cancel()
		if _, err := client.Apply(c, &p4ctlv1.ApplyRequest{File: "x.yaml", Docs: []byte(fmt.Sprintf("kind: Segment\nname: %s\nid: %d\n", seg, id))}); err != nil {
			t.Fatal(err)
		}
	}
	apply(pki.ClientCert, pki.ClientKey, "CN=ci-bot", "forged", 7)
	apply(pki.MemberCert, pki.MemberKey, "CN=alice", "forwarded", 8)
	h := n.History()
	if len(h) != 2 || h[0].Client != "CN=p4ctl test client" || h[1].Client != "CN=alice" {
		t.Fatalf("history clients: %+v", h)
	}
}

// serveTLS runs a one-node cluster, its controller and its API over TLS
// on loopback, clients verified against pki's CA (the members' too) and
// bound to roles, until the test ends.
func serveTLS(t *testing.T, pki *tlstest.PKI, roles *access.Roles) (net.Listener, *cluster.Node) {
	t.Helper()
	n, err := cluster.Start(cluster.Config{ID: "n1", RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	until(t, "n1 leads", n.IsLeader)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ctl := controller.New(controller.Config{Node: n, Targets: pipeline.Embedded})
	go ctl.Run(ctx)
	ca, err := tlsconf.NewVerifier(pki.CA)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := access.NewAuthenticator(access.Config{TLS: true, Clients: ca, Members: ca, Roles: roles})
	if err != nil {
		t.Fatal(err)
	}
	stc, err := tlsconf.Files{Cert: pki.ServerCert, Key: pki.ServerKey}.ServerRequestingClientCerts()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go New(n, ctl, Options{Auth: auth}).Serve(ctx, lis, grpc.Creds(credentials.NewTLS(stc)))
	return lis, n
}

// tlsClient is an API client over TLS to lis, verifying the server with
// ca and presenting cert and key (none when empty), closed when the test
// ends.
func tlsClient(t *testing.T, lis net.Listener, ca, cert, key string) p4ctlv1.ControllerClient {
	t.Helper()
	ctc, err := tlsconf.Files{CA: ca, Cert: cert, Key: key}.Client()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(ctc)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return p4ctlv1.NewControllerClient(conn)
}
