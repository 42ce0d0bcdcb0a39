package p4rt

import (
	"context"
	"errors"
	"fmt"
	"sync"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// BulkOptions shape WriteBulk.
type BulkOptions struct {
	// BatchSize is the number of updates per WriteRequest (default 1000).
	BatchSize int
	// InFlight is how many Write RPCs may be outstanding at once
	// (default 4). Order between batches is not kept when > 1, so callers
	// put dependent updates in separate bulk writes (WritePlan does). See
	// bulkWrite for how failures are reported.
	InFlight int
	// OnBatch, if set, is called with the size of each batch the device
	// has answered (from several goroutines at once).
	OnBatch func(n int)
}

func (o BulkOptions) withDefaults() BulkOptions {
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	return o
}

// writeBulk writes updates in batches through bulkWrite; the indexes of
// its *WriteError are positions in updates.
func (s *Session) writeBulk(ctx context.Context, updates []*p4v1.Update, o BulkOptions) error {
	return s.bulkWrite(ctx, len(updates), o, func(lo, hi int) (func(context.Context) error, error) {
		batch := updates[lo:hi]
		return func(ctx context.Context) error { return s.Write(ctx, batch...) }, nil
	})
}

// bulkWrite is the one batching loop behind every bulk write (writeBulk
// from messages, writeIndexed from an EntrySet's compact form). It cuts
// total updates into batches of o.BatchSize in order; prepare(lo, hi)
// readies updates lo..hi-1 in the calling goroutine and returns the call
// that writes them, which runs in its own goroutine with up to o.InFlight
// of them at once. Batches start in order, but with several in flight a
// device may apply a later batch before an earlier one.
//
// Every batch is written even when others fail (a device applies the good
// updates of a failed batch too). The error is then a *WriteError whose
// Err is the RPC status of the first failing batch in update order (not
// the first to fail in time), and whose Updates are the failed updates of
// every batch, by position among the total, ascending; a batch refused as
// a whole, without per-update details (PERMISSION_DENIED, say), adds
// none. If prepare fails or ctx ends before every batch has started, the
// batches started are waited for and that error is returned instead.
func (s *Session) bulkWrite(ctx context.Context, total int, o BulkOptions, prepare func(lo, hi int) (func(context.Context) error, error)) error {
	o = o.withDefaults()
	errs := make([]error, (total+o.BatchSize-1)/o.BatchSize) // by batch; each written by one goroutine
	sem := make(chan struct{}, o.InFlight)
	var wg sync.WaitGroup
	var stop error
	for i := range errs {
		lo := i * o.BatchSize
		hi := min(lo+o.BatchSize, total)
		write, err := prepare(lo, hi)
		if err == nil {
			err = ctx.Err() // no batch starts once ctx has ended
		}
		if err != nil {
			stop = err
			break
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			stop = ctx.Err()
		}
		if stop != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = write(ctx)
			if o.OnBatch != nil {
				o.OnBatch(hi - lo)
			}
		}()
	}
	wg.Wait()
	if stop != nil {
		return fmt.Errorf("p4rt %s: write: %w", s.addr, stop)
	}
	var agg *WriteError
	for i, err := range errs {
		if err == nil {
			continue
		}
		var we *WriteError
		isWE := errors.As(err, &we)
		if agg == nil {
			agg = &WriteError{Device: s.addr, Err: err}
			if isWE {
				agg.Err = we.Err
			}
		}
		if isWE {
			for _, u := range we.Updates {
				u.Index += i * o.BatchSize
				agg.Updates = append(agg.Updates, u)
			}
		}
	}
	if agg == nil {
		return nil
	}
	return agg
}
