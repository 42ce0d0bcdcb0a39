package swxtests

import (
	"net/netip"
	"testing"

	"github.com/gopacket/gopacket/layers"

	"github.com/p4ctl/p4ctl/internal/frametest"
)

// The example's endpoints (examples/segmentation.yaml): web-1 and web-2
// isolated on ports 1-2, app-1 and db-1 promiscuous on 3-4, batch-1 and
// batch-2 community 100 on 5-6, guest-1 isolated in the guest segment on
// port 8; port 7 is configured by nobody.
func h(t *testing.T, name string) host {
	t.Helper()
	x, ok := env.hosts[name]
	if !ok {
		t.Fatalf("no endpoint %s", name)
	}
	return x
}

type deliveryCase struct {
	name string
	f    flow
	want []uint32
}

func runDeliveries(t *testing.T, cases []deliveryCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tok := token(t)
			send(t, c.f.Src.Port, c.f.WithToken(tok).Frame(t))
			expectDelivery(t, tok, c.want...)
		})
	}
}

// TestPolicyAllowDenyReply: web-to-app allows tcp/8080 (and its replies),
// nothing else between them; prod denies by default.
func TestPolicyAllowDenyReply(t *testing.T) {
	requireDPDK(t)
	web, app, db := h(t, "web-1"), h(t, "app-1"), h(t, "db-1")
	v6 := func(f flow) flow { f.V6 = true; return f }
	runDeliveries(t, []deliveryCase{
		{"web to app tcp/8080", tcp(web, app, 40001, 8080, true, false), []uint32{app.Port}},
		{"reply app to web from 8080 with ACK", tcp(app, web, 8080, 40001, true, true), []uint32{web.Port}},
		{"app to web from 8080 without ACK", tcp(app, web, 8080, 40001, true, false), nil},
		{"web to app tcp/22", tcp(web, app, 40002, 22, true, false), nil},
		{"web to db tcp/5432 (no policy)", tcp(web, db, 40003, 5432, true, false), nil},
		{"web to app tcp/8080 IPv6", v6(tcp(web, app, 40001, 8080, true, false)), []uint32{app.Port}},
		{"web to app tcp/22 IPv6", v6(tcp(web, app, 40002, 22, true, false)), nil},
	})
}

// TestIsolation: isolated ports reach promiscuous ones only, communities
// their own members.
func TestIsolation(t *testing.T) {
	requireDPDK(t)
	web1, web2, b1, b2, app := h(t, "web-1"), h(t, "web-2"), h(t, "batch-1"), h(t, "batch-2"), h(t, "app-1")
	runDeliveries(t, []deliveryCase{
		{"isolated to isolated", tcp(web1, web2, 40001, 8080, true, false), nil},
		{"isolated to isolated reverse", tcp(web2, web1, 40001, 8080, true, false), nil},
		{"community peers", udp(b1, b2, 7000), []uint32{b2.Port}},
		{"community to isolated", udp(b1, web1, 7000), nil},
		{"from an unconfigured port", flow{Src: host{Port: 7, MAC: frametest.MustMAC("02:00:00:00:00:07"), IP4: netip.MustParseAddr("10.0.0.7")}, Dst: app, Proto: layers.IPProtocolUDP, SPort: 1, DPort: 8080}, nil},
	})
}

// TestAntiSpoofing: a source address or MAC that is not the port's
// endpoint's is dropped.
func TestAntiSpoofing(t *testing.T) {
	requireDPDK(t)
	web, app := h(t, "web-1"), h(t, "app-1")
	spoof := func(f flow, ip string, mac string) flow {
		if ip != "" {
			f.SrcIP = netip.MustParseAddr(ip)
			f.V6 = f.SrcIP.Is6()
		}
		if mac != "" {
			f.SrcMAC = frametest.MustMAC(mac)
		}
		return f
	}
	runDeliveries(t, []deliveryCase{
		{"genuine", tcp(web, app, 40001, 8080, true, false), []uint32{app.Port}},
		{"spoofed IPv4 source", spoof(tcp(web, app, 40001, 8080, true, false), "10.0.0.99", ""), nil},
		{"another endpoint's IPv4", spoof(tcp(web, app, 40001, 8080, true, false), "10.0.0.2", ""), nil},
		{"spoofed MAC", spoof(tcp(web, app, 40001, 8080, true, false), "", "02:00:00:00:00:02"), nil},
		{"spoofed IPv6 source", spoof(tcp(web, app, 40001, 8080, true, false), "2001:db8::99", ""), nil},
	})
}
