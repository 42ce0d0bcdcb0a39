package chaos

import (
	"fmt"
	"strings"
)

// The policy the run applies: one segment, the devices, ports on each
// device, one policy between two tiers, and numbered endpoints.
const (
	segmentName = "chaos"
	segmentID   = 10
	portsPerDev = 4
)

// tiers are the endpoints' tier labels, cycled by endpoint number, so the
// identities stay few while endpoints grow.
var tiers = []string{"web", "app", "db", "cache"}

// deviceName is the name of the i-th device (0-based).
func deviceName(i int) string { return fmt.Sprintf("sw%d", i+1) }

// baseDocs is the policy applied before the run: a Segment, a Device per
// address, Ports 1 to portsPerDev on each device (isolated, promiscuous
// and community roles), and a Policy from web to app on TCP 8080.
func baseDocs(devAddrs []string) []byte {
	var b strings.Builder
	doc := func(format string, args ...any) {
		if b.Len() > 0 {
			b.WriteString("---\n")
		}
		fmt.Fprintf(&b, format, args...)
	}
	doc("kind: Segment\nname: %s\nid: %d\ndefault: deny\n", segmentName, segmentID)
	for i, addr := range devAddrs {
		doc("kind: Device\nname: %s\naddress: %q\ndevice_id: 1\ntarget: bmv2\n", deviceName(i), addr)
	}
	for i := range devAddrs {
		for p := 1; p <= portsPerDev; p++ {
			switch p % 3 {
			case 0:
				doc("kind: Port\ndevice: %s\nport: %d\nsegment: %s\nrole: community\ncommunity: 7\n", deviceName(i), p, segmentName)
			case 1:
				doc("kind: Port\ndevice: %s\nport: %d\nsegment: %s\nrole: isolated\n", deviceName(i), p, segmentName)
			default:
				doc("kind: Port\ndevice: %s\nport: %d\nsegment: %s\nrole: promiscuous\n", deviceName(i), p, segmentName)
			}
		}
	}
	doc("kind: Policy\nname: web-to-app\nsegment: %s\nfrom: \"tier: web\"\nto: \"tier: app\"\nrules: [{proto: tcp, ports: [8080]}]\n", segmentName)
	return []byte(b.String())
}

// endpointName is the name of endpoint n.
func endpointName(n int) string { return fmt.Sprintf("ep-%d", n) }

// endpointDoc is endpoint n (n >= 1, below 2^22): a MAC and an IPv4
// address of its own, a port on one of devices devices, and a tier;
// every device gets every tier and port in turn.
func endpointDoc(n, devices int) []byte {
	ip := 0x0a400000 + n // 10.64.0.0/10
	dev := n % devices
	tier := tiers[(n/devices)%len(tiers)]
	port := 1 + (n/devices/len(tiers))%portsPerDev
	return fmt.Appendf(nil, "kind: Endpoint\nname: %s\nsegment: %s\nmac: \"02:c4:%02x:%02x:%02x:%02x\"\nips: [%d.%d.%d.%d]\ndevice: %s\nport: %d\nlabels: {app: chaos, tier: %s}\n",
		endpointName(n), segmentName, byte(n>>24), byte(n>>16), byte(n>>8), byte(n),
		byte(ip>>24), byte(ip>>16), byte(ip>>8), byte(ip), deviceName(dev), port, tier)
}
