package sqlstore

import (
	"context"
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

// forEachBackend runs test once per backend, as a subtest named after it.
func forEachBackend(t *testing.T, test func(t *testing.T, b backend)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) { test(t, b) })
	}
}

func TestStoreRoundTrip(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		rec := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.Name = "déploiement 🚀"
			r.Shared = true
			r.Permissions = []string{"attacks:read", "rules:read"}
			r.ExpiresAt = start.Add(90 * 24 * time.Hour).Add(123456 * time.Microsecond)
			r.LastUsedAt = start.Add(time.Minute)
			r.Sealed = []byte{1, 'k', 0, 1, 2, 3, 255}
			r.LegacyUUID = "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"
			r.LegacyHash = "$2a$04$abcdefghijklmnopqrstuu"
		})
		want := *rec.Clone()
		want.Version = 1
		require.NoError(t, s.Create(ctx, rec))

		for name, get := range map[string]func() (apitoken.Record, error){
			"Get":          func() (apitoken.Record, error) { return s.Get(ctx, rec.ID) },
			"Lookup":       func() (apitoken.Record, error) { return s.Lookup(ctx, rec.Digest) },
			"LookupLegacy": func() (apitoken.Record, error) { return s.LookupLegacy(ctx, rec.LegacyUUID) },
		} {
			got, err := get()
			require.NoError(t, err, name)
			assertSameRecord(t, want, got, name)
		}
	})
}

// assertSameRecord compares records field by field, times by instant and
// in UTC.
func assertSameRecord(t *testing.T, want, got apitoken.Record, msg string) {
	t.Helper()
	for _, pair := range [][2]time.Time{
		{want.CreatedAt, got.CreatedAt}, {want.UpdatedAt, got.UpdatedAt}, {want.ExpiresAt, got.ExpiresAt},
		{want.DisabledAt, got.DisabledAt}, {want.LastUsedAt, got.LastUsedAt},
	} {
		assert.True(t, pair[0].Equal(pair[1]), "%s: time %v, want %v", msg, pair[1], pair[0])
		assert.Equal(t, time.UTC, pair[1].Location(), "%s: time %v is not in UTC", msg, pair[1])
	}
	for _, r := range []*apitoken.Record{&want, &got} {
		r.CreatedAt, r.UpdatedAt, r.ExpiresAt, r.DisabledAt, r.LastUsedAt = time.Time{}, time.Time{}, time.Time{}, time.Time{}, time.Time{}
	}
	assert.Equal(t, want, got, msg)
}

func TestStorePermissionsNilAndEmpty(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		none := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.Permissions = nil; r.BackwardCompatible = true })
		empty := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.Permissions = []string{} })
		require.NoError(t, s.Create(ctx, none))
		require.NoError(t, s.Create(ctx, empty))

		got, err := s.Get(ctx, none.ID)
		require.NoError(t, err)
		assert.Nil(t, got.Permissions, "nil permissions come back nil")
		got, err = s.Get(ctx, empty.ID)
		require.NoError(t, err)
		assert.NotNil(t, got.Permissions, "empty permissions come back empty, not nil")
		assert.Empty(t, got.Permissions)
	})
}

func TestStoreTruncatesToMicroseconds(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		at := start.Add(time.Hour + 1234567*time.Nanosecond)
		rec := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.ExpiresAt = at })
		require.NoError(t, s.Create(ctx, rec))
		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.True(t, got.ExpiresAt.Equal(at.Truncate(time.Microsecond)), "expiry %v, want %v", got.ExpiresAt, at.Truncate(time.Microsecond))
	})
}

func TestStoreRejectsInvalidRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		cases := map[string]func(*apitoken.Record){
			"empty ID":             func(r *apitoken.Record) { r.ID = "" },
			"256-byte owner":       func(r *apitoken.Record) { r.OwnerID = strings.Repeat("o", 256) },
			"invalid UTF-8 name":   func(r *apitoken.Record) { r.Name = "\xff" },
			"NUL in tenant":        func(r *apitoken.Record) { r.TenantID = "a\x00b" },
			"invalid permission":   func(r *apitoken.Record) { r.Permissions = []string{"\xfe"} },
			"expiry in year 900":   func(r *apitoken.Record) { r.ExpiresAt = time.Date(900, 1, 1, 0, 0, 0, 0, time.UTC) },
			"expiry in year 10000": func(r *apitoken.Record) { r.ExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		}
		for name, mutate := range cases {
			rec := storetest.NewRecord("bob", "acme", mutate)
			assert.ErrorIs(t, s.Create(ctx, rec), apitoken.ErrInvalidArgument, name)
		}
		page, err := s.List(ctx, apitoken.Filter{AllTenants: true})
		require.NoError(t, err)
		assert.Empty(t, page.Records, "a rejected record is not stored")

		_, err = s.Get(ctx, "\xff")
		assert.ErrorIs(t, err, apitoken.ErrNotFound, "an ID that cannot be stored is not found")
		_, err = s.LookupLegacy(ctx, "a\x00")
		assert.ErrorIs(t, err, apitoken.ErrNotFound, "a UUID that cannot be stored is not found")
	})
}

