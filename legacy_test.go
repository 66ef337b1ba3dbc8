package apitoken

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/crypto/bcrypt"
)

// Known-answer argon2id strings for the secret "password" and the salt
// "somesalt", shared by Argon2 implementations in their tests.
const (
	argon2idVectorOneLane  = "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	argon2idVectorTwoLanes = "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc"
	argon2idVector64MiB    = "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc"
)

// bcryptVector is a known-answer bcrypt string for the secret "U*U", from
// the test vectors of the crypt_blowfish library.
const bcryptVector = "$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW"

func TestCanonicalUUID(t *testing.T) {
	const canonical = "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f"
	accepted := []string{
		canonical,
		"6F1C1D2E-8A4B-4C3D-9E5F-0A1B2C3D4E5F",
		"6f1C1d2E-8a4B-4c3D-9e5F-0a1B2c3D4e5F",
		"6f1c1d2e8a4b4c3d9e5f0a1b2c3d4e5f",
		"6F1C1D2E8A4B4C3D9E5F0A1B2C3D4E5F",
	}
	for _, in := range accepted {
		got, ok := canonicalUUID(in)
		assert.True(t, ok, "%q is accepted", in)
		assert.Equal(t, canonical, got, "canonical form of %q", in)
	}

	rejected := []string{
		"",
		"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5",
		"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f0",
		"{6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f}",
		"urn:uuid:6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f",
		"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5g",
		"6f1c1d2e-8a4b-4c3d-9e5f_0a1b2c3d4e5f",
		"6f1c1d2e8-a4b-4c3d-9e5f-0a1b2c3d4e5f",
		"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5\x00",
		"6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5\u00e9",
		" 6f1c1d2e8a4b4c3d9e5f0a1b2c3d4e5",
		"6f1c1d2e-8a4b4c3d9e5f0a1b2c3d4e5f",
		"6f1c1d2e8a4b4c3d9e5f0a1b2c3d4e5f--0",
	}
	for _, in := range rejected {
		_, ok := canonicalUUID(in)
		assert.False(t, ok, "%q is rejected", in)
	}
}

func TestParseLegacyHashAccepts(t *testing.T) {
	generated, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	require.NoError(t, err)
	body := strings.TrimPrefix(string(generated), "$2a$04$")
	cases := []struct {
		hash string
		kind legacyHashKind
	}{
		{string(generated), hashBcrypt},
		{"$2b$04$" + body, hashBcrypt},
		{"$2y$04$" + body, hashBcrypt},
		{"$2a$16$" + body, hashBcrypt},
		{bcryptVector, hashBcrypt},
		{argon2idVectorOneLane, hashArgon2id},
		{argon2idVectorTwoLanes, hashArgon2id},
		{argon2idVector64MiB, hashArgon2id},
		{"$argon2id$v=19$m=2097152,t=32,p=255$c29tZXNhbHQ$AAAAAAAAAAAAAAAA", hashArgon2id},
		{hashOfPlainSecret("secret"), hashSHA256},
	}
	for _, c := range cases {
		h, err := parseLegacyHash(c.hash)
		require.NoError(t, err, "hash %q", c.hash)
		assert.Equal(t, c.kind, h.kind, "hash %q", c.hash)
	}

	h, err := parseLegacyHash(argon2idVectorTwoLanes)
	require.NoError(t, err)
	assert.Equal(t, []byte("somesalt"), h.salt)
	assert.Equal(t, uint32(2), h.time)
	assert.Equal(t, uint32(256), h.memory)
	assert.Equal(t, uint8(2), h.threads)
	assert.Len(t, h.sum, 32)
}

