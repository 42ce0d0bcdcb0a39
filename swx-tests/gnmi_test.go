package swxtests

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/p4ctl/p4ctl/internal/netns"
	"github.com/p4ctl/p4ctl/pkg/gnmi/subscriber"
)

// TestPortStateOverGNMI: the host agent (p4ctl agent --port-map), run in
// the namespace that holds p4ctl-swx's TAPs, serves their oper status and
// P4 port ids, and follows a port going down and up.
func TestPortStateOverGNMI(t *testing.T) {
	requireDPDK(t)
	bin := p4ctlBin(t)
	pm := filepath.Join(t.TempDir(), "ports")
	if err := os.WriteFile(pm, []byte("1: t1\n2: t2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	const addr = "127.0.0.1:9339"
	agent := exec.Command("ip", "netns", "exec", env.srv.NS, bin, "agent", "--listen", addr, "--port-map", pm)
	agent.Stderr = os.Stderr
	agent.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := agent.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = agent.Process.Kill(); _ = agent.Wait() }()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	events := make(chan subscriber.Event, 64)
	sub := &subscriber.Subscriber{Device: "host1", Addr: addr, MinBackoff: 200 * time.Millisecond,
		Dial: []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithContextDialer(netns.Dialer(env.srv.NS))}}
	go func() {
		_ = sub.Run(ctx, func(e subscriber.Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
	}()
	// The state the events have told so far: they come in no set order.
	oper, ids := map[string]string{}, map[string]uint32{}
	changes := 0
	wait := func(what string, ok func() bool) {
		t.Helper()
		for !ok() {
			select {
			case e := <-events:
				switch e.Kind {
				case subscriber.PortState:
					oper[e.Interface] = e.Oper
					changes++
				case subscriber.PortID:
					ids[e.Interface] = e.ID
				}
			case <-ctx.Done():
				t.Fatalf("gNMI: no event: %s (state %v, ids %v)", what, oper, ids)
			}
		}
	}
	wait("t1 and t2 as P4 ports 1 and 2, UP", func() bool {
		return ids["t1"] == 1 && ids["t2"] == 2 && oper["t1"] == "UP" && oper["t2"] == "UP"
	})
	if err := netns.IP("-n", env.srv.NS, "link", "set", "t1", "down"); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = netns.IP("-n", env.srv.NS, "link", "set", "t1", "up") }()
	wait("t1 DOWN", func() bool { return oper["t1"] == "DOWN" })
	n := changes
	if err := netns.IP("-n", env.srv.NS, "link", "set", "t1", "up"); err != nil {
		t.Fatal(err)
	}
	wait("t1 UP again", func() bool { return changes > n && oper["t1"] == "UP" })
}

var p4ctlBuild struct {
	sync.Once
	path string
	err  error
}

// p4ctlBin builds p4ctl once for the tier (in the directory p4ctl-swx is
// built in).
func p4ctlBin(t *testing.T) string {
	t.Helper()
	p4ctlBuild.Do(func() {
		p4ctlBuild.path = filepath.Join(filepath.Dir(env.bin), "p4ctl")
		if out, err := exec.Command("go", "build", "-o", p4ctlBuild.path, "github.com/p4ctl/p4ctl/cmd/p4ctl").CombinedOutput(); err != nil {
			p4ctlBuild.err = fmt.Errorf("build p4ctl: %v\n%s", err, out)
		}
	})
	if p4ctlBuild.err != nil {
		t.Fatal(p4ctlBuild.err)
	}
	return p4ctlBuild.path
}
