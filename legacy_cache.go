package apitoken

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/benbjohnson/clock"
)

// Defaults of the cache of legacy secret checks.
const (
	// DefaultLegacyCacheTTL is the period for which a successful check of
	// a legacy secret against a bcrypt or argon2id hash is remembered.
	DefaultLegacyCacheTTL = time.Minute
	// DefaultLegacyCacheSize is the maximum number of remembered checks.
	DefaultLegacyCacheSize = 10000
)

// legacyKey is the cache key of one check: a SHA-256 digest that binds the
// token ID, the legacy UUID, the stored hash and the secret.
type legacyKey [sha256.Size]byte

// legacyCache makes a slow hash check of a legacy secret run at most once
// per token, UUID, stored hash and secret within the TTL, unless its entry
// was evicted from a full cache or dropped by forget. It remembers
// successes only, keyed by a digest from which the secret cannot be read
// back. Concurrent checks of the same key wait for the first one instead of
// repeating it. It also bounds how many slow checks run at once, because an
// argon2id check allocates its whole memory parameter.
//
// The cache only says that a secret matches a stored hash: the record's
// status, expiry and owner are read fresh on every request, so a stale
// entry can never accept a disabled token or a wrong secret.
type legacyCache struct {
	clock   clock.Clock
	ttl     time.Duration // 0 turns remembering off
	maxSize int
	// digestKey is a per-process random key hashed into every cache key,
	// so that keys seen in a memory dump cannot be matched against guessed
	// secrets without it.
	digestKey [32]byte
	// slots holds one element per slow check under way.
	slots chan struct{}

	mu      sync.Mutex
	entries map[legacyKey]legacyEntry
	byToken map[string][]legacyKey
	calls   map[legacyKey]*legacyCall
}

type legacyEntry struct {
	tokenID string
	expires time.Time
}

// legacyCall is a slow check under way, which other requests for the same
// key wait for.
type legacyCall struct {
	done chan struct{}
	// match and err are written before done is closed.
	match bool
	err   error
}

// errCheckAbandoned is the result of a check whose request ended before
// the check ran. The requests waiting for it then run the check
// themselves.
var errCheckAbandoned = errors.New("apitoken: legacy secret check abandoned")

// newLegacyCache returns a cache for the configured TTL and size: a TTL of
// 0 means DefaultLegacyCacheTTL and a negative TTL turns remembering off.
func newLegacyCache(ttl time.Duration, size int, clk clock.Clock) (*legacyCache, error) {
	if size < 0 {
		return nil, fmt.Errorf("%w: negative LegacyCacheSize %d: use 0 for the default %d", ErrInvalidArgument, size, DefaultLegacyCacheSize)
	}
	c := &legacyCache{
		clock:   clk,
		ttl:     max(cmpOr(ttl, DefaultLegacyCacheTTL), 0),
		maxSize: cmpOr(size, DefaultLegacyCacheSize),
		slots:   make(chan struct{}, runtime.GOMAXPROCS(0)),
		entries: map[legacyKey]legacyEntry{},
		byToken: map[string][]legacyKey{},
		calls:   map[legacyKey]*legacyCall{},
	}
	if _, err := rand.Read(c.digestKey[:]); err != nil {
		return nil, fmt.Errorf("apitoken: reading random bytes: %w", err)
	}
	return c, nil
}

// key returns the cache key of a check. Every field but the last has a
// length prefix, so that no two different inputs hash the same bytes.
func (c *legacyCache) key(tokenID, uuid, hash, secret string) legacyKey {
	// The usual input fits the buffer, which then stays on the stack.
	buf := make([]byte, 0, 512)
	buf = append(buf, c.digestKey[:]...)
	for _, field := range [...]string{tokenID, uuid, hash} {
		buf = binary.BigEndian.AppendUint32(buf, uint32(len(field)))
		buf = append(buf, field...)
	}
	buf = append(buf, secret...)
	return sha256.Sum256(buf)
}

// check returns the result of compute, which checks secret against the
// token's stored hash, from the cache when a success of the same check is
// remembered. It returns an error, and no result, when ctx ends before a
// check could run.
func (c *legacyCache) check(ctx context.Context, rec *Record, secret string, compute func() bool) (bool, error) {
	if c.ttl == 0 {
		return c.run(ctx, compute)
	}
	key := c.key(rec.ID, rec.LegacyUUID, rec.LegacyHash, secret)
	for {
		c.mu.Lock()
		if e, ok := c.entries[key]; ok && c.clock.Now().Before(e.expires) {
			c.mu.Unlock()
			return true, nil
		}
		call, running := c.calls[key]
		if !running {
			call = &legacyCall{done: make(chan struct{})}
			c.calls[key] = call
		}
		c.mu.Unlock()

		if !running {
			return c.runCall(ctx, key, rec.ID, call, compute)
		}
		select {
		case <-call.done:
		case <-ctx.Done():
			return false, ctx.Err()
		}
		if call.err == nil {
			return call.match, nil
		}
		// The request that ran the check ended first: run it here.
	}
}

// runCall runs the check of a call that this request registered, stores
// a success and wakes the requests waiting for it, even if compute panics.
func (c *legacyCache) runCall(ctx context.Context, key legacyKey, tokenID string, call *legacyCall, compute func() bool) (bool, error) {
	match, err := false, errCheckAbandoned
	defer func() {
		c.mu.Lock()
		delete(c.calls, key)
		if match && err == nil {
			c.put(key, tokenID)
		}
		c.mu.Unlock()
		call.match, call.err = match, err
		close(call.done)
	}()
	match, err = c.run(ctx, compute)
	return match, err
}

// run calls compute once a slot is free, so that at most GOMAXPROCS slow
// checks run at once.
func (c *legacyCache) run(ctx context.Context, compute func() bool) (bool, error) {
	select {
	case c.slots <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-c.slots }()
	return compute(), nil
}

// put remembers a success. The caller holds c.mu. When the cache is full
// it drops expired entries first, then arbitrary ones: losing an entry
// costs one more slow check.
func (c *legacyCache) put(key legacyKey, tokenID string) {
	now := c.clock.Now()
	if _, ok := c.entries[key]; ok {
		c.entries[key] = legacyEntry{tokenID: tokenID, expires: now.Add(c.ttl)}
		return
	}
	if len(c.entries) >= c.maxSize {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				c.remove(k, e.tokenID)
			}
		}
		for k, e := range c.entries {
			if len(c.entries) < c.maxSize {
				break
			}
			c.remove(k, e.tokenID)
		}
	}
	c.entries[key] = legacyEntry{tokenID: tokenID, expires: now.Add(c.ttl)}
	c.byToken[tokenID] = append(c.byToken[tokenID], key)
}

// remove drops one entry. The caller holds c.mu.
func (c *legacyCache) remove(key legacyKey, tokenID string) {
	delete(c.entries, key)
	keys := c.byToken[tokenID]
	for i, k := range keys {
		if k == key {
			keys[i] = keys[len(keys)-1]
			keys = keys[:len(keys)-1]
			break
		}
	}
	if len(keys) == 0 {
		delete(c.byToken, tokenID)
	} else {
		c.byToken[tokenID] = keys
	}
}

// forget drops every remembered check of the token. The Manager calls it
// when a token is renewed, changed, disabled or deleted.
func (c *legacyCache) forget(tokenID string) {
	c.mu.Lock()
	for _, k := range c.byToken[tokenID] {
		delete(c.entries, k)
	}
	delete(c.byToken, tokenID)
	c.mu.Unlock()
}
