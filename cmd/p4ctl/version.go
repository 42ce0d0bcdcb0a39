package main

import (
	"fmt"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// versionInfo is what `p4ctl version` reports.
type versionInfo struct {
	Module         string `json:"module"`
	Version        string `json:"version"`
	Revision       string `json:"revision"`
	Modified       bool   `json:"modified"`
	Go             string `json:"go"`
	PipelineCookie string `json:"pipeline_cookie"`
}

func buildVersion() versionInfo {
	v := versionInfo{Module: "github.com/p4ctl/p4ctl", Version: "(devel)"}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v.Module, v.Version, v.Go = bi.Main.Path, bi.Main.Version, bi.GoVersion
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if p, err := pipeline.Embedded("bmv2"); err == nil {
		v.PipelineCookie = cookieString(p.Cookie)
	}
	return v
}

func newVersionCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build: module version, VCS revision, Go version and the embedded pipeline's cookie",
		Example: `  p4ctl version
  p4ctl version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			w := cmd.OutOrStdout()
			if f := output(cmd).Format(); f != FormatTable {
				return printData(w, f, v)
			}
			rev := v.Revision
			if rev == "" {
				rev = "unknown"
			}
			if v.Modified {
				rev += " (modified)"
			}
			fmt.Fprintf(w, "p4ctl %s\nmodule:   %s\nrevision: %s\ngo:       %s\npipeline: cookie %s\n", v.Version, v.Module, rev, v.Go, v.PipelineCookie)
			return nil
		},
	}
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML)
	return cmd
}

// watchEvent is one event of watch in json and yaml: the model index,
// the node's leadership, a device whose status changed, or a change of
// the topology.
type watchEvent struct {
	Time       string  `json:"time"`
	ModelIndex *uint64 `json:"model_index,omitempty"`
	Leader     *bool   `json:"leader,omitempty"`
	Device     string  `json:"device,omitempty"`
	Topology   bool    `json:"topology,omitempty"`
}

func newWatchCmd() *cobra.Command {
	var api apiClient
	var clusterWide bool
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow a node's events: model changes (with their raft index), its leadership, device status and topology changes",
		Long: `watch prints, one line each, the events of the node at --server until
interrupted: first the raft index of the model it holds, then every change
of it (with the index the model reflects), the node gaining or losing
leadership, a device whose status changed as the node knows it (its own
sessions, and every device's master: p4ctl get devices shows the status)
and a change of the links or hosts it knows (p4ctl get links, hosts). Device
and topology events are coalesced (at most one per device in 250 ms);
--cluster adds every other member's (each tells of the devices it
masters, the leader of the links and hosts). A
slow reader misses intermediate model changes but sees the latest. -o
json prints one JSON object a line ({"time", "model_index"}, {"time",
"leader"}, {"time", "device"} or {"time", "topology"}), -o yaml one
document per event.`,
		Example: `  p4ctl watch
  p4ctl watch -o json | jq -c 'select(.leader != null)'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, err := api.dial()
			if err != nil {
				return err
			}
			defer done()
			stream, err := c.Watch(cmd.Context(), &p4ctlv1.WatchRequest{Cluster: clusterWide})
			if err != nil {
				return api.rpcErr(err)
			}
			w := cmd.OutOrStdout()
			f := output(cmd).Format()
			for {
				ev, err := stream.Recv()
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return api.rpcErr(err)
				}
				we := watchEvent{Time: time.Now().Format(time.RFC3339Nano)}
				switch e := ev.GetEvent().(type) {
				case *p4ctlv1.Event_ModelIndex:
					we.ModelIndex = &e.ModelIndex
				case *p4ctlv1.Event_Leader:
					we.Leader = &e.Leader
				case *p4ctlv1.Event_Device:
					we.Device = e.Device
				case *p4ctlv1.Event_Topology:
					we.Topology = true
				default:
					continue // an event of a newer server
				}
				switch {
				case f != FormatTable:
					err = printEvent(w, f, we)
				case we.ModelIndex != nil:
					_, err = fmt.Fprintf(w, "%s model at index %d\n", we.Time, *we.ModelIndex)
				case we.Device != "":
					_, err = fmt.Fprintf(w, "%s device %s status changed\n", we.Time, we.Device)
				case we.Topology:
					_, err = fmt.Fprintf(w, "%s topology changed (links or hosts)\n", we.Time)
				case *we.Leader:
					_, err = fmt.Fprintf(w, "%s this node leads\n", we.Time)
				default:
					_, err = fmt.Fprintf(w, "%s this node no longer leads\n", we.Time)
				}
				if err != nil {
					return err
				}
			}
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().BoolVar(&clusterWide, "cluster", false, "also every other member's device and topology events")
	addOutput(cmd, FormatTable, FormatJSON, FormatYAML)
	return cmd
}
