package policy

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
)

const suggestWorld = `kind: Device
name: leaf1
address: 127.0.0.1:1
---
kind: Segment
name: shop
id: 30
default: allow
---
kind: Port
device: leaf1
port: 1
segment: shop
role: promiscuous
---
kind: Endpoint
name: web-1
segment: shop
mac: 02:00:00:00:00:01
ips: [10.1.0.1]
device: leaf1
port: 1
labels: {tier: web}
---
kind: Endpoint
name: web-2
segment: shop
mac: 02:00:00:00:00:02
ips: [10.1.0.2]
device: leaf1
port: 1
labels: {tier: web}
---
kind: Endpoint
name: legacy-web
segment: shop
mac: 02:00:00:00:00:03
ips: [10.1.0.3]
device: leaf1
port: 1
labels: {tier: web, legacy: "yes"}
---
kind: Endpoint
name: app-1
segment: shop
mac: 02:00:00:00:00:04
ips: [10.1.0.4]
device: leaf1
port: 1
labels: {tier: app}
---
kind: Endpoint
name: db-1
segment: shop
mac: 02:00:00:00:00:05
ips: [10.1.0.5]
device: leaf1
port: 1
labels: {tier: db}
---
kind: Endpoint
name: cache-1
segment: shop
mac: 02:00:00:00:00:06
ips: [10.1.0.6]
device: leaf1
port: 1
labels: {tier: cache}
`

// TestSuggest: the suggestion for a default-allow segment's observed
// flows groups ports into lists and ranges, merges identity pairs that
// share a selector, uses exact selectors (legacy web servers carry one
// more label and are left out), validates, and with the segment flipped
// to deny keeps every observed flow allowed and denies the rest.
func TestSuggest(t *testing.T) {
	m := mustModel(t, suggestWorld)
	a := netip.MustParseAddr
	obs := func(src, dst string, proto int, sport, dport uint16) ObservedFlow {
		return ObservedFlow{Flow: Flow{Segment: "shop", Src: a(src), Dst: a(dst), Proto: proto, SPort: sport, DPort: dport}, Count: 1, Verdict: VerdictAllow}
	}
	flows := []ObservedFlow{
		obs("10.1.0.1", "10.1.0.4", ProtoTCP, 40000, 8080),
		obs("10.1.0.2", "10.1.0.4", ProtoTCP, 40001, 8080),
		obs("10.1.0.1", "10.1.0.6", ProtoTCP, 40002, 8080), // web -> app and cache: merged
		obs("10.1.0.4", "10.1.0.5", ProtoTCP, 40003, 5432),
		obs("10.1.0.4", "10.1.0.5", ProtoTCP, 40004, 5433),
		obs("10.1.0.4", "10.1.0.5", ProtoTCP, 40005, 5434),
		obs("10.1.0.4", "10.1.0.5", ProtoTCP, 40006, 9000),
		obs("10.1.0.4", "10.1.0.5", ProtoICMP, 0, 0),
		obs("10.1.0.5", "10.9.9.9", ProtoUDP, 40007, 53), // no endpoint: skipped
	}
	res, err := Suggest(m, "shop", flows, false, DefaultPriority)
	if err != nil {
		t.Fatal(err)
	}
	got := string(Marshal(objectsOf(res.Policies)))
	for _, want := range []string{`from: "tier: web, !legacy"`, `to: "tier in (app, cache)"`, `ports: ["5432-5434", 9000]`, "proto: icmp", `from: "tier: app"`, `to: "tier: db"`} {
		if !strings.Contains(got, want) {
			t.Errorf("suggestion lacks %s:\n%s", want, got)
		}
	}
	if len(res.Policies) != 2 || res.Flows != 8 || res.Skipped["a side without an endpoint"] != 1 {
		t.Errorf("%d policies, %d flows, skipped %v:\n%s", len(res.Policies), res.Flows, res.Skipped, got)
	}
	// Flip the segment to deny, with the suggestion.
	seg := *m.Segments["shop"]
	seg.DefaultAllow = false
	flipped, _, err := m.With(append(objectsOf(res.Policies), &seg), nil)
	if err != nil {
		t.Fatal(err)
	}
	ev := NewEvaluator(flipped)
	for _, f := range flows[:8] {
		if d := ev.Decide(f.Flow, false); d.Verdict != VerdictAllow {
			t.Errorf("observed %+v: %s after the flip", f.Flow, d.Verdict)
		}
	}
	// And the rest is denied: other ports, the legacy server, reversed
	// directions, other pairs.
	for _, f := range []ObservedFlow{
		obs("10.1.0.3", "10.1.0.4", ProtoTCP, 40000, 8080),
		obs("10.1.0.1", "10.1.0.4", ProtoTCP, 40000, 8081),
		obs("10.1.0.4", "10.1.0.1", ProtoTCP, 40000, 8080),
		obs("10.1.0.1", "10.1.0.5", ProtoTCP, 40000, 5432),
		obs("10.1.0.4", "10.1.0.5", ProtoTCP, 40000, 5435),
		obs("10.1.0.4", "10.1.0.5", ProtoUDP, 40000, 5432),
	} {
		if d := ev.Decide(f.Flow, false); d.Verdict != VerdictDeny {
			t.Errorf("unobserved %+v: %s by %s after the flip", f.Flow, d.Verdict, d.Policy)
		}
	}
	// Staged: the same documents, mode staged; nothing to suggest for a
	// segment without flows; an unknown segment is an error.
	st, err := Suggest(m, "shop", flows, true, DefaultPriority)
	if err != nil || !st.Policies[0].Staged || !strings.Contains(string(Marshal(objectsOf(st.Policies))), "mode: staged") {
		t.Errorf("staged suggestion: %v", err)
	}
	if _, err := Suggest(m, "nope", flows, false, DefaultPriority); err == nil {
		t.Error("unknown segment accepted")
	}
	// Once enforced, the flows are allowed by a policy: nothing more.
	again, err := Suggest(flipped, "shop", flows, false, DefaultPriority)
	if err != nil || len(again.Policies) != 0 {
		t.Errorf("suggest on the flipped model: %v %s", err, fmt.Sprint(again.Policies))
	}
}

func objectsOf(ps []*Policy) []Object {
	out := make([]Object, len(ps))
	for i, p := range ps {
		out[i] = p
	}
	return out
}
