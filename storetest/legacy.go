package storetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"

	"github.com/apitoken/apitoken"
)

// Legacy UUIDs of the tests, in canonical form.
const (
	bobUUID   = "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"
	carolUUID = "0b7e3a9c-1d2f-4e5a-8b6c-7d8e9f0a1b2c"
	aliceUUID = "d4c3b2a1-0f9e-4d8c-b7a6-5f4e3d2c1b0a"
	otherUUID = "11111111-2222-4333-8444-555555555555"
)

// analystPermissions are the permissions of bob's role, sorted.
var analystPermissions = []string{"attacks:read", "attacks:write", "rules:read"}

// newLegacySecret returns a random secret key like the ones the older
// scheme issued.
func newLegacySecret(t *testing.T) string {
	t.Helper()
	var raw [24]byte
	_, err := rand.Read(raw[:])
	require.NoError(t, err)
	return "sk_" + hex.EncodeToString(raw[:])
}

// bcryptHash hashes secret with the minimum cost, to keep tests fast.
func bcryptHash(t *testing.T, secret string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), bcrypt.MinCost)
	require.NoError(t, err)
	return string(h)
}

// argon2idHash hashes secret into an argon2id PHC string with small
// parameters, to keep tests fast.
func argon2idHash(t *testing.T, secret string) string {
	t.Helper()
	salt := make([]byte, 16)
	_, err := rand.Read(salt)
	require.NoError(t, err)
	sum := argon2.IDKey([]byte(secret), salt, 1, 64, 1, 32)
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=19$m=64,t=1,p=1$%s$%s", enc.EncodeToString(salt), enc.EncodeToString(sum))
}

