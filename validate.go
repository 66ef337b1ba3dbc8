package apitoken

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength is the maximum length of a token name, in characters.
const MaxNameLength = 128

// normalizeName trims the name and checks it: 1 to MaxNameLength
// characters of valid UTF-8 and no control characters.
func normalizeName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case !utf8.ValidString(name):
		return "", fmt.Errorf("%w: token name is not valid UTF-8", ErrInvalidArgument)
	case n == 0:
		return "", fmt.Errorf("%w: token name is empty: give the token a name of 1 to %d characters", ErrInvalidArgument, MaxNameLength)
	case n > MaxNameLength:
		return "", fmt.Errorf("%w: token name has %d characters: use at most %d", ErrInvalidArgument, n, MaxNameLength)
	}
	if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
		return "", fmt.Errorf("%w: token name %q contains a control character at byte %d: remove it", ErrInvalidArgument, name, i)
	}
	return name, nil
}

// normalizePermissions returns the permissions sorted and without
// duplicates, and rejects empty names.
func normalizePermissions(permissions []string) ([]string, error) {
	out := slices.Clone(permissions)
	slices.Sort(out)
	out = slices.Compact(out)
	for _, p := range out {
		if p == "" || strings.TrimSpace(p) != p || strings.IndexFunc(p, unicode.IsControl) >= 0 {
			return nil, fmt.Errorf("%w: permission %q is empty or has spaces or control characters", ErrInvalidArgument, p)
		}
	}
	return out, nil
}

// checkPermissions checks requested permissions for a token of owner:
// non-empty, known to the Policy and held by the owner. It returns them
// normalized.
func (m *Manager) checkPermissions(requested []string, owner *User) ([]string, error) {
	perms, err := normalizePermissions(requested)
	if err != nil {
		return nil, err
	}
	if len(perms) == 0 {
		return nil, fmt.Errorf("%w: no permissions requested: name at least one of the permissions you hold", ErrInvalidArgument)
	}
	var unknown, notHeld []string
	for _, p := range perms {
		switch {
		case !m.policy.ValidPermission(p):
			unknown = append(unknown, p)
		case !owner.HasPermission(p):
			notHeld = append(notHeld, p)
		}
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w: unknown permissions %q", ErrInvalidArgument, unknown)
	}
	if len(notHeld) > 0 {
		return nil, fmt.Errorf("%w: user %q does not hold permissions %q: a token can only carry permissions its owner holds", ErrForbidden, owner.ID, notHeld)
	}
	return perms, nil
}

// checkExpiry checks an expiry set at now: the zero time means none, any
// other time must lie in the future and within the maximum lifetime. It
// returns the expiry in UTC, truncated to the microsecond.
func (m *Manager) checkExpiry(expiresAt, now time.Time) (time.Time, error) {
	if expiresAt.IsZero() {
		if m.maxLifetime > 0 {
			return now.Add(m.maxLifetime), nil
		}
		return time.Time{}, nil
	}
	expiresAt = expiresAt.UTC().Truncate(time.Microsecond)
	if !expiresAt.After(now) {
		return time.Time{}, fmt.Errorf("%w: expiry %s is not in the future (now %s): give a later time, or none for a token that does not expire",
			ErrInvalidArgument, expiresAt.Format(timeFormat), now.Format(timeFormat))
	}
	if m.maxLifetime > 0 && expiresAt.After(now.Add(m.maxLifetime)) {
		return time.Time{}, fmt.Errorf("%w: expiry %s is more than the maximum lifetime %v away: give an expiry before %s",
			ErrInvalidArgument, expiresAt.Format(timeFormat), m.maxLifetime, now.Add(m.maxLifetime).Format(timeFormat))
	}
	return expiresAt, nil
}
