package policy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// Packet is what Trace follows through a device: an IPv4 or IPv6 packet
// arriving on a port.
type Packet struct {
	InPort uint32
	// SrcMAC and DstMAC default to the MACs of the endpoints that own Src
	// and Dst in the ingress port's segment.
	SrcMAC, DstMAC net.HardwareAddr
	Src, Dst       netip.Addr
	Proto          int // ProtoAny is not allowed; 0 is a protocol too
	SPort, DPort   uint16
	TCPFlags       uint8
	// Tag, when set, is the fabric tag the packet arrives with (from
	// another p4ctl switch, on an uplink).
	Tag *FabricTag
}

// FabricTag is what a p4ctl switch writes on a frame it sends onto a
// fabric link: the segment, role and community the frame was sent from.
type FabricTag struct {
	Segment   uint16
	Role      Role
	Community uint16
}

// TraceHit is one table entry the packet hit.
type TraceHit struct {
	Table string   `json:"table"`
	Entry string   `json:"entry"`
	From  []string `json:"from,omitempty"` // the policies or objects that produced it
}

// TraceResult is Trace's answer.
type TraceResult struct {
	// Verdict is "allow" when the packet leaves at least one port, "punt"
	// when it goes to the controller, "deny" otherwise.
	Verdict string `json:"verdict"`
	// Reason says which step decided.
	Reason string `json:"reason"`
	// Decision is what the ACL, the identity policy or the segment
	// default decided (allow, deny or punt), before forwarding and the
	// egress checks; empty when the packet did not get that far or came
	// from an uplink.
	Decision string `json:"decision,omitempty"`
	// Policy is the policy whose entry decided, if one did.
	Policy string `json:"policy,omitempty"`
	// Rank is the rank of the policy entry that decided, if one did (what
	// a denial report's rank field says).
	Rank uint16 `json:"-"`
	// Ports is where copies leave the switch.
	Ports   []uint32   `json:"ports"`
	Entries []TraceHit `json:"entries"`
}

// Verdicts.
const (
	VerdictAllow = "allow"
	VerdictDeny  = "deny"
	VerdictPunt  = "punt"
)

// Trace follows p through device dev's compiled entries, step by step as
// the pipeline does (p4src/include/ingress.p4 and egress.p4), and says
// where it goes and why.
func (c *Compiler) Trace(dev string, p Packet) (*TraceResult, error) {
	dt, err := c.deviceTables(dev)
	if err != nil {
		return nil, err
	}
	return dt.trace(p)
}

// deviceTables is one device's compiled entries, ready to trace packets
// through.
type deviceTables struct {
	c       *Compiler
	in      *pipeline.Info
	entries []*p4v1.TableEntry
	groups  []*p4v1.MulticastGroupEntry
	refs    map[string][]string
}

func (c *Compiler) deviceTables(dev string) (*deviceTables, error) {
	entries, groups, err := c.DeviceEntries(dev)
	if err != nil {
		return nil, err
	}
	in, err := c.info(c.model, dev)
	if err != nil {
		return nil, err
	}
	return &deviceTables{c: c, in: in, entries: entries, groups: groups, refs: c.entryRefs(dev, in)}, nil
}

// entryRefs maps each of the device's entries (by EntryKey) to what
// produced it: the producers that give the entry its value first (for a
// policy entry, the policies whose rule decides), then the others.
func (c *Compiler) entryRefs(dev string, in *pipeline.Info) map[string][]string {
	out := map[string][]string{}
	c.deviceRows(c.devIdx[dev], func(k rowKey, r row) {
		e, err := k.entry(in, r.val)
		if err != nil {
			return
		}
		var first, rest []string
		for i, ref := range r.refs() {
			if ref == "" {
				continue
			}
			if r.deciding(i) {
				first = append(first, ref)
			} else {
				rest = append(rest, ref)
			}
		}
		slices.Sort(first)
		slices.Sort(rest)
		refs := slices.Compact(first)
		for _, ref := range slices.Compact(rest) {
			if !slices.Contains(refs, ref) {
				refs = append(refs, ref)
			}
		}
		out[pipeline.EntryKey(e)] = refs
	})
	return out
}

// tracer is one packet's walk through a device's tables: each stage of
// the pipeline is a method that reads what the earlier ones found.
type tracer struct {
	*deviceTables
	p   Packet
	res *TraceResult

	// From the port and segment stages.
	seg       uint64
	role      Role // the ingress port's
	sender    Role // the role egress isolates by: the port's, or the tag's
	community uint64
	segment   map[string]uint64 // the segment entry's parameters
	// Flow fields, as the pipeline normalises them.
	srcMAC, dstMAC net.HardwareAddr
	fam            string // "v4" or "v6"
	sp, dp, flags  uint64
	srcID, dstID   uint64
}

