package lldp

import (
	"net"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

var src = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x01}

func sample() Frame {
	return Frame{ChassisIDSubtype: ChassisMAC, ChassisID: string(src), PortIDSubtype: PortIfName, PortID: "eth0",
		TTL: 120 * time.Second, PortDescription: "uplink", SystemName: "web-01", SystemDescription: "Debian 12",
		ManagementAddresses: []netip.Addr{netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")}}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []Frame{
		sample(),
		{ChassisIDSubtype: ChassisLocal, ChassisID: "p4ctl:leaf1", PortIDSubtype: PortLocal, PortID: "7", TTL: 0},
		{ChassisIDSubtype: ChassisLocal, ChassisID: strings.Repeat("c", 255), PortIDSubtype: PortLocal, PortID: strings.Repeat("p", 255), TTL: MaxTTL},
	} {
		b, err := f.Marshal(src)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(b[:6], []byte(MulticastMAC)) || b[12] != 0x88 || b[13] != 0xcc {
			t.Errorf("header % x", b[:14])
		}
		got, err := Parse(b)
		if err != nil {
			t.Fatalf("%v: %v", f, err)
		}
		if !reflect.DeepEqual(got, f) {
			t.Errorf("round trip:\n got %+v\nwant %+v", got, f)
		}
	}
	if s := sample().ChassisString(); s != "02:00:00:00:00:01" {
		t.Errorf("chassis string %q", s)
	}
	na := Frame{PortIDSubtype: PortNetwork, PortID: "\x01" + string(netip.MustParseAddr("10.1.2.3").AsSlice())}
	if s := na.PortString(); s != "10.1.2.3" {
		t.Errorf("network port string %q", s)
	}
}

func TestMarshalErrors(t *testing.T) {
	for name, tt := range map[string]struct {
		f    func(*Frame)
		want string
	}{
		"empty chassis":  {func(f *Frame) { f.ChassisID = "" }, "chassis ID of 0 bytes"},
		"long port":      {func(f *Frame) { f.PortID = strings.Repeat("x", 256) }, "port ID of 256 bytes"},
		"bad subtype":    {func(f *Frame) { f.ChassisIDSubtype = 9 }, "subtype 9"},
		"negative TTL":   {func(f *Frame) { f.TTL = -time.Second }, "TTL"},
		"huge TTL":       {func(f *Frame) { f.TTL = MaxTTL + time.Second }, "TTL"},
		"fractional TTL": {func(f *Frame) { f.TTL = 1500 * time.Millisecond }, "whole seconds"},
		"long name":      {func(f *Frame) { f.SystemName = strings.Repeat("n", 256) }, "system name of 256 bytes"},
	} {
		f := sample()
		tt.f(&f)
		if _, err := f.Marshal(src); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tt.want)
		}
	}
	if _, err := sample().Marshal(net.HardwareAddr{1, 2}); err == nil {
		t.Error("short source MAC accepted")
	}
}

// tlv builds one TLV.
func tlv(typ byte, v ...byte) []byte {
	return append([]byte{typ<<1 | byte(len(v)>>8), byte(len(v))}, v...)
}

