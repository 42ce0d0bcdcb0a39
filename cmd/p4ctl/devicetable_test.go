package main

import (
	"bytes"
	"strings"
	"testing"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// TestDeviceTableQueued: the IN SYNC column says when a device's full
// reconcile waits for its share of the reconcile budget, in the short and
// the wide table alike.
func TestDeviceTableQueued(t *testing.T) {
	ds := []*p4ctlv1.DeviceStatus{
		{Name: "leaf1", Connected: true, Primary: true, InSync: true},
		{Name: "leaf2", Connected: true, Primary: true, Queued: true},
		{Name: "leaf3", Connected: true, Primary: true},
	}
	var short, wide bytes.Buffer
	printDeviceTable(&short, ds)
	if err := printDeviceWide(&wide, devicesJSON(ds, nil)); err != nil {
		t.Fatal(err)
	}
	for name, out := range map[string]string{"table": short.String(), "wide": wide.String()} {
		rows := map[string]string{}
		for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
			rows[strings.Fields(line)[0]] = line
		}
		for dev, want := range map[string]string{"leaf1": " true ", "leaf2": " false (queued) ", "leaf3": " false "} {
			if !strings.Contains(rows[dev], want) {
				t.Errorf("%s: %s's row %q does not say %q", name, dev, rows[dev], strings.TrimSpace(want))
			}
		}
		if strings.Contains(rows["leaf3"], "queued") {
			t.Errorf("%s: leaf3 is not queued: %q", name, rows["leaf3"])
		}
	}
}
