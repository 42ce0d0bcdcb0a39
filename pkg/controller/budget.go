package controller

import (
	"context"
	"sync/atomic"
	"time"

	"golang.org/x/sync/semaphore"
)

// DefaultReconcileMemory is the default Config.ReconcileMemory: 128 MiB,
// about twenty devices of 54,000 entries in flight at once.
const DefaultReconcileMemory = 128 << 20

// desiredBytesPerEntry is what a full reconcile holds per entry of its
// device from the build until the write ends: the entry set's key and
// action bytes and its index (p4rt.EntrySet), and the plan. Measured:
// the heap profile of a node reconciling 72 devices of the 200-device
// fleet at once (pkg/bench/fleet) held 79 B per entry in entry sets.
const desiredBytesPerEntry = 100

// reconcileBudget bounds the memory that the full reconciles in flight
// hold together. A reconcile takes its device's share (entries times
// desiredBytesPerEntry, at most the whole budget) before it builds the
// desired state and gives it back when its write has ended, so a node's
// peak memory follows the budget rather than the number of devices it
// masters: a thousand devices reconnecting at once queue, in order,
// rather than each hold a full copy of its entries. Deltas, which hold
// only what changed, take no share.
//
// A share is a lease: a reconcile that still holds it after lease (a
// wedged switch that accepts a write and never answers, or one far
// slower than the rest) gives it back then, so that a few such devices
// cannot stop every other device's reconcile; its memory then counts
// outside the bound until its write ends.
type reconcileBudget struct {
	size  int64               // bytes; 0: no bound
	sem   *semaphore.Weighted // nil when size is 0
	lease time.Duration       // set by newReconcileBudget (tests shorten it before use)

	held    atomic.Int64 // bytes taken now
	waiting atomic.Int64 // reconciles waiting for their share
	lapsed  atomic.Int64 // shares given back by their lease's end
}

// reconcileLease is how long a reconcile may hold its share: a 54,000-
// entry device writes in about 3 s on BMv2, a million entries in about
// a minute.
const reconcileLease = 2 * time.Minute

func newReconcileBudget(size int64) *reconcileBudget {
	b := &reconcileBudget{lease: reconcileLease}
	if size > 0 {
		b.size, b.sem = size, semaphore.NewWeighted(size)
	}
	return b
}

// share is what a reconcile of a device with entries entries takes.
func (b *reconcileBudget) share(entries int) int64 {
	n := max(int64(entries), 1) * desiredBytesPerEntry
	if b.size > 0 {
		n = min(n, b.size)
	}
	return n
}

// acquire waits until a device of entries entries has its share, and
// returns the function that gives it back (at most once: the lease's end
// may have, after which lapsed, if not nil, is called); it gives up when
// ctx ends. queued, if not nil, is called with true before a wait and
// with false after it, and not at all when the share is free at once.
func (b *reconcileBudget) acquire(ctx context.Context, entries int, queued func(bool), lapsed func()) (release func(), err error) {
	n := b.share(entries)
	if b.sem != nil && !b.sem.TryAcquire(n) {
		b.waiting.Add(1)
		if queued != nil {
			queued(true)
		}
		err := b.sem.Acquire(ctx, n)
		if queued != nil {
			queued(false)
		}
		b.waiting.Add(-1)
		if err != nil {
			return nil, err
		}
	}
	b.held.Add(n)
	var once atomic.Bool
	give := func() bool {
		if !once.CompareAndSwap(false, true) {
			return false
		}
		b.held.Add(-n)
		if b.sem != nil {
			b.sem.Release(n)
		}
		return true
	}
	if b.sem == nil {
		return func() { give() }, nil
	}
	t := time.AfterFunc(b.lease, func() {
		if give() {
			b.lapsed.Add(1)
			if lapsed != nil {
				lapsed()
			}
		}
	})
	return func() {
		t.Stop()
		give()
	}, nil
}
