package apitoken

import (
	"context"
	"errors"
)

// LegacyImport is one user's credentials of the older UUID + secret-key
// scheme, to be turned into a backward-compatible token.
type LegacyImport struct {
	// OwnerID is the user the credentials belong to.
	OwnerID string
	// UUID is the user's legacy UUID, in any case.
	UUID string
	// Secret is the secret key in plain text. Give either Secret or
	// SecretHash.
	Secret string
	// SecretHash is the stored hash of the secret key: a bcrypt string
	// ($2a$, $2b$ or $2y$) or an argon2id string in the PHC format.
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

var errLegacyNotImplemented = errors.New("apitoken: legacy credentials are not implemented yet")

// ImportLegacy creates the backward-compatible token of a user from their
// legacy credentials.
func (m *Manager) ImportLegacy(ctx context.Context, actorID string, imp LegacyImport) (LegacyImportResult, error) {
	return LegacyImportResult{}, errLegacyNotImplemented
}

// ImportLegacyBatch imports the credentials of many users and reports a
// result for each.
func (m *Manager) ImportLegacyBatch(ctx context.Context, actorID string, imps []LegacyImport) []LegacyImportResult {
	return nil
}

// VerifyLegacy checks a legacy UUID and secret pair and returns the
// principal of the backward-compatible token they belong to.
func (m *Manager) VerifyLegacy(ctx context.Context, uuid, secret string) (Principal, error) {
	return Principal{}, errLegacyNotImplemented
}
