package main

import (
	"context"
	"fmt"
	"io"
	"time"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
	"github.com/p4ctl/p4ctl/pkg/controller"
)

// denialView is one denied flow in json and yaml.
type denialView struct {
	Device         string `json:"device"`
	Segment        string `json:"segment"`
	InPort         uint32 `json:"in_port"`
	Src            string `json:"src"`
	SrcEndpoint    string `json:"src_endpoint,omitempty"`
	SrcIdentity    uint32 `json:"src_identity"`
	Dst            string `json:"dst"`
	DstEndpoint    string `json:"dst_endpoint,omitempty"`
	DstIdentity    uint32 `json:"dst_identity"`
	Proto          string `json:"proto"`
	SPort          uint32 `json:"sport"`
	DPort          uint32 `json:"dport"`
	DeniedBy       string `json:"denied_by"`
	Policy         string `json:"policy,omitempty"`
	Trace          string `json:"trace"`
	TraceDisagrees bool   `json:"trace_disagrees,omitempty"`
	First          string `json:"first_seen"`
	Last           string `json:"last_seen"`
	Count          uint64 `json:"count"`
}

func denialOf(r *p4ctlv1.DenialRecord) denialView {
	return denialView{Device: r.GetDevice(), Segment: r.GetSegment(), InPort: r.GetInPort(), Src: r.GetSrc(), SrcEndpoint: r.GetSrcEndpoint(),
		SrcIdentity: r.GetSrcIdentity(), Dst: r.GetDst(), DstEndpoint: r.GetDstEndpoint(), DstIdentity: r.GetDstIdentity(),
		Proto: controller.ProtoName(int(r.GetProto())), SPort: r.GetSport(), DPort: r.GetDport(), DeniedBy: r.GetDeniedBy(), Policy: r.GetPolicy(),
		Trace: r.GetTrace(), TraceDisagrees: r.GetTraceDisagrees(), First: unixMs(r.GetFirstUnixMs()), Last: unixMs(r.GetLastUnixMs()), Count: r.GetCount()}
}

// getDenials prints the denied-flow records, and with follow every change
// until interrupted: a table (wide: with ports, identities, first seen and
// the trace), or json and yaml: a list, or with follow one JSON object a
// line or one YAML document per record.
func getDenials(ctx context.Context, c p4ctlv1.ControllerClient, w io.Writer, f Format, device string, since time.Duration, follow bool) error {
	req := &p4ctlv1.DenialsRequest{Device: device, Follow: follow}
	if since > 0 {
		req.SinceUnixMs = time.Now().Add(-since).UnixMilli()
	}
	st, err := c.Denials(ctx, req)
	if err != nil {
		return err
	}
	return printRecords(ctx, w, f, follow, st, denialOf, denialTable)
}

// denialTable is get denials' table.
var denialTable = recordTable[denialView]{
	header:     "LAST SEEN\tDEVICE\tSEGMENT\tFROM\tTO\tPROTO/PORT\tCOUNT\tDENIED BY",
	wideHeader: "LAST SEEN\tFIRST SEEN\tDEVICE\tSEGMENT\tIN PORT\tFROM\tIDENTITY\tTO\tIDENTITY\tPROTO/PORT\tSPORT\tCOUNT\tDENIED BY\tTRACE",
	row: func(w io.Writer, v denialView, wide bool) {
		by := v.DeniedBy
		if v.Policy != "" {
			by += " (" + v.Policy + ")"
		}
		if v.TraceDisagrees {
			by += "; trace now: " + v.Trace
		}
		port := protoPort(v.Proto, v.DPort)
		if wide {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%d\t%s (%s)\t%d\t%s (%s)\t%d\t%s\t%d\t%d\t%s\t%s\n", v.Last, v.First, v.Device, v.Segment, v.InPort,
				v.Src, orDash(v.SrcEndpoint), v.SrcIdentity, v.Dst, orDash(v.DstEndpoint), v.DstIdentity, port, v.SPort, v.Count, by, v.Trace)
		} else {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s (%s)\t%s (%s)\t%s\t%d\t%s\n", v.Last, v.Device, v.Segment, v.Src, orDash(v.SrcEndpoint),
				v.Dst, orDash(v.DstEndpoint), port, v.Count, by)
		}
	},
}
