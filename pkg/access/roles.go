// Package access decides who may talk to a p4ctl node: it verifies the
// certificate a peer presents (against the clients' CA, or the cluster CA
// for members), binds it to a role by certificate patterns, and refuses,
// with a reason the peer is shown and the node logs, what falls short.
// The API server, the metrics endpoint and raft's transport (through
// cluster) all ask it; it knows nothing of what they serve.
package access

import (
	"crypto/x509"
	"fmt"
	"net"
	neturl "net/url"
	"path"
	"slices"
	"strings"
)

// Role is what a peer may do. Each role holds the ones below it.
type Role int

// The roles, weakest first.
const (
	RoleNone     Role = iota
	RoleViewer        // reads: get, devices, trace, topology, cluster status, watch, history, diff, metrics
	RoleOperator      // changes: apply, delete, rollback
	RoleAdmin         // membership: join, leave; pprof
	// RoleMember is a cluster member: it speaks raft, and a call it
	// forwards to the leader is recorded as the client it names. Only a
	// certificate of the cluster CA can have it.
	RoleMember
)

func (r Role) String() string {
	return [...]string{"no", "viewer", "operator", "admin", "member"}[r]
}

// Roles binds certificates to roles by patterns. A pattern names a
// certificate by its subject's common name ("CN=name"), a subject
// alternative name ("DNS:name", "URI:uri", "EMAIL:address",
// "IP:address"), or any verified certificate ("*"); names may use
// path.Match wildcards ("CN=ctl-*"). A certificate gets the strongest role
// of the patterns it matches. Without member patterns, the admin patterns
// name the members. Roles is read-only once made and safe for concurrent
// use.
type Roles struct {
	grants  []grant
	members []grant // member patterns, or the admin ones
}

type grant struct {
	kind, pattern string // kind: "CN", "DNS", "URI", "EMAIL", "IP" or "*"
	role          Role
}

// NewRoles builds Roles from the patterns of each role.
func NewRoles(viewer, operator, admin, member []string) (*Roles, error) {
	r := &Roles{}
	for _, g := range []struct {
		role     Role
		patterns []string
	}{{RoleViewer, viewer}, {RoleOperator, operator}, {RoleAdmin, admin}, {RoleMember, member}} {
		for _, p := range g.patterns {
			kind, pat, err := parsePattern(p)
			if err != nil {
				return nil, fmt.Errorf("%s role: %w", g.role, err)
			}
			gr := grant{kind, pat, g.role}
			if g.role == RoleMember {
				r.members = append(r.members, gr)
			} else {
				r.grants = append(r.grants, gr)
			}
		}
	}
	if len(r.members) == 0 {
		for _, g := range r.grants {
			if g.role == RoleAdmin {
				r.members = append(r.members, grant{g.kind, g.pattern, RoleMember})
			}
		}
	}
	return r, nil
}

// HasMembers reports whether any pattern names cluster members.
func (r *Roles) HasMembers() bool { return len(r.members) > 0 }

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

// RoleOf is the strongest client role (up to admin) that c's patterns
// give it.
func (r *Roles) RoleOf(c *x509.Certificate) Role {
	best := RoleNone
	for _, g := range r.grants {
		if g.role > best && g.matches(c) {
			best = g.role
		}
	}
	return best
}

// IsMember reports whether c is named by the member patterns (the admin
// ones when no member pattern is given). It does not verify c.
func (r *Roles) IsMember(c *x509.Certificate) bool {
	return slices.ContainsFunc(r.members, func(g grant) bool { return g.matches(c) })
}

func (g grant) matches(c *x509.Certificate) bool {
	m := func(v string) bool { ok, _ := path.Match(g.pattern, v); return ok }
	switch g.kind {
	case "*":
		return true
	case "CN":
		return m(c.Subject.CommonName)
	case "DNS":
		return slices.ContainsFunc(c.DNSNames, m)
	case "URI":
		return slices.ContainsFunc(c.URIs, func(u *neturl.URL) bool { return m(u.String()) })
	case "EMAIL":
		return slices.ContainsFunc(c.EmailAddresses, m)
	case "IP":
		for _, v := range c.IPAddresses {
			if m(v.String()) {
				return true
			}
		}
	}
	return false
}

// Loopback reports whether addr's host is a loopback address or
// localhost: where a listener without TLS may bind, since only this
// machine reaches it.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
