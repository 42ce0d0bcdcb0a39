package console

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/p4ctl/p4ctl/pkg/policy"
)

// The policy matrix of a segment: for every pair of identities (the
// segment's endpoints grouped by label set, as the compiler groups them)
// and every service the segment's rules name, the verdict and the policy
// that decides it, by the rank order of docs/policy.md (policy.Priority):
// the matching rule of the highest rank wins, and traffic no rule matches
// gets the segment default. It is the identity policy only: the ACL
// (CIDR policies) overrides it for the addresses it names, and the PVLAN
// roles of the ports can still stop what it allows; a cell's trace shows
// the packet's whole way.

// Identity is one label set of a segment and its endpoints.
type Identity struct {
	Key       string            `json:"key"` // "app=shop,tier=web"
	Labels    map[string]string `json:"labels"`
	Endpoints []string          `json:"endpoints"`
}

// Service is a column of the matrix: a protocol and destination port (a
// range is judged at its first port), a protocol's other ports, or
// "other" (a protocol no rule names: only rules of any protocol match).
type Service struct {
	Label string `json:"label"` // "tcp/8080", "tcp/9000-9100", "icmp", "other"
	Proto int    `json:"proto"` // IP protocol number
	Port  uint16 `json:"port,omitempty"`
	// Lo and Hi are the rule's port range (0, 0: every port the rules
	// of the segment do not name).
	Lo uint16 `json:"lo,omitempty"`
	Hi uint16 `json:"hi,omitempty"`
}

// protoOther stands for a protocol no rule names (253 is for
// experiments, RFC 3692).
const protoOther = 253

// Decision is a cell's verdict for one service.
type Decision struct {
	Service int    `json:"service"` // index in Services
	Verdict string `json:"verdict"` // allow, deny or punt
	Policy  string `json:"policy,omitempty"`
	Rule    int    `json:"rule"`           // index in the policy's rules; -1 for the default
	Default bool   `json:"default"`        // no rule matched: the segment default
	Rank    int32  `json:"rank,omitempty"` // the deciding rule's rank
	// Reply: the deciding entry is the reply of an allow rule of the
	// reverse direction (policies are stateless in the switch).
	Reply bool `json:"reply,omitempty"`
}

// Cell is one identity pair.
type Cell struct {
	From      int        `json:"from"` // index in Identities
	To        int        `json:"to"`
	Decisions []Decision `json:"decisions"` // one per service
	// Default: every service gets the segment default.
	Default bool `json:"default"`
}

// ACLRule is an infrastructure policy (CIDRs), listed beside the matrix.
type ACLRule struct {
	Policy string   `json:"policy"`
	From   string   `json:"from"`
	To     string   `json:"to"`
	Rules  []string `json:"rules"`
}

// SegmentView is a segment with its identities and matrix.
type SegmentView struct {
	Name       string     `json:"name"`
	ID         uint16     `json:"id"`
	Default    string     `json:"default"` // allow or deny
	Ports      int        `json:"ports"`
	Identities []Identity `json:"identities"`
	Services   []Service  `json:"services"`
	Matrix     []Cell     `json:"matrix"` // row-major: from, then to
	ACL        []ACLRule  `json:"acl"`
	// Truncated: the segment has more identities than MaxMatrixIdentities and
	// the matrix is left out.
	Truncated bool `json:"truncated,omitempty"`
}

// MaxMatrixIdentities caps the identities of a matrix the console draws.
const MaxMatrixIdentities = 60

// segmentViews builds every segment's view, sorted by name.
func segmentViews(m *model) []SegmentView {
	var out []SegmentView
	for _, name := range slices.Sorted(maps.Keys(m.segments)) {
		out = append(out, segmentView(m, m.segments[name]))
	}
	return out
}

