package apitoken_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// Fixed legacy credentials of the fuzz target and the benchmarks, so that
// the checked-in seed corpus can hold valid pairs.
const (
	bobUUID     = "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"
	bobSecret   = "sk_bob_0123456789abcdef0123456789abcdef"
	carolUUID   = "0b7e3a9c-1d2f-4e5a-8b6c-7d8e9f0a1b2c"
	carolSecret = "sk_carol_fedcba9876543210fedcba9876543210"
)

// newTestManager returns a Manager over a memstore with bob and carol, two
// analysts of tenant acme.
func newTestManager(tb testing.TB, configure ...func(*apitoken.Config)) *apitoken.Manager {
	tb.Helper()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "attacks:write", "rules:read"}},
	})
	require.NoError(tb, err)
	for _, id := range []string{"bob", "carol"} {
		require.NoError(tb, dir.PutUser(apitoken.DirectoryUser{ID: id, TenantID: "acme", Role: "analyst"}))
	}
	cfg := apitoken.Config{
		Store:  memstore.New(),
		Policy: dir,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, c := range configure {
		c(&cfg)
	}
	m, err := apitoken.New(cfg)
	require.NoError(tb, err)
	return m
}

// importLegacy imports credentials that must be accepted.
func importLegacy(tb testing.TB, m *apitoken.Manager, imp apitoken.LegacyImport) apitoken.LegacyImportResult {
	tb.Helper()
	res, err := m.ImportLegacy(context.Background(), "admin", imp)
	require.NoError(tb, err)
	return res
}

// bcryptOf hashes secret with the given cost.
func bcryptOf(tb testing.TB, secret string, cost int) string {
	tb.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
	require.NoError(tb, err)
	return string(h)
}

// expectedOwner returns the user whose legacy UUID uuid denotes, by the
// documented rule: 32 hexadecimal digits of any case, alone or with the
// four hyphens of the 8-4-4-4-12 form.
func expectedOwner(uuid string) string {
	u := strings.ToLower(uuid)
	if len(u) == 36 && u[8] == '-' && u[13] == '-' && u[18] == '-' && u[23] == '-' {
		u = u[:8] + u[9:13] + u[14:18] + u[19:23] + u[24:]
	}
	switch u {
	case strings.ReplaceAll(bobUUID, "-", ""):
		return "bob"
	case strings.ReplaceAll(carolUUID, "-", ""):
		return "carol"
	}
	return ""
}

// FuzzVerifyLegacy checks that VerifyLegacy accepts exactly the imported
// pairs, in any UUID form the documentation allows, rejects everything
// else as a credential error, and never repeats a secret in an error.
func FuzzVerifyLegacy(f *testing.F) {
	m := newTestManager(f)
	importLegacy(f, m, apitoken.LegacyImport{OwnerID: "bob", UUID: bobUUID, Secret: bobSecret})
	carolHash := bcryptOf(f, carolSecret, bcrypt.MinCost)
	importLegacy(f, m, apitoken.LegacyImport{OwnerID: "carol", UUID: carolUUID, SecretHash: carolHash})

	f.Add(bobUUID, bobSecret)
	f.Add(carolUUID, carolSecret)
	f.Add(carolUUID, carolHash)
	f.Add(carolUUID, bobSecret)
	f.Add(bobUUID, carolSecret)

	ctx := context.Background()
	secrets := map[string]string{"bob": bobSecret, "carol": carolSecret}
	f.Fuzz(func(t *testing.T, uuid, secret string) {
		p, err := m.VerifyLegacy(ctx, uuid, secret)
		if err == nil {
			owner := expectedOwner(uuid)
			if owner == "" || secret != secrets[owner] {
				t.Fatalf("VerifyLegacy accepted a pair that was never imported (UUID of %d bytes)", len(uuid))
			}
			if p.OwnerID != owner || p.Method != apitoken.MethodLegacy || !p.BackwardCompatible {
				t.Fatalf("principal of owner %q, method %q for a UUID of %q", p.OwnerID, p.Method, owner)
			}
			return
		}
		if !apitoken.IsCredentialError(err) {
			t.Fatalf("rejection is not a credential error: %v", err)
		}
		msg := err.Error()
		if strings.Contains(msg, bobSecret) || strings.Contains(msg, carolSecret) || (len(secret) >= 16 && strings.Contains(msg, secret)) {
			t.Fatalf("an error message contains a secret")
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	m := newTestManager(b)
	_, value, err := m.Create(context.Background(), "bob", apitoken.CreateRequest{Name: "bench", Permissions: []string{"attacks:read"}})
	require.NoError(b, err)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Verify(ctx, string(value)); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkVerifyLegacy imports bob's secret with the hash and measures
// VerifyLegacy with the right secret.
func benchmarkVerifyLegacy(b *testing.B, imp apitoken.LegacyImport, configure ...func(*apitoken.Config)) {
	m := newTestManager(b, configure...)
	imp.OwnerID, imp.UUID = "bob", bobUUID
	importLegacy(b, m, imp)
	ctx := context.Background()
	if _, err := m.VerifyLegacy(ctx, bobUUID, bobSecret); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.VerifyLegacy(ctx, bobUUID, bobSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLegacyBcryptCold measures a check that misses the cache,
// with bcrypt.DefaultCost, as legacy systems commonly stored.
func BenchmarkVerifyLegacyBcryptCold(b *testing.B) {
	hash := bcryptOf(b, bobSecret, bcrypt.DefaultCost)
	benchmarkVerifyLegacy(b, apitoken.LegacyImport{SecretHash: hash}, func(c *apitoken.Config) { c.LegacyCacheTTL = -1 })
}

// BenchmarkVerifyLegacyBcryptWarm measures a check that hits the cache.
func BenchmarkVerifyLegacyBcryptWarm(b *testing.B) {
	hash := bcryptOf(b, bobSecret, bcrypt.DefaultCost)
	benchmarkVerifyLegacy(b, apitoken.LegacyImport{SecretHash: hash})
}

// BenchmarkVerifyLegacyPlain measures a secret imported in plain text,
// which is checked by SHA-256 without the cache.
func BenchmarkVerifyLegacyPlain(b *testing.B) {
	benchmarkVerifyLegacy(b, apitoken.LegacyImport{Secret: bobSecret})
}
