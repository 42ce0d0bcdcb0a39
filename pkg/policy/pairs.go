package policy

import (
	"maps"
	"slices"
)

// Identity-pair rows: what a rule of an identity policy compiles to for
// one (source, destination) identity pair, in the exact-match policy
// tables, and the upkeep of the port classes its ranges need.

// Priority gives a rule its rank (higher wins), the P4Runtime priority a
// single ternary policy table would give it:
//
//	1 + 16*policy priority + 4*specificity + action rank
//
// Specificity is 0 for any protocol, 1 for a protocol, 2 for a port range
// and 3 for a single port; the action rank is allow 1, punt 2, deny 3. So a
// policy of higher priority always wins; at equal priority the more
// specific rule wins; at equal specificity deny beats punt beats allow.
// The pipeline looks the pair up in every policy table and keeps the
// entry of the highest rank.
func Priority(policyPriority int, proto int, ports *PortRange, a Action) int32 {
	spec := 0
	if proto != ProtoAny {
		spec = 1
		if ports != nil {
			spec = 2
			if ports.Lo == ports.Hi {
				spec = 3
			}
		}
	}
	return int32(1 + 16*policyPriority + 4*spec + int(a))
}

// ruleItems calls fn with each port item of rule r: every range of its
// port list, or nil for a rule that names no ports.
func ruleItems(r *Rule, fn func(pr *PortRange)) {
	if len(r.Ports) == 0 {
		fn(nil)
		return
	}
	for i := range r.Ports {
		fn(&r.Ports[i])
	}
}

// ruleVal is the value of the rows of rule r of p for port item pr: its
// action and its rank.
func ruleVal(p *Policy, r *Rule, pr *PortRange) rowVal {
	return rowVal{action: r.Action, p: [4]uint32{uint32(Priority(p.Priority, r.Proto, pr, r.Action))}}
}

func isRange(pr *PortRange) bool { return pr != nil && pr.Lo < pr.Hi }

// ackOf is the tcp_ack key of a reply row of protocol proto: replies of
// TCP must have ACK set (so the server cannot open a connection back);
// other protocols never have it.
func ackOf(proto int) uint8 {
	if proto == ProtoTCP {
		return 1
	}
	return 0
}

func replyProtos(proto int) []int {
	if proto == ProtoAny {
		return []int{ProtoTCP, ProtoUDP, ProtoICMP, ProtoICMPv6}
	}
	return []int{proto}
}

// pairRows calls fn with the policy rows of identity pair (f, t) for every
// rule of p: the forward direction and, for allow rules, the replies
// (stateless, like a security group): TCP from the service port with ACK
// set, UDP from the service port, ICMP back. An allow of any protocol
// answers with TCP, UDP, ICMP and ICMPv6.
func (c *Compiler) pairRows(p *Policy, f, t uint32, fn func(rowKey, rowVal)) {
	c.pairRuleRows(p, f, t, func(k rowKey, v rowVal, _ int) { fn(k, v) })
}

// pairRuleRows is pairRows, saying which rule (its index in p.Rules) each
// row comes from.
func (c *Compiler) pairRuleRows(p *Policy, f, t uint32, each func(rowKey, rowVal, int)) {
	seg := c.segID(p.Segment)
	for i := range p.Rules {
		r := &p.Rules[i]
		fn := func(k rowKey, v rowVal) { each(k, v, i) }
		ruleItems(r, func(pr *PortRange) {
			v := ruleVal(p, r, pr)
			fwd := rowKey{n1: f, n2: t, proto: uint8(r.Proto)}
			switch {
			case r.Proto == ProtoAny:
				fwd.t, fwd.proto = tPolPair, 0
				fn(fwd, v)
			case pr == nil:
				fwd.t = tPolProto
				fn(fwd, v)
			case pr.Lo == pr.Hi:
				fwd.t, fwd.dp = tPolPort, portMatch{pr.Lo, pr.Lo}
				fn(fwd, v)
			default:
				c.parts[partKey{seg, dirDst, uint8(r.Proto)}].atomsIn(*pr, func(id uint16) {
					fn(rangeRow(dirDst, f, t, r.Proto, id), v)
				})
			}
			if r.Action != ActionAllow {
				return
			}
			for _, rp := range replyProtos(r.Proto) {
				rev := rowKey{n1: t, n2: f, proto: uint8(rp), flags: ackOf(rp)}
				switch {
				case pr == nil:
					rev.t = tRepProto
					fn(rev, v)
				case pr.Lo == pr.Hi:
					rev.t, rev.sp = tRepPort, portMatch{pr.Lo, pr.Lo}
					fn(rev, v)
				default:
					c.parts[partKey{seg, dirSrc, uint8(rp)}].atomsIn(*pr, func(id uint16) {
						fn(rangeRow(dirSrc, f, t, rp, id), v)
					})
				}
			}
		})
	}
}

// rangeRow is the row of a range rule of pair (f, t) for the atom with
// class id: forward (destination port) or reply (source port, from t to
// f).
func rangeRow(dir portDir, f, t uint32, proto int, id uint16) rowKey {
	if dir == dirDst {
		return rowKey{t: tPolRange, n1: f, n2: t, proto: uint8(proto), dp: portMatch{id, id}}
	}
	return rowKey{t: tRepRange, n1: t, n2: f, proto: uint8(proto), flags: ackOf(proto), sp: portMatch{id, id}}
}