func segmentView(m *model, s *policy.Segment) SegmentView {
	v := SegmentView{Name: s.Name, ID: s.ID, Default: "deny", Identities: []Identity{}, Services: []Service{}, Matrix: []Cell{}, ACL: []ACLRule{}}
	if s.DefaultAllow {
		v.Default = "allow"
	}
	for _, p := range m.ports {
		if p.Segment == s.Name {
			v.Ports++
		}
	}
	v.Identities = identities(m, s.Name)
	var pols []*policy.Policy
	for _, name := range slices.Sorted(maps.Keys(m.policies)) {
		p := m.policies[name]
		if p.Segment != s.Name || p.Staged {
			continue // staged policies decide nothing on the devices
		}
		if len(p.FromCIDRs) > 0 || len(p.ToCIDRs) > 0 {
			v.ACL = append(v.ACL, aclRule(p))
			continue
		}
		pols = append(pols, p)
	}
	v.Services = services(pols)
	if len(v.Identities) > MaxMatrixIdentities {
		v.Truncated = true
		return v
	}
	for i, a := range v.Identities {
		for j, b := range v.Identities {
			c := Cell{From: i, To: j, Default: true}
			for k, svc := range v.Services {
				d := decide(pols, a.Labels, b.Labels, svc, s.DefaultAllow)
				d.Service = k
				c.Default = c.Default && d.Default
				c.Decisions = append(c.Decisions, d)
			}
			v.Matrix = append(v.Matrix, c)
		}
	}
	return v
}

// identities groups the segment's endpoints by label set.
func identities(m *model, seg string) []Identity {
	byKey := map[string]*Identity{}
	for _, name := range slices.Sorted(maps.Keys(m.endpoints)) {
		e := m.endpoints[name]
		if e.Segment != seg {
			continue
		}
		k := labelKey(e.Labels)
		id := byKey[k]
		if id == nil {
			labels := maps.Clone(e.Labels)
			if labels == nil {
				labels = map[string]string{}
			}
			id = &Identity{Key: k, Labels: labels}
			byKey[k] = id
		}
		id.Endpoints = append(id.Endpoints, name)
	}
	out := make([]Identity, 0, len(byKey))
	for _, k := range slices.Sorted(maps.Keys(byKey)) {
		out = append(out, *byKey[k])
	}
	return out
}

// services are the columns: every (protocol, port range) and every
// port-less protocol the rules name, then "other".
func services(pols []*policy.Policy) []Service {
	seen := map[string]Service{}
	for _, p := range pols {
		for _, r := range p.Rules {
			if r.Proto == policy.ProtoAny {
				continue
			}
			if len(r.Ports) == 0 {
				seen[policy.ProtoName(r.Proto)] = Service{Label: policy.ProtoName(r.Proto), Proto: r.Proto}
				continue
			}
			for _, pr := range r.Ports {
				l := policy.ProtoName(r.Proto) + "/" + portsLabel(pr)
				seen[l] = Service{Label: l, Proto: r.Proto, Port: pr.Lo, Lo: pr.Lo, Hi: pr.Hi}
			}
		}
	}
	out := slices.Collect(maps.Values(seen))
	// A protocol's "every port" column is judged at a port no rule of
	// the segment names.
	for i, s := range out {
		if s.Lo == 0 && (s.Proto == policy.ProtoTCP || s.Proto == policy.ProtoUDP) {
			out[i].Port = unnamedPort(pols, s.Proto)
		}
	}
	slices.SortFunc(out, func(a, b Service) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Lo, b.Lo), cmp.Compare(a.Hi, b.Hi))
	})
	return append(out, Service{Label: "other", Proto: protoOther})
}

func portsLabel(pr policy.PortRange) string {
	if pr.Lo == pr.Hi {
		return strconv.Itoa(int(pr.Lo))
	}
	return fmt.Sprintf("%d-%d", pr.Lo, pr.Hi)
}

// unnamedPort is the lowest port no rule of proto names.
func unnamedPort(pols []*policy.Policy, proto int) uint16 {
	for port := uint16(1); port < 65535; port++ {
		named := false
		for _, p := range pols {
			for _, r := range p.Rules {
				if r.Proto != proto {
					continue
				}
				for _, pr := range r.Ports {
					named = named || (port >= pr.Lo && port <= pr.Hi)
				}
			}
		}
		if !named {
			return port
		}
	}
	return 0
}

// evalSport is the source port of the packets the matrix judges (and
// its traces send): an ephemeral port, so that a cell shows what a new
// flow gets.
const evalSport = 40000

