package main

import (
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "p4ctl",
		Short: "Zero-trust micro-segmentation controller for P4Runtime switches",
		Long: `p4ctl programs p4ctl's isolation + ACL pipeline onto P4Runtime devices
(BMv2 today) and keeps their tables equal to the desired segmentation state.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newPipelineCmd(), newSimCmd(), newBenchCmd(), newValidateCmd(), newApplyCmd(), newTraceCmd(),
		newServeCmd(), newGetCmd(), newDeleteCmd(), newClusterCmd(), newAgentCmd(), newVersionCmd(), newWatchCmd(), newHistoryCmd(), newDiffCmd(), newRollbackCmd())
	return root
}
