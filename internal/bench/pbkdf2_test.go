package bench

import (
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/subtle"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"

	"github.com/apitoken/apitoken"
)

// Parameters of the PBKDF2 scheme, which several Go products use for API
// tokens: PBKDF2-HMAC-SHA256 with 10,000 iterations and a random salt per
// token, found by a non-secret part of the value.
const (
	pbkdf2Iterations = 10_000
	pbkdf2KeyLength  = 32
	pbkdf2SaltLength = 16
	// pbkdf2LookupLength is the length of the non-secret lookup key: the
	// first characters after the prefix.
	pbkdf2LookupLength = 8
	// pbkdf2Derived is the number of tokens whose key the benchmark
	// derives and then verifies in turn. Deriving the keys of all
	// memTokens tokens would take about 25 minutes, and the lookup among
	// memTokens entries costs the same whichever entries carry a key.
	pbkdf2Derived = 256
)

// pbkdf2Entry is what the PBKDF2 scheme stores for one token.
type pbkdf2Entry struct {
	salt [pbkdf2SaltLength]byte
	key  [pbkdf2KeyLength]byte
	id   int32
}

// pbkdf2Index maps the lookup key of each value to the entries that share
// it, as a database index on a lookup column would.
type pbkdf2Index map[string][]*pbkdf2Entry

func lookupKey(value string) string {
	n := len(apitoken.DefaultPrefix)
	return value[n : n+pbkdf2LookupLength]
}

// newPBKDF2Index stores an entry with a random salt for every value, and
// derives the keys of the first pbkdf2Derived values on every core.
func newPBKDF2Index(values []string) pbkdf2Index {
	rng := rand.New(rand.NewPCG(4, 5))
	index := make(pbkdf2Index, len(values))
	entries := make([]pbkdf2Entry, len(values))
	for i, v := range values {
		e := &entries[i]
		e.id = int32(i)
		for j := range e.salt {
			e.salt[j] = byte(rng.Uint32())
		}
		k := lookupKey(v)
		index[k] = append(index[k], e)
	}

	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < pbkdf2Derived; i += workers {
				copy(entries[i].key[:], deriveKey(values[i], entries[i].salt[:]))
			}
		})
	}
	wg.Wait()
	return index
}

func deriveKey(value string, salt []byte) []byte {
	key, err := pbkdf2.Key(sha256.New, value, salt, pbkdf2Iterations, pbkdf2KeyLength)
	if err != nil {
		// Key fails only for a key length out of range, which the
		// constants above rule out.
		panic(err)
	}
	return key
}

// verify returns the ID of the token whose stored key matches value, as
// the PBKDF2 scheme verifies a request when no cache holds the result.
func (idx pbkdf2Index) verify(value string) (int32, bool) {
	for _, e := range idx[lookupKey(value)] {
		key := deriveKey(value, e.salt[:])
		if subtle.ConstantTimeCompare(key, e.key[:]) == 1 {
			return e.id, true
		}
	}
	return 0, false
}

// BenchmarkPBKDF2Verify measures one uncached verification of the PBKDF2
// scheme on the values of the memstore benchmarks: a map lookup by the
// lookup key among a million entries, 10,000 iterations of PBKDF2-SHA256
// and a constant-time compare.
func BenchmarkPBKDF2Verify(b *testing.B) {
	c := sharedCorpus(b, memTokens)
	index := newPBKDF2Index(c.values)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, ok := index.verify(c.value(i % pbkdf2Derived)); !ok {
			b.Fatal("PBKDF2 verification failed")
		}
	}
}
