package apitoken

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"regexp"
	"time"
	"unsafe"
)

// DefaultPrefix is the prefix of token values when Config.Prefix is empty.
const DefaultPrefix = "apt_"

const (
	// randomLength is the number of base62 characters of randomness in a
	// value: 43 characters carry 43*log2(62) = 256.03 bits.
	randomLength = 43
	// checksumLength is the number of base62 characters of the CRC-32C
	// checksum: 62^6 is larger than 2^32.
	checksumLength = 6

	base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

var prefixPattern = regexp.MustCompile(`^[a-z][a-z0-9]{0,15}_$`)

// ValuePattern returns the regular expression that matches token values
// issued with prefix, for secret scanners. For the default prefix it is
//
//	\bapt_[0-9A-Za-z]{49}\b
//
// The last 6 characters are a checksum, so a scanner can also reject random
// matches by checking it with CheckValue. An empty prefix means
// DefaultPrefix, as it does in Config.Prefix and CheckValue.
func ValuePattern(prefix string) string {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return `\b` + regexp.QuoteMeta(prefix) + fmt.Sprintf("[0-9A-Za-z]{%d}", randomLength+checksumLength) + `\b`
}

// Value is a token value: the secret a client sends. Its String, GoString
// and LogValue methods return a redacted form, so that a value passed to
// fmt or log/slog by mistake is not written out. Convert it with string()
// to send it to its owner.
type Value string

// String returns the redacted form of v: its prefix and "[redacted]".
func (v Value) String() string { return redact(string(v)) }

// GoString returns the redacted form of v, for the %#v verb.
func (v Value) GoString() string { return redact(string(v)) }

// LogValue returns the redacted form of v for log/slog.
func (v Value) LogValue() slog.Value { return slog.StringValue(redact(string(v))) }

func redact(s string) string {
	for i := 0; i < len(s) && i < 17; i++ {
		if s[i] == '_' {
			return s[:i+1] + "[redacted]"
		}
	}
	return "[redacted]"
}

// Digest is the SHA-256 digest of a token value: the only form in which a
// store keeps the value. Values carry 256 random bits, so a fast hash is as
// strong as a slow one here: nobody can guess a value, and a key-stretching
// function such as PBKDF2 or bcrypt would only add milliseconds to every
// request.
type Digest [sha256.Size]byte

// equal reports whether d and o are equal, in a time that does not depend
// on where they differ.
func (d *Digest) equal(o *Digest) bool {
	var diff uint64
	for i := 0; i < len(d); i += 8 {
		diff |= binary.LittleEndian.Uint64(d[i:]) ^ binary.LittleEndian.Uint64(o[i:])
	}
	return diff == 0
}

// String returns the digest in hexadecimal.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// format issues and parses token values with one prefix.
type format struct {
	prefix string
}

func newFormat(prefix string) (format, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if !prefixPattern.MatchString(prefix) {
		return format{}, fmt.Errorf("%w: token prefix %q: use 1 to 16 lower-case letters or digits, starting with a letter and followed by an underscore, such as %q",
			ErrInvalidArgument, prefix, DefaultPrefix)
	}
	return format{prefix: prefix}, nil
}

// generate returns a new random value and its digest.
func (f format) generate() (Value, Digest, error) {
	n := len(f.prefix)
	buf := make([]byte, n+randomLength+checksumLength)
	copy(buf, f.prefix)
	if err := randomBase62(buf[n : n+randomLength]); err != nil {
		return "", Digest{}, err
	}
	putChecksum(buf[n+randomLength:], crc32.Checksum(buf[:n+randomLength], castagnoli))
	return Value(buf), sha256.Sum256(buf), nil
}

// digest checks the format and checksum of value and returns its digest.
// It does not allocate, because it runs on every request.
func (f format) digest(value string) (Digest, error) {
	n := len(f.prefix)
	if len(value) != n+randomLength+checksumLength || value[:n] != f.prefix {
		return Digest{}, ErrMalformed
	}
	sum, ok := parseChecksum(value[n+randomLength:])
	if !ok || !isBase62(value[n:n+randomLength]) || checksum(value[:n+randomLength]) != sum {
		return Digest{}, ErrMalformed
	}
	var buf [16 + 1 + randomLength + checksumLength]byte
	copy(buf[:], value)
	return sha256.Sum256(buf[:len(value)]), nil
}

// CheckValue reports whether value has the format of a token value issued
// with prefix, including a valid checksum. It does not tell whether the
// token exists.
func CheckValue(prefix, value string) bool {
	f, err := newFormat(prefix)
	if err != nil {
		return false
	}
	_, err = f.digest(value)
	return err == nil
}

func randomBase62(dst []byte) error {
	// Rejection sampling keeps every character uniform: bytes of 248 and
	// above would make the first 8 characters more likely than the rest.
	var pool [64]byte
	used := len(pool)
	for i := 0; i < len(dst); {
		if used == len(pool) {
			if _, err := io.ReadFull(rand.Reader, pool[:]); err != nil {
				return fmt.Errorf("apitoken: reading random bytes: %w", err)
			}
			used = 0
		}
		b := pool[used]
		used++
		if b >= 248 {
			continue
		}
		dst[i] = base62[b%62]
		i++
	}
	return nil
}

// castagnoli is the table of CRC-32C, the checksum of values. CPUs compute
// it with one instruction per 8 bytes (SSE4.2 on amd64, the CRC32
// extension on arm64): hash/crc32 takes 7 ns for the 47 bytes of a value,
// against 25 ns for the IEEE CRC-32, on the machine of BENCHMARKS.md.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// checksum returns the CRC-32C of s. It hands hash/crc32 a view of the
// string's bytes instead of a copy: crc32 only reads them, and a copy
// would escape to the heap, which verification must not allocate for.
func checksum(s string) uint32 {
	return crc32.Checksum(unsafe.Slice(unsafe.StringData(s), len(s)), castagnoli)
}

func putChecksum(dst []byte, sum uint32) {
	v := uint64(sum)
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = base62[v%62]
		v /= 62
	}
}

