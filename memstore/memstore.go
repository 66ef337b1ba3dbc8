// Package memstore keeps apitoken records in memory, for tests and for
// services that run as a single process and accept losing their tokens on
// restart.
package memstore

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/apitoken/apitoken"
)

// Store is an in-memory apitoken.Store. It is safe for concurrent use,
// starts no goroutines, and copies records on the way in and out, so
// callers can never change what it holds. The zero value is not usable;
// call New.
type Store struct {
	// mu guards byID and byLegacy, and serialises every change.
	mu       sync.RWMutex
	byID     map[string]*apitoken.Record
	byLegacy map[string]*apitoken.Record
	// byDigest is split into shards with their own locks, so that
	// verifications, which only read it, do not all share one lock word.
	// A change holds mu and then the shard's lock.
	byDigest [digestShards]digestShard
}

const digestShards = 64

type digestShard struct {
	mu      sync.RWMutex
	records map[apitoken.Digest]*apitoken.Record
	_       [32]byte // keeps shards on separate cache lines
}

// Stored records are never changed in place: a change replaces the
// pointer, so a reader holding only a shard lock sees a whole record.

var _ apitoken.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	s := &Store{
		byID:     map[string]*apitoken.Record{},
		byLegacy: map[string]*apitoken.Record{},
	}
	for i := range s.byDigest {
		s.byDigest[i].records = map[apitoken.Digest]*apitoken.Record{}
	}
	return s
}

// Len returns the number of stored records.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.byID)
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
	if err := s.checkUnique(rec, nil); err != nil {
		return err
	}
	rec.Version = 1
	s.put(rec.Clone())
	return nil
}

// checkUnique returns ErrConflict when another record than old holds the
// ID, digest or legacy UUID of rec.
func (s *Store) checkUnique(rec, old *apitoken.Record) error {
	if other, ok := s.byID[rec.ID]; ok && other != old {
		return fmt.Errorf("%w: token ID %q already exists", apitoken.ErrConflict, rec.ID)
	}
	if other, ok := s.shard(rec.Digest).records[rec.Digest]; ok && other != old {
		return fmt.Errorf("%w: token digest already exists", apitoken.ErrConflict)
	}
	if rec.LegacyUUID != "" {
		if other, ok := s.byLegacy[rec.LegacyUUID]; ok && other != old {
			return fmt.Errorf("%w: legacy UUID %q already belongs to token %s", apitoken.ErrConflict, rec.LegacyUUID, other.ID)
		}
	}
	return nil
}

func (s *Store) shard(d apitoken.Digest) *digestShard {
	return &s.byDigest[d[0]%digestShards]
}

func (s *Store) put(rec *apitoken.Record) {
	s.byID[rec.ID] = rec
	sh := s.shard(rec.Digest)
	sh.mu.Lock()
	sh.records[rec.Digest] = rec
	sh.mu.Unlock()
	if rec.LegacyUUID != "" {
		s.byLegacy[rec.LegacyUUID] = rec
	}
}

func (s *Store) remove(rec *apitoken.Record) {
	delete(s.byID, rec.ID)
	sh := s.shard(rec.Digest)
	sh.mu.Lock()
	delete(sh.records, rec.Digest)
	sh.mu.Unlock()
	if rec.LegacyUUID != "" {
		delete(s.byLegacy, rec.LegacyUUID)
	}
}

// Get implements apitoken.Store.
func (s *Store) Get(ctx context.Context, id string) (apitoken.Record, error) {
	return s.find(ctx, &s.mu, func() *apitoken.Record { return s.byID[id] })
}

// Lookup implements apitoken.Store.
func (s *Store) Lookup(ctx context.Context, digest apitoken.Digest) (apitoken.Record, error) {
	sh := s.shard(digest)
	return s.find(ctx, &sh.mu, func() *apitoken.Record { return sh.records[digest] })
}

// LookupLegacy implements apitoken.Store.
func (s *Store) LookupLegacy(ctx context.Context, uuid string) (apitoken.Record, error) {
	return s.find(ctx, &s.mu, func() *apitoken.Record { return s.byLegacy[uuid] })
}

// find returns a copy of the record that get returns under the read lock.
func (s *Store) find(ctx context.Context, mu *sync.RWMutex, get func() *apitoken.Record) (apitoken.Record, error) {
	if err := ctx.Err(); err != nil {
		return apitoken.Record{}, err
	}
	mu.RLock()
	rec := get()
	mu.RUnlock()
	if rec == nil {
		return apitoken.Record{}, apitoken.ErrNotFound
	}
	out := *rec
	out.Permissions = slices.Clone(rec.Permissions)
	out.Sealed = slices.Clone(rec.Sealed)
	return out, nil
}

