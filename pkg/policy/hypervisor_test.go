package policy

import (
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
)

// A hypervisor fleet: one device per hypervisor, 48 VMs on each (one per
// access port), in 4 segments, labelled with an application and a tier,
// and tier-to-tier policies within each application. It is the world in
// which writing every endpoint of a segment on every device of the
// segment grows quadratically: the destination identities of the whole
// fleet on every hypervisor.

// hvPlacement says how the VMs of an application spread over the fleet.
type hvPlacement int

const (
	// hvClustered: hypervisor d runs applications d, d+1 and d+2 (mod the
	// fleet size), so that each application spans three hypervisors.
	hvClustered hvPlacement = iota
	// hvScattered: each VM's application is drawn at random from
	// devices/2 applications.
	hvScattered
	// hvFlat: no application label: the tier policies select every VM of
	// a tier in the segment, so every hypervisor reaches every tier.
	hvFlat
)

func (p hvPlacement) String() string {
	return [...]string{"clustered", "scattered", "flat"}[p]
}

// hvTiers are the tiers; the policies are web -> app tcp/8080 and 8443,
// app -> db tcp/5432, app -> cache tcp/6379, and a deny of tcp/22 from web
// to db at a higher priority.
var hvTiers = []string{"web", "app", "db", "cache"}

// hypervisorFleet builds the objects of a fleet of devices hypervisors.
// VM p (1-48) of a hypervisor is in segment (p-1)%4, with tier
// ((p-1)/12)%4, so that every hypervisor has every tier of every segment;
// every VM has an IPv4 address and every other one an IPv6 address too.
func hypervisorFleet(devices int, pl hvPlacement, seed uint64) []Object {
	r := rand.New(rand.NewPCG(seed, 3))
	const vms, segments = 48, 4
	var objs []Object
	for s := range segments {
		objs = append(objs, &Segment{Name: fmt.Sprintf("seg%d", s), ID: uint16(s + 1)})
	}
	apps := devices
	if pl == hvScattered {
		apps = max(1, devices/2)
	}
	n := 0
	for d := range devices {
		dev := fmt.Sprintf("hv%03d", d)
		objs = append(objs, &Device{Name: dev, Address: fmt.Sprintf("10.255.%d.%d:9559", d/256, d%256), DeviceID: 1, Target: "bmv2"})
		for p := 1; p <= vms; p++ {
			seg := fmt.Sprintf("seg%d", (p-1)%segments)
			objs = append(objs, &Port{Device: dev, Port: uint32(p), Segment: seg, Role: RolePromiscuous})
			labels := map[string]string{"tier": hvTiers[((p-1)/12)%len(hvTiers)]}
			switch pl {
			case hvClustered:
				labels["app"] = fmt.Sprintf("app%d", (d+((p-1)/4)%3)%apps)
			case hvScattered:
				labels["app"] = fmt.Sprintf("app%d", r.IntN(apps))
			}
			e := &Endpoint{Name: fmt.Sprintf("vm%d", n), Segment: seg, Device: dev, Port: uint32(p), Labels: labels,
				MAC: net.HardwareAddr{2, 1, 0, byte(n >> 16), byte(n >> 8), byte(n)},
				IPs: []netip.Addr{netip.AddrFrom4([4]byte{10, byte(n >> 16), byte(n >> 8), byte(n)})}}
			if n%2 == 0 {
				e.IPs = append(e.IPs, netip.MustParseAddr(fmt.Sprintf("fd00::1:%x", n+1)))
			}
			objs = append(objs, e)
			n++
		}
	}
	appSel := func(app int) string {
		if pl == hvFlat {
			return ""
		}
		return fmt.Sprintf("app: app%d, ", app)
	}
	sel := func(s string) Selector {
		x, err := ParseSelector(s)
		if err != nil {
			panic(err)
		}
		return x
	}
	tcp := func(ports ...uint16) Rule {
		r := Rule{Proto: ProtoTCP, Action: ActionAllow}
		for _, p := range ports {
			r.Ports = append(r.Ports, PortRange{p, p})
		}
		return r
	}
	perSegment := apps
	if pl == hvFlat {
		perSegment = 1
	}
	for s := range segments {
		seg := fmt.Sprintf("seg%d", s)
		for a := range perSegment {
			pol := func(name, from, to string, prio int, rules ...Rule) {
				objs = append(objs, &Policy{Name: fmt.Sprintf("%s-%s-app%d", seg, name, a), Segment: seg, Priority: prio,
					From: sel(appSel(a) + "tier: " + from), To: sel(appSel(a) + "tier: " + to), Rules: rules})
			}
			pol("web-app", "web", "app", DefaultPriority, tcp(8080, 8443))
			pol("app-db", "app", "db", DefaultPriority, tcp(5432))
			pol("app-cache", "app", "cache", DefaultPriority, tcp(6379))
			deny := tcp(22)
			deny.Action = ActionDeny
			pol("web-db-ssh", "web", "db", 200, deny)
		}
	}
	return objs
}