func TestParseLegacyHashRejects(t *testing.T) {
	generated, err := bcrypt.GenerateFromPassword([]byte("secret"), bcrypt.MinCost)
	require.NoError(t, err)
	body := strings.TrimPrefix(string(generated), "$2a$04$")
	const params = "$argon2id$v=19$m=256,t=2,p=1$"
	const salt, sum = "c29tZXNhbHQ", "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	cases := []struct {
		name, hash, message string
	}{
		{"empty", "", "neither a bcrypt string"},
		{"plain text", "hunter2", "neither a bcrypt string"},
		{"md5 crypt", "$1$saltsalt$qjXMvbEw8oaL.CzflDugX/", "neither a bcrypt string"},
		{"bcrypt 2x", "$2x$04$" + body, "variant $2x$"},
		{"bcrypt without minor", "$2$04$" + body, "bcrypt string is malformed"},
		{"bcrypt short", string(generated)[:59], "bcrypt string is malformed"},
		{"bcrypt long", string(generated) + "A", "bcrypt string is malformed"},
		{"bcrypt bad alphabet", "$2a$04$" + strings.Replace(body, body[:1], "+", 1), "bcrypt string is malformed"},
		{"bcrypt cost 3", "$2a$03$" + body, "cost 03"},
		{"bcrypt cost 17", "$2a$17$" + body, "cost 17 is above"},
		{"bcrypt cost 32", "$2a$32$" + body, "cost 32"},
		{"argon2i", "$argon2i$v=19$m=256,t=2,p=1$" + salt + "$" + sum, "only the argon2id variant"},
		{"argon2d", "$argon2d$v=19$m=256,t=2,p=1$" + salt + "$" + sum, "only the argon2id variant"},
		{"argon2id version 16", "$argon2id$v=16$m=256,t=2,p=1$" + salt + "$" + sum, "v=19"},
		{"argon2id no version", "$argon2id$m=256,t=2,p=1$" + salt + "$" + sum, "argon2id string is malformed"},
		{"argon2id trailing dollar", params + salt + "$" + sum + "$", "argon2id string is malformed"},
		{"argon2id no hash", params + salt, "argon2id string is malformed"},
		{"argon2id order", "$argon2id$v=19$t=2,m=256,p=1$" + salt + "$" + sum, "in this order"},
		{"argon2id keyid", "$argon2id$v=19$m=256,t=2,p=1,keyid=AAAA$" + salt + "$" + sum, "in this order"},
		{"argon2id missing p", "$argon2id$v=19$m=256,t=2$" + salt + "$" + sum, "in this order"},
		{"argon2id signed", "$argon2id$v=19$m=+256,t=2,p=1$" + salt + "$" + sum, "decimal numbers"},
		{"argon2id negative", "$argon2id$v=19$m=256,t=-2,p=1$" + salt + "$" + sum, "decimal numbers"},
		{"argon2id leading zero", "$argon2id$v=19$m=0256,t=2,p=1$" + salt + "$" + sum, "decimal numbers"},
		{"argon2id overflow", "$argon2id$v=19$m=4294967296,t=2,p=1$" + salt + "$" + sum, "decimal numbers"},
		{"argon2id empty value", "$argon2id$v=19$m=,t=2,p=1$" + salt + "$" + sum, "decimal numbers"},
		{"argon2id zero lanes", "$argon2id$v=19$m=256,t=2,p=0$" + salt + "$" + sum, "parallelism 0"},
		{"argon2id 256 lanes", "$argon2id$v=19$m=4096,t=2,p=256$" + salt + "$" + sum, "parallelism 256"},
		{"argon2id zero time", "$argon2id$v=19$m=256,t=0,p=1$" + salt + "$" + sum, "time 0"},
		{"argon2id time 33", "$argon2id$v=19$m=256,t=33,p=1$" + salt + "$" + sum, "time 33"},
		{"argon2id memory below lanes", "$argon2id$v=19$m=15,t=2,p=2$" + salt + "$" + sum, "memory 15 KiB"},
		{"argon2id memory above cap", "$argon2id$v=19$m=2097153,t=2,p=1$" + salt + "$" + sum, "memory 2097153 KiB"},
		{"argon2id short salt", params + "c29tZXNhbA$" + sum, "salt"},
		{"argon2id padded salt", params + salt + "=$" + sum, "salt"},
		{"argon2id url-safe salt", params + "c29tZXNhbHQ-_w$" + sum, "salt"},
		{"argon2id loose salt bits", params + "c29tZXNhbHR$" + sum, "salt"},
		{"argon2id short hash", params + salt + "$AAAAAAAAAAAAAA", "hash is not"},
		{"argon2id padded hash", params + salt + "$" + sum + "=", "hash is not"},
		{"sha256 upper case", "sha256:" + strings.ToUpper(strings.TrimPrefix(hashOfPlainSecret("x"), "sha256:")), "64 lower-case"},
		{"sha256 short", hashOfPlainSecret("x")[:70], "64 lower-case"},
		{"sha256 not hex", "sha256:" + strings.Repeat("g", 64), "64 lower-case"},
		{"overlong", params + salt + "$" + strings.Repeat("A", 600), "more than the maximum"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseLegacyHash(c.hash)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.message)
			if len(c.hash) > 8 {
				assert.NotContains(t, err.Error(), c.hash, "the error repeats the hash")
			}
		})
	}
}

