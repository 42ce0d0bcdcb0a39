package main

import (
	"errors"
	"fmt"
	"math"
	"regexp"

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
		newServeCmd(), newGetCmd(), newDeleteCmd(), newClusterCmd(), newAgentCmd(), newVersionCmd(), newWatchCmd(), newHistoryCmd(), newDiffCmd(), newRollbackCmd(),
		newExportCmd(), newConfigCmd(), newCompletionCmd(root), newPromoteCmd(), newSuggestCmd())
	root.SetFlagErrorFunc(flagError)
	root.Example = `  p4ctl config set-context lab --server 127.0.0.1:9600 --use
  p4ctl apply -f examples/segmentation.yaml
  p4ctl get devices
  p4ctl diff -f examples/segmentation.yaml
  p4ctl export > desired.yaml`
	addExamples(root)
	return root
}

// exitError ends the command with code; err, when set, is printed first.
// A command whose answer is its exit status (diff: 1 when there are
// changes) returns one.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// exitCode is the process's exit status for err, and whether err has a
// message to print.
func exitCode(err error) (int, bool) {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, ee.err != nil
	}
	return 1, true
}

var outOfRange = regexp.MustCompile(`^invalid argument "([^"]*)" for "(?:-\w, )?--([\w-]+)" flag: strconv\.Parse\w+: parsing "[^"]*": value out of range$`)

// flagError says which range a number flag takes, instead of strconv's
// words, and which output formats a command takes.
func flagError(c *cobra.Command, err error) error {
	err = flagErrorText(c, err)
	if c.Name() == "diff" {
		// diff's exit status is its answer: 1 says there are changes, 2
		// that it could not tell.
		return &exitError{code: 2, err: err}
	}
	return err
}

// flagErrorText is a flag error in our words, where we have better ones.
func flagErrorText(c *cobra.Command, err error) error {
	var fe *formatError
	if errors.As(err, &fe) {
		return fe
	}
	m := outOfRange.FindStringSubmatch(err.Error())
	if m == nil {
		return err
	}
	f := c.Flags().Lookup(m[2])
	if f == nil {
		return err
	}
	bounds := map[string][2]int64{"uint8": {0, math.MaxUint8}, "uint16": {0, math.MaxUint16}, "uint32": {0, math.MaxUint32},
		"int8": {math.MinInt8, math.MaxInt8}, "int16": {math.MinInt16, math.MaxInt16}, "int32": {math.MinInt32, math.MaxInt32}}
	if b, ok := bounds[f.Value.Type()]; ok {
		return fmt.Errorf("--%s %s: out of range: it takes %d to %d", m[2], m[1], b[0], b[1])
	}
	return fmt.Errorf("--%s %s: out of range for a %s", m[2], m[1], f.Value.Type())
}
