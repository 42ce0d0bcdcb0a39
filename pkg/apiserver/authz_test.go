package apiserver

import (
	"context"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
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
	n, err := cluster.Start(cluster.Config{ID: "n1", RaftAddr: "127.0.0.1:0", DataDir: t.TempDir(), Bootstrap: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	until(t, "n1 leads", n.IsLeader)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ctl := controller.New(controller.Config{Node: n, Targets: pipeline.Embedded})
	go ctl.Run(ctx)
	az, err := NewAuthz([]string{"CN=p4ctl test viewer"}, []string{"CN=p4ctl test operator"}, []string{"CN=p4ctl test admin*"})
	if err != nil {
		t.Fatal(err)
	}
	srv := New(n, ctl)
	srv.Authorize(az)
	stc, err := tlsconf.Files{Cert: pki.ServerCert, Key: pki.ServerKey, CA: pki.CA}.Server()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ctx, lis, grpc.Creds(credentials.NewTLS(stc)))
	client := func(name string) p4ctlv1.ControllerClient {
		cert, key := pki.ClientCert, pki.ClientKey
		if name != "" {
			cert, key = pki.Issue(t, name, x509.ExtKeyUsageClientAuth)
		}
		ctc, err := tlsconf.Files{CA: pki.CA, Cert: cert, Key: key}.Client()
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
	}
	for _, tc := range cases {
		err := call(client(tc.cert), tc.method)
		if status.Code(err) != tc.code || tc.msg != "" && !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s %s: err = %v, want %s %q", tc.cert, tc.method, err, tc.code, tc.msg)
		}
	}
}

func TestAuthzPatterns(t *testing.T) {
	for _, bad := range []string{"", "cn=x", "SAN:x", "CN=", "CN=[", "DNS:"} {
		if _, err := NewAuthz([]string{bad}, nil, nil); err == nil {
			t.Errorf("pattern %q accepted", bad)
		}
	}
	az, err := NewAuthz(nil, []string{"DNS:ci.example.com", "*"}, []string{"URI:spiffe://p4ctl/ctl-*"})
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := az.RoleOf(&x509.Certificate{}); r != RoleOperator {
		t.Errorf("any certificate: %s, want operator (*)", r)
	}
	if len(az.grants) != 3 {
		t.Errorf("grants %+v", az.grants)
	}
}
