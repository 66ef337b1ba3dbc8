package apitoken_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// benchTokens is the number of tokens stored for the verification
// benchmarks.
const benchTokens = 100_000

// newBenchManager returns a Manager on memstore holding n tokens of one
// owner, and their values.
func newBenchManager(b *testing.B, n int) (*apitoken.Manager, []string) {
	b.Helper()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "attacks:write", "rules:read"}},
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}); err != nil {
		b.Fatal(err)
	}
	m, err := apitoken.New(apitoken.Config{Store: memstore.New(), Policy: dir})
	if err != nil {
		b.Fatal(err)
	}
	values := make([]string, n)
	for i := range values {
		_, v, err := m.Create(context.Background(), "bob", apitoken.CreateRequest{
			Name:        fmt.Sprintf("token %d", i),
			Permissions: []string{"attacks:read", "rules:read"},
		})
		if err != nil {
			b.Fatal(err)
		}
		values[i] = string(v)
	}
	return m, values
}

// warmUp verifies every value once and writes the last-used times, as a
// service in steady state has done for the tokens its clients use.
func warmUp(b *testing.B, m *apitoken.Manager, values []string) {
	b.Helper()
	ctx := context.Background()
	for _, v := range values {
		if _, err := m.Verify(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
	if err := m.FlushLastUsed(ctx); err != nil {
		b.Fatal(err)
	}
}

// verifyAll verifies the values in turn, b.N times in all.
func verifyAll(b *testing.B, m *apitoken.Manager, values []string) {
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Verify(ctx, values[i%len(values)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify measures a whole verification on memstore in steady
// state: checksum, SHA-256, lookup, status and owner checks, the
// permission intersection and the last-used check, which finds the stored
// time fresh.
func BenchmarkVerify(b *testing.B) {
	m, values := newBenchManager(b, benchTokens)
	warmUp(b, m, values)
	verifyAll(b, m, values)
}

// BenchmarkVerifyFirstUse verifies tokens whose stored last-used time is
// stale, so every call also records a pending time in memory: the most a
// verification costs between two last-used writes.
func BenchmarkVerifyFirstUse(b *testing.B) {
	m, values := newBenchManager(b, benchTokens)
	verifyAll(b, m, values)
}

// BenchmarkVerifyParallel runs BenchmarkVerify's work on every core.
func BenchmarkVerifyParallel(b *testing.B) {
	m, values := newBenchManager(b, benchTokens)
	warmUp(b, m, values)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	var next atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		// Each goroutine starts at its own place, as independent clients
		// would, instead of all walking the same tokens in step.
		i := int(next.Add(int64(len(values)/16))) % len(values)
		for pb.Next() {
			if _, err := m.Verify(ctx, values[i%len(values)]); err != nil {
				b.Error(err)
				return
			}
			i += 7
		}
	})
}

// BenchmarkFloor is the least any digest-based verification costs: the
// SHA-256 of a value and a Go map lookup among as many entries.
func BenchmarkFloor(b *testing.B) {
	_, values := newBenchManager(b, benchTokens)
	index := make(map[[32]byte]int, len(values))
	for i, v := range values {
		index[sha256.Sum256([]byte(v))] = i
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		// Hashing from a stack buffer keeps the floor free of allocations,
		// as Verify is.
		var buf [64]byte
		v := values[i%len(values)]
		n := copy(buf[:], v)
		if _, ok := index[sha256.Sum256(buf[:n])]; !ok {
			b.Fatal("value missing from the index")
		}
	}
}
