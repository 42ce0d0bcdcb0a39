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

// linkView and hostView are links and hosts in json and yaml.
type linkView struct {
	ADevice  string `json:"a_device"`
	APort    uint32 `json:"a_port"`
	BDevice  string `json:"b_device"`
	BPort    uint32 `json:"b_port"`
	Source   string `json:"source"`
	LastSeen string `json:"last_seen"`
}

type hostView struct {
	Host      string `json:"host"`
	Device    string `json:"device"`
	Port      uint32 `json:"port"`
	Interface string `json:"interface"`
	ChassisID string `json:"chassis_id"`
	PortID    string `json:"port_id"`
	Source    string `json:"source"`
	LastSeen  string `json:"last_seen"`
}

// printTopology prints links or hosts.
func printTopology(w io.Writer, what string, f Format, tp *p4ctlv1.TopologyResponse) error {
	if f == FormatJSON || f == FormatYAML {
		if what == "link" {
			out := []linkView{}
			for _, l := range tp.GetLinks() {
				out = append(out, linkView{ADevice: l.GetADevice(), APort: l.GetAPort(), BDevice: l.GetBDevice(), BPort: l.GetBPort(), Source: l.GetSource(),
					LastSeen: unixMs(l.GetLastSeenUnixMs())})
			}
			return printData(w, f, out)
		}
		out := []hostView{}
		for _, h := range tp.GetHosts() {
			out = append(out, hostView{Host: h.GetHost(), Device: h.GetDevice(), Port: h.GetPort(), Interface: h.GetInterface(), ChassisID: h.GetChassisId(),
				PortID: h.GetPortId(), Source: h.GetSource(), LastSeen: unixMs(h.GetLastSeenUnixMs())})
		}
		return printData(w, f, out)
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

// observedPort is a port in json and yaml: its declared settings (none
// when only a device reports it) and what is observed of it.
type observedPort struct {
	Device    string `json:"device"`
	Port      uint32 `json:"port"`
	Segment   string `json:"segment,omitempty"`
	Role      string `json:"role,omitempty"`
	Community uint16 `json:"community,omitempty"`
	PuntARP   bool   `json:"punt_arp"`
	Declared  bool   `json:"declared"`
	Interface string `json:"interface,omitempty"`
	Oper      string `json:"oper_status,omitempty"`
	Neighbor  string `json:"neighbor,omitempty"`
	InOctets  uint64 `json:"in_octets"`
	OutOctets uint64 `json:"out_octets"`
	InErrors  uint64 `json:"in_errors"`
	OutErrors uint64 `json:"out_errors"`
}

// observedEndpoint is an endpoint in json and yaml: its declared
// settings, with device and port where it is placed.
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
func printObserved(w io.Writer, kind string, f Format, objs []policy.Object, tp *p4ctlv1.TopologyResponse) error {
	data := f == FormatJSON || f == FormatYAML
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
			op := observedPort{Device: p.Device, Port: p.Port, Segment: p.Segment, Role: p.Role.String(), Community: p.Community, PuntARP: p.PuntARP,
				Declared: true, Neighbor: strings.Join(neighbor[k], ",")}
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
		if data {
			return printData(w, f, nonNil(out))
		}
		if f == FormatWide {
			fmt.Fprintln(tw, "DEVICE\tPORT\tSEGMENT\tROLE\tCOMMUNITY\tPUNT ARP\tINTERFACE\tOPER\tNEIGHBOR\tIN OCTETS\tOUT OCTETS\tIN ERRORS\tOUT ERRORS")
		} else {
			fmt.Fprintln(tw, "DEVICE\tPORT\tSEGMENT\tROLE\tINTERFACE\tOPER\tNEIGHBOR")
		}
		for _, p := range out {
			seg := p.Segment
			if !p.Declared {
				seg = "(not declared)"
			}
			if f == FormatWide {
				community := "-"
				if p.Community != 0 {
					community = fmt.Sprint(p.Community)
				}
				fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%v\t%s\t%s\t%s\t%d\t%d\t%d\t%d\n", p.Device, p.Port, seg, orDash(p.Role), community, p.PuntARP,
					orDash(p.Interface), orDash(p.Oper), orDash(p.Neighbor), p.InOctets, p.OutOctets, p.InErrors, p.OutErrors)
				continue
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
	if data {
		return printData(w, f, nonNil(out))
	}
	if f == FormatWide {
		fmt.Fprintln(tw, "NAME\tSEGMENT\tMAC\tIPS\tHOST\tAT\tLABELS")
	} else {
		fmt.Fprintln(tw, "NAME\tSEGMENT\tIPS\tAT\tLABELS")
	}
	for _, e := range out {
		at := fmt.Sprintf("%s/%d", e.Device, e.Port)
		if !e.Placed {
			at = "unplaced: " + e.Reason
		}
		if f == FormatWide {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, e.Segment, e.MAC, strings.Join(e.IPs, ","), orDash(e.Host), at, strings.Join(e.Labels, ","))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Name, e.Segment, strings.Join(e.IPs, ","), at, strings.Join(e.Labels, ","))
	}
	return nil
}

func fill(op *observedPort, st *p4ctlv1.PortStatus) {
	op.Interface, op.Oper, op.Neighbor = st.GetInterface(), st.GetOperStatus(), st.GetNeighbor()
	op.InOctets, op.OutOctets, op.InErrors, op.OutErrors = st.GetInOctets(), st.GetOutOctets(), st.GetInErrors(), st.GetOutErrors()
}
