package apitoken

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"
)

// Backward-compatible tokens bridge an older scheme in which a client
// authenticated with a UUID and a secret key. ImportLegacy turns a user's
// UUID and secret into the user's single backward-compatible token: a
// token whose permissions are always the owner's current ones, which
// accepts both its own value (Verify) and the old pair (VerifyLegacy).
// Renewing the token ends the backward compatibility: from then on only
// its new value works.

// LegacyImport is one user's credentials of the older UUID + secret-key
// scheme, to be turned into a backward-compatible token.
type LegacyImport struct {
	// OwnerID is the user the credentials belong to.
	OwnerID string
	// UUID is the user's legacy UUID: 32 hexadecimal digits in any case,
	// with or without the hyphens of the 8-4-4-4-12 form. It is stored in
	// the lower-case hyphenated form.
	UUID string
	// Secret is the secret key in plain text, at most
	// MaxLegacySecretLength bytes. Give either Secret or SecretHash.
	Secret string
	// SecretHash is the stored hash of the secret key: a bcrypt string
	// ($2a$, $2b$ or $2y$), an argon2id string in the PHC format
	// ($argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>), or the
	// "sha256:<hex>" form that this package stores for a plain-text secret.
	SecretHash string
}

// LegacyImportResult is the outcome of one import.
type LegacyImportResult struct {
	OwnerID string
	// Token is the user's backward-compatible token.
	Token Token
	// Value is the token's own generated value, set only when the token
	// was created by this import.
	Value Value
	// Created is false when the UUID had been imported before and Token is
	// the existing token.
	Created bool
	// Err is the reason the import failed, in ImportLegacyBatch results.
	Err error
}

// legacyTokenName is the name of every imported token. Owners and
// administrators may rename it.
const legacyTokenName = "Backward-compatible token"

// ImportLegacy creates the backward-compatible token of a user from their
// legacy credentials, and returns it with its own value. The token has the
// owner's tenant, no permissions of its own and the expiry that
// Config.MaxLifetime imposes, if any.
//
// Importing a UUID that the user already holds returns the existing token
// with Created false and changes nothing, even when the secret differs: to
// replace the secret, delete the token and import again. ImportLegacy
// returns ErrConflict when the UUID belongs to another user, or when the
// user already has a backward-compatible token, under another UUID or
// renewed. It returns ErrSSO, ErrOwnerDisabled or ErrUnknownUser when the
// user signs in by SSO, is disabled or is unknown, and ErrInvalidArgument
// for malformed input.
//
// The Manager does not check who may import, which is the host's
// business. It only records actorID in the EventImported audit event.
func (m *Manager) ImportLegacy(ctx context.Context, actorID string, imp LegacyImport) (LegacyImportResult, error) {
	result := LegacyImportResult{OwnerID: imp.OwnerID}
	uuid, hash, err := checkLegacyImport(&imp)
	if err != nil {
		return result, err
	}
	owner, err := m.legacyOwner(ctx, imp.OwnerID)
	if err != nil {
		return result, err
	}

	if existing, found, err := m.findLegacyToken(ctx, uuid, owner.ID); err != nil || found {
		result.Token = existing.Token
		return result, err
	}

	now := m.now()
	expiresAt, err := m.checkExpiry(time.Time{}, now)
	if err != nil {
		return result, err
	}
	rec := Record{
		Token: Token{
			Name:               legacyTokenName,
			OwnerID:            owner.ID,
			TenantID:           owner.TenantID,
			BackwardCompatible: true,
			CreatedAt:          now,
			UpdatedAt:          now,
			ExpiresAt:          expiresAt,
		},
		LegacyUUID: uuid,
		LegacyHash: hash,
	}
	value, err := m.createLegacy(ctx, &rec)
	if errors.Is(err, ErrConflict) {
		// A concurrent import of the same UUID won the race: return its
		// token if it belongs to the same user.
		if existing, found, findErr := m.findLegacyToken(ctx, uuid, owner.ID); findErr != nil || found {
			result.Token = existing.Token
			return result, findErr
		}
	}
	if err != nil {
		return result, err
	}
	if err := m.withdrawDuplicate(ctx, &rec); err != nil {
		return result, err
	}
	if err := m.confirmOwner(ctx, &rec); err != nil {
		return result, err
	}

	m.audit(ctx, EventImported, &rec.Token, actorID, "", now)
	result.Token, result.Value, result.Created = *rec.Token.Clone(), value, true
	return result, nil
}

