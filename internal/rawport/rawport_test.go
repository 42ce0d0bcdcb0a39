package rawport

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/p4ctl/p4ctl/internal/netns"
)

// TestPortsOverVeth: two ports on the ends of a veth pair in a namespace
// of the test's own: a frame sent on one is read on the other, as a frame
// of that port, and not on the sender's own.
func TestPortsOverVeth(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("not root: creating a network namespace and a veth pair needs root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("iproute2's ip is not on PATH")
	}
	ns := fmt.Sprintf("p4ctl-rawport-%d", os.Getpid())
	if err := netns.IP("netns", "add", ns); err != nil {
		t.Skip("cannot create a network namespace: " + err.Error())
	}
	t.Cleanup(func() { _ = netns.IP("netns", "del", ns) })
	if err := Quiet(ns); err != nil {
		t.Fatal(err)
	}
	if err := netns.IP("-n", ns, "link", "add", "rpa", "type", "veth", "peer", "name", "rpb"); err != nil {
		t.Fatal(err)
	}
	for _, ifn := range []string{"rpa", "rpb"} {
		if err := netns.IP("-n", ns, "link", "set", ifn, "up"); err != nil {
			t.Fatal(err)
		}
	}
	rx := make(chan Frame, 16)
	a, err := Open(ns, 1, "rpa", rx)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ns, 2, "rpb", rx)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, err := Open(ns, 3, "no-such-if", rx); err == nil {
		t.Error("opened a port on an interface that does not exist")
	}

	frame := append([]byte{2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x88, 0xb5}, "p4ctl:rawport:1"...)
	if err := a.Send(frame); err != nil {
		t.Fatal(err)
	}
	var got []Frame
	deadline := time.After(2 * time.Second)
	quiet := time.After(time.Hour)
	for done := false; !done; {
		select {
		case f := <-rx:
			if bytes.Contains(f.Data, []byte("p4ctl:rawport:1")) {
				got = append(got, f)
				quiet = time.After(200 * time.Millisecond)
			}
		case <-quiet:
			done = true
		case <-deadline:
			done = true
		}
	}
	if len(got) != 1 || got[0].Port != 2 || !bytes.Equal(got[0].Data, frame) {
		t.Errorf("read %+v, want the frame once, on port 2", got)
	}
	b.Close()
	b.Close() // a second Close does nothing
}
