package policy

import (
	"fmt"
	"net"
	"net/netip"
	"slices"

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
	// Policy is the policy whose entry decided, if one did.
	Policy string `json:"policy,omitempty"`
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
	if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
		return nil, fmt.Errorf("trace: want a source and a destination address of the same family")
	}
	if p.Proto < 0 || p.Proto > 255 {
		return nil, fmt.Errorf("trace: protocol %d is not 0-255", p.Proto)
	}
	entries, groups, err := c.DeviceEntries(dev)
	if err != nil {
		return nil, err
	}
	in, err := c.info(c.model, dev)
	if err != nil {
		return nil, err
	}
	refs := c.entryRefs(dev, in)
	tr := &tracer{in: in, entries: entries, refs: refs, res: &TraceResult{Ports: []uint32{}}}
	return tr.run(c, dev, p, groups)
}

// entryRefs maps each of the device's entries (by EntryKey) to what
// produced it.
func (c *Compiler) entryRefs(dev string, in *pipeline.Info) map[string][]string {
	out := map[string][]string{}
	c.deviceRows(c.devIdx[dev], func(k rowKey, r row) {
		e, err := k.entry(in, r.val)
		if err != nil {
			return
		}
		var refs []string
		for _, ref := range r.refs() {
			if ref != "" && !slices.Contains(refs, ref) {
				refs = append(refs, ref)
			}
		}
		slices.Sort(refs)
		out[pipeline.EntryKey(e)] = refs
	})
	return out
}

