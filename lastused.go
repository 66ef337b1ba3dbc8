package apitoken

import (
	"context"
	"hash/maphash"
	"sync"
	"sync/atomic"
	"time"
)

// lastUsedTracker collects the last-used times of verified tokens in memory
// and hands them to the store in one batch per interval. A token whose
// stored time is younger than the interval is not tracked at all, so the
// common case costs one comparison. Pending times are split over shards to
// keep parallel verifications of different tokens off one lock.
type lastUsedTracker struct {
	interval  time.Duration
	seed      maphash.Seed
	shards    [32]lastUsedShard
	nextFlush atomic.Int64 // Unix nanoseconds
	flushing  atomic.Bool
}

type lastUsedShard struct {
	mu      sync.Mutex
	pending map[string]time.Time
	_       [40]byte // keeps shards on separate cache lines
}

func newLastUsedTracker(interval time.Duration, start time.Time) *lastUsedTracker {
	t := &lastUsedTracker{interval: interval, seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].pending = map[string]time.Time{}
	}
	t.nextFlush.Store(start.Add(interval).UnixNano())
	return t
}

// touch records that the token was used at now, given the last-used time
// the store holds for it, and reports whether a flush is due.
func (t *lastUsedTracker) touch(id string, stored, now time.Time) bool {
	if !stored.IsZero() && now.Sub(stored) < t.interval {
		return false
	}
	s := &t.shards[maphash.String(t.seed, id)%uint64(len(t.shards))]
	s.mu.Lock()
	if old, ok := s.pending[id]; !ok || now.After(old) {
		s.pending[id] = now
	}
	s.mu.Unlock()
	return now.UnixNano() >= t.nextFlush.Load()
}

// take removes and returns every pending time.
func (t *lastUsedTracker) take() map[string]time.Time {
	all := map[string]time.Time{}
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		for id, at := range s.pending {
			all[id] = at
		}
		clear(s.pending)
		s.mu.Unlock()
	}
	return all
}

// restore puts back times that could not be written, unless a newer time
// arrived meanwhile.
func (t *lastUsedTracker) restore(times map[string]time.Time) {
	for id, at := range times {
		s := &t.shards[maphash.String(t.seed, id)%uint64(len(t.shards))]
		s.mu.Lock()
		if old, ok := s.pending[id]; !ok || at.After(old) {
			s.pending[id] = at
		}
		s.mu.Unlock()
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
