// Package topo is the network as the controller sees it: devices' ports
// (from gNMI), links between switches (learned by sending LLDP out of
// every port through the P4 pipeline and hearing it come back as a
// packet-in on the peer), and hosts seen on ports (LLDP from the hosts,
// heard through the pipeline or reported by a device's gNMI LLDP
// neighbors). It knows nothing of P4Runtime or gNMI sessions; the
// controller feeds it and reads it.
package topo

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/p4ctl/p4ctl/pkg/lldp"
)

// Sources of what the topology knows.
const (
	SourcePacketIO = "lldp-packet-io" // LLDP through the switch's packet-in
	SourceGNMI     = "gnmi-lldp"      // a device's LLDP neighbors over gNMI
)

// End is one side of a link: a device and its P4 port.
type End struct {
	Device string
	Port   uint32
}

func (e End) String() string { return e.Device + "/" + strconv.FormatUint(uint64(e.Port), 10) }

// Port is a device port as the device reports it.
type Port struct {
	Device     string
	Interface  string // the device's name for it
	ID         uint32 // P4Runtime port (0 when the device does not say)
	Oper       string // oper-status: UP, DOWN, ...
	Counters   Counters
	LastChange time.Time
}

// Counters are a port's interface counters.
type Counters struct {
	InOctets, OutOctets, InPkts, OutPkts         uint64
	InErrors, OutErrors, InDiscards, OutDiscards uint64
}

// Link is a switch-to-switch link, seen from From: LLDP sent out of From
// arrived at To. Links are reported per direction.
type Link struct {
	From, To  End
	Source    string
	LastSeen  time.Time
	ExpiresAt time.Time
}

// Host is a host heard on a device port.
type Host struct {
	Name      string // LLDP system name
	ChassisID string
	PortID    string // the host's port (interface name, usually)
	At        End
	Interface string // the device's interface name, when known
	Source    string
	LastSeen  time.Time
	ExpiresAt time.Time
}

type hostKey struct {
	at      End
	chassis string
	port    string
}

// Topology is safe for concurrent use.
type Topology struct {
	mu      sync.Mutex
	ports   map[End]*Port               // by P4 port
	byName  map[string]map[string]*Port // device -> interface -> port
	links   map[End]*Link               // by From
	hosts   map[hostKey]*Host
	version uint64
	changes chan struct{}
}

// New returns an empty topology.
func New() *Topology {
	return &Topology{ports: map[End]*Port{}, byName: map[string]map[string]*Port{}, links: map[End]*Link{},
		hosts: map[hostKey]*Host{}, changes: make(chan struct{}, 1)}
}

// Changes signals (coalesced) after links or hosts changed: what can move
// endpoints. Port state and counters alone do not signal.
func (t *Topology) Changes() <-chan struct{} { return t.changes }

// Version counts the changes Changes signals.
func (t *Topology) Version() uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.version
}

func (t *Topology) changed() {
	t.version++
	select {
	case t.changes <- struct{}{}:
	default:
	}
}

// ---- ports ----------------------------------------------------------------

// UpdatePort merges what a device says of one interface: fields left at
// their zero value in p are kept from before. A port whose oper-status
// leaves UP loses its hosts and links at once.
func (t *Topology) UpdatePort(p Port, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.byName[p.Device] == nil {
		t.byName[p.Device] = map[string]*Port{}
	}
	cur := t.byName[p.Device][p.Interface]
	if cur == nil {
		cur = &Port{Device: p.Device, Interface: p.Interface}
		t.byName[p.Device][p.Interface] = cur
	}
	if p.ID != 0 && p.ID != cur.ID {
		if cur.ID != 0 {
			delete(t.ports, End{cur.Device, cur.ID})
		}
		cur.ID = p.ID
		t.ports[End{cur.Device, cur.ID}] = cur
	}
	if p.Counters != (Counters{}) {
		cur.Counters = p.Counters
	}
	if p.Oper != "" && p.Oper != cur.Oper {
		cur.Oper, cur.LastChange = p.Oper, now
		if p.Oper != "UP" && cur.ID != 0 {
			t.dropAt(End{cur.Device, cur.ID})
		}
	}
}

// dropAt forgets the links and hosts on a port. Callers hold mu.
func (t *Topology) dropAt(e End) {
	n := len(t.links) + len(t.hosts)
	delete(t.links, e)
	maps.DeleteFunc(t.links, func(_ End, l *Link) bool { return l.To == e })
	maps.DeleteFunc(t.hosts, func(k hostKey, _ *Host) bool { return k.at == e })
	if len(t.links)+len(t.hosts) != n {
		t.changed()
	}
}

// RemoveDevice forgets a device's ports, links and hosts.
func (t *Topology) RemoveDevice(dev string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.byName, dev)
	maps.DeleteFunc(t.ports, func(e End, _ *Port) bool { return e.Device == dev })
	n := len(t.links) + len(t.hosts)
	maps.DeleteFunc(t.links, func(_ End, l *Link) bool { return l.From.Device == dev || l.To.Device == dev })
	maps.DeleteFunc(t.hosts, func(k hostKey, _ *Host) bool { return k.at.Device == dev })
	if len(t.links)+len(t.hosts) != n {
		t.changed()
	}
}

