// Package memstore keeps apitoken records in memory, for tests and for
// services that run as a single process and accept losing their tokens on
// restart.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apitoken/apitoken"
)

// Store is an in-memory apitoken.Store. It is safe for concurrent use,
// starts no goroutines, and copies records on the way in and out, so
// callers cannot change what it holds through them. The one exception is
// the permission list that LookupCredential returns. The zero value is
// not usable; call New.
//
// A stored token takes about 600 to 900 bytes on amd64. Its record takes
// 336 bytes. What verification reads is copied into a slot of 128 bytes,
// in a hash table between three eighths and three quarters full. The rest
// is the index by ID and the ID and name strings. The million tokens of
// the internal/bench benchmarks take 793 bytes each.
type Store struct {
	// mu guards byID, byLegacy and perms, and serialises every change.
	// A change also holds the lock of each shard it changes, so code that
	// holds mu in either mode may read the shards without their locks.
	mu       sync.RWMutex
	byID     map[string]apitoken.Digest
	byLegacy map[string]apitoken.Digest
	perms    map[string]*sharedPermissions
	// shards hold the records, split by digest, each with its own lock so
	// that verifications, which only read them, do not all share one
	// lock word.
	shards [digestShards]shard
}

const digestShards = 64

// sharedPermissions is one permission list that every stored record with
// these permissions shares. Sharing keeps the few distinct lists in the
// CPU cache, where a million separate copies would each cost a cache miss
// when a verification reads them. Stored lists are never changed in place,
// and records leave the store with a copy.
type sharedPermissions struct {
	list []string
	refs int
}

var (
	_ apitoken.Store           = (*Store)(nil)
	_ apitoken.CredentialStore = (*Store)(nil)
)

// New returns an empty Store.
func New() *Store {
	s := &Store{
		byID:     map[string]apitoken.Digest{},
		byLegacy: map[string]apitoken.Digest{},
		perms:    map[string]*sharedPermissions{},
	}
	return s
}

// Len returns the number of stored records.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
}

// shard returns the shard of a digest and the digest's hash.
func (s *Store) shard(d apitoken.Digest) (*shard, uint64) {
	h := hash(d)
	return &s.shards[h%digestShards], h
}

// record returns the stored record with the digest, or nil. The caller
// holds mu, and the pointer is valid until the next change.
func (s *Store) record(d apitoken.Digest) *apitoken.Record {
	sh, h := s.shard(d)
	i := sh.find(d, h)
	if i < 0 {
		return nil
	}
	return sh.slots[i].rec
}

// recordByID returns the stored record with the ID, or nil, as record
// does.
func (s *Store) recordByID(id string) *apitoken.Record {
	d, ok := s.byID[id]
	if !ok {
		return nil
	}
	return s.record(d)
}

// copyOut returns a copy of a stored record that shares nothing with it.
func copyOut(rec *apitoken.Record) apitoken.Record {
	out := *rec
	out.Permissions = slices.Clone(rec.Permissions)
	out.Sealed = slices.Clone(rec.Sealed)
	return out
}

