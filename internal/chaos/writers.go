package chaos

import (
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/status"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// tally is what the writers did: every attempt, the acknowledged
// endpoints with the documents sent, the failures by kind.
type tally struct {
	mu       sync.Mutex
	attempts int
	acked    map[string][]byte // endpoint name -> the document acknowledged
	ackTimes []time.Time
	failed   map[string]int    // kind -> count
	failedEP map[string][]byte // endpoints whose apply failed
	// failedDown counts the failures of calls to a node that was down
	// (killed) when the call began or ended.
	failedDown int
}

func newTally() *tally {
	return &tally{acked: map[string][]byte{}, failed: map[string]int{}, failedEP: map[string][]byte{}}
}

func (t *tally) record(name string, doc []byte, at time.Time, kind string, down bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.attempts++
	if kind == "" {
		t.acked[name] = doc
		t.ackTimes = append(t.ackTimes, at)
		return
	}
	t.failed[kind]++
	t.failedEP[name] = doc
	if down {
		t.failedDown++
	}
}

// failureKind names a failed call: "timeout" when the call's own
// deadline passed, else its gRPC code.
func failureKind(ctx context.Context, err error) string {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return "timeout"
	}
	if s, ok := status.FromError(err); ok {
		return s.Code().String()
	}
	return "error"
}

// writers runs cfg.Writers goroutines that apply numbered endpoints to
// random nodes until the deadline or cfg.MaxWrites attempts, and returns
// when all are done.
func (c *cluster) writers(ctx context.Context, deadline time.Time, t *tally) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range c.cfg.Writers {
		rng := rand.New(rand.NewPCG(uint64(c.cfg.Seed), uint64(w)+1))
		wg.Go(func() {
			for {
				n := int(next.Add(1))
				if n > c.cfg.MaxWrites || ctx.Err() != nil || !time.Now().Before(deadline) {
					return
				}
				target := c.nodes[rng.IntN(len(c.nodes))]
				name, doc := endpointName(n), endpointDoc(n, len(c.devs))
				down := !target.proc.running()
				actx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
				_, err := target.api.Apply(actx, &p4ctlv1.ApplyRequest{File: name + ".yaml", Docs: doc})
				kind := ""
				if err != nil {
					kind = failureKind(actx, err)
				}
				cancel()
				down = down || !target.proc.running()
				t.record(name, doc, time.Now(), kind, down)
				if c.cfg.WritePause > 0 {
					select {
					case <-ctx.Done():
						return
					case <-time.After(c.cfg.WritePause):
					}
				}
			}
		})
	}
	wg.Wait()
}

// longestGap is the longest time between start, the acknowledgements
// (in any order) and end, with where it began, as an offset from start.
func longestGap(start, end time.Time, acks []time.Time) (gap, from time.Duration) {
	ts := make([]time.Time, 0, len(acks)+2)
	ts = append(append(append(ts, start), acks...), end)
	slices.SortFunc(ts, time.Time.Compare)
	for i := 1; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-1]); d > gap {
			gap, from = d, ts[i-1].Sub(start)
		}
	}
	return gap, from
}