// checkLegacyImport checks the fields of an import and returns the
// canonical UUID and the hash to store.
func checkLegacyImport(imp *LegacyImport) (uuid, hash string, err error) {
	if imp.OwnerID == "" {
		return "", "", fmt.Errorf("%w: LegacyImport.OwnerID is empty: name the user the credentials belong to", ErrInvalidArgument)
	}
	uuid, ok := canonicalUUID(imp.UUID)
	if !ok {
		return "", "", fmt.Errorf("%w: LegacyImport.UUID of user %q is not a UUID (%d bytes): give 32 hexadecimal digits, with or without hyphens in the 8-4-4-4-12 form",
			ErrInvalidArgument, imp.OwnerID, len(imp.UUID))
	}
	switch {
	case imp.Secret == "" && imp.SecretHash == "":
		return "", "", fmt.Errorf("%w: LegacyImport of user %q has neither Secret nor SecretHash: give one of them", ErrInvalidArgument, imp.OwnerID)
	case imp.Secret != "" && imp.SecretHash != "":
		return "", "", fmt.Errorf("%w: LegacyImport of user %q has both Secret and SecretHash: give only one of them", ErrInvalidArgument, imp.OwnerID)
	case imp.SecretHash != "":
		if _, err := parseLegacyHash(imp.SecretHash); err != nil {
			return "", "", fmt.Errorf("%w: LegacyImport.SecretHash of user %q is invalid: %v", ErrInvalidArgument, imp.OwnerID, err)
		}
		return uuid, imp.SecretHash, nil
	case len(imp.Secret) > MaxLegacySecretLength:
		return "", "", fmt.Errorf("%w: LegacyImport.Secret of user %q has %d bytes: VerifyLegacy accepts at most %d",
			ErrInvalidArgument, imp.OwnerID, len(imp.Secret), MaxLegacySecretLength)
	case looksLikeHash(imp.Secret):
		return "", "", fmt.Errorf("%w: LegacyImport.Secret of user %q has the form of a password hash: pass a stored hash as SecretHash, so that the hash itself is not accepted as the secret",
			ErrInvalidArgument, imp.OwnerID)
	}
	return uuid, hashOfPlainSecret(imp.Secret), nil
}

// legacyOwner returns the user to import credentials for, who must be
// known, enabled and not signing in by SSO.
func (m *Manager) legacyOwner(ctx context.Context, ownerID string) (User, error) {
	var owner User
	err := m.activeUser(ctx, ownerID, &owner)
	if errors.Is(err, ErrUnknownUser) {
		return User{}, fmt.Errorf("import legacy credentials: %w: add the user to the directory first", err)
	}
	if err != nil {
		return User{}, err
	}
	return owner, nil
}

// findLegacyToken returns the owner's token that holds the UUID and true.
// It returns false when the UUID may be imported for the owner, and
// ErrConflict when the UUID belongs to another user or the owner has
// another backward-compatible token.
func (m *Manager) findLegacyToken(ctx context.Context, uuid, ownerID string) (Record, bool, error) {
	rec, err := m.store.LookupLegacy(ctx, uuid)
	switch {
	case err == nil && rec.OwnerID != ownerID:
		// The error leaves out the token, which the importer may not be
		// allowed to see.
		return Record{}, false, fmt.Errorf("%w: the legacy UUID given for user %q already belongs to another user: check the UUID", ErrConflict, ownerID)
	case err == nil:
		return rec, true, nil
	case !errors.Is(err, ErrNotFound):
		return Record{}, false, m.storeFailure(ctx, "import legacy credentials: lookup", err)
	}

	other, err := m.otherBackwardCompatible(ctx, ownerID, "")
	switch {
	case err != nil:
		return Record{}, false, err
	case other == nil:
		return Record{}, false, nil
	case other.LegacyUUID == uuid:
		// A concurrent import of the same UUID created it after the lookup.
		return *other, true, nil
	}
	return Record{}, false, errHasBackwardCompatible(ownerID, other)
}

// withdrawDuplicate deletes rec, just created, when its owner has another
// backward-compatible token that a concurrent import of another UUID
// created. Of two racing imports, at least the later one finds the other's
// token and withdraws its own, so at most one stays.
func (m *Manager) withdrawDuplicate(ctx context.Context, rec *Record) error {
	other, err := m.otherBackwardCompatible(ctx, rec.OwnerID, rec.ID)
	if err == nil && other == nil {
		return nil
	}
	if delErr := m.store.Delete(ctx, rec.ID); delErr != nil && !errors.Is(delErr, ErrNotFound) {
		return m.storeFailure(ctx, "withdraw duplicate backward-compatible token", delErr)
	}
	if err != nil {
		return err
	}
	return errHasBackwardCompatible(rec.OwnerID, other)
}

// otherBackwardCompatible returns a backward-compatible token of the owner
// other than the one with ID exceptID, or nil if there is none.
func (m *Manager) otherBackwardCompatible(ctx context.Context, ownerID, exceptID string) (*Record, error) {
	filter := Filter{OwnerID: ownerID, Limit: MaxPageSize}
	for {
		page, err := m.store.List(ctx, filter)
		if err != nil {
			return nil, m.storeFailure(ctx, "import legacy credentials: list", err)
		}
		for i := range page.Records {
			if rec := &page.Records[i]; rec.BackwardCompatible && rec.ID != exceptID {
				return rec, nil
			}
		}
		if page.Next == "" {
			return nil, nil
		}
		filter.After = page.Next
	}
}

