package swx_test

import (
	"bytes"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/pkg/swx"
)

// TestCPUPortFrames: a packet-out becomes packet_out's bytes then the
// payload; a frame from the CPU port becomes a packet-in with packet_in's
// fields as metadata.
func TestCPUPortFrames(t *testing.T) {
	p := dpdkPipeline(t)
	out, _ := p.Info.PacketMetadata("packet_out")
	md, err := out.EncodeMetadata(map[string]uint64{"egress_port": 5})
	if err != nil {
		t.Fatal(err)
	}
	frame, err := swx.PacketOutFrame(p.Info, &p4v1.PacketOut{Payload: []byte("frame"), Metadata: md})
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]byte{0, 0, 0, 5, 0}, "frame"...); !bytes.Equal(frame, want) {
		t.Errorf("packet-out frame % x, want % x", frame, want)
	}
	pi, err := swx.PacketIn(p.Info, append([]byte{0, 0, 0, 7, 0x83}, "denied"...))
	if err != nil {
		t.Fatal(err)
	}
	port, pad, ok := swx.PacketInPort(p.Info, pi)
	if !ok || port != 7 || pad != swx.DenialReport|3 || string(pi.GetPayload()) != "denied" {
		t.Errorf("packet-in: port %d pad %#x ok %v payload %q", port, pad, ok, pi.GetPayload())
	}
	if _, err := swx.PacketIn(p.Info, []byte{1, 2}); err == nil {
		t.Error("a frame shorter than packet_in was taken")
	}
	// The controller knows the mark from the target profile.
	if p.Target.DenialMark != swx.DenialReport {
		t.Errorf("the dpdk profile's DenialMark is 0x%x, the server's DenialReport 0x%x", p.Target.DenialMark, swx.DenialReport)
	}
}

// TestDenialLimiter: a flow once per epoch, a source at most its budget.
func TestDenialLimiter(t *testing.T) {
	l := &swx.DenialLimiter{SourceBudget: 3}
	now := time.UnixMicro(5 << 23)
	frame := func(src, dst byte, dport byte) []byte {
		b := make([]byte, 14+20+4)
		b[12], b[13] = 0x08, 0x00
		b[14] = 0x45
		b[14+9] = 6
		b[14+12+3], b[14+16+3] = src, dst
		b[14+20+3] = dport
		return b
	}
	if !l.Allow(now, 1, frame(1, 2, 22)) || l.Allow(now, 1, frame(1, 2, 22)) {
		t.Error("a flow is reported once per epoch")
	}
	if !l.Allow(now, 1, frame(1, 2, 23)) || !l.Allow(now, 1, frame(1, 3, 22)) || l.Allow(now, 1, frame(1, 4, 22)) {
		t.Error("a source is reported at most its budget (3) per epoch")
	}
	if !l.Allow(now, 1, frame(9, 2, 22)) {
		t.Error("another source has its own budget")
	}
	if !l.Allow(now.Add(9*time.Second), 1, frame(1, 2, 22)) {
		t.Error("the next epoch reports the flow again")
	}
	if l.Dropped() != 2 {
		t.Errorf("dropped %d, want 2", l.Dropped())
	}
}