func TestLegacyHashMatches(t *testing.T) {
	generated, err := bcrypt.GenerateFromPassword([]byte("bob's secret"), bcrypt.MinCost)
	require.NoError(t, err)
	body := strings.TrimPrefix(string(generated), "$2a$04$")
	cases := []struct {
		name, hash, secret string
	}{
		{"sha256", hashOfPlainSecret("bob's secret"), "bob's secret"},
		{"bcrypt 2a", string(generated), "bob's secret"},
		{"bcrypt 2b", "$2b$04$" + body, "bob's secret"},
		{"bcrypt 2y", "$2y$04$" + body, "bob's secret"},
		{"bcrypt vector", bcryptVector, "U*U"},
		{"argon2id one lane", argon2idVectorOneLane, "password"},
		{"argon2id two lanes", argon2idVectorTwoLanes, "password"},
		{"argon2id 64 MiB", argon2idVector64MiB, "password"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, err := parseLegacyHash(c.hash)
			require.NoError(t, err)
			assert.True(t, h.matches(c.secret), "the secret matches")
			assert.False(t, h.matches(c.secret+"x"), "a longer secret does not match")
			assert.False(t, h.matches(c.secret[:len(c.secret)-1]), "a shorter secret does not match")
			assert.False(t, h.matches(""), "the empty secret does not match")
			assert.False(t, h.matches(c.hash), "the stored hash is not the secret")
			assert.False(t, h.matches(strings.TrimPrefix(c.hash, sha256Prefix)), "the bare digest is not the secret")
		})
	}
}

func TestHashOfPlainSecret(t *testing.T) {
	sum := sha256.Sum256([]byte("bob's secret"))
	assert.Equal(t, "sha256:"+hex.EncodeToString(sum[:]), hashOfPlainSecret("bob's secret"))
	assert.False(t, isSlowHash(hashOfPlainSecret("bob's secret")))
	assert.True(t, isSlowHash(bcryptVector))
	assert.True(t, isSlowHash(argon2idVectorOneLane))
}

func TestLooksLikeHash(t *testing.T) {
	for _, s := range []string{bcryptVector, "$2B$05$x", "$2x$05$x", argon2idVectorOneLane, "$argon2i$v=19", "$ARGON2ID$", hashOfPlainSecret("x"), "SHA256:abc"} {
		assert.True(t, looksLikeHash(s), "%q looks like a hash", s)
	}
	for _, s := range []string{"sk_0123456789abcdef", "$2", "2a$05$", "sha256", strings.TrimPrefix(hashOfPlainSecret("x"), "sha256:")} {
		assert.False(t, looksLikeHash(s), "%q does not look like a hash", s)
	}
}

// newTestLegacyCache returns a cache on a mock clock.
func newTestLegacyCache(t *testing.T, ttl time.Duration, size int) (*legacyCache, *clock.Mock) {
	t.Helper()
	mock := clock.NewMock()
	c, err := newLegacyCache(ttl, size, mock)
	require.NoError(t, err)
	return c, mock
}

func testRecord(id string) *Record {
	return &Record{
		Token:      Token{ID: id},
		LegacyUUID: "6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f",
		LegacyHash: bcryptVector,
	}
}

