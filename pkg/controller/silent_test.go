package controller

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// TestSilentAndUnreachableDevices: a device that accepts the connection
// and never answers is reported with a last error naming that, soon
// (AnswerTimeout), and a device nothing listens for is counted in
// p4ctl_device_sync_failures_total like any failed sync.
func TestSilentAndUnreachableDevices(t *testing.T) {
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	gone, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	goneAddr := gone.Addr().String()
	gone.Close()

	n := node(t, "n1", t.TempDir(), true)
	waitLeader(t, n)
	c := New(Config{Node: n, Targets: sizedTargets(1 << 16), RetryInterval: 200 * time.Millisecond, AnswerTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	docs := "kind: Segment\nname: s\nid: 5\n---\nkind: Device\nname: mute\naddress: " + silent.Addr().String() +
		"\n---\nkind: Device\nname: gone\naddress: " + goneAddr + "\n"
	actx, acancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer acancel()
	if _, err := c.Apply(actx, "devices.yaml", []byte(docs)); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	status := func(name string) DeviceStatus {
		for _, d := range c.Devices() {
			if d.Name == name {
				return d
			}
		}
		return DeviceStatus{}
	}
	eventually(t, 10*time.Second, func() bool {
		return strings.Contains(status("mute").LastError, "no arbitration answer from "+silent.Addr().String())
	}, func() string { return "mute: " + fmtStatus(status("mute")) })
	eventually(t, 10*time.Second, func() bool {
		v, ok := metricValue(t, reg, "p4ctl_device_sync_failures_total", map[string]string{"device": "gone"})
		return ok && v >= 1
	}, func() string { return "gone is not counted as failing: " + fmtStatus(status("gone")) })
	if v, ok := metricValue(t, reg, "p4ctl_device_sync_failures_total", map[string]string{"device": "mute"}); !ok || v < 1 {
		t.Errorf("mute's failures: %v %v", v, ok)
	}
}
