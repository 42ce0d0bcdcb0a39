package pipeline_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// world writes a random policy world for one device of target: endpoints,
// each an identity of its own, and policies between all of them whose
// rules land in the pair, protocol, port and range tables and their
// replies, sized so that some worlds fill a Tofino table past its size.
func world(r *rand.Rand, target string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "kind: Device\nname: leaf1\naddress: 127.0.0.1:9559\ndevice_id: 1\ntarget: %s\n---\n", target)
	b.WriteString("kind: Segment\nname: s\nid: 10\ndefault: deny\n---\n")
	const ports = 16
	for p := 1; p <= ports; p++ {
		fmt.Fprintf(&b, "kind: Port\ndevice: leaf1\nport: %d\nsegment: s\nrole: promiscuous\n---\n", p)
	}
	n := 40 + r.IntN(160)
	for i := range n {
		fmt.Fprintf(&b, "kind: Endpoint\nname: e%d\nsegment: s\nmac: 02:00:00:00:%02x:%02x\nips: [10.1.%d.%d]\ndevice: leaf1\nport: %d\nlabels: {id: e%d}\n---\n",
			i, i/256, i%256, i/256, i%256+1, i%ports+1, i)
	}
	rules := []string{"{proto: any}", "{proto: udp}", "{proto: tcp, ports: [%d]}", "{proto: tcp, ports: [\"%d-%d\"]}", "{proto: udp, ports: [%d, %d]}"}
	for k := range 1 + r.IntN(3) {
		fmt.Fprintf(&b, "kind: Policy\nname: p%d\nsegment: s\npriority: %d\nfrom: {}\nto: {}\nrules:\n", k, 100+k)
		for range 1 + r.IntN(2) {
			switch rule := rules[r.IntN(len(rules))]; strings.Count(rule, "%d") {
			case 0:
				fmt.Fprintf(&b, "  - %s\n", rule)
			case 1:
				fmt.Fprintf(&b, "  - "+rule+"\n", 1000+r.IntN(1000))
			default:
				lo := 2000 + r.IntN(1000)
				fmt.Fprintf(&b, "  - "+rule+"\n", lo, lo+1+r.IntN(50))
			}
		}
		b.WriteString("---\n")
	}
	return b.String()
}

func compileWorld(t *testing.T, yaml string) (*policy.Compiler, error) {
	t.Helper()
	objs, err := policy.Parse("world.yaml", strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	return policy.Compile(pipeline.Embedded, m)
}

// TestFitAgreesOverWorlds: over random policy worlds, `apply --dry-run
// --fit tofino` (a BMv2 device's compiled entries placed into the Tofino
// budget) and the same world with the device's target: tofino (the
// compiler's capacity check) accept and refuse the same worlds, and a
// refusal names a table and the entries it needs.
func TestFitAgreesOverWorlds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: compiling random worlds of up to 200,000 entries")
	}
	r := rand.New(rand.NewPCG(26, 1))
	for _, target := range []string{"tofino", "tofino2"} {
		tg, err := pipeline.LookupTarget(target)
		if err != nil {
			t.Fatal(err)
		}
		b := pipeline.Budgets[tg.Budget]
		accepted, refused := 0, 0
		for i := range 12 {
			w := world(r, "bmv2")
			c, err := compileWorld(t, w)
			if err != nil {
				t.Fatalf("%s world %d on bmv2: %v", target, i, err)
			}
			fit := b.Fit(c.DeviceInfo("leaf1"), c.Counts("leaf1")).Err()
			_, dev := compileWorld(t, strings.Replace(w, "target: bmv2", "target: "+target, 1))
			if dev != nil && !errors.Is(dev, policy.ErrCapacity) {
				t.Fatalf("%s world %d: %v", target, i, dev)
			}
			if (fit == nil) != (dev == nil) {
				t.Errorf("%s world %d (%v): --fit says %v, the device %v", target, i, c.Counts("leaf1"), fit, dev)
			}
			if fit == nil {
				accepted++
				continue
			}
			refused++
			if !strings.Contains(fit.Error(), "needs") || !strings.Contains(fit.Error(), "entries and holds") {
				t.Errorf("%s world %d: the refusal %q names no need", target, i, fit)
			}
		}
		t.Logf("%s: %d worlds fit, %d refused", target, accepted, refused)
		if accepted == 0 || refused == 0 {
			t.Errorf("%s: %d worlds fit and %d refused: the worlds do not cross the sizes", target, accepted, refused)
		}
	}
}
