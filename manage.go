package apitoken

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"
)

// CreateRequest describes a token to create.
type CreateRequest struct {
	// Name is trimmed and must be 1 to MaxNameLength characters without
	// control characters.
	Name string
	// Permissions must be a non-empty subset of the actor's current
	// permissions.
	Permissions []string
	// ExpiresAt is the expiry instant; the zero time means no expiry. It
	// must lie in the future, and is kept to the microsecond.
	ExpiresAt time.Time
	// Shared makes a token that every administrator of the tenant may
	// reveal, renew and use. Only administrators may create one.
	Shared bool
}

// Create issues a new token owned by the actor, and returns its metadata
// and its value. Without a Keyring the value cannot be shown again. When
// the actor is disabled, deleted, moved to SSO or loses a requested
// permission while the token is created, Create deletes it again and
// returns an error, because an owner cascade running at the same time may
// have missed it.
func (m *Manager) Create(ctx context.Context, actorID string, req CreateRequest) (Token, Value, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return Token{}, "", err
	}
	if req.Shared && actor.Role == RoleMember {
		return Token{}, "", fmt.Errorf("%w: user %q is not an administrator, and only administrators may create shared tokens", ErrForbidden, actor.ID)
	}
	name, err := normalizeName(req.Name)
	if err != nil {
		return Token{}, "", err
	}
	perms, err := m.checkPermissions(req.Permissions, &actor)
	if err != nil {
		return Token{}, "", err
	}
	now := m.now()
	expiresAt, err := m.checkExpiry(req.ExpiresAt, now)
	if err != nil {
		return Token{}, "", err
	}

	rec := Record{Token: Token{
		Name:        name,
		OwnerID:     actor.ID,
		TenantID:    actor.TenantID,
		Shared:      req.Shared,
		Permissions: perms,
		CreatedAt:   now,
		UpdatedAt:   now,
		ExpiresAt:   expiresAt,
	}}
	value, err := m.insert(ctx, &rec)
	if err != nil {
		return Token{}, "", m.storeFailure(ctx, "create token", err)
	}
	if err := m.confirmOwner(ctx, &rec); err != nil {
		return Token{}, "", err
	}
	m.audit(ctx, EventCreated, &rec.Token, actor.ID, "", now)
	return *rec.Token.Clone(), value, nil
}

// insert gives rec a new ID and value and stores it. It returns the
// store's error as it is, for the caller to wrap.
func (m *Manager) insert(ctx context.Context, rec *Record) (Value, error) {
	id, err := newID(rec.CreatedAt)
	if err != nil {
		return "", err
	}
	rec.ID = id
	value, err := m.issueValue(rec)
	if err != nil {
		return "", err
	}
	if err := m.store.Create(ctx, rec); err != nil {
		return "", err
	}
	return value, nil
}

// confirmOwner reads the owner of rec, just created, again and deletes rec
// when the owner changed since the checks before the insert: disabled,
// deleted, moved to SSO or to another tenant, or stripped of one of the
// token's permissions. An owner cascade that ran between those checks and
// the insert did not see rec, and the host changes its directory before it
// reports the change, so this read sees the change whenever the cascade
// missed the token. A CachedPolicy serves no read older than the cascade's
// Forget, because it does not cache a read that was under way during one.
func (m *Manager) confirmOwner(ctx context.Context, rec *Record) error {
	var owner User
	err := m.checkOwnerActive(ctx, rec.OwnerID, rec.ID, &owner)
	if err == nil {
		switch {
		case owner.TenantID != rec.TenantID:
			err = fmt.Errorf("%w: user %q moved to another tenant while token %s was being created: retry", ErrConflict, owner.ID, rec.ID)
		case !rec.BackwardCompatible && len(effectivePermissions(rec.Permissions, false, &owner)) != len(rec.Permissions):
			err = fmt.Errorf("%w: the permissions of user %q changed while token %s was being created: retry", ErrConflict, owner.ID, rec.ID)
		default:
			return nil
		}
	}
	if delErr := m.store.Delete(ctx, rec.ID); delErr != nil && !errors.Is(delErr, ErrNotFound) {
		return m.storeFailure(ctx, "withdraw token of a changed owner", delErr)
	}
	return err
}

