package frametest

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

var (
	hostA = Host{Name: "a", Port: 1, MAC: MustMAC("02:00:00:00:00:01"), IP4: netip.MustParseAddr("10.0.0.1"), IP6: netip.MustParseAddr("2001:db8::1")}
	hostC = Host{Name: "c", Port: 3, MAC: MustMAC("02:00:00:00:00:03"), IP4: netip.MustParseAddr("10.0.0.3"), IP6: netip.MustParseAddr("2001:db8::3")}
)

// TestFrameKnownGood: a UDP/IPv4 frame, byte for byte as an independent
// encoder (Python's struct, RFC 791 and 768 checksums) writes it, padded
// to Ethernet's 60-byte minimum.
func TestFrameKnownGood(t *testing.T) {
	f := Flow{Src: hostA, Dst: hostC, Proto: layers.IPProtocolUDP, SPort: 40000, DPort: 53}.WithToken("p4ctl:test:1")
	const want = "020000000003" + "020000000001" + "0800" + // Ethernet
		"4500002800000000401166c2" + "0a000001" + "0a000003" + // IPv4, checksum 0x66c2
		"9c4000350014ed5e" + // UDP 40000 -> 53, checksum 0xed5e
		"703463746c3a746573743a31" + // p4ctl:test:1
		"000000000000" // padding
	if got := hex.EncodeToString(f.Frame(t)); got != want {
		t.Errorf("frame\n got %s\nwant %s", got, want)
	}
}

// sum16 is the ones' complement sum of b (RFC 1071), folded.
func sum16(b []byte) uint32 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return s
}

// TestFrameChecksums: every kind of flow comes out with a valid IPv4
// header checksum and a valid transport checksum over its pseudo-header,
// lengths that match the frame (padded to 60 bytes at least), and its
// token as the last bytes of the IP payload.
func TestFrameChecksums(t *testing.T) {
	for _, c := range []struct {
		name  string
		v6    bool
		proto layers.IPProtocol
	}{
		{"tcp4", false, layers.IPProtocolTCP},
		{"udp4", false, layers.IPProtocolUDP},
		{"icmp4", false, layers.IPProtocolICMPv4},
		{"tcp6", true, layers.IPProtocolTCP},
		{"udp6", true, layers.IPProtocolUDP},
		{"icmp6", true, layers.IPProtocolICMPv6},
	} {
		t.Run(c.name, func(t *testing.T) {
			tok := "p4ctl:" + c.name + ":7"
			f := Flow{Src: hostA, Dst: hostC, V6: c.v6, Proto: c.proto, SPort: 40001, DPort: 5432, SYN: true, Token: tok}
			b := f.Frame(t)
			if !bytes.Equal(b[0:6], hostC.MAC) || !bytes.Equal(b[6:12], hostA.MAC) {
				t.Errorf("MACs %x -> %x", b[6:12], b[0:6])
			}
			var l4, pseudo []byte
			var ipEnd int // where the IP datagram ends in the frame
			if c.v6 {
				if et := binary.BigEndian.Uint16(b[12:]); et != 0x86dd {
					t.Fatalf("ethertype %#x", et)
				}
				ip := b[14:54]
				n := int(binary.BigEndian.Uint16(ip[4:]))
				if ip[6] != byte(c.proto) || ip[7] != 64 {
					t.Errorf("next header %d hop limit %d", ip[6], ip[7])
				}
				if ipEnd = 54 + n; ipEnd > len(b) {
					t.Fatalf("payload length %d overruns the %d-byte frame", n, len(b))
				}
				l4 = b[54:ipEnd]
				pseudo = append(append([]byte{}, ip[8:40]...), 0, 0, byte(len(l4)>>8), byte(len(l4)), 0, 0, 0, byte(c.proto))
			} else {
				if et := binary.BigEndian.Uint16(b[12:]); et != 0x0800 {
					t.Fatalf("ethertype %#x", et)
				}
				ip := b[14:34]
				if got := sum16(ip); got != 0xffff {
					t.Errorf("IPv4 header checksum does not verify (sum %#x)", got)
				}
				n := int(binary.BigEndian.Uint16(ip[2:]))
				if ip[9] != byte(c.proto) || ip[8] != 64 {
					t.Errorf("protocol %d TTL %d", ip[9], ip[8])
				}
				if ipEnd = 14 + n; ipEnd > len(b) || n < 20 {
					t.Fatalf("total length %d does not fit the %d-byte frame", n, len(b))
				}
				l4 = b[34:ipEnd]
				pseudo = append(append([]byte{}, ip[12:20]...), 0, byte(c.proto), byte(len(l4)>>8), byte(len(l4)))
			}
			if want := max(60, ipEnd); len(b) != want {
				t.Errorf("frame of %d bytes, want %d (IP datagram up to %d)", len(b), want, ipEnd)
			}
			if !bytes.HasSuffix(l4, []byte(tok)) {
				t.Errorf("IP payload does not end with the token: %x", l4)
			}
			if len(bytes.Trim(b[ipEnd:], "\x00")) != 0 {
				t.Errorf("padding not zero: %x", b[ipEnd:])
			}
			if c.proto == layers.IPProtocolICMPv4 {
				pseudo = nil // ICMPv4's checksum covers the message only
			}
			if got := sum16(append(pseudo, l4...)); got != 0xffff {
				t.Errorf("%s checksum does not verify (sum %#x)", c.proto, got)
			}
			switch c.proto {
			case layers.IPProtocolTCP:
				if sp, dp := binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:]); sp != 40001 || dp != 5432 {
					t.Errorf("ports %d -> %d", sp, dp)
				}
				if flags := l4[13]; flags != 0x02 {
					t.Errorf("TCP flags %#x, want SYN", flags)
				}
			case layers.IPProtocolUDP:
				if n := int(binary.BigEndian.Uint16(l4[4:])); n != len(l4) {
					t.Errorf("UDP length %d, want %d", n, len(l4))
				}
			case layers.IPProtocolICMPv4:
				if l4[0] != 8 {
					t.Errorf("ICMP type %d, want echo request", l4[0])
				}
			case layers.IPProtocolICMPv6:
				if l4[0] != 128 {
					t.Errorf("ICMPv6 type %d, want echo request", l4[0])
				}
			}
		})
	}
}

