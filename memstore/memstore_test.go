package memstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
	"github.com/apitoken/apitoken/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(*testing.T) apitoken.Store { return memstore.New() })
}

// TestManyRecords fills the hash tables past several resizes, removes
// every other record, which shifts records back within probe sequences and
// shrinks the tables, and checks that every lookup still finds exactly
// the stored records.
func TestManyRecords(t *testing.T) {
	const n = 20_000
	ctx := context.Background()
	s := memstore.New()
	records := make([]apitoken.Record, n)
	for i := range records {
		records[i] = apitoken.Record{
			Token: apitoken.Token{
				ID:          fmt.Sprintf("tok_%026d", i),
				OwnerID:     "bob",
				TenantID:    "acme",
				Permissions: []string{"attacks:read", fmt.Sprintf("rules:%d", i%3)},
			},
			Digest: sha256.Sum256([]byte{byte(i), byte(i >> 8), byte(i >> 16)}),
		}
		require.NoError(t, s.Create(ctx, &records[i]))
	}
	require.Equal(t, n, s.Len())

	for i := 0; i < n; i += 2 {
		require.NoError(t, s.Delete(ctx, records[i].ID))
	}
	require.Equal(t, n/2, s.Len())
	for i, want := range records {
		got, err := s.Lookup(ctx, want.Digest)
		if i%2 == 0 {
			require.ErrorIs(t, err, apitoken.ErrNotFound, "lookup of deleted record %d", i)
			continue
		}
		require.NoError(t, err, "lookup of record %d", i)
		require.Equal(t, want.ID, got.ID)
		require.Equal(t, want.Permissions, got.Permissions)
	}

	for i := 1; i < n; i += 2 {
		require.NoError(t, s.Delete(ctx, records[i].ID))
	}
	require.Zero(t, s.Len())
	_, err := s.Lookup(ctx, records[1].Digest)
	require.ErrorIs(t, err, apitoken.ErrNotFound)
}

// TestSharedPermissionsStayPrivate changes the permissions of one record
// and checks that another record with the same permissions keeps its own.
func TestSharedPermissionsStayPrivate(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	a := apitoken.Record{Token: apitoken.Token{ID: "a", Permissions: []string{"attacks:read", "rules:read"}}, Digest: apitoken.Digest{1}}
	b := apitoken.Record{Token: apitoken.Token{ID: "b", Permissions: []string{"attacks:read", "rules:read"}}, Digest: apitoken.Digest{2}}
	require.NoError(t, s.Create(ctx, &a))
	require.NoError(t, s.Create(ctx, &b))

	got, err := s.Get(ctx, "a")
	require.NoError(t, err)
	got.Permissions[0] = "changed:out"
	got.Permissions = []string{"rules:read"}
	require.NoError(t, s.Update(ctx, &got))
	require.NoError(t, s.Delete(ctx, "a"))

	other, err := s.Lookup(ctx, b.Digest)
	require.NoError(t, err)
	assert.Equal(t, []string{"attacks:read", "rules:read"}, other.Permissions)
}

// TestConcurrentMix runs every kind of change from several goroutines
// while others look up a set of records that are only ever updated in
// place, and then checks that the indexes agree with the records. Run it
// with -race.
func TestConcurrentMix(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	stable := make([]apitoken.Record, 50)
	for i := range stable {
		stable[i] = apitoken.Record{
			Token:      apitoken.Token{ID: fmt.Sprintf("tok_stable_%02d", i), OwnerID: "stable", Permissions: []string{"attacks:read"}},
			Digest:     sha256.Sum256([]byte(fmt.Sprintf("stable %d", i))),
			LegacyUUID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i),
		}
		require.NoError(t, s.Create(ctx, &stable[i]))
	}

	var wg sync.WaitGroup
	var misses atomic.Int64
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for i := range 2000 {
				id := fmt.Sprintf("tok_%d_%03d", g, rng.IntN(100))
				switch rng.IntN(6) {
				case 0, 1:
					rec := apitoken.Record{
						Token:  apitoken.Token{ID: id, OwnerID: fmt.Sprintf("owner_%d", g), Permissions: []string{"rules:read"}},
						Digest: sha256.Sum256([]byte(fmt.Sprintf("%s %d", id, i))),
					}
					if rng.IntN(2) == 0 {
						rec.Disabled, rec.DisabledAt = true, at
					}
					_ = s.Create(ctx, &rec)
				case 2:
					if rec, err := s.Get(ctx, id); err == nil {
						rec.Digest = sha256.Sum256([]byte(fmt.Sprintf("%s %d renewed", id, i)))
						rec.Permissions = nil
						_ = s.Update(ctx, &rec)
					}
				case 3:
					_ = s.Delete(ctx, id)
				case 4:
					_, _ = s.UpdateOwner(ctx, fmt.Sprintf("owner_%d", g), func(rec *apitoken.Record) apitoken.Action {
						if rng.IntN(2) == 0 {
							return apitoken.Remove
						}
						rec.Disabled, rec.DisabledAt = true, at
						return apitoken.Save
					})
				default:
					_, _ = s.Purge(ctx, at, 5)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 2000 {
			rec := stable[i%len(stable)]
			_ = s.SetLastUsed(ctx, map[string]time.Time{rec.ID: at.Add(time.Duration(i) * time.Second)})
			if got, err := s.Get(ctx, rec.ID); err == nil {
				got.Name = fmt.Sprintf("name %d", i)
				_ = s.Update(ctx, &got)
			}
			_, _ = s.UpdateOwner(ctx, "stable", func(rec *apitoken.Record) apitoken.Action {
				rec.Permissions = []string{"attacks:read"}
				return apitoken.Save
			})
		}
	})
	for range 2 {
		wg.Go(func() {
			for i := range 20_000 {
				rec := stable[i%len(stable)]
				got, err := s.Lookup(ctx, rec.Digest)
				if err != nil || got.ID != rec.ID {
					misses.Add(1)
				}
				if i%500 == 0 {
					_, _ = s.List(ctx, apitoken.Filter{AllTenants: true})
				}
			}
		})
	}
	wg.Wait()
	assert.Zero(t, misses.Load(), "lookups of records that were only updated in place failed")

	page, err := s.List(ctx, apitoken.Filter{AllTenants: true, Limit: apitoken.MaxPageSize})
	require.NoError(t, err)
	require.Equal(t, len(page.Records), s.Len())
	for _, want := range page.Records {
		got, err := s.Lookup(ctx, want.Digest)
		require.NoError(t, err, "lookup of %s", want.ID)
		require.Empty(t, cmp.Diff(want, got), "lookup of %s", want.ID)
		if want.LegacyUUID != "" {
			got, err = s.LookupLegacy(ctx, want.LegacyUUID)
			require.NoError(t, err, "legacy lookup of %s", want.ID)
			require.Equal(t, want.ID, got.ID)
		}
	}
}