func TestStoreListSortsByByte(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		// Linguistic collations sort these differently: case, accents,
		// punctuation and trailing spaces all count here.
		ids := []string{"tok_B", "tok_a", "tok_a ", "tok_b", "tok_é", "tok_-1", "tok_A"}
		for _, id := range ids {
			require.NoError(t, s.Create(ctx, storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.ID = id })))
		}
		page, err := s.List(ctx, apitoken.Filter{OwnerID: "bob"})
		require.NoError(t, err)
		var got []string
		for _, r := range page.Records {
			got = append(got, r.ID)
		}
		want := slices.Clone(ids)
		slices.Sort(want)
		assert.Equal(t, want, got)

		_, err = s.Get(ctx, "tok_a  ")
		assert.ErrorIs(t, err, apitoken.ErrNotFound, "trailing spaces are not ignored")
	})
}

func TestStoreCascadeConflictWritesNothing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		first := storetest.NewRecord("bob", "acme")
		second := storetest.NewRecord("bob", "acme")
		require.NoError(t, s.Create(ctx, first))
		require.NoError(t, s.Create(ctx, second))

		// The cascade disables both records in ID order, and gives the
		// later one the digest of the earlier one: the unique index fails
		// the second write after the first was made, and the transaction
		// must undo the first.
		later, earlierDigest := second.ID, first.Digest
		if first.ID > second.ID {
			later, earlierDigest = first.ID, second.Digest
		}
		_, err := s.UpdateOwner(ctx, "bob", func(r *apitoken.Record) apitoken.Action {
			r.Disabled, r.DisabledAt, r.DisabledReason = true, start, apitoken.ReasonOwnerDisabled
			if r.ID == later {
				r.Digest = earlierDigest
			}
			return apitoken.Save
		})
		requireConflict(t, err, "cascade onto a taken digest")

		for _, rec := range []*apitoken.Record{first, second} {
			got, err := s.Get(ctx, rec.ID)
			require.NoError(t, err)
			assert.False(t, got.Disabled, "record %s is unchanged", rec.ID)
			assert.Equal(t, int64(1), got.Version, "record %s is unchanged", rec.ID)
		}
	})
}

func TestStoreCascadeResult(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s, rec := b.newStoreWithRecord(t)
		used := start.Add(time.Hour)
		require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{rec.ID: used}))

		changes, err := s.UpdateOwner(ctx, "bob", func(r *apitoken.Record) apitoken.Action {
			r.Permissions = []string{}
			r.Disabled, r.DisabledAt, r.DisabledReason = true, start.Add(2*time.Hour), apitoken.ReasonNoPermissions
			return apitoken.Save
		})
		require.NoError(t, err)
		require.Len(t, changes, 1)
		stored, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assertSameRecord(t, stored, changes[0].Record, "a cascade returns the record as stored")
		assert.True(t, stored.LastUsedAt.Equal(used), "the cascade keeps the last-used time")
		assert.NotNil(t, stored.Permissions, "a cascade that removes every permission leaves an empty list")

		none, err := s.UpdateOwner(ctx, "nobody", func(*apitoken.Record) apitoken.Action { return apitoken.Remove })
		require.NoError(t, err)
		assert.Empty(t, none)
	})
}

func TestStorePurgeReturnsRecords(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s := b.newEmptyStore(t)
		var want []apitoken.Record
		for i := range 5 {
			rec := storetest.NewRecord("bob", "acme", func(r *apitoken.Record) {
				r.ExpiresAt = start.Add(time.Duration(i) * time.Minute)
				r.Sealed = []byte{byte(i)}
			})
			require.NoError(t, s.Create(ctx, rec))
			want = append(want, *rec)
		}
		require.NoError(t, s.Create(ctx, storetest.NewRecord("bob", "acme")))

		purged, err := s.Purge(ctx, start.Add(time.Hour), 3)
		require.NoError(t, err)
		require.Len(t, purged, 3)
		for i, got := range purged {
			assertSameRecord(t, want[i], got, "the purge deletes the longest inactive first")
		}

		_, err = s.Purge(ctx, start, 0)
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "limit 0")
		purged, err = s.Purge(ctx, time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC), 10)
		require.NoError(t, err, "a cutoff before every storable time")
		assert.Empty(t, purged)
		purged, err = s.Purge(ctx, time.Date(20000, 1, 1, 0, 0, 0, 0, time.UTC), 10)
		require.NoError(t, err, "a cutoff after every storable time")
		assert.Len(t, purged, 2)
	})
}

