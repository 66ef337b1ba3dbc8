package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

func TestDemoUsers(t *testing.T) {
	f, err := loadUsers("")
	if err != nil {
		t.Fatal(err)
	}
	d, err := newUserDirectory(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id, tenant string
		role       apitoken.Role
		sso        bool
	}{
		{"alice", "acme", apitoken.RoleAdmin, false},
		{"bob", "acme", apitoken.RoleMember, false},
		{"carol", "acme", apitoken.RoleMember, false},
		{"erin", "acme", apitoken.RoleMember, true},
		{"gina", "globex", apitoken.RoleAdmin, false},
		{"dave", "acme", apitoken.RoleGlobalAdmin, false},
	} {
		u, err := d.policy.User(context.Background(), tt.id)
		if err != nil {
			t.Errorf("user %s: %v", tt.id, err)
			continue
		}
		if u.TenantID != tt.tenant || u.Role != tt.role || u.SSO != tt.sso || u.Disabled {
			t.Errorf("user %s: %+v, want tenant %s, role %s, SSO %v", tt.id, u, tt.tenant, tt.role, tt.sso)
		}
	}
	carol, _ := d.policy.User(context.Background(), "carol")
	if !slices.Equal(carol.Permissions, []string{"attacks:read", "rules:read"}) {
		t.Errorf("carol's permissions %q, want those of read_only", carol.Permissions)
	}
}

func TestUsersFileDisabledUser(t *testing.T) {
	f, err := parseUsers([]byte(`{"roles":{"viewer":["a:read"]},"users":[{"id":"zoe","tenant":"t","role":"viewer","disabled":true}]}`), "test")
	if err != nil {
		t.Fatal(err)
	}
	d, err := newUserDirectory(f)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := d.policy.User(context.Background(), "zoe"); err != nil || !u.Disabled || u.Role != apitoken.RoleMember {
		t.Errorf("zoe: %+v, %v; want a disabled member", u, err)
	}
}

func TestUsersFileErrors(t *testing.T) {
	tests := []struct {
		name, content, mention string
	}{
		{"malformed", `{"roles":`, "ends inside a JSON value"},
		{"syntax error", "{\n  \"roles\": {\"r\": []},\n  \"users\": [],\n}", "line 4, column 1"},
		{"array at top level", `[]`, "found a JSON array at the top level where an object is expected"},
		{"wrong field type", `{"roles":{"r":[]},"users":[{"id":"a","tenant":"t","role":"r","sso":"yes"}]}`, `found a JSON string in "users.sso" where true or false is expected`},
		{"unknown field", `{"roles":{"r":[]},"users":[],"groups":[]}`, `unknown field "groups" (the file has "roles" and "users"`},
		{"no roles", `{"users":[]}`, "no roles"},
		{"unknown role", `{"roles":{"r":[]},"users":[{"id":"a","tenant":"t","role":"admin"}]}`, `unknown role "admin"`},
		{"duplicate user", `{"roles":{"r":[]},"users":[{"id":"a","tenant":"t","role":"r"},{"id":"a","tenant":"u","role":"r"}]}`, `"a" is listed twice`},
		{"user without ID", `{"roles":{"r":[]},"users":[{"tenant":"t","role":"r"}]}`, `no "id"`},
		{"user without tenant", `{"roles":{"r":[]},"users":[{"id":"a","role":"r"}]}`, `no "tenant"`},
		{"trailing data", `{"roles":{"r":[]},"users":[]} []`, "more than one JSON value"},
		{"bad permission", `{"roles":{"r":[" x"]},"users":[]}`, "permission"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := parseUsers([]byte(tt.content), "users.json")
			if err == nil {
				_, err = newUserDirectory(f)
			}
			checkStartError(t, err, tt.mention)
		})
	}
}

