package memstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
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

// enabledBridgeStore is a broken memstore whose LookupCredential reports
// every backward-compatible token as enabled, so that a disabled bridge
// token still verifies.
type enabledBridgeStore struct {
	*memstore.Store
}

func (s enabledBridgeStore) LookupCredential(ctx context.Context, d apitoken.Digest) (apitoken.Credential, error) {
	c, err := s.Store.LookupCredential(ctx, d)
	if c.BackwardCompatible {
		c.Disabled = false
	}
	return c, err
}

// brokenConformanceEnv is the environment variable that, set to 1, makes
// TestConformanceRejectsBrokenStore run the suite in its child process.
const brokenConformanceEnv = "MEMSTORE_TEST_BROKEN_CONFORMANCE"

// TestConformanceRejectsBrokenStore runs the conformance suite over
// enabledBridgeStore in a child process and checks that its legacy rules
// fail. They can only fail if they verify with LookupCredential, as the
// Manager does.
func TestConformanceRejectsBrokenStore(t *testing.T) {
	if os.Getenv(brokenConformanceEnv) == "1" {
		storetest.Run(t, func(*testing.T) apitoken.Store { return enabledBridgeStore{memstore.New()} })
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestConformanceRejectsBrokenStore$")
	cmd.Env = append(os.Environ(), brokenConformanceEnv+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	require.ErrorAs(t, err, &exit, "the conformance suite passed a store that verifies disabled backward-compatible tokens")
	// The output is not printed, because it may contain issued values.
	if !strings.Contains(string(out), "--- FAIL: TestConformanceRejectsBrokenStore/Legacy/") {
		t.Errorf("the conformance suite failed the broken store, but not in its legacy rules")
	}
}

// TestNoGoroutineLeft runs a whole token life on memstore and checks that
// neither the store nor the Manager leaves a goroutine behind.
func TestNoGoroutineLeft(t *testing.T) {
	before := runtime.NumGoroutine()
	ctx := context.Background()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Permissions: []string{"attacks:read"}},
	})
	require.NoError(t, err)
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
	m, err := apitoken.New(apitoken.Config{Store: memstore.New(), Policy: dir, LastUsedInterval: time.Nanosecond})
	require.NoError(t, err)

	tok, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read"}})
	require.NoError(t, err)
	for range 100 {
		_, err := m.Verify(ctx, string(value))
		require.NoError(t, err)
	}
	_, err = m.Disable(ctx, "bob", tok.ID)
	require.NoError(t, err)
	_, err = m.DisableOwner(ctx, "alice", "bob")
	require.NoError(t, err)
	_, err = m.Purge(ctx)
	require.NoError(t, err)
	require.NoError(t, m.Close(ctx))

	assert.LessOrEqual(t, runtime.NumGoroutine(), before, "goroutines left after Close")
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

