package policy

import (
	"encoding/binary"
	"fmt"
	"math/bits"
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
	b := messageWriter{in: in}
	if err := k.write(&b, v); err != nil {
		return nil, err
	}
	e, err := b.build()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tableNames[k.t], err)
	}
	return e, nil
}

// entryWriter receives a row's entry part by part, by the P4Info's names:
// messageWriter builds the P4Runtime message, rowEncoder its compact form.
// Values come from the writer's own u, addr, mac and mask, so that an
// encoder can keep them in a buffer of its own.
type entryWriter interface {
	// begin starts an entry of the named table with the given priority
	// (0 for a table without one).
	begin(table string, prio int32)
	exact(field string, v []byte)
	lpm(field string, v []byte, plen int32)
	ternary(field string, v, mask []byte)
	rangeMatch(field string, lo, hi []byte)
	// action sets the entry's action; param adds its arguments.
	action(name string)
	param(name string, v []byte)

	u(x uint64) []byte        // the canonical bytes of x
	addr(a netip.Addr) []byte // a's 4 or 16 bytes
	mac(m [6]byte) []byte
	mask(width, n int) []byte // a width-bit value with its first n bits set
}

// write gives w the entry of row k with value v. The only error is a row
// of an unknown table.
func (k *rowKey) write(w entryWriter, v rowVal) error {
	switch k.t {
	case tPorts:
		w.begin(tableNames[k.t], 0)
		w.exact("ingress_port", w.u(uint64(k.n1)))
		w.action("set_port")
		w.param("segment", w.u(uint64(v.p[0])))
		w.param("role", w.u(uint64(v.p[1])))
		w.param("community", w.u(uint64(v.p[2])))
		w.param("punt_arp", w.u(uint64(v.p[3])))
	case tEgressPorts:
		w.begin(tableNames[k.t], 0)
		w.exact("egress_port", w.u(uint64(k.n1)))
		w.action("set_egress_port")
		w.param("segment", w.u(uint64(v.p[0])))
		w.param("role", w.u(uint64(v.p[1])))
		w.param("community", w.u(uint64(v.p[2])))
		w.param("tagged", w.u(uint64(v.p[3])))
		w.param("port", w.u(uint64(k.n1)))
	case tSegments:
		w.begin(tableNames[k.t], 0)
		w.exact("segment", w.u(uint64(k.n1)))
		w.action("set_segment")
		w.param("default_allow", w.u(uint64(v.p[0])))
		w.param("flood_group", w.u(uint64(v.p[1])))
	case tSrc4, tSrc6:
		w.begin(tableNames[k.t], 0)
		w.exact("ingress_port", w.u(uint64(k.n1)))
		w.exact("src_mac", w.mac(k.mac))
		w.exact("src_ip", w.addr(k.a1))
		w.action("set_src_identity")
		w.param("identity", w.u(uint64(v.p[0])))
	case tDst4, tDst6:
		w.begin(tableNames[k.t], 0)
		w.exact("segment", w.u(uint64(k.n1)))
		w.lpm("dst_ip", w.addr(k.a1), int32(k.b1))
		w.action("set_dst_identity")
		w.param("identity", w.u(uint64(v.p[0])))
	case tL2:
		w.begin(tableNames[k.t], 0)
		w.exact("segment", w.u(uint64(k.n1)))
		w.exact("dst_mac", w.mac(k.mac))
		w.action("forward")
		w.param("port", w.u(uint64(v.p[0])))
	case tDstClass, tSrcClass:
		field, act := "l4_dst_port", "set_dst_port_class"
		if k.t == tSrcClass {
			field, act = "l4_src_port", "set_src_port_class"
		}
		w.begin(tableNames[k.t], 1)
		w.exact("segment", w.u(uint64(k.n1)))
		w.exact("ip_proto", w.u(uint64(k.proto)))
		w.rangeMatch(field, w.u(uint64(k.dp.lo)), w.u(uint64(k.dp.hi)))
		w.action(act)
		w.param("port_class", w.u(uint64(v.p[0])))
	case tPolPair, tPolProto, tPolPort, tPolRange, tRepProto, tRepPort, tRepRange:
		w.begin(tableNames[k.t], 0)
		w.exact("src_identity", w.u(uint64(k.n1)))
		w.exact("dst_identity", w.u(uint64(k.n2)))
		if k.t != tPolPair {
			w.exact("ip_proto", w.u(uint64(k.proto)))
		}
		switch k.t {
		case tPolPort:
			w.exact("l4_dst_port", w.u(uint64(k.dp.lo)))
		case tPolRange:
			w.exact("dst_port_class", w.u(uint64(k.dp.lo)))
		case tRepPort:
			w.exact("l4_src_port", w.u(uint64(k.sp.lo)))
		case tRepRange:
			w.exact("src_port_class", w.u(uint64(k.sp.lo)))
		}
		if k.t == tRepProto || k.t == tRepPort || k.t == tRepRange {
			w.exact("tcp_ack", w.u(uint64(k.flags)))
		}
		// Each policy table has actions of its own: <table>_<verdict>.
		w.action(actionName(k.t, v.action))
		w.param("rank", w.u(uint64(v.p[0])))
	case tACL4, tACL6:
		w.begin(tableNames[k.t], k.prio)
		w.ternary("segment", w.u(uint64(k.n1)), w.u(0xffff))
		if k.b1 > 0 {
			w.ternary("src_ip", w.addr(k.a1), w.mask(k.a1.BitLen(), int(k.b1)))
		}
		if k.b2 > 0 {
			w.ternary("dst_ip", w.addr(k.a2), w.mask(k.a2.BitLen(), int(k.b2)))
		}
		k.l4(w)
		w.action(actionName(k.t, v.action))
	default:
		return fmt.Errorf("row of unknown table %d", k.t)
	}
	return nil
}

