package chaos

import (
	"testing"
	"time"
)

// A fall below the peak of one device process is its worst drop; a
// restarted process (a new start count) starts a new peak, however low.
func TestWatchedObserve(t *testing.T) {
	w := &watched{starts: -1}
	for i, n := range []int{10, 50, 40, 60, 58} {
		w.observe("sw1", 1, n, time.Duration(i)*time.Second)
	}
	if w.worst != (entryDrop{device: "sw1", peak: 50, at: 40, when: 2 * time.Second}) {
		t.Errorf("worst %+v, want 50 -> 40 at 2s", w.worst)
	}
	w.observe("sw1", 2, 0, 5*time.Second) // restarted empty: no drop
	w.observe("sw1", 2, 30, 6*time.Second)
	if w.peak != 30 || w.worst.peak-w.worst.at != 10 {
		t.Errorf("after a restart: peak %d, worst %+v", w.peak, w.worst)
	}
	w.observe("sw1", 2, 3, 7*time.Second)
	if got := w.worst.String(); got != "sw1: 3 entries at 7s, after 30" {
		t.Errorf("worst %q", got)
	}
}