type tracer struct {
	in      *pipeline.Info
	entries []*p4v1.TableEntry
	refs    map[string][]string
	res     *TraceResult
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

func (t *tracer) done(verdict, reason string) (*TraceResult, error) {
	t.res.Verdict, t.res.Reason = verdict, reason
	return t.res, nil
}

func (t *tracer) run(c *Compiler, dev string, p Packet, groups []*p4v1.MulticastGroupEntry) (*TraceResult, error) {
	U := pipeline.Uint
	_, port, err := t.lookup("ingress.ports", map[string][]byte{"ingress_port": U(uint64(p.InPort))})
	if err != nil {
		return nil, err
	}
	if port == nil {
		return t.done(VerdictDeny, fmt.Sprintf("port %d is not configured", p.InPort))
	}
	seg, role, community := port["segment"], Role(port["role"]), port["community"]
	_, segment, err := t.lookup("ingress.segments", map[string][]byte{"segment": U(seg)})
	if err != nil {
		return nil, err
	}
	if segment == nil {
		return t.done(VerdictDeny, fmt.Sprintf("segment %d is not configured", seg))
	}
	srcMAC, dstMAC := p.SrcMAC, p.DstMAC
	if srcMAC == nil {
		srcMAC = c.macOf(uint16(seg), p.Src)
	}
	if dstMAC == nil {
		dstMAC = c.macOf(uint16(seg), p.Dst)
	}
	if srcMAC == nil {
		return nil, fmt.Errorf("trace: no endpoint of segment %d owns %s; give the source MAC", seg, p.Src)
	}
	if dstMAC == nil {
		dstMAC = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} // unknown: flooded
	}
	v6 := p.Src.Is6()
	sp, dp, flags := uint64(0), uint64(0), uint64(0)
	if p.Proto == ProtoTCP || p.Proto == ProtoUDP {
		sp, dp = uint64(p.SPort), uint64(p.DPort)
	}
	if p.Proto == ProtoTCP {
		flags = uint64(p.TCPFlags)
	}
	if role != RoleUplink {
		fam := "v4"
		if v6 {
			fam = "v6"
		}
		_, src, err := t.lookup("ingress.src_identity_"+fam, map[string][]byte{"ingress_port": U(uint64(p.InPort)), "src_mac": srcMAC, "src_ip": p.Src.AsSlice()})
		if err != nil {
			return nil, err
		}
		if src == nil {
			return t.done(VerdictDeny, fmt.Sprintf("anti-spoofing: (port %d, %s, %s) is no endpoint's", p.InPort, srcMAC, p.Src))
		}
		srcID := src["identity"]
		dstID := uint64(0)
		_, dst, err := t.lookup("ingress.dst_identity_"+fam, map[string][]byte{"segment": U(seg), "dst_ip": p.Dst.AsSlice()})
		if err != nil {
			return nil, err
		}
		if dst != nil {
			dstID = dst["identity"]
		}
		l4 := map[string][]byte{"ip_proto": U(uint64(p.Proto)), "l4_src_port": U(sp), "l4_dst_port": U(dp)}
		aclKey := map[string][]byte{"segment": U(seg), "src_ip": p.Src.AsSlice(), "dst_ip": p.Dst.AsSlice()}
		for k, v := range l4 {
			aclKey[k] = v
		}
		acl, aclAct, err := t.lookup("ingress.acl_"+fam, aclKey)
		if err != nil {
			return nil, err
		}
		verdict, decided := "", ""
		if acl != nil {
			verdict, decided = actionVerdict(aclAct, "acl_"), "ACL entry"
			t.res.Policy = firstRef(t.refs[pipeline.EntryKey(acl)])
		} else {
			polKey := map[string][]byte{"src_identity": U(srcID), "dst_identity": U(dstID), "tcp_flags": U(flags)}
			for k, v := range l4 {
				polKey[k] = v
			}
			pol, polAct, err := t.lookup("ingress.policy", polKey)
			if err != nil {
				return nil, err
			}
			if pol != nil {
				verdict, decided = actionVerdict(polAct, "policy_"), "policy entry"
				t.res.Policy = firstRef(t.refs[pipeline.EntryKey(pol)])
			} else if segment["default_allow"] == 1 {
				verdict, decided = VerdictAllow, "no policy matched, segment default"
			} else {
				verdict, decided = VerdictDeny, "no policy matched, segment default"
			}
		}
		switch verdict {
		case VerdictPunt:
			return t.done(VerdictPunt, decided+": punt to the controller")
		case VerdictDeny:
			return t.done(VerdictDeny, decided+": deny")
		}
		t.res.Reason = decided + ": allow"
	} else {
		t.res.Reason = "from an uplink: checked at its first hop"
	}

	// L2: one port, or the segment's flood group.
	var out []uint32
	_, l2, err := t.lookup("ingress.l2", map[string][]byte{"segment": U(seg), "dst_mac": dstMAC})
	if err != nil {
		return nil, err
	}
	if l2 != nil {
		out = []uint32{uint32(l2["port"])}
	} else {
		for _, g := range groups {
			if uint64(g.GetMulticastGroupId()) == segment["flood_group"] {
				for _, r := range g.GetReplicas() {
					out = append(out, r.GetEgressPort())
				}
			}
		}
	}
	// Egress, per copy.
	var why []string
	for _, eport := range out {
		if eport == p.InPort {
			continue
		}
		_, ep, err := t.lookup("egress.ports", map[string][]byte{"egress_port": U(uint64(eport))})
		if err != nil {
			return nil, err
		}
		switch {
		case ep == nil:
			why = append(why, fmt.Sprintf("port %d is not configured", eport))
			continue
		case Role(ep["role"]) != RoleUplink && ep["segment"] != seg:
			why = append(why, fmt.Sprintf("port %d is in another segment", eport))
			continue
		}
		erole := Role(ep["role"])
		blocked := erole == RoleIsolated && (role == RoleIsolated || role == RoleCommunity) ||
			erole == RoleCommunity && (role == RoleIsolated || role == RoleCommunity && community != ep["community"])
		if blocked {
			why = append(why, fmt.Sprintf("PVLAN: %s port %d does not reach %s port %d", role, p.InPort, erole, eport))
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
		return t.done(VerdictDeny, reason)
	}
	return t.done(VerdictAllow, t.res.Reason)
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
