package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

// NewRecord returns a record for store tests: a random ID and digest,
// owned by owner in tenant, active, with the permission attacks:read and
// the suite's start time as creation time. Each mutate function then
// changes it.
func NewRecord(owner, tenant string, mutate ...func(*apitoken.Record)) *apitoken.Record {
	var raw [13]byte
	_, _ = rand.Read(raw[:])
	rec := &apitoken.Record{
		Token: apitoken.Token{
			ID:          "tok_" + hex.EncodeToString(raw[:]),
			Name:        "record of " + owner,
			OwnerID:     owner,
			TenantID:    tenant,
			Permissions: []string{"attacks:read"},
			CreatedAt:   start,
			UpdatedAt:   start,
		},
		Digest: sha256.Sum256(raw[:]),
	}
	for _, m := range mutate {
		m(rec)
	}
	return rec
}

func mustCreate(t *testing.T, s apitoken.Store, rec *apitoken.Record) *apitoken.Record {
	t.Helper()
	require.NoError(t, s.Create(context.Background(), rec))
	return rec
}

func ids(recs []apitoken.Record) []string {
	out := make([]string, 0, len(recs))
	for _, r := range recs {
		out = append(out, r.ID)
	}
	return out
}

func runStoreContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()

	t.Run("create and get round trip", func(t *testing.T) {
		s := newStore(t)
		rec := NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.Shared = true
			r.Permissions = []string{"attacks:read", "rules:read"}
			r.ExpiresAt = start.Add(90 * 24 * time.Hour).Add(123456 * time.Microsecond)
			r.Sealed = []byte{1, 'k', 0, 1, 2, 3, 255}
			r.Disabled, r.DisabledAt, r.DisabledReason = true, start.Add(time.Second), apitoken.ReasonManual
		})
		want := *rec.Clone()
		mustCreate(t, s, rec)
		assert.Equal(t, int64(1), rec.Version, "Create sets Version to 1")
		want.Version = 1

		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		if diff := cmp.Diff(want, got, timeEqual); diff != "" {
			t.Errorf("Get after Create (-want +got):\n%s", diff)
		}
		byDigest, err := s.Lookup(ctx, rec.Digest)
		require.NoError(t, err)
		if diff := cmp.Diff(want, byDigest, timeEqual); diff != "" {
			t.Errorf("Lookup after Create (-want +got):\n%s", diff)
		}
		assert.Equal(t, time.UTC, got.CreatedAt.Location(), "times come back in UTC")
	})

	t.Run("backward-compatible record round trip", func(t *testing.T) {
		s := newStore(t)
		rec := NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.BackwardCompatible = true
			r.Permissions = nil
			r.LegacyUUID = "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"
			r.LegacyHash = "$2a$04$abcdefghijklmnopqrstuu1234567890123456789012345678901"
		})
		want := *rec.Clone()
		want.Version = 1
		mustCreate(t, s, rec)
		got, err := s.LookupLegacy(ctx, rec.LegacyUUID)
		require.NoError(t, err)
		if diff := cmp.Diff(want, got, timeEqual); diff != "" {
			t.Errorf("LookupLegacy (-want +got):\n%s", diff)
		}
		_, err = s.LookupLegacy(ctx, "00000000-0000-0000-0000-000000000000")
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
	})

	t.Run("empty permissions stay empty", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.Permissions = []string{}
			r.Disabled, r.DisabledAt, r.DisabledReason = true, start, apitoken.ReasonNoPermissions
		}))
		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.Empty(t, got.Permissions)
	})

	t.Run("unknown ID and digest are not found", func(t *testing.T) {
		s := newStore(t)
		_, err := s.Get(ctx, "tok_missing")
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
		_, err = s.Lookup(ctx, apitoken.Digest{1, 2, 3})
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
		assert.ErrorIs(t, s.Delete(ctx, "tok_missing"), apitoken.ErrNotFound)
		missing := NewRecord("bob", "acme")
		missing.Version = 1
		assert.ErrorIs(t, s.Update(ctx, missing), apitoken.ErrNotFound)
	})

	t.Run("duplicates conflict and store nothing", func(t *testing.T) {
		s := newStore(t)
		first := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.LegacyUUID = "11111111-1111-4111-8111-111111111111"
			r.LegacyHash = "x"
		}))
		sameID := NewRecord("carol", "acme", func(r *apitoken.Record) { r.ID = first.ID })
		sameDigest := NewRecord("carol", "acme", func(r *apitoken.Record) { r.Digest = first.Digest })
		sameUUID := NewRecord("carol", "acme", func(r *apitoken.Record) { r.LegacyUUID = first.LegacyUUID; r.LegacyHash = "y" })
		for name, rec := range map[string]*apitoken.Record{"ID": sameID, "digest": sameDigest, "legacy UUID": sameUUID} {
			assert.ErrorIs(t, s.Create(ctx, rec), apitoken.ErrConflict, "duplicate %s", name)
		}
		assert.Empty(t, listAll(t, s, apitoken.Filter{OwnerID: "carol"}), "a rejected Create stores nothing")
		got, err := s.Get(ctx, first.ID)
		require.NoError(t, err)
		assert.Equal(t, "bob", got.OwnerID, "the first record is unchanged")
	})

	t.Run("records are copied in and out", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) { r.Sealed = []byte{1, 2, 3} }))
		rec.Permissions[0] = "changed:in"
		rec.Sealed[0] = 9
		rec.Name = "changed"

		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.Equal(t, []string{"attacks:read"}, got.Permissions)
		assert.Equal(t, []byte{1, 2, 3}, got.Sealed)
		got.Permissions[0] = "changed:out"
		got.Sealed[0] = 8

		again, err := s.Lookup(ctx, got.Digest)
		require.NoError(t, err)
		assert.Equal(t, []string{"attacks:read"}, again.Permissions)
		assert.Equal(t, []byte{1, 2, 3}, again.Sealed)
		assert.Equal(t, "record of bob", again.Name)
	})

	t.Run("update is a compare and swap", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		stale := *rec.Clone()

		rec.Name = "renamed"
		require.NoError(t, s.Update(ctx, rec))
		assert.Equal(t, int64(2), rec.Version)

		stale.Name = "lost update"
		assert.ErrorIs(t, s.Update(ctx, &stale), apitoken.ErrConflict)
		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.Equal(t, "renamed", got.Name)
		assert.Equal(t, int64(2), got.Version)
	})

	t.Run("update moves the digest", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		old := rec.Digest
		rec.Digest = sha256.Sum256([]byte("new value"))
		require.NoError(t, s.Update(ctx, rec))
		_, err := s.Lookup(ctx, old)
		assert.ErrorIs(t, err, apitoken.ErrNotFound, "the old digest is gone at once")
		got, err := s.Lookup(ctx, rec.Digest)
		require.NoError(t, err)
		assert.Equal(t, rec.ID, got.ID)
	})

	t.Run("update to a taken digest conflicts", func(t *testing.T) {
		s := newStore(t)
		a := mustCreate(t, s, NewRecord("bob", "acme"))
		b := mustCreate(t, s, NewRecord("bob", "acme"))
		bDigest := b.Digest
		b.Digest = a.Digest
		assert.ErrorIs(t, s.Update(ctx, b), apitoken.ErrConflict)
		got, err := s.Lookup(ctx, bDigest)
		require.NoError(t, err)
		assert.Equal(t, b.ID, got.ID, "the failed update changed nothing")
	})

	t.Run("update keeps last-used time", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		used := start.Add(time.Hour)
		require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{rec.ID: used}))
		rec.Name = "renamed"
		rec.LastUsedAt = time.Time{}
		require.NoError(t, s.Update(ctx, rec))
		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.True(t, got.LastUsedAt.Equal(used), "Update must not write LastUsedAt, got %v", got.LastUsedAt)
	})

	t.Run("concurrent updates of one version", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		const workers = 20
		var wg sync.WaitGroup
		errs := make([]error, workers)
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := rec.Clone()
				mine.Digest = sha256.Sum256(fmt.Appendf(nil, "value %d", i))
				errs[i] = s.Update(ctx, mine)
			}()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			if err == nil {
				won++
			} else {
				assert.ErrorIs(t, err, apitoken.ErrConflict)
			}
		}
		assert.Equal(t, 1, won, "exactly one update of the same version wins")
	})

	t.Run("delete", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		require.NoError(t, s.Delete(ctx, rec.ID))
		_, err := s.Get(ctx, rec.ID)
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
		_, err = s.Lookup(ctx, rec.Digest)
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
	})

	t.Run("list filters", func(t *testing.T) {
		s := newStore(t)
		bob := mustCreate(t, s, NewRecord("bob", "acme"))
		alice := mustCreate(t, s, NewRecord("alice", "acme"))
		gina := mustCreate(t, s, NewRecord("gina", "globex"))
		ivy := mustCreate(t, s, NewRecord("ivy", "initech"))

		cases := []struct {
			name   string
			filter apitoken.Filter
			want   []string
		}{
			{"owner", apitoken.Filter{OwnerID: "bob"}, []string{bob.ID}},
			{"tenant", apitoken.Filter{TenantIDs: []string{"acme"}}, []string{bob.ID, alice.ID}},
			{"tenants", apitoken.Filter{TenantIDs: []string{"globex", "initech"}}, []string{gina.ID, ivy.ID}},
			{"owner and tenant", apitoken.Filter{OwnerID: "bob", TenantIDs: []string{"globex"}}, nil},
			{"all tenants", apitoken.Filter{AllTenants: true}, []string{bob.ID, alice.ID, gina.ID, ivy.ID}},
			{"unknown owner", apitoken.Filter{OwnerID: "nobody"}, nil},
		}
		for _, c := range cases {
			got := ids(listAll(t, s, c.filter))
			want := slices.Clone(c.want)
			slices.Sort(want)
			assert.Equal(t, fmt.Sprint(want), fmt.Sprint(got), c.name)
		}

		_, err := s.List(ctx, apitoken.Filter{})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "an empty filter lists nothing")
	})

	t.Run("list pages with a cursor", func(t *testing.T) {
		s := newStore(t)
		var want []string
		for range 25 {
			want = append(want, mustCreate(t, s, NewRecord("bob", "acme")).ID)
		}
		mustCreate(t, s, NewRecord("carol", "acme"))
		slices.Sort(want)

		var got []string
		f := apitoken.Filter{OwnerID: "bob", Limit: 7}
		pages := 0
		for {
			page, err := s.List(ctx, f)
			require.NoError(t, err)
			require.LessOrEqual(t, len(page.Records), 7)
			got = append(got, ids(page.Records)...)
			pages++
			if page.Next == "" {
				break
			}
			f.After = page.Next
		}
		assert.Equal(t, want, got, "pages hold every record once, sorted by ID")
		assert.Equal(t, 4, pages)

		exact, err := s.List(ctx, apitoken.Filter{OwnerID: "bob", Limit: 25})
		require.NoError(t, err)
		assert.Len(t, exact.Records, 25)
		if exact.Next != "" {
			rest, err := s.List(ctx, apitoken.Filter{OwnerID: "bob", Limit: 25, After: exact.Next})
			require.NoError(t, err)
			assert.Empty(t, rest.Records)
			assert.Empty(t, rest.Next)
		}

		capped, err := s.List(ctx, apitoken.Filter{OwnerID: "bob", Limit: apitoken.MaxPageSize * 10})
		require.NoError(t, err)
		assert.Len(t, capped.Records, 25)
	})

	t.Run("update owner applies one transaction", func(t *testing.T) {
		s := newStore(t)
		keep := mustCreate(t, s, NewRecord("bob", "acme"))
		save := mustCreate(t, s, NewRecord("bob", "acme"))
		remove := mustCreate(t, s, NewRecord("bob", "acme"))
		other := mustCreate(t, s, NewRecord("carol", "acme"))

		changes, err := s.UpdateOwner(ctx, "bob", func(rec *apitoken.Record) apitoken.Action {
			switch rec.ID {
			case save.ID:
				rec.Disabled, rec.DisabledAt, rec.DisabledReason = true, start, apitoken.ReasonOwnerDisabled
				return apitoken.Save
			case remove.ID:
				return apitoken.Remove
			}
			return apitoken.Keep
		})
		require.NoError(t, err)
		require.Len(t, changes, 2)
		byID := map[string]apitoken.Change{}
		for _, c := range changes {
			byID[c.Record.ID] = c
		}
		assert.Equal(t, apitoken.Save, byID[save.ID].Action)
		assert.True(t, byID[save.ID].Record.Disabled)
		assert.Equal(t, int64(2), byID[save.ID].Record.Version, "a saved record gets a new version")
		assert.Equal(t, apitoken.Remove, byID[remove.ID].Action)

		got, err := s.Get(ctx, save.ID)
		require.NoError(t, err)
		assert.True(t, got.Disabled)
		assert.Equal(t, apitoken.ReasonOwnerDisabled, got.DisabledReason)
		_, err = s.Get(ctx, remove.ID)
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
		got, err = s.Get(ctx, keep.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(1), got.Version, "a kept record is not written")
		got, err = s.Get(ctx, other.ID)
		require.NoError(t, err)
		assert.False(t, got.Disabled, "other owners are untouched")
	})

	t.Run("failed update owner changes nothing", func(t *testing.T) {
		s := newStore(t)
		for range 5 {
			mustCreate(t, s, NewRecord("bob", "acme"))
		}
		calls := 0
		_, err := s.UpdateOwner(ctx, "bob", func(rec *apitoken.Record) apitoken.Action {
			calls++
			if calls == 3 {
				return apitoken.Action(99)
			}
			rec.Disabled, rec.DisabledAt, rec.DisabledReason = true, start, apitoken.ReasonOwnerDisabled
			return apitoken.Save
		})
		require.Error(t, err, "an unknown action fails the cascade")
		for _, rec := range listAll(t, s, apitoken.Filter{OwnerID: "bob"}) {
			assert.False(t, rec.Disabled, "no record of a failed cascade is written")
			assert.Equal(t, int64(1), rec.Version)
		}
	})

	t.Run("lookup finds a record while it is updated", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		done := make(chan struct{})
		var misses atomic.Int64
		go func() {
			defer close(done)
			for range 200 {
				if _, err := s.Lookup(ctx, rec.Digest); err != nil {
					misses.Add(1)
				}
			}
		}()
		for i := 0; ; i++ {
			select {
			case <-done:
				assert.Zero(t, misses.Load(), "lookups failed while the record was renamed")
				return
			default:
			}
			got, err := s.Get(ctx, rec.ID)
			require.NoError(t, err)
			got.Name = fmt.Sprintf("name %d", i)
			require.NoError(t, s.Update(ctx, &got))
		}
	})

	t.Run("update owner to a taken digest conflicts", func(t *testing.T) {
		s := newStore(t)
		bob := mustCreate(t, s, NewRecord("bob", "acme"))
		carol := mustCreate(t, s, NewRecord("carol", "acme"))
		_, err := s.UpdateOwner(ctx, "bob", func(rec *apitoken.Record) apitoken.Action {
			rec.Digest = carol.Digest
			return apitoken.Save
		})
		require.ErrorIs(t, err, apitoken.ErrConflict)

		got, err := s.Lookup(ctx, carol.Digest)
		require.NoError(t, err)
		assert.Equal(t, carol.ID, got.ID, "the other owner's record keeps its digest")
		got, err = s.Lookup(ctx, bob.Digest)
		require.NoError(t, err)
		assert.Equal(t, bob.ID, got.ID)
		assert.Equal(t, int64(1), got.Version, "no record of a failed cascade is written")
	})

	t.Run("update owner to a taken legacy UUID conflicts", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, NewRecord("bob", "acme"))
		carol := mustCreate(t, s, NewRecord("carol", "acme", func(r *apitoken.Record) {
			r.LegacyUUID = "6f1c2f0e-5d4b-4c3a-9b8a-7f6e5d4c3b2a"
			r.LegacyHash = sha256Form("carol's secret")
		}))
		_, err := s.UpdateOwner(ctx, "bob", func(rec *apitoken.Record) apitoken.Action {
			rec.LegacyUUID, rec.LegacyHash = carol.LegacyUUID, sha256Form("bob's secret")
			return apitoken.Save
		})
		require.ErrorIs(t, err, apitoken.ErrConflict)

		got, err := s.LookupLegacy(ctx, carol.LegacyUUID)
		require.NoError(t, err)
		assert.Equal(t, carol.ID, got.ID, "the legacy UUID still names the other owner's record")
	})

	t.Run("purge boundaries", func(t *testing.T) {
		s := newStore(t)
		at := start.Add(time.Hour)
		disabled := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.Disabled, r.DisabledAt, r.DisabledReason = true, at, apitoken.ReasonManual
		}))
		expired := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) { r.ExpiresAt = at }))
		// Disabled after it expired: the purge counts from the expiry.
		both := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.ExpiresAt = at
			r.Disabled, r.DisabledAt, r.DisabledReason = true, at.Add(48*time.Hour), apitoken.ReasonManual
		}))
		active := mustCreate(t, s, NewRecord("bob", "acme"))
		future := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) { r.ExpiresAt = at.Add(time.Hour) }))

		purged, err := s.Purge(ctx, at.Add(-time.Microsecond), 100)
		require.NoError(t, err)
		assert.Empty(t, purged, "nothing is purged before its instant")

		purged, err = s.Purge(ctx, at, 100)
		require.NoError(t, err)
		got := ids(purged)
		slices.Sort(got)
		want := []string{disabled.ID, expired.ID, both.ID}
		slices.Sort(want)
		assert.Equal(t, want, got, "records inactive since the cutoff instant are purged")

		left := ids(listAll(t, s, apitoken.Filter{OwnerID: "bob"}))
		want = []string{active.ID, future.ID}
		slices.Sort(want)
		assert.Equal(t, want, left)
	})

	t.Run("purge is bounded", func(t *testing.T) {
		s := newStore(t)
		for range 7 {
			mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) {
				r.Disabled, r.DisabledAt, r.DisabledReason = true, start, apitoken.ReasonManual
			}))
		}
		var sizes []int
		for {
			purged, err := s.Purge(ctx, start, 3)
			require.NoError(t, err)
			sizes = append(sizes, len(purged))
			if len(purged) < 3 {
				break
			}
		}
		assert.Equal(t, []int{3, 3, 1}, sizes)
	})

	t.Run("last used only moves forward", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		later := start.Add(2 * time.Hour)
		require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{rec.ID: later, "tok_gone": later}))
		require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{rec.ID: start.Add(time.Hour)}))
		got, err := s.Get(ctx, rec.ID)
		require.NoError(t, err)
		assert.True(t, got.LastUsedAt.Equal(later), "last used %v, want %v", got.LastUsedAt, later)
		assert.Equal(t, int64(1), got.Version, "SetLastUsed does not change the version")
	})

	t.Run("cancelled context fails", func(t *testing.T) {
		s := newStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.Lookup(cancelled, rec.Digest)
		require.Error(t, err)
		assert.False(t, apitoken.IsCredentialError(err), "a cancelled lookup is a failure, not a rejection")
	})
}

// timeEqual compares times by instant, so that a store may return an
// equal time in another representation.
var timeEqual = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })
