package bench

import (
	"context"
	"crypto/sha256"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
)

// corpusSizes are the token counts of the floor and steady-state
// benchmarks: the million tokens, and a few whose records stay in the CPU
// cache, which shows what the computation alone costs.
var corpusSizes = []int{memTokens, fewTokens}

// BenchmarkFloor is the least that any verification by digest costs: the
// SHA-256 of a value and a lookup in a Go map of as many digests as the
// memstore benchmarks store. It reads no record, so it checks nothing but
// the existence of the digest.
func BenchmarkFloor(b *testing.B) {
	for _, n := range corpusSizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			c := sharedCorpus(b, n)
			index := make(map[[sha256.Size]byte]int32, len(c.values))
			for i, v := range c.values {
				index[sha256.Sum256([]byte(v))] = int32(i)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				// Hashing from a stack buffer keeps the floor free of
				// allocations, as Verify is.
				var buf [64]byte
				n := copy(buf[:], c.value(i))
				if _, ok := index[sha256.Sum256(buf[:n])]; !ok {
					b.Fatal("value missing from the index")
				}
			}
		})
	}
}

// BenchmarkMemstoreVerify measures Manager.Verify on memstore in steady
// state: format and checksum check, SHA-256, store lookup, status and
// expiry checks, the owner from the Policy, the permission intersection
// and the last-used check, which finds the stored time fresh.
func BenchmarkMemstoreVerify(b *testing.B) {
	for _, n := range corpusSizes {
		b.Run(fmt.Sprintf("tokens=%d", n), func(b *testing.B) {
			c := sharedCorpus(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				if _, err := c.steady.Verify(ctx, c.value(i)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMemstoreVerifyFirstUse measures Manager.Verify on tokens whose
// stored last-used time is stale, so every call also records a pending
// time in memory: what the first verification of a token costs in each
// last-used interval. Each of the first million calls records the first
// pending time of its token. A later call, if the benchmark runs that
// long, moves an existing one.
func BenchmarkMemstoreVerifyFirstUse(b *testing.B) {
	c := sharedCorpus(b, memTokens)
	m := c.newFirstUseManager(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := m.Verify(ctx, c.value(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemstoreVerifyParallel runs BenchmarkMemstoreVerify on every
// core. Run it with -cpu 1,2 to compare one core with two.
func BenchmarkMemstoreVerifyParallel(b *testing.B) {
	c := sharedCorpus(b, memTokens)
	ctx := context.Background()
	// Each goroutine starts at its own offset, as independent clients
	// would, instead of all walking the same tokens in step.
	stride := int64(len(c.values) / runtime.GOMAXPROCS(0))
	var offset atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := int(offset.Add(stride))
		for pb.Next() {
			if _, err := c.steady.Verify(ctx, c.value(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}
