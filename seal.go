package apitoken

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"regexp"

	"golang.org/x/crypto/chacha20poly1305"
)

// SealingKeySize is the size in bytes of a sealing key.
const SealingKeySize = chacha20poly1305.KeySize

var keyIDPattern = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,32}$`)

// Keyring holds the keys that seal token values, so that authorised actors
// can reveal a value after it was issued. Values are sealed with
// XChaCha20-Poly1305 under the current key. The token ID is bound to the
// ciphertext as additional data, so a sealed value copied to another
// record does not open. Older keys stay in the ring to open values sealed
// before a rotation; renewing a token seals its new value with the current
// key.
type Keyring struct {
	current string
	keys    map[string][]byte
}

// NewKeyring returns a Keyring that seals with the key named current. Key
// IDs are 1 to 32 characters of letters, digits, '.', '_' and '-', and
// every key is SealingKeySize random bytes.
func NewKeyring(current string, keys map[string][]byte) (*Keyring, error) {
	if _, ok := keys[current]; !ok {
		return nil, fmt.Errorf("%w: current sealing key %q is not among the keys given", ErrInvalidArgument, current)
	}
	k := &Keyring{current: current, keys: make(map[string][]byte, len(keys))}
	for id, key := range keys {
		if !keyIDPattern.MatchString(id) {
			return nil, fmt.Errorf("%w: sealing key ID %q: use 1 to 32 letters, digits, '.', '_' or '-'", ErrInvalidArgument, id)
		}
		if len(key) != SealingKeySize {
			return nil, fmt.Errorf("%w: sealing key %q has %d bytes: use %d random bytes", ErrInvalidArgument, id, len(key), SealingKeySize)
		}
		k.keys[id] = append([]byte(nil), key...)
	}
	return k, nil
}

// Format writes the current key ID and the number of keys, never the
// keys, for every verb of package fmt, so that a Keyring or a Config
// printed by mistake does not reveal them.
func (k Keyring) Format(f fmt.State, _ rune) {
	fmt.Fprintf(f, "apitoken.Keyring{current: %q, keys: %d [redacted]}", k.current, len(k.keys))
}

// LogValue returns the form that Format writes, for log/slog.
func (k Keyring) LogValue() slog.Value {
	return slog.StringValue(fmt.Sprint(k))
}

// NewSealingKey returns SealingKeySize bytes from crypto/rand.
func NewSealingKey() ([]byte, error) {
	key := make([]byte, SealingKeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("apitoken: reading random bytes: %w", err)
	}
	return key, nil
}

// seal encrypts value for the token with the current key. The result is
// the key ID length (1 byte), the key ID, the nonce and the ciphertext.
func (k *Keyring) seal(tokenID string, value Value) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(k.keys[k.current])
	if err != nil {
		return nil, fmt.Errorf("apitoken: sealing key %q: %w", k.current, err)
	}
	out := make([]byte, 0, 1+len(k.current)+aead.NonceSize()+len(value)+aead.Overhead())
	out = append(out, byte(len(k.current)))
	out = append(out, k.current...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("apitoken: reading random bytes: %w", err)
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, []byte(value), []byte(tokenID)), nil
}

// open decrypts a value sealed by seal for the same token ID.
func (k *Keyring) open(tokenID string, sealed []byte) (Value, error) {
	if len(sealed) < 1 || len(sealed) < 1+int(sealed[0]) {
		return "", fmt.Errorf("%w: sealed copy of token %s is truncated", ErrValueNotRetained, tokenID)
	}
	keyID := string(sealed[1 : 1+int(sealed[0])])
	key, ok := k.keys[keyID]
	if !ok {
		return "", fmt.Errorf("%w: token %s was sealed with key %q, which is not configured: add it to the keyring or renew the token", ErrValueNotRetained, tokenID, keyID)
	}
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return "", fmt.Errorf("apitoken: sealing key %q: %w", keyID, err)
	}
	rest := sealed[1+len(keyID):]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return "", fmt.Errorf("%w: sealed copy of token %s is truncated", ErrValueNotRetained, tokenID)
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], []byte(tokenID))
	if err != nil {
		return "", fmt.Errorf("%w: sealed copy of token %s does not open with key %q: it was altered or sealed for another token", ErrValueNotRetained, tokenID, keyID)
	}
	return Value(plain), nil
}
