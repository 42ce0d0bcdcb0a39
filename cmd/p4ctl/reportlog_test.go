package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"google.golang.org/grpc"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// fakeRecords streams recs, then err (io.EOF when nil).
type fakeRecords[T any] struct {
	grpc.ClientStream
	recs []*T
	err  error
}

func (s *fakeRecords[T]) Recv() (*T, error) {
	if len(s.recs) == 0 {
		if s.err == nil {
			return nil, io.EOF
		}
		return nil, s.err
	}
	r := s.recs[0]
	s.recs = s.recs[1:]
	return r, nil
}

// TestPrintRecords: the denial and flow logs print as a table (wide:
// more columns), a list, or with follow one JSON object a line; a broken
// stream is an error unless ctx ended.
func TestPrintRecords(t *testing.T) {
	den := []*p4ctlv1.DenialRecord{
		{Device: "leaf1", Segment: "prod", Src: "10.0.0.1", Dst: "10.0.0.2", SrcEndpoint: "web1", Proto: 6, Dport: 80, DeniedBy: "policy", Policy: "p1", Count: 3, LastUnixMs: 2000},
		{Device: "leaf2", Segment: "dev", Src: "fd00::1", Dst: "fd00::2", Proto: 58, DeniedBy: "default", Trace: "deny: default", Count: 1},
	}
	fl := []*p4ctlv1.FlowRecord{{Device: "leaf1", Segment: "prod", Src: "10.0.0.1", Dst: "10.0.0.2", Proto: 17, Dport: 53, Verdict: "allow", DecidedBy: "default", Count: 2}}
	show := func(ctx context.Context, f Format, follow bool, err error) (string, string, error, error) {
		var d, l bytes.Buffer
		derr := printRecords(ctx, &d, f, follow, &fakeRecords[p4ctlv1.DenialRecord]{recs: den, err: err}, denialOf, denialTable)
		ferr := printRecords(ctx, &l, f, follow, &fakeRecords[p4ctlv1.FlowRecord]{recs: fl, err: err}, flowOf, flowTable)
		return d.String(), l.String(), derr, ferr
	}

	d, l, derr, ferr := show(context.Background(), FormatTable, false, nil)
	if derr != nil || ferr != nil {
		t.Fatal(derr, ferr)
	}
	for _, want := range []string{"LAST SEEN", "DENIED BY", "10.0.0.1 (web1)", "10.0.0.2 (-)", "tcp/80", "policy (p1)", "icmpv6", "default\n"} {
		if !strings.Contains(d, want) {
			t.Errorf("denials table: no %q in\n%s", want, d)
		}
	}
	if !strings.Contains(l, "udp/53") || !strings.Contains(l, "allowed by the segment default") {
		t.Errorf("flows table:\n%s", l)
	}
	d, l, _, _ = show(context.Background(), FormatWide, false, nil)
	if !strings.Contains(d, "TRACE") || !strings.Contains(d, "deny: default") || !strings.Contains(l, "DECIDED BY") {
		t.Errorf("wide:\n%s\n%s", d, l)
	}
	d, _, _, _ = show(context.Background(), FormatJSON, false, nil)
	if !strings.HasPrefix(d, "[\n") || strings.Count(d, `"device"`) != 2 {
		t.Errorf("json list:\n%s", d)
	}
	d, _, _, _ = show(context.Background(), FormatJSON, true, nil)
	if lines := strings.Split(strings.TrimSpace(d), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[0], `{"device":"leaf1"`) {
		t.Errorf("json follow:\n%s", d)
	}
	var empty bytes.Buffer
	if err := printRecords(context.Background(), &empty, FormatJSON, false, &fakeRecords[p4ctlv1.FlowRecord]{}, flowOf, flowTable); err != nil || strings.TrimSpace(empty.String()) != "[]" {
		t.Errorf("empty list: %v %q", err, empty.String())
	}

	broken := errors.New("broken")
	if _, _, derr, ferr := show(context.Background(), FormatTable, false, broken); !errors.Is(derr, broken) || !errors.Is(ferr, broken) {
		t.Errorf("broken stream: %v, %v", derr, ferr)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if d, _, derr, ferr := show(ctx, FormatTable, true, broken); derr != nil || ferr != nil || !strings.Contains(d, "leaf2") {
		t.Errorf("interrupted follow: %v, %v\n%s", derr, ferr, d)
	}
}
