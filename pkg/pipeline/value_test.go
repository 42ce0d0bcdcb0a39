package pipeline

import (
	"bytes"
	"math/big"
	"net/netip"
	"testing"
)

func TestCanonical(t *testing.T) {
	cases := []struct{ in, want []byte }{
		{nil, []byte{0}},
		{[]byte{0}, []byte{0}},
		{[]byte{0, 0, 0}, []byte{0}},
		{[]byte{0, 1}, []byte{1}},
		{[]byte{0, 0x80, 0}, []byte{0x80, 0}},
		{[]byte{1, 0, 0}, []byte{1, 0, 0}},
	}
	for _, c := range cases {
		if got := Canonical(c.in); !bytes.Equal(got, c.want) {
			t.Errorf("Canonical(%x) = %x, want %x", c.in, got, c.want)
		}
	}
}

func TestEncodeWidths(t *testing.T) {
	cases := []struct {
		v     []byte
		width int32
		ok    bool
	}{
		{[]byte{1, 0xff}, 9, true},
		{[]byte{2, 0}, 9, false},
		{[]byte{0, 0, 0, 0, 0, 0, 0xff}, 8, true},
		{[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 48, true},
		{[]byte{1, 0, 0, 0, 0, 0, 0}, 48, false},
		{[]byte{3}, 2, true},
		{[]byte{4}, 2, false},
		{[]byte{1}, 1, true},
	}
	for _, c := range cases {
		_, err := Encode(c.v, c.width)
		if (err == nil) != c.ok {
			t.Errorf("Encode(%x, %d): err = %v, want ok=%v", c.v, c.width, err, c.ok)
		}
	}
}

func TestPrefixMask(t *testing.T) {
	cases := []struct {
		width, plen int32
		want        []byte
	}{
		{32, 24, []byte{0xff, 0xff, 0xff, 0}},
		{32, 0, []byte{0, 0, 0, 0}},
		{9, 9, []byte{0x01, 0xff}},
		{9, 1, []byte{0x01, 0x00}},
		{9, 2, []byte{0x01, 0x80}},
		{12, 4, []byte{0x0f, 0x00}},
		{128, 64, append(bytes.Repeat([]byte{0xff}, 8), make([]byte, 8)...)},
	}
	for _, c := range cases {
		if got := PrefixMask(c.width, c.plen); !bytes.Equal(got, c.want) {
			t.Errorf("PrefixMask(%d, %d) = %x, want %x", c.width, c.plen, got, c.want)
		}
	}
}

func TestAddrAndMAC(t *testing.T) {
	if got := Addr(netip.MustParseAddr("10.1.2.3")); !bytes.Equal(got, []byte{10, 1, 2, 3}) {
		t.Errorf("Addr v4 = %x", got)
	}
	if got := Addr(netip.MustParseAddr("2001:db8::1")); len(got) != 16 || got[15] != 1 {
		t.Errorf("Addr v6 = %x", got)
	}
	if m, err := MAC("02:00:00:00:00:0a"); err != nil || !bytes.Equal(m, []byte{2, 0, 0, 0, 0, 10}) {
		t.Errorf("MAC = %x, %v", m, err)
	}
	if _, err := MAC("02:00:00:00:00:00:00:0a"); err == nil {
		t.Error("MAC accepted an EUI-64")
	}
	if _, err := MAC("zz"); err == nil {
		t.Error("MAC accepted garbage")
	}
}

// FuzzEncode checks the value encoders against math/big: Encode accepts
// exactly the values that fit the width, its result is canonical, and it
// keeps the numeric value.
func FuzzEncode(f *testing.F) {
	f.Add([]byte{0, 0, 1}, int32(9))
	f.Add([]byte{}, int32(1))
	f.Add([]byte{0xff, 0xff}, int32(16))
	f.Add([]byte{1, 0}, int32(8))
	f.Fuzz(func(t *testing.T, v []byte, width int32) {
		if width <= 0 || width > 256 {
			t.Skip()
		}
		n := new(big.Int).SetBytes(v)
		c, err := Encode(v, width)
		fits := n.BitLen() <= int(width)
		if fits != (err == nil) {
			t.Fatalf("Encode(%x, %d): err = %v, value has %d bits", v, width, err, n.BitLen())
		}
		if err != nil {
			return
		}
		if len(c) == 0 || (len(c) > 1 && c[0] == 0) {
			t.Fatalf("Encode(%x) = %x is not canonical", v, c)
		}
		if new(big.Int).SetBytes(c).Cmp(n) != 0 {
			t.Fatalf("Encode(%x) = %x changed the value", v, c)
		}
		if BitLen(c) != n.BitLen() {
			t.Fatalf("BitLen(%x) = %d, want %d", c, BitLen(c), n.BitLen())
		}
		if n.BitLen() <= 64 {
			u, err := ToUint64(c)
			if err != nil || u != n.Uint64() {
				t.Fatalf("ToUint64(%x) = %d, %v; want %d", c, u, err, n.Uint64())
			}
			if !bytes.Equal(Uint(u), c) {
				t.Fatalf("Uint(%d) = %x, want %x", u, Uint(u), c)
			}
		}
		// A prefix mask of the full width selects the value unchanged.
		if !bytes.Equal(Canonical(and(c, PrefixMask(width, width))), c) {
			t.Fatalf("full-width mask changed %x", c)
		}
	})
}
