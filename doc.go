// Package apitoken gives the users of a Go service API tokens and
// authenticates requests with them.
//
// # Model
//
// A token belongs to an owner, a user of the host service, and to the
// owner's tenant, the company account the user works in. It carries a
// name, a set of permissions, an optional expiry and a status. Its value,
// the secret a client sends, is shown when the token is issued or renewed.
// The store keeps only the SHA-256 digest of the value. When the host
// configures a Keyring, the store also keeps a copy sealed with
// XChaCha20-Poly1305, so that authorised users can reveal the value later.
//
// The host tells the library about its users through a Policy: each user's
// tenant, role, current permissions, and whether they are disabled or sign
// in by SSO. Directory is a ready Policy filled from a table of roles. The
// Manager performs every operation and enforces the rules below; a Store
// keeps the records. The memstore package keeps them in memory, and the
// sqlstore package in SQLite, PostgreSQL or MySQL/MariaDB. Every store
// passes the conformance suite in the storetest package.
//
// # Values
//
// A value is a prefix (DefaultPrefix, "apt_", unless configured), 43
// characters of base62 carrying 256 bits from crypto/rand, and a 6-character
// checksum, 53 characters in all with the default prefix. The checksum is
// the CRC-32C (Castagnoli) of the prefix and the random part, in base62
// with the most significant digit first. Secret scanners find values with
// the pattern that ValuePattern returns:
//
//	\bapt_[0-9A-Za-z]{49}\b
//
// The checksum rejects typos and garbage before any store lookup. A value
// of 256 random bits cannot be guessed, so a fast hash protects it as well
// as a slow one: key-stretching functions such as PBKDF2, bcrypt or argon2
// would add milliseconds to every request and no security.
//
// # Verification
//
// Manager.Verify checks the format and checksum, hashes the value, looks
// the digest up with one indexed read, checks the status and the expiry,
// asks the Policy for the owner, and intersects the token's permissions
// with the owner's current ones. The result is a Principal. Because the
// owner is consulted on every verification, a demotion or a disabled user
// takes effect at once even if the host never reports it; a Policy must
// therefore answer from memory, and CachedPolicy wraps a slow one. No
// record is cached between verifications, so a disabled, renewed or deleted
// token is rejected on the very next request. The last-used time is kept in
// memory and written in one batch per Config.LastUsedInterval, so
// verification does not write to the store on every request. When the
// store or the Policy fails, verification fails: errors for which
// IsCredentialError is false mean "answer 503", never "let it through".
//
// # Rules
//
//   - Create: any user who is neither disabled nor an SSO user creates
//     tokens for themself. Permissions are a non-empty subset of the
//     creator's current permissions; unknown names are rejected. A name of
//     1 to 128 characters is required. An expiry must lie in the future.
//     Only administrators create shared tokens.
//   - Expiry: a token is valid strictly before its expiry instant. The zero
//     time means no expiry. Times are stored in UTC to the microsecond.
//   - Disable and enable: by hand at any time. Enabling fails for an
//     expired token (set a new expiry first), for a disabled or SSO owner,
//     and when the owner holds none of the token's permissions any more.
//   - Renew: a new value at any time; the old one stops working at once.
//     Of two concurrent renewals one fails with ErrConflict, so there is
//     never more than one valid value. Disabled and expired tokens are not
//     renewed.
//   - Purge: Manager.Purge deletes tokens that have been disabled or
//     expired for the retention period (DefaultRetention, 7 days), counted
//     from the earlier of the two instants. Enabling a token cancels its
//     purge. Manager.RunPurge runs it periodically.
//   - Owner cascades: DisableOwner, SwitchOwnerToSSO, RestrictOwner and
//     DeleteOwner apply a change of the host's directory to all of a
//     user's tokens in one store transaction. Disabled tokens stay disabled
//     when the user comes back, and removed permissions stay removed.
//   - Audit: every change reaches the Auditor with the token ID, owner,
//     tenant, actor, time and reason. No event, error or log line holds a
//     value or a secret.
//
// # Access
//
// "Administrator" below means a user whose role administers the token's
// tenant: an administrator of that tenant, or a global administrator whose
// tenants include it.
//
//	operation                        own token   other's private   other's shared
//	see in a listing, get metadata   owner       administrator     administrator
//	reveal the value, renew          owner       nobody            administrator
//	disable, enable, rename,
//	  change expiry, delete          owner       administrator     administrator
//	change permissions               owner       nobody            nobody
//
// A user who may not see a token gets ErrNotFound, so nobody learns of the
// existence of tokens they cannot see. A user who may see it but not
// perform the operation gets ErrForbidden. Disabled users and users who
// sign in by SSO may perform no operation at all.
//
// # Backward-compatible tokens
//
// Services that used a per-user UUID and secret key import those
// credentials with Manager.ImportLegacy. The result is one
// backward-compatible token per user, whose permissions are always the
// owner's current ones. Manager.VerifyLegacy authenticates the old pair
// as that token until the token is renewed. Legacy secrets stored as
// bcrypt or argon2id hashes are slow to check, so a successful check is
// remembered for Config.LegacyCacheTTL, keyed by a digest of the UUID, the
// secret and the stored hash. The record is still read on every request.
package apitoken
