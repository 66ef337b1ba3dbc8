// Package storetest is the conformance suite that every apitoken.Store
// must pass. A store package calls Run from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) apitoken.Store {
//			return newEmptyStore(t)
//		})
//	}
//
// The suite first checks the Store contract directly: digest lookup,
// uniqueness, copies, compare-and-swap updates, listing with filters and
// cursors, transactional cascades, purge boundaries and last-used times,
// and for a store that is also an apitoken.CredentialStore, that
// LookupCredential always agrees with Lookup.
// It then runs the Manager's rules on top of the store, so that every rule
// of creation, verification, renewal, expiry, the owner cascades, the
// purge and the access table is proven for each store.
package storetest

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

// NewStore returns a new, empty store for one test. It registers any
// cleanup with t.Cleanup.
type NewStore func(t *testing.T) apitoken.Store

// Run runs the whole conformance suite against the stores that newStore
// returns.
func Run(t *testing.T, newStore NewStore) {
	t.Run("Store", func(t *testing.T) { runStoreContract(t, newStore) })
	t.Run("Credential", func(t *testing.T) { runCredentialContract(t, newStore) })
	t.Run("Manager", func(t *testing.T) { runManagerRules(t, newStore) })
	t.Run("Access", func(t *testing.T) { runAccessRules(t, newStore) })
	t.Run("Escalation", func(t *testing.T) { runEscalation(t, newStore) })
	t.Run("Legacy", func(t *testing.T) { runLegacy(t, newStore) })
}

// start is the mock clock's first instant in every test. It has whole
// microseconds, like every time the Manager stores.
var start = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

// demoRoles and demoUsers make the directory of every Manager test.
var demoRoles = map[string]apitoken.RoleDefinition{
	"administrator":        {Level: apitoken.RoleAdmin, Permissions: []string{"attacks:read", "attacks:write", "rules:read", "rules:write", "nodes:deploy", "users:manage"}},
	"global_administrator": {Level: apitoken.RoleGlobalAdmin, Permissions: []string{"attacks:read", "attacks:write", "rules:read", "rules:write", "nodes:deploy", "users:manage"}},
	"analyst":              {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "attacks:write", "rules:read"}},
	"read_only":            {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "rules:read"}},
	"deploy":               {Level: apitoken.RoleMember, Permissions: []string{"nodes:deploy"}},
}

var demoUsers = []apitoken.DirectoryUser{
	{ID: "alice", TenantID: "acme", Role: "administrator"},
	{ID: "bob", TenantID: "acme", Role: "analyst"},
	{ID: "carol", TenantID: "acme", Role: "read_only"},
	{ID: "erin", TenantID: "acme", Role: "analyst", SSO: true},
	{ID: "frank", TenantID: "acme", Role: "analyst", Disabled: true},
	{ID: "gina", TenantID: "globex", Role: "administrator"},
	{ID: "hank", TenantID: "globex", Role: "analyst"},
	{ID: "dave", TenantID: "acme", Role: "global_administrator"},
	// ivy administers her own tenant and globex, but not acme.
	{ID: "ivy", TenantID: "initech", Role: "global_administrator", Tenants: []string{"globex"}},
	{ID: "alan", TenantID: "acme", Role: "administrator"},
}

// env is one Manager over a fresh store, with a mock clock, the demo
// directory and a record of audit events.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock *clock.Mock
	store *faultyStore
	// managed is the store the Manager uses: store itself, or store with
	// the inner store's LookupCredential when it has one.
	managed apitoken.Store
	dir     *apitoken.Directory
	m       *apitoken.Manager
	events  *eventLog
	// values holds every value issued, to check that none leaks.
	values []apitoken.Value
}

