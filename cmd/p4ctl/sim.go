package main

import (
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
)

// newSimCmd is `p4ctl sim`: one or many simulated devices on one address.
func newSimCmd() *cobra.Command {
	var listen string
	var deviceID uint64
	var devices int
	var tableSize int64
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run an in-process P4Runtime target (control plane only) as a standalone server",
		Long: `sim serves p4rtsim, p4ctl's simulated P4Runtime device, on a TCP address.
It implements arbitration, pipeline config, validated table writes, reads,
counters and multicast groups like a switch's control plane, and forwards no
packets. Use it to try the controller or to benchmark without hardware.

With --devices N it serves N independent devices on the one address, with
P4Runtime device ids --device-id .. --device-id+N-1: each RPC goes to the
device its device_id names, as on a fleet of switches.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := checkSimDevices(deviceID, devices); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			fleet, err := p4rtsim.NewFleet(p4rtsim.FleetOptions{FirstID: deviceID, Devices: devices, Logger: log, TableSize: tableSize})
			if err != nil {
				return err
			}
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			ids := fmt.Sprintf("device id %d", deviceID)
			if devices > 1 {
				ids = fmt.Sprintf("device ids %d..%d", fleet.FirstID(), fleet.LastID())
			}
			log.Info("p4rtsim serving", "addr", lis.Addr().String(), "first_device_id", fleet.FirstID(), "devices", fleet.Len())
			// One line, "p4rtsim listening on ADDR (...)": p4ctl bench reads
			// the address from it.
			fmt.Fprintf(cmd.OutOrStdout(), "p4rtsim listening on %s (%s)\n", lis.Addr(), ids)
			return fleet.Serve(ctx, lis)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9559", "address to serve P4Runtime on")
	cmd.Flags().Uint64Var(&deviceID, "device-id", 1, "P4Runtime device id (of the first device, with --devices)")
	cmd.Flags().IntVar(&devices, "devices", 1, fmt.Sprintf("number of devices to serve, 1 to %d, with consecutive device ids from --device-id", p4rtsim.MaxFleetDevices))
	cmd.Flags().Int64Var(&tableSize, "table-size", 0, "override every table's size (0: the P4Info's)")
	return cmd
}

// checkSimDevices validates --devices and --device-id together.
func checkSimDevices(first uint64, devices int) error {
	if devices < 1 || devices > p4rtsim.MaxFleetDevices {
		return fmt.Errorf("--devices %d: want 1 to %d", devices, p4rtsim.MaxFleetDevices)
	}
	if first > math.MaxUint64-uint64(devices-1) {
		return fmt.Errorf("--device-id %d with --devices %d: the last device id would overflow a uint64 (at most --device-id %d)",
			first, devices, uint64(math.MaxUint64)-uint64(devices-1))
	}
	return nil
}
