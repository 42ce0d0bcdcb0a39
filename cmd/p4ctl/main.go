// Command p4ctl is the p4ctl SDN controller and its command-line client.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := newRootCmd().Execute(); err != nil {
		code, say := exitCode(err)
		if say {
			fmt.Fprintln(os.Stderr, "p4ctl:", err)
		}
		os.Exit(code)
	}
}