// counter returns a check function that counts its calls and returns
// result.
func counter(result bool) (func() bool, *atomic.Int64) {
	var n atomic.Int64
	return func() bool {
		n.Add(1)
		return result
	}, &n
}

func TestLegacyCacheRemembersSuccess(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	compute, calls := counter(true)
	for range 3 {
		ok, err := c.check(ctx, testRecord("tok_a"), "secret", compute)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Equal(t, int64(1), calls.Load(), "the slow check runs once")
}

func TestLegacyCacheDoesNotRememberFailure(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	compute, calls := counter(false)
	for range 3 {
		ok, err := c.check(ctx, testRecord("tok_a"), "wrong", compute)
		require.NoError(t, err)
		assert.False(t, ok)
	}
	assert.Equal(t, int64(3), calls.Load(), "every failed check runs again")
	assert.Empty(t, c.entries)
}

func TestLegacyCacheKeyBindsEveryField(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	compute, _ := counter(true)
	_, err := c.check(ctx, testRecord("tok_a"), "secret", compute)
	require.NoError(t, err)

	otherUUID := testRecord("tok_a")
	otherUUID.LegacyUUID = "11111111-2222-4333-8444-555555555555"
	otherHash := testRecord("tok_a")
	otherHash.LegacyHash = argon2idVectorOneLane
	variants := map[string]struct {
		rec    *Record
		secret string
	}{
		"token":  {testRecord("tok_b"), "secret"},
		"uuid":   {otherUUID, "secret"},
		"hash":   {otherHash, "secret"},
		"secret": {testRecord("tok_a"), "secreT"},
	}
	for name, v := range variants {
		reject, calls := counter(false)
		ok, err := c.check(ctx, v.rec, v.secret, reject)
		require.NoError(t, err)
		assert.False(t, ok, "a remembered success does not carry over to another %s", name)
		assert.Equal(t, int64(1), calls.Load(), "another %s runs the check", name)
	}

	// The length prefixes keep shifted field boundaries apart.
	assert.NotEqual(t, c.key("ab", "c", "h", "s"), c.key("a", "bc", "h", "s"))
	assert.NotEqual(t, c.key("a", "b", "hs", ""), c.key("a", "b", "h", "s"))

	other, _ := newTestLegacyCache(t, time.Minute, 10)
	assert.NotEqual(t, c.key("a", "b", "h", "s"), other.key("a", "b", "h", "s"), "keys depend on the per-process key")
}

func TestLegacyCacheExpires(t *testing.T) {
	c, mock := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	compute, calls := counter(true)
	_, err := c.check(ctx, testRecord("tok_a"), "secret", compute)
	require.NoError(t, err)

	mock.Add(time.Minute - time.Nanosecond)
	_, err = c.check(ctx, testRecord("tok_a"), "secret", compute)
	require.NoError(t, err)
	assert.Equal(t, int64(1), calls.Load(), "within the window the success is remembered")

	mock.Add(time.Nanosecond)
	_, err = c.check(ctx, testRecord("tok_a"), "secret", compute)
	require.NoError(t, err)
	assert.Equal(t, int64(2), calls.Load(), "at the end of the window the check runs again")
}

func TestLegacyCacheForget(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	compute, calls := counter(true)
	for _, id := range []string{"tok_a", "tok_b"} {
		for _, secret := range []string{"one", "two"} {
			_, err := c.check(ctx, testRecord(id), secret, compute)
			require.NoError(t, err)
		}
	}
	require.Len(t, c.entries, 4)

	c.forget("tok_a")
	assert.Len(t, c.entries, 2)
	assert.NotContains(t, c.byToken, "tok_a")
	_, err := c.check(ctx, testRecord("tok_a"), "one", compute)
	require.NoError(t, err)
	assert.Equal(t, int64(5), calls.Load(), "a forgotten token is checked again")
	_, err = c.check(ctx, testRecord("tok_b"), "one", compute)
	require.NoError(t, err)
	assert.Equal(t, int64(5), calls.Load(), "other tokens stay remembered")

	c.forget("tok_unknown")
}

func TestLegacyCacheIsBounded(t *testing.T) {
	c, mock := newTestLegacyCache(t, time.Minute, 3)
	ctx := context.Background()
	compute, _ := counter(true)
	for i := range 10 {
		_, err := c.check(ctx, testRecord("tok_"+string(rune('a'+i))), "secret", compute)
		require.NoError(t, err)
		assert.LessOrEqual(t, len(c.entries), 3)
	}
	mock.Add(time.Minute)
	_, err := c.check(ctx, testRecord("tok_z"), "secret", compute)
	require.NoError(t, err)
	assert.Len(t, c.entries, 1, "expired entries are dropped first")

	indexed := 0
	for _, keys := range c.byToken {
		indexed += len(keys)
	}
	assert.Equal(t, len(c.entries), indexed, "the token index holds exactly the entries")
}

func TestLegacyCacheOff(t *testing.T) {
	c, _ := newTestLegacyCache(t, -1, 10)
	ctx := context.Background()
	compute, calls := counter(true)
	for range 3 {
		ok, err := c.check(ctx, testRecord("tok_a"), "secret", compute)
		require.NoError(t, err)
		assert.True(t, ok)
	}
	assert.Equal(t, int64(3), calls.Load())
	assert.Empty(t, c.entries)
}

func TestLegacyCacheDefaults(t *testing.T) {
	c, _ := newTestLegacyCache(t, 0, 0)
	assert.Equal(t, DefaultLegacyCacheTTL, c.ttl)
	assert.Equal(t, DefaultLegacyCacheSize, c.maxSize)

	_, err := newLegacyCache(0, -1, clock.NewMock())
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Contains(t, err.Error(), "LegacyCacheSize")
}

func TestLegacyCacheSharesConcurrentCheck(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	release := make(chan struct{})
	var calls atomic.Int64
	compute := func() bool {
		calls.Add(1)
		<-release
		return true
	}

	const requests = 8
	var wg sync.WaitGroup
	results := make([]bool, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], _ = c.check(ctx, testRecord("tok_a"), "secret", compute)
		}()
	}
	require.Eventually(t, func() bool { return calls.Load() == 1 }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()

	assert.Equal(t, int64(1), calls.Load(), "concurrent requests wait for the one check")
	for i, ok := range results {
		assert.True(t, ok, "request %d gets the shared result", i)
	}
}

