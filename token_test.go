package apitoken

import (
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFormatRoundTrip(t *testing.T) {
	f, err := newFormat("")
	require.NoError(t, err)
	pattern := regexp.MustCompile(`^` + ValuePattern(DefaultPrefix) + `$`)
	seen := map[Value]bool{}
	for range 200 {
		value, digest, err := f.generate()
		require.NoError(t, err)
		assert.False(t, seen[value], "generated values repeat")
		seen[value] = true
		assert.True(t, pattern.MatchString(string(value)), "value does not match the scanner pattern")
		got, err := f.digest(string(value))
		require.NoError(t, err)
		assert.Equal(t, digest, got)
		assert.Equal(t, Digest(sha256.Sum256([]byte(value))), got)
	}
}

func TestFormatDetectsEverySingleTypo(t *testing.T) {
	f, err := newFormat("")
	require.NoError(t, err)
	value, _, err := f.generate()
	require.NoError(t, err)
	for i := len(DefaultPrefix); i < len(value); i++ {
		for _, c := range []byte(base62) {
			if c == value[i] {
				continue
			}
			typo := []byte(value)
			typo[i] = c
			_, err := f.digest(string(typo))
			if err == nil {
				t.Fatalf("a substitution at position %d passed the checksum", i)
			}
		}
	}
	swapped := []byte(value)
	i := len(DefaultPrefix)
	for swapped[i] == swapped[i+1] {
		i++
	}
	swapped[i], swapped[i+1] = swapped[i+1], swapped[i]
	_, err = f.digest(string(swapped))
	assert.ErrorIs(t, err, ErrMalformed, "a transposition passes the checksum")
}

func TestIsBase62TestsEveryByte(t *testing.T) {
	// Every byte value at every position of a random part, against the
	// alphabet itself.
	valid := strings.Repeat("0aZ", randomLength)[:randomLength]
	require.True(t, isBase62(valid))
	for i := range randomLength {
		for c := range 256 {
			s := valid[:i] + string([]byte{byte(c)}) + valid[i+1:]
			if got, want := isBase62(s), strings.IndexByte(base62, byte(c)) >= 0; got != want {
				t.Fatalf("isBase62 with byte %#x at position %d = %v, want %v", c, i, got, want)
			}
		}
	}
}

func TestDigestEqual(t *testing.T) {
	d := Digest(sha256.Sum256([]byte("value")))
	same := d
	require.True(t, d.equal(&same))
	for i := range d {
		for _, bit := range []byte{0x01, 0x80} {
			other := d
			other[i] ^= bit
			if d.equal(&other) {
				t.Fatalf("digests that differ in byte %d compare equal", i)
			}
		}
	}
}

func TestChecksumIsCRC32C(t *testing.T) {
	// The check value of CRC-32C: scanners that validate the checksum
	// of a value must compute the same.
	assert.Equal(t, uint32(0xE3069283), checksum("123456789"))
}

func TestFormatRejectsMalformed(t *testing.T) {
	f, err := newFormat("")
	require.NoError(t, err)
	value, _, err := f.generate()
	require.NoError(t, err)
	v := string(value)
	cases := map[string]string{
		"empty":           "",
		"prefix only":     DefaultPrefix,
		"upper prefix":    "APT_" + v[4:],
		"other prefix":    "apx_" + v[4:],
		"one short":       v[:len(v)-1],
		"one long":        v + "0",
		"dash in body":    v[:10] + "-" + v[11:],
		"space in body":   v[:10] + " " + v[11:],
		"non-ASCII":       v[:10] + "é" + v[12:],
		"checksum 2^32":   v[:len(v)-6] + "zzzzzz",
		"leading space":   " " + v[:len(v)-1],
		"trailing space":  v[1:] + " ",
		"NUL":             v[:10] + "\x00" + v[11:],
		"all zero":        DefaultPrefix + strings.Repeat("0", 49),
		"much too long":   strings.Repeat(v, 100),
		"lower-case body": DefaultPrefix + strings.ToLower(v[4:]),
	}
	for name, input := range cases {
		if input == v {
			continue
		}
		_, err := f.digest(input)
		assert.ErrorIs(t, err, ErrMalformed, name)
	}
}

func TestPrefixRules(t *testing.T) {
	for _, ok := range []string{"", "apt_", "a_", "acme2_", "abcdefghijklmnop_"} {
		_, err := newFormat(ok)
		assert.NoError(t, err, "prefix %q", ok)
	}
	for _, bad := range []string{"apt", "_", "Apt_", "1apt_", "ap-t_", "abcdefghijklmnopq_", "apt__", "a pt_"} {
		_, err := newFormat(bad)
		assert.ErrorIs(t, err, ErrInvalidArgument, "prefix %q", bad)
	}
}

func TestCustomPrefix(t *testing.T) {
	f, err := newFormat("acme_")
	require.NoError(t, err)
	value, _, err := f.generate()
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(value), "acme_"))
	assert.True(t, CheckValue("acme_", string(value)))
	assert.False(t, CheckValue(DefaultPrefix, string(value)))
	pattern := regexp.MustCompile(ValuePattern("acme_"))
	assert.True(t, pattern.MatchString(string(value)), "value does not match the scanner pattern")
}

