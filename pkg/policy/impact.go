package policy

import (
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Impact: which observed flows a change of the model would decide
// otherwise, grouped by identity pair and port, so that an operator sees
// what a change breaks (or opens) before it is applied.

// ObservedFlow is a flow of the flow log, for Impact and Suggest.
type ObservedFlow struct {
	Flow
	SrcName, DstName string
	Count            uint64
	Last             time.Time
	Verdict          string // what the switch decided
}

// ImpactGroup is the observed flows of one identity pair and port whose
// verdict would change from Before to After.
type ImpactGroup struct {
	Segment, From, To string // From and To: the endpoints' labels ("app=shop,tier=web"), or the address of a side without an endpoint
	Proto             int
	DPort             uint16
	Before, After     Decision
	Flows             int
	Reports           uint64
	Last              time.Time
	Examples          []string // up to 3 "src -> dst"
}

// LabelsText is labels as "k=v,k2=v2", sorted; "(no labels)" when empty.
func LabelsText(l map[string]string) string {
	if len(l) == 0 {
		return "(no labels)"
	}
	parts := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return strings.Join(parts, ",")
}

// sideName is how a flow's side is grouped: its endpoint's labels in cur
// (or in next, for an endpoint the change adds), else its address.
func sideName(cur, next *Evaluator, seg string, a netip.Addr) string {
	if e := cur.Endpoint(seg, a); e != nil {
		return LabelsText(e.Labels)
	}
	if e := next.Endpoint(seg, a); e != nil {
		return LabelsText(e.Labels)
	}
	return a.String()
}

// Impact judges flows on cur and on next (enforced policies only: a
// staged policy changes nothing) and returns the groups whose verdict
// changes, those that would be denied first, then by reports. Replies
// (flows a reply entry allows now) are left out: they follow the flow
// they answer.
func Impact(cur, next *Model, flows []ObservedFlow) []ImpactGroup {
	ec, en := NewEvaluator(cur), NewEvaluator(next)
	type key struct {
		seg, from, to       string
		proto               int
		dport               uint16
		before, after       string
		beforePol, afterPol string
	}
	groups := map[key]*ImpactGroup{}
	for _, f := range flows {
		b := ec.Decide(f.Flow, false)
		if b.Reply {
			continue
		}
		a := en.Decide(f.Flow, false)
		if a.Verdict == b.Verdict {
			continue
		}
		dport := f.DPort
		if f.Proto != ProtoTCP && f.Proto != ProtoUDP {
			dport = 0
		}
		k := key{f.Segment, sideName(ec, en, f.Segment, f.Src), sideName(ec, en, f.Segment, f.Dst), f.Proto, dport, b.Verdict, a.Verdict, b.Policy, a.Policy}
		g := groups[k]
		if g == nil {
			g = &ImpactGroup{Segment: k.seg, From: k.from, To: k.to, Proto: k.proto, DPort: dport, Before: b, After: a}
			groups[k] = g
		}
		g.Flows++
		g.Reports += f.Count
		if f.Last.After(g.Last) {
			g.Last = f.Last
		}
		if len(g.Examples) < 3 {
			g.Examples = append(g.Examples, orAddr(f.SrcName, f.Src)+" -> "+orAddr(f.DstName, f.Dst))
		}
	}
	out := make([]ImpactGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(x, y ImpactGroup) int {
		if dx, dy := x.After.Verdict == VerdictDeny, y.After.Verdict == VerdictDeny; dx != dy {
			if dx {
				return -1
			}
			return 1
		}
		if x.Reports != y.Reports {
			if x.Reports > y.Reports {
				return -1
			}
			return 1
		}
		return strings.Compare(x.Segment+x.From+x.To, y.Segment+y.From+y.To)
	})
	return out
}

func orAddr(name string, a netip.Addr) string {
	if name != "" {
		return name
	}
	return a.String()
}