// TestFrameOverrides: a spoofed source address and MAC, and another
// destination MAC, replace the hosts' own.
func TestFrameOverrides(t *testing.T) {
	f := Flow{Src: hostA, Dst: hostC, Proto: layers.IPProtocolUDP, SrcIP: netip.MustParseAddr("10.0.0.99"),
		SrcMAC: MustMAC("02:00:00:00:00:99"), DstMAC: layers.EthernetBroadcast}
	b := f.Frame(t)
	if !bytes.Equal(b[0:6], layers.EthernetBroadcast) || !bytes.Equal(b[6:12], f.SrcMAC) {
		t.Errorf("MACs %x -> %x", b[6:12], b[0:6])
	}
	if src := netip.AddrFrom4([4]byte(b[26:30])); src != f.SrcIP {
		t.Errorf("source %s, want %s", src, f.SrcIP)
	}
}

func TestFrameUnsupportedProtocol(t *testing.T) {
	_, err := Flow{Src: hostA, Dst: hostC, Proto: layers.IPProtocolGRE}.build()
	if err == nil || !strings.Contains(err.Error(), "unsupported protocol") {
		t.Errorf("err = %v, want unsupported protocol", err)
	}
}

func TestARPRequest(t *testing.T) {
	b := ARPRequest(t, hostA, hostC.IP4, "p4ctl:arp:1")
	const want = "ffffffffffff" + "020000000001" + "0806" +
		"0001" + "0800" + "06" + "04" + "0001" + // Ethernet, IPv4, who-has
		"020000000001" + "0a000001" + "000000000000" + "0a000003" +
		"703463746c3a6172703a31" + // p4ctl:arp:1
		"00000000000000" // padding to 60 bytes
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("ARP request\n got %s\nwant %s", got, want)
	}
}

func TestLLDP(t *testing.T) {
	b := LLDP(hostA.MAC, "tok")
	const want = "0180c200000e" + "020000000001" + "88cc" +
		"0207" + "04020000000001" + // chassis id: MAC
		"0404" + "07746f6b" + // port id: locally assigned "tok"
		"0602" + "0078" + // TTL 120
		"0000" // end
	if got := hex.EncodeToString(b); got != want {
		t.Errorf("LLDP\n got %s\nwant %s", got, want)
	}
}

func TestContainsToken(t *testing.T) {
	for _, c := range []struct {
		b, tok string
		want   bool
	}{
		{"xx p4ctl:1", "p4ctl:1", true},
		{"xx p4ctl:1.", "p4ctl:1", true},
		{"xx p4ctl:10", "p4ctl:1", false},
		{"p4ctl:10 p4ctl:1", "p4ctl:1", true},
		{"p4ctl:12 p4ctl:10", "p4ctl:1", false},
		{"", "p4ctl:1", false},
	} {
		if got := ContainsToken([]byte(c.b), c.tok); got != c.want {
			t.Errorf("ContainsToken(%q, %q) = %v, want %v", c.b, c.tok, got, c.want)
		}
	}
}
