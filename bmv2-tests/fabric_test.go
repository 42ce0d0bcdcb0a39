package bmv2tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/p4ctl/p4ctl/internal/frametest"
	"github.com/p4ctl/p4ctl/pkg/controller"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

// TestFabricAcrossTwoSwitches: two BMv2 switches cabled uplink to uplink.
// Once the controller has learned the cable from its own LLDP, traffic
// between the leaves crosses it tagged with the sender's segment, role
// and community: the policy allows what it says, the default denies the
// rest, PVLAN isolation holds across the cable as on one switch, floods
// reach the other leaf once, and a tag sent from an access port is
// dropped.
func TestFabricAcrossTwoSwitches(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sw1, sw2, ctl, start := twoLeaves(ctx, t, "fabric", []uint32{1}, []uint32{2, 3}, "fabric-traffic.yaml")
	// In sync with the cable in the compiled state: leaf1 forwards db's
	// MAC out of its uplink.
	dbMAC := frametest.MustMAC("02:00:00:00:0a:04")
	// The compiled state first, then the devices: a compile enqueues its
	// changes (and marks the devices out of sync) under the lock Trace
	// takes, so devices in sync after the trace saw the cable hold it.
	waitFor(t, ctx, func() bool {
		res, err := ctl.Trace("leaf1", policy.Packet{InPort: 1, Src: netip.MustParseAddr("10.0.0.1"), Dst: netip.MustParseAddr("10.0.0.4"),
			Proto: policy.ProtoTCP, SPort: 40000, DPort: 5432, TCPFlags: 0x02})
		if err != nil || res.Verdict != policy.VerdictAllow || len(res.Ports) != 1 || res.Ports[0] != 9 {
			return false
		}
		return allInSync(ctl, 2)
	}, func() string { return fmt.Sprintf("devices %+v", ctl.Devices()) })
	t.Logf("cable learned and both leaves programmed for it %s after apply", time.Since(start).Round(time.Millisecond))

	webA := host{Name: "web-a", Port: 1, MAC: frametest.MustMAC("02:00:00:00:0a:01"), IP4: netip.MustParseAddr("10.0.0.1"), IP6: netip.MustParseAddr("2001:db8::1")}
	db := host{Name: "db", Port: 2, MAC: dbMAC, IP4: netip.MustParseAddr("10.0.0.4"), IP6: netip.MustParseAddr("2001:db8::4")}
	webB := host{Name: "web-b", Port: 3, MAC: frametest.MustMAC("02:00:00:00:0a:02"), IP4: netip.MustParseAddr("10.0.0.2"), IP6: netip.MustParseAddr("2001:db8::2")}
	tcp := func(src, dst host, port uint16, v6 bool, tok string) []byte {
		return flow{Src: src, Dst: dst, Proto: layers.IPProtocolTCP, SPort: 40000, DPort: port, SYN: true, V6: v6, Token: tok}.Frame(t)
	}
	switches := []*Switch{sw1, sw2}
	n := 0
	tok := func() string { n++; return fmt.Sprintf("p4ctl-fabric-%d-%06d.", os.Getpid(), n) }

	cases := []struct {
		name string
		from *Switch
		port uint32
		make func(tok string) []byte
		want []string // "leafN/port"
	}{
		{"web to db tcp/5432 across the fabric", sw1, 1, func(k string) []byte { return tcp(webA, db, 5432, false, k) }, []string{"leaf2/2"}},
		{"the same over IPv6", sw1, 1, func(k string) []byte { return tcp(webA, db, 5432, true, k) }, []string{"leaf2/2"}},
		{"tcp/22 is default-denied at the first hop", sw1, 1, func(k string) []byte { return tcp(webA, db, 22, false, k) }, nil},
		{"web to web tcp/8080: allowed by policy, isolated by PVLAN across the fabric", sw1, 1,
			func(k string) []byte { return tcp(webA, webB, 8080, false, k) }, nil},
		{"db replies to web across the fabric", sw2, 2,
			func(k string) []byte {
				return flow{Src: db, Dst: webA, Proto: layers.IPProtocolTCP, SPort: 5432, DPort: 40000, SYN: true, ACK: true, Token: k}.Frame(t)
			}, []string{"leaf1/1"}},
		{"a broadcast from an isolated port reaches the promiscuous port across the fabric, not the isolated one", sw1, 1,
			func(k string) []byte { return frametest.ARPRequest(t, webA, db.IP4, k) }, []string{"leaf2/2"}},
		{"a fabric tag sent from an access port is dropped", sw2, 2,
			func(k string) []byte { return tagged(t, tcp(db, webB, 8080, false, k), 10, 2) }, nil},
	}
	for _, c := range cases {
		k := tok()
		if err := c.from.Ports[c.port].Send(c.make(k)); err != nil {
			t.Fatal(err)
		}
		got := collect(switches, k, len(c.want))
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%s: delivered to %v, want %v", c.name, got, c.want)
		}
	}

	// The denied-flow log: leaf1 reports what it denies; the record
	// names the endpoints and traces back to the default deny.
	if st := deviceStatus(ctl, "leaf1"); st.DenialLog != "on" {
		t.Fatalf("leaf1's denial log: %q", st.DenialLog)
	}
	sent := time.Now()
	if err := sw1.Ports[1].Send(tcp(webA, db, 23, false, tok())); err != nil {
		t.Fatal(err)
	}
	var rec controller.Denial
	waitFor(t, ctx, func() bool {
		for _, d := range ctl.Denials("leaf1", sent) {
			if d.DPort == 23 {
				rec = d
				return true
			}
		}
		return false
	}, func() string { return fmt.Sprintf("denials %+v", ctl.Denials("", time.Time{})) })
	t.Logf("a denied flow was in the log %s after its packet", time.Since(sent).Round(time.Millisecond))
	if took := rec.First.Sub(sent); took > 2*time.Second {
		t.Errorf("denial logged %s after the packet, want within 2s", took)
	}
	if rec.SrcName != "web-a" || rec.DstName != "db" || rec.DeniedBy != "default" || !strings.HasPrefix(rec.Trace, "deny") {
		t.Errorf("denial record %+v", rec)
	}

	// A port scan: 10,000 SYNs from web-a to db's ports 30000-39999, with
	// an allowed connection attempt every 1,000. The switch reports a
	// bounded sample; the allowed packets all arrive.
	scanStart := time.Now()
	var allowed []string
	for range 10 {
		allowed = append(allowed, tok())
	}
	// Collect while sending: the switches' host ports also carry the
	// controller's LLDP probes, which would fill the test's buffers.
	gotc := make(chan map[string][]string, 1)
	go func() { gotc <- collectAll(switches, allowed, 90*time.Second) }()
	// Paced at about 2,000 packets/s, what one BMv2 switch forwards
	// without dropping from its queue (a faster burst loses packets of
	// every kind to the queue, which says nothing of the pipeline).
	for i := range 10000 {
		if err := sw1.Ports[1].Send(tcp(webA, db, uint16(30000+i), false, tok())); err != nil {
			t.Fatal(err)
		}
		if i%10 == 9 {
			time.Sleep(5 * time.Millisecond)
		}
		if i%1000 == 999 {
			if err := sw1.Ports[1].Send(tcp(webA, db, 5432, false, allowed[i/1000])); err != nil {
				t.Fatal(err)
			}
		}
	}
	sendTook := time.Since(scanStart)
	got := <-gotc
	t.Logf("the scan's allowed packets all arrived %s after it began (sending took %s)", time.Since(scanStart).Round(time.Millisecond), sendTook.Round(time.Millisecond))
	for _, k := range allowed {
		if fmt.Sprint(got[k]) != "[leaf2/2]" {
			t.Errorf("allowed packet %s during the scan delivered to %v, want [leaf2/2]", k, got[k])
		}
	}
	time.Sleep(time.Second) // the last digest lists
	reports, flows := uint64(0), 0
	for _, d := range ctl.Denials("leaf1", scanStart) {
		if d.DPort >= 30000 && d.DPort < 40000 {
			reports += d.Count
			flows++
		}
	}
	t.Logf("a 10,000-packet port scan gave %d denial reports, %d flow records, %s after it began",
		reports, flows, time.Since(scanStart).Round(time.Millisecond))
	if reports == 0 || reports > 100 || flows > int(reports) {
		t.Errorf("port scan: %d reports, %d records; want 1-100 reports, a record per reported flow", reports, flows)
	}

	// The policy counters, read from both switches: each allowed packet
	// counted once, on the policy and rule that allowed it, at its first
	// hop: web to db 12 times on leaf1 (IPv4 and IPv6 share the identity
	// pair's entry), db's reply once on leaf2, and web-peers once on leaf1
	// (allowed there; PVLAN dropped it at leaf2); web-peers has entries on
	// leaf2 too (web-b's), listed with no hits.
	cs, err := ctl.Counters(ctx, "", true)
	if err != nil {
		t.Fatal(err)
	}
	hits := map[string]uint64{}
	for _, d := range cs {
		if d.Error != "" {
			t.Errorf("%s: %s", d.Device, d.Error)
		}
		for _, p := range d.Policies {
			hits[d.Device+"/"+p.Policy] = p.Packets
			if len(p.Rules) != 1 || p.Rules[0].Rule != 0 || p.Rules[0].Packets != p.Packets {
				t.Errorf("%s/%s: rules %+v, want all on rule 0", d.Device, p.Policy, p.Rules)
			}
		}
	}
	want := map[string]uint64{"leaf1/web-to-db": 12, "leaf2/web-to-db": 1, "leaf1/web-peers": 1, "leaf2/web-peers": 0}
	if fmt.Sprint(hits) != fmt.Sprint(want) {
		t.Errorf("policy hits %v, want %v", hits, want)
	}
}

