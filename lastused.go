package apitoken

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// lastUsedTracker collects the last-used times of verified tokens in memory
// and hands them to the store in one batch per interval. A token whose
// stored time is younger than the interval is not tracked at all, so the
// common case costs one comparison. The pending times live in a sync.Map,
// whose reads take no lock, so parallel verifications do not queue on it.
type lastUsedTracker struct {
	interval  time.Duration
	pending   sync.Map     // token ID -> *atomic.Int64 of Unix nanoseconds
	nextFlush atomic.Int64 // Unix nanoseconds
	flushing  atomic.Bool
}

// touchResolution is the step below which a pending time is not moved
// forward, so that a token verified by many goroutines at once is not
// written to one cache line by all of them.
const touchResolution = time.Second

func newLastUsedTracker(interval time.Duration, start time.Time) *lastUsedTracker {
	t := &lastUsedTracker{interval: interval}
	t.nextFlush.Store(start.Add(interval).UnixNano())
	return t
}

// touch records that the token was used at now, given the last-used time
// the store holds for it, and reports whether a flush is due.
func (t *lastUsedTracker) touch(id string, stored, now time.Time) bool {
	if !stored.IsZero() && now.Sub(stored) < t.interval {
		return false
	}
	at := now.UnixNano()
	if v, ok := t.pending.Load(id); ok {
		p := v.(*atomic.Int64)
		if old := p.Load(); at-old >= int64(touchResolution) {
			p.CompareAndSwap(old, at)
		}
	} else {
		p := new(atomic.Int64)
		p.Store(at)
		if v, loaded := t.pending.LoadOrStore(id, p); loaded {
			v.(*atomic.Int64).Store(max(at, v.(*atomic.Int64).Load()))
		}
	}
	return at >= t.nextFlush.Load()
}

// take removes and returns every pending time.
func (t *lastUsedTracker) take() map[string]time.Time {
	all := map[string]time.Time{}
	t.pending.Range(func(key, value any) bool {
		if v, ok := t.pending.LoadAndDelete(key); ok {
			all[key.(string)] = time.Unix(0, v.(*atomic.Int64).Load())
		}
		return true
	})
	return all
}

// restore puts back times that could not be written, unless a newer time
// arrived meanwhile.
func (t *lastUsedTracker) restore(times map[string]time.Time) {
	for id, at := range times {
		p := new(atomic.Int64)
		p.Store(at.UnixNano())
		if v, loaded := t.pending.LoadOrStore(id, p); loaded {
			q := v.(*atomic.Int64)
			q.Store(max(q.Load(), at.UnixNano()))
		}
	}
}

// flushTimeout bounds the batched last-used write that a verification
// triggers, so that a slow store delays that one request by at most this.
const flushTimeout = 5 * time.Second

// flushDue writes the pending last-used times from the verification that
// found them due. Only one goroutine flushes at a time; the others go on.
// A failed write is logged and retried at the next interval, and never
// fails the verification, which has already succeeded.
func (m *Manager) flushDue(ctx context.Context) {
	if !m.lastUsed.flushing.CompareAndSwap(false, true) {
		return
	}
	defer m.lastUsed.flushing.Store(false)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	_ = m.flushLastUsed(ctx)
}

// FlushLastUsed writes the pending last-used times now. Close calls it; a
// host may also call it on its own schedule.
func (m *Manager) FlushLastUsed(ctx context.Context) error {
	return m.flushLastUsed(ctx)
}

func (m *Manager) flushLastUsed(ctx context.Context) error {
	t := m.lastUsed
	t.nextFlush.Store(m.clock.Now().Add(t.interval).UnixNano())
	times := t.take()
	if len(times) == 0 {
		return nil
	}
	for id, at := range times {
		times[id] = at.UTC().Truncate(time.Microsecond)
	}
	if err := m.store.SetLastUsed(ctx, times); err != nil {
		t.restore(times)
		return m.storeFailure(ctx, "write last-used times", err)
	}
	return nil
}
