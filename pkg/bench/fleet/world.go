// Package fleet benchmarks the controller over a fleet of devices, one
// virtual switch per hypervisor.
//
// World generates the fleet's desired state as policy YAML (the project's
// document kinds, docs/policy.md): every device hosts VMs on ports 1..V
// (48 VMs, or 8 in the light world), in Segments segments shared by the
// whole fleet (default deny); each VM has a MAC, an IPv4 and an IPv6
// address and the labels app and tier; per segment two tier-to-tier
// policies (web to app, app to db, by label selectors across every app of
// the segment) allow TCP on 16 ports, twelve single ports and one range
// of four. A VM on one device and a VM on another in the same segment and
// tier are governed by the same policies.
//
// With the default AppsPerSegment a device of the full world holds about
// TargetEntries entries once the fleet has every identity (from
// AppsPerSegment/4 devices on; a smaller fleet has fewer identities, so
// fewer policy entries per device): most are identity-pair policy entries,
// which do not depend on the fleet's size, but the destination identity
// tables hold every address of every VM of the segments on the device, so
// they grow by 2 x VMs per device with each device added (96 entries per
// device added in the full world).
//
// Run starts simulator and controller processes, applies a world and
// measures the time until every device holds it, and each controller
// node's peak RSS, CPU and P4Runtime connections (run.go). The package
// does not import the controller: it drives the p4ctl binaries, so an old
// build can be measured with the new simulator.
package fleet

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
)

// The world's shape.
const (
	// VMsPerDevice is the full world's VMs (and ports) per device.
	VMsPerDevice = 48
	// LightVMsPerDevice is the light world's.
	LightVMsPerDevice = 8
	// Segments is the number of segments, shared by every device.
	Segments = 4
	// AppsPerSegment is the default number of apps per segment: the
	// identities of a segment are its apps x Tiers.
	AppsPerSegment = 42
	// TargetEntries is about what a device of the full world holds with
	// the default apps: within 10% of it from 10 to 68 devices (34,500
	// at 10, 38,084 at 30, 40,004 at 50).
	TargetEntries = 38_000
	// PortsPerRule is the TCP ports each policy allows.
	PortsPerRule = 16
	// DefaultSimAddr is where a simulator fleet serves every device.
	DefaultSimAddr = "127.0.0.1:9559"
	// segmentBase + s is the id of segment s (1-based).
	segmentBase = 100
)

// Tiers are the tier labels, in the order VMs are given them.
var Tiers = []string{"web", "app", "db"}

// edge is one tier-to-tier policy of every segment.
type edge struct {
	from, to string
	ports    string // YAML flow list of PortsPerRule ports
}

// edges are the policies of each segment: 12 single ports and a range of
// 4 each.
var edges = []edge{
	{"web", "app", `[80, 443, 3000, 5000, 7000, 8008, 8080, 8081, 8443, 8888, 9090, 9443, "9000-9003"]`},
	{"app", "db", `[1521, 2181, 3306, 5432, 5672, 6379, 8086, 9042, 9092, 9200, 11211, 27017, "26257-26260"]`},
}

// Addr is where one device is reached: its P4Runtime address and device
// id.
type Addr struct {
	Address  string
	DeviceID uint64
}

// SharedAddress places every device on one address (a simulator fleet),
// device i (1-based) with device id i.
func SharedAddress(addr string) func(i int) Addr {
	return func(i int) Addr { return Addr{Address: addr, DeviceID: uint64(i)} }
}

// Addresses places device i (1-based) at addrs[i-1], with device id i
// (separate simulator processes).
func Addresses(addrs []string) func(i int) Addr {
	return func(i int) Addr { return Addr{Address: addrs[i-1], DeviceID: uint64(i)} }
}

// Config describes a world.
type Config struct {
	// Devices is the fleet's size, at least 1.
	Devices int
	// Light gives each device LightVMsPerDevice VMs instead of
	// VMsPerDevice.
	Light bool
	// Seed orders the apps over the VMs; a world is a function of its
	// Config.
	Seed uint64
	// Apps is the number of apps per segment (0: AppsPerSegment).
	Apps int
	// Target is every device's target (empty: bmv2, which the simulator
	// serves).
	Target string
	// Device gives device i's (1-based) address and device id; nil is
	// SharedAddress(DefaultSimAddr).
	Device func(i int) Addr
	// Changed is the world after a policy change: every segment's web to
	// app policy also allows ChangedPort, a port no rule names, so each
	// device gets new policy and reply entries and loses none.
	Changed bool
}

// ChangedPort is the port a Changed world's web-to-app policies add.
const ChangedPort = 8444

// VMs is the number of VMs per device.
func (c Config) VMs() int {
	if c.Light {
		return LightVMsPerDevice
	}
	return VMsPerDevice
}