// decide is the verdict of the identity policies for a new flow from
// labels a to labels b of one service (from port evalSport; TCP with SYN
// alone): the matching entry of the highest rank, else the segment
// default. The entries are the rules of policies from a to b and, as the
// compiler writes them, the replies of allow rules from b to a (ICMP
// back, UDP from the service port; TCP replies need ACK, which a new
// flow has not). Ties of rank are ties of action too; the policy named
// is then the first by name.
func decide(pols []*policy.Policy, a, b map[string]string, svc Service, defaultAllow bool) Decision {
	best := Decision{Verdict: "deny", Default: true, Rule: -1}
	if defaultAllow {
		best.Verdict = "allow"
	}
	consider := func(p *policy.Policy, ri int, rank int32, reply bool) {
		if !best.Default && rank <= best.Rank {
			return
		}
		best = Decision{Verdict: p.Rules[ri].Action.String(), Policy: p.Name, Rule: ri, Rank: rank, Reply: reply}
	}
	for _, p := range pols {
		if p.From.Matches(a) && p.To.Matches(b) {
			for ri, r := range p.Rules {
				if rank, ok := ruleRank(p, r, svc.Proto, svc.Port); ok {
					consider(p, ri, rank, false)
				}
			}
		}
		if p.From.Matches(b) && p.To.Matches(a) {
			for ri, r := range p.Rules {
				if rank, ok := replyRank(p, r, svc); ok {
					consider(p, ri, rank, true)
				}
			}
		}
	}
	return best
}

// ruleRank is the rank of rule r of p for packets of proto to port, if
// it matches them.
func ruleRank(p *policy.Policy, r policy.Rule, proto int, port uint16) (int32, bool) {
	if r.Proto == policy.ProtoAny {
		return policy.Priority(p.Priority, r.Proto, nil, r.Action), true
	}
	if r.Proto != proto {
		return 0, false
	}
	if len(r.Ports) == 0 {
		return policy.Priority(p.Priority, r.Proto, nil, r.Action), true
	}
	var best int32
	found := false
	for _, pr := range r.Ports {
		if port >= pr.Lo && port <= pr.Hi {
			if rk := policy.Priority(p.Priority, r.Proto, &pr, r.Action); !found || rk > best {
				best, found = rk, true
			}
		}
	}
	return best, found
}

// replyRank is the rank of the reply entries of rule r of p (a policy
// from the service's destination to its source) for the service's
// packets, if they match: allow rules only, of the service's protocol
// (any protocol answers with TCP, UDP, ICMP and ICMPv6), from a port of
// the rule; never TCP, whose replies need ACK.
func replyRank(p *policy.Policy, r policy.Rule, svc Service) (int32, bool) {
	if r.Action != policy.ActionAllow || svc.Proto == policy.ProtoTCP || svc.Proto == protoOther {
		return 0, false
	}
	known := svc.Proto == policy.ProtoUDP || svc.Proto == policy.ProtoICMP || svc.Proto == policy.ProtoICMPv6
	if r.Proto != svc.Proto && !(r.Proto == policy.ProtoAny && known) {
		return 0, false
	}
	if len(r.Ports) == 0 {
		return policy.Priority(p.Priority, r.Proto, nil, r.Action), true
	}
	if svc.Proto != policy.ProtoUDP {
		return 0, false
	}
	return ruleRank(p, policy.Rule{Proto: r.Proto, Ports: r.Ports, Action: r.Action}, svc.Proto, evalSport)
}

func aclRule(p *policy.Policy) ACLRule {
	side := func(sel policy.Selector, cidrs []string) string {
		if len(cidrs) > 0 {
			return fmt.Sprint(cidrs)
		}
		return sel.String()
	}
	var from, to []string
	for _, c := range p.FromCIDRs {
		from = append(from, c.String())
	}
	for _, c := range p.ToCIDRs {
		to = append(to, c.String())
	}
	a := ACLRule{Policy: p.Name, From: side(p.From, from), To: side(p.To, to)}
	for _, r := range p.Rules {
		a.Rules = append(a.Rules, ruleLabel(r))
	}
	return a
}

// ruleLabel is a rule as "tcp/8080,8443 allow".
func ruleLabel(r policy.Rule) string {
	s := "any"
	if r.Proto != policy.ProtoAny {
		s = policy.ProtoName(r.Proto)
	}
	for i, pr := range r.Ports {
		sep := ","
		if i == 0 {
			sep = "/"
		}
		s += sep + portsLabel(pr)
	}
	return s + " " + r.Action.String()
}
