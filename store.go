package apitoken

import (
	"context"
	"time"
)

// Record is the stored form of one token: the metadata, the digest of
// the value, the optional sealed copy of the value, the legacy credentials
// of a backward-compatible token and a version for optimistic locking.
type Record struct {
	Token

	// Digest is the SHA-256 digest of the current value. It is unique
	// across the store.
	Digest Digest
	// Sealed is the value encrypted with a sealing key, or nil when the
	// Manager had no sealing key when the value was issued.
	Sealed []byte

	// LegacyUUID is the canonical lower-case UUID of the older credentials
	// that a backward-compatible token accepts, or "" when there are none.
	// It is unique across the store.
	LegacyUUID string
	// LegacyHash is the stored hash of the legacy secret: a bcrypt or
	// argon2id string, or "sha256:" and the hex SHA-256 digest of a secret
	// imported in plain text.
	LegacyHash string

	// Version counts the changes written with Update. Stores set it to 1 on
	// Create and increment it on every Update.
	Version int64
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	if r == nil {
		return nil
	}
	c := *r
	c.Permissions = cloneStrings(r.Permissions)
	if r.Sealed != nil {
		c.Sealed = append([]byte(nil), r.Sealed...)
	}
	return &c
}

// Filter selects the records that Store.List returns. The conditions that
// are set are combined with AND. A Filter must restrict the result by owner
// or by tenant, or set AllTenants: a store rejects an empty Filter with
// ErrInvalidArgument, so that a forgotten field never lists every token.
type Filter struct {
	// OwnerID, when not empty, selects the tokens of one owner.
	OwnerID string
	// TenantIDs, when not empty, selects the tokens of these tenants.
	TenantIDs []string
	// AllTenants allows a Filter without OwnerID and TenantIDs.
	AllTenants bool

	// After is the cursor: only records whose ID sorts after it are
	// returned. Use Page.Next of the previous page, or "" for the first.
	After string
	// Limit is the maximum number of records in a page; stores use
	// DefaultPageSize when it is zero or negative and cap it at
	// MaxPageSize.
	Limit int
}

// Page sizes for Filter.Limit.
const (
	DefaultPageSize = 100
	MaxPageSize     = 1000
)

// Page is one page of a listing, sorted by token ID, which sorts by
// creation time.
type Page struct {
	Records []Record
	// Next is the cursor for the following page, or "" on the last page.
	Next string
}

// Action is what a CascadeFunc decides for one record.
type Action int

// Actions of a CascadeFunc.
const (
	// Keep leaves the record unchanged.
	Keep Action = iota
	// Save writes the record as the function modified it.
	Save
	// Remove deletes the record.
	Remove
)

// CascadeFunc decides what an owner cascade does to one of the owner's
// records. It may modify rec in place and returns the action to apply. A
// store may call it again for the same record if it retries a transaction,
// so it must not depend on earlier calls.
type CascadeFunc func(rec *Record) Action

// Change is one record that a cascade saved or removed, as it was written
// or as it was before deletion.
type Change struct {
	Action Action
	Record Record
}

// Store keeps token records. Implementations must be safe for concurrent
// use. They return copies: a caller may modify a returned Record without
// changing what is stored, and a store may not keep references to the
// records passed in.
//
// Every method takes a context as the first argument, because a store may
// talk to a database over a network. A method returns ErrNotFound when the
// record it needs does not exist, and ErrConflict on a uniqueness or
// version clash. Any other error means a failure of the store itself, which
// the Manager turns into a rejected verification, never an accepted one.
type Store interface {
	// Create stores a new record and sets its Version to 1. It returns
	// ErrConflict when the ID, the digest or a non-empty LegacyUUID is
	// already stored, and then stores nothing.
	Create(ctx context.Context, rec *Record) error

	// Get returns the record with the given ID.
	Get(ctx context.Context, id string) (Record, error)

	// Lookup returns the record whose value has the given digest. It runs
	// on every verified request and must be a single indexed read.
	Lookup(ctx context.Context, digest Digest) (Record, error)

	// LookupLegacy returns the record that holds the given legacy UUID.
	LookupLegacy(ctx context.Context, uuid string) (Record, error)

	// Update replaces a stored record if its stored Version still equals
	// rec.Version, and then increments rec.Version. It returns ErrConflict
	// when the versions differ, so that of two concurrent read-modify-write
	// cycles only one succeeds. Update writes every field except
	// LastUsedAt, which only SetLastUsed moves.
	Update(ctx context.Context, rec *Record) error

	// Delete removes the record with the given ID.
	Delete(ctx context.Context, id string) error

	// List returns one page of the records that match the filter, sorted
	// by ID.
	List(ctx context.Context, filter Filter) (Page, error)

	// UpdateOwner applies fn to every record of the owner inside one
	// transaction, and returns the records that fn saved or removed.
	// Either every change is applied or none is. Saved records get a new
	// Version as with Update.
	UpdateOwner(ctx context.Context, ownerID string, fn CascadeFunc) ([]Change, error)

	// Purge deletes at most limit records whose InactiveSince is set and
	// not after cutoff, and returns them. Callers repeat it until it
	// returns fewer than limit records, which keeps each call short.
	Purge(ctx context.Context, cutoff time.Time, limit int) ([]Record, error)

	// SetLastUsed moves the LastUsedAt of each record named in times
	// forward to the given instant. It never moves a time backwards and
	// ignores IDs that no longer exist. It does not change Version.
	SetLastUsed(ctx context.Context, times map[string]time.Time) error
}

// Credential is the part of a Record that verification reads: whom the
// token acts for, what it may do and whether it still works.
type Credential struct {
	ID       string
	OwnerID  string
	TenantID string
	Digest   Digest

	Shared             bool
	BackwardCompatible bool
	// Permissions may be a list that the store shares with other
	// callers. Code that receives a Credential must not modify it.
	Permissions []string

	Disabled       bool
	DisabledReason Reason
	ExpiresAt      time.Time
	LastUsedAt     time.Time
}

// Credential returns the part of r that verification reads. The result
// shares the permission list with r.
func (r *Record) Credential() Credential {
	return Credential{
		ID:                 r.ID,
		OwnerID:            r.OwnerID,
		TenantID:           r.TenantID,
		Digest:             r.Digest,
		Shared:             r.Shared,
		BackwardCompatible: r.BackwardCompatible,
		Permissions:        r.Permissions,
		Disabled:           r.Disabled,
		DisabledReason:     r.DisabledReason,
		ExpiresAt:          r.ExpiresAt,
		LastUsedAt:         r.LastUsedAt,
	}
}

// CredentialStore is an optional interface of a Store. Manager.Verify
// calls LookupCredential in place of Store.Lookup when the store has it,
// so that a store that keeps records in memory can read and copy only
// what verification needs. memstore.Store has it, but the SQL stores do
// not, because a round trip costs the same whatever it reads.
//
// A type that embeds a store which has LookupCredential, and overrides
// Lookup to count or fail calls, must override LookupCredential as well:
// otherwise verification calls the embedded method and bypasses the
// override. Embedding the Store interface instead hides LookupCredential.
type CredentialStore interface {
	// LookupCredential returns rec.Credential() of the record that
	// Lookup would return for the digest, or ErrNotFound.
	LookupCredential(ctx context.Context, digest Digest) (Credential, error)
}