func (dt *deviceTables) trace(p Packet) (*TraceResult, error) {
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		return nil, fmt.Errorf("trace: want a source and a destination address of the same family")
	}
	if p.Proto < 0 || p.Proto > 255 {
		return nil, fmt.Errorf("trace: protocol %d is not 0-255", p.Proto)
	}
	t := &tracer{deviceTables: dt, p: p, res: &TraceResult{Ports: []uint32{}}}
	for _, stage := range []func() (bool, error){t.port, t.segmentStage, t.flow} {
		if done, err := stage(); done || err != nil {
			return t.res, err
		}
	}
	if t.role != RoleUplink {
		for _, stage := range []func() (bool, error){t.antiSpoofing, t.dstIdentity, t.verdict} {
			if done, err := stage(); done || err != nil {
				return t.res, err
			}
		}
	} else {
		t.res.Reason = "from an uplink: checked at its first hop"
	}
	out, err := t.l2()
	if err != nil {
		return nil, err
	}
	return t.egress(out)
}

// lookup applies one table and records the hit.
func (t *tracer) lookup(table string, key map[string][]byte) (*p4v1.TableEntry, map[string]uint64, error) {
	tb, ok := t.in.Table(table)
	if !ok {
		return nil, nil, fmt.Errorf("trace: pipeline has no table %s", table)
	}
	e, err := tb.Lookup(t.entries, key)
	if err != nil || e == nil {
		return nil, nil, err
	}
	t.res.Entries = append(t.res.Entries, TraceHit{Table: table, Entry: t.in.FormatEntry(e), From: t.refs[pipeline.EntryKey(e)]})
	params := map[string]uint64{}
	if a := e.GetAction().GetAction(); a != nil {
		act, _ := t.in.ActionByID(a.GetActionId())
		for _, p := range a.GetParams() {
			if prm, ok := act.ParamByID(p.GetParamId()); ok {
				params[prm.Name], _ = pipeline.ToUint64(p.GetValue())
			}
		}
		params["_action_"+act.Name] = 1
	}
	return e, params, nil
}

// done ends the walk with a verdict.
func (t *tracer) done(verdict, reason string) (bool, error) {
	t.res.Verdict, t.res.Reason = verdict, reason
	return true, nil
}

// port is ingress.ports: the port's segment, role and community.
func (t *tracer) port() (bool, error) {
	_, port, err := t.lookup("ingress.ports", map[string][]byte{"ingress_port": pipeline.Uint(uint64(t.p.InPort))})
	if err != nil {
		return true, err
	}
	if port == nil {
		return t.done(VerdictDeny, fmt.Sprintf("port %d is not configured", t.p.InPort))
	}
	t.seg, t.role, t.community = port["segment"], Role(port["role"]), port["community"]
	t.sender = t.role
	if tag := t.p.Tag; tag != nil {
		if t.role != RoleUplink {
			return t.done(VerdictDeny, fmt.Sprintf("a fabric tag on port %d, which is not an uplink", t.p.InPort))
		}
		t.seg, t.sender, t.community = uint64(tag.Segment), tag.Role, uint64(tag.Community)
	}
	return false, nil
}

// segmentStage is ingress.segments: the segment's default and flood group.
func (t *tracer) segmentStage() (bool, error) {
	if t.p.Tag != nil {
		// A tagged frame floods to the group of its segment's id.
		t.segment = map[string]uint64{"flood_group": t.seg}
		return false, nil
	}
	_, segment, err := t.lookup("ingress.segments", map[string][]byte{"segment": pipeline.Uint(t.seg)})
	if err != nil {
		return true, err
	}
	if segment == nil {
		return t.done(VerdictDeny, fmt.Sprintf("segment %d is not configured", t.seg))
	}
	t.segment = segment
	return false, nil
}

// flow fills in the MACs and normalises the L4 fields as the pipeline
// does: ports of TCP and UDP only, flags of TCP only.
func (t *tracer) flow() (bool, error) {
	p := t.p
	t.srcMAC, t.dstMAC = p.SrcMAC, p.DstMAC
	if t.srcMAC == nil {
		t.srcMAC = t.c.macOf(uint16(t.seg), p.Src)
	}
	if t.dstMAC == nil {
		t.dstMAC = t.c.macOf(uint16(t.seg), p.Dst)
	}
	if t.srcMAC == nil {
		return true, fmt.Errorf("trace: no endpoint of segment %d owns %s; give the source MAC", t.seg, p.Src)
	}
	if t.dstMAC == nil {
		t.dstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // unknown: flooded
	}
	t.fam = "v4"
	if p.Src.Is6() {
		t.fam = "v6"
	}
	if p.Proto == ProtoTCP || p.Proto == ProtoUDP {
		t.sp, t.dp = uint64(p.SPort), uint64(p.DPort)
	}
	if p.Proto == ProtoTCP {
		t.flags = uint64(p.TCPFlags)
	}
	return false, nil
}

