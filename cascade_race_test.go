package apitoken_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// hookStore runs beforeCreate and beforeUpdate once each, before the next
// record is created or updated, so that a test can run an owner cascade
// between the Manager's checks and its write.
type hookStore struct {
	*memstore.Store
	beforeCreate func()
	beforeUpdate func()
}

func (s *hookStore) Update(ctx context.Context, rec *apitoken.Record) error {
	if hook := s.beforeUpdate; hook != nil {
		s.beforeUpdate = nil
		hook()
	}
	return s.Store.Update(ctx, rec)
}

func (s *hookStore) Create(ctx context.Context, rec *apitoken.Record) error {
	if hook := s.beforeCreate; hook != nil {
		s.beforeCreate = nil
		hook()
	}
	return s.Store.Create(ctx, rec)
}

// newRaceManager returns a Manager over a hookStore and a directory with
// the analyst bob.
func newRaceManager(t *testing.T) (*apitoken.Manager, *hookStore, *apitoken.Directory) {
	t.Helper()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst":   {Permissions: []string{"a:read", "a:write"}},
		"read_only": {Permissions: []string{"a:read"}},
	})
	require.NoError(t, err)
	bob := apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}
	require.NoError(t, dir.PutUser(bob))
	store := &hookStore{Store: memstore.New()}
	m, err := apitoken.New(apitoken.Config{Store: store, Policy: dir})
	require.NoError(t, err)
	return m, store, dir
}

func TestCreateRacingDisableOwner(t *testing.T) {
	ctx := context.Background()
	m, store, dir := newRaceManager(t)
	bob := apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}

	// The host disables bob while his Create is under way: it changes
	// the directory, then reports the change to the Manager.
	store.beforeCreate = func() {
		disabled := bob
		disabled.Disabled = true
		require.NoError(t, dir.PutUser(disabled))
		_, err := m.DisableOwner(ctx, "admin", "bob")
		require.NoError(t, err)
	}
	_, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"a:read"}})
	if err == nil {
		// Bob comes back: his tokens must stay disabled.
		require.NoError(t, dir.PutUser(bob))
		_, err = m.Verify(ctx, string(value))
	}
	assert.Error(t, err, "a token created while its owner was being disabled works after the owner is enabled again")
}

func TestCreateRacingRestrictOwner(t *testing.T) {
	ctx := context.Background()
	m, store, dir := newRaceManager(t)
	bob := apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}

	store.beforeCreate = func() {
		demoted := bob
		demoted.Role = "read_only"
		require.NoError(t, dir.PutUser(demoted))
		_, err := m.RestrictOwner(ctx, "admin", "bob", []string{"a:read"})
		require.NoError(t, err)
	}
	_, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"a:read", "a:write"}})
	if err != nil {
		return
	}
	// Bob is promoted again: permissions removed by the demotion must
	// not come back.
	require.NoError(t, dir.PutUser(bob))
	p, err := m.Verify(ctx, string(value))
	require.NoError(t, err)
	assert.False(t, p.Has("a:write"), "a permission removed while the token was being created came back")
}

func TestImportLegacyRacingDeleteOwner(t *testing.T) {
	ctx := context.Background()
	m, store, dir := newRaceManager(t)
	bob := apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}

	store.beforeCreate = func() {
		dir.RemoveUser("bob")
		_, err := m.DeleteOwner(ctx, "admin", "bob")
		require.NoError(t, err)
	}
	_, err := m.ImportLegacy(ctx, "admin", apitoken.LegacyImport{
		OwnerID: "bob", UUID: "0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11", Secret: "old-secret",
	})
	if err == nil {
		// A new user gets the ID "bob": the deleted user's credentials
		// must not work for them.
		require.NoError(t, dir.PutUser(bob))
		_, err = m.VerifyLegacy(ctx, "0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11", "old-secret")
	}
	assert.Error(t, err, "legacy credentials imported while their owner was being deleted work for a new user of the same ID")
}

func TestUpdateRacingRestrictOwner(t *testing.T) {
	ctx := context.Background()
	m, store, dir := newRaceManager(t)
	bob := apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}
	tok, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"a:read"}})
	require.NoError(t, err)

	// Bob asks for a:write while the host demotes him.
	store.beforeUpdate = func() {
		demoted := bob
		demoted.Role = "read_only"
		require.NoError(t, dir.PutUser(demoted))
		_, err := m.RestrictOwner(ctx, "admin", "bob", []string{"a:read"})
		require.NoError(t, err)
	}
	_, err = m.Update(ctx, "bob", tok.ID, apitoken.UpdateRequest{Permissions: []string{"a:read", "a:write"}})
	if err != nil {
		return
	}
	require.NoError(t, dir.PutUser(bob))
	p, err := m.Verify(ctx, string(value))
	require.NoError(t, err)
	assert.False(t, p.Has("a:write"), "a permission granted from the owner's state before a demotion survived it")
}

func TestEnableRacingDisableOwner(t *testing.T) {
	ctx := context.Background()
	m, store, dir := newRaceManager(t)
	bob := apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}
	tok, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"a:read"}})
	require.NoError(t, err)
	_, err = m.Disable(ctx, "bob", tok.ID)
	require.NoError(t, err)

	// Bob enables his token while the host disables him. The cascade
	// finds the token disabled already and leaves it alone.
	store.beforeUpdate = func() {
		disabled := bob
		disabled.Disabled = true
		require.NoError(t, dir.PutUser(disabled))
		_, err := m.DisableOwner(ctx, "admin", "bob")
		require.NoError(t, err)
	}
	_, err = m.Enable(ctx, "bob", tok.ID)
	if err == nil {
		require.NoError(t, dir.PutUser(bob))
		_, err = m.Verify(ctx, string(value))
	}
	assert.Error(t, err, "a token enabled while its owner was being disabled works after the owner is enabled again")
}