// Update implements apitoken.Store.
func (s *Store) Update(ctx context.Context, rec *apitoken.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.byID[rec.ID]
	if !ok {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, rec.ID)
	}
	if old.Version != rec.Version {
		return fmt.Errorf("%w: token %s has version %d, not %d", apitoken.ErrConflict, rec.ID, old.Version, rec.Version)
	}
	if err := s.checkUnique(rec, old); err != nil {
		return err
	}
	s.replace(old, rec)
	rec.Version++
	return nil
}

// replace stores a copy of rec in place of old, with the next version and
// the last-used time of old.
func (s *Store) replace(old, rec *apitoken.Record) {
	next := rec.Clone()
	next.Version = old.Version + 1
	next.LastUsedAt = old.LastUsedAt
	s.remove(old)
	s.put(next)
}

// Delete implements apitoken.Store.
func (s *Store) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.byID[id]
	if !ok {
		return fmt.Errorf("%w: %q", apitoken.ErrNotFound, id)
	}
	s.remove(rec)
	return nil
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
	for _, rec := range s.byID {
		if rec.ID <= f.After ||
			(f.OwnerID != "" && rec.OwnerID != f.OwnerID) ||
			(len(f.TenantIDs) > 0 && !slices.Contains(f.TenantIDs, rec.TenantID)) {
			continue
		}
		matched = append(matched, rec)
	}
	sort.Slice(matched, func(i, j int) bool { return matched[i].ID < matched[j].ID })
	page := apitoken.Page{}
	for _, rec := range matched[:min(limit, len(matched))] {
		page.Records = append(page.Records, *rec.Clone())
	}
	s.mu.RUnlock()

	if len(matched) > limit {
		page.Next = page.Records[limit-1].ID
	}
	return page, nil
}

// UpdateOwner implements apitoken.Store. It holds the write lock for the
// whole cascade, so no verification sees it half-applied.
func (s *Store) UpdateOwner(ctx context.Context, ownerID string, fn apitoken.CascadeFunc) ([]apitoken.Change, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()

	var owned []*apitoken.Record
	for _, rec := range s.byID {
		if rec.OwnerID == ownerID {
			owned = append(owned, rec)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].ID < owned[j].ID })

	// Decide every change before applying any, so that a panic in fn
	// leaves the store as it was.
	type planned struct {
		old  *apitoken.Record
		next *apitoken.Record
		act  apitoken.Action
	}
	var plan []planned
	for _, old := range owned {
		next := old.Clone()
		switch act := fn(next); act {
		case apitoken.Keep:
		case apitoken.Save, apitoken.Remove:
			plan = append(plan, planned{old, next, act})
		default:
			return nil, fmt.Errorf("%w: cascade returned unknown action %d", apitoken.ErrInvalidArgument, act)
		}
	}
	for _, p := range plan {
		if p.act == apitoken.Save && p.next.ID != p.old.ID {
			return nil, fmt.Errorf("%w: cascade changed the ID of token %s", apitoken.ErrInvalidArgument, p.old.ID)
		}
	}

	changes := make([]apitoken.Change, 0, len(plan))
	for _, p := range plan {
		if p.act == apitoken.Remove {
			s.remove(p.old)
			changes = append(changes, apitoken.Change{Action: apitoken.Remove, Record: *p.old.Clone()})
			continue
		}
		s.replace(p.old, p.next)
		changes = append(changes, apitoken.Change{Action: apitoken.Save, Record: *s.byID[p.old.ID].Clone()})
	}
	return changes, nil
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
	var purged []apitoken.Record
	for _, rec := range s.byID {
		if len(purged) == limit {
			break
		}
		since := rec.InactiveSince()
		if since.IsZero() || since.After(cutoff) {
			continue
		}
		s.remove(rec)
		purged = append(purged, *rec.Clone())
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
		old, ok := s.byID[id]
		if !ok || !at.After(old.LastUsedAt) {
			continue
		}
		// Records are replaced, never changed in place, so that a copy
		// being read under the read lock elsewhere stays consistent.
		next := old.Clone()
		next.LastUsedAt = at.UTC()
		s.remove(old)
		s.put(next)
	}
	return nil
}
