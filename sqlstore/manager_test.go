package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

func TestRenewConcurrently(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		m, _ := newManager(t, s)
		tok, first, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "deploy", Permissions: []string{"attacks:read"}})
		require.NoError(t, err)

		const workers = 50
		values := make([]apitoken.Value, workers)
		errs := make([]error, workers)
		ready := make(chan struct{})
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-ready
				_, values[i], errs[i] = m.Renew(ctx, "bob", tok.ID)
			}()
		}
		close(ready)
		wg.Wait()

		renewed := 0
		for i, err := range errs {
			if err == nil {
				renewed++
				continue
			}
			require.ErrorIs(t, err, apitoken.ErrConflict, "renewal %d fails only by losing the race", i)
		}
		require.GreaterOrEqual(t, renewed, 1, "at least one renewal wins")

		valid := 0
		for _, value := range append(values, first) {
			if value == "" {
				continue
			}
			_, err := m.Verify(ctx, string(value))
			if err == nil {
				valid++
				continue
			}
			require.ErrorIs(t, err, apitoken.ErrNotFound, "a replaced value is unknown")
		}
		assert.Equal(t, 1, valid, "exactly one value verifies after concurrent renewals")

		stored, err := s.Get(ctx, tok.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(1+renewed), stored.Version, "every successful renewal wrote one version")
	})
}

// verifyAcrossFault verifies value in several goroutines and calls cut
// while they run. It fails if a verification that started after cut
// returned succeeds, or if any verification reports a credential error.
func verifyAcrossFault(t *testing.T, m *apitoken.Manager, value apitoken.Value, cut func()) {
	t.Helper()
	const (
		workers     = 4
		warmUp      = 5 // successful verifications per worker before cut
		afterCut    = 5 // verifications per worker after cut returned
		callTimeout = 10 * time.Second
	)
	var (
		cutDone      atomic.Bool
		succeeded    atomic.Int64
		afterCutOK   atomic.Int64
		credentialed atomic.Int64
		warm         sync.WaitGroup
		wg           sync.WaitGroup
	)
	warm.Add(workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			warmed, after := 0, 0
			for after < afterCut {
				startedAfterCut := cutDone.Load()
				ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
				_, err := m.Verify(ctx, string(value))
				cancel()
				switch {
				case err == nil:
					succeeded.Add(1)
					if startedAfterCut {
						afterCutOK.Add(1)
					}
				case apitoken.IsCredentialError(err):
					credentialed.Add(1)
				}
				if startedAfterCut {
					after++
				}
				if warmed++; warmed == warmUp {
					warm.Done()
				}
			}
		}()
	}
	warm.Wait()
	cut()
	cutDone.Store(true)
	wg.Wait()

	assert.GreaterOrEqual(t, succeeded.Load(), int64(workers*warmUp), "verifications before the fault succeed")
	assert.Zero(t, afterCutOK.Load(), "no verification succeeds once the database is gone")
	assert.Zero(t, credentialed.Load(), "a failing database is never reported as rejected credentials")
}

// requireFailsClosed fails unless verifying value fails with an error
// that is not a credential error.
func requireFailsClosed(t *testing.T, m *apitoken.Manager, value apitoken.Value) {
	t.Helper()
	_, err := m.Verify(context.Background(), string(value))
	require.Error(t, err)
	assert.False(t, apitoken.IsCredentialError(err), "verification must fail closed, got %v", err)
}

func TestVerifyFailsClosedOnClosedPool(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := b.newEmptyStore(t)
		m, _ := newManager(t, s)
		_, value, err := m.Create(context.Background(), "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read"}})
		require.NoError(t, err)

		verifyAcrossFault(t, m, value, func() { require.NoError(t, s.db.Close()) })
		requireFailsClosed(t, m, value)
	})
}

func TestVerifyFailsClosedWhenServerDies(t *testing.T) {
	for _, b := range []backend{postgresBackend, mariaDBBackend} {
		t.Run(b.name, func(t *testing.T) {
			dsn := b.fresh(t)
			p := startProxy(t, b.server())
			s := newStore(t, b.via(dsn, p.addr()))
			m, _ := newManager(t, s)
			_, value, err := m.Create(context.Background(), "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read"}})
			require.NoError(t, err)

			verifyAcrossFault(t, m, value, p.kill)
			requireFailsClosed(t, m, value)
		})
	}
}

func TestTimesIgnoreLocalZone(t *testing.T) {
	_, offset := time.Now().Zone()
	require.Equal(t, 8*60*60, offset, "TestMain sets the local zone to UTC+8")

	// 23:30 UTC is the next day in UTC+8, so a shift changes the date too.
	expiry := time.Date(2031, 5, 6, 23, 30, 0, 123456000, time.UTC)
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		dsn := b.fresh(t)
		s := newStore(t, dsn)
		rec := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.ExpiresAt = expiry.In(time.Local) })
		require.NoError(t, s.Create(ctx, rec))

		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.True(t, got.ExpiresAt.Equal(expiry), "expiry read back %v, want %v", got.ExpiresAt, expiry)
		assert.Equal(t, time.UTC, got.ExpiresAt.Location())
		assertStoredUTC(t, s, rec.ID, expiry)

		m, _ := newManager(t, s)
		tok, _, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read"}, ExpiresAt: expiry.In(time.Local)})
		require.NoError(t, err)
		read, err := m.Get(ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, read.ExpiresAt.Equal(expiry), "expiry through the Manager %v, want %v", read.ExpiresAt, expiry)

		// Other pools on the same database, whose driver or session uses
		// another zone, read the same instant.
		for _, params := range sessionZoneParams[b.dialect] {
			other := newStore(t, withParams(dsn, params))
			got, err := other.Get(ctx, rec.ID)
			require.NoError(t, err, params)
			assert.True(t, got.ExpiresAt.Equal(expiry), "with %s: expiry %v, want %v", params, got.ExpiresAt, expiry)
		}
	})
}

