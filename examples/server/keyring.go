package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/apitoken/apitoken"
)

// sealingKeyFile is the name of the sealing key file in the data folder.
const sealingKeyFile = "sealing.key"

// loadKeyring reads the sealing key from the data folder, or generates
// one there with file mode 0600 on first run. The key lets owners reveal
// token values after they were issued, so losing it makes those values
// unrevealable (renewing a token issues a new one).
func loadKeyring(dataDir string) (*apitoken.Keyring, bool, error) {
	path := filepath.Join(dataDir, sealingKeyFile)
	key, err := readSealingKey(path)
	created := false
	if errors.Is(err, fs.ErrNotExist) {
		key, err = createSealingKey(path)
		created = true
	}
	if err != nil {
		return nil, false, err
	}

	// The key ID is stored next to every sealed value. Deriving it from
	// the key makes a replaced key file fail with "sealed with key X,
	// which is not configured" instead of a decryption error.
	sum := sha256.Sum256(key)
	id := "key-" + hex.EncodeToString(sum[:4])
	keyring, err := apitoken.NewKeyring(id, map[string][]byte{id: key})
	if err != nil {
		return nil, false, err
	}
	return keyring, created, nil
}

func readSealingKey(path string) ([]byte, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("sealing key %s is accessible to other users (mode %#o): run chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read sealing key: %w", err)
	}
	key, err := hex.DecodeString(string(bytes.TrimSpace(data)))
	if err != nil || len(key) != apitoken.SealingKeySize {
		return nil, fmt.Errorf("sealing key %s does not contain %d hex digits: restore it from a backup, or delete it to generate a new key (stored token values then cannot be revealed any more)",
			path, 2*apitoken.SealingKeySize)
	}
	return key, nil
}

func createSealingKey(path string) ([]byte, error) {
	key, err := apitoken.NewSealingKey()
	if err != nil {
		return nil, err
	}
	// O_EXCL makes a second server starting at the same moment fail
	// instead of overwriting the key that the first one uses.
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create sealing key: %w", err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		return nil, fmt.Errorf("write sealing key %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("write sealing key %s: %w", path, err)
	}
	return key, nil
}
