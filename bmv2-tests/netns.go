// Package bmv2tests runs p4ctl's compiled pipeline on a real BMv2 switch
// (simple_switch_grpc) and proves its behaviour with real frames.
//
// A Switch lives in a network namespace of its own: one veth pair per
// switch port, the switch on one end and an AF_PACKET socket of the test on
// the other, and simple_switch_grpc serving P4Runtime on the namespace's
// loopback, reached through a dialer that connects from inside it. Nothing
// is left in the host's namespace; deleting the namespace removes it all.
//
// The tests skip, with one message saying what is missing, when
// simple_switch_grpc is not on PATH or the process cannot create network
// namespaces (not root).
package bmv2tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"

	"github.com/p4ctl/p4ctl/internal/netns"
)

func inNetns(ns string, fn func() error) error { return netns.Do(ns, fn) }

func netnsDialer(ns string) func(ctx context.Context, addr string) (net.Conn, error) {
	return netns.Dialer(ns)
}

func ip(args ...string) error { return netns.IP(args...) }

// Prerequisites returns why the BMv2 tier cannot run here, or "" when it
// can: simple_switch_grpc on PATH, root, iproute2, and network namespaces.
func Prerequisites() string {
	if _, err := exec.LookPath("simple_switch_grpc"); err != nil {
		return "simple_switch_grpc is not on PATH (install BMv2 built with PI in /opt/p4/bin, which make puts on PATH, or anywhere on PATH)"
	}
	if os.Geteuid() != 0 {
		return "not root: creating network namespaces and veth pairs needs root"
	}
	if _, err := exec.LookPath("ip"); err != nil {
		return "iproute2's ip is not on PATH (apt-get install iproute2)"
	}
	ns := fmt.Sprintf("p4ctl-probe-%d", os.Getpid())
	if err := ip("netns", "add", ns); err != nil {
		return "cannot create a network namespace: " + err.Error()
	}
	_ = ip("netns", "del", ns)
	return ""
}
