package p4rt

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"

	p4v1 "github.com/p4lang/p4runtime/go/p4/v1"
)

// BulkOptions shape WriteBulk.
type BulkOptions struct {
	// BatchSize is the number of updates per WriteRequest (default 1000).
	BatchSize int
	// InFlight is how many Write RPCs may be outstanding at once
	// (default 4). Order between batches is not kept when > 1, so callers
	// put dependent updates in separate WriteBulk calls (WritePlan does).
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

// writeBulk writes updates in batches with up to o.InFlight RPCs in flight.
// It writes every batch even when some fail (a device applies the good
// updates of a failed batch too) and returns a *WriteError whose update
// indexes refer to positions in updates.
func (s *Session) writeBulk(ctx context.Context, updates []*p4v1.Update, o BulkOptions) error {
	o = o.withDefaults()
	type result struct {
		base int
		err  error
	}
	sem := make(chan struct{}, o.InFlight)
	results := make(chan result, (len(updates)+o.BatchSize-1)/o.BatchSize)
	var wg sync.WaitGroup
	for base := 0; base < len(updates); base += o.BatchSize {
		batch := updates[base:min(base+o.BatchSize, len(updates))]
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return fmt.Errorf("p4rt %s: bulk write: %w", s.addr, ctx.Err())
		}
		wg.Add(1)
		go func(base int, batch []*p4v1.Update) {
			defer wg.Done()
			defer func() { <-sem }()
			err := s.Write(ctx, batch...)
			if o.OnBatch != nil {
				o.OnBatch(len(batch))
			}
			results <- result{base, err}
		}(base, batch)
	}
	wg.Wait()
	close(results)
	var agg *WriteError
	for r := range results {
		if r.err == nil {
			continue
		}
		if agg == nil {
			agg = &WriteError{Device: s.addr, Err: r.err}
		}
		var we *WriteError
		if errors.As(r.err, &we) && len(we.Updates) > 0 {
			for _, u := range we.Updates {
				u.Index += r.base
				agg.Updates = append(agg.Updates, u)
			}
			continue
		}
		// The whole batch failed without per-update details (for example
		// PERMISSION_DENIED): report the RPC error.
		agg.Err = r.err
	}
	if agg == nil {
		return nil
	}
	slices.SortFunc(agg.Updates, func(a, b UpdateError) int { return a.Index - b.Index })
	return agg
}
