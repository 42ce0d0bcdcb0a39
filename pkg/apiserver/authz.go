package apiserver

import (
	"context"
	"crypto/x509"
	"fmt"
	"path"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// Role is what a client may do. Each role holds the ones below it.
type Role int

// The roles, weakest first.
const (
	RoleNone     Role = iota
	RoleViewer        // get, devices, trace, topology, cluster status, watch, history, diff
	RoleOperator      // apply, delete, rollback
	RoleAdmin         // join, leave
)

func (r Role) String() string {
	return [...]string{"no", "viewer", "operator", "admin"}[r]
}

// methodRoles is the role each RPC needs; an RPC not listed needs admin.
var methodRoles = map[string]Role{
	p4ctlv1.Controller_Get_FullMethodName:           RoleViewer,
	p4ctlv1.Controller_Devices_FullMethodName:       RoleViewer,
	p4ctlv1.Controller_Trace_FullMethodName:         RoleViewer,
	p4ctlv1.Controller_ClusterStatus_FullMethodName: RoleViewer,
	p4ctlv1.Controller_Watch_FullMethodName:         RoleViewer,
	p4ctlv1.Controller_Topology_FullMethodName:      RoleViewer,
	p4ctlv1.Controller_Counters_FullMethodName:      RoleViewer,
	p4ctlv1.Controller_Denials_FullMethodName:       RoleViewer,
	p4ctlv1.Controller_History_FullMethodName:       RoleViewer,
	p4ctlv1.Controller_Diff_FullMethodName:          RoleViewer,
	p4ctlv1.Controller_Rollback_FullMethodName:      RoleOperator,
	p4ctlv1.Controller_Apply_FullMethodName:         RoleOperator,
	p4ctlv1.Controller_Delete_FullMethodName:        RoleOperator,
	p4ctlv1.Controller_Join_FullMethodName:          RoleAdmin,
	p4ctlv1.Controller_Leave_FullMethodName:         RoleAdmin,
}

// Authz binds client certificates to roles and checks every call. A
// pattern names a certificate by its subject's common name ("CN=name"), a
// subject alternative name ("DNS:name", "URI:uri", "EMAIL:address",
// "IP:address"), or any verified certificate ("*"); names may use
// path.Match wildcards ("CN=ctl-*"). A certificate gets the strongest role
// of the patterns it matches. Authz is read-only once made and safe for
// concurrent use.
type Authz struct {
	grants []grant
}

type grant struct {
	kind, pattern string // kind: "CN", "DNS", "URI", "EMAIL", "IP" or "*"
	role          Role
}

// NewAuthz builds an Authz from the patterns of each role.
func NewAuthz(viewer, operator, admin []string) (*Authz, error) {
	a := &Authz{}
	for _, g := range []struct {
		role     Role
		patterns []string
	}{{RoleViewer, viewer}, {RoleOperator, operator}, {RoleAdmin, admin}} {
		for _, p := range g.patterns {
			kind, pat, err := parsePattern(p)
			if err != nil {
				return nil, fmt.Errorf("%s role: %w", g.role, err)
			}
			a.grants = append(a.grants, grant{kind, pat, g.role})
		}
	}
	return a, nil
}

func parsePattern(p string) (kind, pat string, err error) {
	p = strings.TrimSpace(p)
	if p == "*" {
		return "*", "", nil
	}
	if v, ok := strings.CutPrefix(p, "CN="); ok {
		kind, pat = "CN", v
	} else if k, v, ok := strings.Cut(p, ":"); ok && slices.Contains([]string{"DNS", "URI", "EMAIL", "IP"}, strings.ToUpper(k)) {
		kind, pat = strings.ToUpper(k), v
	} else {
		return "", "", fmt.Errorf("pattern %q: want CN=name, DNS:name, URI:uri, EMAIL:address, IP:address or *", p)
	}
	if pat == "" {
		return "", "", fmt.Errorf("pattern %q names nothing", p)
	}
	if _, err := path.Match(pat, ""); err != nil {
		return "", "", fmt.Errorf("pattern %q: %w", p, err)
	}
	return kind, pat, nil
}

// RoleOf is the role of certificate c, and how it is named in messages.
func (a *Authz) RoleOf(c *x509.Certificate) (Role, string) {
	best := RoleNone
	for _, g := range a.grants {
		if g.role > best && g.matches(c) {
			best = g.role
		}
	}
	return best, "CN=" + c.Subject.CommonName
}

func (g grant) matches(c *x509.Certificate) bool {
	m := func(v string) bool { ok, _ := path.Match(g.pattern, v); return ok }
	switch g.kind {
	case "*":
		return true
	case "CN":
		return m(c.Subject.CommonName)
	case "DNS":
		for _, v := range c.DNSNames {
			if m(v) {
				return true
			}
		}
	case "URI":
		for _, v := range c.URIs {
			if m(v.String()) {
				return true
			}
		}
	case "EMAIL":
		for _, v := range c.EmailAddresses {
			if m(v) {
				return true
			}
		}
	case "IP":
		for _, v := range c.IPAddresses {
			if m(v.String()) {
				return true
			}
		}
	}
	return false
}

// check allows the call to method when its client's certificate has the
// role the method needs.
func (a *Authz) check(ctx context.Context, method string) error {
	need, ok := methodRoles[method]
	if !ok {
		need = RoleAdmin
	}
	p, ok := peer.FromContext(ctx)
	var cert *x509.Certificate
	if ok {
		if ti, isTLS := p.AuthInfo.(credentials.TLSInfo); isTLS && len(ti.State.VerifiedChains) > 0 && len(ti.State.VerifiedChains[0]) > 0 {
			cert = ti.State.VerifiedChains[0][0]
		}
	}
	if cert == nil {
		return status.Errorf(codes.Unauthenticated, "%s needs the %s role: present a client certificate", shortMethod(method), need)
	}
	have, who := a.RoleOf(cert)
	if have < need {
		return status.Errorf(codes.PermissionDenied, "%s needs the %s role; %s has %s role", shortMethod(method), need, who, have)
	}
	return nil
}

func shortMethod(full string) string { return full[strings.LastIndex(full, "/")+1:] }

// Interceptors are the unary and stream interceptors that check every
// call; with a nil Authz every call is allowed.
func (a *Authz) Interceptors() []grpc.ServerOption {
	if a == nil {
		return nil
	}
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := a.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := a.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	}
}
