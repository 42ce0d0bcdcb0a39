package bench

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

func sim(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p4rtsim.New(p4rtsim.Options{DeviceID: 1}).Serve(ctx, lis) }()
	t.Cleanup(func() { cancel(); <-done })
	return lis.Addr().String()
}

// TestRunRefusesAnOccupiedDevice: a device a controller programs is not
// benchmarked without Force, and the refusal names what a run would erase;
// nothing on the device changes. With Force the run takes mastership.
func TestRunRefusesAnOccupiedDevice(t *testing.T) {
	addr := sim(t)
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ownerID := p4rt.ElectionID{High: 0x7034637400000003}
	owner, err := p4rt.Open(ctx, addr, p4rt.Options{DeviceID: 1, ElectionID: ownerID})
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close()
	if err := owner.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	e, err := p.Info.NewEntry("ingress.segments").Exact("segment", pipeline.Uint(10)).
		Action("set_segment", pipeline.P("default_allow", pipeline.Uint(0)), pipeline.P("flood_group", pipeline.Uint(10))).Build()
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Target: addr, Addr: addr, DeviceID: 1, Pipeline: p, Entries: 100, Batch: 10, InFlight: 2}
	_, err = Run(ctx, cfg)
	if !errors.Is(err, ErrOccupied) || !strings.Contains(err.Error(), "erase its 1 table entries") ||
		!strings.Contains(err.Error(), "(election id "+ownerID.String()+")") {
		t.Fatalf("run on an occupied device: %v", err)
	}
	if !owner.IsPrimary() {
		t.Fatal("the refused run took mastership")
	}
	occ, err := Inspect(ctx, addr, 1, nil)
	if err != nil || occ.Entries != 1 {
		t.Fatalf("after the refusal the device holds %d entries (%v), want the owner's 1", occ.Entries, err)
	}

	cfg.Force = true
	if _, err := Run(ctx, cfg); err != nil {
		t.Fatalf("forced run: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for owner.IsPrimary() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if owner.IsPrimary() {
		t.Fatal("the forced run did not take mastership")
	}
}

// An address where nothing listens is an error within the run's
// deadline, not a wait.
func TestRunUnreachable(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	p, _ := pipeline.Embedded("bmv2")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Run(ctx, Config{Target: addr, Addr: addr, DeviceID: 1, Pipeline: p, Entries: 10, Batch: 10, InFlight: 1}); err == nil ||
		!strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("run against nothing: %v", err)
	}
}
