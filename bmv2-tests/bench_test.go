package bmv2tests

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/pkg/bench"
)

// TestBench100k runs p4ctl's benchmark against a switch of its own: 100,000
// policy entries written, read back and reconciled (no-op), plus 1,000
// written one per RPC. It asserts what the run must get right (every entry
// read back, a no-op reconcile with no writes: bench.Run fails otherwise)
// and logs the rates; the rates themselves are not judged here.
func TestBench100k(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	sw, err := Start(ctx, Config{Ports: []uint32{1}})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Stop()
	r, err := bench.Run(ctx, bench.Config{
		Target: "bmv2", Addr: GRPCAddr, DeviceID: sw.DeviceID,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(netnsDialer(sw.NS))},
		Pipeline:    env.pipe, Entries: 100_000, Batch: 1000, InFlight: 4, Batch1Sample: 1000,
	})
	if err != nil {
		t.Fatalf("%v\nswitch log:\n%s", err, sw.LogTail(2000))
	}
	b, _ := json.Marshal(r)
	t.Logf("p4ctl bench against BMv2: %s", b)
}
