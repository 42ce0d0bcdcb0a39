// Package policy is p4ctl's intent model and its compiler: YAML documents
// of kinds Device, Segment, Port, Endpoint and Policy are parsed strictly,
// validated across documents, and compiled into the table entries and
// multicast groups each device's pipeline needs to enforce them; Trace
// evaluates those entries for one packet, with P4 match semantics, and
// explains the verdict.
//
// Endpoints with equal label sets in a segment share one identity, and
// policy entries are per identity pair and rule, so entries grow with
// endpoints plus identity pairs, not with endpoint pairs. The compiler is
// incremental: changing an endpoint or a policy yields only the entries
// that change.
//
// The package knows the pipeline's table and action names (docs/pipeline.md)
// and nothing about devices' sessions, raft or gRPC.
package policy

import (
	"net"
	"net/netip"
	"strconv"
)

// Kinds of documents.
const (
	KindDevice   = "Device"
	KindSegment  = "Segment"
	KindPort     = "Port"
	KindEndpoint = "Endpoint"
	KindPolicy   = "Policy"
)

// Object is one document.
type Object interface {
	// Kind is the document's kind.
	Kind() string
	// Ref names the object for messages and as its identity: "Port
	// leaf1/3", "Endpoint web-1".
	Ref() string
	// Source is where the document was read (file and line), if parsed.
	Source() Source
}

// Source is where a document came from.
type Source struct {
	File string
	Line int
}

func (s Source) String() string {
	switch {
	case s.File == "" && s.Line == 0:
		return ""
	case s.Line == 0:
		return s.File
	}
	return s.File + ":" + itoa(s.Line)
}

// Device is a switch or SmartNIC p4ctl programs.
type Device struct {
	Name     string
	Address  string // P4Runtime host:port
	DeviceID uint64 // P4Runtime device id (default 1)
	Target   string // pipeline target profile (default "bmv2")
	GNMI     string // gNMI host:port, optional
	Src      Source
}

// Segment is an isolation domain: ports and endpoints of one segment never
// reach another's.
type Segment struct {
	Name         string
	ID           uint16 // 1-65535; also the id of its flood group
	DefaultAllow bool   // what traffic no policy matches gets
	Src          Source
}

// Role is a port's PVLAN role.
type Role uint8

// Roles, with the values the pipeline uses.
const (
	RoleIsolated    Role = 0
	RoleCommunity   Role = 1
	RolePromiscuous Role = 2
	RoleUplink      Role = 3
)

var roleNames = map[Role]string{RoleIsolated: "isolated", RoleCommunity: "community", RolePromiscuous: "promiscuous", RoleUplink: "uplink"}

func (r Role) String() string { return roleNames[r] }

// Port is a device port's place in a segment.
type Port struct {
	Device    string
	Port      uint32
	Segment   string
	Role      Role
	Community uint16 // community ports only
	PuntARP   bool   // ARP and ND to the controller instead of flooded
	Src       Source
}

// Endpoint is a workload attached to a port: its addresses are bound to
// that port (anti-spoofing) and its labels give it an identity.
type Endpoint struct {
	Name    string
	Segment string
	MAC     net.HardwareAddr
	IPs     []netip.Addr
	Device  string
	Port    uint32
	// Host, instead of Device and Port, names the machine the endpoint
	// runs on (its LLDP system name): the controller places it wherever
	// that host is seen (Model.Bind), and moves it when the host moves.
	// Until then it is compiled nowhere.
	Host   string
	Labels map[string]string
	Src    Source
}

// Placed reports whether e is on a device port (given, or bound from its
// host).
func (e *Endpoint) Placed() bool { return e.Device != "" }

// Action is what a rule does with the traffic it matches.
type Action uint8

// Actions. The order is the tie-break at equal priority and specificity:
// deny beats punt beats allow.
const (
	ActionAllow Action = 1
	ActionPunt  Action = 2
	ActionDeny  Action = 3
)

var actionNames = map[Action]string{ActionAllow: "allow", ActionPunt: "punt", ActionDeny: "deny"}

func (a Action) String() string { return actionNames[a] }

// Protocol numbers a rule can name; ProtoAny matches every protocol.
const (
	ProtoAny    = -1
	ProtoICMP   = 1
	ProtoTCP    = 6
	ProtoUDP    = 17
	ProtoICMPv6 = 58
)

// PortRange is an inclusive range of L4 ports.
type PortRange struct{ Lo, Hi uint16 }

// Rule is one line of a policy.
type Rule struct {
	Proto  int         // ProtoAny or an IP protocol number
	Ports  []PortRange // destination ports (tcp and udp only); none: all
	Action Action
}

// Policy lets (or stops) traffic from one set of endpoints to another. A
// side given as CIDRs instead of a selector makes it an infrastructure
// rule, compiled to the ACL tables, which override identity policies.
type Policy struct {
	Name      string
	Segment   string
	Priority  int // 0-1000, higher first
	From, To  Selector
	FromCIDRs []netip.Prefix
	ToCIDRs   []netip.Prefix
	Rules     []Rule
	// Staged: validated and evaluated against the flow log, never
	// compiled to entries (mode: staged; staged.go).
	Staged bool
	Src    Source
}

// MaxPriority is the highest policy priority.
const MaxPriority = 1000

// DefaultPriority is a policy's priority when the document gives none.
const DefaultPriority = 100

func (d *Device) Kind() string     { return KindDevice }
func (d *Device) Ref() string      { return KindDevice + " " + d.Name }
func (d *Device) Source() Source   { return d.Src }
func (s *Segment) Kind() string    { return KindSegment }
func (s *Segment) Ref() string     { return KindSegment + " " + s.Name }
func (s *Segment) Source() Source  { return s.Src }
func (p *Port) Kind() string       { return KindPort }
func (p *Port) Ref() string        { return KindPort + " " + p.Device + "/" + itoa(int(p.Port)) }
func (p *Port) Source() Source     { return p.Src }
func (e *Endpoint) Kind() string   { return KindEndpoint }
func (e *Endpoint) Ref() string    { return KindEndpoint + " " + e.Name }
func (e *Endpoint) Source() Source { return e.Src }
func (p *Policy) Kind() string     { return KindPolicy }
func (p *Policy) Ref() string      { return KindPolicy + " " + p.Name }
func (p *Policy) Source() Source   { return p.Src }

// acl reports whether the policy compiles to the ACL tables.
func (p *Policy) acl() bool { return len(p.FromCIDRs) > 0 || len(p.ToCIDRs) > 0 }

func itoa(i int) string { return strconv.Itoa(i) }
