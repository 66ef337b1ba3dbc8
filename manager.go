package apitoken

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/benbjohnson/clock"
)

// Defaults of Config.
const (
	// DefaultRetention is how long a disabled or expired token is kept
	// before the purge deletes it.
	DefaultRetention = 7 * 24 * time.Hour
	// DefaultLastUsedInterval is the maximum age of a token's stored
	// last-used time before a successful verification refreshes it.
	DefaultLastUsedInterval = time.Minute
	// DefaultPurgeBatchSize is how many records one store call of the
	// purge deletes at most.
	DefaultPurgeBatchSize = 500
)

// Config configures a Manager. Store and Policy are required; every other
// field has a working zero value.
type Config struct {
	// Store keeps the token records.
	Store Store
	// Policy returns the users' tenant, role, permissions and state.
	Policy Policy

	// Clock is the source of time; nil means the real clock. Tests pass a
	// clock.Mock.
	Clock clock.Clock
	// Prefix starts every issued value; "" means DefaultPrefix. Changing
	// it makes every issued value unverifiable.
	Prefix string
	// Keyring, when set, seals every issued value so that authorised
	// actors can reveal it later. Without it a value is shown only when it
	// is issued or renewed.
	Keyring *Keyring

	// Retention is how long a disabled or expired token is kept before
	// Purge deletes it; 0 means DefaultRetention.
	Retention time.Duration
	// MaxLifetime, when positive, limits how far in the future an expiry
	// may lie. Tokens created without an expiry then get one MaxLifetime
	// from their creation.
	MaxLifetime time.Duration
	// LastUsedInterval is the maximum age of a stored last-used time
	// before a verification refreshes it; 0 means DefaultLastUsedInterval.
	// Verifications within the interval cause no store write, and one
	// batched write per interval refreshes every token used meanwhile.
	LastUsedInterval time.Duration
	// PurgeBatchSize is the maximum number of records deleted by one store
	// call of Purge; 0 means DefaultPurgeBatchSize.
	PurgeBatchSize int

	// LegacyCacheTTL is the period for which a successful check of a
	// legacy secret against a bcrypt or argon2id hash is remembered, so
	// that a client sending the same UUID and secret on every request costs
	// one slow hash per period. 0 means DefaultLegacyCacheTTL. A negative
	// value turns the cache off, and every VerifyLegacy then computes the
	// hash.
	LegacyCacheTTL time.Duration
	// LegacyCacheSize is the maximum number of remembered checks; 0 means
	// DefaultLegacyCacheSize.
	LegacyCacheSize int

	// Auditor receives an event for every change. Nil discards them.
	Auditor Auditor
	// Logger receives store failures, cascades and purges, with token and
	// user IDs but never values. Nil means slog.Default().
	Logger *slog.Logger
}

// Manager performs every token operation and enforces its rules. It is
// safe for concurrent use. Call Close when done, so that pending last-used
// times are written.
type Manager struct {
	store       Store
	credentials CredentialStore // the store, when it has LookupCredential
	policy      Policy
	clock       clock.Clock
	format      format
	keyring     *Keyring
	retention   time.Duration
	maxLifetime time.Duration
	purgeBatch  int
	auditor     Auditor
	log         *slog.Logger

	lastUsed *lastUsedTracker
	legacy   *legacyCache
	// forgetHook, when set, drops what this process caches about a token
	// after the token changed.
	forgetHook func(tokenID string)
}

// New returns a Manager for the configuration. It returns an error wrapping
// ErrInvalidArgument when a required field is missing or a value is out of
// range.
func New(cfg Config) (*Manager, error) {
	if cfg.Store == nil {
		return nil, fmt.Errorf("%w: Config.Store is nil: pass a store such as memstore.New()", ErrInvalidArgument)
	}
	if cfg.Policy == nil {
		return nil, fmt.Errorf("%w: Config.Policy is nil: pass a Policy such as a Directory", ErrInvalidArgument)
	}
	f, err := newFormat(cfg.Prefix)
	if err != nil {
		return nil, err
	}
	if cfg.Retention < 0 || cfg.MaxLifetime < 0 || cfg.LastUsedInterval < 0 || cfg.PurgeBatchSize < 0 {
		return nil, fmt.Errorf("%w: negative Retention %v, MaxLifetime %v, LastUsedInterval %v or PurgeBatchSize %d: use 0 for the default",
			ErrInvalidArgument, cfg.Retention, cfg.MaxLifetime, cfg.LastUsedInterval, cfg.PurgeBatchSize)
	}

	m := &Manager{
		store:       cfg.Store,
		policy:      cfg.Policy,
		clock:       cfg.Clock,
		format:      f,
		keyring:     cfg.Keyring,
		retention:   cmpOr(cfg.Retention, DefaultRetention),
		maxLifetime: cfg.MaxLifetime,
		purgeBatch:  cmpOr(cfg.PurgeBatchSize, DefaultPurgeBatchSize),
		auditor:     cfg.Auditor,
		log:         cfg.Logger,
	}
	m.credentials, _ = cfg.Store.(CredentialStore)
	if m.clock == nil {
		m.clock = clock.New()
	}
	if m.log == nil {
		m.log = slog.Default()
	}
	if m.auditor == nil {
		m.auditor = AuditFunc(func(context.Context, Event) {})
	}
	m.lastUsed = newLastUsedTracker(cmpOr(cfg.LastUsedInterval, DefaultLastUsedInterval), m.clock.Now())
	if m.legacy, err = newLegacyCache(cfg.LegacyCacheTTL, cfg.LegacyCacheSize, m.clock); err != nil {
		return nil, err
	}
	m.forgetHook = m.legacy.forget
	return m, nil
}

func cmpOr[T comparable](v, fallback T) T {
	var zero T
	if v == zero {
		return fallback
	}
	return v
}

// Retention returns the retention period of disabled and expired tokens.
func (m *Manager) Retention() time.Duration { return m.retention }

// Prefix returns the prefix of the values this Manager issues.
func (m *Manager) Prefix() string { return m.format.prefix }

// Close writes the pending last-used times. The Manager stays usable, and
// Close may be called more than once.
func (m *Manager) Close(ctx context.Context) error {
	return m.FlushLastUsed(ctx)
}

// now returns the current time in UTC, truncated to the microsecond, the
// precision that every supported database keeps. Every time the Manager
// stores comes from here.
func (m *Manager) now() time.Time {
	return m.clock.Now().UTC().Truncate(time.Microsecond)
}

// storeFailure logs a failure of the store or the Policy and returns it
// wrapped with the operation.
func (m *Manager) storeFailure(ctx context.Context, op string, err error) error {
	m.log.ErrorContext(ctx, "apitoken: store failure", "operation", op, "error", err)
	return fmt.Errorf("apitoken: %s: %w", op, err)
}
