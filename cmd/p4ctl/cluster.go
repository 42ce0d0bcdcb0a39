package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// clusterStatusView is `cluster status` in json and yaml.
type clusterStatusView struct {
	Node         string       `json:"node"`
	State        string       `json:"state"`
	Term         uint64       `json:"term"`
	LastIndex    uint64       `json:"last_index"`
	AppliedIndex uint64       `json:"applied_index"`
	Leader       string       `json:"leader"`
	Members      []memberView `json:"members"`
}

type memberView struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	APIAddr  string `json:"api_addr"`
	Suffrage string `json:"suffrage"`
	Leader   bool   `json:"leader"`
	Devices  int64  `json:"devices"`
	Down     bool   `json:"down"`
}

func clusterStatusOf(r *p4ctlv1.ClusterStatusResponse) clusterStatusView {
	v := clusterStatusView{Node: r.GetNode(), State: r.GetState(), Term: r.GetTerm(), LastIndex: r.GetLastIndex(), AppliedIndex: r.GetAppliedIndex(),
		Leader: r.GetLeader(), Members: []memberView{}}
	for _, m := range r.GetMembers() {
		v.Members = append(v.Members, memberView{ID: m.GetId(), RaftAddr: m.GetRaftAddr(), APIAddr: m.GetApiAddr(), Suffrage: m.GetSuffrage(),
			Leader: m.GetLeader(), Devices: m.GetDevices(), Down: m.GetDown()})
	}
	return v
}

func printClusterStatus(w io.Writer, v clusterStatusView) error {
	fmt.Fprintf(w, "node %s: %s, term %d, applied %d/%d, leader %s\n", v.Node, v.State, v.Term, v.AppliedIndex, v.LastIndex, v.Leader)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "MEMBER\tRAFT\tAPI\tSUFFRAGE\tLEADER\tDEVICES\tSTATE")
	for _, m := range v.Members {
		state := "up"
		if m.Down {
			state = "down (its devices move)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%d\t%s\n", m.ID, m.RaftAddr, m.APIAddr, m.Suffrage, m.Leader, m.Devices, state)
	}
	return tw.Flush()
}

func newClusterCmd() *cobra.Command {
	var api apiClient
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Inspect and change the controller cluster",
		Example: `  p4ctl cluster status
  p4ctl cluster join n2 --raft-addr 10.0.0.2:9601 --api-addr 10.0.0.2:9600
  p4ctl cluster leave n3`,
	}
	st := &cobra.Command{
		Use:   "status",
		Short: "Raft state, leader and members",
		Example: `  p4ctl cluster status
  p4ctl cluster status -o json | jq -r '.members[] | select(.leader) | .api_addr'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			resp, err := callAPI(cmd, &api, 10*time.Second, func(ctx context.Context, c p4ctlv1.ControllerClient) (*p4ctlv1.ClusterStatusResponse, error) {
				return c.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
			})
			if err != nil {
				return err
			}
			v := clusterStatusOf(resp)
			if f := output(cmd).Format(); f != FormatTable {
				return printData(cmd.OutOrStdout(), f, v)
			}
			return printClusterStatus(cmd.OutOrStdout(), v)
		},
	}
	addOutput(st, FormatTable, FormatJSON, FormatYAML)
	var raftAddr, apiAddr string
	join := &cobra.Command{
		Use:     "join ID --raft-addr ADDR [--api-addr ADDR]",
		Short:   "Add a node (already running with serve) as a voting member",
		Example: `  p4ctl cluster join n2 --raft-addr 10.0.0.2:9601 --api-addr 10.0.0.2:9600`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := withTimeout(cmd, 30*time.Second)
			defer cancel()
			return joinCluster(ctx, api, &p4ctlv1.JoinRequest{Id: args[0], RaftAddr: raftAddr, ApiAddr: apiAddr})
		},
	}
	join.Flags().StringVar(&raftAddr, "raft-addr", "", "the node's raft address")
	join.Flags().StringVar(&apiAddr, "api-addr", "", "the node's API address")
	leave := &cobra.Command{
		Use:     "leave ID",
		Short:   "Remove a member",
		Example: `  p4ctl cluster leave n3`,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			return api.completeMembers(), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ctx, done, err := api.session(cmd, 30*time.Second)
			if err != nil {
				return err
			}
			defer done()
			if _, err := c.Leave(ctx, &p4ctlv1.LeaveRequest{Id: args[0]}); err != nil {
				return api.rpcErr(err)
			}
			return nil
		},
	}
	api.flags(cmd.PersistentFlags())
	cmd.AddCommand(st, join, leave)
	return cmd
}

// completeMembers are the cluster's member ids, asked within a second.
func (a *apiClient) completeMembers() []string {
	c, done, err := a.dial()
	if err != nil {
		return nil
	}
	defer done()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	resp, err := c.ClusterStatus(ctx, &p4ctlv1.ClusterStatusRequest{})
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range resp.GetMembers() {
		out = append(out, m.GetId())
	}
	return out
}