// sha256Form is the stored form of a secret imported in plain text.
func sha256Form(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// legacyCountingStore counts the LookupLegacy calls that reach the store.
// It can also return what a read just before a concurrent import committed
// would return. The next staleLookups LookupLegacy calls return
// ErrNotFound, and the next staleLists List calls leave out
// backward-compatible records.
type legacyCountingStore struct {
	apitoken.Store
	legacyLookups atomic.Int64
	staleLookups  atomic.Int64
	staleLists    atomic.Int64
}

func (s *legacyCountingStore) LookupLegacy(ctx context.Context, uuid string) (apitoken.Record, error) {
	s.legacyLookups.Add(1)
	if s.staleLookups.Add(-1) >= 0 {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	s.staleLookups.Store(0)
	return s.Store.LookupLegacy(ctx, uuid)
}

func (s *legacyCountingStore) List(ctx context.Context, f apitoken.Filter) (apitoken.Page, error) {
	page, err := s.Store.List(ctx, f)
	if s.staleLists.Add(-1) >= 0 {
		page.Records = slices.DeleteFunc(page.Records, func(r apitoken.Record) bool { return r.BackwardCompatible })
		return page, err
	}
	s.staleLists.Store(0)
	return page, err
}

// newLegacyEnv returns an env whose store counts legacy lookups.
func newLegacyEnv(t *testing.T, newStore NewStore, configure ...func(*apitoken.Config)) (*env, *legacyCountingStore) {
	t.Helper()
	counting := &legacyCountingStore{}
	e := newEnv(t, func(t *testing.T) apitoken.Store {
		counting.Store = newStore(t)
		if cs, ok := counting.Store.(apitoken.CredentialStore); ok {
			return &credentialWrapper{Store: counting, lookup: cs.LookupCredential}
		}
		return counting
	}, configure...)
	return e, counting
}

// remember adds secrets and hashes to the strings no error may contain.
func (e *env) remember(secrets ...string) {
	for _, s := range secrets {
		e.values = append(e.values, apitoken.Value(s))
	}
}

// importLegacy imports credentials that must be accepted.
func (e *env) importLegacy(imp apitoken.LegacyImport) apitoken.LegacyImportResult {
	e.t.Helper()
	e.remember(imp.Secret, imp.SecretHash)
	res, err := e.m.ImportLegacy(e.ctx, "alice", imp)
	e.requireNoSecret(err)
	require.NoError(e.t, err, "import of user %q must succeed", imp.OwnerID)
	e.values = append(e.values, res.Value)
	return res
}

// importPlain imports a new random secret for the owner under the UUID
// and returns the secret.
func (e *env) importPlain(ownerID, uuid string) (apitoken.LegacyImportResult, string) {
	e.t.Helper()
	secret := newLegacySecret(e.t)
	return e.importLegacy(apitoken.LegacyImport{OwnerID: ownerID, UUID: uuid, Secret: secret}), secret
}

// requireLegacyValid fails unless the pair verifies.
func (e *env) requireLegacyValid(uuid, secret string) apitoken.Principal {
	e.t.Helper()
	p, err := e.m.VerifyLegacy(e.ctx, uuid, secret)
	e.requireNoSecret(err)
	require.NoError(e.t, err, "legacy pair must verify")
	return p
}

// requireLegacyRejected fails unless the pair is rejected with target.
func (e *env) requireLegacyRejected(uuid, secret string, target error) {
	e.t.Helper()
	_, err := e.m.VerifyLegacy(e.ctx, uuid, secret)
	e.requireNoSecret(err)
	require.ErrorIs(e.t, err, target, "legacy pair must be rejected")
	require.True(e.t, apitoken.IsCredentialError(err), "rejection must be a credential error")
}

func runLegacy(t *testing.T, newStore NewStore) {
	t.Run("Import", func(t *testing.T) { runLegacyImport(t, newStore) })
	t.Run("Verify", func(t *testing.T) { runLegacyVerify(t, newStore) })
	t.Run("Lifecycle", func(t *testing.T) { runLegacyLifecycle(t, newStore) })
}

func runLegacyImport(t *testing.T, newStore NewStore) {
	t.Run("import each hash format", func(t *testing.T) {
		secret := newLegacySecret(t)
		cases := []struct {
			name string
			imp  apitoken.LegacyImport
			// storedHash is the LegacyHash expected in the record.
			storedHash string
		}{
			{"plain secret", apitoken.LegacyImport{Secret: secret}, sha256Form(secret)},
			{"bcrypt", apitoken.LegacyImport{SecretHash: bcryptHash(t, secret)}, ""},
			{"bcrypt 2y", apitoken.LegacyImport{SecretHash: "$2y$" + strings.TrimPrefix(bcryptHash(t, secret), "$2a$")}, ""},
			{"argon2id", apitoken.LegacyImport{SecretHash: argon2idHash(t, secret)}, ""},
			{"sha256 form", apitoken.LegacyImport{SecretHash: sha256Form(secret)}, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				e, _ := newLegacyEnv(t, newStore)
				imp := c.imp
				imp.OwnerID, imp.UUID = "bob", strings.ToUpper(bobUUID)
				res := e.importLegacy(imp)

				assert.True(t, res.Created)
				assert.Equal(t, "bob", res.OwnerID)
				assert.NotEmpty(t, res.Value)
				tok := res.Token
				assert.True(t, tok.BackwardCompatible)
				assert.Nil(t, tok.Permissions, "a backward-compatible token stores no permissions")
				assert.Equal(t, "Backward-compatible token", tok.Name)
				assert.Equal(t, "bob", tok.OwnerID)
				assert.Equal(t, "acme", tok.TenantID)
				assert.True(t, tok.ExpiresAt.IsZero(), "no expiry without MaxLifetime")

				rec := e.get(tok.ID)
				assert.Equal(t, bobUUID, rec.LegacyUUID, "the UUID is stored in canonical form")
				want := c.storedHash
				if want == "" {
					want = imp.SecretHash
				}
				assert.True(t, rec.LegacyHash == want, "stored hash mismatch")
				assert.Empty(t, rec.Sealed, "nothing is sealed without a keyring")

				p := e.requireValid(res.Value)
				assert.Equal(t, tok.ID, p.TokenID)
				assert.Equal(t, apitoken.MethodToken, p.Method)
				assert.True(t, p.BackwardCompatible)
				assert.Equal(t, analystPermissions, p.Permissions)

				p = e.requireLegacyValid(bobUUID, secret)
				assert.Equal(t, tok.ID, p.TokenID)
				assert.Equal(t, apitoken.MethodLegacy, p.Method)
				e.requireLegacyRejected(bobUUID, secret+"x", apitoken.ErrNotFound)

				events := e.events.of(apitoken.EventImported)
				require.Len(t, events, 1)
				assert.Equal(t, tok.ID, events[0].TokenID)
				assert.Equal(t, "bob", events[0].OwnerID)
				assert.Equal(t, "alice", events[0].ActorID, "the event records the actor")
				assert.Empty(t, e.events.of(apitoken.EventCreated), "an import is not reported as a creation")
			})
		}
	})

	t.Run("import seals the value", func(t *testing.T) {
		key, err := apitoken.NewSealingKey()
		require.NoError(t, err)
		ring, err := apitoken.NewKeyring("k1", map[string][]byte{"k1": key})
		require.NoError(t, err)
		e, _ := newLegacyEnv(t, newStore, func(c *apitoken.Config) { c.Keyring = ring })
		res, _ := e.importPlain("bob", bobUUID)
		assert.NotNil(t, e.get(res.Token.ID).Sealed)
		revealed, err := e.m.Reveal(e.ctx, "bob", res.Token.ID)
		require.NoError(t, err)
		assert.True(t, revealed == res.Value, "value mismatch")
	})

	t.Run("import applies max lifetime", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, func(c *apitoken.Config) { c.MaxLifetime = 30 * 24 * time.Hour })
		res, secret := e.importPlain("bob", bobUUID)
		assert.True(t, res.Token.ExpiresAt.Equal(start.Add(30*24*time.Hour)), "expiry %v", res.Token.ExpiresAt)
		e.clock.Add(30 * 24 * time.Hour)
		e.requireLegacyRejected(bobUUID, secret, apitoken.ErrExpired)
	})

	t.Run("reimport returns existing token", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		first, secret := e.importPlain("bob", bobUUID)

		again := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: strings.ReplaceAll(bobUUID, "-", ""), Secret: secret})
		assert.False(t, again.Created)
		assert.Equal(t, first.Token.ID, again.Token.ID)
		assert.Empty(t, again.Value, "the existing value is not shown again")

		other := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "another secret")})
		assert.False(t, other.Created, "a different secret keeps the existing token")
		assert.Equal(t, first.Token.ID, other.Token.ID)
		e.requireLegacyValid(bobUUID, secret)
		e.requireLegacyRejected(bobUUID, "another secret", apitoken.ErrNotFound)

		assert.Equal(t, 1, e.count("bob"), "a reimport creates nothing")
		assert.Len(t, e.events.of(apitoken.EventImported), 1)
	})

	t.Run("uuid of another user conflicts", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		bobs, _ := e.importPlain("bob", bobUUID)
		_, err := e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "carol", UUID: bobUUID, Secret: newLegacySecret(t)})
		require.ErrorIs(t, err, apitoken.ErrConflict)
		assert.Contains(t, err.Error(), `"carol"`)
		// The importer may administer carol but not bob, in another tenant.
		assert.NotContains(t, err.Error(), bobs.Token.ID, "the error names the token of another user")
		assert.Zero(t, e.count("carol"))
	})

	t.Run("second uuid for one user conflicts", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		first, _ := e.importPlain("bob", bobUUID)
		_, err := e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: otherUUID, Secret: newLegacySecret(t)})
		require.ErrorIs(t, err, apitoken.ErrConflict)
		assert.Contains(t, err.Error(), first.Token.ID, "the error names the existing token")
		assert.Equal(t, 1, e.count("bob"))
	})

	t.Run("regular tokens do not conflict", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		e.createRead("bob")
		res, _ := e.importPlain("bob", bobUUID)
		assert.True(t, res.Created)
		assert.Equal(t, 2, e.count("bob"))
	})

	t.Run("inactive users are rejected", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		cases := []struct {
			owner string
			want  error
		}{
			{"erin", apitoken.ErrSSO},
			{"frank", apitoken.ErrOwnerDisabled},
			{"nobody", apitoken.ErrUnknownUser},
		}
		for _, c := range cases {
			secret := newLegacySecret(t)
			e.remember(secret)
			_, err := e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: c.owner, UUID: otherUUID, Secret: secret})
			require.ErrorIs(t, err, c.want, "owner %q", c.owner)
			e.requireNoSecret(err)
			assert.Zero(t, e.count(c.owner), "owner %q", c.owner)
		}
	})

	t.Run("invalid imports are rejected", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		secret := newLegacySecret(t)
		valid := bcryptHash(t, secret)
		bcryptBody := strings.TrimPrefix(valid, "$2a$04$")
		salt := base64.RawStdEncoding.EncodeToString([]byte("saltsaltsalt"))
		sum := base64.RawStdEncoding.EncodeToString(make([]byte, 32))
		cases := []struct {
			name  string
			imp   apitoken.LegacyImport
			field string
		}{
			{"empty owner", apitoken.LegacyImport{UUID: bobUUID, Secret: secret}, "OwnerID"},
			{"malformed uuid", apitoken.LegacyImport{UUID: "6f1c1d2e-8a4b-4c3d-9e5f", Secret: secret}, "LegacyImport.UUID"},
			{"uuid in braces", apitoken.LegacyImport{UUID: "{" + bobUUID + "}", Secret: secret}, "LegacyImport.UUID"},
			{"uuid with misplaced hyphens", apitoken.LegacyImport{UUID: "6f1c1d2e8-a4b-4c3d-9e5f-0a1b2c3d4e5f", Secret: secret}, "LegacyImport.UUID"},
			{"uuid with non-hex digit", apitoken.LegacyImport{UUID: "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5g", Secret: secret}, "LegacyImport.UUID"},
			{"neither secret nor hash", apitoken.LegacyImport{UUID: bobUUID}, "neither Secret nor SecretHash"},
			{"secret and hash", apitoken.LegacyImport{UUID: bobUUID, Secret: secret, SecretHash: valid}, "both Secret and SecretHash"},
			{"overlong secret", apitoken.LegacyImport{UUID: bobUUID, Secret: strings.Repeat("s", apitoken.MaxLegacySecretLength+1)}, "LegacyImport.Secret"},
			{"bcrypt string as secret", apitoken.LegacyImport{UUID: bobUUID, Secret: valid}, "LegacyImport.Secret"},
			{"argon2id string as secret", apitoken.LegacyImport{UUID: bobUUID, Secret: argon2idHash(t, secret)}, "LegacyImport.Secret"},
			{"sha256 form as secret", apitoken.LegacyImport{UUID: bobUUID, Secret: sha256Form(secret)}, "LegacyImport.Secret"},
			{"truncated bcrypt", apitoken.LegacyImport{UUID: bobUUID, SecretHash: valid[:40]}, "LegacyImport.SecretHash"},
			{"bcrypt 2x variant", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$2x$04$" + bcryptBody}, "LegacyImport.SecretHash"},
			{"bcrypt cost too high", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$2a$20$" + bcryptBody}, "LegacyImport.SecretHash"},
			{"bcrypt cost too low", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$2a$03$" + bcryptBody}, "LegacyImport.SecretHash"},
			{"argon2i variant", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2i$v=19$m=64,t=1,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id version 16", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=16$m=64,t=1,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id without version", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$m=64,t=1,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id parameter order", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$t=1,m=64,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id zero lanes", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=1,p=0$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id zero time", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=0,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id memory too low", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=7,t=1,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id memory too high", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=4194304,t=1,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id leading zero", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=064,t=1,p=1$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id keyid", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=1,p=1,keyid=AAAA$" + salt + "$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id padded base64", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=1,p=1$" + salt + "==$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id short salt", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdA$" + sum}, "LegacyImport.SecretHash"},
			{"argon2id without hash", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=1,p=1$" + salt}, "LegacyImport.SecretHash"},
			{"upper-case sha256 form", apitoken.LegacyImport{UUID: bobUUID, SecretHash: strings.ToUpper(sha256Form(secret))}, "LegacyImport.SecretHash"},
			{"short sha256 form", apitoken.LegacyImport{UUID: bobUUID, SecretHash: sha256Form(secret)[:40]}, "LegacyImport.SecretHash"},
			{"unknown hash format", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "md5:0123456789abcdef0123456789abcdef"}, "LegacyImport.SecretHash"},
			{"overlong hash", apitoken.LegacyImport{UUID: bobUUID, SecretHash: "$argon2id$v=19$m=64,t=1,p=1$" + salt + "$" + strings.Repeat("A", 600)}, "LegacyImport.SecretHash"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				imp := c.imp
				if c.name != "empty owner" {
					imp.OwnerID = "bob"
				}
				e.remember(imp.Secret, imp.SecretHash)
				_, err := e.m.ImportLegacy(e.ctx, "alice", imp)
				require.ErrorIs(t, err, apitoken.ErrInvalidArgument)
				assert.Contains(t, err.Error(), c.field)
				e.requireNoSecret(err)
				assert.Zero(t, e.count("bob"), "a rejected import stores nothing")
			})
		}
	})

	t.Run("concurrent imports of one uuid", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		secret := newLegacySecret(t)
		e.remember(secret)
		const workers = 8
		results := make([]apitoken.LegacyImportResult, workers)
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, Secret: secret})
			}()
		}
		wg.Wait()

		created := 0
		for i := range workers {
			require.NoError(t, errs[i], "every import of the same UUID for the same user succeeds")
			if results[i].Created {
				created++
			}
		}
		assert.Equal(t, 1, created, "exactly one import creates the token")
		assert.Equal(t, 1, e.count("bob"))
		for i := range workers {
			assert.Equal(t, results[0].Token.ID, results[i].Token.ID, "every import returns the same token")
		}
		e.requireLegacyValid(bobUUID, secret)
	})

	t.Run("import after stale lookup", func(t *testing.T) {
		e, counting := newLegacyEnv(t, newStore)
		first, secret := e.importPlain("bob", bobUUID)

		// The lookup misses the token that a concurrent import of the same
		// UUID has just created, and the listing finds it.
		counting.staleLookups.Store(1)
		again := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, Secret: secret})
		assert.False(t, again.Created)
		assert.Equal(t, first.Token.ID, again.Token.ID)

		// The lookup and the listing both miss it, so the store rejects
		// the duplicate UUID.
		counting.staleLookups.Store(1)
		counting.staleLists.Store(1)
		again = e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, Secret: secret})
		assert.False(t, again.Created)
		assert.Equal(t, first.Token.ID, again.Token.ID)

		counting.staleLookups.Store(1)
		counting.staleLists.Store(1)
		_, err := e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "carol", UUID: bobUUID, Secret: secret})
		require.ErrorIs(t, err, apitoken.ErrConflict, "the UUID of another user stays taken")

		assert.Equal(t, 1, e.count("bob", "carol"))
		assert.Len(t, e.events.of(apitoken.EventImported), 1)
	})

	t.Run("import after stale listing", func(t *testing.T) {
		e, counting := newLegacyEnv(t, newStore)
		first, _ := e.importPlain("bob", bobUUID)

		// The listing before the creation misses the token that a
		// concurrent import of another UUID has just created. The listing
		// after the creation finds it, and the import withdraws its token.
		counting.staleLists.Store(1)
		secret := newLegacySecret(t)
		e.remember(secret)
		_, err := e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: otherUUID, Secret: secret})
		require.ErrorIs(t, err, apitoken.ErrConflict)
		assert.Contains(t, err.Error(), first.Token.ID)
		assert.Equal(t, 1, e.count("bob"), "the duplicate token is withdrawn")
		e.requireLegacyRejected(otherUUID, secret, apitoken.ErrNotFound)
		assert.Len(t, e.events.of(apitoken.EventImported), 1, "a withdrawn token is not reported")
	})

	t.Run("concurrent imports of other uuids", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		uuids := []string{bobUUID, carolUUID, aliceUUID, otherUUID}
		errs := make([]error, len(uuids))
		created := make([]bool, len(uuids))
		var wg sync.WaitGroup
		for i, uuid := range uuids {
			secret := newLegacySecret(t)
			e.remember(secret)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var res apitoken.LegacyImportResult
				res, errs[i] = e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: uuid, Secret: secret})
				created[i] = res.Created
			}()
		}
		wg.Wait()

		succeeded := 0
		for i := range uuids {
			if errs[i] != nil {
				assert.ErrorIs(t, errs[i], apitoken.ErrConflict)
				continue
			}
			assert.True(t, created[i])
			succeeded++
		}
		assert.LessOrEqual(t, succeeded, 1, "a user has at most one backward-compatible token")
		assert.Equal(t, succeeded, e.count("bob"), "every stored token was reported as created")
	})

	t.Run("batch reports each user", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		bobSecret, aliceSecret := newLegacySecret(t), newLegacySecret(t)
		e.remember(bobSecret, aliceSecret)
		imps := []apitoken.LegacyImport{
			{OwnerID: "bob", UUID: bobUUID, Secret: bobSecret},
			{OwnerID: "carol", UUID: carolUUID, SecretHash: "$2a$04$short"},
			{OwnerID: "erin", UUID: otherUUID, Secret: newLegacySecret(t)},
			{OwnerID: "alice", UUID: aliceUUID, SecretHash: bcryptHash(t, aliceSecret)},
			{OwnerID: "bob", UUID: bobUUID, Secret: bobSecret},
			{OwnerID: "hank", UUID: aliceUUID, Secret: newLegacySecret(t)},
		}
		results := e.m.ImportLegacyBatch(e.ctx, "dave", imps)
		require.Len(t, results, len(imps))
		for _, r := range results {
			e.values = append(e.values, r.Value)
		}
		for i, r := range results {
			assert.Equal(t, imps[i].OwnerID, r.OwnerID, "result %d is in input order", i)
			e.requireNoSecret(r.Err)
		}

		assert.NoError(t, results[0].Err)
		assert.True(t, results[0].Created)
		assert.ErrorIs(t, results[1].Err, apitoken.ErrInvalidArgument)
		assert.ErrorIs(t, results[2].Err, apitoken.ErrSSO)
		assert.NoError(t, results[3].Err)
		assert.True(t, results[3].Created)
		assert.NoError(t, results[4].Err)
		assert.False(t, results[4].Created, "the second import of bob returns his token")
		assert.Equal(t, results[0].Token.ID, results[4].Token.ID)
		assert.ErrorIs(t, results[5].Err, apitoken.ErrConflict)

		e.requireValid(results[0].Value)
		e.requireLegacyValid(aliceUUID, aliceSecret)
		events := e.events.of(apitoken.EventImported)
		require.Len(t, events, 2)
		assert.Equal(t, "dave", events[0].ActorID)
	})

	t.Run("failing store fails import", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		e.store.fail.Store(true)
		secret := newLegacySecret(t)
		e.remember(secret)
		_, err := e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, Secret: secret})
		require.Error(t, err)
		assert.ErrorIs(t, err, errFault)
		e.requireNoSecret(err)
		e.store.fail.Store(false)
		assert.Zero(t, e.count("bob"))
	})
}

