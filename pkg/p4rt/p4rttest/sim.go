package p4rttest

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/test/bufconn"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// SimAddr is the address to dial with the option StartSim returns.
const SimAddr = "passthrough:///p4rtsim"

// StartSim serves a p4rtsim device (device id o.DeviceID, 1 if unset) over
// bufconn, real gRPC in memory, until the test ends, and returns it with
// the dial option that reaches it.
func StartSim(tb testing.TB, o p4rtsim.Options) (*p4rtsim.Server, grpc.DialOption) {
	tb.Helper()
	if o.DeviceID == 0 {
		o.DeviceID = 1
	}
	sim := p4rtsim.New(o)
	lis := bufconn.Listen(1 << 20)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Serve(ctx, lis) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("p4rtsim: %v", err)
		}
	})
	return sim, grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) })
}

// Pipeline returns the embedded BMv2 pipeline or fails the test.
func Pipeline(tb testing.TB) *pipeline.Pipeline {
	tb.Helper()
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		tb.Fatal(err)
	}
	return p
}