// PortID is the P4 port of a device's interface, if the device said.
func (t *Topology) PortID(dev, iface string) (uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p := t.byName[dev][iface]; p != nil && p.ID != 0 {
		return p.ID, true
	}
	return 0, false
}

// ---- LLDP through the pipeline --------------------------------------------

// chassisPrefix marks the LLDP frames p4ctl sends through its switches:
// their chassis ID (subtype locally assigned) is chassisPrefix + device.
const chassisPrefix = "p4ctl:"

// probeMAC is the source MAC of probe frames: locally administered, so it
// is no host's.
var probeMAC = []byte{0x02, 0x70, 0x34, 0x63, 0x74, 0x6c}

// ProbeFrame is the LLDP frame to send out of device's port p, held by
// the receiver for ttl. system names the controller in it.
func ProbeFrame(device string, port uint32, ttl time.Duration, system string) ([]byte, error) {
	f := lldp.Frame{ChassisIDSubtype: lldp.ChassisLocal, ChassisID: chassisPrefix + device,
		PortIDSubtype: lldp.PortLocal, PortID: strconv.FormatUint(uint64(port), 10), TTL: ttl.Truncate(time.Second),
		SystemName: system, PortDescription: "p4ctl link discovery"}
	b, err := f.Marshal(probeMAC)
	if err != nil {
		return nil, fmt.Errorf("topo: probe for %s/%d: %w", device, port, err)
	}
	return b, nil
}

// HandlePacketIn takes an LLDP frame that device punted from its port
// at. One of p4ctl's probes records the link from the probe's port to at;
// any other LLDP (a host's, a switch's own agent's) records a host seen
// at at. A TTL of 0 removes what the sender had announced.
func (t *Topology) HandlePacketIn(device string, at uint32, frame []byte, now time.Time) error {
	f, err := lldp.Parse(frame)
	if err != nil {
		return fmt.Errorf("topo: packet-in from %s/%d: %w", device, at, err)
	}
	to := End{device, at}
	if f.ChassisIDSubtype == lldp.ChassisLocal && strings.HasPrefix(f.ChassisID, chassisPrefix) {
		port, err := strconv.ParseUint(f.PortID, 10, 32)
		if err != nil || f.PortIDSubtype != lldp.PortLocal {
			return fmt.Errorf("topo: packet-in from %s/%d: p4ctl probe with port ID %q", device, at, f.PortID)
		}
		from := End{strings.TrimPrefix(f.ChassisID, chassisPrefix), uint32(port)}
		t.mu.Lock()
		defer t.mu.Unlock()
		if f.TTL == 0 {
			if _, ok := t.links[from]; ok {
				delete(t.links, from)
				t.changed()
			}
			return nil
		}
		old := t.links[from]
		t.links[from] = &Link{From: from, To: to, Source: SourcePacketIO, LastSeen: now, ExpiresAt: now.Add(f.TTL)}
		if old == nil || old.To != to {
			t.changed()
		}
		return nil
	}
	t.SeeHost(to, f, SourcePacketIO, now)
	return nil
}

// SeeLink records a link another cluster member observed through a
// device it masters (only a device's master receives its packet-ins):
// l's From, To, LastSeen and ExpiresAt as that member saw them, with
// source naming where it came from. What this node saw more recently of
// the same From is kept.
func (t *Topology) SeeLink(l Link, source string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.links[l.From]
	if old != nil && !old.LastSeen.Before(l.LastSeen) {
		return
	}
	t.links[l.From] = &Link{From: l.From, To: l.To, Source: source, LastSeen: l.LastSeen, ExpiresAt: l.ExpiresAt}
	if old == nil || old.To != l.To {
		t.changed()
	}
}

// ---- hosts ----------------------------------------------------------------

// SeeHost records LLDP frame f from a host heard on port at. A TTL of 0
// removes it.
func (t *Topology) SeeHost(at End, f lldp.Frame, source string, now time.Time) {
	k := hostKey{at, f.ChassisString(), f.PortString()}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := t.hosts[k]
	if f.TTL == 0 {
		if old != nil {
			delete(t.hosts, k)
			t.changed()
		}
		return
	}
	iface := ""
	if p := t.ports[at]; p != nil {
		iface = p.Interface
	}
	t.hosts[k] = &Host{Name: f.SystemName, ChassisID: k.chassis, PortID: k.port, At: at, Interface: iface, Source: source,
		LastSeen: now, ExpiresAt: now.Add(f.TTL)}
	if old == nil || old.Name != f.SystemName {
		t.changed()
	}
}