// antiSpoofing is ingress.src_identity_v4/_v6: the sender must be an
// endpoint on this port; its identity.
func (t *tracer) antiSpoofing() (bool, error) {
	U := pipeline.Uint
	_, src, err := t.lookup("ingress.src_identity_"+t.fam, map[string][]byte{"ingress_port": U(uint64(t.p.InPort)), "src_mac": t.srcMAC, "src_ip": t.p.Src.AsSlice()})
	if err != nil {
		return true, err
	}
	if src == nil {
		return t.done(VerdictDeny, fmt.Sprintf("anti-spoofing: (port %d, %s, %s) is no endpoint's", t.p.InPort, t.srcMAC, t.p.Src))
	}
	t.srcID = src["identity"]
	return false, nil
}

// dstIdentity is ingress.dst_identity_v4/_v6; a miss leaves identity 0.
func (t *tracer) dstIdentity() (bool, error) {
	_, dst, err := t.lookup("ingress.dst_identity_"+t.fam, map[string][]byte{"segment": pipeline.Uint(t.seg), "dst_ip": t.p.Dst.AsSlice()})
	if err != nil {
		return true, err
	}
	if dst != nil {
		t.dstID = dst["identity"]
	}
	return false, nil
}

// verdict is the ACL, then the identity policy, then the segment
// default; a deny or punt ends the walk.
func (t *tracer) verdict() (bool, error) {
	verdict, decided, err := t.acl()
	if err != nil {
		return true, err
	}
	if verdict == "" {
		if verdict, decided, err = t.policy(); err != nil {
			return true, err
		}
	}
	if verdict == "" {
		decided = "no policy matched, segment default"
		verdict = VerdictDeny
		if t.segment["default_allow"] == 1 {
			verdict = VerdictAllow
		}
	}
	t.res.Decision = verdict
	switch verdict {
	case VerdictPunt:
		return t.done(VerdictPunt, decided+": punt to the controller")
	case VerdictDeny:
		return t.done(VerdictDeny, decided+": deny")
	}
	t.res.Reason = decided + ": allow"
	return false, nil
}

// acl is ingress.acl_v4/_v6, which decides before the identity policy.
func (t *tracer) acl() (string, string, error) {
	U := pipeline.Uint
	key := map[string][]byte{"segment": U(t.seg), "src_ip": t.p.Src.AsSlice(), "dst_ip": t.p.Dst.AsSlice(),
		"ip_proto": U(uint64(t.p.Proto)), "l4_src_port": U(t.sp), "l4_dst_port": U(t.dp)}
	acl, act, err := t.lookup("ingress.acl_"+t.fam, key)
	if err != nil || acl == nil {
		return "", "", err
	}
	t.res.Policy = firstRef(t.refs[pipeline.EntryKey(acl)])
	return actionVerdict(act, "acl_"), "ACL entry", nil
}

// policy looks the identity pair up in every policy table, the range
// tables through the port classes, and keeps the entry of the highest
// rank, as the pipeline's POLICY_LOOKUP chain does.
func (t *tracer) policy() (string, string, error) {
	U := pipeline.Uint
	ack := uint64(0)
	if t.flags&0x10 != 0 {
		ack = 1
	}
	pair := func() map[string][]byte {
		return map[string][]byte{"src_identity": U(t.srcID), "dst_identity": U(t.dstID), "ip_proto": U(uint64(t.p.Proto)), "tcp_ack": U(ack)}
	}
	type lookup struct {
		table string
		key   map[string][]byte
	}
	steps := []lookup{{"ingress.policy_pair", pair()}, {"ingress.policy_proto", pair()}}
	withPort := pair()
	withPort["l4_dst_port"] = U(t.dp)
	steps = append(steps, lookup{"ingress.policy_port", withPort})
	cls, err := t.portClass("ingress.dst_port_class", "l4_dst_port", t.dp)
	if err != nil {
		return "", "", err
	}
	if cls >= 0 {
		k := pair()
		k["dst_port_class"] = U(uint64(cls))
		steps = append(steps, lookup{"ingress.policy_range", k})
	}
	steps = append(steps, lookup{"ingress.reply_proto", pair()})
	withSrc := pair()
	withSrc["l4_src_port"] = U(t.sp)
	steps = append(steps, lookup{"ingress.reply_port", withSrc})
	if cls, err = t.portClass("ingress.src_port_class", "l4_src_port", t.sp); err != nil {
		return "", "", err
	}
	if cls >= 0 {
		k := pair()
		k["src_port_class"] = U(uint64(cls))
		steps = append(steps, lookup{"ingress.reply_range", k})
	}
	var bestEntry *p4v1.TableEntry
	var bestAct map[string]uint64
	var bestTable string
	for _, s := range steps {
		e, act, err := t.lookup(s.table, s.key)
		if err != nil {
			return "", "", err
		}
		if e != nil && (bestEntry == nil || act["rank"] > bestAct["rank"]) {
			bestEntry, bestAct, bestTable = e, act, s.table
		}
	}
	if bestEntry == nil {
		return "", "", nil
	}
	t.res.Policy = firstRef(t.refs[pipeline.EntryKey(bestEntry)])
	t.res.Rank = uint16(bestAct["rank"])
	return actionVerdict(bestAct, strings.TrimPrefix(bestTable, "ingress.")+"_"), fmt.Sprintf("policy entry (rank %d)", bestAct["rank"]), nil
}

