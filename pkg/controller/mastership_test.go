package controller

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// TestMastershipTakenByAnotherClient: a P4Runtime client with a higher
// election id than the leader's takes a device the leader has programmed.
// The device is then reported not primary and not in sync, with the other
// client's election id, and p4ctl_device_primary and _in_sync are 0 for
// it (the other device keeps 1). When the client leaves, the status says
// so and keeps the device out of sync, since the device may hold that
// client's entries.
func TestMastershipTakenByAnotherClient(t *testing.T) {
	_, c, d1, _, _ := exampleInSync(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	gauge := func(name, dev string) float64 {
		v, ok := metricValue(t, reg, name, map[string]string{"device": dev})
		if !ok {
			t.Fatalf("%s{device=%q} not exported", name, dev)
		}
		return v
	}
	// The devices hold the model; their status follows the write.
	eventually(t, 10*time.Second, func() bool {
		return gauge("p4ctl_device_primary", "leaf1") == 1 && gauge("p4ctl_device_in_sync", "leaf1") == 1 &&
			gauge("p4ctl_device_in_sync", "leaf2") == 1
	}, func() string { return "leaf1 is not primary and in sync before the takeover" })
	status := func(name string) DeviceStatus {
		for _, d := range c.Devices() {
			if d.Name == name {
				return d
			}
		}
		t.Fatalf("no device %s", name)
		return DeviceStatus{}
	}
	if got, want := status("leaf1").PrimaryElectionID, MasterElectionID(c.Assignments()["leaf1"].Epoch).String(); got != want {
		t.Errorf("leaf1's primary is %s, want the master's own %s", got, want)
	}

	// Above any p4ctl leader's: the prefix's next value.
	intruder := p4rt.ElectionID{High: ElectionPrefix + 1<<32}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := p4rt.Open(ctx, d1.addr, p4rt.Options{DeviceID: 1, ElectionID: intruder})
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, func() bool {
		st := status("leaf1")
		return !st.Primary && !st.InSync && strings.Contains(st.LastError, "another P4Runtime client is primary with election id "+intruder.String())
	}, func() string { return "leaf1 after the takeover: " + fmtStatus(status("leaf1")) })
	if st := status("leaf1"); st.PrimaryElectionID != intruder.String() {
		t.Errorf("primary election id %q, want %s", st.PrimaryElectionID, intruder)
	}
	if gauge("p4ctl_device_primary", "leaf1") != 0 || gauge("p4ctl_device_in_sync", "leaf1") != 0 {
		t.Error("leaf1's primary or in_sync gauge is not 0 after the takeover")
	}
	if gauge("p4ctl_device_primary", "leaf2") != 1 || gauge("p4ctl_device_in_sync", "leaf2") != 1 {
		t.Error("leaf2 lost primary or sync though nobody touched it")
	}

	// The client leaves: the simulator, like a switch that remembers the
	// highest id it has seen, names no primary below it.
	s.Close()
	eventually(t, 10*time.Second, func() bool {
		st := status("leaf1")
		return !st.Primary && !st.InSync && strings.Contains(st.LastError, "has seen election id "+intruder.String())
	}, func() string { return "leaf1 after the client left: " + fmtStatus(status("leaf1")) })
}

func fmtStatus(st DeviceStatus) string {
	return fmt.Sprintf("primary=%v in_sync=%v primary_election_id=%s last_error=%s", st.Primary, st.InSync, st.PrimaryElectionID, st.LastError)
}
