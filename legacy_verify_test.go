package apitoken_test

import (
	"context"
	"fmt"
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

// benchPolicy makes every user ID an analyst of tenant acme, so that a
// benchmark can have many owners without filling a Directory.
type benchPolicy struct{}

// benchPermissions are shared by every user of benchPolicy, as a Directory
// shares the permissions of a role.
var benchPermissions = []string{"attacks:read", "attacks:write", "rules:read"}

func (benchPolicy) User(_ context.Context, id string) (apitoken.User, error) {
	return apitoken.User{ID: id, TenantID: "acme", Permissions: benchPermissions}, nil
}

func (benchPolicy) ValidPermission(string) bool { return true }

// legacyBenchClients is the number of legacy clients the benchmarks
// verify in turn, each with its own backward-compatible token.
const legacyBenchClients = 1000

// newLegacyBenchManager returns a Manager on memstore that holds
// benchTokens tokens, like the manager of BenchmarkVerify. Of those,
// clients are backward-compatible tokens whose secret is bobSecret, stored
// as the given hash or, when hash is empty, imported in plain text. It
// verifies every pair once, writes the last-used times, and returns the
// UUIDs.
func newLegacyBenchManager(b *testing.B, clients int, hash string, configure ...func(*apitoken.Config)) (*apitoken.Manager, []string) {
	b.Helper()
	cfg := apitoken.Config{
		Store:  memstore.New(),
		Policy: benchPolicy{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, c := range configure {
		c(&cfg)
	}
	m, err := apitoken.New(cfg)
	require.NoError(b, err)
	ctx := context.Background()

	uuids := make([]string, clients)
	for i := range uuids {
		uuids[i] = fmt.Sprintf("%08x-0000-4000-8000-%012x", i, i)
		imp := apitoken.LegacyImport{OwnerID: fmt.Sprintf("client-%d", i), UUID: uuids[i], SecretHash: hash}
		if hash == "" {
			imp.Secret = bobSecret
		}
		importLegacy(b, m, imp)
	}
	for i := clients; i < benchTokens; i++ {
		_, _, err := m.Create(ctx, "filler", apitoken.CreateRequest{Name: "filler", Permissions: []string{"attacks:read"}})
		require.NoError(b, err)
	}

	for _, uuid := range uuids {
		_, err := m.VerifyLegacy(ctx, uuid, bobSecret)
		require.NoError(b, err)
	}
	require.NoError(b, m.FlushLastUsed(ctx))
	return m, uuids
}

// benchmarkVerifyLegacy measures VerifyLegacy with the right secret,
// taking the UUIDs in turn.
func benchmarkVerifyLegacy(b *testing.B, m *apitoken.Manager, uuids []string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.VerifyLegacy(ctx, uuids[i%len(uuids)], bobSecret); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyLegacyBcryptCold measures a check that misses the cache,
// with bcrypt.DefaultCost, a common cost of legacy systems. It dwarfs the
// rest of the verification.
func BenchmarkVerifyLegacyBcryptCold(b *testing.B) {
	hash := bcryptOf(b, bobSecret, bcrypt.DefaultCost)
	m, uuids := newLegacyBenchManager(b, 1, hash, func(c *apitoken.Config) { c.LegacyCacheTTL = -1 })
	benchmarkVerifyLegacy(b, m, uuids)
}

// BenchmarkVerifyLegacyBcryptWarm measures checks that hit the cache, in
// the same store size as BenchmarkVerify. The bcrypt cost only changes the
// set-up time, so the minimum cost keeps it short.
func BenchmarkVerifyLegacyBcryptWarm(b *testing.B) {
	hash := bcryptOf(b, bobSecret, bcrypt.MinCost)
	m, uuids := newLegacyBenchManager(b, legacyBenchClients, hash)
	benchmarkVerifyLegacy(b, m, uuids)
}

// BenchmarkVerifyLegacyPlain measures secrets imported in plain text,
// which are checked by SHA-256 without the cache.
func BenchmarkVerifyLegacyPlain(b *testing.B) {
	m, uuids := newLegacyBenchManager(b, legacyBenchClients, "")
	benchmarkVerifyLegacy(b, m, uuids)
}