// recheckOwner reads the owner of t, just enabled or given new
// permissions, again. The owner may have been disabled, moved to SSO or,
// with checkPermissions, lost one of the token's permissions meanwhile.
// The host's owner cascade may then have run between the checks and the
// write, and left t alone because t was still disabled or within the old
// permissions. recheckOwner repeats that cascade, which changes t as the
// host's report would have, and returns ErrConflict. Enable passes false
// for checkPermissions, because enabling a token whose owner holds only
// some of its permissions is allowed.
func (m *Manager) recheckOwner(ctx context.Context, actorID string, t *Token, checkPermissions bool) error {
	owner, err := m.policy.User(ctx, t.OwnerID)
	if errors.Is(err, ErrUnknownUser) {
		// Verification rejects the token of an unknown owner, and
		// DeleteOwner deletes it.
		return nil
	}
	if err != nil {
		return m.storeFailure(ctx, "recheck owner: policy", err)
	}
	var change string
	switch {
	case owner.Disabled:
		change = "was disabled"
		_, err = m.DisableOwner(ctx, actorID, owner.ID)
	case owner.SSO:
		change = "moved to SSO"
		_, err = m.SwitchOwnerToSSO(ctx, actorID, owner.ID)
	case checkPermissions && !t.BackwardCompatible && len(effectivePermissions(t.Permissions, false, &owner)) != len(t.Permissions):
		change = "lost permissions"
		_, err = m.RestrictOwner(ctx, actorID, owner.ID, owner.Permissions)
	default:
		return nil
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: owner %q of token %s %s during the change, and the token was changed to match: read it again",
		ErrConflict, owner.ID, t.ID, change)
}

// issueValue generates a new value for rec and sets its digest and sealed
// copy.
func (m *Manager) issueValue(rec *Record) (Value, error) {
	value, digest, err := m.format.generate()
	if err != nil {
		return "", err
	}
	rec.Digest = digest
	rec.Sealed = nil
	if m.keyring != nil {
		if rec.Sealed, err = m.keyring.seal(rec.ID, value); err != nil {
			return "", err
		}
	}
	return value, nil
}

// Get returns the metadata of a token the actor may see.
func (m *Manager) Get(ctx context.Context, actorID, tokenID string) (Token, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return Token{}, err
	}
	rec, err := m.visible(ctx, &actor, tokenID)
	if err != nil {
		return Token{}, err
	}
	return rec.Token, nil
}

// ListOptions selects a page of List.
type ListOptions struct {
	// After is the cursor: TokenPage.Next of the previous page, or "".
	After string
	// Limit is the page size; 0 means DefaultPageSize, and it is capped
	// at MaxPageSize.
	Limit int
}

// TokenPage is one page of List.
type TokenPage struct {
	Tokens []Token
	// Next is the cursor of the following page, or "" on the last page.
	Next string
}

// List returns the tokens the actor may see, sorted by ID, which sorts by
// creation time: a member's own tokens, or every token of the tenants an
// administrator administers.
func (m *Manager) List(ctx context.Context, actorID string, opts ListOptions) (TokenPage, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return TokenPage{}, err
	}
	filter := Filter{After: opts.After, Limit: opts.Limit}
	switch {
	case actor.Role == RoleAdmin:
		filter.TenantIDs = []string{actor.TenantID}
	case actor.Role == RoleGlobalAdmin && len(actor.Tenants) == 0:
		filter.AllTenants = true
	case actor.Role == RoleGlobalAdmin:
		filter.TenantIDs = append([]string{actor.TenantID}, actor.Tenants...)
	default:
		filter.OwnerID = actor.ID
	}
	page, err := m.store.List(ctx, filter)
	if err != nil {
		if errors.Is(err, ErrInvalidArgument) {
			return TokenPage{}, err
		}
		return TokenPage{}, m.storeFailure(ctx, "list tokens", err)
	}
	out := TokenPage{Tokens: make([]Token, 0, len(page.Records)), Next: page.Next}
	for i := range page.Records {
		out.Tokens = append(out.Tokens, page.Records[i].Token)
	}
	return out, nil
}

// Reveal returns the value of a token, for its owner and, for a shared
// token, the administrators of its tenant. It returns ErrValueNotRetained
// when the value was not sealed.
func (m *Manager) Reveal(ctx context.Context, actorID, tokenID string) (Value, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return "", err
	}
	rec, err := m.visible(ctx, &actor, tokenID)
	if err != nil {
		return "", err
	}
	if !canUseValue(&actor, &rec.Token) {
		return "", fmt.Errorf("%w: token %s is a private token of user %q, and only its owner may reveal its value", ErrForbidden, rec.ID, rec.OwnerID)
	}
	if rec.Sealed == nil || m.keyring == nil {
		return "", fmt.Errorf("%w: token %s: its value was shown once when it was issued; renew the token to get a new value", ErrValueNotRetained, rec.ID)
	}
	value, err := m.keyring.open(rec.ID, rec.Sealed)
	if err != nil {
		return "", err
	}
	m.audit(ctx, EventRevealed, &rec.Token, actor.ID, "", m.now())
	return value, nil
}

