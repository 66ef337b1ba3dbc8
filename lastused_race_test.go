package apitoken_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

var errLastUsedWrite = errors.New("last-used write failed")

// flakyLastUsedStore fails SetLastUsed while fail is set.
type flakyLastUsedStore struct {
	*memstore.Store
	fail atomic.Bool
}

func (s *flakyLastUsedStore) SetLastUsed(ctx context.Context, times map[string]time.Time) error {
	if s.fail.Load() {
		return errLastUsedWrite
	}
	return s.Store.SetLastUsed(ctx, times)
}

// TestLastUsedStress verifies a few tokens from many goroutines, some all
// the same token and some each their own, while the clock moves, flushes
// and Close run, and SetLastUsed fails at times. After a final Close, the
// stored time of every token must lie within the interval before its
// last verification.
func TestLastUsedStress(t *testing.T) {
	const (
		interval = 10 * time.Second
		tokens   = 6
		workers  = 12
		steps    = 200
	)
	ctx := context.Background()
	clk := clock.NewMock()
	clk.Set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	store := &flakyLastUsedStore{Store: memstore.New()}
	m := newTestManager(t, func(c *apitoken.Config) {
		c.Store = store
		c.Clock = clk
		c.LastUsedInterval = interval
	})

	ids := make([]string, tokens)
	values := make([]string, tokens)
	for i := range tokens {
		tok, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "stress", Permissions: []string{"attacks:read"}})
		require.NoError(t, err)
		ids[i], values[i] = tok.ID, string(value)
	}

	// lastUse[i] is a lower bound of the time of the last verification of
	// token i: the clock never moves back, so Verify reads a time at or
	// after the one read before the call.
	var lastUseMu sync.Mutex
	lastUse := make([]time.Time, tokens)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var failures atomic.Int64
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; ; r++ {
				select {
				case <-stop:
					return
				default:
				}
				// Half the workers share token 0, and the others spread
				// over the rest.
				i := 0
				if w%2 == 1 {
					i = 1 + (w+r)%(tokens-1)
				}
				before := clk.Now()
				if _, err := m.Verify(ctx, values[i]); err != nil {
					failures.Add(1)
					continue
				}
				lastUseMu.Lock()
				if before.After(lastUse[i]) {
					lastUse[i] = before
				}
				lastUseMu.Unlock()
			}
		}()
	}

	var helpers sync.WaitGroup
	helpers.Add(1)
	go func() {
		defer helpers.Done()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			store.fail.Store(n%3 == 0)
			if n%2 == 0 {
				_ = m.FlushLastUsed(ctx)
			} else {
				_ = m.Close(ctx)
			}
		}
	}()
	// The clock moves in steps of a seventh of the interval, so that
	// flushes fall due at varying points.
	for range steps {
		clk.Add(interval / 7)
	}
	close(stop)
	wg.Wait()
	helpers.Wait()
	require.Zero(t, failures.Load(), "verifications failed")

	store.fail.Store(false)
	require.NoError(t, m.Close(ctx))
	for i, id := range ids {
		rec, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.False(t, rec.LastUsedAt.Before(lastUse[i].Add(-interval)),
			"token %s: stored last-used time %v is more than %v older than the last use at or after %v", id, rec.LastUsedAt, interval, lastUse[i])
	}
}

// blockingLastUsedStore holds every SetLastUsed call until release is
// closed, and reports each call on entered, whose buffer must have room
// for every call that the test does not receive.
type blockingLastUsedStore struct {
	*memstore.Store
	entered chan struct{}
	release chan struct{}
}

func (s *blockingLastUsedStore) SetLastUsed(ctx context.Context, times map[string]time.Time) error {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.SetLastUsed(ctx, times)
}

// TestVerifyDuringSlowFlush holds the flush that one verification starts
// and checks that other verifications, due for a flush themselves, return
// meanwhile, and that Close then writes what they recorded.
func TestVerifyDuringSlowFlush(t *testing.T) {
	const interval = time.Minute
	ctx := context.Background()
	clk := clock.NewMock()
	start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clk.Set(start)
	store := &blockingLastUsedStore{Store: memstore.New(), entered: make(chan struct{}, 4), release: make(chan struct{})}
	m := newTestManager(t, func(c *apitoken.Config) {
		c.Store = store
		c.Clock = clk
		c.LastUsedInterval = interval
	})
	a, valueA, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "a", Permissions: []string{"attacks:read"}})
	require.NoError(t, err)
	b, valueB, err := m.Create(ctx, "carol", apitoken.CreateRequest{Name: "b", Permissions: []string{"attacks:read"}})
	require.NoError(t, err)

	clk.Set(start.Add(interval))
	flushed := make(chan error, 1)
	go func() {
		_, err := m.Verify(ctx, string(valueA))
		flushed <- err
	}()
	<-store.entered

	// Every verification below finds a flush due and the flush in
	// progress, so it must return without waiting for it.
	last := start.Add(3 * interval)
	clk.Set(last)
	verified := make(chan error, 1)
	go func() {
		for range 100 {
			for _, value := range []apitoken.Value{valueA, valueB} {
				if _, err := m.Verify(ctx, string(value)); err != nil {
					verified <- err
					return
				}
			}
		}
		verified <- nil
	}()
	select {
	case err := <-verified:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("verifications waited for the flush in progress")
	}

	close(store.release)
	require.NoError(t, <-flushed)
	require.NoError(t, m.Close(ctx))
	for _, id := range []string{a.ID, b.ID} {
		rec, err := store.Get(ctx, id)
		require.NoError(t, err)
		assert.True(t, rec.LastUsedAt.Equal(last), "token %s: stored last-used time %v, want %v", id, rec.LastUsedAt, last)
	}
}