// TestModel applies random operations to a Store and to a map of records,
// and checks after each that every lookup by ID, digest and legacy UUID
// returns what the map holds. The small pools of IDs, digests and legacy
// UUIDs make conflicts, reused digests, grown and shrunk tables and
// shifted probe sequences common.
func TestModel(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	s := memstore.New()
	model := map[string]apitoken.Record{}

	digest := func() apitoken.Digest {
		return sha256.Sum256([]byte{byte(rng.IntN(600)), byte(rng.IntN(2))})
	}
	legacyUUID := func() string {
		if rng.IntN(3) == 0 {
			return ""
		}
		return fmt.Sprintf("00000000-0000-4000-8000-%012d", rng.IntN(40))
	}
	permissionLists := [][]string{nil, {}, {"attacks:read"}, {"attacks:read", "rules:read"}, {"rules:write"}}
	permissions := func() []string {
		return slices.Clone(permissionLists[rng.IntN(len(permissionLists))])
	}
	owners := []string{"alice", "bob", "carol"}
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

	holder := func(match func(apitoken.Record) bool, self string) bool {
		for id, rec := range model {
			if id != self && match(rec) {
				return true
			}
		}
		return false
	}
	conflicts := func(rec *apitoken.Record, self string) bool {
		if _, ok := model[rec.ID]; ok && rec.ID != self {
			return true
		}
		if holder(func(o apitoken.Record) bool { return o.Digest == rec.Digest }, self) {
			return true
		}
		return rec.LegacyUUID != "" && holder(func(o apitoken.Record) bool { return o.LegacyUUID == rec.LegacyUUID }, self)
	}
	pick := func() (string, bool) {
		if len(model) == 0 {
			return "", false
		}
		keys := slices.Sorted(maps.Keys(model))
		return keys[rng.IntN(len(keys))], true
	}

	for step := range 10_000 {
		switch op := rng.IntN(10); op {
		case 0, 1, 2:
			rec := apitoken.Record{
				Token: apitoken.Token{
					ID:          fmt.Sprintf("tok_%04d", rng.IntN(500)),
					OwnerID:     owners[rng.IntN(len(owners))],
					TenantID:    "acme",
					Permissions: permissions(),
				},
				Digest:     digest(),
				LegacyUUID: legacyUUID(),
			}
			want := conflicts(&rec, "")
			err := s.Create(ctx, &rec)
			if want {
				require.ErrorIs(t, err, apitoken.ErrConflict, "step %d: create", step)
				break
			}
			require.NoError(t, err, "step %d: create", step)
			model[rec.ID] = *rec.Clone()
		case 3, 4:
			id, ok := pick()
			if !ok {
				break
			}
			rec, err := s.Get(ctx, id)
			require.NoError(t, err, "step %d: get", step)
			switch rng.IntN(4) {
			case 0:
				rec.Digest = digest()
			case 1:
				rec.LegacyUUID = legacyUUID()
			case 2:
				rec.Permissions = permissions()
			default:
				rec.Name = fmt.Sprintf("name %d", step)
			}
			rec.LastUsedAt = time.Time{}
			want := conflicts(&rec, id)
			err = s.Update(ctx, &rec)
			if want {
				require.ErrorIs(t, err, apitoken.ErrConflict, "step %d: update", step)
				break
			}
			require.NoError(t, err, "step %d: update", step)
			rec.LastUsedAt = model[id].LastUsedAt
			model[id] = *rec.Clone()
		case 5:
			id, ok := pick()
			if !ok {
				break
			}
			require.NoError(t, s.Delete(ctx, id), "step %d: delete", step)
			delete(model, id)
		case 6:
			owner := owners[rng.IntN(len(owners))]
			perms := permissions()
			changes, err := s.UpdateOwner(ctx, owner, func(rec *apitoken.Record) apitoken.Action {
				switch rec.ID[len(rec.ID)-1] % 3 {
				case 0:
					return apitoken.Keep
				case 1:
					rec.Permissions = slices.Clone(perms)
					rec.Disabled, rec.DisabledAt = true, at
					return apitoken.Save
				}
				return apitoken.Remove
			})
			require.NoError(t, err, "step %d: update owner", step)
			for _, c := range changes {
				if c.Action == apitoken.Remove {
					delete(model, c.Record.ID)
					continue
				}
				want := model[c.Record.ID]
				want.Permissions = slices.Clone(perms)
				want.Disabled, want.DisabledAt = true, at
				want.Version++
				model[c.Record.ID] = want
			}
		case 7:
			cutoff := at.Add(time.Duration(rng.IntN(3)-1) * time.Hour)
			purged, err := s.Purge(ctx, cutoff, 1+rng.IntN(4))
			require.NoError(t, err, "step %d: purge", step)
			for _, rec := range purged {
				require.Contains(t, model, rec.ID, "step %d: purge", step)
				delete(model, rec.ID)
			}
		case 8:
			id, ok := pick()
			if !ok {
				break
			}
			used := at.Add(time.Duration(rng.IntN(100)) * time.Minute)
			require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{id: used}), "step %d: set last used", step)
			rec := model[id]
			if used.After(rec.LastUsedAt) {
				rec.LastUsedAt = used
			}
			model[id] = rec
		default:
			got, err := s.Lookup(ctx, digest())
			if err == nil {
				require.Equal(t, model[got.ID].Digest, got.Digest, "step %d: lookup", step)
			}
		}
		if step%100 == 0 || step > 9_800 {
			requireModel(t, s, model, step)
		}
	}
}

// requireModel checks that s holds exactly the records of model.
func requireModel(t *testing.T, s *memstore.Store, model map[string]apitoken.Record, step int) {
	t.Helper()
	ctx := context.Background()
	require.Equal(t, len(model), s.Len(), "step %d: number of records", step)
	for id, want := range model {
		got, err := s.Get(ctx, id)
		require.NoError(t, err, "step %d: get %s", step, id)
		require.Empty(t, cmp.Diff(want, got), "step %d: get %s", step, id)
		got, err = s.Lookup(ctx, want.Digest)
		require.NoError(t, err, "step %d: lookup of %s", step, id)
		require.Equal(t, id, got.ID, "step %d: lookup of %s", step, id)
		require.Empty(t, cmp.Diff(want, got), "step %d: lookup of %s", step, id)
		if want.LegacyUUID != "" {
			got, err = s.LookupLegacy(ctx, want.LegacyUUID)
			require.NoError(t, err, "step %d: legacy lookup of %s", step, id)
			require.Equal(t, id, got.ID, "step %d: legacy lookup of %s", step, id)
		}
	}
	page, err := s.List(ctx, apitoken.Filter{AllTenants: true, Limit: apitoken.MaxPageSize})
	require.NoError(t, err)
	require.Len(t, page.Records, len(model), "step %d: list", step)
}

// TestCascadePanic checks that a CascadeFunc that panics leaves the store
// unchanged and unlocked.
func TestCascadePanic(t *testing.T) {
	ctx := context.Background()
	s := memstore.New()
	for i := range 3 {
		rec := apitoken.Record{Token: apitoken.Token{ID: fmt.Sprintf("tok_%d", i), OwnerID: "bob"}, Digest: apitoken.Digest{byte(i + 1)}}
		require.NoError(t, s.Create(ctx, &rec))
	}
	calls := 0
	require.Panics(t, func() {
		_, _ = s.UpdateOwner(ctx, "bob", func(rec *apitoken.Record) apitoken.Action {
			calls++
			if calls == 2 {
				panic("cascade failed")
			}
			rec.Disabled = true
			return apitoken.Save
		})
	})

	page, err := s.List(ctx, apitoken.Filter{OwnerID: "bob"})
	require.NoError(t, err)
	require.Len(t, page.Records, 3)
	for _, rec := range page.Records {
		assert.False(t, rec.Disabled, "token %s was changed by a cascade that panicked", rec.ID)
		assert.Equal(t, int64(1), rec.Version)
	}
	require.NoError(t, s.Delete(ctx, "tok_0"), "the store is still unlocked")
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
