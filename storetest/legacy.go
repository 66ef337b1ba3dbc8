package storetest

import "testing"

// runLegacy checks backward-compatible tokens and the legacy UUID + secret
// bridge.
func runLegacy(t *testing.T, newStore NewStore) {}
