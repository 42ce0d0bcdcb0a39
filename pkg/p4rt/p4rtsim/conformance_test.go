package p4rtsim_test

import (
	"testing"

	"google.golang.org/grpc"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rttest"
)

func TestConformance(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{})
	p4rttest.Run(t, p4rttest.Target{Addr: p4rttest.SimAddr, DeviceID: deviceID, DialOptions: []grpc.DialOption{dial}, Pipeline: embedded(t)})
}

// TestConformanceWithoutReconcile runs the suite against a target that,
// like Stratum, refuses RECONCILE_AND_COMMIT.
func TestConformanceWithoutReconcile(t *testing.T) {
	_, dial := startSim(t, p4rtsim.Options{NoReconcile: true})
	p4rttest.Run(t, p4rttest.Target{Addr: p4rttest.SimAddr, DeviceID: deviceID, DialOptions: []grpc.DialOption{dial}, Pipeline: embedded(t), NoReconcile: true})
}
