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
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// inNetns runs fn on an OS thread that has entered the named network
// namespace. Sockets fn creates stay in that namespace after it returns.
func inNetns(ns string, fn func() error) error {
	target, err := unix.Open("/var/run/netns/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer unix.Close(target)

	errc := make(chan error, 1)
	go func() {
		// The thread is discarded (never unlocked) if it cannot return to
		// its own namespace, so no other goroutine ever runs in ns by
		// accident.
		runtime.LockOSThread()
		self, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(self)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", ns, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(self, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("leave netns %s: %w", ns, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// netnsDialer connects TCP from inside the network namespace ns.
func netnsDialer(ns string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		var c net.Conn
		err := inNetns(ns, func() error {
			var err error
			c, err = (&net.Dialer{}).DialContext(ctx, "tcp", addr)
			return err
		})
		return c, err
	}
}

// ip runs iproute2's ip with args.
func ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

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
