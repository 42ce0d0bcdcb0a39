package policy

import (
	"net/netip"
	"slices"

	"go.yaml.in/yaml/v3"
)

// Staged policies and the flow evaluator. A Policy with mode: staged is
// parsed and validated like any other, but the compiler makes no entry of
// it; the controller judges observed flows with an Evaluator instead: what
// the enforced policies decide, and what they would decide with the
// staged ones added. The Evaluator works from the model alone, as
// docs/policy.md states the rules (the ACL's best match, else the
// identity policies' best, else the segment default; the best is the
// highest rank, Priority), for a flow's first packet: the forward
// direction's start (TCP without ACK, so TCP reply entries, which need
// ACK, never match; the ACL's, which do not see flags, and those of UDP
// and ICMP do, and such a decision is marked Reply).

// Policy modes (the mode field).
const (
	ModeEnforce = "enforce"
	ModeStaged  = "staged"
)

func (d *decoder) policyMode(n *yaml.Node, p *Policy) {
	s, ok := d.str(n, "mode")
	if !ok {
		return
	}
	switch s {
	case ModeEnforce:
	case ModeStaged:
		p.Staged = true
	default:
		d.fail(n, "mode", "want enforce or staged, got %q", s)
	}
}

// Mode is the policy's mode, enforce or staged.
func (p *Policy) Mode() string {
	if p.Staged {
		return ModeStaged
	}
	return ModeEnforce
}

// Flow is a flow's first packet as the evaluator sees it.
type Flow struct {
	Segment  string
	Src, Dst netip.Addr
	Proto    int
	SPort    uint16 // tcp and udp only: a reply is matched on it
	DPort    uint16 // tcp and udp only
}

// Decision is what a set of policies decides for a flow.
type Decision struct {
	Verdict string // allow, deny or punt
	By      string // acl, policy or default
	Policy  string // the deciding policy; empty for the default
	Rule    int    // its rule's index; -1 for the default
	Rank    int32
	Staged  bool // the deciding policy is staged
	Reply   bool // a reply entry of the rule decided (the flow is a reply)
}

// Evaluator decides flows against one model. It indexes the endpoints'
// addresses and the policies by segment once; safe for concurrent use.
type Evaluator struct {
	m      *Model
	owners map[segAddr]*Endpoint
	pols   map[string][]*Policy // by segment, sorted by name
}

// NewEvaluator indexes m for Decide.
func NewEvaluator(m *Model) *Evaluator {
	e := &Evaluator{m: m, owners: map[segAddr]*Endpoint{}, pols: map[string][]*Policy{}}
	for _, ep := range m.Endpoints {
		for _, ip := range ep.IPs {
			e.owners[segAddr{ep.Segment, ip}] = ep
		}
	}
	for _, p := range m.Policies {
		e.pols[p.Segment] = append(e.pols[p.Segment], p)
	}
	for _, ps := range e.pols {
		slices.SortFunc(ps, func(a, b *Policy) int {
			switch {
			case a.Name < b.Name:
				return -1
			case a.Name > b.Name:
				return 1
			}
			return 0
		})
	}
	return e
}

// Model is the model the evaluator decides on.
func (e *Evaluator) Model() *Model { return e.m }

// Endpoint is the endpoint of segment seg that owns addr, or nil.
func (e *Evaluator) Endpoint(seg string, addr netip.Addr) *Endpoint {
	return e.owners[segAddr{seg, addr.Unmap()}]
}

// HasStaged reports whether segment seg (every segment when empty) has a
// staged policy.
func (e *Evaluator) HasStaged(seg string) bool {
	for s, ps := range e.pols {
		if seg != "" && s != seg {
			continue
		}
		for _, p := range ps {
			if p.Staged {
				return true
			}
		}
	}
	return false
}

// Decide is the decision of the enforced policies for f, and with staged
// of those and the staged policies together. A flow of a segment the
// model does not have is denied by "default".
func (e *Evaluator) Decide(f Flow, staged bool) Decision {
	seg := e.m.Segments[f.Segment]
	src, dst := e.Endpoint(f.Segment, f.Src), e.Endpoint(f.Segment, f.Dst)
	dport, sport := f.DPort, f.SPort
	if f.Proto != ProtoTCP && f.Proto != ProtoUDP {
		dport, sport = 0, 0
	}
	var acl, ident Decision
	for _, p := range e.pols[f.Segment] {
		if p.Staged && !staged {
			continue
		}
		isACL := p.acl()
		var fwd, rev bool
		switch {
		case p.FromCIDRs != nil:
			fwd = inPrefixes(f.Src, p.FromCIDRs) && dst != nil && p.To.Matches(dst.Labels)
			rev = src != nil && p.To.Matches(src.Labels) && inPrefixes(f.Dst, p.FromCIDRs)
		case p.ToCIDRs != nil:
			fwd = src != nil && p.From.Matches(src.Labels) && inPrefixes(f.Dst, p.ToCIDRs)
			rev = inPrefixes(f.Src, p.ToCIDRs) && dst != nil && p.From.Matches(dst.Labels)
		default:
			fwd = src != nil && dst != nil && p.From.Matches(src.Labels) && p.To.Matches(dst.Labels)
			rev = src != nil && dst != nil && p.To.Matches(src.Labels) && p.From.Matches(dst.Labels) && f.Proto != ProtoTCP
		}
		if !fwd && !rev {
			continue
		}
		best := &ident
		by := "policy"
		if isACL {
			best, by = &acl, "acl"
		}
		for i := range p.Rules {
			r := &p.Rules[i]
			consider := func(pr *PortRange, reply bool) {
				rank := Priority(p.Priority, r.Proto, pr, r.Action)
				if rank > best.Rank {
					*best = Decision{Verdict: r.Action.String(), By: by, Policy: p.Name, Rule: i, Rank: rank, Staged: p.Staged, Reply: reply}
				}
			}
			if fwd && (r.Proto == ProtoAny || r.Proto == f.Proto) {
				matchPorts(r, dport, func(pr *PortRange) { consider(pr, false) })
			}
			if rev && r.Action == ActionAllow && slices.Contains(replyProtos(r.Proto), f.Proto) {
				matchPorts(r, sport, func(pr *PortRange) { consider(pr, true) })
			}
		}
	}
	switch {
	case acl.Rank > 0:
		return acl
	case ident.Rank > 0:
		return ident
	case seg != nil && seg.DefaultAllow:
		return Decision{Verdict: VerdictAllow, By: "default", Rule: -1}
	}
	return Decision{Verdict: VerdictDeny, By: "default", Rule: -1}
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// matchPorts calls fn with each port item of r that port falls in (nil
// for a rule of any protocol or without ports).
func matchPorts(r *Rule, port uint16, fn func(*PortRange)) {
	if r.Proto == ProtoAny || len(r.Ports) == 0 {
		fn(nil)
		return
	}
	for j := range r.Ports {
		if pr := &r.Ports[j]; port >= pr.Lo && port <= pr.Hi {
			fn(pr)
		}
	}
}
