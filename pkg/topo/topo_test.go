package topo

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/lldp"
)

var t0 = time.Unix(10000, 0)

func hostFrame(t *testing.T, name string, ttl time.Duration) []byte {
	t.Helper()
	mac := net.HardwareAddr{0x02, 0, 0, 0, 0xaa, 0x01}
	b, err := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac), PortIDSubtype: lldp.PortIfName, PortID: "eth0",
		TTL: ttl, SystemName: name}.Marshal(mac)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func drain(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func TestLinkDiscovery(t *testing.T) {
	topo := New()
	probe, err := ProbeFrame("leaf1", 3, 15*time.Second, "p4ctl")
	if err != nil {
		t.Fatal(err)
	}
	if err := topo.HandlePacketIn("leaf2", 7, probe, t0); err != nil {
		t.Fatal(err)
	}
	if !drain(topo.Changes()) {
		t.Error("a new link did not signal")
	}
	_, links, hosts := topo.Snapshot()
	if len(links) != 1 || links[0].From != (End{"leaf1", 3}) || links[0].To != (End{"leaf2", 7}) || links[0].Source != SourcePacketIO || len(hosts) != 0 {
		t.Fatalf("links %+v hosts %+v", links, hosts)
	}
	// Heard again: refreshed, no change signalled.
	if err := topo.HandlePacketIn("leaf2", 7, probe, t0.Add(10*time.Second)); err != nil {
		t.Fatal(err)
	}
	if drain(topo.Changes()) {
		t.Error("a refresh signalled a change")
	}
	if topo.Expire(t0.Add(24 * time.Second)) {
		t.Error("the refreshed link expired early")
	}
	if !topo.Expire(t0.Add(25*time.Second)) || len(must(topo.Snapshot()).links) != 0 {
		t.Error("the link did not expire after its TTL")
	}
	// Recabled: the same probe arrives elsewhere; the link moves.
	topo.HandlePacketIn("leaf2", 7, probe, t0)
	topo.HandlePacketIn("leaf3", 1, probe, t0.Add(time.Second))
	if l := must(topo.Snapshot()).links; len(l) != 1 || l[0].To != (End{"leaf3", 1}) {
		t.Errorf("after recabling: %+v", l)
	}
	// A shutdown probe removes it.
	bye, _ := ProbeFrame("leaf1", 3, 0, "p4ctl")
	topo.HandlePacketIn("leaf3", 1, bye, t0.Add(2*time.Second))
	if l := must(topo.Snapshot()).links; len(l) != 0 {
		t.Errorf("after a TTL-0 probe: %+v", l)
	}
}

type snap struct {
	ports []Port
	links []Link
	hosts []Host
}

func must(p []Port, l []Link, h []Host) snap { return snap{p, l, h} }

func TestHostsMove(t *testing.T) {
	topo := New()
	if _, _, ok := topo.HostLocation("web-01"); ok {
		t.Fatal("unknown host located")
	}
	topo.HandlePacketIn("leaf1", 4, hostFrame(t, "web-01", 120*time.Second), t0)
	if dev, port, ok := topo.HostLocation("web-01"); !ok || dev != "leaf1" || port != 4 {
		t.Fatalf("located at %s/%d %v", dev, port, ok)
	}
	drain(topo.Changes())
	// The host moves: it is heard on leaf2/9 later; the newest wins even
	// before the old sighting expires.
	topo.HandlePacketIn("leaf2", 9, hostFrame(t, "web-01", 120*time.Second), t0.Add(5*time.Second))
	if !drain(topo.Changes()) {
		t.Error("a host seen on a new port did not signal")
	}
	if dev, port, _ := topo.HostLocation("web-01"); dev != "leaf2" || port != 9 {
		t.Errorf("after the move: %s/%d", dev, port)
	}
	// The old port goes down: its sighting goes at once.
	topo.UpdatePort(Port{Device: "leaf1", Interface: "eth4", ID: 4, Oper: "UP"}, t0)
	topo.UpdatePort(Port{Device: "leaf1", Interface: "eth4", Oper: "DOWN"}, t0.Add(6*time.Second))
	if _, _, hosts := topo.Snapshot(); len(hosts) != 1 || hosts[0].At != (End{"leaf2", 9}) {
		t.Errorf("after leaf1/4 went down: %+v", hosts)
	}
	// LLDP heard on a port that leads to another switch is not a host
	// location (a switch's own agent, say).
	probe, _ := ProbeFrame("leaf3", 1, 30*time.Second, "p4ctl")
	topo.HandlePacketIn("leaf2", 9, probe, t0.Add(7*time.Second))
	if _, _, ok := topo.HostLocation("web-01"); ok {
		t.Error("a host is located on an inter-switch port")
	}
}

func TestSetHostsFromGNMI(t *testing.T) {
	topo := New()
	topo.UpdatePort(Port{Device: "leaf1", Interface: "Ethernet3", ID: 3, Oper: "UP"}, t0)
	topo.SetHosts("leaf1", SourceGNMI, []Host{{Name: "db-01", ChassisID: "c1", PortID: "eth0", At: End{Port: 3}, Interface: "Ethernet3"}}, t0)
	if dev, port, ok := topo.HostLocation("db-01"); !ok || dev != "leaf1" || port != 3 {
		t.Fatalf("db-01 at %s/%d %v", dev, port, ok)
	}
	// A packet-I/O sighting on another device is not touched by the next
	// gNMI list, which no longer has db-01.
	topo.HandlePacketIn("leaf2", 2, hostFrame(t, "web-01", 60*time.Second), t0)
	topo.SetHosts("leaf1", SourceGNMI, nil, t0.Add(time.Second))
	if _, _, ok := topo.HostLocation("db-01"); ok {
		t.Error("db-01 still located after the device stopped listing it")
	}
	if _, _, ok := topo.HostLocation("web-01"); !ok {
		t.Error("another source's host was removed")
	}
	if id, ok := topo.PortID("leaf1", "Ethernet3"); !ok || id != 3 {
		t.Errorf("PortID = %d %v", id, ok)
	}
	topo.RemoveDevice("leaf2")
	if _, _, hosts := topo.Snapshot(); len(hosts) != 0 {
		t.Errorf("hosts after removing leaf2: %+v", hosts)
	}
}

func TestPacketInErrors(t *testing.T) {
	topo := New()
	bad, _ := lldp.Frame{ChassisIDSubtype: lldp.ChassisLocal, ChassisID: "p4ctl:leaf1", PortIDSubtype: lldp.PortLocal, PortID: "x", TTL: time.Minute}.Marshal(probeMAC)
	for name, tt := range map[string]struct {
		b    []byte
		want string
	}{
		"not LLDP":      {append(make([]byte, 12), 0x08, 0x00, 0x45), "not an LLDP frame"},
		"short":         {[]byte{1, 2, 3}, "shorter than an Ethernet header"},
		"bad probe":     {bad, `port ID "x"`},
		"truncated TLV": {hostFrame(t, "h", time.Minute)[:20], "lldp"},
	} {
		err := topo.HandlePacketIn("leaf1", 1, tt.b, t0)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "leaf1/1") {
			t.Errorf("%s: err = %v, want one naming leaf1/1 and containing %q", name, err, tt.want)
		}
	}
	if _, links, hosts := topo.Snapshot(); len(links)+len(hosts) != 0 {
		t.Errorf("bad frames left state: %v %v", links, hosts)
	}
}

