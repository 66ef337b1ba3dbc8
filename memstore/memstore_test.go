package memstore_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

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
