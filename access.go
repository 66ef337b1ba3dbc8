package apitoken

import (
	"context"
	"errors"
	"fmt"
)

// canSee, canUseValue and the checks in manage.go implement the access
// table of the package documentation.

func canSee(actor *User, t *Token) bool {
	return t.OwnerID == actor.ID || actor.administers(t.TenantID)
}

func canUseValue(actor *User, t *Token) bool {
	return t.OwnerID == actor.ID || (t.Shared && actor.administers(t.TenantID))
}

// actor returns the user performing a management operation, after checking
// that they may use the token features at all.
func (m *Manager) actor(ctx context.Context, actorID string) (User, error) {
	u, err := m.policy.User(ctx, actorID)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return User{}, err
		}
		return User{}, m.storeFailure(ctx, "policy", err)
	}
	if u.Disabled {
		return User{}, fmt.Errorf("%w: user %q is disabled and cannot manage tokens", ErrOwnerDisabled, u.ID)
	}
	if u.SSO {
		return User{}, fmt.Errorf("%w: user %q signs in by SSO, and SSO users cannot have or manage API tokens", ErrSSO, u.ID)
	}
	return u, nil
}

// visible loads the token with the given ID for the actor, and returns
// ErrNotFound when it does not exist or the actor may not see it.
func (m *Manager) visible(ctx context.Context, actor *User, id string) (Record, error) {
	rec, err := m.store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) || (err == nil && !canSee(actor, &rec.Token)) {
		return Record{}, fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	if err != nil {
		return Record{}, m.storeFailure(ctx, "get token", err)
	}
	return rec, nil
}

// checkOwnerActive returns an error when the owner of the token may not
// have usable tokens: disabled, unknown or signing in by SSO.
func (m *Manager) checkOwnerActive(ctx context.Context, t *Token) (User, error) {
	owner, err := m.policy.User(ctx, t.OwnerID)
	if errors.Is(err, ErrUnknownUser) {
		return User{}, fmt.Errorf("%w: owner %q of token %s is not a known user", ErrOwnerDisabled, t.OwnerID, t.ID)
	}
	if err != nil {
		return User{}, m.storeFailure(ctx, "policy", err)
	}
	if owner.Disabled {
		return User{}, fmt.Errorf("%w: owner %q of token %s is disabled", ErrOwnerDisabled, owner.ID, t.ID)
	}
	if owner.SSO {
		return User{}, fmt.Errorf("%w: owner %q of token %s signs in by SSO", ErrSSO, owner.ID, t.ID)
	}
	return owner, nil
}
