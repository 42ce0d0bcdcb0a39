package policy

import (
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

// Suggest: identity policies, by labels, that allow exactly the observed
// flows a segment's default allows now, so that the segment can be
// flipped to default deny without cutting any of them off.
//
// Each observed flow between two endpoints is an identity pair (the two
// endpoints' label sets) and a protocol and port. Pairs become one policy
// per (source identity, destination identity) with a rule per protocol,
// the ports of a protocol a list in which runs of consecutive ports are
// ranges; then policies with the same rules and the same source are merged
// into one whose destination selector matches exactly their destination
// identities (and likewise for sources), where a selector can say so:
// the labels they share, and "key in (a, b)" for the one key they differ
// in. Every selector is made exact against the segment's identities: it
// matches no identity that had no such flow (`!key` excludes one that
// carries more labels). The policies are validated on the model.

// SuggestResult is what Suggest proposes and what it left out.
type SuggestResult struct {
	Policies []*Policy
	Flows    int // observed flows the policies cover
	// Skipped are flows no label policy can express (a side without an
	// endpoint), or replies, by reason.
	Skipped map[string]int
}

type suggestPair struct {
	from, to string // label texts (identity keys)
}

type suggestPolicy struct {
	from, to []string            // identity keys
	rules    map[int][]PortRange // proto -> ports (none: any port)
}

func (p *suggestPolicy) rulesKey() string {
	var b strings.Builder
	for _, proto := range slices.Sorted(maps.Keys(p.rules)) {
		fmt.Fprintf(&b, "%d:%v;", proto, p.rules[proto])
	}
	return b.String()
}

// Suggest proposes policies for segment seg of m from flows, with the
// given mode (staged or enforce) and priority.
func Suggest(m *Model, seg string, flows []ObservedFlow, staged bool, priority int) (*SuggestResult, error) {
	s := m.Segments[seg]
	if s == nil {
		return nil, fmt.Errorf("segment %q: no such segment", seg)
	}
	ev := NewEvaluator(m)
	res := &SuggestResult{Skipped: map[string]int{}}
	idents := map[string]map[string]string{} // label text -> labels, every identity of the segment
	for _, e := range m.Endpoints {
		if e.Segment == seg {
			idents[LabelsText(e.Labels)] = e.Labels
		}
	}
	ports := map[suggestPair]map[int]map[uint16]bool{}
	for _, f := range flows {
		if f.Segment != seg {
			continue
		}
		d := ev.Decide(f.Flow, false)
		switch {
		case d.Verdict != VerdictAllow:
			continue // denied now: not suggested
		case d.By != "default":
			continue // an enforced policy allows it already
		case d.Reply:
			res.Skipped["reply"]++
			continue
		}
		src, dst := ev.Endpoint(seg, f.Src), ev.Endpoint(seg, f.Dst)
		if src == nil || dst == nil {
			res.Skipped["a side without an endpoint"]++
			continue
		}
		k := suggestPair{LabelsText(src.Labels), LabelsText(dst.Labels)}
		if ports[k] == nil {
			ports[k] = map[int]map[uint16]bool{}
		}
		if ports[k][f.Proto] == nil {
			ports[k][f.Proto] = map[uint16]bool{}
		}
		if f.Proto == ProtoTCP || f.Proto == ProtoUDP {
			ports[k][f.Proto][f.DPort] = true
		}
		res.Flows++
	}
	var pols []*suggestPolicy
	for _, k := range slices.SortedFunc(maps.Keys(ports), func(a, b suggestPair) int { return strings.Compare(a.from+"\x00"+a.to, b.from+"\x00"+b.to) }) {
		sp := &suggestPolicy{from: []string{k.from}, to: []string{k.to}, rules: map[int][]PortRange{}}
		for proto, ps := range ports[k] {
			sp.rules[proto] = portRuns(slices.Sorted(maps.Keys(ps)))
		}
		pols = append(pols, sp)
	}
	// Merge destinations, then sources, where an exact selector exists.
	pols = mergeSide(pols, idents, false)
	pols = mergeSide(pols, idents, true)

	names := map[string]bool{}
	for name := range m.Policies {
		names[name] = true
	}
	for _, sp := range pols {
		from, ok1 := exactSelector(sp.from, idents)
		to, ok2 := exactSelector(sp.to, idents)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("no exact selector for %v -> %v", sp.from, sp.to)
		}
		p := &Policy{Name: suggestName(seg, from, to, names), Segment: seg, Priority: priority, From: from, To: to, Staged: staged}
		for _, proto := range slices.Sorted(maps.Keys(sp.rules)) {
			r := Rule{Proto: proto, Ports: sp.rules[proto], Action: ActionAllow}
			if proto != ProtoTCP && proto != ProtoUDP {
				r.Ports = nil
			}
			p.Rules = append(p.Rules, r)
		}
		res.Policies = append(res.Policies, p)
	}
	objs := make([]Object, len(res.Policies))
	for i, p := range res.Policies {
		objs[i] = p
	}
	if len(objs) > 0 {
		if _, _, err := m.With(objs, nil); err != nil {
			return nil, fmt.Errorf("the suggestion does not validate: %w", err)
		}
	}
	return res, nil
}