func newEnv(t *testing.T, newStore NewStore, configure ...func(*apitoken.Config)) *env {
	t.Helper()
	mock := clock.NewMock()
	mock.Set(start)
	dir, err := apitoken.NewDirectory(demoRoles)
	require.NoError(t, err)
	for _, u := range demoUsers {
		require.NoError(t, dir.PutUser(u))
	}
	e := &env{
		t:      t,
		ctx:    context.Background(),
		clock:  mock,
		store:  &faultyStore{Store: newStore(t)},
		dir:    dir,
		events: &eventLog{},
	}
	e.managed = e.store
	if _, ok := e.store.Store.(apitoken.CredentialStore); ok {
		e.managed = &credentialWrapper{Store: e.store, lookup: e.store.lookupCredential}
	}
	cfg := apitoken.Config{
		Store:   e.managed,
		Policy:  dir,
		Clock:   mock,
		Auditor: e.events,
		Logger:  discardLogger(),
	}
	for _, c := range configure {
		c(&cfg)
	}
	e.m, err = apitoken.New(cfg)
	require.NoError(t, err)
	return e
}

// create issues a token that must succeed.
func (e *env) create(actorID string, req apitoken.CreateRequest) (apitoken.Token, apitoken.Value) {
	e.t.Helper()
	if req.Name == "" {
		req.Name = "token of " + actorID
	}
	tok, value, err := e.m.Create(e.ctx, actorID, req)
	require.NoError(e.t, err)
	e.values = append(e.values, value)
	return tok, value
}

// createRead issues a token with attacks:read for the actor.
func (e *env) createRead(actorID string) (apitoken.Token, apitoken.Value) {
	e.t.Helper()
	return e.create(actorID, apitoken.CreateRequest{Permissions: []string{"attacks:read"}})
}

func (e *env) verify(value apitoken.Value) (apitoken.Principal, error) {
	return e.m.Verify(e.ctx, string(value))
}

// requireValid fails unless the value verifies.
func (e *env) requireValid(value apitoken.Value) apitoken.Principal {
	e.t.Helper()
	p, err := e.verify(value)
	e.requireNoSecret(err)
	require.NoError(e.t, err, "value must verify")
	return p
}

// requireRejected fails unless the value is rejected with target.
func (e *env) requireRejected(value apitoken.Value, target error) {
	e.t.Helper()
	_, err := e.verify(value)
	e.requireNoSecret(err)
	require.ErrorIs(e.t, err, target, "value must be rejected")
	require.True(e.t, apitoken.IsCredentialError(err), "rejection must be a credential error")
}

// requireNoSecret fails if the error's message holds any issued value.
func (e *env) requireNoSecret(err error) {
	e.t.Helper()
	if err == nil {
		return
	}
	for _, v := range e.values {
		if v != "" && strings.Contains(err.Error(), string(v)) {
			e.t.Fatalf("an error message contains a token value")
		}
	}
}

// count returns the number of records the store holds for the owners.
func (e *env) count(ownerIDs ...string) int {
	e.t.Helper()
	n := 0
	for _, id := range ownerIDs {
		n += len(listAll(e.t, e.store, apitoken.Filter{OwnerID: id}))
	}
	return n
}

func (e *env) get(id string) apitoken.Record {
	e.t.Helper()
	rec, err := e.store.Get(e.ctx, id)
	require.NoError(e.t, err)
	return rec
}

// listAll follows the cursor through every page of the filter.
func listAll(t *testing.T, s apitoken.Store, f apitoken.Filter) []apitoken.Record {
	t.Helper()
	var all []apitoken.Record
	for {
		page, err := s.List(context.Background(), f)
		require.NoError(t, err)
		all = append(all, page.Records...)
		if page.Next == "" {
			return all
		}
		f.After = page.Next
	}
}

// eventLog is an Auditor that keeps every event.
type eventLog struct {
	mu     sync.Mutex
	events []apitoken.Event
}

func (l *eventLog) Audit(_ context.Context, e apitoken.Event) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