// l4 adds an ACL row's protocol and port matches.
func (k *rowKey) l4(w entryWriter) {
	if !k.anyPr {
		w.ternary("ip_proto", w.u(uint64(k.proto)), w.u(0xff))
	}
	if k.sp.hi != 0 {
		w.ternary("l4_src_port", w.u(uint64(k.sp.lo)), w.u(uint64(k.sp.hi)))
	}
	if k.dp.hi != 0 {
		w.ternary("l4_dst_port", w.u(uint64(k.dp.lo)), w.u(uint64(k.dp.hi)))
	}
}

// tableActions are the action names of the policy and ACL tables, by
// table and verdict: built once rather than for every entry.
var tableActions = func() (out [numTables][ActionDeny + 1]string) {
	for t := range numTables {
		if !policyTable(t) && t != tACL4 && t != tACL6 {
			continue
		}
		for a := ActionAllow; a <= ActionDeny; a++ {
			out[t][a] = composeActionName(t, a)
		}
	}
	return out
}()

// actionName is the action of a policy or ACL table t for verdict a.
func actionName(t table, a Action) string {
	if t < numTables && a <= ActionDeny && tableActions[t][a] != "" {
		return tableActions[t][a]
	}
	return composeActionName(t, a)
}

// composeActionName spells the action of a policy or ACL table t for
// verdict a: <table>_<verdict> for a policy table, acl_<verdict> for an
// ACL one.
func composeActionName(t table, a Action) string {
	if t == tACL4 || t == tACL6 {
		return "acl_" + a.String()
	}
	return strings.TrimPrefix(tableNames[t], "ingress.") + "_" + a.String()
}

// messageWriter builds a row's P4Runtime entry with pipeline.EntryBuilder.
type messageWriter struct {
	in     *pipeline.Info
	b      *pipeline.EntryBuilder
	act    string
	hasAct bool
	params []pipeline.ActionParam
}

