package p4rt_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
)

// nextState waits for the next mastership state that satisfies ok.
func nextState(t *testing.T, s *p4rt.Session, what string, ok func(p4rt.Mastership) bool) p4rt.Mastership {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m := <-s.MastershipChanges():
			if ok(m) {
				return m
			}
		case <-timeout:
			t.Fatalf("no mastership state %s within 10s (now %+v)", what, s.Mastership())
		}
	}
}

func TestMastershipChangesAndFencing(t *testing.T) {
	p := embedded(t)
	dial := startSim(t, p4rtsim.Options{})
	low := primary(t, dial, p)
	nextState(t, low, "primary", func(m p4rt.Mastership) bool { return m.Primary })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	high, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{High: 1}, DialOptions: dialOpts(dial)})
	if err != nil {
		t.Fatal(err)
	}
	m := nextState(t, low, "backup", func(m p4rt.Mastership) bool { return !m.Primary })
	if m.PrimaryID != (p4rt.ElectionID{High: 1}) {
		t.Errorf("backup told primary is %v, want 1:0", m.PrimaryID)
	}
	err = low.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: l2(t, p.Info, 1, 1, 1)}}})
	var we *p4rt.WriteError
	if !errors.As(err, &we) || statusCode(we.Err) != codes.PermissionDenied {
		t.Fatalf("deposed primary's write: %v, want PERMISSION_DENIED", err)
	}
	// The primary leaves: there is no primary, and the lower id cannot
	// become one again (the device remembers the highest id it has seen).
	high.Close()
	nextState(t, low, "no primary", func(m p4rt.Mastership) bool {
		return !m.Primary && m.Answer == codes.NotFound && m.PrimaryID == p4rt.ElectionID{High: 1}
	})
	if low.IsPrimary() {
		t.Error("lower election id became primary after the higher one left")
	}
}

func TestSessionReconnectsAfterDeviceRestart(t *testing.T) {
	p := embedded(t)
	lis, addr := freeListener(t)
	stop := serveSim(lis)
	s, err := p4rt.Connect(addr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 7}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if m, err := s.WaitArbitrated(ctx); err != nil || !m.Primary {
		t.Fatalf("first arbitration: %+v, %v", m, err)
	}
	nextState(t, s, "primary", func(m p4rt.Mastership) bool { return m.Primary })
	stop() // the device goes away...
	nextState(t, s, "down", func(m p4rt.Mastership) bool { return !m.Primary && m.Err != nil })
	lis2, err := net.Listen("tcp", addr) // ...and comes back, empty, on the same address
	if err != nil {
		t.Fatal(err)
	}
	defer serveSim(lis2)()
	nextState(t, s, "primary again", func(m p4rt.Mastership) bool { return m.Primary && m.Err == nil })
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatalf("pipeline push after reconnect: %v", err)
	}
}

func TestEnsurePipelineSkipsSameCookie(t *testing.T) {
	p := embedded(t)
	dial := startSim(t, p4rtsim.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1}, DialOptions: dialOpts(dial)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, ok, err := s.PipelineCookie(ctx); err != nil || ok {
		t.Fatalf("cookie of an empty device: ok=%v err=%v", ok, err)
	}
	if pushed, err := s.EnsurePipeline(ctx, p); err != nil || pushed != p4rt.PushInstall {
		t.Fatalf("first EnsurePipeline: pushed=%v err=%v", pushed, err)
	}
	if err := s.Write(ctx, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: l2(t, p.Info, 1, 1, 1)}}}); err != nil {
		t.Fatal(err)
	}
	if pushed, err := s.EnsurePipeline(ctx, p); err != nil || pushed != p4rt.PushNone {
		t.Fatalf("second EnsurePipeline: pushed=%v err=%v, want a skip", pushed, err)
	}
	if n, _ := s.ReadTables(ctx); len(n) != 1 {
		t.Errorf("entries after a skipped push: %d, want 1 (a push would have reset them)", len(n))
	}
}

// freeListener listens on a free loopback port.
func freeListener(t *testing.T) (net.Listener, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis, lis.Addr().String()
}

// serveSim serves a new, empty p4rtsim device (id 1) on lis until stop,
// which waits for it: a device that can be restarted on the same address.
func serveSim(lis net.Listener) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		p4rtsim.New(p4rtsim.Options{DeviceID: 1}).Serve(ctx, lis)
		close(done)
	}()
	return func() { cancel(); <-done }
}
