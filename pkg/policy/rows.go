package policy

import (
	"fmt"
	"net/netip"
	"strings"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// The compiler's entries are rows: a comparable key and a small value per
// table, turned into P4Runtime entries only when they are written or
// shown. These are the pipeline's tables (p4src/include/ingress.p4,
// egress.p4) the compiler fills.
type table uint8

const (
	tPorts table = iota
	tEgressPorts
	tSegments
	tSrc4
	tSrc6
	tDst4
	tDst6
	tACL4
	tACL6
	tDstClass
	tSrcClass
	tPolPair
	tPolProto
	tPolPort
	tPolRange
	tRepProto
	tRepPort
	tRepRange
	tL2
	numTables
)

var tableNames = [numTables]string{
	tPorts:       "ingress.ports",
	tEgressPorts: "egress.ports",
	tSegments:    "ingress.segments",
	tSrc4:        "ingress.src_identity_v4",
	tSrc6:        "ingress.src_identity_v6",
	tDst4:        "ingress.dst_identity_v4",
	tDst6:        "ingress.dst_identity_v6",
	tACL4:        "ingress.acl_v4",
	tACL6:        "ingress.acl_v6",
	tDstClass:    "ingress.dst_port_class",
	tSrcClass:    "ingress.src_port_class",
	tPolPair:     "ingress.policy_pair",
	tPolProto:    "ingress.policy_proto",
	tPolPort:     "ingress.policy_port",
	tPolRange:    "ingress.policy_range",
	tRepProto:    "ingress.reply_proto",
	tRepPort:     "ingress.reply_port",
	tRepRange:    "ingress.reply_range",
	tL2:          "ingress.l2",
}

// policyTable reports whether t holds identity-pair rules: exact-match
// tables whose rows may have several producers with different ranks, of
// which the highest is written (docs/pipeline.md).
func policyTable(t table) bool { return t >= tPolPair && t <= tRepRange }

// PolicyTables lists the exact-match identity-pair tables.
func PolicyTables() []string { return tableNames[tPolPair : tRepRange+1] }

// TableNames lists the tables the compiler fills, in pipeline order.
func TableNames() []string { return tableNames[:] }

// portMatch is a port class row's L4 port range [lo, hi], an ACL row's
// ternary port value and mask (lo, hi), or a policy row's exact port or
// port class (lo = hi).
type portMatch struct{ lo, hi uint16 }

// rowKey is a row's match key. Which fields count depends on the table.
type rowKey struct {
	t      table
	dev    uint32 // device index, for rows that live on one device
	n1, n2 uint32 // port | segment | source identity; destination identity (policy and destination-identity rows)
	mac    [6]byte
	a1, a2 netip.Addr
	b1, b2 uint8 // prefix lengths of a1, a2
	proto  uint8
	anyPr  bool // proto is a wildcard
	sp, dp portMatch
	flags  uint8 // reply rows: TCP with ACK (1) or anything else (0)
	prio   int32 // ACL rows; policy rows carry their rank in the value
}

// rowVal is a row's action and parameters. Policy rows hold their rank in
// p[0].
type rowVal struct {
	action Action // policy and ACL rows
	p      [4]uint32
}

// outranks reports whether policy row value v beats w: the higher rank
// wins. Equal ranks have equal actions (the rank encodes the action).
func (v rowVal) outranks(w rowVal) bool { return v.p[0] > w.p[0] }

// placeKind says on which devices a row is installed.
type placeKind uint8

const (
	onDevice   placeKind = iota // one device (ports, source identities, L2)
	onSegment                   // every device with a port in the segment
	onIdentity                  // every device with an endpoint of the identity
	// onReachable is every device that holds a policy row (of any table
	// and action, forward or reply) from one of its own endpoints'
	// identities to the identity: the devices whose policy lookups can
	// use the identity as a destination (destination-identity rows).
	onReachable
)

type place struct {
	kind placeKind
	n    uint32 // device index, segment id or identity id
}

func (k *rowKey) place() place {
	switch k.t {
	case tSegments, tACL4, tACL6, tDstClass, tSrcClass:
		return place{onSegment, k.n1}
	case tDst4, tDst6:
		return place{onReachable, k.n2}
	}
	if policyTable(k.t) {
		return place{onIdentity, k.n1}
	}
	return place{onDevice, k.dev}
}

// entries builds the P4Runtime entries of a row on a device with P4Info
// in and limits lim: one, except for a port class row on a target that
// compiles range as a wildcard (pipeline.Limits.RangeAsMask), which gets
// one range entry per aligned block of its range, each a value and mask.
func (k *rowKey) entries(in *pipeline.Info, v rowVal, lim pipeline.Limits) ([]*p4v1.TableEntry, error) {
	if !lim.RangeAsMask || (k.t != tDstClass && k.t != tSrcClass) {
		e, err := k.entry(in, v)
		if err != nil {
			return nil, err
		}
		return []*p4v1.TableEntry{e}, nil
	}
	var out []*p4v1.TableEntry
	for _, blk := range rangeToTernary(k.dp.lo, k.dp.hi) {
		part := *k
		part.dp = portMatch{blk.lo, blk.lo | ^blk.hi}
		e, err := part.entry(in, v)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// blocks is how many entries row k takes under lim.
func (k *rowKey) blocks(lim pipeline.Limits) int {
	if !lim.RangeAsMask || (k.t != tDstClass && k.t != tSrcClass) {
		return 1
	}
	return len(rangeToTernary(k.dp.lo, k.dp.hi))
}

// limitsOf is the limits of device dev's target in m.
func limitsOf(m *Model, dev string) pipeline.Limits {
	if d, ok := m.Devices[dev]; ok {
		if t, err := pipeline.LookupTarget(d.Target); err == nil {
			return t.Limits
		}
	}
	return pipeline.Limits{}
}

// entry builds the P4Runtime entry of a row with the device's P4Info.
func (k *rowKey) entry(in *pipeline.Info, v rowVal) (*p4v1.TableEntry, error) {
	U := pipeline.Uint
	P := pipeline.P
	name := tableNames[k.t]
	b := in.NewEntry(name)
	switch k.t {
	case tPorts:
		b.Exact("ingress_port", U(uint64(k.n1))).Action("set_port", P("segment", U(uint64(v.p[0]))), P("role", U(uint64(v.p[1]))),
			P("community", U(uint64(v.p[2]))), P("punt_arp", U(uint64(v.p[3]))))
	case tEgressPorts:
		b.Exact("egress_port", U(uint64(k.n1))).Action("set_egress_port", P("segment", U(uint64(v.p[0]))), P("role", U(uint64(v.p[1]))),
			P("community", U(uint64(v.p[2]))), P("tagged", U(uint64(v.p[3]))), P("port", U(uint64(k.n1))))
	case tSegments:
		b.Exact("segment", U(uint64(k.n1))).Action("set_segment", P("default_allow", U(uint64(v.p[0]))), P("flood_group", U(uint64(v.p[1]))))
	case tSrc4, tSrc6:
		b.Exact("ingress_port", U(uint64(k.n1))).Exact("src_mac", k.mac[:]).Exact("src_ip", k.a1.AsSlice()).
			Action("set_src_identity", P("identity", U(uint64(v.p[0]))))
	case tDst4, tDst6:
		b.Exact("segment", U(uint64(k.n1))).LPM("dst_ip", k.a1.AsSlice(), int32(k.b1)).
			Action("set_dst_identity", P("identity", U(uint64(v.p[0]))))
	case tL2:
		b.Exact("segment", U(uint64(k.n1))).Exact("dst_mac", k.mac[:]).Action("forward", P("port", U(uint64(v.p[0]))))
	case tDstClass, tSrcClass:
		field, act := "l4_dst_port", "set_dst_port_class"
		if k.t == tSrcClass {
			field, act = "l4_src_port", "set_src_port_class"
		}
		b.Exact("segment", U(uint64(k.n1))).Exact("ip_proto", U(uint64(k.proto))).Range(field, U(uint64(k.dp.lo)), U(uint64(k.dp.hi))).
			Priority(1).Action(act, P("port_class", U(uint64(v.p[0]))))
	case tPolPair, tPolProto, tPolPort, tPolRange, tRepProto, tRepPort, tRepRange:
		b.Exact("src_identity", U(uint64(k.n1))).Exact("dst_identity", U(uint64(k.n2)))
		if k.t != tPolPair {
			b.Exact("ip_proto", U(uint64(k.proto)))
		}
		switch k.t {
		case tPolPort:
			b.Exact("l4_dst_port", U(uint64(k.dp.lo)))
		case tPolRange:
			b.Exact("dst_port_class", U(uint64(k.dp.lo)))
		case tRepPort:
			b.Exact("l4_src_port", U(uint64(k.sp.lo)))
		case tRepRange:
			b.Exact("src_port_class", U(uint64(k.sp.lo)))
		}
		if k.t == tRepProto || k.t == tRepPort || k.t == tRepRange {
			b.Exact("tcp_ack", U(uint64(k.flags)))
		}
		// Each policy table has actions of its own: <table>_<verdict>.
		b.Action(strings.TrimPrefix(tableNames[k.t], "ingress.")+"_"+v.action.String(), P("rank", U(uint64(v.p[0]))))
	case tACL4, tACL6:
		b.Ternary("segment", U(uint64(k.n1)), U(0xffff))
		if k.b1 > 0 {
			b.Ternary("src_ip", k.a1.AsSlice(), prefixMask(k.a1.BitLen(), int(k.b1)))
		}
		if k.b2 > 0 {
			b.Ternary("dst_ip", k.a2.AsSlice(), prefixMask(k.a2.BitLen(), int(k.b2)))
		}
		k.l4(b)
		b.Priority(k.prio).Action("acl_" + v.action.String())
	default:
		return nil, fmt.Errorf("row of unknown table %d", k.t)
	}
	e, err := b.Build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return e, nil
}

// l4 adds an ACL row's protocol and port matches.
func (k *rowKey) l4(b *pipeline.EntryBuilder) {
	U := pipeline.Uint
	if !k.anyPr {
		b.Ternary("ip_proto", U(uint64(k.proto)), U(0xff))
	}
	for _, x := range []struct {
		field string
		m     portMatch
	}{{"l4_src_port", k.sp}, {"l4_dst_port", k.dp}} {
		if x.m.hi != 0 {
			b.Ternary(x.field, U(uint64(x.m.lo)), U(uint64(x.m.hi)))
		}
	}
}

func prefixMask(bits, n int) []byte {
	m := make([]byte, bits/8)
	for i := 0; i < n; i++ {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// rangeToTernary covers [lo, hi] with the fewest value/mask pairs.
func rangeToTernary(lo, hi uint16) []portMatch {
	var out []portMatch
	l, h := uint32(lo), uint32(hi)
	for l <= h {
		// The largest aligned block starting at l that stays within h.
		size := uint32(1)
		for l&(size*2-1) == 0 && l+size*2-1 <= h && size < 1<<16 {
			size *= 2
		}
		out = append(out, portMatch{uint16(l), uint16(0xffff &^ (size - 1))})
		l += size
	}
	return out
}