// Renew gives a token a new value and returns it. The old value stops
// working at once; ID, name, permissions and expiry stay. Renewing a
// backward-compatible token ends its backward compatibility: its legacy
// UUID and secret are rejected from then on. Of two concurrent renewals of
// one token, one returns ErrConflict, so at most one new value is valid.
func (m *Manager) Renew(ctx context.Context, actorID, tokenID string) (Token, Value, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return Token{}, "", err
	}
	rec, err := m.visible(ctx, &actor, tokenID)
	if err != nil {
		return Token{}, "", err
	}
	if !canUseValue(&actor, &rec.Token) {
		return Token{}, "", fmt.Errorf("%w: token %s is a private token of user %q, and only its owner may renew it", ErrForbidden, rec.ID, rec.OwnerID)
	}
	now := m.now()
	if rec.Disabled {
		return Token{}, "", fmt.Errorf("%w: token %s is disabled: enable it before renewing", ErrDisabled, rec.ID)
	}
	if rec.ExpiredAt(now) {
		return Token{}, "", fmt.Errorf("%w: token %s expired at %s: set a new expiry before renewing", ErrExpired, rec.ID, rec.ExpiresAt.Format(timeFormat))
	}
	var owner User
	if err := m.checkOwnerActive(ctx, rec.OwnerID, rec.ID, &owner); err != nil {
		return Token{}, "", err
	}

	value, err := m.issueValue(&rec)
	if err != nil {
		return Token{}, "", err
	}
	rec.LegacyUUID, rec.LegacyHash = "", ""
	rec.UpdatedAt = now
	if err := m.store.Update(ctx, &rec); err != nil {
		if errors.Is(err, ErrConflict) {
			return Token{}, "", fmt.Errorf("%w: token %s changed while it was being renewed: read it again and retry", ErrConflict, rec.ID)
		}
		if errors.Is(err, ErrNotFound) {
			return Token{}, "", fmt.Errorf("%w: %q", ErrNotFound, rec.ID)
		}
		return Token{}, "", m.storeFailure(ctx, "renew token", err)
	}
	m.forgetToken(rec.ID)
	m.audit(ctx, EventRenewed, &rec.Token, actor.ID, "", now)
	return rec.Token, value, nil
}

// Disable disables a token. Disabling a disabled token changes nothing.
func (m *Manager) Disable(ctx context.Context, actorID, tokenID string) (Token, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return Token{}, err
	}
	rec, changed, err := m.modify(ctx, &actor, tokenID, func(rec *Record, now time.Time) (bool, error) {
		if rec.Disabled {
			return false, nil
		}
		rec.Disabled, rec.DisabledAt, rec.DisabledReason = true, now, ReasonManual
		return true, nil
	})
	if changed {
		m.forgetToken(rec.ID)
		m.audit(ctx, EventDisabled, &rec.Token, actor.ID, ReasonManual, rec.UpdatedAt)
	}
	return rec.Token, err
}

// Enable enables a disabled token and so cancels its purge. It fails when
// the token has expired (set a new expiry first), when its owner is
// disabled or signs in by SSO, and when its owner no longer holds any of
// its permissions. Enabling an active token changes nothing. When the
// owner is disabled or moved to SSO during the call, Enable disables the
// token again and returns ErrConflict.
func (m *Manager) Enable(ctx context.Context, actorID, tokenID string) (Token, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return Token{}, err
	}
	rec, changed, err := m.modify(ctx, &actor, tokenID, func(rec *Record, now time.Time) (bool, error) {
		if rec.ExpiredAt(now) {
			return false, fmt.Errorf("%w: token %s expired at %s: set a new expiry before enabling it", ErrExpired, rec.ID, rec.ExpiresAt.Format(timeFormat))
		}
		if !rec.Disabled {
			return false, nil
		}
		var owner User
		if err := m.checkOwnerActive(ctx, rec.OwnerID, rec.ID, &owner); err != nil {
			return false, err
		}
		if len(effectivePermissions(rec.Permissions, rec.BackwardCompatible, &owner)) == 0 {
			return false, fmt.Errorf("%w: owner %q of token %s holds none of its permissions: change its permissions before enabling it", ErrInvalidArgument, owner.ID, rec.ID)
		}
		rec.Disabled, rec.DisabledAt, rec.DisabledReason = false, time.Time{}, ""
		return true, nil
	})
	if changed {
		m.audit(ctx, EventEnabled, &rec.Token, actor.ID, "", rec.UpdatedAt)
		if err := m.recheckOwner(ctx, actor.ID, &rec.Token, false); err != nil {
			return Token{}, err
		}
	}
	return rec.Token, err
}

