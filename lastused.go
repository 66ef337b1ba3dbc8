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
// common case costs one comparison.
//
// The pending times live in maps split into shards by token ID, each with
// its own lock, so that parallel verifications of different tokens rarely
// share a lock. A verification that finds the pending time of its token
// recent enough takes only the read lock. Recording a time allocates only
// when a map grows.
type lastUsedTracker struct {
	interval  time.Duration
	seed      maphash.Seed
	shards    [pendingShards]pendingShard
	nextFlush atomic.Int64 // Unix nanoseconds
	// flushing is held by the flush in progress. A verification that finds
	// it held goes on without flushing. FlushLastUsed waits for it, so
	// that Close writes what a failed flush put back.
	flushing sync.Mutex
	// resolution is touchResolution, or the interval when that is
	// shorter, in nanoseconds.
	resolution int64
}

const pendingShards = 64

// pendingShard holds the pending times of some tokens, in Unix
// nanoseconds by token ID.
type pendingShard struct {
	mu    sync.RWMutex
	times map[string]int64
}

// touchResolution is the step below which a pending time is not moved
// forward, so that a token verified many times a second takes the write
// lock of its shard about once a second, not on every verification. A
// shorter interval takes its place, because otherwise a flush could write
// a time more than the interval before the last use.
const touchResolution = time.Second

func newLastUsedTracker(interval time.Duration, start time.Time) *lastUsedTracker {
	t := &lastUsedTracker{
		interval:   interval,
		resolution: int64(min(interval, touchResolution)),
		seed:       maphash.MakeSeed(),
	}
	for i := range t.shards {
		t.shards[i].times = map[string]int64{}
	}
	t.nextFlush.Store(start.Add(interval).UnixNano())
	return t
}

// touch records that the token was used at now, given the last-used time
// the store holds for it, and reports whether a flush is due.
func (t *lastUsedTracker) touch(id string, stored, now time.Time) bool {
	at := now.UnixNano()
	if !stored.IsZero() && at-stored.UnixNano() < int64(t.interval) {
		return false
	}
	t.record(id, at, t.resolution)
	return at >= t.nextFlush.Load()
}

// record moves the pending time of the token forward to at, unless it is
// within resolution of at already. It never moves a time backwards.
func (t *lastUsedTracker) record(id string, at, resolution int64) {
	sh := &t.shards[maphash.String(t.seed, id)%pendingShards]
	sh.mu.RLock()
	old, ok := sh.times[id]
	sh.mu.RUnlock()
	if ok && at-old < resolution {
		return
	}
	sh.mu.Lock()
	if old, ok := sh.times[id]; !ok || at > old {
		sh.times[id] = at
	}
	sh.mu.Unlock()
}

// take removes and returns every pending time, in UTC to the microsecond as
// stores keep times. A time recorded while take runs is either taken or
// stays for the next call.
func (t *lastUsedTracker) take() map[string]time.Time {
	all := map[string]time.Time{}
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.Lock()
		times := sh.times
		sh.times = make(map[string]int64, len(times))
		sh.mu.Unlock()
		for id, at := range times {
			all[id] = time.Unix(0, at).UTC().Truncate(time.Microsecond)
		}
	}
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
	if err := m.store.SetLastUsed(ctx, times); err != nil {
		t.restore(times)
		return m.storeFailure(ctx, "write last-used times", err)
	}
	return nil
}