// rowsPerPair is how many rows of each table pairRows makes for one pair
// of p, at most (rows shared with other rules are counted each time). The
// policy's ranges must be in the port classes.
func (c *Compiler) rowsPerPair(p *Policy) [numTables]int {
	var n [numTables]int
	seg := c.segID(p.Segment)
	for i := range p.Rules {
		r := &p.Rules[i]
		ruleItems(r, func(pr *PortRange) {
			switch {
			case r.Proto == ProtoAny:
				n[tPolPair]++
			case pr == nil:
				n[tPolProto]++
			case pr.Lo == pr.Hi:
				n[tPolPort]++
			default:
				n[tPolRange] += c.parts[partKey{seg, dirDst, uint8(r.Proto)}].countIn(*pr)
			}
			if r.Action != ActionAllow {
				return
			}
			for _, rp := range replyProtos(r.Proto) {
				switch {
				case pr == nil:
					n[tRepProto]++
				case pr.Lo == pr.Hi:
					n[tRepPort]++
				default:
					n[tRepRange] += c.parts[partKey{seg, dirSrc, uint8(rp)}].countIn(*pr)
				}
			}
		})
	}
	return n
}

// policyRanges calls fn with the partition and range of every port range
// of identity policy p: destination ranges of every rule, source ranges
// (for the replies) of allow rules.
func policyRanges(p *Policy, seg uint32, fn func(partKey, PortRange)) {
	for i := range p.Rules {
		r := &p.Rules[i]
		ruleItems(r, func(pr *PortRange) {
			if !isRange(pr) {
				return
			}
			fn(partKey{seg, dirDst, uint8(r.Proto)}, *pr)
			if r.Action == ActionAllow {
				fn(partKey{seg, dirSrc, uint8(r.Proto)}, *pr)
			}
		})
	}
}

// changeRanges brings identity policy p's port ranges into its segment's
// port classes (add) or takes them out. Where that cuts an atom of
// another policy's range in two, or joins two, that policy's rows for the
// atom above the cut are added or dropped for each of its pairs; nothing
// else is rewritten. The class rows follow the atoms. Adding runs before
// p's own rows are made; removing after they are gone.
func (c *Compiler) changeRanges(p *Policy, add bool) {
	seg := c.segID(p.Segment)
	changed := map[partKey][]uint32{}
	before := map[partKey][]atom{}
	versions := map[partKey]int{}
	cut := false
	policyRanges(p, seg, func(k partKey, r PortRange) {
		pt := c.parts[k]
		if pt == nil {
			pt = newPartition()
			c.parts[k] = pt
		}
		if _, seen := before[k]; !seen {
			before[k] = pt.atoms()
			versions[k] = pt.version
		}
		var bs []uint32
		if add {
			bs = pt.add(r)
		} else {
			bs = pt.remove(r)
		}
		changed[k] = append(changed[k], bs...)
		cut = cut || len(bs) > 0
	})
	if len(before) == 0 {
		return
	}
	// Re-fit the other policies' range rows at the cuts.
	for _, name := range slices.Sorted(maps.Keys(c.segPols[p.Segment])) {
		if !cut {
			break
		}
		ps := c.segPols[p.Segment][name]
		if ps.p == p || ps.p.acl() {
			continue
		}
		q := ps.p
		for i := range q.Rules {
			r := &q.Rules[i]
			ruleItems(r, func(pr *PortRange) {
				if !isRange(pr) {
					return
				}
				v := ruleVal(q, r, pr)
				dirs := []portDir{dirDst}
				if r.Action == ActionAllow {
					dirs = append(dirs, dirSrc)
				}
				for _, dir := range dirs {
					for _, id := range cuts(changed[partKey{seg, dir, uint8(r.Proto)}], *pr) {
						for f := range ps.from {
							for t := range ps.to {
								k := rangeRow(dir, f, t, r.Proto, id)
								if add {
									c.addRow(k, v, q.Name)
								} else {
									c.dropRow(k, v, q.Name)
								}
							}
						}
					}
				}
			})
		}
	}
	// The class rows: drop the atoms that changed, add their successors.
	ref := KindSegment + " " + p.Segment
	for _, k := range slices.SortedFunc(maps.Keys(before), comparePartKeys) {
		pt := c.parts[k]
		if pt.version == versions[k] {
			continue // the same distinct ranges: the same atoms
		}
		after := pt.atoms()
		old := make(map[atom]bool, len(before[k]))
		for _, a := range before[k] {
			old[a] = true
		}
		for _, a := range after {
			if old[a] {
				delete(old, a)
				continue
			}
			rk, rv := classRow(k, a)
			c.addRow(rk, rv, ref)
		}
		for _, a := range before[k] {
			if old[a] {
				rk, rv := classRow(k, a)
				c.dropRow(rk, rv, ref)
			}
		}
		if len(pt.ranges) == 0 {
			delete(c.parts, k)
		}
	}
}

// classRow is the port class row of atom a in partition k.
func classRow(k partKey, a atom) (rowKey, rowVal) {
	t := tDstClass
	if k.dir == dirSrc {
		t = tSrcClass
	}
	return rowKey{t: t, n1: k.seg, proto: k.proto, dp: portMatch(a)}, rowVal{p: [4]uint32{uint32(a.lo)}}
}

func comparePartKeys(a, b partKey) int {
	switch {
	case a.seg != b.seg:
		return int(a.seg) - int(b.seg)
	case a.dir != b.dir:
		return int(a.dir) - int(b.dir)
	}
	return int(a.proto) - int(b.proto)
}
