package main

import (
	"net/http"
	"testing"

	"github.com/apitoken/apitoken/memstore"
)

// TestRoleChangeEscalation checks that a tenant administrator can neither
// raise a user, themself included, above their own level nor change a
// global administrator.
func TestRoleChangeEscalation(t *testing.T) {
	e := newEnv(t, memstore.New())
	e.create(t, "gina", map[string]any{"permissions": []string{"attacks:read"}})

	tests := []struct {
		user, method, path string
		body               any
		status             int
	}{
		{"alice", "PUT", "/v1/users/alice/role", `{"role":"global_administrator"}`, http.StatusForbidden},
		{"alice", "PUT", "/v1/users/bob/role", `{"role":"global_administrator"}`, http.StatusForbidden},
		{"alice", "PUT", "/v1/users/dave/role", `{"role":"read_only"}`, http.StatusForbidden},
		{"alice", "POST", "/v1/users/dave/disable", nil, http.StatusForbidden},
		{"alice", "DELETE", "/v1/users/dave", nil, http.StatusForbidden},
		{"alice", "PUT", "/v1/users/bob/role", `{"role":"administrator"}`, http.StatusOK},
		{"dave", "PUT", "/v1/users/carol/role", `{"role":"global_administrator"}`, http.StatusOK},
	}
	for _, tt := range tests {
		r := e.as(t, tt.user, tt.method, tt.path, tt.body)
		if r.status != tt.status {
			t.Errorf("%s %s %s: status %d (%s), want %d", tt.user, tt.method, tt.path, r.status, r.errorMessage(), tt.status)
		}
	}

	r := e.as(t, "alice", "GET", "/v1/tokens", nil)
	expectStatus(t, "alice lists tokens", r, http.StatusOK)
	for _, tok := range decode[tokenList](t, r).Tokens {
		if tok.TenantID != "acme" {
			t.Errorf("alice of acme lists token %s of tenant %q", tok.ID, tok.TenantID)
		}
	}
}
