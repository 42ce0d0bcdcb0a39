package frametest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/internal/rawport"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// recorder keeps the errors a helper reports instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Helper() {}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func TestExpectDelivery(t *testing.T) {
	const tok = "p4ctl:d:1"
	for _, c := range []struct {
		name   string
		frames []rawport.Frame
		want   []uint32
		errs   []string
	}{
		{"once on each wanted port", []rawport.Frame{{Port: 3, Data: []byte("p4ctl:d:2")}, {Port: 5, Data: []byte(tok)}, {Port: 3, Data: []byte(tok)}}, []uint32{3, 5}, nil},
		{"dropped", []rawport.Frame{{Port: 3, Data: []byte(tok + "0")}}, nil, nil},
		{"two copies", []rawport.Frame{{Port: 3, Data: []byte(tok)}, {Port: 3, Data: []byte(tok)}}, []uint32{3}, []string{"port 3 received 2 copies"}},
		{"a port too many", []rawport.Frame{{Port: 3, Data: []byte(tok)}, {Port: 4, Data: []byte(tok)}}, []uint32{3}, []string{"delivered to ports [3 4], want [3]"}},
		{"never delivered", nil, []uint32{3}, []string{"delivered to ports [], want [3]"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := make(chan rawport.Frame, len(c.frames))
			for _, f := range c.frames {
				ch <- f
			}
			r := &recorder{TB: t}
			ExpectDelivery(r, ch, tok, 200*time.Millisecond, 20*time.Millisecond, c.want...)
			if len(r.errs) != len(c.errs) {
				t.Fatalf("errors %q, want %d like %q", r.errs, len(c.errs), c.errs)
			}
			for i, e := range c.errs {
				if !strings.Contains(r.errs[i], e) {
					t.Errorf("error %q, want one saying %q", r.errs[i], e)
				}
			}
		})
	}
}

func TestAwaitPacketIn(t *testing.T) {
	p, err := pipeline.Embedded("bmv2")
	if err != nil {
		t.Fatal(err)
	}
	md, ok := p.Info.PacketMetadata("packet_in")
	if !ok {
		t.Fatal("no packet_in")
	}
	pin := func(payload string, port uint64) *p4v1.PacketIn {
		vals := map[string]uint64{}
		for _, f := range md.Fields {
			vals[f.Name] = 0
		}
		vals["ingress_port"] = port
		meta, err := md.EncodeMetadata(vals)
		if err != nil {
			t.Fatal(err)
		}
		return &p4v1.PacketIn{Payload: []byte(payload), Metadata: meta}
	}
	pins := make(chan *p4v1.PacketIn, 2)
	pins <- pin("p4ctl:p:10", 9)
	pins <- pin("p4ctl:p:1", 4)
	meta, ok := AwaitPacketIn(t, pins, md, "p4ctl:p:1", time.Second)
	if !ok || meta["ingress_port"] != 4 {
		t.Errorf("packet-in %v (%v), want ingress_port 4", meta, ok)
	}
	if meta, ok := AwaitPacketIn(t, pins, md, "p4ctl:p:1", 20*time.Millisecond); ok {
		t.Errorf("a second packet-in %v, want none", meta)
	}
}
