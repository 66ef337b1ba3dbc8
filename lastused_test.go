package apitoken

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestTrackerNeverMovesBackwards(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tr := newLastUsedTracker(time.Minute, start)
	tr.touch("tok", time.Time{}, start.Add(10*time.Second))
	tr.touch("tok", time.Time{}, start.Add(5*time.Second))
	tr.restore(map[string]time.Time{"tok": start.Add(2 * time.Second)})
	got := tr.take()
	assert.True(t, got["tok"].Equal(start.Add(10*time.Second)), "pending time %v", got["tok"])
}

func TestTrackerKeepsTimesAcrossTake(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	tr := newLastUsedTracker(time.Minute, start)
	const workers, rounds = 4, 2000

	// Every worker records ever later times while takes run; the latest
	// time of each worker's token must reach one of the takes.
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := string(rune('a' + w))
			for i := 1; i <= rounds; i++ {
				tr.touch(id, time.Time{}, start.Add(time.Duration(i)*time.Second))
			}
		}()
	}
	latest := map[string]time.Time{}
	merge := func(times map[string]time.Time) {
		for id, at := range times {
			if at.After(latest[id]) {
				latest[id] = at
			}
		}
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
			merge(tr.take())
		}
	}
	merge(tr.take())
	for w := range workers {
		id := string(rune('a' + w))
		assert.True(t, latest[id].Equal(start.Add(rounds*time.Second)), "token %s: latest time %v", id, latest[id])
	}
}

func TestTrackerIntervalBelowResolution(t *testing.T) {
	// With an interval shorter than touchResolution, a use more than one
	// interval after the pending time must move it forward, or the next
	// flush writes a time older than the interval allows.
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	const interval = 100 * time.Millisecond
	tr := newLastUsedTracker(interval, start)
	tr.touch("tok", time.Time{}, start.Add(10*time.Millisecond))
	last := start.Add(150 * time.Millisecond)
	tr.touch("tok", time.Time{}, last)
	got := tr.take()
	assert.False(t, got["tok"].Before(last.Add(-interval)), "pending time %v is more than %v before the last use at %v", got["tok"], interval, last)
}