func TestLegacyCacheAbandonedCheck(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	c.slots = make(chan struct{}, 1)
	c.slots <- struct{}{} // every slot is taken

	first, cancel := context.WithCancel(context.Background())
	compute, calls := counter(true)
	firstDone := make(chan error)
	go func() {
		_, err := c.check(first, testRecord("tok_a"), "secret", compute)
		firstDone <- err
	}()
	require.Eventually(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return len(c.calls) == 1
	}, 5*time.Second, time.Millisecond)

	secondDone := make(chan bool)
	go func() {
		ok, err := c.check(context.Background(), testRecord("tok_a"), "secret", compute)
		assert.NoError(t, err)
		secondDone <- ok
	}()

	cancel()
	err := <-firstDone
	require.ErrorIs(t, err, context.Canceled, "a request that ends while waiting for a slot fails")
	<-c.slots // free the slot
	assert.True(t, <-secondDone, "the waiting request runs the check itself")
	assert.Equal(t, int64(1), calls.Load())
}

func TestLegacyCacheSurvivesPanic(t *testing.T) {
	c, _ := newTestLegacyCache(t, time.Minute, 10)
	ctx := context.Background()
	func() {
		defer func() { _ = recover() }()
		_, _ = c.check(ctx, testRecord("tok_a"), "secret", func() bool { panic("check failed") })
	}()
	assert.Empty(t, c.calls, "a panicking check is no longer in flight")
	assert.Empty(t, c.entries)
	assert.Len(t, c.slots, 0, "the slot is released")

	compute, calls := counter(true)
	ok, err := c.check(ctx, testRecord("tok_a"), "secret", compute)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, int64(1), calls.Load())
}

// nilStore satisfies Store for tests that never reach it.
type nilStore struct{ Store }

