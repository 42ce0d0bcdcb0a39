package policy

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"testing"
)

// The reference evaluator: what the policy model means for one packet,
// written from docs/policy.md and nothing else. It shares no code with the
// compiler or the tables: no rows, no ranks, no port classes. Selectors
// are evaluated with Selector.Matches, which the model itself defines.

// refPacket is a packet sent by endpoint src from its own port.
type refPacket struct {
	src          *Endpoint
	srcIP, dstIP netip.Addr
	proto        int
	sport, dport uint16
	flags        uint8
}

// refMatch is one rule that matches a packet, with what orders it.
type refMatch struct {
	policy         string
	acl            bool
	priority, spec int // policy priority; specificity 0 any proto, 1 proto, 2 range, 3 single port
	action         Action
}

// beats orders matches as the docs do: the policy priority, then the
// specificity, then deny over punt over allow.
func (a refMatch) beats(b refMatch) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	if a.spec != b.spec {
		return a.spec > b.spec
	}
	rank := map[Action]int{ActionAllow: 0, ActionPunt: 1, ActionDeny: 2}
	return rank[a.action] > rank[b.action]
}

func (a refMatch) ties(b refMatch) bool { return !a.beats(b) && !b.beats(a) }

// refOwner is the endpoint of segment seg that owns ip.
func refOwner(m *Model, seg string, ip netip.Addr) *Endpoint {
	for _, e := range m.Endpoints {
		if e.Segment == seg && slices.Contains(e.IPs, ip) {
			return e
		}
	}
	return nil
}

func inAny(ip netip.Addr, cidrs []netip.Prefix) bool {
	for _, c := range cidrs {
		if c.Contains(ip) {
			return true
		}
	}
	return false
}

// refRuleMatches calls fn with the specificity of each part of rule r that
// a packet of protocol proto to port port matches: the rule's protocol
// (or any), and one of its ports when it names some.
func refRuleMatches(r Rule, proto int, port uint16, fn func(spec int)) {
	if r.Proto != ProtoAny && r.Proto != proto {
		return
	}
	if r.Proto == ProtoAny {
		fn(0)
		return
	}
	if len(r.Ports) == 0 {
		fn(1)
		return
	}
	for _, pr := range r.Ports {
		if port >= pr.Lo && port <= pr.Hi {
			if pr.Lo == pr.Hi {
				fn(3)
			} else {
				fn(2)
			}
		}
	}
}

// refReplies calls fn with the specificity of each part of allow rule r
// whose reply a packet matches: the reply protocols of the rule (TCP, UDP,
// ICMP and ICMPv6 for any), from one of its ports when it names some, TCP
// with ACK set where the rule is an identity rule (the ACL does not see
// flags).
func refReplies(r Rule, p refPacket, needACK bool, fn func(spec int)) {
	if r.Action != ActionAllow {
		return
	}
	protos := []int{r.Proto}
	if r.Proto == ProtoAny {
		protos = []int{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6}
	}
	if !slices.Contains(protos, p.proto) {
		return
	}
	if needACK && p.proto == ProtoTCP && p.flags&0x10 == 0 {
		return
	}
	switch {
	case r.Proto == ProtoAny:
		fn(0)
	case len(r.Ports) == 0:
		fn(1)
	default:
		for _, pr := range r.Ports {
			if p.sport >= pr.Lo && p.sport <= pr.Hi {
				if pr.Lo == pr.Hi {
					fn(3)
				} else {
					fn(2)
				}
			}
		}
	}
}

// refDecide is the model's decision for p: the ACL's best match if any
// ACL policy matches, else the identity policies' best match, else the
// segment default. It returns the verdict and the policies that could
// have decided (all those tied with the best).
func refDecide(m *Model, p refPacket) (string, []string) {
	seg := p.src.Segment
	dst := refOwner(m, seg, p.dstIP)
	sport, dport := p.sport, p.dport
	if p.proto != ProtoTCP && p.proto != ProtoUDP {
		sport, dport = 0, 0
	}
	pk := p
	pk.sport, pk.dport = sport, dport
	var acl, ident []refMatch
	for _, q := range m.Policies {
		if q.Segment != seg {
			continue
		}
		isACL := q.FromCIDRs != nil || q.ToCIDRs != nil
		var fwd, rev bool
		switch {
		case q.FromCIDRs != nil:
			fwd = inAny(p.srcIP, q.FromCIDRs) && dst != nil && q.To.Matches(dst.Labels)
			rev = q.To.Matches(p.src.Labels) && inAny(p.dstIP, q.FromCIDRs)
		case q.ToCIDRs != nil:
			fwd = q.From.Matches(p.src.Labels) && inAny(p.dstIP, q.ToCIDRs)
			rev = inAny(p.srcIP, q.ToCIDRs) && dst != nil && q.From.Matches(dst.Labels)
		default:
			fwd = q.From.Matches(p.src.Labels) && dst != nil && q.To.Matches(dst.Labels)
			rev = q.To.Matches(p.src.Labels) && dst != nil && q.From.Matches(dst.Labels)
		}
		for _, r := range q.Rules {
			add := func(spec int) {
				mt := refMatch{policy: q.Name, acl: isACL, priority: q.Priority, spec: spec, action: r.Action}
				if isACL {
					acl = append(acl, mt)
				} else {
					ident = append(ident, mt)
				}
			}
			if fwd {
				refRuleMatches(r, p.proto, dport, add)
			}
			if rev {
				refReplies(r, pk, !isACL, func(spec int) {
					// A reply is allowed at its rule's precedence.
					add(spec)
				})
			}
		}
	}
	for _, ms := range [][]refMatch{acl, ident} {
		if len(ms) == 0 {
			continue
		}
		best := ms[0]
		for _, mt := range ms[1:] {
			if mt.beats(best) {
				best = mt
			}
		}
		var who []string
		for _, mt := range ms {
			if mt.ties(best) && !slices.Contains(who, mt.policy) {
				who = append(who, mt.policy)
			}
		}
		return best.action.String(), who
	}
	if m.Segments[seg].DefaultAllow {
		return VerdictAllow, nil
	}
	return VerdictDeny, nil
}