// sessionZoneParams are DSN parameters that set a zone other than UTC in
// the driver or the database session.
var sessionZoneParams = map[Dialect][]string{
	PostgreSQL: {"timezone=Asia/Shanghai"},
	MySQL: {
		"parseTime=true&loc=Local",
		"parseTime=true&loc=America%2FNew_York&time_zone=%27%2B08%3A00%27",
		"time_zone=%27-05%3A00%27",
	},
}

// withParams appends URL query parameters to a DSN.
func withParams(dsn, params string) string {
	if strings.Contains(dsn, "?") {
		return dsn + "&" + params
	}
	return dsn + "?" + params
}

// assertStoredUTC checks the raw column value of the expiry: Unix
// microseconds on SQLite, and the UTC clock reading on the servers.
func assertStoredUTC(t *testing.T, s *Store, id string, want time.Time) {
	t.Helper()
	switch s.dialect {
	case SQLite:
		var micros int64
		require.NoError(t, s.db.QueryRow("SELECT expires_at FROM apitoken_tokens WHERE id = ?", id).Scan(&micros))
		assert.Equal(t, want.UnixMicro(), micros, "stored Unix microseconds")
	case PostgreSQL:
		var text string
		query := "SELECT to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') FROM apitoken_tokens WHERE id = $1"
		require.NoError(t, s.db.QueryRow(query, id).Scan(&text))
		assert.Equal(t, want.Format(mysqlTimeLayout), text, "stored instant in UTC")
	case MySQL:
		var text sql.NullString
		require.NoError(t, s.db.QueryRow("SELECT CAST(expires_at AS CHAR) FROM apitoken_tokens WHERE id = ?", id).Scan(&text))
		assert.Equal(t, want.Format(mysqlTimeLayout), text.String, "stored DATETIME holds UTC")
	}
}

func TestLookupIsOneRoundTrip(t *testing.T) {
	for _, b := range []backend{postgresBackend, mariaDBBackend} {
		t.Run(b.name, func(t *testing.T) {
			ctx := context.Background()
			dsn := b.fresh(t)
			p := startProxy(t, b.server())
			s := newStore(t, b.via(dsn, p.addr()))
			s.db.SetMaxOpenConns(1)
			rec := storetest.NewRecord("bob", "acme")
			require.NoError(t, s.Create(ctx, rec))
			// The first lookup prepares the statement on the connection.
			_, err := s.Lookup(ctx, rec.Digest)
			require.NoError(t, err)

			const lookups = 10
			before := p.reads.Load()
			for range lookups {
				_, err := s.Lookup(ctx, rec.Digest)
				require.NoError(t, err)
			}
			// The lookups follow each other within a second, so pgx does not
			// ping the connection first, as it does after a second idle.
			assert.Equal(t, int64(lookups), p.reads.Load()-before, "requests sent for %d lookups", lookups)
		})
	}
}

func TestConcurrentCascadesAndWrites(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		var ids []string
		for i := range 20 {
			rec := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) {
				if i%2 == 0 {
					r.ExpiresAt = start
				}
			})
			require.NoError(t, s.Create(ctx, rec))
			ids = append(ids, rec.ID)
		}

		// Cascades, last-used writes, purges and single updates of the
		// same rows run at once. Each must succeed or report a conflict,
		// never deadlock or fail otherwise.
		const rounds = 5
		ops := map[string]func(i int) error{
			"cascade": func(i int) error {
				_, err := s.UpdateOwner(ctx, "bob", func(r *apitoken.Record) apitoken.Action {
					r.Name = "cascade"
					return apitoken.Save
				})
				return err
			},
			"last used": func(i int) error {
				times := map[string]time.Time{}
				for _, id := range ids {
					times[id] = start.Add(time.Duration(i+1) * time.Minute)
				}
				return s.SetLastUsed(ctx, times)
			},
			"purge": func(int) error {
				_, err := s.Purge(ctx, start, 3)
				return err
			},
			"update": func(i int) error {
				rec, err := s.Get(ctx, ids[(2*i+1)%len(ids)])
				if err != nil {
					return err
				}
				rec.Name = "update"
				return s.Update(ctx, &rec)
			},
		}
		errs := make(chan error, len(ops)*rounds)
		ready := make(chan struct{})
		var wg sync.WaitGroup
		for name, op := range ops {
			for i := range rounds {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-ready
					if err := op(i); err != nil && !errors.Is(err, apitoken.ErrConflict) {
						errs <- fmt.Errorf("%s %d: %w", name, i, err)
					}
				}()
			}
		}
		close(ready)
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}

		// A purge on PostgreSQL skips rows that a concurrent change held
		// locked. This one runs alone and finds every row.
		_, err := s.Purge(ctx, start, 100)
		require.NoError(t, err)
		left := 0
		for _, id := range ids {
			rec, err := s.Get(ctx, id)
			if errors.Is(err, apitoken.ErrNotFound) {
				continue
			}
			require.NoError(t, err)
			left++
			assert.True(t, rec.ExpiresAt.IsZero(), "only the expired records are purged")
			assert.False(t, rec.LastUsedAt.IsZero(), "record %s has a last-used time", id)
		}
		assert.Equal(t, 10, left, "every expired record is purged, every active one kept")
	})
}
