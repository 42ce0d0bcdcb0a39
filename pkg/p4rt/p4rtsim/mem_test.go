package p4rtsim_test

// Heap cost of stored table entries: a benchmark that reports it at a
// million entries and a test that holds it under the budget at 200,000.

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"testing"
	"time"
	"weak"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// maxHeapPerEntry is the heap budget of one stored entry, in bytes: what
// lets a process hold 1,000 simulated switches of ~38,000 entries each.
const maxHeapPerEntry = 200

// memTable is a realistic table to fill: a name for the (sub)test and the
// i-th entry.
type memTable struct {
	name  string
	entry func(tb testing.TB, in *pipeline.Info, i int) *p4v1.TableEntry
}

func build(tb testing.TB, b *pipeline.EntryBuilder) *p4v1.TableEntry {
	e, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

// memTables are the bulk tables of a hypervisor switch: microsegmentation
// policy (four exact fields, one param, a direct counter) and source
// identities (twelve bytes of exact key).
var memTables = []memTable{
	{"policy_port", func(tb testing.TB, in *pipeline.Info, i int) *p4v1.TableEntry {
		U := pipeline.Uint
		return build(tb, in.NewEntry("ingress.policy_port").
			Exact("src_identity", U(uint64(i%4096+1))).Exact("dst_identity", U(uint64(i/4096+1))).
			Exact("ip_proto", U(6)).Exact("l4_dst_port", U(uint64(1024+i%20000))).
			Action("policy_port_allow", pipeline.P("rank", U(uint64(i%60000+1)))))
	}},
	{"src_identity_v4", func(tb testing.TB, in *pipeline.Info, i int) *p4v1.TableEntry {
		U := pipeline.Uint
		return build(tb, in.NewEntry("ingress.src_identity_v4").
			Exact("ingress_port", U(uint64(i%500+1))).Exact("src_mac", U(0x02_00_00_00_00_00+uint64(i))).
			Exact("src_ip", U(0x0a_00_00_00+uint64(i))).
			Action("set_src_identity", pipeline.P("identity", U(uint64(i%60000+1)))))
	}},
}

// heapInuse is the heap in use after a full collection.
func heapInuse() uint64 {
	var ms runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// settledHeap is heapInuse once it stops changing: what the tests before
// left running (streams and connections closing) is gone.
func settledHeap() uint64 {
	prev := heapInuse()
	for range 50 {
		time.Sleep(20 * time.Millisecond)
		cur := heapInuse()
		if max(cur, prev)-min(cur, prev) < 256<<10 {
			return cur
		}
		prev = cur
	}
	return prev
}

// heapPerEntry inserts n entries of mt into a fresh device and returns
// the heap they cost, divided by n: the larger of what the heap grew by
// while they were inserted and what it shrank by when the device went,
// so that memory other code frees meanwhile cannot hide any. The device is
// gone (collected) when it returns, so that measurements do not see each
// other's.
func heapPerEntry(tb testing.TB, mt memTable, n int) float64 {
	tb.Helper()
	sim := p4rtsim.New(p4rtsim.Options{DeviceID: deviceID, TableSize: int64(n)})
	gone := weak.Make(sim)
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, lis) }()
	dial := grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
	p := embedded(tb)
	s, err := p4rt.Open(ctx, p4rttest.SimAddr, p4rt.Options{DeviceID: deviceID, ElectionID: p4rt.ElectionID{Low: 1}, DialOptions: []grpc.DialOption{dial}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.SetPipeline(ctx, p); err != nil {
		tb.Fatal(err)
	}
	before := settledHeap()
	const batch = 1000
	for lo := 0; lo < n; lo += batch {
		req := &p4v1.WriteRequest{DeviceId: deviceID, ElectionId: &p4v1.Uint128{Low: 1}}
		for i := lo; i < min(lo+batch, n); i++ {
			req.Updates = append(req.Updates, update(p4v1.Update_INSERT, mt.entry(tb, p.Info, i)))
		}
		if _, err := sim.Write(ctx, req); err != nil {
			tb.Fatalf("insert %d..: %v", lo, err)
		}
	}
	after := heapInuse()
	s.Close()
	cancel()
	if err := <-done; err != nil {
		tb.Fatal(err)
	}
	sim = nil
	for i := 0; gone.Value() != nil; i++ {
		if i == 100 {
			tb.Fatal("the device is still reachable after it stopped")
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	final := settledHeap()
	grew, shrank := max(after, before)-before, max(after, final)-final
	return float64(max(grew, shrank)) / float64(n)
}

// BenchmarkHeapPerEntry reports the heap a stored entry costs, at a
// million entries of each table in memTables.
func BenchmarkHeapPerEntry(b *testing.B) {
	const n = 1_000_000
	for _, mt := range memTables {
		b.Run(fmt.Sprintf("%s/%d", mt.name, n), func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = heapPerEntry(b, mt, n)
			}
			b.ReportMetric(per, "B/entry")
		})
	}
}

// TestHeapPerEntry holds a stored entry's heap under maxHeapPerEntry.
func TestHeapPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("fills tables of 200,000 entries")
	}
	if raceEnabled {
		t.Skip("the race detector makes the heap larger and the fill slow")
	}
	const n = 200_000
	for _, mt := range memTables {
		t.Run(mt.name, func(t *testing.T) {
			per := heapPerEntry(t, mt, n)
			t.Logf("%s: %.1f B/entry of heap at %d entries", mt.name, per, n)
			if per > maxHeapPerEntry {
				t.Errorf("%s: %.1f B of heap per stored entry, want at most %d", mt.name, per, maxHeapPerEntry)
			}
		})
	}
}