// Create implements apitoken.Store.
func (s *Store) Create(ctx context.Context, rec *apitoken.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if rec.ID == "" {
		return fmt.Errorf("%w: record has no ID", apitoken.ErrInvalidArgument)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkUnique(rec, ""); err != nil {
		return err
	}
	rec.Version = 1
	s.put(rec)
	return nil
}

// checkUnique returns ErrConflict when a record other than the one with
// ID self holds the ID, digest or legacy UUID of rec. Pass "" as self for
// a new record.
func (s *Store) checkUnique(rec *apitoken.Record, self string) error {
	if _, ok := s.byID[rec.ID]; ok && rec.ID != self {
		return fmt.Errorf("%w: token ID %q already exists", apitoken.ErrConflict, rec.ID)
	}
	if other := s.record(rec.Digest); other != nil && other.ID != self {
		return fmt.Errorf("%w: token digest already exists", apitoken.ErrConflict)
	}
	if rec.LegacyUUID != "" {
		if d, ok := s.byLegacy[rec.LegacyUUID]; ok {
			if other := s.record(d); other.ID != self {
				return fmt.Errorf("%w: legacy UUID %q already belongs to token %s", apitoken.ErrConflict, rec.LegacyUUID, other.ID)
			}
		}
	}
	return nil
}

// put stores a copy of rec. The caller holds mu for writing.
func (s *Store) put(rec *apitoken.Record) {
	stored := *rec
	perms := s.sharePermissions(rec.Permissions)
	if perms != nil {
		stored.Permissions = perms.list
	} else {
		stored.Permissions = rec.Permissions[:0:0]
	}
	stored.Sealed = slices.Clone(rec.Sealed)
	sh, h := s.shard(rec.Digest)
	sh.mu.Lock()
	sh.put(newSlot(&stored, perms), h)
	sh.mu.Unlock()
	s.byID[rec.ID] = rec.Digest
	if rec.LegacyUUID != "" {
		s.byLegacy[rec.LegacyUUID] = rec.Digest
	}
}

// remove deletes the record with the ID and returns a copy of it. The
// caller holds mu for writing and has checked that the record exists.
func (s *Store) remove(id string) apitoken.Record {
	d := s.byID[id]
	sh, h := s.shard(d)
	i := sh.find(d, h)
	removed := copyOut(sh.slots[i].rec)
	s.releasePermissions(removed.Permissions)
	sh.mu.Lock()
	sh.removeAt(i)
	sh.mu.Unlock()
	delete(s.byID, id)
	if removed.LegacyUUID != "" {
		delete(s.byLegacy, removed.LegacyUUID)
	}
	return removed
}

// sharePermissions returns the shared copy of a permission list and
// counts one more record that holds it. It returns nil for an empty list,
// which is not shared.
func (s *Store) sharePermissions(list []string) *sharedPermissions {
	if len(list) == 0 {
		return nil
	}
	key := permissionsKey(list)
	shared, ok := s.perms[key]
	if !ok {
		shared = &sharedPermissions{list: slices.Clone(list)}
		s.perms[key] = shared
	}
	shared.refs++
	return shared
}

// releasePermissions counts one record less that holds the shared list,
// and deletes the list when no record holds it.
func (s *Store) releasePermissions(list []string) {
	if len(list) == 0 {
		return
	}
	key := permissionsKey(list)
	shared := s.perms[key]
	shared.refs--
	if shared.refs == 0 {
		delete(s.perms, key)
	}
}

// permissionsKey returns a key that identifies a permission list: each
// name preceded by its length, so that no two lists share a key.
func permissionsKey(list []string) string {
	var b strings.Builder
	for _, p := range list {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	return b.String()
}

// Get implements apitoken.Store.
func (s *Store) Get(ctx context.Context, id string) (apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Record{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	rec := s.recordByID(id)
	if rec == nil {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	return copyOut(rec), nil
}

// Lookup implements apitoken.Store. It holds only the lock of the digest's
// shard, for the time of one copy.
func (s *Store) Lookup(ctx context.Context, digest apitoken.Digest) (apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Record{}, err
	}
	sh, h := s.shard(digest)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	i := sh.find(digest, h)
	if i < 0 {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	return copyOut(sh.slots[i].rec), nil
}

// LookupCredential implements apitoken.CredentialStore. It reads one slot
// of 128 bytes, under the lock of the digest's shard only.
//
// The Permissions of the result is the list that every stored record
// with these permissions shares, not a copy. A caller that modifies it
// changes the permissions of all those tokens, and the store can panic
// on a later change to one of them.
func (s *Store) LookupCredential(ctx context.Context, digest apitoken.Digest) (c apitoken.Credential, err error) {
	if err := ctx.Err(); err != nil {
		return c, err
	}
	sh, h := s.shard(digest)
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	i := sh.find(digest, h)
	if i < 0 {
		return c, apitoken.ErrNotFound
	}
	sh.slots[i].fill(&c)
	return c, nil
}

// LookupLegacy implements apitoken.Store.
func (s *Store) LookupLegacy(ctx context.Context, uuid string) (apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Record{}, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, ok := s.byLegacy[uuid]
	if !ok {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	return copyOut(s.record(d)), nil
}

// Update implements apitoken.Store.
func (s *Store) Update(ctx context.Context, rec *apitoken.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.recordByID(rec.ID)
	if old == nil {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, rec.ID)
	}
	if old.Version != rec.Version {
		return fmt.Errorf("%w: token %s has version %d, not %d", apitoken.ErrConflict, rec.ID, old.Version, rec.Version)
	}
	if err := s.checkUnique(rec, rec.ID); err != nil {
		return err
	}
	s.replace(rec)
	rec.Version++
	return nil
}

// replace stores a copy of rec in place of the record with its ID, with
// the next version and the stored last-used time. A record that keeps its
// digest is overwritten in its slot under the shard's lock, so that a
// concurrent Lookup, which takes only that lock, never misses it.
func (s *Store) replace(rec *apitoken.Record) {
	old := s.recordByID(rec.ID)
	next := *rec
	next.Version = old.Version + 1
	next.LastUsedAt = old.LastUsedAt
	if old.Digest != rec.Digest {
		s.remove(rec.ID)
		s.put(&next)
		return
	}
	s.releasePermissions(old.Permissions)
	if old.LegacyUUID != "" {
		delete(s.byLegacy, old.LegacyUUID)
	}
	s.put(&next)
}

// Delete implements apitoken.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.byID[id]; !ok {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, id)
	}
	s.remove(id)
	return nil
}

// each calls fn for every stored record, in no particular order. The
// caller holds mu, and fn must not change the store.
func (s *Store) each(fn func(rec *apitoken.Record)) {
	for i := range s.shards {
		slots := s.shards[i].slots
		for j := range slots {
			if slots[j].id != "" {
				fn(slots[j].rec)
			}
		}
	}
}

// List implements apitoken.Store.
func (s *Store) List(ctx context.Context, f apitoken.Filter) (apitoken.Page, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Page{}, err
	}
	if f.OwnerID == "" && len(f.TenantIDs) == 0 && !f.AllTenants {
		return apitoken.Page{}, fmt.Errorf("%w: filter selects neither an owner nor tenants: set OwnerID or TenantIDs, or AllTenants to list every token", apitoken.ErrInvalidArgument)
	}
	limit := f.Limit
	if limit <= 0 {
		limit = apitoken.DefaultPageSize
	}
	limit = min(limit, apitoken.MaxPageSize)

	s.mu.RLock()
	var matched []*apitoken.Record
	s.each(func(rec *apitoken.Record) {
		if rec.ID <= f.After ||
			(f.OwnerID != "" && rec.OwnerID != f.OwnerID) ||
			(len(f.TenantIDs) > 0 && !slices.Contains(f.TenantIDs, rec.TenantID)) {
			return
		}
		matched = append(matched, rec)
	})
	sort.Slice(matched, func(i, j int) bool { return matched[i].ID < matched[j].ID })
	page := apitoken.Page{}
	for _, rec := range matched[:min(limit, len(matched))] {
		page.Records = append(page.Records, copyOut(rec))
	}
	s.mu.RUnlock()

	if len(matched) > limit {
		page.Next = page.Records[limit-1].ID
	}
	return page, nil
}

// UpdateOwner implements apitoken.Store. It holds the write lock for the
// whole cascade, so no other change, Get, List or LookupLegacy sees it
// half-applied. Lookup takes only a shard's lock, so a verification during
// the cascade may see some of the owner's records changed and others not.
func (s *Store) UpdateOwner(ctx context.Context, ownerID string, fn apitoken.CascadeFunc) ([]apitoken.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	var owned []apitoken.Record
	s.each(func(rec *apitoken.Record) {
		if rec.OwnerID == ownerID {
			owned = append(owned, copyOut(rec))
		}
	})
	sort.Slice(owned, func(i, j int) bool { return owned[i].ID < owned[j].ID })

	// Decide every change before applying any, so that a panic in fn
	// leaves the store as it was.
	var plan []planned
	for i := range owned {
		next := owned[i].Clone()
		switch act := fn(next); act {
		case apitoken.Keep:
		case apitoken.Save, apitoken.Remove:
			plan = append(plan, planned{owned[i].ID, next, act})
		default:
			return nil, fmt.Errorf("%w: cascade returned unknown action %d", apitoken.ErrInvalidArgument, act)
		}
	}
	if err := s.checkPlanUnique(plan); err != nil {
		return nil, err
	}

	changes := make([]apitoken.Change, 0, len(plan))
	for _, p := range plan {
		if p.act == apitoken.Remove {
			changes = append(changes, apitoken.Change{Action: apitoken.Remove, Record: s.remove(p.id)})
			continue
		}
		s.replace(p.next)
		changes = append(changes, apitoken.Change{Action: apitoken.Save, Record: copyOut(s.recordByID(p.id))})
	}
	return changes, nil
}

// planned is one change that a cascade decided.
type planned struct {
	id   string
	next *apitoken.Record
	act  apitoken.Action
}

// checkPlanUnique returns an error when a record that the plan saves has
// a new ID, or a digest or legacy UUID that another record holds, now or
// after the plan. It compares with the stored records before the plan, so
// a value freed by a record that the same plan removes still conflicts.
// The caller holds mu.
func (s *Store) checkPlanUnique(plan []planned) error {
	digests := map[apitoken.Digest]string{}
	legacy := map[string]string{}
	for _, p := range plan {
		if p.act != apitoken.Save {
			continue
		}
		if p.next.ID != p.id {
			return fmt.Errorf("%w: cascade changed the ID of token %s", apitoken.ErrInvalidArgument, p.id)
		}
		if err := s.checkUnique(p.next, p.id); err != nil {
			return err
		}
		if other, ok := digests[p.next.Digest]; ok {
			return fmt.Errorf("%w: cascade gave tokens %s and %s one digest", apitoken.ErrConflict, other, p.id)
		}
		digests[p.next.Digest] = p.id
		if u := p.next.LegacyUUID; u != "" {
			if other, ok := legacy[u]; ok {
				return fmt.Errorf("%w: cascade gave tokens %s and %s the legacy UUID %q", apitoken.ErrConflict, other, p.id, u)
			}
			legacy[u] = p.id
		}
	}
	return nil
}

// Purge implements apitoken.Store.
func (s *Store) Purge(ctx context.Context, cutoff time.Time, limit int) ([]apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, fmt.Errorf("%w: purge limit %d: use a positive number", apitoken.ErrInvalidArgument, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Removing records moves others between slots, so collect the IDs
	// first.
	var ids []string
	s.each(func(rec *apitoken.Record) {
		if len(ids) == limit {
			return
		}
		since := rec.InactiveSince()
		if !since.IsZero() && !since.After(cutoff) {
			ids = append(ids, rec.ID)
		}
	})
	purged := make([]apitoken.Record, 0, len(ids))
	for _, id := range ids {
		purged = append(purged, s.remove(id))
	}
	return purged, nil
}

// SetLastUsed implements apitoken.Store.
func (s *Store) SetLastUsed(ctx context.Context, times map[string]time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, at := range times {
		d, ok := s.byID[id]
		if !ok {
			continue
		}
		sh, h := s.shard(d)
		sl := &sh.slots[sh.find(d, h)]
		if !at.After(sl.rec.LastUsedAt) {
			continue
		}
		// Lookup reads the record under the shard's read lock.
		sh.mu.Lock()
		sl.rec.LastUsedAt = at.UTC()
		sl.setLastUsed(sl.rec.LastUsedAt)
		sh.mu.Unlock()
	}
	return nil
}
