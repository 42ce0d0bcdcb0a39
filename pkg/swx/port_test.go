package swx

import (
	"strings"
	"testing"
)

func TestParsePort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Port
		err  string
	}{
		{in: "1=net_tap0,iface=vm1", want: Port{Num: 1, Vdev: "net_tap0", Args: "iface=vm1"}},
		{in: "9=net_af_packet0,iface=eth1,qdisc_bypass=1", want: Port{Num: 9, Vdev: "net_af_packet0", Args: "iface=eth1,qdisc_bypass=1"}},
		{in: "2=net_null0", want: Port{Num: 2, Vdev: "net_null0"}},
		{in: "net_tap0", err: "want N=VDEV"},
		{in: "1=", err: "want N=VDEV"},
		{in: "x=net_tap0", err: `port number "x"`},
		{in: "1=,iface=a", err: "no DPDK device"},
		{in: "70000000000=net_tap0", err: `port number "70000000000"`},
	} {
		got, err := ParsePort(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("ParsePort(%q) = %v, %v; want an error naming it and saying %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePort(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
		if back, err := ParsePort(got.String()); err != nil || back != got {
			t.Errorf("ParsePort(%q).String() = %q does not read back: %+v, %v", tc.in, got.String(), back, err)
		}
	}
}
