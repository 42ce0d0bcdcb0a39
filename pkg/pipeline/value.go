package pipeline

import (
	"fmt"
	"math/bits"
	"net"
	"net/netip"
)

// P4Runtime carries every bit<W> value as a big-endian bytestring. Since
// P4Runtime 1.3 the canonical form has no leading zero bytes, and zero is a
// single 0x00 byte. Targets accept longer forms but echo the canonical one on
// read, so the controller writes canonical bytes only: that way a value read
// back compares equal to what was written.

// Canonical returns b without leading zero bytes; the value zero is {0}.
// The result aliases b.
func Canonical(b []byte) []byte {
	i := 0
	for i < len(b)-1 && b[i] == 0 {
		i++
	}
	if len(b) == 0 {
		return []byte{0}
	}
	return b[i:]
}

// BitLen returns the number of significant bits of the big-endian value b.
func BitLen(b []byte) int {
	for i, x := range b {
		if x != 0 {
			return (len(b)-i-1)*8 + bits.Len8(x)
		}
	}
	return 0
}

// Encode returns the canonical form of b, or an error when the value needs
// more than width bits.
func Encode(b []byte, width int32) ([]byte, error) {
	if n := BitLen(b); n > int(width) {
		return nil, fmt.Errorf("value 0x%x needs %d bits, field is %d bits wide", b, n, width)
	}
	return Canonical(b), nil
}

// Uint returns the canonical bytestring of v.
func Uint(v uint64) []byte {
	var b [8]byte
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
	return Canonical(b[:])
}

// ToUint64 decodes a big-endian bytestring of at most 64 significant bits.
func ToUint64(b []byte) (uint64, error) {
	if BitLen(b) > 64 {
		return 0, fmt.Errorf("value 0x%x is wider than 64 bits", b)
	}
	var v uint64
	for _, x := range b {
		v = v<<8 | uint64(x)
	}
	return v, nil
}

// MAC returns the 6-byte form of a MAC address given as "02:00:00:00:00:01".
func MAC(s string) ([]byte, error) {
	hw, err := net.ParseMAC(s)
	if err != nil {
		return nil, err
	}
	if len(hw) != 6 {
		return nil, fmt.Errorf("MAC %q is not 48 bits", s)
	}
	return []byte(hw), nil
}

// Addr returns the 4-byte form of an IPv4 address or the 16-byte form of an
// IPv6 address. An IPv4-mapped IPv6 address stays 16 bytes.
func Addr(a netip.Addr) []byte {
	if a.Is4() {
		b := a.As4()
		return b[:]
	}
	b := a.As16()
	return b[:]
}

// PrefixMask returns a width-bit mask whose first prefixLen bits are set,
// in ceil(width/8) bytes (the mask of an LPM prefix as a ternary mask).
func PrefixMask(width, prefixLen int32) []byte {
	n := (width + 7) / 8
	m := make([]byte, n)
	lead := n*8 - width // unused high bits of the first byte
	for i := int32(0); i < prefixLen; i++ {
		bit := lead + i
		m[bit/8] |= 0x80 >> (bit % 8)
	}
	return m
}

// and returns a & m over the shorter common suffix (both big-endian).
func and(a, m []byte) []byte {
	n := len(a)
	if len(m) > n {
		n = len(m)
	}
	out := make([]byte, n)
	for i := 1; i <= n; i++ {
		var x, y byte
		if i <= len(a) {
			x = a[len(a)-i]
		}
		if i <= len(m) {
			y = m[len(m)-i]
		}
		out[n-i] = x & y
	}
	return out
}

// compare compares two big-endian unsigned values of any lengths.
func compare(a, b []byte) int {
	a, b = Canonical(a), Canonical(b)
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

// allOnes reports whether b is the maximum value of a width-bit field.
func allOnes(b []byte, width int32) bool {
	return BitLen(b) == int(width) && compare(b, maxValue(width)) == 0
}

func maxValue(width int32) []byte {
	return PrefixMask(width, width)
}

func isZero(b []byte) bool { return BitLen(b) == 0 }