// begin starts the entry's builder.
func (m *messageWriter) begin(table string, prio int32) {
	m.b = m.in.NewEntry(table)
	if prio != 0 {
		m.b.Priority(prio)
	}
}

// exact adds an exact match.
func (m *messageWriter) exact(field string, v []byte) { m.b.Exact(field, v) }

// lpm adds a longest-prefix match.
func (m *messageWriter) lpm(field string, v []byte, plen int32) { m.b.LPM(field, v, plen) }

// ternary adds a ternary match.
func (m *messageWriter) ternary(field string, v, mask []byte) { m.b.Ternary(field, v, mask) }

// rangeMatch adds a range match.
func (m *messageWriter) rangeMatch(field string, lo, hi []byte) { m.b.Range(field, lo, hi) }

// action names the entry's action, set with its params by build.
func (m *messageWriter) action(name string) { m.act, m.hasAct = name, true }

// param adds an argument of the action.
func (m *messageWriter) param(name string, v []byte) {
	m.params = append(m.params, pipeline.P(name, v))
}

// u is pipeline.Uint.
func (m *messageWriter) u(x uint64) []byte { return pipeline.Uint(x) }

// addr is a.AsSlice().
func (m *messageWriter) addr(a netip.Addr) []byte { return a.AsSlice() }

// mac is the address's bytes.
func (m *messageWriter) mac(x [6]byte) []byte { return x[:] }

// mask is prefixMask.
func (m *messageWriter) mask(width, n int) []byte { return prefixMask(width, n) }