// allSegmentsDstEntries is how many destination-identity entries device
// dev of m would hold under the rule that writes every endpoint of a
// segment on every device with a port in it: one per address of each
// placed endpoint of each segment with a port on the device.
func allSegmentsDstEntries(m *Model, dev string) int {
	segs := map[string]bool{}
	for _, p := range m.Ports {
		if p.Device == dev {
			segs[p.Segment] = true
		}
	}
	n := 0
	for _, e := range m.Endpoints {
		if e.Placed() && segs[e.Segment] {
			n += len(e.IPs)
		}
	}
	return n
}

// dstEntries is the destination-identity entries of a device's counts.
func dstEntries(counts map[string]int) int {
	return counts[tableNames[tDst4]] + counts[tableNames[tDst6]]
}

// TestHypervisorFleetEntries measures the fleet: entries per device and
// in total, the destination-identity entries among them, and what the
// every-endpoint-of-the-segment rule would have written, at 50 and 200
// hypervisors (P4CTL_FLEET_DEVICES overrides: "50,200,500"). Run with
// P4CTL_FLEET=1 (it compiles up to 9,600 endpoints per placement).
func TestHypervisorFleetEntries(t *testing.T) {
	if os.Getenv("P4CTL_FLEET") == "" {
		t.Skip("set P4CTL_FLEET=1 to measure the hypervisor fleet")
	}
	sizes := []int{50, 200}
	if s := os.Getenv("P4CTL_FLEET_DEVICES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			var n int
			if _, err := fmt.Sscan(f, &n); err != nil {
				t.Fatalf("P4CTL_FLEET_DEVICES=%q: %v", s, err)
			}
			sizes = append(sizes, n)
		}
	}
	for _, pl := range []hvPlacement{hvClustered, hvScattered, hvFlat} {
		for _, devices := range sizes {
			m, _, err := Build(hypervisorFleet(devices, pl, 1))
			if err != nil {
				t.Fatal(err)
			}
			c, err := Compile(testTargets, m)
			if err != nil {
				t.Fatal(err)
			}
			st := c.Stats()
			var perDev, dst, old []int
			total, totalDst, totalOld := 0, 0, 0
			for _, name := range slices.Sorted(mapsKeys(st.Devices)) {
				n := 0
				for _, v := range st.Devices[name] {
					n += v
				}
				perDev = append(perDev, n)
				dst = append(dst, dstEntries(st.Devices[name]))
				old = append(old, allSegmentsDstEntries(m, name))
				total += n
				totalDst += dst[len(dst)-1]
				totalOld += old[len(old)-1]
			}
			oldTotal := total - totalDst + totalOld
			t.Logf("%-9s %3d devices, %5d endpoints, %4d identities, %4d policies: per device %s entries (%s destination identity); "+
				"total %d (%d destination identity, %.1f%%); every-endpoint rule: destination identity %s per device, total %d (%.1f%%)",
				pl, devices, len(m.Endpoints), st.Identities, len(m.Policies), spread(perDev), spread(dst), total, totalDst,
				100*float64(totalDst)/float64(total), spread(old), oldTotal, 100*float64(totalOld)/float64(oldTotal))
		}
	}
}

// spread formats min/mean/max of xs.
func spread(xs []int) string {
	if len(xs) == 0 {
		return "-"
	}
	lo, hi, sum := xs[0], xs[0], 0
	for _, x := range xs {
		lo, hi, sum = min(lo, x), max(hi, x), sum+x
	}
	if lo == hi {
		return fmt.Sprint(lo)
	}
	return fmt.Sprintf("%d/%.0f/%d (min/mean/max)", lo, float64(sum)/float64(len(xs)), hi)
}

// BenchmarkCompileHypervisors compiles the clustered and scattered
// fleets of 50 and 200 hypervisors from scratch.
func BenchmarkCompileHypervisors(b *testing.B) {
	for _, pl := range []hvPlacement{hvClustered, hvScattered} {
		for _, devices := range []int{50, 200} {
			b.Run(fmt.Sprintf("%s/%d", pl, devices), func(b *testing.B) {
				m, _, err := Build(hypervisorFleet(devices, pl, 1))
				if err != nil {
					b.Fatal(err)
				}
				st := benchCompile(b, m)
				b.ReportMetric(float64(st.Entries), "entries")
			})
		}
	}
}

// BenchmarkUpdateHypervisorVM adds a VM to a compiled fleet of 200
// clustered hypervisors and removes it again, alternately: the delta is
// its entries on the devices that hold them.
func BenchmarkUpdateHypervisorVM(b *testing.B) {
	m, _, err := Build(hypervisorFleet(200, hvClustered, 1))
	if err != nil {
		b.Fatal(err)
	}
	c, err := Compile(testTargets, m)
	if err != nil {
		b.Fatal(err)
	}
	vm := &Endpoint{Name: "vm-new", Segment: "seg0", Device: "hv007", Port: 1, Labels: map[string]string{"app": "app7", "tier": "db"},
		MAC: net.HardwareAddr{2, 2, 0, 0, 0, 1}, IPs: []netip.Addr{netip.MustParseAddr("10.254.0.1")}}
	with, _, err := m.With([]Object{vm}, nil)
	if err != nil {
		b.Fatal(err)
	}
	models := []*Model{with, m}
	changes := 0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		d, err := c.Update(models[i%2])
		if err != nil {
			b.Fatal(err)
		}
		i++
		changes = d.Len()
	}
	b.ReportMetric(float64(changes), "changes")
}
