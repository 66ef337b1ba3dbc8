package storetest

import (
	"context"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

// runCredentialContract checks that a store's LookupCredential, when it
// has one, always returns what Lookup returns. The Manager verifies with
// the first and manages tokens with the second, so any difference could
// let a request through that the stored record rejects.
func runCredentialContract(t *testing.T, newStore NewStore) {
	ctx := context.Background()
	if _, ok := newStore(t).(apitoken.CredentialStore); !ok {
		return // the Manager verifies with Lookup alone
	}

	// credentialStore returns a new store as both interfaces.
	credentialStore := func(t *testing.T) (apitoken.Store, apitoken.CredentialStore) {
		s := newStore(t)
		return s, s.(apitoken.CredentialStore)
	}

	// requireSame checks that both lookups of the digest agree.
	requireSame := func(t *testing.T, s apitoken.Store, cs apitoken.CredentialStore, d apitoken.Digest) {
		t.Helper()
		rec, err := s.Lookup(ctx, d)
		require.NoError(t, err)
		got, err := cs.LookupCredential(ctx, d)
		require.NoError(t, err)
		if diff := cmp.Diff(rec.Credential(), got, timeEqual, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("LookupCredential differs from Lookup (-Lookup +LookupCredential):\n%s", diff)
		}
	}

	t.Run("credential follows every change", func(t *testing.T) {
		s, cs := credentialStore(t)
		rec := mustCreate(t, s, NewRecord("alice", "acme", func(r *apitoken.Record) {
			r.Shared = true
			r.Permissions = []string{"attacks:read", "rules:read"}
			r.ExpiresAt = start.Add(24 * time.Hour)
		}))
		requireSame(t, s, cs, rec.Digest)

		require.NoError(t, s.SetLastUsed(ctx, map[string]time.Time{rec.ID: start.Add(time.Minute)}))
		requireSame(t, s, cs, rec.Digest)

		rec.Permissions = []string{"rules:read"}
		rec.ExpiresAt = start.Add(time.Hour + 123456789*time.Nanosecond)
		require.NoError(t, s.Update(ctx, rec))
		requireSame(t, s, cs, rec.Digest)

		rec.Disabled, rec.DisabledAt, rec.DisabledReason = true, start, apitoken.ReasonOwnerDisabled
		require.NoError(t, s.Update(ctx, rec))
		requireSame(t, s, cs, rec.Digest)
		got, err := cs.LookupCredential(ctx, rec.Digest)
		require.NoError(t, err)
		assert.True(t, got.Disabled)
		assert.Equal(t, apitoken.ReasonOwnerDisabled, got.DisabledReason)

		_, err = s.UpdateOwner(ctx, "alice", func(r *apitoken.Record) apitoken.Action {
			r.Disabled, r.DisabledAt, r.DisabledReason = false, time.Time{}, ""
			r.Permissions = []string{"attacks:read"}
			return apitoken.Save
		})
		require.NoError(t, err)
		requireSame(t, s, cs, rec.Digest)
	})

	t.Run("credential of a backward-compatible record", func(t *testing.T) {
		s, cs := credentialStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme", func(r *apitoken.Record) {
			r.BackwardCompatible = true
			r.Permissions = nil
			r.LegacyUUID = "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"
			r.LegacyHash = sha256Form("legacy secret")
		}))
		requireSame(t, s, cs, rec.Digest)
	})

	t.Run("credential is gone with the digest", func(t *testing.T) {
		s, cs := credentialStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		old := rec.Digest
		rec.Digest = sha256.Sum256([]byte("renewed value"))
		require.NoError(t, s.Update(ctx, rec))
		_, err := cs.LookupCredential(ctx, old)
		assert.ErrorIs(t, err, apitoken.ErrNotFound, "the old digest is gone at once")
		requireSame(t, s, cs, rec.Digest)

		require.NoError(t, s.Delete(ctx, rec.ID))
		_, err = cs.LookupCredential(ctx, rec.Digest)
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
		_, err = cs.LookupCredential(ctx, apitoken.Digest{1, 2, 3})
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
	})

	t.Run("credential lookup with a cancelled context fails", func(t *testing.T) {
		s, cs := credentialStore(t)
		rec := mustCreate(t, s, NewRecord("bob", "acme"))
		cancelled, cancel := context.WithCancel(ctx)
		cancel()
		_, err := cs.LookupCredential(cancelled, rec.Digest)
		require.Error(t, err)
		assert.False(t, apitoken.IsCredentialError(err), "a cancelled lookup is a failure, not a rejection")
	})
}