func TestValuePatternEmptyPrefix(t *testing.T) {
	// An empty prefix means DefaultPrefix in Config.Prefix and CheckValue,
	// so a scanner that passes the configured prefix to both must find
	// the values that CheckValue accepts.
	f, err := newFormat("")
	require.NoError(t, err)
	value, _, err := f.generate()
	require.NoError(t, err)
	require.True(t, CheckValue("", string(value)))
	pattern := regexp.MustCompile(ValuePattern(""))
	assert.True(t, pattern.MatchString(string(value)), "ValuePattern(\"\") does not match a value that CheckValue(\"\") accepts")
	assert.Equal(t, ValuePattern(DefaultPrefix), ValuePattern(""))
}

func TestValueIsRedacted(t *testing.T) {
	f, err := newFormat("")
	require.NoError(t, err)
	value, _, err := f.generate()
	require.NoError(t, err)
	secret := string(value)[len(DefaultPrefix):]
	for i, out := range []string{
		fmt.Sprint(value),
		fmt.Sprintf("%v %s %q %+v %#v", value, value, value, value, value),
		fmt.Sprintf("%v", struct{ V Value }{value}),
		value.LogValue().String(),
	} {
		// The message omits out, which would show the secret.
		assert.False(t, strings.Contains(out, secret), "formatted output %d contains the value", i)
	}
	assert.Equal(t, "apt_[redacted]", value.String())
	assert.Equal(t, "[redacted]", Value("no prefix at all").String())
}

func TestIDsSortByCreation(t *testing.T) {
	base := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var ids []string
	for i := range 50 {
		id, err := newID(base.Add(time.Duration(i) * time.Millisecond))
		require.NoError(t, err)
		assert.Regexp(t, `^tok_[0-9A-HJKMNP-TV-Z]{26}$`, id)
		ids = append(ids, id)
	}
	assert.True(t, slices.IsSorted(ids), "IDs of later tokens sort later")
}

func TestTokenStatus(t *testing.T) {
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	cases := []struct {
		name  string
		token Token
		now   time.Time
		want  Status
		since time.Time
	}{
		{"active", Token{}, at, StatusActive, time.Time{}},
		{"before expiry", Token{ExpiresAt: at}, at.Add(-time.Nanosecond), StatusActive, at},
		{"at expiry", Token{ExpiresAt: at}, at, StatusExpired, at},
		{"disabled", Token{Disabled: true, DisabledAt: at}, at, StatusDisabled, at},
		{"disabled after expiry", Token{Disabled: true, DisabledAt: at.Add(time.Hour), ExpiresAt: at}, at.Add(2 * time.Hour), StatusDisabled, at},
		{"disabled before expiry", Token{Disabled: true, DisabledAt: at, ExpiresAt: at.Add(time.Hour)}, at, StatusDisabled, at},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, c.token.Status(c.now), c.name)
		assert.True(t, c.token.InactiveSince().Equal(c.since), c.name)
	}
	assert.True(t, Token{ExpiresAt: at}.PurgeAt(DefaultRetention).Equal(at.Add(DefaultRetention)))
	assert.True(t, Token{}.PurgeAt(DefaultRetention).IsZero())
}

func TestDigestDoesNotAllocate(t *testing.T) {
	f, err := newFormat("")
	require.NoError(t, err)
	value, _, err := f.generate()
	require.NoError(t, err)
	s := string(value)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := f.digest(s); err != nil {
			panic("valid value rejected")
		}
	})
	assert.Zero(t, allocs)
}

func FuzzParseValue(f *testing.F) {
	format, err := newFormat("")
	if err != nil {
		f.Fatal(err)
	}
	value, _, err := format.generate()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(value))
	f.Add("")
	f.Add(DefaultPrefix)
	f.Add(DefaultPrefix + strings.Repeat("z", 49))
	f.Fuzz(func(t *testing.T, input string) {
		digest, err := format.digest(input)
		if err != nil {
			if err != ErrMalformed {
				t.Fatalf("parse returned %v, want ErrMalformed", err)
			}
			return
		}
		if !strings.HasPrefix(input, DefaultPrefix) || len(input) != len(DefaultPrefix)+49 {
			t.Fatal("accepted a value of the wrong shape")
		}
		if digest != sha256.Sum256([]byte(input)) {
			t.Fatal("digest mismatch")
		}
		// Re-encoding the checksum of the body must give the input.
		body := input[:len(input)-checksumLength]
		sum := make([]byte, checksumLength)
		putChecksum(sum, crc32.Checksum([]byte(body), crc32.MakeTable(crc32.Castagnoli)))
		if body+string(sum) != input {
			t.Fatal("accepted a value whose checksum does not re-encode")
		}
	})
}
