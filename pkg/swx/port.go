package swx

import (
	"fmt"
	"strconv"
	"strings"
)

// Port is one pipeline port as p4ctl-swx is given it: its P4 port number,
// and the DPDK virtual device behind it ("net_tap0" with "iface=vm1",
// "net_af_packet0" with "iface=eth1").
type Port struct {
	Num  uint32
	Vdev string
	Args string
}

// ParsePort reads N=VDEV[,ARGS]: 1=net_tap0,iface=vm1.
func ParsePort(s string) (Port, error) {
	num, dev, ok := strings.Cut(s, "=")
	if !ok || dev == "" {
		return Port{}, fmt.Errorf("port %q: want N=VDEV[,ARGS] (1=net_tap0,iface=vm1)", s)
	}
	n, err := strconv.ParseUint(num, 10, 32)
	if err != nil {
		return Port{}, fmt.Errorf("port %q: port number %q: want a number", s, num)
	}
	vdev, args, _ := strings.Cut(dev, ",")
	if vdev == "" {
		return Port{}, fmt.Errorf("port %q: no DPDK device after %s=", s, num)
	}
	return Port{Num: uint32(n), Vdev: vdev, Args: args}, nil
}

func (p Port) String() string {
	s := fmt.Sprintf("%d=%s", p.Num, p.Vdev)
	if p.Args != "" {
		s += "," + p.Args
	}
	return s
}
