package main

import (
	"encoding/json"
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
	Revision       string `json:"revision,omitempty"`
	Modified       bool   `json:"modified,omitempty"`
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
		v.PipelineCookie = fmt.Sprintf("%#016x", p.Cookie)
	}
	return v
}

func newVersionCmd() *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the build: module version, VCS revision, Go version and the embedded pipeline's cookie",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := buildVersion()
			w := cmd.OutOrStdout()
			if output == "json" {
				return printJSON(w, v)
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
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	return cmd
}

func newWatchCmd() *cobra.Command {
	var (
		api    apiClient
		output string
	)
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Follow a node's events: model changes (with their raft index) and its leadership",
		Long: `watch prints, one line each, the events of the node at --server until
interrupted: first the raft index of the model it holds, then every change
of it (with the index the model reflects) and the node gaining or losing
leadership. A slow reader misses intermediate model changes but sees the
latest.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, done, err := api.dial()
			if err != nil {
				return err
			}
			defer done()
			stream, err := c.Watch(cmd.Context(), &p4ctlv1.WatchRequest{})
			if err != nil {
				return api.rpcErr(err)
			}
			w := cmd.OutOrStdout()
			enc := json.NewEncoder(w)
			for {
				ev, err := stream.Recv()
				if err != nil {
					if cmd.Context().Err() != nil {
						return nil
					}
					return api.rpcErr(err)
				}
				now := time.Now().Format(time.RFC3339Nano)
				switch e := ev.GetEvent().(type) {
				case *p4ctlv1.Event_ModelIndex:
					if output == "json" {
						err = enc.Encode(map[string]any{"time": now, "model_index": e.ModelIndex})
					} else {
						_, err = fmt.Fprintf(w, "%s model at index %d\n", now, e.ModelIndex)
					}
				case *p4ctlv1.Event_Leader:
					if output == "json" {
						err = enc.Encode(map[string]any{"time": now, "leader": e.Leader})
					} else if e.Leader {
						_, err = fmt.Fprintf(w, "%s this node leads\n", now)
					} else {
						_, err = fmt.Fprintf(w, "%s this node no longer leads\n", now)
					}
				}
				if err != nil {
					return err
				}
			}
		},
	}
	api.flags(cmd.Flags())
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json (one object a line)")
	return cmd
}
