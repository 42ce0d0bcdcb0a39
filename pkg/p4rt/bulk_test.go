package p4rt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestBulkWriteErrors drives the one bulk loop with batches that fail in
// chosen ways and at chosen times: the error must name the first failing
// batch by position, whenever it failed, and carry every failed update at
// its position among all updates.
func TestBulkWriteErrors(t *testing.T) {
	detailed := func(msg string, idx ...int) error {
		we := &WriteError{Device: "dev", Err: status.Error(codes.Unknown, msg)}
		for _, i := range idx {
			we.Updates = append(we.Updates, UpdateError{Index: i, Code: codes.AlreadyExists, Message: msg})
		}
		return we
	}
	type batch struct {
		err   error
		delay time.Duration
	}
	cases := []struct {
		name        string
		total       int
		batches     map[int]batch // by batch number; the others succeed at once
		prepareFail int           // batch whose prepare fails (-1: none)
		cancelled   bool          // ctx ends before the call
		wantErr     string        // the WriteError's Err, or the whole error
		wantIdx     []int
		wantWritten int // updates reported to OnBatch
	}{
		{name: "no failure", total: 9, prepareFail: -1, wantWritten: 9},
		{name: "first by position, not by time", total: 10, prepareFail: -1, batches: map[int]batch{
			0: {detailed("b0", 1), 50 * time.Millisecond},
			2: {status.Error(codes.PermissionDenied, "b2"), 0},
			4: {detailed("b4", 0, 1), 0},
		}, wantErr: "rpc error: code = Unknown desc = b0", wantIdx: []int{1, 8, 9}, wantWritten: 10},
		{name: "a whole batch refused first", total: 7, prepareFail: -1, batches: map[int]batch{
			1: {status.Error(codes.PermissionDenied, "b1"), 20 * time.Millisecond},
			3: {detailed("b3", 0), 0},
		}, wantErr: "rpc error: code = PermissionDenied desc = b1", wantIdx: []int{6}, wantWritten: 7},
		{name: "prepare fails", total: 10, prepareFail: 2, batches: map[int]batch{0: {detailed("b0", 0), 0}},
			wantErr: "p4rt dev: write: bad key in batch 2", wantWritten: 4},
		{name: "context ended", total: 10, prepareFail: -1, cancelled: true,
			wantErr: "p4rt dev: write: context canceled"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := &Session{addr: "dev"}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if c.cancelled {
				cancel()
			}
			var written atomic.Int64
			var mu sync.Mutex
			var started []int
			o := BulkOptions{BatchSize: 2, InFlight: 5, OnBatch: func(n int) { written.Add(int64(n)) }}
			err := s.bulkWrite(ctx, c.total, o, func(lo, hi int) (func(context.Context) error, error) {
				n := lo / 2
				if n == c.prepareFail {
					return nil, fmt.Errorf("bad key in batch %d", n)
				}
				return func(context.Context) error {
					mu.Lock()
					started = append(started, n)
					mu.Unlock()
					b := c.batches[n]
					time.Sleep(b.delay)
					return b.err
				}, nil
			})
			if got := int(written.Load()); got != c.wantWritten {
				t.Errorf("OnBatch saw %d updates, want %d (batches %v)", got, c.wantWritten, started)
			}
			if c.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var we *WriteError
			if c.wantIdx == nil {
				if err == nil || err.Error() != c.wantErr || errors.As(err, &we) {
					t.Fatalf("err = %v, want %q", err, c.wantErr)
				}
				return
			}
			if !errors.As(err, &we) {
				t.Fatalf("err = %v, want a *WriteError", err)
			}
			if we.Err == nil || we.Err.Error() != c.wantErr {
				t.Errorf("Err = %v, want %q", we.Err, c.wantErr)
			}
			var idx []int
			for _, u := range we.Updates {
				idx = append(idx, u.Index)
			}
			if !slices.Equal(idx, c.wantIdx) {
				t.Errorf("failed updates %v, want %v", idx, c.wantIdx)
			}
		})
	}
}
