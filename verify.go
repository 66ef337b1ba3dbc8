package apitoken

import (
	"context"
	"errors"
	"fmt"
	"slices"
)

// Method is the kind of credentials a request authenticated with.
type Method string

// Methods of a Principal.
const (
	// MethodToken is a value in the token header, such as X-API-Token.
	MethodToken Method = "token"
	// MethodBearer is a value in an "Authorization: Bearer" header.
	MethodBearer Method = "bearer"
	// MethodLegacy is a legacy UUID and secret pair.
	MethodLegacy Method = "legacy"
)

// Principal is the result of a successful verification: who the request
// acts for and what it may do.
type Principal struct {
	TokenID  string
	OwnerID  string
	TenantID string
	Shared   bool
	// BackwardCompatible is true for the bridge tokens of the older UUID +
	// secret scheme, whichever credentials the request sent.
	BackwardCompatible bool
	Method             Method
	// Permissions are the effective permissions: those of the token that
	// its owner still holds at the moment of verification, sorted. For a
	// backward-compatible token they are the owner's current permissions.
	Permissions []string
}

// Has reports whether p holds the permission.
func (p Principal) Has(permission string) bool {
	_, found := slices.BinarySearch(p.Permissions, permission)
	return found
}

// Verify checks a token value and returns the principal it authenticates.
// The steps are: check the format and checksum, hash, look the digest up,
// then check the status, the expiry and the owner, and intersect the
// token's permissions with the owner's current ones.
//
// Rejected credentials return an error for which IsCredentialError is true
// (ErrMalformed, ErrNotFound, ErrExpired, ErrDisabled, ErrOwnerDisabled or
// ErrSSO). Any other error is a failure of the store or the Policy, and the
// request must be refused as well: verification fails closed.
//
// Verify makes no store write except, at most once per
// Config.LastUsedInterval, one batched write of last-used times.
func (m *Manager) Verify(ctx context.Context, value string) (Principal, error) {
	digest, err := m.format.digest(value)
	if err != nil {
		return Principal{}, err
	}
	// Calling the store here, not in a helper, saves a copy of the
	// Credential on every request.
	var cred Credential
	if m.credentials != nil {
		cred, err = m.credentials.LookupCredential(ctx, digest)
	} else {
		cred, err = m.credentialOfRecord(ctx, digest)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Principal{}, ErrNotFound
		}
		return Principal{}, m.storeFailure(ctx, "verify", err)
	}
	// The store found the record by digest; comparing again in constant
	// time guards against a store whose lookup is looser than equality.
	if !cred.Digest.equal(&digest) {
		return Principal{}, ErrNotFound
	}
	return m.authenticate(ctx, &cred, MethodToken)
}

// credentialOfRecord reads what verification needs of the record with the
// digest, from a store that is not a CredentialStore.
func (m *Manager) credentialOfRecord(ctx context.Context, digest Digest) (Credential, error) {
	rec, err := m.store.Lookup(ctx, digest)
	if err != nil {
		return Credential{}, err
	}
	return rec.Credential(), nil
}

// authenticate runs the checks that follow the lookup, for every kind of
// credential.
func (m *Manager) authenticate(ctx context.Context, cred *Credential, method Method) (Principal, error) {
	now := m.clock.Now()
	if cred.Disabled {
		return Principal{}, fmt.Errorf("%w: token %s was disabled (%s)", ErrDisabled, cred.ID, cred.DisabledReason)
	}
	if expired(cred.ExpiresAt, now) {
		return Principal{}, fmt.Errorf("%w: token %s expired at %s", ErrExpired, cred.ID, cred.ExpiresAt.Format(timeFormat))
	}

	var owner User
	if err := m.checkOwnerActive(ctx, cred.OwnerID, cred.ID, &owner); err != nil {
		return Principal{}, err
	}
	if owner.TenantID != cred.TenantID {
		return Principal{}, fmt.Errorf("%w: owner %q of token %s moved to another tenant", ErrOwnerDisabled, owner.ID, cred.ID)
	}

	perms := effectivePermissions(cred.Permissions, cred.BackwardCompatible, &owner)
	if len(perms) == 0 {
		return Principal{}, fmt.Errorf("%w: owner %q of token %s holds none of its permissions", ErrDisabled, owner.ID, cred.ID)
	}

	if m.lastUsed.touch(cred.ID, cred.LastUsedAt, now) {
		m.flushDue(ctx)
	}
	return Principal{
		TokenID:            cred.ID,
		OwnerID:            cred.OwnerID,
		TenantID:           cred.TenantID,
		Shared:             cred.Shared,
		BackwardCompatible: cred.BackwardCompatible,
		Method:             method,
		Permissions:        perms,
	}, nil
}

// effectivePermissions returns a new sorted list of the permissions of a
// token that its owner still holds: the owner's own permissions for a
// backward-compatible token.
func effectivePermissions(permissions []string, backwardCompatible bool, owner *User) []string {
	if backwardCompatible {
		return normalizeHeld(owner.Permissions)
	}
	held := make([]string, 0, len(permissions))
	for _, p := range permissions {
		if owner.HasPermission(p) {
			held = append(held, p)
		}
	}
	return held
}

// normalizeHeld returns a sorted copy of permissions without duplicates.
func normalizeHeld(permissions []string) []string {
	out := slices.Clone(permissions)
	slices.Sort(out)
	return slices.Compact(out)
}

const timeFormat = "2006-01-02T15:04:05.999999Z07:00"