func FuzzHandlePacketIn(f *testing.F) {
	probe, _ := ProbeFrame("leaf1", 3, time.Minute, "p4ctl")
	f.Add(probe, uint32(7))
	mac := net.HardwareAddr{2, 0, 0, 0, 0, 1}
	host, _ := lldp.Frame{ChassisIDSubtype: lldp.ChassisMAC, ChassisID: string(mac), PortIDSubtype: lldp.PortIfName, PortID: "eth0", TTL: time.Minute, SystemName: "h"}.Marshal(mac)
	f.Add(host, uint32(1))
	f.Fuzz(func(t *testing.T, frame []byte, port uint32) {
		topo := New()
		if err := topo.HandlePacketIn("leaf2", port, frame, t0); err != nil {
			return
		}
		_, links, hosts := topo.Snapshot()
		if len(links)+len(hosts) > 1 {
			t.Fatalf("one frame made %d links and %d hosts", len(links), len(hosts))
		}
		for _, l := range links {
			if l.To != (End{"leaf2", port}) {
				t.Fatalf("link to %v from a packet-in on leaf2/%d", l.To, port)
			}
		}
	})
}

// TestProbeOverGNMIIsALink: a device that lists one of p4ctl's probes
// among its LLDP neighbors reports a link, as the packet-in would, so
// followers (which get no packet-ins) know the links too; the link goes
// when the device stops listing it, and never places a host.
func TestProbeOverGNMIIsALink(t *testing.T) {
	topo := New()
	topo.SetHosts("leaf1", SourceGNMI, []Host{
		{Name: "p4ctl node1", ChassisID: "p4ctl:spine1", PortID: "1", At: End{Port: 5}, Interface: "s1-eth5"},
		{Name: "p4ctl node1", ChassisID: "p4ctl:spine2", PortID: "eth1", At: End{Port: 6}}, // not a probe's port ID
	}, t0)
	_, links, hosts := topo.Snapshot()
	want := Link{From: End{"spine1", 1}, To: End{"leaf1", 5}}
	if len(links) != 1 || links[0].From != want.From || links[0].To != want.To || links[0].Source != SourceGNMI {
		t.Fatalf("links %+v, want %v -> %v from gNMI", links, want.From, want.To)
	}
	if len(hosts) != 1 || hosts[0].ChassisID != "p4ctl:spine2" {
		t.Errorf("hosts %+v, want only the neighbor whose port ID is not a probe's", hosts)
	}
	v := topo.Version()
	topo.SetHosts("leaf1", SourceGNMI, nil, t0.Add(time.Second))
	if _, links, _ := topo.Snapshot(); len(links) != 0 {
		t.Errorf("link kept after the device stopped listing it: %+v", links)
	}
	if topo.Version() == v {
		t.Error("removing the link was not a change")
	}
}
