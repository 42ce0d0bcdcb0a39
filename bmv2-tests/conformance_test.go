package bmv2tests

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
)

// TestConformance runs the P4Runtime conformance suite (the one p4rtsim
// passes in every run) against a switch of its own, so that the scenario
// switch's tables are left alone.
func TestConformance(t *testing.T) {
	requireBMv2(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sw, err := Start(ctx, Config{Ports: []uint32{1, 2}})
	if err != nil {
		t.Fatal(err)
	}
	defer sw.Stop()
	// The first session waits for the switch's gRPC server to come up.
	s, err := sw.Open(ctx, p4rt.ElectionID{Low: 1})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	p4rttest.Run(t, p4rttest.Target{
		Addr:        GRPCAddr,
		DeviceID:    sw.DeviceID,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(netnsDialer(sw.NS))},
		Pipeline:    env.pipe,
		// BMv2 reports a full table as UNKNOWN ("Error when adding match
		// entry to target"), not the spec's RESOURCE_EXHAUSTED.
		FullTableCode: codes.Unknown,
		// RECONCILE_AND_COMMIT fails and wedges the switch
		// (pipeline.Target.Reconcile): upgrades take VERIFY_AND_COMMIT.
		NoReconcile: true,
	})
}
