package chaos

import (
	"bytes"
	"testing"
)

// The base policy and a batch of endpoints are one valid model that
// compiles; every endpoint has a MAC and an address of its own.
func TestDocsCompile(t *testing.T) {
	docs := baseDocs([]string{"127.0.0.1:1", "127.0.0.1:2"})
	const endpoints = 300
	for n := 1; n <= endpoints; n++ {
		docs = append(append(docs, "---\n"...), endpointDoc(n, numDevices)...)
	}
	model, err := canonicalModel("test", docs)
	if err != nil {
		t.Fatal(err)
	}
	if want := 1 + 2 + 2*portsPerDev + 1 + endpoints; len(model) != want {
		t.Errorf("%d objects, want %d", len(model), want)
	}
	c, err := compileDocs("test", docs)
	if err != nil {
		t.Fatal(err)
	}
	// A device holds the destination identities its sources may reach:
	// the only policy is web to app (with replies app to web), so every
	// device holding both tiers holds every web and app endpoint's.
	webApp := 0
	for n := 1; n <= endpoints; n++ {
		if b := endpointDoc(n, numDevices); bytes.Contains(b, []byte("tier: web")) || bytes.Contains(b, []byte("tier: app")) {
			webApp++
		}
	}
	for _, dev := range []string{"sw1", "sw2"} {
		got := c.counts[dev]
		if got["ingress.ports"] != portsPerDev || got["ingress.l2"] != endpoints/numDevices || got["ingress.dst_identity_v4"] != webApp {
			t.Errorf("%s: %v", dev, got)
		}
		if got["ingress.policy_port"] == 0 {
			t.Errorf("%s: no policy entries: %v", dev, got)
		}
		if c.groups[dev] != 1 || c.info[dev] == nil {
			t.Errorf("%s: %d groups, info %v", dev, c.groups[dev], c.info[dev] != nil)
		}
	}
}

func TestEndpointDocDistinct(t *testing.T) {
	a, b := endpointDoc(1, 2), endpointDoc(257, 2)
	if bytes.Equal(a, b) {
		t.Fatal("two endpoints, one document")
	}
	for _, want := range []string{"name: ep-257", `mac: "02:c4:00:00:01:01"`, "ips: [10.64.1.1]", "device: sw2", "port: 1", "tier: web"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("endpoint 257 lacks %q:\n%s", want, b)
		}
	}
}