// build finishes the entry (the action comes last, as the builder takes
// it with its params).
func (m *messageWriter) build() (*p4v1.TableEntry, error) {
	if m.hasAct {
		m.b.Action(m.act, m.params...)
	}
	return m.b.Build()
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

// rowEncoder writes rows' entries in their compact form (pipeline.EntryKey
// and pipeline.ActionKey) straight from the rows, checked as
// pipeline.EntryBuilder and Info.CheckEntry check them, without building a
// message: a desired state of tens of thousands of entries is built with a
// few small allocations per entry rather than a protobuf tree each. Where
// it meets anything the builder would refuse (or that it does not handle
// itself) it builds the message instead, so the result and the errors are
// the builder's. A rowEncoder reuses its buffers; it is not safe for
// concurrent use.
type rowEncoder struct {
	in  *pipeline.Info
	lim pipeline.Limits

	kw  pipeline.KeyWriter
	aw  pipeline.ActionWriter
	buf []byte // values of the entry being written

	// The entry being written: ok until something the builder would
	// refuse, or this encoder does not handle, is met.
	ok     bool
	t      *pipeline.Table
	prio   int32
	fields uint64 // ids of the fields matched (ids below 64 only)
	exacts int    // exact fields matched
	act    *pipeline.Action
	params uint64 // ids of the params given (ids below 64 only)
}

// newRowEncoder returns an encoder of entries for a device with P4Info in
// and target limits lim.
func newRowEncoder(in *pipeline.Info, lim pipeline.Limits) *rowEncoder {
	return &rowEncoder{in: in, lim: lim}
}

// encode calls fn with the key and action of each entry of row k with
// value v (one, or one per block of a port class row under RangeAsMask,
// as rowKey.entries). The bytes are valid only during the call.
func (e *rowEncoder) encode(k rowKey, v rowVal, fn func(key, action []byte) error) error {
	if !e.lim.RangeAsMask || (k.t != tDstClass && k.t != tSrcClass) {
		return e.one(&k, v, fn)
	}
	for _, blk := range rangeToTernary(k.dp.lo, k.dp.hi) {
		part := k
		part.dp = portMatch{blk.lo, blk.lo | ^blk.hi}
		if err := e.one(&part, v, fn); err != nil {
			return err
		}
	}
	return nil
}

// one encodes the single entry of k, through the message builder when
// the encoder cannot.
func (e *rowEncoder) one(k *rowKey, v rowVal, fn func(key, action []byte) error) error {
	if k.write(e, v) == nil && e.finish() {
		return fn(e.kw.Bytes(), e.aw.Bytes())
	}
	m, err := k.entry(e.in, v)
	if err != nil {
		return err
	}
	return fn([]byte(pipeline.EntryKey(m)), []byte(pipeline.ActionKey(m)))
}

// begin starts the key of an entry of table (the action comes with action).
func (e *rowEncoder) begin(table string, prio int32) {
	e.buf = e.buf[:0]
	e.t, e.prio, e.fields, e.exacts, e.act, e.params = nil, prio, 0, 0, nil, 0
	t, ok := e.in.Table(table)
	e.ok = ok
	if ok {
		e.t = t
		e.kw.Begin(t.ID, prio, false)
	}
}

// field looks up a match field of the entry's table, of the given kind,
// not matched before.
func (e *rowEncoder) field(name string, kind pipeline.MatchKind) *pipeline.Field {
	if !e.ok {
		return nil
	}
	f, ok := e.t.Field(name)
	if !ok || f.Kind != kind || f.ID >= 64 || e.fields&(1<<f.ID) != 0 {
		e.ok = false
		return nil
	}
	e.fields |= 1 << f.ID
	return f
}

// fits reports whether v fits width bits, and spoils the entry if not.
func (e *rowEncoder) fits(v []byte, width int32) bool {
	if pipeline.BitLen(v) > int(width) {
		e.ok = false
	}
	return e.ok
}

// exact adds an exact match, as EntryBuilder.Exact.
func (e *rowEncoder) exact(field string, v []byte) {
	if f := e.field(field, pipeline.MatchExact); f != nil && e.fits(v, f.Bitwidth) {
		e.kw.Exact(f.ID, v)
		e.exacts++
	}
}

// lpm adds a longest-prefix match, as EntryBuilder.LPM: the bits past
// the prefix cleared, a zero prefix left out.
func (e *rowEncoder) lpm(field string, v []byte, plen int32) {
	f := e.field(field, pipeline.MatchLPM)
	if f == nil || !e.fits(v, f.Bitwidth) {
		return
	}
	if plen < 0 || plen > f.Bitwidth {
		e.ok = false
		return
	}
	if plen == 0 {
		return // don't care: left out
	}
	e.kw.LPM(f.ID, e.and(v, e.prefix(f.Bitwidth, plen)), plen)
}

// ternary adds a ternary match, as EntryBuilder.Ternary: the bits
// outside the mask cleared, a zero mask left out.
func (e *rowEncoder) ternary(field string, v, mask []byte) {
	f := e.field(field, pipeline.MatchTernary)
	if f == nil || !e.fits(v, f.Bitwidth) || !e.fits(mask, f.Bitwidth) {
		return
	}
	if pipeline.BitLen(mask) == 0 {
		return // don't care: left out
	}
	e.kw.Ternary(f.ID, e.and(v, mask), mask)
}

// rangeMatch adds a range match, as EntryBuilder.Range: the full range
// left out.
func (e *rowEncoder) rangeMatch(field string, lo, hi []byte) {
	f := e.field(field, pipeline.MatchRange)
	if f == nil || !e.fits(lo, f.Bitwidth) || !e.fits(hi, f.Bitwidth) {
		return
	}
	lo, hi = pipeline.Canonical(lo), pipeline.Canonical(hi)
	if len(lo) > len(hi) || len(lo) == len(hi) && string(lo) > string(hi) {
		e.ok = false // low above high
		return
	}
	if pipeline.BitLen(lo) == 0 && allOnes(hi, f.Bitwidth) {
		return // the full range: left out
	}
	e.kw.Range(f.ID, lo, hi)
}

// action starts the action key: an action of the table that may be an
// entry's.
func (e *rowEncoder) action(name string) {
	if !e.ok {
		return
	}
	a, ok := e.in.Action(name)
	if !ok {
		e.ok = false
		return
	}
	if ref, ok := e.t.ActionRef(a.ID); !ok || ref.DefaultOnly {
		e.ok = false
		return
	}
	e.act = a
	e.aw.Begin(a.ID)
}

// param adds an argument of the action.
func (e *rowEncoder) param(name string, v []byte) {
	if !e.ok || e.act == nil {
		e.ok = false
		return
	}
	p, ok := e.act.Param(name)
	if !ok || p.ID >= 64 || e.params&(1<<p.ID) != 0 || !e.fits(v, p.Bitwidth) {
		e.ok = false
		return
	}
	e.params |= 1 << p.ID
	e.aw.Param(p.ID, v)
}

// finish reports whether the entry is complete and valid (Info.CheckEntry's
// checks of what the builder leaves to it): every exact field matched, a
// priority exactly when the table needs one, an action with all its
// params.
func (e *rowEncoder) finish() bool {
	if !e.ok || e.act == nil || bits.OnesCount64(e.params) != len(e.act.Params) {
		return false
	}
	if e.t.NeedsPriority != (e.prio > 0) || !e.t.NeedsPriority && e.prio != 0 {
		return false
	}
	exacts := 0
	for _, f := range e.t.Fields {
		if f.Kind == pipeline.MatchExact {
			exacts++
		}
	}
	return exacts == e.exacts
}

// take returns n zero bytes of the entry's buffer.
func (e *rowEncoder) take(n int) []byte {
	at := len(e.buf)
	e.buf = append(e.buf, make([]byte, n)...)
	return e.buf[at : at+n : at+n]
}

// u is pipeline.Uint in the entry's buffer.
func (e *rowEncoder) u(x uint64) []byte {
	b := e.take(8)
	binary.BigEndian.PutUint64(b, x)
	return pipeline.Canonical(b)
}

// addr is a.AsSlice() in the entry's buffer.
func (e *rowEncoder) addr(a netip.Addr) []byte {
	if a.Is4() {
		v := a.As4()
		b := e.take(4)
		copy(b, v[:])
		return b
	}
	if !a.IsValid() {
		return nil // as AsSlice
	}
	v := a.As16()
	b := e.take(16)
	copy(b, v[:])
	return b
}

// mac is the address in the entry's buffer.
func (e *rowEncoder) mac(m [6]byte) []byte {
	b := e.take(6)
	copy(b, m[:])
	return b
}

// mask is prefixMask in the entry's buffer.
func (e *rowEncoder) mask(width, n int) []byte {
	b := e.take(width / 8)
	for i := 0; i < n; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	return b
}

// prefix is pipeline.PrefixMask in the entry's buffer.
func (e *rowEncoder) prefix(width, plen int32) []byte {
	n := (width + 7) / 8
	b := e.take(int(n))
	lead := n*8 - width
	for i := int32(0); i < plen; i++ {
		bit := lead + i
		b[bit/8] |= 0x80 >> (bit % 8)
	}
	return b
}

// and is a & m, right-aligned (both big-endian), in the entry's buffer.
func (e *rowEncoder) and(a, m []byte) []byte {
	out := e.take(max(len(a), len(m)))
	for i := 1; i <= len(out); i++ {
		var x, y byte
		if i <= len(a) {
			x = a[len(a)-i]
		}
		if i <= len(m) {
			y = m[len(m)-i]
		}
		out[len(out)-i] = x & y
	}
	return out
}

// allOnes reports whether b is the largest width-bit value.
func allOnes(b []byte, width int32) bool {
	b = pipeline.Canonical(b)
	if pipeline.BitLen(b) != int(width) {
		return false
	}
	for i, x := range b {
		want := byte(0xff)
		if i == 0 && width%8 != 0 {
			want = byte(1)<<(width%8) - 1
		}
		if x != want {
			return false
		}
	}
	return true
}
