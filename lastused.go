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
	// flushing is held by the flush in progress. A verification that finds
	// it held goes on without flushing. FlushLastUsed waits for it, so
	// that Close writes what a failed flush put back.
	flushing sync.Mutex
}

// retired marks a pending entry that a flush has taken. A verification
// that finds it adds a new entry instead of updating the taken one, whose
// time is no longer read.
const retired = -1

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
	t.record(id, at, int64(touchResolution))
	return at >= t.nextFlush.Load()
}

// record moves the pending time of the token forward to at, unless it is
// within resolution of at already. It never moves a time backwards.
func (t *lastUsedTracker) record(id string, at, resolution int64) {
	for {
		v, ok := t.pending.Load(id)
		if !ok {
			p := new(atomic.Int64)
			p.Store(at)
			if v, ok = t.pending.LoadOrStore(id, p); !ok {
				return
			}
		}
		p := v.(*atomic.Int64)
		old := p.Load()
		switch {
		case old == retired:
			// A flush took this entry; replace it unless another
			// verification did so first.
			fresh := new(atomic.Int64)
			fresh.Store(at)
			if t.pending.CompareAndSwap(id, v, fresh) {
				return
			}
		case at-old < resolution:
			return
		case p.CompareAndSwap(old, at):
			return
		}
	}
}

// take removes and returns every pending time.
func (t *lastUsedTracker) take() map[string]time.Time {
	all := map[string]time.Time{}
	t.pending.Range(func(key, value any) bool {
		if v, ok := t.pending.LoadAndDelete(key); ok {
			at := v.(*atomic.Int64).Swap(retired)
			if at != retired {
				all[key.(string)] = time.Unix(0, at)
			}
		}
		return true
	})
	return all
}

// restore puts back times that could not be written, unless a newer time
// arrived meanwhile.
func (t *lastUsedTracker) restore(times map[string]time.Time) {
	for id, at := range times {
		t.record(id, at.UnixNano(), 1)
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
	if !m.lastUsed.flushing.TryLock() {
		return
	}
	defer m.lastUsed.flushing.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), flushTimeout)
	defer cancel()
	_ = m.flushLastUsed(ctx)
}

// FlushLastUsed writes the pending last-used times now. Close calls it; a
// host may also call it on its own schedule.
func (m *Manager) FlushLastUsed(ctx context.Context) error {
	m.lastUsed.flushing.Lock()
	defer m.lastUsed.flushing.Unlock()
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