// of returns the events of the type.
func (l *eventLog) of(typ apitoken.EventType) []apitoken.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []apitoken.Event
	for _, e := range l.events {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// errFault is the error of every faultyStore call while it fails.
var errFault = errors.New("storetest: injected store failure")

// faultyStore wraps a store, counts calls and fails every call while fail
// is set.
type faultyStore struct {
	apitoken.Store
	fail atomic.Bool
	// calls counts the calls of every method, lookups those of Lookup and
	// LookupCredential, and lastUsedSet those of SetLastUsed.
	calls       atomic.Int64
	lookups     atomic.Int64
	lastUsedSet atomic.Int64
}

// failing counts a call and reports whether it must fail.
func (s *faultyStore) failing() bool {
	s.calls.Add(1)
	return s.fail.Load()
}

func (s *faultyStore) Create(ctx context.Context, rec *apitoken.Record) error {
	if s.failing() {
		return errFault
	}
	return s.Store.Create(ctx, rec)
}

func (s *faultyStore) Lookup(ctx context.Context, d apitoken.Digest) (apitoken.Record, error) {
	s.lookups.Add(1)
	if s.failing() {
		return apitoken.Record{}, errFault
	}
	return s.Store.Lookup(ctx, d)
}

// lookupCredential calls LookupCredential of the wrapped store, which
// must be an apitoken.CredentialStore, counted and failed as Lookup is.
func (s *faultyStore) lookupCredential(ctx context.Context, d apitoken.Digest) (apitoken.Credential, error) {
	s.lookups.Add(1)
	if s.failing() {
		return apitoken.Credential{}, errFault
	}
	return s.Store.(apitoken.CredentialStore).LookupCredential(ctx, d)
}

// credentialWrapper gives a store wrapper the LookupCredential of the store
// it wraps. A wrapper that embeds the apitoken.Store interface hides that
// method, and the Manager would then verify with Lookup, which it never
// calls on a CredentialStore.
type credentialWrapper struct {
	apitoken.Store
	lookup func(ctx context.Context, d apitoken.Digest) (apitoken.Credential, error)
}

func (s *credentialWrapper) LookupCredential(ctx context.Context, d apitoken.Digest) (apitoken.Credential, error) {
	return s.lookup(ctx, d)
}

func (s *faultyStore) Update(ctx context.Context, rec *apitoken.Record) error {
	if s.failing() {
		return errFault
	}
	return s.Store.Update(ctx, rec)
}

func (s *faultyStore) UpdateOwner(ctx context.Context, ownerID string, fn apitoken.CascadeFunc) ([]apitoken.Change, error) {
	if s.failing() {
		return nil, errFault
	}
	return s.Store.UpdateOwner(ctx, ownerID, fn)
}

func (s *faultyStore) SetLastUsed(ctx context.Context, times map[string]time.Time) error {
	s.lastUsedSet.Add(1)
	if s.failing() {
		return errFault
	}
	return s.Store.SetLastUsed(ctx, times)
}

func (s *faultyStore) Get(ctx context.Context, id string) (apitoken.Record, error) {
	if s.failing() {
		return apitoken.Record{}, errFault
	}
	return s.Store.Get(ctx, id)
}

func (s *faultyStore) LookupLegacy(ctx context.Context, uuid string) (apitoken.Record, error) {
	if s.failing() {
		return apitoken.Record{}, errFault
	}
	return s.Store.LookupLegacy(ctx, uuid)
}

func (s *faultyStore) Delete(ctx context.Context, id string) error {
	if s.failing() {
		return errFault
	}
	return s.Store.Delete(ctx, id)
}

func (s *faultyStore) List(ctx context.Context, f apitoken.Filter) (apitoken.Page, error) {
	if s.failing() {
		return apitoken.Page{}, errFault
	}
	return s.Store.List(ctx, f)
}

func (s *faultyStore) Purge(ctx context.Context, cutoff time.Time, limit int) ([]apitoken.Record, error) {
	if s.failing() {
		return nil, errFault
	}
	return s.Store.Purge(ctx, cutoff, limit)
}
