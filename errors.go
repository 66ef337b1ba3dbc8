package apitoken

import "errors"

// Errors returned by the Manager and by stores. Test for them with
// errors.Is: the returned error usually wraps one of them with details such
// as the token ID or the offending name. No error of this package ever holds
// a token value or a legacy secret.
var (
	// ErrMalformed is returned by Verify when a value does not have the
	// token format (wrong prefix, length, alphabet or checksum). No store
	// lookup is made for such a value.
	ErrMalformed = errors.New("apitoken: malformed token value")

	// ErrNotFound is returned when no token matches a value, a legacy UUID
	// or an ID, and when the actor may not see the token: callers learn
	// nothing of tokens they cannot see.
	ErrNotFound = errors.New("apitoken: token not found")

	// ErrExpired is returned when a token is used, enabled or renewed at or
	// after its expiry instant.
	ErrExpired = errors.New("apitoken: token expired")

	// ErrDisabled is returned when a disabled token is used or renewed.
	ErrDisabled = errors.New("apitoken: token disabled")

	// ErrOwnerDisabled is returned when the owner of a token, or the actor
	// of a management call, is disabled or no longer known to the Policy.
	ErrOwnerDisabled = errors.New("apitoken: user disabled")

	// ErrSSO is returned when a user who signs in by single sign-on tries to
	// create, list, reveal or renew tokens, when a token of such a user is
	// used or enabled, and when legacy credentials are imported for one.
	ErrSSO = errors.New("apitoken: user signs in by SSO")

	// ErrForbidden is returned when the actor can see a token but may not
	// perform the operation on it, or requests more than it holds.
	ErrForbidden = errors.New("apitoken: forbidden")

	// ErrConflict is returned when a change collides with a concurrent one
	// or with existing data: a concurrent renewal, a duplicate ID, digest or
	// legacy UUID. Retrying after reading the token again is safe.
	ErrConflict = errors.New("apitoken: conflict")

	// ErrInvalidArgument is returned for bad input: an empty or overlong
	// name, an unknown permission, an expiry in the past, a bad option.
	ErrInvalidArgument = errors.New("apitoken: invalid argument")

	// ErrValueNotRetained is returned by Reveal when the token value was not
	// stored sealed, because no sealing key was configured when it was
	// issued or the key that sealed it is no longer configured.
	ErrValueNotRetained = errors.New("apitoken: token value not retained")

	// ErrUnknownUser is returned by a Policy for a user ID it does not know.
	ErrUnknownUser = errors.New("apitoken: unknown user")
)

// IsCredentialError reports whether err means that the credentials
// presented to Verify or VerifyLegacy are not acceptable, as opposed to a
// failure of the store or the Policy. HTTP layers respond to the first with 401
// and anything else with 503, so that a failing store never lets a request
// through.
func IsCredentialError(err error) bool {
	return errors.Is(err, ErrMalformed) ||
		errors.Is(err, ErrNotFound) ||
		errors.Is(err, ErrExpired) ||
		errors.Is(err, ErrDisabled) ||
		errors.Is(err, ErrOwnerDisabled) ||
		errors.Is(err, ErrSSO)
}