// errHasBackwardCompatible returns the ErrConflict of an import for a user
// who already has the backward-compatible token rec.
func errHasBackwardCompatible(ownerID string, rec *Record) error {
	if rec.LegacyUUID == "" {
		return fmt.Errorf("%w: user %q already has backward-compatible token %s, renewed so that it no longer accepts legacy credentials: delete it to import new ones",
			ErrConflict, ownerID, rec.ID)
	}
	return fmt.Errorf("%w: user %q already has backward-compatible token %s under another legacy UUID: a user has at most one, so delete it to import other credentials",
		ErrConflict, ownerID, rec.ID)
}

// createLegacy gives rec a new ID and value and stores it. It returns a
// conflict without logging it as a store failure, because a concurrent
// import of the same UUID causes one.
func (m *Manager) createLegacy(ctx context.Context, rec *Record) (Value, error) {
	value, err := m.insert(ctx, rec)
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return "", fmt.Errorf("%w: another import of the same legacy UUID ran at the same time: retry", ErrConflict)
		}
		return "", m.storeFailure(ctx, "import legacy credentials: create", err)
	}
	return value, nil
}

// ImportLegacyBatch imports the credentials of many users and reports a
// result for each, in the order of imps. A failed import sets Err of its
// result and does not stop the others.
func (m *Manager) ImportLegacyBatch(ctx context.Context, actorID string, imps []LegacyImport) []LegacyImportResult {
	results := make([]LegacyImportResult, len(imps))
	for i := range imps {
		result, err := m.ImportLegacy(ctx, actorID, imps[i])
		result.Err = err
		results[i] = result
	}
	return results
}

// VerifyLegacy checks a legacy UUID and secret pair and returns the
// principal of the backward-compatible token they belong to. The UUID may
// have any case, with or without hyphens, because it is compared in its
// canonical form. The principal's owner is the owner of the token that holds the
// UUID, and its permissions are the owner's current ones.
//
// The steps are: parse the UUID and check the secret's length (ErrMalformed,
// without a store lookup), look the UUID up, check the secret against the
// stored hash, then check the status, the expiry and the owner as Verify
// does. An unknown UUID and a wrong secret both return ErrNotFound.
// Rejected credentials return an error for which IsCredentialError is
// true. Any other error is a failure of the store, the Policy or the
// context, and the request must be rejected as well.
//
// A successful check against a bcrypt or argon2id hash is remembered for
// Config.LegacyCacheTTL, so repeated requests with the same pair cost one
// store lookup and no slow hash. Every request still reads the record, so
// a disabled, renewed or deleted token is rejected at once.
//
// NOTE: an unknown UUID returns faster than a wrong secret for a slow hash,
// so response times tell whether a UUID was imported. Legacy UUIDs are
// assumed random; hosts should rate-limit failed attempts.
func (m *Manager) VerifyLegacy(ctx context.Context, uuid, secret string) (Principal, error) {
	canonical, ok := canonicalUUID(uuid)
	if !ok {
		return Principal{}, fmt.Errorf("%w: legacy UUID is not 32 hexadecimal digits, with or without hyphens in the 8-4-4-4-12 form", ErrMalformed)
	}
	if secret == "" || len(secret) > MaxLegacySecretLength {
		return Principal{}, fmt.Errorf("%w: legacy secret has %d bytes: expected 1 to %d", ErrMalformed, len(secret), MaxLegacySecretLength)
	}
	rec, err := m.store.LookupLegacy(ctx, canonical)
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Principal{}, ErrNotFound
		}
		return Principal{}, m.storeFailure(ctx, "verify legacy", err)
	}
	// Guard against a store whose lookup is looser than equality, and
	// against a record that is not a bridge token.
	if rec.LegacyUUID != canonical || !rec.BackwardCompatible {
		return Principal{}, ErrNotFound
	}
	match, err := m.matchLegacySecret(ctx, &rec, secret)
	if err != nil {
		return Principal{}, fmt.Errorf("apitoken: verify legacy: %w", err)
	}
	if !match {
		return Principal{}, ErrNotFound
	}
	cred := rec.Credential()
	return m.authenticate(ctx, &cred, MethodLegacy)
}

// matchLegacySecret reports whether secret matches the record's stored
// hash. A secret equal to the stored hash string never matches, so that
// the hash itself, should it leak, is no credential.
func (m *Manager) matchLegacySecret(ctx context.Context, rec *Record, secret string) (bool, error) {
	if subtle.ConstantTimeCompare([]byte(secret), []byte(rec.LegacyHash)) == 1 {
		return false, nil
	}
	parse := func() (legacyHash, bool) {
		h, err := parseLegacyHash(rec.LegacyHash)
		if err != nil {
			m.log.WarnContext(ctx, "apitoken: stored legacy hash has an unknown format: delete the token and import its credentials again",
				"token", rec.ID, "error", err)
			return legacyHash{}, false
		}
		return h, true
	}
	if !isSlowHash(rec.LegacyHash) {
		h, ok := parse()
		return ok && h.matches(secret), nil
	}
	return m.legacy.check(ctx, rec, secret, func() bool {
		h, ok := parse()
		return ok && h.matches(secret)
	})
}
