package main

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/p4ctl/p4ctl/pkg/p4rt/p4rtsim"
)

func newSimCmd() *cobra.Command {
	var listen string
	var deviceID uint64
	var tableSize int64
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run an in-process P4Runtime target (control plane only) as a standalone server",
		Long: `sim serves p4rtsim, p4ctl's simulated P4Runtime device, on a TCP address.
It implements arbitration, pipeline config, validated table writes, reads,
counters and multicast groups like a switch's control plane, and forwards no
packets. Use it to try the controller or to benchmark without hardware.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			lis, err := net.Listen("tcp", listen)
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
			sim := p4rtsim.New(p4rtsim.Options{DeviceID: deviceID, Logger: log, TableSize: tableSize})
			log.Info("p4rtsim serving", "addr", lis.Addr().String(), "device_id", deviceID)
			fmt.Fprintf(cmd.OutOrStdout(), "p4rtsim listening on %s (device id %d)\n", lis.Addr(), deviceID)
			return sim.Serve(ctx, lis)
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:9559", "address to serve P4Runtime on")
	cmd.Flags().Uint64Var(&deviceID, "device-id", 1, "P4Runtime device id")
	cmd.Flags().Int64Var(&tableSize, "table-size", 0, "override every table's size (0: the P4Info's)")
	return cmd
}