// SetHosts replaces what source said of the hosts on device dev's ports
// (a device's gNMI LLDP neighbor list, in full): hosts it no longer lists
// are removed. A neighbor that is one of p4ctl's probes (sent by whichever
// node leads) is a link from the probe's switch port to dev's, not a
// host: so every node learns the links, not only the leader, which alone
// receives packet-ins.
func (t *Topology) SetHosts(dev, source string, hosts []Host, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	keep := map[hostKey]bool{}
	keepLinks := map[End]bool{}
	changed := false
	for _, h := range hosts {
		h.At.Device, h.Source, h.LastSeen = dev, source, now
		if h.ExpiresAt.IsZero() {
			h.ExpiresAt = now.Add(24 * time.Hour) // the device ages its own neighbors
		}
		if from, ok := probeEnd(h.ChassisID, h.PortID); ok {
			keepLinks[from] = true
			old := t.links[from]
			t.links[from] = &Link{From: from, To: h.At, Source: source, LastSeen: now, ExpiresAt: h.ExpiresAt}
			changed = changed || old == nil || old.To != h.At
			continue
		}
		k := hostKey{h.At, h.ChassisID, h.PortID}
		keep[k] = true
		if old := t.hosts[k]; old == nil || old.Name != h.Name {
			changed = true
		}
		t.hosts[k] = &h
	}
	n := len(t.hosts) + len(t.links)
	maps.DeleteFunc(t.hosts, func(k hostKey, h *Host) bool { return k.at.Device == dev && h.Source == source && !keep[k] })
	maps.DeleteFunc(t.links, func(from End, l *Link) bool { return l.To.Device == dev && l.Source == source && !keepLinks[from] })
	if changed || len(t.hosts)+len(t.links) != n {
		t.changed()
	}
}

// probeEnd is the switch port a p4ctl probe was sent from, given the
// chassis and port IDs a neighbor table shows for it.
func probeEnd(chassis, port string) (End, bool) {
	dev, ok := strings.CutPrefix(chassis, chassisPrefix)
	if !ok || dev == "" {
		return End{}, false
	}
	p, err := strconv.ParseUint(port, 10, 32)
	if err != nil {
		return End{}, false
	}
	return End{dev, uint32(p)}, true
}

// HostLocation is where the host called name is seen: the port it was
// heard on most recently (ties broken by device and port, so the answer
// is the same on every call). Ports that lead to another switch are not
// host locations.
func (t *Topology) HostLocation(name string) (string, uint32, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var best *Host
	for _, h := range t.hosts {
		if h.Name != name || t.isSwitchPort(h.At) {
			continue
		}
		if best == nil || h.LastSeen.After(best.LastSeen) ||
			h.LastSeen.Equal(best.LastSeen) && cmp.Or(cmp.Compare(h.At.Device, best.At.Device), cmp.Compare(h.At.Port, best.At.Port)) < 0 {
			best = h
		}
	}
	if best == nil {
		return "", 0, false
	}
	return best.At.Device, best.At.Port, true
}

// isSwitchPort reports whether a link ends at e. Callers hold mu.
func (t *Topology) isSwitchPort(e End) bool {
	if _, ok := t.links[e]; ok {
		return true
	}
	for _, l := range t.links {
		if l.To == e {
			return true
		}
	}
	return false
}

// ---- time and reads -------------------------------------------------------

// Expire forgets links and hosts not heard again within their TTL, and
// reports whether any was.
func (t *Topology) Expire(now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(t.links) + len(t.hosts)
	maps.DeleteFunc(t.links, func(_ End, l *Link) bool { return !now.Before(l.ExpiresAt) })
	maps.DeleteFunc(t.hosts, func(_ hostKey, h *Host) bool { return !now.Before(h.ExpiresAt) })
	if len(t.links)+len(t.hosts) != n {
		t.changed()
		return true
	}
	return false
}

// NextExpiry is when the next link or host expires (zero when none).
func (t *Topology) NextExpiry() time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next time.Time
	see := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for _, l := range t.links {
		see(l.ExpiresAt)
	}
	for _, h := range t.hosts {
		see(h.ExpiresAt)
	}
	return next
}

// Snapshot returns copies of the ports, links and hosts, sorted.
func (t *Topology) Snapshot() ([]Port, []Link, []Host) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ports []Port
	for _, byIf := range t.byName {
		for _, p := range byIf {
			ports = append(ports, *p)
		}
	}
	slices.SortFunc(ports, func(a, b Port) int {
		return cmp.Or(cmp.Compare(a.Device, b.Device), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Interface, b.Interface))
	})
	links := make([]Link, 0, len(t.links))
	for _, l := range t.links {
		links = append(links, *l)
	}
	slices.SortFunc(links, func(a, b Link) int {
		return cmp.Or(cmp.Compare(a.From.Device, b.From.Device), cmp.Compare(a.From.Port, b.From.Port))
	})
	hosts := make([]Host, 0, len(t.hosts))
	for _, h := range t.hosts {
		hosts = append(hosts, *h)
	}
	slices.SortFunc(hosts, func(a, b Host) int {
		return cmp.Or(cmp.Compare(a.At.Device, b.At.Device), cmp.Compare(a.At.Port, b.At.Port), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ChassisID, b.ChassisID))
	})
	return ports, links, hosts
}