// UpdateRequest lists the changes of Update; nil fields stay unchanged.
type UpdateRequest struct {
	// Name is the new name, with the rules of CreateRequest.Name.
	Name *string
	// ExpiresAt is the new expiry; a pointer to the zero time removes the
	// expiry. A new expiry must lie in the future.
	ExpiresAt *time.Time
	// Permissions replaces the token's permissions. Only the owner may
	// change them, within the permissions they hold, and never on a
	// backward-compatible token.
	Permissions []string
}

// Update changes the name, expiry or permissions of a token.
func (m *Manager) Update(ctx context.Context, actorID, tokenID string, req UpdateRequest) (Token, error) {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return Token{}, err
	}
	var name string
	if req.Name != nil {
		if name, err = normalizeName(*req.Name); err != nil {
			return Token{}, err
		}
	}
	rec, changed, err := m.modify(ctx, &actor, tokenID, func(rec *Record, now time.Time) (bool, error) {
		changed := false
		if req.Permissions != nil {
			if rec.BackwardCompatible {
				return false, fmt.Errorf("%w: token %s is backward-compatible: its permissions follow its owner's role and cannot be changed; delete it and create a regular token to choose permissions", ErrInvalidArgument, rec.ID)
			}
			if rec.OwnerID != actor.ID {
				return false, fmt.Errorf("%w: only the owner %q may change the permissions of token %s", ErrForbidden, rec.OwnerID, rec.ID)
			}
			perms, err := m.checkPermissions(req.Permissions, &actor)
			if err != nil {
				return false, err
			}
			if !slices.Equal(perms, rec.Permissions) {
				rec.Permissions, changed = perms, true
			}
		}
		if req.Name != nil && name != rec.Name {
			rec.Name, changed = name, true
		}
		if req.ExpiresAt != nil {
			expiresAt, err := m.checkExpiry(*req.ExpiresAt, now)
			if err != nil {
				return false, err
			}
			if !expiresAt.Equal(rec.ExpiresAt) {
				rec.ExpiresAt, changed = expiresAt, true
			}
		}
		return changed, nil
	})
	if changed {
		m.forgetToken(rec.ID)
		m.audit(ctx, EventUpdated, &rec.Token, actor.ID, "", rec.UpdatedAt)
		if req.Permissions != nil {
			if err := m.recheckOwner(ctx, actor.ID, &rec.Token, true); err != nil {
				return Token{}, err
			}
		}
	}
	return rec.Token, err
}

// Delete deletes a token at once.
func (m *Manager) Delete(ctx context.Context, actorID, tokenID string) error {
	actor, err := m.actor(ctx, actorID)
	if err != nil {
		return err
	}
	rec, err := m.visible(ctx, &actor, tokenID)
	if err != nil {
		return err
	}
	if err := m.store.Delete(ctx, rec.ID); err != nil {
		if errors.Is(err, ErrNotFound) {
			return fmt.Errorf("%w: %q", ErrNotFound, rec.ID)
		}
		return m.storeFailure(ctx, "delete token", err)
	}
	m.forgetToken(rec.ID)
	m.audit(ctx, EventDeleted, &rec.Token, actor.ID, "", m.now())
	return nil
}

// maxAttempts bounds the retries of a read-modify-write cycle that lost a
// race with a concurrent change.
const maxAttempts = 4

// modify loads a token the actor may see, applies fn and stores the result
// with a version check, retrying when a concurrent change won the race.
// It reports whether anything was written.
func (m *Manager) modify(ctx context.Context, actor *User, id string, fn func(rec *Record, now time.Time) (bool, error)) (Record, bool, error) {
	for attempt := 1; ; attempt++ {
		rec, err := m.visible(ctx, actor, id)
		if err != nil {
			return Record{}, false, err
		}
		now := m.now()
		changed, err := fn(&rec, now)
		if err != nil || !changed {
			return rec, false, err
		}
		rec.UpdatedAt = now
		err = m.store.Update(ctx, &rec)
		switch {
		case err == nil:
			return rec, true, nil
		case errors.Is(err, ErrConflict) && attempt < maxAttempts:
			continue
		case errors.Is(err, ErrConflict):
			return Record{}, false, fmt.Errorf("%w: token %s keeps changing concurrently: retry later", ErrConflict, id)
		case errors.Is(err, ErrNotFound):
			return Record{}, false, fmt.Errorf("%w: %q", ErrNotFound, id)
		}
		return Record{}, false, m.storeFailure(ctx, "update token", err)
	}
}

// forgetToken drops anything this process remembers about the token, so
// that a change takes effect on the next verification.
func (m *Manager) forgetToken(id string) {
	if m.forgetHook != nil {
		m.forgetHook(id)
	}
}
