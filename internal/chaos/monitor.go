package chaos

import (
	"context"
	"fmt"
	"time"

	"github.com/p4ctl/p4ctl/pkg/p4rt"
)

// The run only adds endpoints, so a device's entries never go down while
// the same device process runs: the monitor samples every device's entry
// count and reports the largest fall below the highest count that process
// held (entries the controller removed that the committed model still
// had). A device restarted by the nemesis starts over empty, and its
// count from it.

// entryDrop is a device's largest fall below its peak.
type entryDrop struct {
	device   string
	peak, at int
	when     time.Duration // from the writers' start
}

func (d entryDrop) String() string {
	return fmt.Sprintf("%s: %d entries at %s, after %d", d.device, d.at, d.when.Round(100*time.Millisecond), d.peak)
}

// monitorResult is what the monitor saw: the largest drop per device
// (devices without one are absent) and the samples taken.
type monitorResult struct {
	drops   []entryDrop
	samples int
}

// watched is the monitor's view of one device.
type watched struct {
	sess   *p4rt.Session
	starts int // the device process the peak belongs to
	peak   int
	worst  entryDrop
}

// monitor samples the devices' entry counts every interval until stop is
// closed or ctx ends, at most maxSamples rounds.
func (c *cluster) monitor(ctx context.Context, stop <-chan struct{}, start time.Time, interval time.Duration, maxSamples int) monitorResult {
	ws := make([]*watched, len(c.devs))
	for i, d := range c.devs {
		s, err := p4rt.Connect(d.addr, p4rt.Options{DeviceID: 1, ElectionID: readElection})
		if err != nil {
			c.logf("monitor: %s: %v", d.name, err)
			continue
		}
		defer s.Close()
		ws[i] = &watched{sess: s, starts: -1}
	}
	var res monitorResult
	t := time.NewTicker(interval)
	defer t.Stop()
rounds:
	for range maxSamples {
		select {
		case <-stop:
			break rounds
		case <-ctx.Done():
			break rounds
		case <-t.C:
			res.samples += c.sample(ctx, ws, start)
		}
	}
	for _, w := range ws {
		if w != nil && w.worst.peak > w.worst.at {
			res.drops = append(res.drops, w.worst)
		}
	}
	return res
}

// sample reads every device's count once and returns the samples taken.
func (c *cluster) sample(ctx context.Context, ws []*watched, start time.Time) int {
	taken := 0
	for i, d := range c.devs {
		w := ws[i]
		if w == nil {
			continue
		}
		before := d.proc.startCount()
		n, err := countEntries(ctx, w.sess)
		if err != nil || d.proc.startCount() != before || !d.proc.running() {
			continue // down, or restarted during the read
		}
		taken++
		w.observe(d.name, before, n, time.Since(start))
	}
	return taken
}

// observe takes one count n of the device process started the starts-th
// time: a new process starts a new peak; otherwise a fall below the peak
// larger than any before is the device's worst.
func (w *watched) observe(device string, starts, n int, when time.Duration) {
	if starts != w.starts {
		w.starts, w.peak = starts, n
		return
	}
	w.peak = max(w.peak, n)
	if fall := w.peak - n; fall > w.worst.peak-w.worst.at {
		w.worst = entryDrop{device: device, peak: w.peak, at: n, when: when}
	}
}

// countEntries counts every table entry of a device.
func countEntries(ctx context.Context, s *p4rt.Session) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n := 0
	err := s.ReadKeys(ctx, []uint32{0}, func(_, _ []byte) error {
		n++
		return nil
	})
	return n, err
}
