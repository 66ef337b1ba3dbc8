package apitoken_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

func TestDirectoryRejectsBadInput(t *testing.T) {
	_, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"": {}})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
	_, err = apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"odd": {Level: apitoken.Role(7)}})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
	_, err = apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"odd": {Permissions: []string{" spaced"}}})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)

	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"analyst": {Permissions: []string{"a:read"}}})
	require.NoError(t, err)
	err = dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "root"})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
	assert.Contains(t, err.Error(), `"root"`)
	assert.ErrorIs(t, dir.PutUser(apitoken.DirectoryUser{TenantID: "acme", Role: "analyst"}), apitoken.ErrInvalidArgument)
	assert.ErrorIs(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", Role: "analyst"}), apitoken.ErrInvalidArgument)
	_, err = dir.User(context.Background(), "bob")
	assert.ErrorIs(t, err, apitoken.ErrUnknownUser, "rejected users are not added")
}

func TestDirectoryUsers(t *testing.T) {
	ctx := context.Background()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"admin":   {Level: apitoken.RoleAdmin, Permissions: []string{"b", "a", "b"}},
		"analyst": {Permissions: []string{"a"}},
	})
	require.NoError(t, err)
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "alice", TenantID: "acme", Role: "admin"}))
	u, err := dir.User(ctx, "alice")
	require.NoError(t, err)
	assert.Equal(t, apitoken.RoleAdmin, u.Role)
	assert.Equal(t, []string{"a", "b"}, u.Permissions)
	assert.True(t, dir.ValidPermission("b"))
	assert.False(t, dir.ValidPermission("c"))

	perms, ok := dir.RolePermissions("admin")
	require.True(t, ok)
	perms[0] = "changed"
	again, _ := dir.RolePermissions("admin")
	assert.Equal(t, []string{"a", "b"}, again, "RolePermissions returns a copy")

	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "alice", TenantID: "acme", Role: "analyst", Disabled: true}))
	u, err = dir.User(ctx, "alice")
	require.NoError(t, err)
	assert.True(t, u.Disabled)
	assert.Equal(t, apitoken.RoleMember, u.Role)

	dir.RemoveUser("alice")
	_, err = dir.User(ctx, "alice")
	assert.ErrorIs(t, err, apitoken.ErrUnknownUser)
}

// countingPolicy counts the User calls it passes to the wrapped Policy.
type countingPolicy struct {
	apitoken.Policy
	calls int
}

func (p *countingPolicy) User(ctx context.Context, id string) (apitoken.User, error) {
	p.calls++
	return p.Policy.User(ctx, id)
}

func TestCachedPolicy(t *testing.T) {
	ctx := context.Background()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"analyst": {Permissions: []string{"a"}}})
	require.NoError(t, err)
	for _, id := range []string{"u1", "u2", "u3"} {
		require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: id, TenantID: "acme", Role: "analyst"}))
	}
	inner := &countingPolicy{Policy: dir}
	mock := clock.NewMock()
	cached := apitoken.NewCachedPolicy(inner, 10*time.Second, 2, mock)

	for range 5 {
		_, err := cached.User(ctx, "u1")
		require.NoError(t, err)
	}
	assert.Equal(t, 1, inner.calls, "answers are cached within the TTL")

	mock.Add(10 * time.Second)
	_, err = cached.User(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, 2, inner.calls, "an entry expires after the TTL")

	cached.Forget("u1")
	_, err = cached.User(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, 3, inner.calls, "Forget drops the entry")

	_, err = cached.User(ctx, "nobody")
	require.ErrorIs(t, err, apitoken.ErrUnknownUser)
	_, err = cached.User(ctx, "nobody")
	require.ErrorIs(t, err, apitoken.ErrUnknownUser)
	assert.Equal(t, 5, inner.calls, "errors are not cached")

	for _, id := range []string{"u2", "u3", "u1", "u2", "u3"} {
		_, err := cached.User(ctx, id)
		require.NoError(t, err)
	}
	assert.LessOrEqual(t, inner.calls, 10, "the cache stays bounded and working")
}

// pausingPolicy, while pause is set, blocks each User call between
// reading the wrapped Policy and returning, until the test releases it.
type pausingPolicy struct {
	apitoken.Policy
	pause   atomic.Bool
	read    chan struct{}
	release chan struct{}
	calls   atomic.Int64
}

func (p *pausingPolicy) User(ctx context.Context, id string) (apitoken.User, error) {
	p.calls.Add(1)
	u, err := p.Policy.User(ctx, id)
	if p.pause.Load() {
		p.read <- struct{}{}
		<-p.release
	}
	return u, err
}

func TestCachedPolicyForgetDuringRead(t *testing.T) {
	ctx := context.Background()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"analyst": {Permissions: []string{"a"}}})
	require.NoError(t, err)
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
	inner := &pausingPolicy{Policy: dir, read: make(chan struct{}), release: make(chan struct{})}
	cached := apitoken.NewCachedPolicy(inner, time.Hour, 100, nil)

	// A read of bob's old state is under way when the host changes the
	// directory and reports the change.
	inner.pause.Store(true)
	stale := make(chan apitoken.User, 1)
	go func() {
		u, _ := cached.User(ctx, "bob")
		stale <- u
	}()
	<-inner.read
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", Disabled: true}))
	cached.Forget("bob")
	inner.pause.Store(false)
	inner.release <- struct{}{}
	assert.False(t, (<-stale).Disabled, "the read under way returns the state it read")

	u, err := cached.User(ctx, "bob")
	require.NoError(t, err)
	assert.True(t, u.Disabled, "the read that raced Forget left the old state cached")
	assert.Equal(t, int64(2), inner.calls.Load(), "the second read reached the wrapped Policy")
}

