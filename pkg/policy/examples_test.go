package policy

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestExamplesCompile: every example policy parses, validates and
// compiles for its devices' targets, and gives every device entries.
func TestExamplesCompile(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v, %v (want segmentation, fabric and host at least)", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			m := mustModel(t, string(b))
			c, err := Compile(testTargets, m)
			if err != nil {
				t.Fatal(err)
			}
			for name := range m.Devices {
				if ents, _, err := c.DeviceEntries(name); err != nil || len(ents) == 0 {
					t.Errorf("device %s: %d entries, %v", name, len(ents), err)
				}
			}
		})
	}
}

// TestHostExampleFabric: the lab's host topology (examples/host.yaml,
// hv1 port 10 cabled to leaf1 port 10) makes the cable a fabric link and
// the dpdk device gets no flood groups. Its flows, hop by hop as Trace
// follows them: identity policy decides where a flow enters, and the
// PVLAN rule is applied again where it leaves, by the tag.
func TestHostExampleFabric(t *testing.T) {
	b, err := os.ReadFile("../../examples/host.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var bd Binder
	m, _ := bd.Bind(mustModel(t, string(b)), func(string) (string, uint32, bool) { return "", 0, false },
		[]Link{{PortKey{"hv1", 10}, PortKey{"leaf1", 10}}, {PortKey{"leaf1", 10}, PortKey{"hv1", 10}}})
	if f := fabricOf(m); len(f.links) != 1 {
		t.Fatalf("fabric links = %v, want the one cable", f.links)
	}
	c, err := Compile(testTargets, m)
	if err != nil {
		t.Fatal(err)
	}
	if _, groups, err := c.DeviceEntries("hv1"); err != nil || len(groups) != 0 {
		t.Errorf("hv1 (dpdk): %d multicast groups, %v; want none", len(groups), err)
	}
	if _, groups, err := c.DeviceEntries("leaf1"); err != nil || len(groups) == 0 {
		t.Errorf("leaf1 (bmv2): %d multicast groups, %v; want its segments' flood groups", len(groups), err)
	}
	const syn = 0x02
	a := netip.MustParseAddr
	prod, guest := uint16(m.Segments["prod"].ID), uint16(m.Segments["guest"].ID)
	for _, tc := range []struct {
		what    string
		dev     string
		p       Packet
		verdict string
		ports   []uint32
	}{
		{"app-1 to db-1 leaves the host by its uplink", "hv1",
			Packet{InPort: 3, Src: a("10.0.0.3"), Dst: a("10.0.0.4"), Proto: 6, SPort: 40000, DPort: 5432, TCPFlags: syn}, VerdictAllow, []uint32{10}},
		{"and reaches db-1's port on the switch", "leaf1",
			Packet{InPort: 10, Src: a("10.0.0.3"), Dst: a("10.0.0.4"), Proto: 6, SPort: 40000, DPort: 5432, TCPFlags: syn,
				Tag: &FabricTag{Segment: prod, Role: RolePromiscuous}}, VerdictAllow, []uint32{4}},
		{"web-1 to db-1 is denied at the host", "hv1",
			Packet{InPort: 1, Src: a("10.0.0.1"), Dst: a("10.0.0.4"), Proto: 6, SPort: 40000, DPort: 5432, TCPFlags: syn}, VerdictDeny, nil},
		{"web-1 to app-1 stays on the host", "hv1",
			Packet{InPort: 1, Src: a("2001:db8::1"), Dst: a("2001:db8::3"), Proto: 6, SPort: 40000, DPort: 8443, TCPFlags: syn}, VerdictAllow, []uint32{3}},
		{"guest-1 to guest-2: the guest segment allows it at the host", "hv1",
			Packet{InPort: 8, Src: a("10.0.20.8"), Dst: a("10.0.20.9"), Proto: 6, SPort: 40000, DPort: 80, TCPFlags: syn}, VerdictAllow, []uint32{10}},
		{"and the switch drops it: isolated to isolated, by the tag", "leaf1",
			Packet{InPort: 10, Src: a("10.0.20.8"), Dst: a("10.0.20.9"), Proto: 6, SPort: 40000, DPort: 80, TCPFlags: syn,
				Tag: &FabricTag{Segment: guest, Role: RoleIsolated}}, VerdictDeny, nil},
		{"batch-2 to batch-1 leaves the switch by its uplink", "leaf1",
			Packet{InPort: 6, Src: a("10.0.0.6"), Dst: a("10.0.0.5"), Proto: 17, SPort: 40000, DPort: 7005}, VerdictAllow, []uint32{10}},
		{"and the host lets community 100 reach community 100", "hv1",
			Packet{InPort: 10, Src: a("10.0.0.6"), Dst: a("10.0.0.5"), Proto: 17, SPort: 40000, DPort: 7005,
				Tag: &FabricTag{Segment: prod, Role: RoleCommunity, Community: 100}}, VerdictAllow, []uint32{5}},
		{"another community does not", "hv1",
			Packet{InPort: 10, Src: a("10.0.0.6"), Dst: a("10.0.0.5"), Proto: 17, SPort: 40000, DPort: 7005,
				Tag: &FabricTag{Segment: prod, Role: RoleCommunity, Community: 200}}, VerdictDeny, nil},
	} {
		r, err := c.Trace(tc.dev, tc.p)
		if err != nil {
			t.Fatalf("%s: %v", tc.what, err)
		}
		if r.Verdict != tc.verdict || !slices.Equal(r.Ports, tc.ports) {
			t.Errorf("%s (%s): %s to %v (%s); want %s to %v", tc.what, tc.dev, r.Verdict, r.Ports, r.Reason, tc.verdict, tc.ports)
		}
	}
}
