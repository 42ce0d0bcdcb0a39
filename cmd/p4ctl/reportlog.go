package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"google.golang.org/grpc"
)

// recordTable is how the records of a log (get denials, get flows) print
// as a table: the header, and a record's row (wide: with more columns).
type recordTable[V any] struct {
	header, wideHeader string
	row                func(w io.Writer, v V, wide bool)
}

// printRecords prints the records st streams, each as view makes it: a
// table (wide: t's wide header and rows), or json and yaml: a list, or
// with follow one JSON object a line or one YAML document per record. The
// end of st, or of ctx (interrupted while following), ends it.
func printRecords[T, V any](ctx context.Context, w io.Writer, f Format, follow bool, st grpc.ServerStreamingClient[T], view func(*T) V, t recordTable[V]) error {
	var tw *tabwriter.Writer
	switch f {
	case FormatTable:
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, t.header)
	case FormatWide:
		tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		fmt.Fprintln(tw, t.wideHeader)
	}
	list := []V{}
	for {
		r, err := st.Recv()
		if errors.Is(err, io.EOF) || err != nil && ctx.Err() != nil {
			break
		}
		if err != nil {
			return err
		}
		v := view(r)
		switch {
		case tw == nil && follow:
			if err := printEvent(w, f, v); err != nil {
				return err
			}
			continue
		case tw == nil:
			list = append(list, v)
			continue
		}
		t.row(tw, v, f == FormatWide)
		if follow {
			tw.Flush()
		}
	}
	if tw != nil {
		return tw.Flush()
	}
	if follow {
		return nil
	}
	return printData(w, f, list)
}

// protoPort is a flow's protocol, with its destination port for TCP and
// UDP: "tcp/443", "icmp".
func protoPort(proto string, dport uint32) string {
	if proto == "tcp" || proto == "udp" {
		return fmt.Sprintf("%s/%d", proto, dport)
	}
	return proto
}
