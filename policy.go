package apitoken

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/benbjohnson/clock"
)

// Role is the level of power a user has over tokens that are not their
// own.
type Role int

// Roles. Any role of the host that is not an administrator role maps to
// RoleMember.
const (
	// RoleMember manages only their own private tokens.
	RoleMember Role = iota
	// RoleAdmin sees and manages every token of their tenant, and may
	// create shared tokens.
	RoleAdmin
	// RoleGlobalAdmin has the powers of RoleAdmin in every tenant, or in
	// the tenants listed in User.Tenants.
	RoleGlobalAdmin
)

// String returns the name of r.
func (r Role) String() string {
	switch r {
	case RoleMember:
		return "member"
	case RoleAdmin:
		return "administrator"
	case RoleGlobalAdmin:
		return "global_administrator"
	}
	return fmt.Sprintf("Role(%d)", int(r))
}

// User is the state of one user as a Policy returns it at one moment.
type User struct {
	ID       string
	TenantID string
	Role     Role
	// Permissions are the user's current permissions. The Manager only
	// reads them, so a Policy may return a slice it shares between calls.
	Permissions []string
	// Disabled users cannot use or manage tokens.
	Disabled bool
	// SSO users sign in by single sign-on and cannot have tokens.
	SSO bool
	// Tenants limits a RoleGlobalAdmin to these tenants besides their own.
	// When it is empty, a global administrator administers every tenant.
	// It is ignored for the other roles.
	Tenants []string
}

// HasPermission reports whether u holds the permission.
func (u *User) HasPermission(permission string) bool {
	return slices.Contains(u.Permissions, permission)
}

// Administers reports whether u has administrator powers in the tenant:
// as its administrator, or as a global administrator whose Tenants are
// empty or include it. Hosts use it to decide who may change a user.
func (u *User) Administers(tenantID string) bool {
	switch u.Role {
	case RoleAdmin:
		return u.TenantID == tenantID
	case RoleGlobalAdmin:
		return len(u.Tenants) == 0 || u.TenantID == tenantID || slices.Contains(u.Tenants, tenantID)
	}
	return false
}

// Policy is the host's source of the users' state. The Manager calls User
// for the owner of a token on every verification, so User must return
// from memory in microseconds. A host whose directory is remote wraps it
// in NewCachedPolicy. Implementations must be safe for concurrent
// use.
type Policy interface {
	// User returns the current state of the user, or an error wrapping
	// ErrUnknownUser when the user does not exist. Any other error is a
	// failure of the directory, and verification then fails closed.
	User(ctx context.Context, id string) (User, error)

	// ValidPermission reports whether name is a permission of the host's
	// vocabulary. Tokens can only be created with valid permissions.
	ValidPermission(name string) bool
}

// RoleDefinition describes one role of a Directory.
type RoleDefinition struct {
	// Level is the power the role carries over other users' tokens.
	Level Role
	// Permissions are the permissions every user of the role holds.
	Permissions []string
}

// DirectoryUser is a user entry of a Directory.
type DirectoryUser struct {
	ID       string
	TenantID string
	// Role names a role given to NewDirectory.
	Role     string
	Disabled bool
	SSO      bool
	// Tenants limits a global administrator; see User.Tenants.
	Tenants []string
}

// Directory is a ready Policy that a host fills from a table of roles and
// their permissions, then keeps up to date as its users change. Reads take
// no lock: every change builds a new snapshot, which suits directories
// that change far less often than requests arrive.
//
// Changing a user in the Directory changes what verification sees at once,
// but stored tokens change only when the host also reports the change to
// the Manager (DisableOwner, RestrictOwner, DeleteOwner, SwitchOwnerToSSO).
type Directory struct {
	mu       sync.Mutex // serialises writers
	snapshot atomic.Pointer[directorySnapshot]
}

type directorySnapshot struct {
	roles       map[string]RoleDefinition
	users       map[string]User
	permissions map[string]bool
}

// NewDirectory returns a Directory with the given roles and no users. The
// vocabulary of valid permissions is the union of the roles' permissions.
func NewDirectory(roles map[string]RoleDefinition) (*Directory, error) {
	snap := &directorySnapshot{
		roles:       make(map[string]RoleDefinition, len(roles)),
		users:       map[string]User{},
		permissions: map[string]bool{},
	}
	for name, def := range roles {
		if name == "" {
			return nil, fmt.Errorf("%w: empty role name: give every role a name", ErrInvalidArgument)
		}
		if def.Level < RoleMember || def.Level > RoleGlobalAdmin {
			return nil, fmt.Errorf("%w: role %q has unknown level %d: use RoleMember, RoleAdmin or RoleGlobalAdmin", ErrInvalidArgument, name, int(def.Level))
		}
		perms, err := normalizePermissions(def.Permissions)
		if err != nil {
			return nil, fmt.Errorf("role %q: %w", name, err)
		}
		snap.roles[name] = RoleDefinition{Level: def.Level, Permissions: perms}
		for _, p := range perms {
			snap.permissions[p] = true
		}
	}
	d := &Directory{}
	d.snapshot.Store(snap)
	return d, nil
}