func deviceStatus(ctl *controller.Controller, name string) controller.DeviceStatus {
	for _, d := range ctl.Devices() {
		if d.Name == name {
			return d
		}
	}
	return controller.DeviceStatus{}
}

// collectAll is which "leafN/port" host ports received a frame carrying
// each of toks, waiting until every token has arrived somewhere or
// within, then quietWindow for copies.
func collectAll(switches []*Switch, toks []string, within time.Duration) map[string][]string {
	return collectFrames(switches, toks, 1, within)
}

// collectFrames is which "leafN/port" host ports received a frame
// carrying each of toks (with "+tag" when it still has a fabric tag):
// once each token has arrived want times (0: at once), it watches a
// further quietWindow for more, and gives up at within.
func collectFrames(switches []*Switch, toks []string, want int, within time.Duration) map[string][]string {
	type rx struct {
		sw int
		f  Frame
	}
	ch := make(chan rx, 1024)
	stop := make(chan struct{})
	defer close(stop)
	for i, sw := range switches {
		go func() {
			for {
				select {
				case f := <-sw.Frames():
					select {
					case ch <- rx{i, f}:
					case <-stop:
						return
					}
				case <-stop:
					return
				}
			}
		}()
	}
	got := map[string][]string{}
	deadline := time.After(within)
	var quiet <-chan time.Time
	complete := func() bool {
		for _, k := range toks {
			if len(got[k]) < want {
				return false
			}
		}
		return true
	}
	if complete() {
		quiet = time.After(quietWindow)
	}
	for {
		select {
		case r := <-ch:
			for _, k := range toks {
				if bytes.Contains(r.f.Data, []byte(k)) {
					s := fmt.Sprintf("leaf%d/%d", r.sw+1, r.f.Port)
					if len(r.f.Data) > 13 && r.f.Data[12] == 0x88 && r.f.Data[13] == 0xb5 {
						s += "+tag"
					}
					got[k] = append(got[k], s)
				}
			}
			if quiet == nil && complete() {
				quiet = time.After(quietWindow)
			}
		case <-quiet:
			return got
		case <-deadline:
			return got
		}
	}
}

// tagged puts a fabric tag (segment, role) on an Ethernet frame.
func tagged(t *testing.T, frame []byte, segment uint16, role uint8) []byte {
	t.Helper()
	tag := make([]byte, 8)
	tag[0], tag[1] = 1, role
	binary.BigEndian.PutUint16(tag[2:], segment)
	copy(tag[6:], frame[12:14])
	out := append(bytes.Clone(frame[:12]), 0x88, 0xb5)
	out = append(out, tag...)
	return append(out, frame[14:]...)
}

// collect returns the "leafN/port" host ports that received a frame
// carrying tok, sorted: once want ports have, it watches a further
// quietWindow for more; with fewer, until deliverWithin. A frame that
// still carries a fabric tag counts as "leafN/port+tag".
func collect(switches []*Switch, tok string, want int) []string {
	got := collectFrames(switches, []string{tok}, want, deliverWithin)[tok]
	out := slices.Clone(got)
	slices.Sort(out)
	return out
}
