package apitoken_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// looseStore is a broken store whose digest lookups return the record
// with the digest target, whatever digest they are given.
type looseStore struct {
	*memstore.Store
	target apitoken.Digest
}

func (s *looseStore) Lookup(ctx context.Context, _ apitoken.Digest) (apitoken.Record, error) {
	return s.Store.Lookup(ctx, s.target)
}

func (s *looseStore) LookupCredential(ctx context.Context, _ apitoken.Digest) (apitoken.Credential, error) {
	return s.Store.LookupCredential(ctx, s.target)
}

// recordOnlyStore hides the LookupCredential of the store it embeds, so
// that the Manager verifies with Lookup.
type recordOnlyStore struct {
	apitoken.Store
}

func TestVerifyRejectsRecordOfOtherDigest(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		wrap func(*looseStore) apitoken.Store
	}{
		{"LookupCredential", func(s *looseStore) apitoken.Store { return s }},
		{"Lookup", func(s *looseStore) apitoken.Store { return recordOnlyStore{s} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := &looseStore{Store: memstore.New()}
			m := newTestManager(t, func(c *apitoken.Config) { c.Store = tc.wrap(store) })
			tok, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read"}})
			require.NoError(t, err)
			rec, err := store.Get(ctx, tok.ID)
			require.NoError(t, err)
			store.target = rec.Digest
			_, err = m.Verify(ctx, string(value))
			require.NoError(t, err, "the value of the target record verifies")

			_, other, err := m.Create(ctx, "carol", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:write"}})
			require.NoError(t, err)
			p, err := m.Verify(ctx, string(other))
			assert.ErrorIs(t, err, apitoken.ErrNotFound, "a value is accepted with the record of another digest")
			assert.Empty(t, p.TokenID)
		})
	}
}
