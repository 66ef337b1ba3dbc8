package sqlstore

import (
	"context"
	"flag"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/storetest"
)

var benchTokens = flag.Int("sqlstore.tokens", 1000,
	"number of tokens stored before the Lookup, Verify and Create benchmarks start")

// forEachBenchBackend runs bench once per backend, on a store that holds
// -sqlstore.tokens records, and passes it the digests of the records.
func forEachBenchBackend(b *testing.B, bench func(b *testing.B, s *Store, digests []apitoken.Digest)) {
	for _, be := range backends() {
		b.Run(be.name, func(b *testing.B) {
			s := be.newEmptyStore(b)
			digests := seed(b, s, *benchTokens)
			b.ReportAllocs()
			bench(b, s, digests)
		})
	}
}

func BenchmarkLookup(b *testing.B) {
	forEachBenchBackend(b, func(b *testing.B, s *Store, digests []apitoken.Digest) {
		ctx := context.Background()
		for i := 0; b.Loop(); i++ {
			if _, err := s.Lookup(ctx, digests[i%len(digests)]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkVerify(b *testing.B) {
	forEachBenchBackend(b, func(b *testing.B, s *Store, _ []apitoken.Digest) {
		ctx := context.Background()
		m, _ := newManager(b, s)
		values := make([]apitoken.Value, 100)
		for i := range values {
			_, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "bench", Permissions: []string{"attacks:read"}})
			if err != nil {
				b.Fatal(err)
			}
			values[i] = value
		}
		for i := 0; b.Loop(); i++ {
			if _, err := m.Verify(ctx, string(values[i%len(values)])); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCreate measures Store.Create. Each operation also makes the
// random record, with crypto/rand and SHA-256.
func BenchmarkCreate(b *testing.B) {
	forEachBenchBackend(b, func(b *testing.B, s *Store, _ []apitoken.Digest) {
		ctx := context.Background()
		for b.Loop() {
			if err := s.Create(ctx, storetest.NewRecord("bob", "acme")); err != nil {
				b.Fatal(err)
			}
		}
	})
}
