package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/policy"
)

func ago(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.Since(time.UnixMilli(ms)).Round(time.Second).String()
}

// printTopology prints links or hosts.
func printTopology(w io.Writer, what, output string, tp *p4ctlv1.TopologyResponse) error {
	if output == "json" {
		if what == "link" {
			return printJSON(w, nonNil(tp.GetLinks()))
		}
		return printJSON(w, nonNil(tp.GetHosts()))
	}
	if output != "table" {
		return fmt.Errorf("unknown output format %q for %ss (table or json)", output, what)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	defer tw.Flush()
	if what == "link" {
		fmt.Fprintln(tw, "FROM\tTO\tSOURCE\tLAST SEEN")
		for _, l := range tp.GetLinks() {
			fmt.Fprintf(tw, "%s/%d\t%s/%d\t%s\t%s ago\n", l.GetADevice(), l.GetAPort(), l.GetBDevice(), l.GetBPort(), l.GetSource(), ago(l.GetLastSeenUnixMs()))
		}
		return nil
	}
	fmt.Fprintln(tw, "HOST\tDEVICE PORT\tINTERFACE\tCHASSIS\tHOST PORT\tSOURCE\tLAST SEEN")
	for _, h := range tp.GetHosts() {
		fmt.Fprintf(tw, "%s\t%s/%d\t%s\t%s\t%s\t%s\t%s ago\n", h.GetHost(), h.GetDevice(), h.GetPort(), h.GetInterface(), h.GetChassisId(),
			h.GetPortId(), h.GetSource(), ago(h.GetLastSeenUnixMs()))
	}
	return nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type observedPort struct {
	Device    string `json:"device"`
	Port      uint32 `json:"port"`
	Segment   string `json:"segment,omitempty"`
	Role      string `json:"role,omitempty"`
	Declared  bool   `json:"declared"`
	Interface string `json:"interface,omitempty"`
	Oper      string `json:"oper_status,omitempty"`
	Neighbor  string `json:"neighbor,omitempty"`
	InOctets  uint64 `json:"in_octets"`
	OutOctets uint64 `json:"out_octets"`
	InErrors  uint64 `json:"in_errors"`
	OutErrors uint64 `json:"out_errors"`
}

type observedEndpoint struct {
	Name    string   `json:"name"`
	Segment string   `json:"segment"`
	MAC     string   `json:"mac"`
	IPs     []string `json:"ips"`
	Host    string   `json:"host,omitempty"`
	Device  string   `json:"device,omitempty"`
	Port    uint32   `json:"port,omitempty"`
	Placed  bool     `json:"placed"`
	Reason  string   `json:"unplaced_reason,omitempty"`
	Labels  []string `json:"labels"`
}

// printObserved prints declared ports or endpoints with what the leader
// observes of them: ports' state and neighbors (ports the devices report
// but the model does not declare too), endpoints' placement.
func printObserved(w io.Writer, kind, output string, objs []policy.Object, tp *p4ctlv1.TopologyResponse) error {
	if output != "table" && output != "json" {
		return fmt.Errorf("unknown output format %q (table, json or yaml)", output)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	defer tw.Flush()
	if kind == policy.KindPort {
		state := map[policy.PortKey]*p4ctlv1.PortStatus{}
		for _, p := range tp.GetPorts() {
			if p.GetPort() != 0 {
				state[policy.PortKey{Device: p.GetDevice(), Port: p.GetPort()}] = p
			}
		}
		// Neighbors from links and hosts, for ports no gNMI server reports.
		neighbor := map[policy.PortKey][]string{}
		for _, l := range tp.GetLinks() {
			k := policy.PortKey{Device: l.GetADevice(), Port: l.GetAPort()}
			neighbor[k] = append(neighbor[k], fmt.Sprintf("%s/%d", l.GetBDevice(), l.GetBPort()))
		}
		for _, h := range tp.GetHosts() {
			k := policy.PortKey{Device: h.GetDevice(), Port: h.GetPort()}
			neighbor[k] = append(neighbor[k], h.GetHost())
		}
		var out []observedPort
		for _, o := range objs {
			p := o.(*policy.Port)
			k := policy.PortKey{Device: p.Device, Port: p.Port}
			op := observedPort{Device: p.Device, Port: p.Port, Segment: p.Segment, Role: p.Role.String(), Declared: true,
				Neighbor: strings.Join(neighbor[k], ",")}
			if st := state[k]; st != nil {
				fill(&op, st)
				delete(state, k)
			}
			out = append(out, op)
		}
		for _, st := range tp.GetPorts() {
			if _, ok := state[policy.PortKey{Device: st.GetDevice(), Port: st.GetPort()}]; ok {
				op := observedPort{Device: st.GetDevice(), Port: st.GetPort()}
				fill(&op, st)
				out = append(out, op)
			}
		}
		if output == "json" {
			return printJSON(w, nonNil(out))
		}
		fmt.Fprintln(tw, "DEVICE\tPORT\tSEGMENT\tROLE\tINTERFACE\tOPER\tNEIGHBOR")
		for _, p := range out {
			seg := p.Segment
			if !p.Declared {
				seg = "(not declared)"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\t%s\n", p.Device, p.Port, seg, p.Role, p.Interface, p.Oper, p.Neighbor)
		}
		return nil
	}
	placed := map[string]*p4ctlv1.Placement{}
	for _, p := range tp.GetPlacements() {
		placed[p.GetEndpoint()] = p
	}
	var out []observedEndpoint
	for _, o := range objs {
		e := o.(*policy.Endpoint)
		oe := observedEndpoint{Name: e.Name, Segment: e.Segment, MAC: e.MAC.String(), IPs: []string{}, Host: e.Host,
			Device: e.Device, Port: e.Port, Placed: e.Host == "", Labels: []string{}}
		for _, ip := range e.IPs {
			oe.IPs = append(oe.IPs, ip.String())
		}
		for k, v := range e.Labels {
			oe.Labels = append(oe.Labels, k+"="+v)
		}
		slices.Sort(oe.Labels)
		if p := placed[e.Name]; p != nil {
			oe.Device, oe.Port, oe.Placed, oe.Reason = p.GetDevice(), p.GetPort(), p.GetDevice() != "", p.GetReason()
		} else if e.Host != "" {
			oe.Reason = "the leader has not compiled it yet"
		}
		out = append(out, oe)
	}
	if output == "json" {
		return printJSON(w, nonNil(out))
	}
	fmt.Fprintln(tw, "NAME\tSEGMENT\tMAC\tIPS\tHOST\tAT\tLABELS")
	for _, e := range out {
		at := fmt.Sprintf("%s/%d", e.Device, e.Port)
		if !e.Placed {
			at = "unplaced: " + e.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Segment, e.MAC, strings.Join(e.IPs, ","), e.Host, at, strings.Join(e.Labels, ","))
	}
	return nil
}

func fill(op *observedPort, st *p4ctlv1.PortStatus) {
	op.Interface, op.Oper, op.Neighbor = st.GetInterface(), st.GetOperStatus(), st.GetNeighbor()
	op.InOctets, op.OutOctets, op.InErrors, op.OutErrors = st.GetInOctets(), st.GetOutOctets(), st.GetInErrors(), st.GetOutErrors()
}