func TestParseErrors(t *testing.T) {
	eth := append(append(append([]byte{}, MulticastMAC...), src...), 0x88, 0xcc)
	chassis, port, ttl, end := tlv(1, 4, 2, 0, 0, 0, 0, 1), tlv(2, 5, 'e', '0'), tlv(3, 0, 120), tlv(0)
	cat := func(parts ...[]byte) []byte {
		b := append([]byte{}, eth...)
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	if _, err := Parse(cat(chassis, port, ttl, tlv(5, 'h'), end, []byte{0, 0, 0})); err != nil {
		t.Fatalf("valid frame with padding: %v", err)
	}
	tests := map[string]struct {
		b    []byte
		want string
	}{
		"short":             {eth[:10], "shorter than an Ethernet header"},
		"other ethertype":   {append(append([]byte{}, eth[:12]...), 0x08, 0x00, 0x45), "not an LLDP frame"},
		"port before":       {cat(port, chassis, ttl, end), "chassis ID TLV must come there"},
		"no TTL":            {cat(chassis, port, end), "TTL TLV must come there"},
		"second chassis":    {cat(chassis, port, ttl, chassis, end), "second chassis ID"},
		"no end":            {cat(chassis, port, ttl), "without an End TLV"},
		"truncated TLV":     {cat(chassis, port, ttl, []byte{5 << 1, 40, 'x'}), "runs past the frame"},
		"TTL of 3 bytes":    {cat(chassis, port, tlv(3, 0, 0, 120), end), "TTL TLV of 3 bytes"},
		"empty chassis ID":  {cat(tlv(1, 4), port, ttl, end), "ChassisID"},
		"chassis subtype 0": {cat(tlv(1, 0, 'x'), port, ttl, end), "Missing mandatory"},
	}
	for name, tt := range tests {
		if _, err := Parse(tt.b); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", name, err, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, fr := range []Frame{sample(), {ChassisIDSubtype: ChassisLocal, ChassisID: "x", PortIDSubtype: PortLocal, PortID: "1", TTL: 0}} {
		b, _ := fr.Marshal(src)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := Parse(b)
		if err != nil {
			return
		}
		// Whatever parses re-encodes, and parses back the same.
		out, err := fr.Marshal(src)
		if err != nil {
			t.Fatalf("parsed %+v does not encode: %v", fr, err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-encoded frame does not parse: %v", err)
		}
		if !reflect.DeepEqual(again, fr) {
			t.Fatalf("re-encode changed the frame:\n got %+v\nwant %+v", again, fr)
		}
	})
}

func TestTable(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tab := NewTable(2)
	f := sample()
	if !tab.Update("eth0", f, t0) {
		t.Fatal("first frame did not change the table")
	}
	select {
	case <-tab.Changes():
	default:
		t.Fatal("no change signal")
	}
	if tab.Update("eth0", f, t0.Add(30*time.Second)) {
		t.Error("a refresh with the same content counted as a change")
	}
	if got := tab.NextExpiry(); !got.Equal(t0.Add(150 * time.Second)) {
		t.Errorf("next expiry %v after a refresh", got)
	}
	changed := f
	changed.SystemName = "web-02"
	if !tab.Update("eth0", changed, t0.Add(31*time.Second)) {
		t.Error("a new system name is not a change")
	}
	// The same neighbor heard on another interface is another entry.
	tab.Update("eth1", f, t0)
	if n := len(tab.Neighbors()); n != 2 {
		t.Fatalf("%d neighbors", n)
	}
	// The bound: a third neighbor on eth0 is refused, the known kept.
	other := f
	other.ChassisID = "other"
	tab.Update("eth0", other, t0)
	third := f
	third.ChassisID = "third"
	if tab.Update("eth0", third, t0) || tab.Dropped() != 1 {
		t.Errorf("third neighbor on a full interface: dropped %d", tab.Dropped())
	}
	// Expiry follows each neighbor's TTL; nothing expires early.
	if tab.Expire(t0.Add(119 * time.Second)) {
		t.Error("expired before the TTL")
	}
	if !tab.Expire(t0.Add(120 * time.Second)) {
		t.Error("nothing expired at the TTL")
	}
	var names []string
	for _, n := range tab.Neighbors() {
		names = append(names, n.LocalInterface+"/"+n.ChassisID)
	}
	if want := []string{"eth0/" + f.ChassisID}; !reflect.DeepEqual(names, want) {
		t.Errorf("after expiry %q, want %q (the refreshed one)", names, want)
	}
	// A shutdown frame removes the neighbor at once.
	bye := changed
	bye.TTL = 0
	if !tab.Update("eth0", bye, t0.Add(40*time.Second)) || len(tab.Neighbors()) != 0 {
		t.Errorf("shutdown frame: %v", tab.Neighbors())
	}
	tab.Update("eth3", f, t0)
	if !tab.RemoveInterface("eth3") || len(tab.Neighbors()) != 0 {
		t.Error("RemoveInterface left neighbors")
	}
}
