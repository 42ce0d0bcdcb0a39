package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/term"

	p4ctlv1 "github.com/p4ctl/p4ctl/api/p4ctl/v1"
)

// isTerminal reports whether w (a writer or a reader) is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// spinner redraws msg with a moving mark every 100 ms on a terminal until
// stop is called; elsewhere it does nothing.
func spinner(w io.Writer, msg string) (stop func()) {
	if !isTerminal(w) {
		return func() {}
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for i := 0; ; i++ {
			fmt.Fprintf(w, "\r%c %s (%s)\x1b[K", `|/-\`[i%4], msg, time.Since(start).Round(time.Second))
			select {
			case <-done:
				fmt.Fprint(w, "\r\x1b[K")
				return
			case <-t.C:
			}
		}
	}()
	return func() { close(done); <-finished }
}

// syncProgress is how far the devices are towards a model index.
type syncProgress struct {
	done, total    int64 // entries written of the writes in flight
	synced, devs   int
	failing        []string // "device: last error"
	waitingOnNames []string
}

func progressOf(devs []*p4ctlv1.DeviceStatus, index uint64, only []string) syncProgress {
	var p syncProgress
	for _, d := range devs {
		if only != nil && !slices.Contains(only, d.GetName()) {
			continue
		}
		p.devs++
		switch {
		case d.GetInSync() && d.GetModelIndex() >= index && d.GetWriteTotal() == 0:
			p.synced++
		default:
			p.waitingOnNames = append(p.waitingOnNames, d.GetName())
			if d.GetLastError() != "" {
				p.failing = append(p.failing, d.GetName()+": "+d.GetLastError())
			}
		}
		p.done += d.GetWriteDone()
		p.total += d.GetWriteTotal()
	}
	slices.Sort(p.failing)
	return p
}

// bar renders p on one line of width cols.
func (p syncProgress) bar(cols int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "devices %d/%d in sync", p.synced, p.devs)
	if p.total > 0 {
		const width = 30
		filled := int(float64(width) * float64(p.done) / float64(p.total))
		filled = min(filled, width)
		fmt.Fprintf(&b, " [%s%s] %d/%d entries", strings.Repeat("=", filled), strings.Repeat(" ", width-filled), p.done, p.total)
	}
	if len(p.failing) > 0 {
		fmt.Fprintf(&b, "  retrying %s", p.failing[0])
	}
	s := b.String()
	if cols > 1 && len(s) >= cols {
		s = s[:cols-1]
	}
	return s
}

// waitForDevices follows the leader's device status until every device
// of only (all of them when only is nil) has reached model index, drawing
// a progress bar on a terminal. It returns an error naming the devices
// that had not when ctx ends, each with its last error.
func waitForDevices(ctx context.Context, c p4ctlv1.ControllerClient, index uint64, only []string, w io.Writer) error {
	tty := isTerminal(w)
	cols := 100
	if f, ok := w.(*os.File); ok && tty {
		if c, _, err := term.GetSize(int(f.Fd())); err == nil {
			cols = c
		}
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var last syncProgress
	for {
		resp, err := c.Devices(ctx, &p4ctlv1.DevicesRequest{FromLeader: true})
		if err == nil {
			last = progressOf(resp.GetDevices(), index, only)
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", last.bar(cols))
			}
			if last.synced == last.devs {
				if tty {
					fmt.Fprint(w, "\r\x1b[K")
				}
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if tty {
				fmt.Fprintln(w)
			}
			msg := fmt.Sprintf("not every device reached log index %d: waiting on %s", index, strings.Join(last.waitingOnNames, ", "))
			if len(last.failing) > 0 {
				msg += "; " + strings.Join(last.failing, "; ")
			}
			if err != nil {
				msg += fmt.Sprintf(" (last status error: %v)", err)
			}
			return fmt.Errorf("%s: %w", msg, ctx.Err())
		case <-t.C:
		}
	}
}
