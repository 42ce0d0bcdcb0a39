package controller

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// identityOf is the identity id of the endpoint called name on the
// controller's compiled model.
func identityOf(t *testing.T, c *Controller, name string) uint64 {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := uint32(1); id < 1000; id++ {
		if _, _, eps, ok := c.compiler.IdentityOf(id); ok && slices.Contains(eps, name) {
			return uint64(id)
		}
	}
	t.Fatalf("no identity has %s", name)
	return 0
}

func denialData(t *testing.T, d *pipeline.Digest, v map[string]uint64, src, dst string) *p4v1.P4Data {
	t.Helper()
	vals := map[string][]byte{}
	for k, x := range v {
		vals[k] = pipeline.Uint(x)
	}
	vals["src_addr"] = netip.MustParseAddr(src).AsSlice()
	vals["dst_addr"] = netip.MustParseAddr(dst).AsSlice()
	data, err := d.Encode(vals)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// TestDenialLog: the device's denial digest is configured when the
// pipeline reaches it; reports become flow records named from the model,
// counted per flow, traced again to the step that denied them, and
// followed live; every list is acknowledged; a report naming an identity
// or a protocol version the model cannot have is counted, not logged.
func TestDenialLog(t *testing.T) {
	_, c, d1, _, _ := exampleInSync(t)
	var st DeviceStatus
	for _, s := range c.Devices() {
		if s.Name == "leaf1" {
			st = s
		}
	}
	if st.DenialLog != "on" {
		t.Fatalf("denial log %q, want on", st.DenialLog)
	}
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	dg, ok := p.Info.Digest(DenialDigest)
	if !ok {
		t.Fatal("the embedded pipeline has no denial digest")
	}
	web, db := identityOf(t, c, "web-1"), identityOf(t, c, "db-1")
	flow := map[string]uint64{"segment": 10, "ingress_port": 1, "src_identity": web, "dst_identity": db, "ip_version": 4,
		"ip_proto": 6, "l4_src": 40000, "l4_dst": 5432, "tcp_flags": 2, "denied_by": 3}
	follow, stop := c.FollowDenials()
	defer stop()
	for range 3 {
		if !d1.srv.InjectDigest(dg.ID, denialData(t, dg, flow, "10.0.0.1", "10.0.0.4")) {
			t.Fatal("the sim did not send the digest (not configured?)")
		}
	}
	eventually(t, 5*time.Second, func() bool {
		ds := c.Denials("leaf1", time.Time{})
		return len(ds) == 1 && ds[0].Count == 3
	}, func() string { return "" })
	r := c.Denials("", time.Time{})[0]
	if r.SrcName != "web-1" || r.DstName != "db-1" || r.Segment != "prod" || r.DeniedBy != "default" || r.DPort != 5432 || r.Proto != 6 {
		t.Errorf("record %+v", r)
	}
	if !strings.HasPrefix(r.Trace, "deny") || r.Dissented {
		t.Errorf("trace of the denial: %q (disagrees %v), want a deny", r.Trace, r.Dissented)
	}
	select {
	case got := <-follow:
		if got.Src != netip.MustParseAddr("10.0.0.1") {
			t.Errorf("followed %+v", got)
		}
	case <-time.After(time.Second):
		t.Error("nothing followed")
	}
	eventually(t, 5*time.Second, func() bool { return d1.srv.UnackedDigests(dg.ID) == 0 },
		func() string { return "digest lists left unacknowledged" })

	// Another port is another flow; IPv6 too.
	flow6 := map[string]uint64{"segment": 10, "ingress_port": 1, "src_identity": web, "dst_identity": db, "ip_version": 6,
		"ip_proto": 6, "l4_src": 40000, "l4_dst": 22, "denied_by": 3}
	d1.srv.InjectDigest(dg.ID, denialData(t, dg, flow6, "2001:db8::1", "2001:db8::4"))
	// Bad input: an identity the model has never had; an IP version 5.
	bad := with(flow, map[string]uint64{"src_identity": 999})
	d1.srv.InjectDigest(dg.ID, denialData(t, dg, bad, "10.0.0.1", "10.0.0.4"))
	d1.srv.InjectDigest(dg.ID, denialData(t, dg, with(flow, map[string]uint64{"ip_version": 5}), "10.0.0.1", "10.0.0.4"))
	eventually(t, 5*time.Second, func() bool {
		_, dropped, _ := c.denials.counts()
		return len(c.Denials("", time.Time{})) == 2 && dropped[[2]string{"leaf1", "unknown identity"}] == 1 && dropped[[2]string{"leaf1", "malformed"}] == 1
	}, func() string {
		_, dropped, _ := c.denials.counts()
		return fmt.Sprintf("records %s; dropped %v", fmtDenials(c.Denials("", time.Time{})), dropped)
	})
	if ds := c.Denials("", time.Now().Add(time.Hour)); len(ds) != 0 {
		t.Errorf("since an hour ahead: %d records", len(ds))
	}
}

func with(a, b map[string]uint64) map[string]uint64 {
	out := map[string]uint64{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}

func fmtDenials(ds []Denial) string {
	var b strings.Builder
	for _, d := range ds {
		b.WriteString(d.Src.String() + "->" + d.Dst.String() + " ")
	}
	return b.String()
}