func TestCascadeForgetsCachedOwner(t *testing.T) {
	ctx := context.Background()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"analyst": {Permissions: []string{"a"}}})
	require.NoError(t, err)
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
	cached := apitoken.NewCachedPolicy(dir, time.Hour, 100, nil)
	m, err := apitoken.New(apitoken.Config{Store: memstore.New(), Policy: cached})
	require.NoError(t, err)
	_, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"a"}})
	require.NoError(t, err)
	_, err = m.Verify(ctx, string(value))
	require.NoError(t, err)

	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", SSO: true}))
	_, err = m.Verify(ctx, string(value))
	require.NoError(t, err, "the cache hides the unreported change for up to its TTL")

	_, err = m.SwitchOwnerToSSO(ctx, "admin", "bob")
	require.NoError(t, err)
	_, err = m.Verify(ctx, string(value))
	assert.True(t, apitoken.IsCredentialError(err), "a reported change takes effect at once")
}

func TestNewRejectsBadConfig(t *testing.T) {
	dir, err := apitoken.NewDirectory(nil)
	require.NoError(t, err)
	store := memstore.New()
	cases := map[string]apitoken.Config{
		"no store":           {Policy: dir},
		"no policy":          {Store: store},
		"bad prefix":         {Store: store, Policy: dir, Prefix: "API-"},
		"negative retention": {Store: store, Policy: dir, Retention: -time.Hour},
		"negative lifetime":  {Store: store, Policy: dir, MaxLifetime: -time.Hour},
		"negative interval":  {Store: store, Policy: dir, LastUsedInterval: -time.Second},
		"negative batch":     {Store: store, Policy: dir, PurgeBatchSize: -1},
	}
	for name, cfg := range cases {
		_, err := apitoken.New(cfg)
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, name)
	}
}

func TestKeyringRejectsBadKeys(t *testing.T) {
	key, err := apitoken.NewSealingKey()
	require.NoError(t, err)
	_, err = apitoken.NewKeyring("k2", map[string][]byte{"k1": key})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "current key missing")
	_, err = apitoken.NewKeyring("k1", map[string][]byte{"k1": key[:16]})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "short key")
	_, err = apitoken.NewKeyring("bad id", map[string][]byte{"bad id": key})
	assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "bad key ID")
}

func TestRunPurge(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{"analyst": {Permissions: []string{"a"}}})
	require.NoError(t, err)
	require.NoError(t, dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
	mock := clock.NewMock()
	purged := make(chan string, 10)
	m, err := apitoken.New(apitoken.Config{
		Store:     memstore.New(),
		Policy:    dir,
		Clock:     mock,
		Retention: time.Hour,
		Auditor: apitoken.AuditFunc(func(_ context.Context, e apitoken.Event) {
			if e.Type == apitoken.EventPurged {
				purged <- e.TokenID
			}
		}),
	})
	require.NoError(t, err)
	disable := func() string {
		tok, _, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"a"}})
		require.NoError(t, err)
		_, err = m.Disable(ctx, "bob", tok.ID)
		require.NoError(t, err)
		return tok.ID
	}

	first := disable()
	mock.Add(time.Hour)
	done := make(chan error, 1)
	go func() { done <- m.RunPurge(ctx, 10*time.Minute) }()
	assert.Equal(t, first, waitFor(t, purged), "RunPurge purges once at start")

	second := disable()
	mock.Add(time.Hour)
	assert.Equal(t, second, waitFor(t, purged), "and again at each interval")

	cancel()
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-time.After(10 * time.Second):
		t.Fatal("RunPurge did not stop with its context")
	}
	assert.ErrorIs(t, m.RunPurge(context.Background(), 0), apitoken.ErrInvalidArgument)
}

// waitFor returns the next value from ch, waiting at most ten seconds of
// real time for the goroutine that sends it.
func waitFor(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("nothing arrived within ten seconds")
		return ""
	}
}

func TestUserAdministers(t *testing.T) {
	cases := []struct {
		name   string
		user   apitoken.User
		tenant string
		want   bool
	}{
		{"member", apitoken.User{TenantID: "acme", Role: apitoken.RoleMember}, "acme", false},
		{"admin of own tenant", apitoken.User{TenantID: "acme", Role: apitoken.RoleAdmin}, "acme", true},
		{"admin of other tenant", apitoken.User{TenantID: "acme", Role: apitoken.RoleAdmin}, "globex", false},
		{"global admin of all", apitoken.User{TenantID: "acme", Role: apitoken.RoleGlobalAdmin}, "globex", true},
		{"limited global admin, listed", apitoken.User{TenantID: "initech", Role: apitoken.RoleGlobalAdmin, Tenants: []string{"globex"}}, "globex", true},
		{"limited global admin, own", apitoken.User{TenantID: "initech", Role: apitoken.RoleGlobalAdmin, Tenants: []string{"globex"}}, "initech", true},
		{"limited global admin, other", apitoken.User{TenantID: "initech", Role: apitoken.RoleGlobalAdmin, Tenants: []string{"globex"}}, "acme", false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.user.Administers(c.tenant), c.name)
	}
}