func runLegacyVerify(t *testing.T, newStore NewStore) {
	t.Run("pair has owner's current permissions", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		res := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})

		p := e.requireLegacyValid(bobUUID, "bob's secret")
		assert.Equal(t, res.Token.ID, p.TokenID)
		assert.Equal(t, "bob", p.OwnerID)
		assert.Equal(t, "acme", p.TenantID)
		assert.True(t, p.BackwardCompatible)
		assert.Equal(t, apitoken.MethodLegacy, p.Method)
		assert.Equal(t, analystPermissions, p.Permissions)

		// The check of the secret is cached now; the permissions are not.
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "read_only"}))
		p = e.requireLegacyValid(bobUUID, "bob's secret")
		assert.Equal(t, []string{"attacks:read", "rules:read"}, p.Permissions)
		p = e.requireValid(res.Value)
		assert.Equal(t, []string{"attacks:read", "rules:read"}, p.Permissions, "the token's own value follows the owner too")

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "deploy"}))
		p = e.requireLegacyValid(bobUUID, "bob's secret")
		assert.Equal(t, []string{"nodes:deploy"}, p.Permissions, "permissions the token never had come with the role")
		assert.Empty(t, e.get(res.Token.ID).Permissions, "nothing is written to the token")
	})

	t.Run("uuid in any form", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		_, secret := e.importPlain("bob", bobUUID)
		for _, form := range []string{bobUUID, strings.ToUpper(bobUUID), strings.ReplaceAll(bobUUID, "-", ""), strings.ToUpper(strings.ReplaceAll(bobUUID, "-", ""))} {
			p := e.requireLegacyValid(form, secret)
			assert.Equal(t, "bob", p.OwnerID, "form %q", form)
		}
	})

	t.Run("malformed pair makes no lookup", func(t *testing.T) {
		e, counting := newLegacyEnv(t, newStore)
		_, secret := e.importPlain("bob", bobUUID)
		lookups := counting.legacyLookups.Load()
		e.store.fail.Store(true)
		cases := []struct{ uuid, secret string }{
			{"", secret},
			{"not-a-uuid", secret},
			{"{" + bobUUID + "}", secret},
			{" " + bobUUID, secret},
			{bobUUID + "\n", secret},
			{"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5", secret},
			{"6f1c1d2e_8a4b_4c3d_9e5f_0a1b2c3d4e5f", secret},
			{"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5z", secret},
			{bobUUID, ""},
			{bobUUID, strings.Repeat("s", apitoken.MaxLegacySecretLength+1)},
		}
		for i, c := range cases {
			e.requireLegacyRejected(c.uuid, c.secret, apitoken.ErrMalformed)
			assert.Equal(t, lookups, counting.legacyLookups.Load(), "case %d made a store lookup", i)
		}
		e.store.fail.Store(false)
		long := strings.Repeat("s", apitoken.MaxLegacySecretLength)
		e.requireLegacyRejected(bobUUID, long, apitoken.ErrNotFound)
	})

	t.Run("unknown uuid and wrong secret look alike", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		_, unknown := e.m.VerifyLegacy(e.ctx, otherUUID, "bob's secret")
		_, wrong := e.m.VerifyLegacy(e.ctx, bobUUID, "not bob's secret")
		require.ErrorIs(t, unknown, apitoken.ErrNotFound)
		require.ErrorIs(t, wrong, apitoken.ErrNotFound)
		assert.Equal(t, unknown.Error(), wrong.Error(), "the caller cannot tell an unknown UUID from a wrong secret")
	})

	t.Run("stored hash as secret is rejected", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		secret := newLegacySecret(t)
		bcryptStored := bcryptHash(t, secret)
		argonStored := argon2idHash(t, secret)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptStored})
		e.importLegacy(apitoken.LegacyImport{OwnerID: "carol", UUID: carolUUID, SecretHash: argonStored})
		e.importLegacy(apitoken.LegacyImport{OwnerID: "alice", UUID: aliceUUID, Secret: secret})
		plainStored := e.get(e.legacyTokenID("alice")).LegacyHash
		e.remember(plainStored)

		e.requireLegacyRejected(bobUUID, bcryptStored, apitoken.ErrNotFound)
		e.requireLegacyRejected(carolUUID, argonStored, apitoken.ErrNotFound)
		e.requireLegacyRejected(aliceUUID, plainStored, apitoken.ErrNotFound)
		e.requireLegacyRejected(aliceUUID, strings.TrimPrefix(plainStored, "sha256:"), apitoken.ErrNotFound)

		e.requireLegacyValid(bobUUID, secret)
		e.requireLegacyValid(carolUUID, secret)
		e.requireLegacyValid(aliceUUID, secret)
	})

	t.Run("secret of another user is rejected", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		bobSecret, carolSecret := newLegacySecret(t), newLegacySecret(t)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, bobSecret)})
		e.importLegacy(apitoken.LegacyImport{OwnerID: "carol", UUID: carolUUID, Secret: carolSecret})
		e.requireLegacyValid(bobUUID, bobSecret)
		e.requireLegacyValid(carolUUID, carolSecret)

		e.requireLegacyRejected(carolUUID, bobSecret, apitoken.ErrNotFound)
		e.requireLegacyRejected(bobUUID, carolSecret, apitoken.ErrNotFound)

		// Two users may share a secret: each UUID still authenticates as
		// the owner of its own token.
		e.importLegacy(apitoken.LegacyImport{OwnerID: "alice", UUID: aliceUUID, SecretHash: bcryptHash(t, bobSecret)})
		assert.Equal(t, "alice", e.requireLegacyValid(aliceUUID, bobSecret).OwnerID)
		assert.Equal(t, "bob", e.requireLegacyValid(bobUUID, bobSecret).OwnerID)
	})

	t.Run("each request reads the store", func(t *testing.T) {
		e, counting := newLegacyEnv(t, newStore)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		before := counting.legacyLookups.Load()
		for range 5 {
			e.requireLegacyValid(bobUUID, "bob's secret")
		}
		assert.Equal(t, before+5, counting.legacyLookups.Load(), "one store lookup per request, cached or not")
	})

	t.Run("owner state is checked after the cache", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: argon2idHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", Disabled: true}))
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrOwnerDisabled)
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", SSO: true}))
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrSSO)
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "globex", Role: "analyst"}))
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrOwnerDisabled)
		e.dir.RemoveUser("bob")
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrOwnerDisabled)

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
		e.requireLegacyValid(bobUUID, "bob's secret")
	})

	t.Run("failing store fails closed", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, func(c *apitoken.Config) { c.LegacyCacheTTL = 24 * time.Hour })
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		e.importLegacy(apitoken.LegacyImport{OwnerID: "carol", UUID: carolUUID, SecretHash: bcryptHash(t, "carol's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")

		e.store.fail.Store(true)
		for _, pair := range [][2]string{{bobUUID, "bob's secret"}, {carolUUID, "carol's secret"}, {bobUUID, "wrong"}} {
			_, err := e.m.VerifyLegacy(e.ctx, pair[0], pair[1])
			require.Error(t, err, "a failing store never lets a pair through")
			assert.False(t, apitoken.IsCredentialError(err), "a store failure is not a rejection of the credentials")
			assert.ErrorIs(t, err, errFault)
			e.requireNoSecret(err)
		}
		e.store.fail.Store(false)
		e.requireLegacyValid(carolUUID, "carol's secret")
	})

	t.Run("cancelled context fails closed", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		cancelled, cancel := context.WithCancel(e.ctx)
		cancel()
		_, err := e.m.VerifyLegacy(cancelled, bobUUID, "bob's secret")
		require.Error(t, err)
		assert.False(t, apitoken.IsCredentialError(err))
	})
}