func TestStorePurgeWithoutReturning(t *testing.T) {
	ctx := context.Background()
	s := mariaDBBackend.newEmptyStore(t)
	s.mariaDB.Store(2) // take the MySQL 8 path
	for range 4 {
		require.NoError(t, s.Create(ctx, storetest.NewRecord("bob", "acme", func(r *apitoken.Record) { r.ExpiresAt = start })))
	}
	purged, err := s.Purge(ctx, start, 3)
	require.NoError(t, err)
	assert.Len(t, purged, 3)
	purged, err = s.Purge(ctx, start, 3)
	require.NoError(t, err)
	assert.Len(t, purged, 1)
	page, err := s.List(ctx, apitoken.Filter{OwnerID: "bob"})
	require.NoError(t, err)
	assert.Empty(t, page.Records)
}

func TestSetLastUsedZeroAndRange(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s, rec := b.newStoreWithRecord(t)
		require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{rec.ID: {}}))
		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.True(t, got.LastUsedAt.IsZero())

		err = s.SetLastUsed(ctx, map[string]time.Time{rec.ID: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
	})
}

func TestStoreUpdateChangesOwner(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s, rec := b.newStoreWithRecord(t)
		rec.OwnerID, rec.TenantID = "carol", "globex"
		rec.ExpiresAt = start.Add(time.Hour)
		require.NoError(t, s.Update(ctx, rec))

		page, err := s.List(ctx, apitoken.Filter{OwnerID: "carol", TenantIDs: []string{"globex"}})
		require.NoError(t, err)
		require.Len(t, page.Records, 1)
		purged, err := s.Purge(ctx, start.Add(time.Hour), 10)
		require.NoError(t, err)
		assert.Len(t, purged, 1, "Update rewrites inactive_since")
	})
}

func TestStoreClosedPoolIsAFailure(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s, rec := b.newStoreWithRecord(t)
		require.NoError(t, s.db.Close())

		_, err := s.Lookup(ctx, rec.Digest)
		require.Error(t, err)
		for _, sentinel := range []error{apitoken.ErrNotFound, apitoken.ErrConflict, apitoken.ErrInvalidArgument} {
			assert.NotErrorIs(t, err, sentinel)
		}
		_, err = s.Lookup(ctx, sha256.Sum256([]byte("other")))
		assert.NotErrorIs(t, err, apitoken.ErrNotFound, "a dead database finds nothing, but says so as a failure")
	})
}

func TestStoreClose(t *testing.T) {
	ctx := context.Background()
	s, rec := sqliteMemory.newStoreWithRecord(t)
	require.NoError(t, s.Close())
	_, err := s.Lookup(ctx, rec.Digest)
	assert.ErrorIs(t, err, errStoreClosed)
	assert.NoError(t, s.db.PingContext(ctx), "Close leaves the pool open")
}

func TestNewRejectsBadArguments(t *testing.T) {
	_, err := New(nil, SQLite)
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
	db, _ := openPool(t, "sqlite::memory:")
	_, err = New(db, "oracle")
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
}

func TestListFilterWithUnstorableIDs(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		ctx := context.Background()
		s, rec := b.newStoreWithRecord(t)

		page, err := s.List(ctx, apitoken.Filter{OwnerID: "\xff"})
		require.NoError(t, err)
		assert.Empty(t, page.Records, "an owner ID that cannot be stored")
		page, err = s.List(ctx, apitoken.Filter{TenantIDs: []string{"\xff", "acme"}})
		require.NoError(t, err)
		require.Len(t, page.Records, 1, "the valid tenant ID still matches")
		assert.Equal(t, rec.ID, page.Records[0].ID)
		page, err = s.List(ctx, apitoken.Filter{TenantIDs: []string{"a\x00"}})
		require.NoError(t, err)
		assert.Empty(t, page.Records, "only tenant IDs that cannot be stored")
		_, err = s.List(ctx, apitoken.Filter{AllTenants: true, After: "\xff"})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "a cursor that is not UTF-8")
	})
}
