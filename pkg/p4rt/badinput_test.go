package p4rt_test

import (
	"context"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	p4cfg "github.com/p4lang/p4runtime/go/p4/config/v1"
	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc/codes"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// goroutinesSettle waits until the goroutine count is back to at most n:
// a closed session must leave nothing running.
func goroutinesSettle(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, want <= %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}

func TestUnreachableDevice(t *testing.T) {
	base := runtime.NumGoroutine()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close() // nothing listens there now
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err = p4rt.Open(ctx, addr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1}})
	if err == nil {
		t.Fatal("Open of an unreachable device succeeded")
	}
	if !strings.Contains(err.Error(), addr) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error %q should name %s and the deadline", err, addr)
	}
	goroutinesSettle(t, base)
}

func TestPipelineRejected(t *testing.T) {
	p := embedded(t)
	dial := startSim(t, p4rtsim.Options{})
	ctx := context.Background()
	s, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 1}, DialOptions: dialOpts(dial)})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	bad := &pipeline.Pipeline{Info: &pipeline.Info{P4Info: &p4cfg.P4Info{Tables: []*p4cfg.Table{
		{Preamble: &p4cfg.Preamble{Id: 1, Name: "t"}}, {Preamble: &p4cfg.Preamble{Id: 2, Name: "t"}},
	}}}, DeviceConfig: []byte("{}"), Cookie: 7}
	err = s.SetPipeline(ctx, bad)
	if err == nil || !strings.Contains(err.Error(), "set pipeline") || !strings.Contains(err.Error(), `duplicate table name "t"`) {
		t.Fatalf("rejected pipeline: err = %v", err)
	}
	// The device keeps no pipeline and a good one still goes in.
	if _, ok, _ := s.PipelineCookie(ctx); ok {
		t.Error("device reports a pipeline after rejecting one")
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownTableNamed(t *testing.T) {
	p := embedded(t)
	s := primary(t, startSim(t, p4rtsim.Options{}), p)
	e := l2(t, p.Info, 1, 1, 1)
	e.TableId = 4242
	err := s.Write(context.Background(), &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}})
	var we *p4rt.WriteError
	if !errors.As(err, &we) || len(we.Updates) != 1 || we.Updates[0].Code != codes.NotFound {
		t.Fatalf("err = %v, want one NOT_FOUND update", err)
	}
	if msg := err.Error(); !strings.Contains(msg, p4rttest.SimAddr) || !strings.Contains(msg, "unknown table id 4242") {
		t.Errorf("error %q should name the device and the table", msg)
	}
}

// A device that goes away in the middle of a bulk write: the write fails
// with an error instead of hanging, and once the device is back (empty) a
// reconcile brings it to the desired state.
func TestDeviceDropsMidBatchThenReconcileConverges(t *testing.T) {
	base := runtime.NumGoroutine()
	p := embedded(t)
	lis, addr := freeListener(t)
	stop := serveSim(lis)
	s, err := p4rt.Connect(addr, p4rt.Options{DeviceID: 1, ElectionID: p4rt.ElectionID{Low: 3}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if m, err := s.WaitArbitrated(ctx); err != nil || !m.Primary {
		t.Fatalf("arbitration: %+v %v", m, err)
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		t.Fatal(err)
	}
	tbl, _ := p.Info.Table("ingress.l2")
	set := p4rt.NewEntrySet(20000)
	var ups []*p4v1.Update
	for i := uint64(0); i < 20000; i++ {
		e := l2(t, p.Info, 1, i, 1)
		set.Add(e)
		ups = append(ups, &p4v1.Update{Type: p4v1.Update_INSERT, Entity: &p4v1.Entity{Entity: &p4v1.Entity_TableEntry{TableEntry: e}}})
	}
	var once sync.Once
	stopped := make(chan struct{})
	o := p4rt.BulkOptions{BatchSize: 500, InFlight: 2, OnBatch: func(int) {
		once.Do(func() { go func() { stop(); close(stopped) }() }) // the device dies after its first answer
	}}
	if err := s.WriteBulk(ctx, ups, o); err == nil {
		t.Fatal("bulk write to a device that died mid-way reported success")
	}
	<-stopped
	// The session must see the device gone before it comes back: until
	// then MastershipChanges may still hold the first "primary".
	nextState(t, s, "down", func(m p4rt.Mastership) bool { return m.Err != nil || !m.Primary })
	lis2, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	stop2 := serveSim(lis2)
	nextState(t, s, "primary on the restarted device", func(m p4rt.Mastership) bool { return m.Primary && m.Err == nil })
	if pushed, err := s.EnsurePipeline(ctx, p); err != nil || pushed != p4rt.PushInstall {
		t.Fatalf("pipeline onto the restarted device: pushed=%v err=%v", pushed, err)
	}
	plan, err := s.ReconcileSet(ctx, set, p4rt.BulkOptions{}, tbl.ID)
	if ins, _, _ := plan.Counts(); err != nil || ins != 20000 {
		t.Fatalf("reconcile after restart: %v, %v", plan, err)
	}
	if plan, err = s.ReconcileSet(ctx, set, p4rt.BulkOptions{}, tbl.ID); err != nil || !plan.Empty() {
		t.Fatalf("device not converged: %v, %v", plan, err)
	}
	s.Close()
	stop2()
	goroutinesSettle(t, base)
}
