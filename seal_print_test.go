package apitoken_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

func TestKeyringPrintsNoKey(t *testing.T) {
	key := bytes.Repeat([]byte{0xab}, apitoken.SealingKeySize)
	ring, err := apitoken.NewKeyring("k1", map[string][]byte{"k1": key})
	require.NoError(t, err)
	cfg := apitoken.Config{Keyring: ring}

	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "keyring", ring)
	outputs := map[string]string{
		"%v":         fmt.Sprintf("%v", ring),
		"%+v":        fmt.Sprintf("%+v", ring),
		"%#v":        fmt.Sprintf("%#v", ring),
		"%v *":       fmt.Sprintf("%v", *ring),
		"%+v *":      fmt.Sprintf("%+v", *ring),
		"%#v *":      fmt.Sprintf("%#v", *ring),
		"%x *":       fmt.Sprintf("%x", *ring),
		"%+v config": fmt.Sprintf("%+v", cfg),
		"slog":       logs.String(),
	}
	for verb, out := range outputs {
		// The key is 0xab bytes: 171 in decimal, ab in hexadecimal.
		if strings.Contains(out, "171 171") || strings.Contains(out, "abab") || strings.Contains(out, "0xab, 0xab") {
			t.Errorf("%s output of a Keyring contains the sealing key", verb)
		}
	}
}
