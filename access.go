package apitoken

import (
	"context"
	"errors"
	"fmt"
)

// canSee, canUseValue and the checks in manage.go implement the access
// table of the package documentation.

func canSee(actor *User, t *Token) bool {
	return t.OwnerID == actor.ID || actor.Administers(t.TenantID)
}

func canUseValue(actor *User, t *Token) bool {
	return t.OwnerID == actor.ID || (t.Shared && actor.Administers(t.TenantID))
}

// activeUser loads the user with the ID into u after checking that they
// may have tokens: enabled and not signing in by SSO. It returns the
// Policy's ErrUnknownUser error as it is. It fills u in place because it
// runs on every verification, where each copy of a User counts.
func (m *Manager) activeUser(ctx context.Context, id string, u *User) error {
	var err error
	*u, err = m.policy.User(ctx, id)
	if err != nil {
		if errors.Is(err, ErrUnknownUser) {
			return err
		}
		return m.storeFailure(ctx, "policy", err)
	}
	if u.Disabled {
		return fmt.Errorf("%w: user %q is disabled", ErrOwnerDisabled, u.ID)
	}
	if u.SSO {
		return fmt.Errorf("%w: user %q signs in by SSO, and SSO users cannot have API tokens", ErrSSO, u.ID)
	}
	return nil
}

// actor returns the user performing a management operation, after checking
// that they may use the token features at all.
func (m *Manager) actor(ctx context.Context, actorID string) (User, error) {
	var u User
	if err := m.activeUser(ctx, actorID, &u); err != nil {
		return User{}, err
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

// checkOwnerActive loads the owner of the token into owner, or returns an
// error when the owner may not have usable tokens: disabled, signing in by
// SSO, or no longer known to the Policy, which counts as disabled. It runs
// on every verification, so it builds error text only on failure.
func (m *Manager) checkOwnerActive(ctx context.Context, ownerID, tokenID string, owner *User) error {
	err := m.activeUser(ctx, ownerID, owner)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ErrUnknownUser):
		return fmt.Errorf("%w: owner %q of token %s is not a known user", ErrOwnerDisabled, ownerID, tokenID)
	case errors.Is(err, ErrOwnerDisabled), errors.Is(err, ErrSSO):
		return fmt.Errorf("owner of token %s: %w", tokenID, err)
	}
	return err
}