func TestKeyringCreatedAndReused(t *testing.T) {
	dir := t.TempDir()
	first, created, err := loadKeyring(dir)
	if err != nil || !created {
		t.Fatalf("first load: created %v, error %v; want a new key", created, err)
	}
	info, err := os.Stat(filepath.Join(dir, sealingKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o600 {
		t.Errorf("key file mode %#o, want 0600", perm)
	}
	second, created, err := loadKeyring(dir)
	if err != nil || created {
		t.Fatalf("second load: created %v, error %v; want the existing key", created, err)
	}

	// A value sealed with the first keyring opens with the second, as
	// after a restart.
	users, err := loadUsers("")
	if err != nil {
		t.Fatal(err)
	}
	directory, err := newUserDirectory(users)
	if err != nil {
		t.Fatal(err)
	}
	store := memstore.New()
	before, err := apitoken.New(apitoken.Config{Store: store, Policy: directory.policy, Keyring: first})
	if err != nil {
		t.Fatal(err)
	}
	tok, value, err := before.Create(t.Context(), "bob", apitoken.CreateRequest{Name: "a", Permissions: []string{"attacks:read"}})
	if err != nil {
		t.Fatal(err)
	}
	after, err := apitoken.New(apitoken.Config{Store: store, Policy: directory.policy, Keyring: second})
	if err != nil {
		t.Fatal(err)
	}
	revealed, err := after.Reveal(t.Context(), "bob", tok.ID)
	if err != nil {
		t.Fatalf("reveal after reloading the key: %v", err)
	}
	if revealed != value {
		t.Error("revealed value mismatch after reloading the key")
	}
}

func TestKeyringRejectsBadFile(t *testing.T) {
	for _, tt := range []struct {
		name    string
		content string
		mode    os.FileMode
		mention string
	}{
		{"readable by others", strings.Repeat("ab", 32), 0o644, "chmod 600"},
		{"not hex", strings.Repeat("zz", 32), 0o600, "hex digits"},
		{"too short", "abcd", 0o600, "hex digits"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, sealingKeyFile)
			if err := os.WriteFile(path, []byte(tt.content), tt.mode); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, _, err := loadKeyring(dir)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Errorf("error %v, want one that mentions %q", err, tt.mention)
			}
		})
	}
}

// cancelOnLog is a log writer that cancels a context once a record
// contains a text.
type cancelOnLog struct {
	syncBuffer
	text   string
	cancel context.CancelFunc
}

func (w *cancelOnLog) Write(p []byte) (int, error) {
	if strings.Contains(string(p), w.text) {
		w.cancel()
	}
	return w.syncBuffer.Write(p)
}

func TestRunStopsOnCancel(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	logs := &cancelOnLog{text: "server started", cancel: cancel}
	if err := run(ctx, []string{"-addr", "127.0.0.1:0", "-data", dir}, logs); err != nil {
		t.Fatalf("run: %v", err)
	}
	for _, want := range []string{"server started", "shutting down", "server stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("logs lack %q", want)
		}
	}
	for _, name := range []string{sealingKeyFile, sqliteFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Errorf("no %s in the data folder: %v", name, err)
		}
	}
}

func TestRunRejectsBadSetup(t *testing.T) {
	dir := t.TempDir()
	badUsers := filepath.Join(dir, "users.json")
	if err := os.WriteFile(badUsers, []byte(`{"roles":{"r":[]},"users":[{"id":"a","tenant":"t","role":"boss"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name    string
		args    []string
		mention string
	}{
		{"unknown flag", []string{"-port", "80"}, "-port"},
		{"extra argument", []string{"serve"}, `"serve"`},
		{"missing users file", []string{"-users", filepath.Join(dir, "none.json")}, "none.json"},
		{"unknown role", []string{"-users", badUsers}, `unknown role "boss"`},
		{"unsupported database", []string{"-data", dir, "-db", "oracle://scott:tiger@db/orcl"}, `scheme "oracle"`},
		{"database without name", []string{"-data", dir, "-db", "mysql://root:secret@tcp(127.0.0.1:1)"}, "database name"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			err := run(context.Background(), tt.args, &logs)
			checkStartError(t, err, tt.mention)
		})
	}
}

// checkStartError fails unless err stops the start, mentions the given
// text and leaves out the passwords of the test's database URLs.
func checkStartError(t *testing.T, err error, mention string) {
	t.Helper()
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), mention) {
		t.Errorf("error %q does not mention %q", err, mention)
	}
	if strings.Contains(err.Error(), "tiger") || strings.Contains(err.Error(), "secret") {
		t.Errorf("error %q contains a database password", err)
	}
}
