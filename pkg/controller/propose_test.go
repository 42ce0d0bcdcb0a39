package controller

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// sizedTargets is the embedded pipeline with ingress.policy_port cut to
// size entries.
func sizedTargets(size int64) policy.Targets {
	return func(name string) (*pipeline.Pipeline, error) {
		p, err := pipeline.Embedded(name)
		if err != nil {
			return nil, err
		}
		t, _ := p.Info.Table("ingress.policy_port")
		t.Size = size
		return p, nil
	}
}

// policyPort is how many ingress.policy_port entries leaf1 needs for docs.
func policyPort(t *testing.T, docs ...[]byte) int {
	t.Helper()
	objs, err := policy.Parse("test.yaml", bytes.NewReader(bytes.Join(docs, []byte("\n---\n"))))
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := policy.Build(objs)
	if err != nil {
		t.Fatal(err)
	}
	c, err := policy.Compile(pipeline.Embedded, m)
	if err != nil {
		t.Fatal(err)
	}
	return c.Counts("leaf1")["ingress.policy_port"]
}

// TestConcurrentAppliesRespectCapacity: with room for one more identity's
// policy entries, two applies that each fit alone are sent at once. One
// commits and the other is refused for capacity, never both (which left
// the controller wedged on a model it could not compile, refusing every
// later change); an unrelated change still applies, and the devices hold
// the committed model.
func TestConcurrentAppliesRespectCapacity(t *testing.T) {
	d1, d2 := startSim(t, ""), startSim(t, "")
	base := exampleFor(t, d1.addr, d2.addr)
	// Each endpoint is a web server in an identity of its own, so each
	// adds the web tier's policy entries again.
	a := []byte("kind: Endpoint\nname: web-a\nsegment: prod\nmac: 02:00:00:00:0a:01\nips: [10.0.9.1]\ndevice: leaf1\nport: 1\nlabels: {app: shop, tier: web, zone: a}\n")
	b := []byte("kind: Endpoint\nname: web-b\nsegment: prod\nmac: 02:00:00:00:0b:01\nips: [10.0.9.2]\ndevice: leaf1\nport: 1\nlabels: {app: shop, tier: web, zone: b}\n")
	n0, na, nb, nab := policyPort(t, base), policyPort(t, base, a), policyPort(t, base, b), policyPort(t, base, a, b)
	if na <= n0 || nb <= n0 || nab <= max(na, nb) {
		t.Fatalf("policy_port entries: base %d, +a %d, +b %d, +both %d: the endpoints must each add entries", n0, na, nb, nab)
	}
	size := int64(max(na, nb))

	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c, _ := runControllerWith(t, n, sizedTargets(size))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.Apply(ctx, "base.yaml", base); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, doc := range [][]byte{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = c.Apply(ctx, "more.yaml", doc)
		}()
	}
	wg.Wait()
	ok, full := 0, 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, policy.ErrCapacity):
			full++
		default:
			t.Errorf("apply: %v", err)
		}
	}
	if ok != 1 || full != 1 {
		t.Fatalf("of two applies that fit only one at a time, %d committed and %d were refused for capacity (%v)", ok, full, errs)
	}
	if _, err := c.Apply(ctx, "unrelated.yaml", []byte("kind: Segment\nname: lab\nid: 77\n")); err != nil {
		t.Fatalf("an unrelated change after the race: %v", err)
	}
	model := func() *policy.Model { m, _ := n.Model(); return m }
	inSync(t, c, map[string]*simDevice{"leaf1": d1, "leaf2": d2}, model)
	if got := c.Devices()[0].Entries["ingress.policy_port"]; int64(got) > size {
		t.Errorf("leaf1 holds %d policy_port entries in a table of %d", got, size)
	}
}
