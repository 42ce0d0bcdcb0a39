package apiserver

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"
	"time"
)

// TestStreamLocal: the snapshot is sent after following starts, then the
// followed records keep selects, until ctx ends; without follow, only the
// snapshot; a send error ends it.
func TestStreamLocal(t *testing.T) {
	ch := make(chan int, 8)
	followed, stopped := false, false
	follow := func() (<-chan int, func()) {
		followed = true
		return ch, func() { stopped = true }
	}
	snapshot := func() []int {
		if !followed {
			t.Error("snapshot before follow")
		}
		return []int{1, 2}
	}
	keep := func(n *int) bool {
		*n *= 10 // completed before it is sent
		return *n != 30
	}
	ctx, cancel := context.WithCancel(context.Background())
	var got []string
	send := func(s *string) error {
		got = append(got, *s)
		if len(got) == 4 {
			cancel()
		}
		return nil
	}
	convert := func(n int) *string { s := strconv.Itoa(n); return &s }
	ch <- 3
	ch <- 4
	ch <- 5
	done := make(chan error, 1)
	go func() { done <- streamLocal(ctx, follow, snapshot, keep, convert, send) }()
	select {
	case err := <-done:
		if err != nil || !stopped || !slices.Equal(got, []string{"1", "2", "40", "50"}) {
			t.Errorf("follow: %v, stopped %v, sent %v", err, stopped, got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("streamLocal did not end with ctx")
	}

	got = nil
	if err := streamLocal(context.Background(), nil, func() []int { return []int{7} }, keep, convert, send); err != nil || !slices.Equal(got, []string{"7"}) {
		t.Errorf("no follow: %v, sent %v", err, got)
	}
	broken := errors.New("broken")
	if err := streamLocal(context.Background(), nil, func() []int { return []int{7} }, keep, convert, func(*string) error { return broken }); !errors.Is(err, broken) {
		t.Errorf("send error: %v", err)
	}
}
