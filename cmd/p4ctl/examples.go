package main

import (
	"strings"

	"github.com/spf13/cobra"
)

// moreExamples are the Examples of commands defined where their own
// definition has none (serve, sim and bench fleet are maintained apart
// from the client commands); a command's own Example wins.
var moreExamples = map[string]string{
	"p4ctl serve": `  p4ctl serve --bootstrap --data-dir /var/lib/p4ctl --sim 127.0.0.1:9559 --apply examples/segmentation.yaml
  p4ctl serve --join 10.0.0.1:9600 --node-id n2 --api-addr 10.0.0.2:9600 --raft-addr 10.0.0.2:9601
  p4ctl serve --config /etc/p4ctl/p4ctl.yaml`,
	"p4ctl sim": `  p4ctl sim --listen 127.0.0.1:9559
  p4ctl sim --listen 127.0.0.1:9559 --device-id 1 --devices 1000`,
	"p4ctl bench fleet": `  p4ctl bench fleet --devices 100 --light
  p4ctl bench fleet --devices 50 --nodes 3 --kill leader -o json
  p4ctl bench fleet --print-world --devices 4 > world.yaml`,
	"p4ctl help": `  p4ctl help apply
  p4ctl get --help`,
}

// addExamples fills in moreExamples under root.
func addExamples(root *cobra.Command) {
	root.InitDefaultHelpCmd()
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if ex, ok := moreExamples[c.CommandPath()]; ok && strings.TrimSpace(c.Example) == "" {
			c.Example = ex
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(root)
}
