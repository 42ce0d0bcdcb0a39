package frametest

import (
	"slices"
	"testing"
	"time"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"

	"github.com/p4ctl/p4ctl/internal/rawport"
	"github.com/p4ctl/p4ctl/pkg/pipeline"
)

// ExpectDelivery asserts that the frames carrying tok come out of frames on
// exactly the ports want, one copy each (want empty: dropped everywhere).
// A frame that should arrive has within; once every wanted port has its
// copy, ExpectDelivery watches quiet more for copies that should not
// exist. A drop cannot be observed any other way than as an absence over a
// window.
func ExpectDelivery(tb testing.TB, frames <-chan rawport.Frame, tok string, within, quiet time.Duration, want ...uint32) {
	tb.Helper()
	got := map[uint32]int{}
	complete := func() bool {
		for _, p := range want {
			if got[p] == 0 {
				return false
			}
		}
		return true
	}
	deadline := time.NewTimer(within)
	defer deadline.Stop()
	var settled <-chan time.Time
	if complete() {
		settled = time.After(quiet)
	}
	for {
		select {
		case f := <-frames:
			if !ContainsToken(f.Data, tok) {
				continue
			}
			got[f.Port]++
			if settled == nil && complete() {
				settled = time.After(quiet)
			}
		case <-settled:
			checkDelivery(tb, tok, got, want)
			return
		case <-deadline.C:
			checkDelivery(tb, tok, got, want)
			return
		}
	}
}

func checkDelivery(tb testing.TB, tok string, got map[uint32]int, want []uint32) {
	tb.Helper()
	var ports []uint32
	for p, n := range got {
		ports = append(ports, p)
		if n > 1 {
			tb.Errorf("frame %s: port %d received %d copies, want 1", tok, p, n)
		}
	}
	slices.Sort(ports)
	w := slices.Sorted(slices.Values(want))
	if !slices.Equal(ports, w) {
		tb.Errorf("frame %s delivered to ports %v, want %v", tok, ports, w)
	}
}

// AwaitPacketIn waits up to wait for the packet-in on pins whose payload
// carries tok, passing over the others, and returns its metadata decoded
// by md; ok is false when none came in time.
func AwaitPacketIn(tb testing.TB, pins <-chan *p4v1.PacketIn, md *pipeline.PacketMetadata, tok string, wait time.Duration) (meta map[string]uint64, ok bool) {
	tb.Helper()
	deadline := time.After(wait)
	for {
		select {
		case pin := <-pins:
			if !ContainsToken(pin.GetPayload(), tok) {
				continue
			}
			meta, err := md.DecodeMetadata(pin.GetMetadata())
			if err != nil {
				tb.Fatal(err)
			}
			return meta, true
		case <-deadline:
			return nil, false
		}
	}
}