func parseChecksum(s string) (uint32, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		d := base62Index(s[i])
		if d < 0 {
			return 0, false
		}
		v = v*62 + uint64(d)
	}
	if v > 0xFFFFFFFF {
		return 0, false
	}
	return uint32(v), true
}

// base62Values maps a byte to its base62 digit plus one, or to 0 for a
// byte outside the alphabet.
var base62Values = func() (t [256]byte) {
	for i := 0; i < len(base62); i++ {
		t[base62[i]] = byte(i + 1)
	}
	return t
}()

func base62Index(c byte) int {
	return int(base62Values[c]) - 1
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if base62Values[s[i]] == 0 {
			return false
		}
	}
	return true
}

// newID returns a token ID: "tok_" and 26 characters of Crockford base32
// holding the creation time in milliseconds and 80 random bits, so that IDs
// sort by creation time. An ID is public: it names a token in management
// calls, logs and audit events, and grants nothing.
func newID(now time.Time) (string, error) {
	var raw [16]byte
	binary.BigEndian.PutUint64(raw[:8], uint64(now.UnixMilli())<<16)
	if _, err := io.ReadFull(rand.Reader, raw[6:]); err != nil {
		return "", fmt.Errorf("apitoken: reading random bytes: %w", err)
	}
	const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
	hi := binary.BigEndian.Uint64(raw[:8])
	lo := binary.BigEndian.Uint64(raw[8:])
	out := make([]byte, 4+26)
	copy(out, "tok_")
	// 128 bits in 26 groups of 5 bits: the first group holds the top 3 bits.
	for i := 29; i >= 4; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out), nil
}

// Status is the state of a token at a given instant.
type Status string

// Token statuses. An expired token counts as disabled from its expiry
// instant, for listing and for the purge.
const (
	StatusActive   Status = "active"
	StatusDisabled Status = "disabled"
	StatusExpired  Status = "expired"
)

// Reason is the cause recorded when a token is disabled.
type Reason string

// Reasons recorded in Token.DisabledReason and in audit events.
const (
	ReasonManual        Reason = "manual"
	ReasonOwnerDisabled Reason = "owner_disabled"
	ReasonOwnerSSO      Reason = "owner_sso"
	ReasonNoPermissions Reason = "no_permissions"
	ReasonOwnerDeleted  Reason = "owner_deleted"
	ReasonRetention     Reason = "retention_elapsed"
)

// Token is the metadata of a token. It never holds the value. All times are
// in UTC, and a zero time means "not set": a token with a zero ExpiresAt
// never expires.
type Token struct {
	ID       string
	Name     string
	OwnerID  string
	TenantID string

	// Shared tokens are created by administrators, and every administrator
	// of the tenant may reveal, renew and use their value.
	Shared bool
	// BackwardCompatible tokens bridge an older UUID + secret scheme. Their
	// permissions are always the owner's current ones, and Permissions is
	// nil.
	BackwardCompatible bool
	// Permissions are sorted and free of duplicates.
	Permissions []string

	Disabled       bool
	DisabledReason Reason
	DisabledAt     time.Time

	CreatedAt  time.Time
	UpdatedAt  time.Time
	ExpiresAt  time.Time
	LastUsedAt time.Time
}

// Status returns the status of t at the instant now: disabled when disabled
// by hand or by a cascade, otherwise expired from its expiry instant on,
// otherwise active.
func (t Token) Status(now time.Time) Status {
	switch {
	case t.Disabled:
		return StatusDisabled
	case t.ExpiredAt(now):
		return StatusExpired
	}
	return StatusActive
}

// ExpiredAt reports whether t has an expiry and now is at or after it. A
// token is valid strictly before its expiry instant.
func (t Token) ExpiredAt(now time.Time) bool {
	return expired(t.ExpiresAt, now)
}

// expired reports whether an expiry is set and now is at or after it.
func expired(expiresAt, now time.Time) bool {
	return !expiresAt.IsZero() && !now.Before(expiresAt)
}

// InactiveSince returns the instant from which t stopped working: the
// earlier of its disabling and its expiry, or the zero time while it has
// neither. The purge counts the retention period from this instant.
func (t Token) InactiveSince() time.Time {
	var since time.Time
	if t.Disabled {
		since = t.DisabledAt
	}
	if !t.ExpiresAt.IsZero() && (since.IsZero() || t.ExpiresAt.Before(since)) {
		since = t.ExpiresAt
	}
	return since
}

// PurgeAt returns the instant from which the purge deletes t, given the
// retention period, or the zero time when t is not scheduled for deletion.
// A token whose expiry lies in the future is already scheduled: it will be
// deleted one retention period after it expires unless its expiry changes.
func (t Token) PurgeAt(retention time.Duration) time.Time {
	since := t.InactiveSince()
	if since.IsZero() {
		return time.Time{}
	}
	return since.Add(retention)
}

// Clone returns a deep copy of t.
func (t *Token) Clone() *Token {
	if t == nil {
		return nil
	}
	c := *t
	c.Permissions = cloneStrings(t.Permissions)
	return &c
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append(make([]string, 0, len(s)), s...)
}