// portClass looks an L4 port up in a port class table: its class, or -1.
func (t *tracer) portClass(table, field string, port uint64) (int, error) {
	U := pipeline.Uint
	_, act, err := t.lookup(table, map[string][]byte{"segment": U(t.seg), "ip_proto": U(uint64(t.p.Proto)), field: U(port)})
	if err != nil || act == nil {
		return -1, err
	}
	return int(act["port_class"]), nil
}

// l2 is ingress.l2: one port, or the segment's flood group.
func (t *tracer) l2() ([]uint32, error) {
	_, l2, err := t.lookup("ingress.l2", map[string][]byte{"segment": pipeline.Uint(t.seg), "dst_mac": t.dstMAC})
	if err != nil {
		return nil, err
	}
	if l2 != nil {
		return []uint32{uint32(l2["port"])}, nil
	}
	var out []uint32
	for _, g := range t.groups {
		if uint64(g.GetMulticastGroupId()) == t.segment["flood_group"] {
			for _, r := range g.GetReplicas() {
				if port, ok := pipeline.ReplicaPort(r); ok {
					out = append(out, port)
				}
			}
		}
	}
	return out, nil
}

// egress is egress.ports and the PVLAN checks, per copy.
func (t *tracer) egress(out []uint32) (*TraceResult, error) {
	var why []string
	for _, eport := range out {
		if eport == t.p.InPort {
			continue
		}
		_, ep, err := t.lookup("egress.ports", map[string][]byte{"egress_port": pipeline.Uint(uint64(eport))})
		if err != nil {
			return nil, err
		}
		switch {
		case ep == nil:
			why = append(why, fmt.Sprintf("port %d is not configured", eport))
			continue
		case Role(ep["role"]) != RoleUplink && ep["segment"] != t.seg:
			why = append(why, fmt.Sprintf("port %d is in another segment", eport))
			continue
		}
		if t.role == RoleUplink && Role(ep["role"]) == RoleUplink && ep["tagged"] == 0 {
			why = append(why, fmt.Sprintf("split horizon: from uplink %d, uplink %d is not a fabric link", t.p.InPort, eport))
			continue
		}
		erole, role := Role(ep["role"]), t.sender
		blocked := erole == RoleIsolated && (role == RoleIsolated || role == RoleCommunity) ||
			erole == RoleCommunity && (role == RoleIsolated || role == RoleCommunity && t.community != ep["community"])
		if blocked {
			why = append(why, fmt.Sprintf("PVLAN: %s port %d does not reach %s port %d", role, t.p.InPort, erole, eport))
			continue
		}
		t.res.Ports = append(t.res.Ports, eport)
	}
	slices.Sort(t.res.Ports)
	if len(t.res.Ports) == 0 {
		reason := t.res.Reason + "; no port delivers it"
		for _, w := range why {
			reason += "; " + w
		}
		t.done(VerdictDeny, reason)
		return t.res, nil
	}
	t.done(VerdictAllow, t.res.Reason)
	return t.res, nil
}

func actionVerdict(params map[string]uint64, prefix string) string {
	for _, v := range []string{VerdictAllow, VerdictDeny, VerdictPunt} {
		if params["_action_"+prefix+v] == 1 {
			return v
		}
	}
	return VerdictDeny
}

func firstRef(refs []string) string {
	if len(refs) == 0 {
		return ""
	}
	return refs[0]
}

// macOf is the MAC of the endpoint of segment seg that owns ip.
func (c *Compiler) macOf(seg uint16, ip netip.Addr) net.HardwareAddr {
	for _, e := range c.model.Endpoints {
		if s, ok := c.model.Segments[e.Segment]; !ok || s.ID != seg {
			continue
		}
		if slices.Contains(e.IPs, ip) {
			return e.MAC
		}
	}
	return nil
}
