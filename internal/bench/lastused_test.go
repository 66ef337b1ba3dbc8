package bench

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// countingStore counts the calls of SetLastUsed: the only store write that
// verification makes. It embeds the memstore itself, not the Store
// interface, so that verification reads through LookupCredential as it
// does on a bare memstore.
type countingStore struct {
	*memstore.Store
	writes atomic.Int64
}

func (s *countingStore) SetLastUsed(ctx context.Context, times map[string]time.Time) error {
	s.writes.Add(1)
	return s.Store.SetLastUsed(ctx, times)
}

func TestValuesPassFormatCheck(t *testing.T) {
	for _, v := range newValues(100, 1) {
		assert.True(t, apitoken.CheckValue(apitoken.DefaultPrefix, v), "a generated value fails CheckValue")
	}
}

// TestLastUsedBurst verifies one token 10,000 times, spread evenly over a
// period, and counts the store writes.
func TestLastUsedBurst(t *testing.T) {
	const (
		burst    = 10_000
		interval = time.Minute
		// ticks is the number of clock steps in the period: every
		// clock.Mock step sleeps a millisecond for the mock's timers.
		ticks = 100
	)
	tests := []struct {
		name   string
		period time.Duration
		// maxWrites is the most SetLastUsed calls allowed, counting the
		// one of Close: one per started interval and the last one.
		maxWrites int64
	}{
		{name: "within one second", period: time.Second, maxWrites: 2},
		{name: "over ten minutes", period: 10 * time.Minute, maxWrites: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			clk := clock.NewMock()
			clk.Set(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
			dir, err := newDirectory()
			require.NoError(t, err)
			store := &countingStore{Store: memstore.New()}
			m, err := apitoken.New(apitoken.Config{Store: store, Policy: dir, Clock: clk, LastUsedInterval: interval})
			require.NoError(t, err)
			tok, value, err := m.Create(ctx, ownerID(0), apitoken.CreateRequest{Name: "burst", Permissions: tokenPermissions})
			require.NoError(t, err)

			var lastUse time.Time
			for range ticks {
				clk.Add(tt.period / ticks)
				lastUse = clk.Now()
				for range burst / ticks {
					_, err := m.Verify(ctx, string(value))
					require.NoError(t, err)
				}
			}
			require.NoError(t, m.Close(ctx))

			rec, err := store.Get(ctx, tok.ID)
			require.NoError(t, err)
			t.Logf("%d verifications over %v made %d SetLastUsed calls; the stored time is %v before the last use",
				burst, tt.period, store.writes.Load(), lastUse.Sub(rec.LastUsedAt))
			assert.LessOrEqual(t, store.writes.Load(), tt.maxWrites, "SetLastUsed calls")
			assert.Positive(t, store.writes.Load(), "SetLastUsed calls")
			assert.False(t, rec.LastUsedAt.Before(lastUse.Add(-interval)),
				"stored last-used time %v is more than %v older than the last use at %v", rec.LastUsedAt, interval, lastUse)
		})
	}
}
