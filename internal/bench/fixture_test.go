package bench

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// Sizes of the stored token sets.
const (
	memTokens = 1_000_000
	// fewTokens is a corpus whose records stay in the CPU cache, so that
	// a benchmark on it measures the computation without memory stalls.
	fewTokens = 1_000
	sqlTokens = 100_000
	// owners is the number of users the tokens are spread over.
	owners = 1_000
)

// tokenPermissions are the permissions of every benchmark token: two of
// the three that its owner's role holds, so that the intersection with
// the owner's permissions has work to do.
var tokenPermissions = []string{"attacks:read", "rules:read"}

// newDirectory returns a Directory with owners analysts spread over ten
// tenants.
func newDirectory() (*apitoken.Directory, error) {
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "attacks:write", "rules:read"}},
	})
	if err != nil {
		return nil, err
	}
	for i := range owners {
		u := apitoken.DirectoryUser{ID: ownerID(i), TenantID: tenantID(i), Role: "analyst"}
		if err := dir.PutUser(u); err != nil {
			return nil, err
		}
	}
	return dir, nil
}

// ownerIDs and tenantIDs are the owner and the tenant of the i-th user.
// Records share these strings with the Directory, as records issued by
// Manager.Create share the strings that the Policy returned.
var ownerIDs, tenantIDs = func() (o, t []string) {
	for i := range owners {
		o = append(o, fmt.Sprintf("user-%04d", i))
		t = append(t, fmt.Sprintf("tenant-%d", i%10))
	}
	return o, t
}()

// ownerID and tenantID return the owner and the tenant of the i-th token.
func ownerID(i int) string  { return ownerIDs[i%owners] }
func tenantID(i int) string { return tenantIDs[i%owners] }

// Value format of the benchmark tokens, the one Manager.Create issues: the
// default prefix, 43 random base62 characters and a checksum of 6 base62
// characters holding the CRC-32C (Castagnoli) of the rest.
const (
	base62         = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	randomLength   = 43
	checksumLength = 6
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// newValues returns n distinct token values. A seeded generator makes
// every run store the same values. They serve as well as values from
// crypto/rand, because the stores keep only their SHA-256 digests.
func newValues(n int, seed uint64) []string {
	rng := rand.New(rand.NewPCG(seed, 0))
	values := make([]string, n)
	buf := make([]byte, len(apitoken.DefaultPrefix)+randomLength+checksumLength)
	copy(buf, apitoken.DefaultPrefix)
	random := buf[len(apitoken.DefaultPrefix) : len(buf)-checksumLength]
	for i := range values {
		for j := range random {
			random[j] = base62[rng.IntN(len(base62))]
		}
		sum := uint64(crc32.Checksum(buf[:len(buf)-checksumLength], castagnoli))
		for j := len(buf) - 1; j >= len(buf)-checksumLength; j-- {
			buf[j] = base62[sum%62]
			sum /= 62
		}
		values[i] = string(buf)
	}
	return values
}

// newRecord returns the record of the i-th benchmark token as
// Manager.Create would store it at now, with an expiry a year later.
func newRecord(i int, value string, now time.Time) apitoken.Record {
	return apitoken.Record{
		Token: apitoken.Token{
			ID:          fmt.Sprintf("tok_%026d", i),
			Name:        fmt.Sprintf("benchmark token %d", i),
			OwnerID:     ownerID(i),
			TenantID:    tenantID(i),
			Permissions: tokenPermissions,
			CreatedAt:   now,
			UpdatedAt:   now,
			ExpiresAt:   now.Add(365 * 24 * time.Hour),
		},
		Digest: sha256.Sum256([]byte(value)),
	}
}

// warmUp verifies every value once, on every core, and writes the
// last-used times, as a service in steady state has done for the tokens
// its clients use.
func warmUp(ctx context.Context, m *apitoken.Manager, values []string) error {
	workers := runtime.GOMAXPROCS(0)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(values); i += workers {
				if _, err := m.Verify(ctx, values[i]); err != nil {
					errs[w] = fmt.Errorf("warm-up verification of value %d: %w", i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return m.FlushLastUsed(ctx)
}

// aheadClock is the real clock moved forward by a fixed offset. A Manager
// on it finds every last-used time that another Manager stored stale.
type aheadClock struct {
	clock.Clock
	offset time.Duration
}

func (c aheadClock) Now() time.Time { return c.Clock.Now().Add(c.offset) }

// corpus is the set of tokens shared by the memstore benchmarks, built
// once per test binary.
type corpus struct {
	dir   *apitoken.Directory
	store *memstore.Store
	// values are in a random order, which the benchmarks walk, so that
	// consecutive verifications read records that lie far apart in
	// memory, as the requests of unrelated clients do. They share one
	// string in that order, so that reading the next value costs what
	// reading a request header that just arrived costs: nearly nothing.
	values []string
	// steady verifies in steady state: a warm-up verified every value and
	// wrote the last-used times, and its last-used interval is longer than
	// a benchmark run, so that every stored time stays fresh throughout.
	steady *apitoken.Manager
}

var (
	corporaMu sync.Mutex
	corpora   = map[int]*corpus{}
)

// sharedCorpus returns the corpus of n tokens in memstore, building it on
// first use.
func sharedCorpus(b *testing.B, n int) *corpus {
	b.Helper()
	corporaMu.Lock()
	defer corporaMu.Unlock()
	if c := corpora[n]; c != nil {
		return c
	}
	start := time.Now()
	c, err := buildCorpus(context.Background(), n)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("stored and warmed up %d tokens in memstore in %v", n, time.Since(start).Round(time.Millisecond))
	corpora[n] = c
	return c
}

func buildCorpus(ctx context.Context, n int) (*corpus, error) {
	// The garbage collector would scan the growing store again and again
	// while it fills. One collection at the end is enough.
	defer runtime.GC()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))

	dir, err := newDirectory()
	if err != nil {
		return nil, err
	}
	c := &corpus{dir: dir, store: memstore.New()}
	values := newValues(n, 1)
	now := time.Now().UTC().Truncate(time.Microsecond)
	for i, v := range values {
		rec := newRecord(i, v, now)
		if err := c.store.Create(ctx, &rec); err != nil {
			return nil, err
		}
	}
	c.values = shuffle(values)
	c.steady, err = apitoken.New(apitoken.Config{Store: c.store, Policy: dir, LastUsedInterval: time.Hour})
	if err != nil {
		return nil, err
	}
	if err := warmUp(ctx, c.steady, c.values); err != nil {
		return nil, err
	}
	return c, nil
}

// newFirstUseManager returns a Manager on the corpus that runs an hour
// ahead of the real clock. It finds every stored last-used time stale, so
// each verification records a pending time, and with the default interval
// of a minute it does not flush during a benchmark.
func (c *corpus) newFirstUseManager(b *testing.B) *apitoken.Manager {
	b.Helper()
	m, err := apitoken.New(apitoken.Config{
		Store:  c.store,
		Policy: c.dir,
		Clock:  aheadClock{Clock: clock.New(), offset: time.Hour},
	})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

// value returns the value that the i-th call of a benchmark verifies.
func (c *corpus) value(i int) string { return c.values[i%len(c.values)] }

// shuffle returns the values in a random order, packed into one string.
func shuffle(values []string) []string {
	shuffled := slices.Clone(values)
	rng := rand.New(rand.NewPCG(2, 3))
	rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	packed := strings.Join(shuffled, "")
	out := make([]string, len(shuffled))
	at := 0
	for i, v := range shuffled {
		out[i] = packed[at : at+len(v)]
		at += len(v)
	}
	return out
}
