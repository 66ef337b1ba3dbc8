package main

import (
	"os"
	"testing"
)

func TestSQLiteFilesArePrivate(t *testing.T) {
	dir := t.TempDir()
	_, closeStore, _, err := openStore(t.Context(), "", dir)
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	defer func() {
		if err := closeStore(); err != nil {
			t.Errorf("close store: %v", err)
		}
	}()

	// The database, and its WAL and shared-memory files while it is open.
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) == 0 {
		t.Fatal("no SQLite file in the data folder")
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if mode := info.Mode().Perm(); mode != 0o600 {
			t.Errorf("%s has mode %v, want -rw-------", e.Name(), mode)
		}
	}
}