// portRuns turns sorted ports into ranges of consecutive ports.
func portRuns(ps []uint16) []PortRange {
	var out []PortRange
	for _, p := range ps {
		if n := len(out); n > 0 && out[n-1].Hi+1 == p && out[n-1].Hi != 65535 {
			out[n-1].Hi = p
			continue
		}
		out = append(out, PortRange{p, p})
	}
	return out
}

// mergeSide merges policies that share the other side and the rules
// into one per group, when an exact selector for the union of this side
// exists; sources when src, destinations otherwise.
func mergeSide(pols []*suggestPolicy, idents map[string]map[string]string, src bool) []*suggestPolicy {
	groups := map[string][]*suggestPolicy{}
	var order []string
	for _, p := range pols {
		other := p.from
		if src {
			other = p.to
		}
		k := strings.Join(other, "|") + "\x00" + p.rulesKey()
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], p)
	}
	var out []*suggestPolicy
	for _, k := range order {
		g := groups[k]
		if len(g) == 1 {
			out = append(out, g[0])
			continue
		}
		var side []string
		for _, p := range g {
			if src {
				side = append(side, p.from...)
			} else {
				side = append(side, p.to...)
			}
		}
		slices.Sort(side)
		side = slices.Compact(side)
		if _, ok := exactSelector(side, idents); !ok {
			out = append(out, g...)
			continue
		}
		m := &suggestPolicy{from: g[0].from, to: g[0].to, rules: g[0].rules}
		if src {
			m.from = side
		} else {
			m.to = side
		}
		out = append(out, m)
	}
	return out
}

// exactSelector is a selector that matches exactly the identities keys
// among idents: the labels they share as equalities, "key in (...)" for
// keys they all have with different values, and "!key" for keys that
// others carry and none of them does.
func exactSelector(keys []string, idents map[string]map[string]string) (Selector, bool) {
	if len(keys) == 0 {
		return nil, false
	}
	want := map[string]bool{}
	var sets []map[string]string
	for _, k := range keys {
		want[k] = true
		sets = append(sets, idents[k])
	}
	var parts []string
	for _, key := range slices.Sorted(maps.Keys(sets[0])) {
		vals := map[string]bool{}
		all := true
		for _, l := range sets {
			v, ok := l[key]
			if !ok {
				all = false
				break
			}
			vals[v] = true
		}
		if !all {
			continue
		}
		vs := slices.Sorted(maps.Keys(vals))
		if len(vs) == 1 {
			parts = append(parts, key+": "+vs[0])
		} else {
			parts = append(parts, key+" in ("+strings.Join(vs, ", ")+")")
		}
	}
	sel, err := ParseSelector(strings.Join(parts, ", "))
	if err != nil {
		return nil, false
	}
	// Exclude what else it matches by a key none of the wanted has.
	var not []string
	for _, k := range slices.Sorted(maps.Keys(idents)) {
		if want[k] || !sel.Matches(idents[k]) {
			continue
		}
		found := false
		for _, key := range slices.Sorted(maps.Keys(idents[k])) {
			held := false
			for _, l := range sets {
				if _, ok := l[key]; ok {
					held = true
					break
				}
			}
			if !held {
				if !slices.Contains(not, "!"+key) {
					not = append(not, "!"+key)
				}
				found = true
				break
			}
		}
		if !found {
			return nil, false
		}
	}
	if len(not) > 0 {
		parts = append(parts, not...)
		if sel, err = ParseSelector(strings.Join(parts, ", ")); err != nil {
			return nil, false
		}
	}
	// Check: exactly the wanted.
	for k, l := range idents {
		if sel.Matches(l) != want[k] {
			return nil, false
		}
	}
	return sel, true
}

// suggestName names a policy from its selectors' values, unique in names.
func suggestName(seg string, from, to Selector, names map[string]bool) string {
	values := func(s Selector) []string {
		var vs []string
		for _, r := range s {
			if r.Op == OpEquals || r.Op == OpIn {
				vs = append(vs, r.Values...)
			}
		}
		return vs
	}
	fv, tv := values(from), values(to)
	// Values both sides share (app: shop) say nothing of the pair.
	short := func(vs, other []string) string {
		var out []string
		for _, v := range vs {
			if !slices.Contains(other, v) {
				out = append(out, v)
			}
		}
		if len(out) == 0 {
			out = vs
		}
		if len(out) == 0 {
			return "any"
		}
		return strings.Join(out, "-")
	}
	base := clean(seg + "-" + short(fv, tv) + "-to-" + short(tv, fv))
	if len(base) > 200 {
		base = base[:200]
	}
	name := base
	for i := 2; names[name]; i++ {
		name = base + "-" + strconv.Itoa(i)
	}
	names[name] = true
	return name
}

func clean(s string) string {
	b := []byte(s)
	for i, c := range b {
		if !labelChar(c, false) {
			b[i] = '-'
		}
	}
	return string(b)
}
