package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// countersView is `get policies --counters` in json and yaml.
type countersView struct {
	Node    string              `json:"node" yaml:"node"`
	Devices []deviceCounterView `json:"devices" yaml:"devices"`
}

type deviceCounterView struct {
	Device       string              `json:"device" yaml:"device"`
	ReadAt       string              `json:"read_at,omitempty" yaml:"read_at,omitempty"`
	TookMs       int64               `json:"took_ms" yaml:"took_ms"`
	Entries      int64               `json:"entries" yaml:"entries"`
	Unknown      int64               `json:"unknown" yaml:"unknown"`
	Resets       uint64              `json:"resets" yaml:"resets"`
	LastReset    string              `json:"last_reset,omitempty" yaml:"last_reset,omitempty"`
	ResetEntries int64               `json:"reset_entries" yaml:"reset_entries"`
	Error        string              `json:"error,omitempty" yaml:"error,omitempty"`
	Policies     []policyCounterView `json:"policies" yaml:"policies"`
}

type policyCounterView struct {
	Policy  string            `json:"policy" yaml:"policy"`
	Packets uint64            `json:"packets" yaml:"packets"`
	Bytes   uint64            `json:"bytes" yaml:"bytes"`
	Rules   []ruleCounterView `json:"rules" yaml:"rules"`
}

type ruleCounterView struct {
	Rule    int32  `json:"rule" yaml:"rule"`
	Packets uint64 `json:"packets" yaml:"packets"`
	Bytes   uint64 `json:"bytes" yaml:"bytes"`
}

func unixMs(ms int64) string {
	if ms == 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format(time.RFC3339Nano)
}

func countersOf(resp *p4ctlv1.CountersResponse) countersView {
	v := countersView{Node: resp.GetNode(), Devices: []deviceCounterView{}}
	for _, d := range resp.GetDevices() {
		dv := deviceCounterView{Device: d.GetDevice(), ReadAt: unixMs(d.GetReadAtUnixMs()), TookMs: d.GetTookMs(), Entries: d.GetEntries(),
			Unknown: d.GetUnknown(), Resets: d.GetResets(), LastReset: unixMs(d.GetLastResetUnixMs()), ResetEntries: d.GetResetEntries(),
			Error: d.GetError(), Policies: []policyCounterView{}}
		for _, p := range d.GetPolicies() {
			pv := policyCounterView{Policy: p.GetPolicy(), Packets: p.GetPackets(), Bytes: p.GetBytes(), Rules: []ruleCounterView{}}
			for _, r := range p.GetRules() {
				pv.Rules = append(pv.Rules, ruleCounterView{Rule: r.GetRule(), Packets: r.GetPackets(), Bytes: r.GetBytes()})
			}
			dv.Policies = append(dv.Policies, pv)
		}
		v.Devices = append(v.Devices, dv)
	}
	return v
}

// getCounters prints the policies' hit counters, read from the devices
// now by the node the client talks to, for the policies named (all when
// none) on every device.
func getCounters(ctx context.Context, c p4ctlv1.ControllerClient, w io.Writer, f Format, names []string) error {
	var resps []*p4ctlv1.CountersResponse
	if len(names) == 0 {
		names = []string{""}
	}
	for _, n := range names {
		r, err := c.Counters(ctx, &p4ctlv1.CountersRequest{Policy: n, Refresh: true})
		if err != nil {
			return err
		}
		resps = append(resps, r)
	}
	// One view: each device with the named policies' counters.
	all := countersOf(resps[0])
	for _, r := range resps[1:] {
		more := countersOf(r)
		for i := range all.Devices {
			all.Devices[i].Policies = append(all.Devices[i].Policies, more.Devices[i].Policies...)
		}
	}
	staged, err := stagedHits(ctx, c, names)
	if err != nil {
		return err
	}
	if f != FormatTable {
		if staged != nil {
			return printData(w, f, struct {
				countersView
				Staged []stagedHitsView `json:"staged"`
			}{all, staged})
		}
		return printData(w, f, all)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "POLICY\tDEVICE\tPACKETS\tBYTES\tBY RULE (#: packets)")
	var notes []string
	for _, d := range all.Devices {
		for _, p := range d.Policies {
			var rules []string
			for _, r := range p.Rules {
				rules = append(rules, fmt.Sprintf("%d: %d", r.Rule, r.Packets))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%s\n", p.Policy, d.Device, p.Packets, p.Bytes, strings.Join(rules, ", "))
		}
		switch {
		case d.Error != "":
			notes = append(notes, fmt.Sprintf("%s: not read: %s", d.Device, d.Error))
		case d.Resets > 0:
			notes = append(notes, fmt.Sprintf("%s: counters were reset %d times (last at %s, %d entries): hits between the read before and a reset are not counted",
				d.Device, d.Resets, d.LastReset, d.ResetEntries))
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range notes {
		fmt.Fprintln(w, n)
	}
	return printStagedHits(w, staged)
}
