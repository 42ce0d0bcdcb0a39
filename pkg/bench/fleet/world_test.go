package fleet_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/bench/fleet"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// compile parses, validates and compiles a world as `p4ctl validate`
// does, failing on any warning.
func compile(t *testing.T, cfg fleet.Config) ([]policy.Object, *policy.Compiler) {
	t.Helper()
	doc, err := fleet.World(cfg)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := policy.Parse("world.yaml", bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	m, warnings, err := policy.Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Fatalf("warnings: %v", warnings)
	}
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		t.Fatal(err)
	}
	return objs, c
}

func TestWorldDocuments(t *testing.T) {
	for _, tc := range []struct {
		devices int
		light   bool
		vms     int
	}{
		{1, false, 48},
		{3, false, 48},
		{3, true, 8},
		{25, true, 8},
	} {
		t.Run(fmt.Sprintf("%d-light=%v", tc.devices, tc.light), func(t *testing.T) {
			cfg := fleet.Config{Devices: tc.devices, Light: tc.light, Device: fleet.SharedAddress("127.0.0.1:9999")}
			objs, c := compile(t, cfg)
			if len(objs) != cfg.Documents() {
				t.Errorf("%d documents, Documents says %d", len(objs), cfg.Documents())
			}
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind()]++
			}
			want := map[string]int{policy.KindDevice: tc.devices, policy.KindSegment: fleet.Segments,
				policy.KindPort: tc.devices * tc.vms, policy.KindEndpoint: tc.devices * tc.vms, policy.KindPolicy: 2 * fleet.Segments}
			for k, n := range want {
				if kinds[k] != n {
					t.Errorf("%d %s documents, want %d", kinds[k], k, n)
				}
			}
			m := c.Model()
			for i := 1; i <= tc.devices; i++ {
				d := m.Devices[fleet.DeviceName(i, tc.devices)]
				if d == nil || d.Address != "127.0.0.1:9999" || d.DeviceID != uint64(i) || d.Target != "bmv2" {
					t.Errorf("device %d: %+v", i, d)
				}
			}
			for _, e := range m.Endpoints {
				if len(e.IPs) != 2 || !e.IPs[0].Is4() || !e.IPs[1].Is6() || e.Labels["app"] == "" || e.Labels["tier"] == "" {
					t.Errorf("endpoint %s: ips %v, labels %v", e.Name, e.IPs, e.Labels)
				}
			}
			for _, s := range m.Segments {
				if s.DefaultAllow {
					t.Errorf("segment %s allows by default", s.Name)
				}
			}
		})
	}
}

// TestWorldEntriesPerDevice checks the full world's size with the
// compiler: every device within 10% of TargetEntries from 10 devices on
// (from 11 the fleet has every identity).
func TestWorldEntriesPerDevice(t *testing.T) {
	sizes := []int{10, 30, 50}
	if testing.Short() {
		sizes = []int{10}
	}
	for _, n := range sizes {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			_, c := compile(t, fleet.Config{Devices: n, Seed: 7})
			st := c.Stats()
			// A device hosts 4 apps of each tier in each segment, the
			// next 4 in the segment's order of apps.
			if want := fleet.Segments * min(fleet.AppsPerSegment, 4*n) * len(fleet.Tiers); st.Identities != want {
				t.Errorf("%d identities, want %d", st.Identities, want)
			}
			for dev, tables := range st.Devices {
				total := 0
				for _, k := range tables {
					total += k
				}
				if total < fleet.TargetEntries*9/10 || total > fleet.TargetEntries*11/10 {
					t.Errorf("device %s: %d entries, want %d ± 10%%", dev, total, fleet.TargetEntries)
				}
			}
		})
	}
}

func TestWorldDeterministic(t *testing.T) {
	gen := func(cfg fleet.Config) string {
		t.Helper()
		b, err := fleet.World(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name string
		a, b fleet.Config
		same bool
	}{
		{"same config", fleet.Config{Devices: 5, Seed: 3}, fleet.Config{Devices: 5, Seed: 3}, true},
		{"default address", fleet.Config{Devices: 5}, fleet.Config{Devices: 5, Device: fleet.SharedAddress(fleet.DefaultSimAddr)}, true},
		{"other seed", fleet.Config{Devices: 5, Seed: 3}, fleet.Config{Devices: 5, Seed: 4}, false},
		{"light", fleet.Config{Devices: 5}, fleet.Config{Devices: 5, Light: true}, false},
		{"addresses", fleet.Config{Devices: 2}, fleet.Config{Devices: 2, Device: fleet.Addresses([]string{"127.0.0.1:1", "127.0.0.1:2"})}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := gen(tc.a) == gen(tc.b); got != tc.same {
				t.Errorf("equal worlds: %v, want %v", got, tc.same)
			}
		})
	}
}

func TestWorldErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  fleet.Config
		want string
	}{
		{fleet.Config{}, "at least one device"},
		{fleet.Config{Devices: 6000}, "at most 65534 VMs per segment"},
		{fleet.Config{Devices: 1, Apps: -1}, "apps per segment"},
	} {
		if _, err := fleet.World(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("World(%+v): %v, want an error saying %q", tc.cfg, err, tc.want)
		}
	}
}

func TestDeviceName(t *testing.T) {
	for _, tc := range []struct {
		i, n int
		want string
	}{
		{1, 3, "hv001"}, {42, 999, "hv042"}, {7, 1000, "hv0007"},
	} {
		if got := fleet.DeviceName(tc.i, tc.n); got != tc.want {
			t.Errorf("DeviceName(%d, %d) = %q, want %q", tc.i, tc.n, got, tc.want)
		}
	}
}

// TestChangedWorld: the changed world adds policy and reply entries on
// every device and removes none, which is what Run's change measures.
func TestChangedWorld(t *testing.T) {
	cfg := fleet.Config{Devices: 4, Light: true}
	_, before := compile(t, cfg)
	cfg.Changed = true
	_, after := compile(t, cfg)
	for _, dev := range []string{"hv001", "hv004"} {
		b, a := before.Counts(dev), after.Counts(dev)
		for tb, n := range b {
			if a[tb] < n {
				t.Errorf("%s: %s has %d entries after the change, %d before", dev, tb, a[tb], n)
			}
		}
		if a["ingress.policy_port"] <= b["ingress.policy_port"] || a["ingress.reply_port"] <= b["ingress.reply_port"] {
			t.Errorf("%s: the change adds no policy or reply entry: %v -> %v", dev, b, a)
		}
	}
}