// TestCompiledSemantics checks the compiled tables against the reference
// evaluator: random worlds (endpoints with overlapping labels, policies
// with single ports, port lists, overlapping ranges, any protocol, deny
// and punt at several priorities, wildcard selectors, CIDR sides, IPv4
// and IPv6) and random packets; the decision trace reads off the entries
// must be the reference's, and so must the deciding policy.
// P4CTL_SEMANTICS_SEED replays one world.
func TestCompiledSemantics(t *testing.T) {
	worlds, packets := 60, 400
	if testing.Short() {
		worlds = 10
	}
	first := 0
	if s := os.Getenv("P4CTL_SEMANTICS_SEED"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("P4CTL_SEMANTICS_SEED=%q: %v", s, err)
		}
		first, worlds = n, 1
	}
	checked := map[string]int{}
	for seed := first; seed < first+worlds; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			w := &world{r: rand.New(rand.NewPCG(uint64(seed), 11))}
			m := w.base(t, 5)
			for i := range 14 {
				if next, _, err := m.With([]Object{w.endpoint(m, i)}, nil); err == nil {
					m = next
				}
			}
			for i := range 10 {
				if next, _, err := m.With([]Object{w.policy(i)}, nil); err == nil {
					m = next
				}
			}
			c, err := Compile(testTargets, m)
			if err != nil {
				t.Fatal(err)
			}
			var eps []*Endpoint
			for _, name := range slices.Sorted(mapsKeys(m.Endpoints)) {
				eps = append(eps, m.Endpoints[name])
			}
			if len(eps) == 0 {
				t.Skip("no endpoint")
			}
			tables := map[string]*deviceTables{}
			for _, d := range wDevices {
				if tables[d], err = c.deviceTables(d); err != nil {
					t.Fatal(err)
				}
			}
			for range packets {
				p := w.packet(eps)
				res, err := tables[p.src.Device].trace(Packet{InPort: p.src.Port, SrcMAC: p.src.MAC, Src: p.srcIP, Dst: p.dstIP,
					Proto: p.proto, SPort: p.sport, DPort: p.dport, TCPFlags: p.flags})
				if err != nil {
					t.Fatal(err)
				}
				want, who := refDecide(m, p)
				checked[want]++
				got := res.Decision
				if got != want || len(who) > 0 && !slices.Contains(who, res.Policy) || len(who) == 0 && res.Policy != "" {
					t.Fatalf("%s %s:%d -> %s:%d proto %d flags %#x from %s (labels %v) on %s/%d:\n"+
						"reference: %s by %v\ntables:    %s by %q (%s)\n%s\npolicies:\n%s",
						p.src.Segment, p.srcIP, p.sport, p.dstIP, p.dport, p.proto, p.flags, p.src.Name, p.src.Labels, p.src.Device, p.src.Port,
						want, who, got, res.Policy, res.Reason, hits(res), policiesOf(m, p.src.Segment))
				}
			}
		})
	}
	t.Logf("decisions checked: %v", checked)
}

// packet draws a packet from one of eps to an address of the world: an
// endpoint's (of any segment, so some are unknown in the sender's), one
// in or near a CIDR the policies name, or nobody's.
func (w *world) packet(eps []*Endpoint) refPacket {
	src := eps[w.r.IntN(len(eps))]
	p := refPacket{src: src, srcIP: src.IPs[w.r.IntN(len(src.IPs))]}
	var cands []netip.Addr
	for _, e := range eps {
		for _, ip := range e.IPs {
			if ip.Is4() == p.srcIP.Is4() {
				cands = append(cands, ip)
			}
		}
	}
	if p.srcIP.Is4() {
		cands = append(cands, netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("198.51.100.9"), netip.MustParseAddr("203.0.113.1"))
	} else {
		cands = append(cands, netip.MustParseAddr("2001:db8::7"), netip.MustParseAddr("2001:db9::1"))
	}
	p.dstIP = cands[w.r.IntN(len(cands))]
	p.proto = []int{ProtoTCP, ProtoTCP, ProtoUDP, ProtoUDP, ProtoICMP, ProtoICMPv6, 47}[w.r.IntN(7)]
	port := func() uint16 {
		if w.r.IntN(5) == 0 {
			return uint16(w.r.IntN(65536))
		}
		return uint16(w.r.IntN(60))
	}
	p.sport, p.dport = port(), port()
	p.flags = []uint8{0, 0x02, 0x10, 0x12, 0x11}[w.r.IntN(5)]
	return p
}

func policiesOf(m *Model, seg string) string {
	var out string
	for _, name := range slices.Sorted(mapsKeys(m.Policies)) {
		q := m.Policies[name]
		if q.Segment == seg {
			out += fmt.Sprintf("  %s prio %d from %q %v to %q %v rules %+v\n", q.Name, q.Priority, q.From.String(), q.FromCIDRs, q.To.String(), q.ToCIDRs, q.Rules)
		}
	}
	return out
}