func TestManagerForgetsLegacyChecks(t *testing.T) {
	dir, err := NewDirectory(nil)
	require.NoError(t, err)
	m, err := New(Config{Store: nilStore{}, Policy: dir, LegacyCacheTTL: time.Hour})
	require.NoError(t, err)

	compute, _ := counter(true)
	_, err = m.legacy.check(context.Background(), testRecord("tok_a"), "secret", compute)
	require.NoError(t, err)
	require.Len(t, m.legacy.entries, 1)

	m.forgetToken("tok_a")
	assert.Empty(t, m.legacy.entries, "a change of the token drops its remembered checks")
}

func TestNewRejectsNegativeLegacyCacheSize(t *testing.T) {
	dir, err := NewDirectory(nil)
	require.NoError(t, err)
	_, err = New(Config{Store: nilStore{}, Policy: dir, LegacyCacheSize: -1})
	require.ErrorIs(t, err, ErrInvalidArgument)
}

func TestLegacyCacheEndedContext(t *testing.T) {
	c, _ := newTestLegacyCache(t, -1, 10)
	c.slots = make(chan struct{}, 1)
	c.slots <- struct{}{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.check(ctx, testRecord("tok_a"), "secret", func() bool { return true })
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.False(t, IsCredentialError(err), "an ended request is not a rejection of the credentials")
}

// uuidPattern is the documented UUID syntax, written independently of
// canonicalUUID.
var uuidPattern = regexp.MustCompile(`^([0-9a-fA-F]{32}|[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})$`)

func FuzzCanonicalUUID(f *testing.F) {
	f.Add("6f1c1d2e-8a4b-4c3d-9e5f-0a1b2c3d4e5f")
	f.Fuzz(func(t *testing.T, in string) {
		out, ok := canonicalUUID(in)
		if ok != uuidPattern.MatchString(in) {
			t.Fatalf("canonicalUUID(%q) accepted %v, the documented syntax says %v", in, ok, !ok)
		}
		if !ok {
			return
		}
		if again, _ := canonicalUUID(out); again != out || strings.ToLower(out) != out || len(out) != 36 {
			t.Fatalf("canonicalUUID(%q) = %q is not canonical", in, out)
		}
		if !strings.EqualFold(in, out) && !strings.EqualFold(in, strings.ReplaceAll(out, "-", "")) {
			t.Fatalf("canonicalUUID(%q) = %q changed the digits", in, out)
		}
	})
}

func FuzzParseLegacyHash(f *testing.F) {
	f.Add(bcryptVector)
	f.Add(argon2idVectorOneLane)
	f.Add(hashOfPlainSecret("secret"))
	f.Fuzz(func(t *testing.T, in string) {
		h, err := parseLegacyHash(in)
		if err != nil {
			return
		}
		if len(in) > maxLegacyHashLength || h.encoded != in {
			t.Fatalf("accepted hash of %d bytes is not kept as given", len(in))
		}
		cheap := false
		switch h.kind {
		case hashSHA256:
			cheap = len(h.sum) == sha256.Size
			if !cheap {
				t.Fatalf("sha256 form with a digest of %d bytes", len(h.sum))
			}
		case hashBcrypt:
			cost, err := bcrypt.Cost([]byte(in))
			if err != nil || cost > maxBcryptCost {
				t.Fatalf("accepted bcrypt string with cost %d (%v)", cost, err)
			}
			cheap = cost <= 6
		case hashArgon2id:
			if h.time < 1 || h.time > maxArgon2Time || h.threads < 1 || h.memory < 8*uint32(h.threads) || h.memory > maxArgon2Memory ||
				len(h.salt) < minArgon2SaltLength || len(h.sum) < minArgon2OutputLength {
				t.Fatalf("accepted argon2id parameters t=%d m=%d p=%d salt=%d hash=%d", h.time, h.memory, h.threads, len(h.salt), len(h.sum))
			}
			cheap = h.memory <= 1024 && h.time <= 4
		default:
			t.Fatalf("accepted hash of unknown kind %d", h.kind)
		}
		if cheap && h.matches(in) {
			t.Fatalf("a stored hash matches itself as the secret")
		}
	})
}