// legacyTokenID returns the ID of the owner's backward-compatible token.
func (e *env) legacyTokenID(ownerID string) string {
	e.t.Helper()
	for _, rec := range listAll(e.t, e.store, apitoken.Filter{OwnerID: ownerID}) {
		if rec.BackwardCompatible {
			return rec.ID
		}
	}
	e.t.Fatalf("user %q has no backward-compatible token", ownerID)
	return ""
}

func runLegacyLifecycle(t *testing.T, newStore NewStore) {
	// A long cache window shows that no change waits for it.
	longCache := func(c *apitoken.Config) { c.LegacyCacheTTL = 24 * time.Hour }

	t.Run("permissions cannot be changed", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore)
		res, secret := e.importPlain("bob", bobUUID)
		_, err := e.m.Update(e.ctx, "bob", res.Token.ID, apitoken.UpdateRequest{Permissions: []string{"attacks:read"}})
		require.ErrorIs(t, err, apitoken.ErrInvalidArgument)
		assert.Contains(t, err.Error(), "delete it and create a regular token")
		assert.Empty(t, e.get(res.Token.ID).Permissions)

		name := "legacy client"
		tok, err := e.m.Update(e.ctx, "bob", res.Token.ID, apitoken.UpdateRequest{Name: &name})
		require.NoError(t, err, "the name may change")
		assert.Equal(t, name, tok.Name)
		p := e.requireLegacyValid(bobUUID, secret)
		assert.Equal(t, analystPermissions, p.Permissions)
	})

	t.Run("renew ends the pair", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		res := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")

		tok, value, err := e.m.Renew(e.ctx, "bob", res.Token.ID)
		require.NoError(t, err)
		e.values = append(e.values, value)
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrNotFound)
		e.requireRejected(res.Value, apitoken.ErrNotFound)
		p := e.requireValid(value)
		assert.Equal(t, res.Token.ID, p.TokenID)
		assert.True(t, tok.BackwardCompatible, "the token keeps following its owner's permissions")
		assert.Equal(t, analystPermissions, p.Permissions)

		rec := e.get(res.Token.ID)
		assert.Empty(t, rec.LegacyUUID)
		assert.Empty(t, rec.LegacyHash)

		_, err = e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		require.ErrorIs(t, err, apitoken.ErrConflict, "renewal ends backward compatibility for good")
		assert.Contains(t, err.Error(), "renewed")
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrNotFound)
	})

	t.Run("disable and enable apply", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		res := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")

		_, err := e.m.Disable(e.ctx, "alice", res.Token.ID)
		require.NoError(t, err)
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrDisabled)
		e.requireRejected(res.Value, apitoken.ErrDisabled)
		e.requireLegacyRejected(bobUUID, "wrong", apitoken.ErrNotFound)

		_, err = e.m.Enable(e.ctx, "bob", res.Token.ID)
		require.NoError(t, err)
		e.requireLegacyValid(bobUUID, "bob's secret")
		e.requireValid(res.Value)
	})

	t.Run("expiry applies", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		res, secret := e.importPlain("bob", bobUUID)
		expiry := start.Add(time.Hour)
		_, err := e.m.Update(e.ctx, "bob", res.Token.ID, apitoken.UpdateRequest{ExpiresAt: &expiry})
		require.NoError(t, err)
		e.requireLegacyValid(bobUUID, secret)

		e.clock.Add(time.Hour - time.Microsecond)
		e.requireLegacyValid(bobUUID, secret)
		e.clock.Add(time.Microsecond)
		e.requireLegacyRejected(bobUUID, secret, apitoken.ErrExpired)
		e.requireRejected(res.Value, apitoken.ErrExpired)
	})

	t.Run("owner cascades apply", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		res := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")

		n, err := e.m.RestrictOwner(e.ctx, "alice", "bob", []string{"attacks:read"})
		require.NoError(t, err)
		assert.Zero(t, n, "restricting the owner leaves a backward-compatible token alone")
		e.requireLegacyValid(bobUUID, "bob's secret")

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", SSO: true}))
		n, err = e.m.SwitchOwnerToSSO(e.ctx, "alice", "bob")
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		assert.Equal(t, apitoken.ReasonOwnerSSO, e.get(res.Token.ID).DisabledReason)
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrDisabled)
		_, err = e.m.ImportLegacy(e.ctx, "alice", apitoken.LegacyImport{OwnerID: "bob", UUID: otherUUID, Secret: newLegacySecret(t)})
		require.ErrorIs(t, err, apitoken.ErrSSO)

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrDisabled)

		n, err = e.m.DeleteOwner(e.ctx, "alice", "bob")
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrNotFound)
	})

	t.Run("disable owner applies", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: argon2idHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")
		n, err := e.m.DisableOwner(e.ctx, "alice", "bob")
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrDisabled)
	})

	t.Run("delete ends the pair", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		res := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")

		require.NoError(t, e.m.Delete(e.ctx, "bob", res.Token.ID))
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrNotFound)

		again := e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "new secret")})
		assert.True(t, again.Created, "after deletion the UUID may be imported again")
		assert.NotEqual(t, res.Token.ID, again.Token.ID)
		e.requireLegacyRejected(bobUUID, "bob's secret", apitoken.ErrNotFound)
		e.requireLegacyValid(bobUUID, "new secret")
	})

	t.Run("purge ends the pair", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, longCache)
		res, secret := e.importPlain("bob", bobUUID)
		_, err := e.m.Disable(e.ctx, "bob", res.Token.ID)
		require.NoError(t, err)
		e.clock.Add(e.m.Retention())
		n, err := e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		e.requireLegacyRejected(bobUUID, secret, apitoken.ErrNotFound)
		assert.Zero(t, e.count("bob"))
	})

	t.Run("cache off still verifies", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, func(c *apitoken.Config) { c.LegacyCacheTTL = -1 })
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		for range 3 {
			e.requireLegacyValid(bobUUID, "bob's secret")
			e.requireLegacyRejected(bobUUID, "wrong", apitoken.ErrNotFound)
		}
	})

	t.Run("cache window passes", func(t *testing.T) {
		e, _ := newLegacyEnv(t, newStore, func(c *apitoken.Config) { c.LegacyCacheTTL = time.Minute })
		e.importLegacy(apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, SecretHash: bcryptHash(t, "bob's secret")})
		e.requireLegacyValid(bobUUID, "bob's secret")
		e.clock.Add(time.Minute)
		e.requireLegacyValid(bobUUID, "bob's secret")
		e.requireLegacyRejected(bobUUID, "wrong", apitoken.ErrNotFound)
	})
}