// User implements Policy.
func (d *Directory) User(_ context.Context, id string) (User, error) {
	u, ok := d.snapshot.Load().users[id]
	if !ok {
		return User{}, fmt.Errorf("%w: %q", ErrUnknownUser, id)
	}
	return u, nil
}

// ValidPermission implements Policy.
func (d *Directory) ValidPermission(name string) bool {
	return d.snapshot.Load().permissions[name]
}

// RolePermissions returns a copy of the permissions of the named role, and
// false when there is no such role.
func (d *Directory) RolePermissions(role string) ([]string, bool) {
	def, ok := d.snapshot.Load().roles[role]
	return slices.Clone(def.Permissions), ok
}

// PutUser adds the user or replaces the entry with the same ID.
func (d *Directory) PutUser(u DirectoryUser) error {
	if u.ID == "" {
		return fmt.Errorf("%w: empty user ID", ErrInvalidArgument)
	}
	if u.TenantID == "" {
		return fmt.Errorf("%w: user %q has no tenant: set TenantID", ErrInvalidArgument, u.ID)
	}
	return d.change(func(s *directorySnapshot) error {
		def, ok := s.roles[u.Role]
		if !ok {
			return fmt.Errorf("%w: user %q has unknown role %q: use one of %q", ErrInvalidArgument, u.ID, u.Role, slices.Sorted(maps.Keys(s.roles)))
		}
		s.users[u.ID] = User{
			ID:          u.ID,
			TenantID:    u.TenantID,
			Role:        def.Level,
			Permissions: def.Permissions,
			Disabled:    u.Disabled,
			SSO:         u.SSO,
			Tenants:     slices.Clone(u.Tenants),
		}
		return nil
	})
}

// RemoveUser removes the user. Removing an unknown user does nothing.
func (d *Directory) RemoveUser(id string) {
	_ = d.change(func(s *directorySnapshot) error {
		delete(s.users, id)
		return nil
	})
}

func (d *Directory) change(fn func(*directorySnapshot) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.snapshot.Load()
	next := &directorySnapshot{
		roles:       old.roles,
		users:       maps.Clone(old.users),
		permissions: old.permissions,
	}
	if err := fn(next); err != nil {
		return err
	}
	d.snapshot.Store(next)
	return nil
}

// CachedPolicy wraps a Policy whose User calls are slow, such as one that
// asks a remote directory, and keeps each answer for a short time. The
// Manager's owner cascades call Forget, so a reported change takes effect
// at once; a change that is not reported takes effect within the TTL.
type CachedPolicy struct {
	policy  Policy
	clock   clock.Clock
	ttl     time.Duration
	maxSize int

	mu      sync.Mutex
	entries map[string]cachedUser
	// forgetCount counts the calls of Forget. A User call stores what it read
	// only if no Forget ran while it read, because the read may predate
	// the change that the Forget reports.
	forgetCount uint64
}

type cachedUser struct {
	user    User
	expires time.Time
}

// NewCachedPolicy returns a CachedPolicy that keeps at most maxSize users
// for at most ttl each. A nil clock means the real clock. Errors of the
// wrapped Policy are never cached.
func NewCachedPolicy(p Policy, ttl time.Duration, maxSize int, clk clock.Clock) *CachedPolicy {
	if clk == nil {
		clk = clock.New()
	}
	return &CachedPolicy{policy: p, clock: clk, ttl: ttl, maxSize: maxSize, entries: map[string]cachedUser{}}
}

// User implements Policy.
func (c *CachedPolicy) User(ctx context.Context, id string) (User, error) {
	now := c.clock.Now()
	c.mu.Lock()
	e, ok := c.entries[id]
	forgetCount := c.forgetCount
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.user, nil
	}

	u, err := c.policy.User(ctx, id)
	if err != nil {
		return User{}, err
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.forgetCount != forgetCount {
		return u, nil
	}
	if len(c.entries) >= c.maxSize {
		// Drop expired entries first, then arbitrary ones: the cache only
		// saves calls, so losing an entry costs one call to the Policy.
		for k, v := range c.entries {
			if !now.Before(v.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.maxSize {
				break
			}
			delete(c.entries, k)
		}
	}
	if c.maxSize > 0 {
		c.entries[id] = cachedUser{user: u, expires: now.Add(c.ttl)}
	}
	return u, nil
}

// ValidPermission implements Policy.
func (c *CachedPolicy) ValidPermission(name string) bool {
	return c.policy.ValidPermission(name)
}

// Forget drops the cached entry of the user. A User call that is reading
// from the wrapped Policy meanwhile returns what it read but does not
// cache it.
func (c *CachedPolicy) Forget(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.forgetCount++
	c.mu.Unlock()
}

// forgetter is implemented by policies that cache users, so that owner
// cascades can drop the stale entry.
type forgetter interface {
	Forget(id string)
}