func (c Config) apps() int {
	if c.Apps > 0 {
		return c.Apps
	}
	return AppsPerSegment
}

// DeviceName is the name of device i (1-based) in a fleet of n: "hv007".
func DeviceName(i, n int) string {
	return fmt.Sprintf("hv%0*d", max(3, len(strconv.Itoa(n))), i)
}

// Documents is the number of documents World writes for c.
func (c Config) Documents() int {
	return c.Devices*(1+2*c.VMs()) + Segments + Segments*len(edges)
}

// maxVMsPerSegment bounds the VMs of one segment: their addresses are
// numbered 1..65534 within the segment's /16.
const maxVMsPerSegment = 65534

// World returns the documents of the world c describes, separated by
// "---" lines: the devices, the segments, each device's ports and VMs,
// then the policies.
func World(c Config) ([]byte, error) {
	perSeg := c.VMs() / Segments
	switch {
	case c.Devices < 1:
		return nil, errors.New("fleet: at least one device")
	case c.Devices*perSeg > maxVMsPerSegment:
		return nil, fmt.Errorf("fleet: %d devices: at most %d VMs per segment, %d devices", c.Devices, maxVMsPerSegment, maxVMsPerSegment/perSeg)
	case c.Apps < 0:
		return nil, fmt.Errorf("fleet: %d apps per segment", c.Apps)
	}
	addr := c.Device
	if addr == nil {
		addr = SharedAddress(DefaultSimAddr)
	}
	target := c.Target
	if target == "" {
		target = "bmv2"
	}
	apps := c.apps()
	// Each segment numbers its apps in an order of its own.
	r := rand.New(rand.NewPCG(c.Seed, 0x666c656574)) // "fleet"
	order := make([][]int, Segments)
	for s := range order {
		order[s] = r.Perm(apps)
	}
	appWidth := len(strconv.Itoa(apps))

	var b strings.Builder
	b.Grow(c.Devices * c.VMs() * 330)
	doc := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, format, args...)
	}
	fmt.Fprintf(&b, "# p4ctl fleet benchmark world: %d devices x %d VMs, %d segments, %d apps x %d tiers per segment, seed %d.\n",
		c.Devices, c.VMs(), Segments, apps, len(Tiers), c.Seed)
	for i := 1; i <= c.Devices; i++ {
		a := addr(i)
		doc("kind: Device\nname: %s\naddress: %s\ndevice_id: %d\ntarget: %s\n", DeviceName(i, c.Devices), a.Address, a.DeviceID, target)
	}
	for s := 1; s <= Segments; s++ {
		doc("kind: Segment\nname: seg%d\nid: %d\ndefault: deny\n", s, segmentBase+s)
	}
	for i := 1; i <= c.Devices; i++ {
		dev := DeviceName(i, c.Devices)
		for p := 1; p <= c.VMs(); p++ {
			doc("kind: Port\ndevice: %s\nport: %d\nsegment: seg%d\nrole: promiscuous\n", dev, p, 1+(p-1)/perSeg)
		}
		for p := 1; p <= c.VMs(); p++ {
			s := 1 + (p-1)/perSeg
			// g numbers the segment's VMs over the fleet: consecutive
			// VMs take the tiers in turn and the apps in the segment's
			// order, so a device of the full world hosts four apps of
			// each tier in each segment, and the fleet every identity
			// once it has apps/4 devices.
			g := (i-1)*perSeg + (p-1)%perSeg
			tier := Tiers[g%len(Tiers)]
			app := order[s-1][(g/len(Tiers))%apps]
			n := g + 1
			doc("kind: Endpoint\nname: %s-vm%02d\nsegment: seg%d\nmac: 02:00:%02x:%02x:%02x:%02x\nips: [10.%d.%d.%d, fd00:0:0:%x::%x]\ndevice: %s\nport: %d\nlabels: {app: app%0*d, tier: %s}\n",
				dev, p, s, s, n>>16, (n>>8)&0xff, n&0xff, s, n>>8, n&0xff, s, n, dev, p, appWidth, app+1, tier)
		}
	}
	for s := 1; s <= Segments; s++ {
		for i, e := range edges {
			ports := e.ports
			if c.Changed && i == 0 {
				ports = strings.Replace(ports, "[", "["+strconv.Itoa(ChangedPort)+", ", 1)
			}
			doc("kind: Policy\nname: seg%d-%s-to-%s\nsegment: seg%d\nfrom: \"tier: %s\"\nto: \"tier: %s\"\nrules:\n  - {proto: tcp, ports: %s}\n",
				s, e.from, e.to, s, e.from, e.to, ports)
		}
	}
	return []byte(b.String()), nil
}
