package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// forEachBackend runs fn on a fresh service for every backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			fn(t, newEnv(t, b.open(t)))
		})
	}
}

func TestTokenLifecycle(t *testing.T) { forEachBackend(t, testTokenLifecycle) }

func testTokenLifecycle(t *testing.T, e *env) {
	tok, value := e.create(t, "bob", map[string]any{"name": "ci", "permissions": []string{"attacks:read", "attacks:write"}})
	if tok.OwnerID != "bob" || tok.TenantID != "acme" || tok.Status != "active" || tok.Shared {
		t.Errorf("created token %+v, want an active private token of bob in acme", tok)
	}
	if !slices.Equal(tok.Permissions, []string{"attacks:read", "attacks:write"}) {
		t.Errorf("permissions %q, want attacks:read and attacks:write", tok.Permissions)
	}
	if tok.CreatedAt != "2030-01-02T03:04:05Z" {
		t.Errorf("created_at %q, want the mock clock's 2030-01-02T03:04:05Z", tok.CreatedAt)
	}

	// The token authenticates in both headers.
	r := e.withToken(t, "GET", "/v1/whoami", value)
	expectStatus(t, "whoami with X-API-Token", r, http.StatusOK)
	who := decode[principalJSON](t, r)
	if who.TokenID != tok.ID || who.OwnerID != "bob" || who.Method != "token" {
		t.Errorf("whoami %+v, want token %s of bob by method token", who, tok.ID)
	}
	r = e.request(t, "GET", "/v1/whoami", nil, "Authorization", "Bearer "+value)
	expectStatus(t, "whoami with Bearer", r, http.StatusOK)
	if got := decode[principalJSON](t, r).Method; got != "bearer" {
		t.Errorf("whoami method %q, want bearer", got)
	}
	expectStatus(t, "attacks", e.withToken(t, "GET", "/v1/attacks", value), http.StatusOK)
	r = e.request(t, "POST", "/v1/rules", `{"name":"block"}`, "X-API-Token", value)
	expectStatus(t, "rules without rules:write", r, http.StatusForbidden)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="insufficient_scope"`) {
		t.Errorf("WWW-Authenticate %q, want insufficient_scope", got)
	}

	// Metadata never carries the value.
	r = e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil)
	expectStatus(t, "get token", r, http.StatusOK)
	if strings.Contains(string(r.body), value) || strings.Contains(string(r.body), `"value"`) {
		t.Error("token metadata contains a value")
	}
	r = e.as(t, "bob", "GET", "/v1/tokens", nil)
	expectStatus(t, "list tokens", r, http.StatusOK)
	if strings.Contains(string(r.body), value) {
		t.Error("token listing contains a value")
	}

	r = e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID+"/value", nil)
	expectStatus(t, "reveal", r, http.StatusOK)
	if decode[struct{ Value string }](t, r).Value != value {
		t.Error("revealed value mismatch")
	}

	// Renewing keeps the ID and stops the old value at once.
	r = e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/renew", nil)
	expectStatus(t, "renew", r, http.StatusOK)
	renewed := decode[issuedToken](t, r)
	e.remember(renewed.Value)
	if renewed.Token.ID != tok.ID || renewed.Value == value || renewed.Value == "" {
		t.Error("renew did not issue a new value for the same token ID")
	}
	expectStatus(t, "old value after renew", e.withToken(t, "GET", "/v1/whoami", value), http.StatusUnauthorized)
	expectStatus(t, "new value after renew", e.withToken(t, "GET", "/v1/whoami", renewed.Value), http.StatusOK)
	value = renewed.Value

	// Disable and enable.
	r = e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/disable", nil)
	expectStatus(t, "disable", r, http.StatusOK)
	disabled := decode[tokenJSON](t, r)
	if disabled.Status != "disabled" || disabled.DisabledReason != "manual" || disabled.DisabledAt == "" {
		t.Errorf("disabled token %+v, want status disabled, reason manual and disabled_at", disabled)
	}
	if want := "2030-01-09T03:04:05Z"; disabled.PurgeAt != want {
		t.Errorf("purge_at %q, want %s, 7 days after disabling", disabled.PurgeAt, want)
	}
	r = e.withToken(t, "GET", "/v1/whoami", value)
	expectStatus(t, "disabled token", r, http.StatusUnauthorized)
	if got := r.header.Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate %q, want invalid_token", got)
	}
	r = e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/enable", nil)
	expectStatus(t, "enable", r, http.StatusOK)
	if got := decode[tokenJSON](t, r); got.Status != "active" || got.DisabledAt != "" || got.PurgeAt != "" {
		t.Errorf("enabled token %+v, want active without disabled_at and purge_at", got)
	}
	expectStatus(t, "enabled token", e.withToken(t, "GET", "/v1/whoami", value), http.StatusOK)

	// Update name, expiry and permissions.
	r = e.as(t, "bob", "PATCH", "/v1/tokens/"+tok.ID, `{"name":"deploy bot","expires_at":"2030-02-01T00:00:00Z","permissions":["attacks:read"]}`)
	expectStatus(t, "update", r, http.StatusOK)
	updated := decode[tokenJSON](t, r)
	if updated.Name != "deploy bot" || updated.ExpiresAt != "2030-02-01T00:00:00Z" || !slices.Equal(updated.Permissions, []string{"attacks:read"}) {
		t.Errorf("updated token %+v, want the new name, expiry and permissions", updated)
	}
	if updated.PurgeAt != "2030-02-08T00:00:00Z" {
		t.Errorf("purge_at %q, want 7 days after the expiry", updated.PurgeAt)
	}
	r = e.as(t, "bob", "PATCH", "/v1/tokens/"+tok.ID, `{"expires_at":null}`)
	expectStatus(t, "remove expiry", r, http.StatusOK)
	if got := decode[map[string]any](t, r); got["expires_at"] != nil || got["purge_at"] != nil || got["name"] != "deploy bot" {
		t.Errorf("token after removing the expiry %v, want no expires_at and purge_at and the name kept", got)
	}
	r = e.request(t, "POST", "/v1/rules", `{}`, "X-API-Token", value)
	expectStatus(t, "rules after update", r, http.StatusForbidden)
	r = e.withToken(t, "GET", "/v1/whoami", value)
	if got := decode[principalJSON](t, r).Permissions; !slices.Equal(got, []string{"attacks:read"}) {
		t.Errorf("whoami permissions %q after update, want attacks:read", got)
	}

	r = e.as(t, "bob", "DELETE", "/v1/tokens/"+tok.ID, nil)
	expectStatus(t, "delete", r, http.StatusNoContent)
	expectStatus(t, "get deleted token", e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil), http.StatusNotFound)
	expectStatus(t, "deleted token", e.withToken(t, "GET", "/v1/whoami", value), http.StatusUnauthorized)
}

func TestTokenJSONShape(t *testing.T) { forEachBackend(t, testTokenJSONShape) }

func testTokenJSONShape(t *testing.T, e *env) {
	tok, _ := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
	r := e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil)
	expectStatus(t, "get token", r, http.StatusOK)
	got := decode[map[string]any](t, r)
	for _, field := range []string{"id", "name", "owner_id", "tenant_id", "shared", "backward_compatible", "permissions", "status", "created_at"} {
		if _, ok := got[field]; !ok {
			t.Errorf("token JSON has no field %q", field)
		}
	}
	for _, field := range []string{"expires_at", "disabled_at", "last_used_at", "purge_at", "disabled_reason", "value"} {
		if _, ok := got[field]; ok {
			t.Errorf("token JSON of a fresh token has field %q, want it left out", field)
		}
	}
	if len(got) != 9 {
		t.Errorf("token JSON has %d fields, want 9", len(got))
	}
}

func TestVisibility(t *testing.T) { forEachBackend(t, testVisibility) }

func testVisibility(t *testing.T, e *env) {
	bobs, _ := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
	carols, _ := e.create(t, "carol", map[string]any{"permissions": []string{"rules:read"}})
	alicesShared, sharedValue := e.create(t, "alice", map[string]any{"permissions": []string{"nodes:deploy"}, "shared": true})
	alicesPrivate, _ := e.create(t, "alice", map[string]any{"permissions": []string{"rules:read"}})
	ginas, _ := e.create(t, "gina", map[string]any{"permissions": []string{"rules:write"}})

	listed := func(user string) []string {
		t.Helper()
		r := e.as(t, user, "GET", "/v1/tokens", nil)
		expectStatus(t, "list as "+user, r, http.StatusOK)
		var ids []string
		for _, tok := range decode[tokenList](t, r).Tokens {
			ids = append(ids, tok.ID)
		}
		slices.Sort(ids)
		return ids
	}
	sorted := func(ids ...string) []string { slices.Sort(ids); return ids }
	acme := sorted(bobs.ID, carols.ID, alicesShared.ID, alicesPrivate.ID)
	for _, tt := range []struct {
		user string
		want []string
	}{
		{"alice", acme},
		{"dave", sorted(append(slices.Clone(acme), ginas.ID)...)},
		{"gina", sorted(ginas.ID)},
		{"carol", sorted(carols.ID)},
		{"bob", sorted(bobs.ID)},
	} {
		if got := listed(tt.user); !slices.Equal(got, tt.want) {
			t.Errorf("%s lists %q, want %q", tt.user, got, tt.want)
		}
	}

	tests := []struct {
		user, method, path string
		status             int
	}{
		// alice administers acme, so she may read and manage bob's
		// private token but not use its value.
		{"alice", "GET", "/v1/tokens/" + bobs.ID, http.StatusOK},
		{"alice", "GET", "/v1/tokens/" + bobs.ID + "/value", http.StatusForbidden},
		{"alice", "POST", "/v1/tokens/" + bobs.ID + "/renew", http.StatusForbidden},
		{"alice", "PATCH", "/v1/tokens/" + bobs.ID, http.StatusForbidden},
		{"alice", "GET", "/v1/tokens/" + ginas.ID, http.StatusNotFound},
		// gina of globex can read nothing of acme.
		{"gina", "GET", "/v1/tokens/" + bobs.ID, http.StatusNotFound},
		{"gina", "GET", "/v1/tokens/" + alicesShared.ID + "/value", http.StatusNotFound},
		{"gina", "POST", "/v1/tokens/" + bobs.ID + "/disable", http.StatusNotFound},
		{"gina", "DELETE", "/v1/tokens/" + bobs.ID, http.StatusNotFound},
		// dave is a global administrator.
		{"dave", "GET", "/v1/tokens/" + ginas.ID, http.StatusOK},
		{"dave", "GET", "/v1/tokens/" + alicesShared.ID + "/value", http.StatusOK},
		{"dave", "GET", "/v1/tokens/" + bobs.ID + "/value", http.StatusForbidden},
		{"dave", "GET", "/v1/tokens/" + alicesPrivate.ID + "/value", http.StatusForbidden},
		// Members see only their own tokens.
		{"carol", "GET", "/v1/tokens/" + bobs.ID, http.StatusNotFound},
		{"carol", "GET", "/v1/tokens/" + alicesShared.ID, http.StatusNotFound},
		{"carol", "POST", "/v1/tokens/" + bobs.ID + "/disable", http.StatusNotFound},
		{"carol", "GET", "/v1/tokens/" + carols.ID + "/value", http.StatusOK},
		{"bob", "GET", "/v1/tokens/" + alicesShared.ID + "/value", http.StatusNotFound},
		{"bob", "DELETE", "/v1/tokens/" + carols.ID, http.StatusNotFound},
		// Administrators may disable and enable private tokens of others.
		{"alice", "POST", "/v1/tokens/" + bobs.ID + "/disable", http.StatusOK},
		{"dave", "POST", "/v1/tokens/" + bobs.ID + "/enable", http.StatusOK},
	}
	for _, tt := range tests {
		var body any
		if tt.method == "PATCH" {
			body = `{"permissions":["attacks:read","attacks:write"]}`
		}
		r := e.as(t, tt.user, tt.method, tt.path, body)
		if r.status != tt.status {
			t.Errorf("%s %s %s: status %d (%s), want %d", tt.user, tt.method, tt.path, r.status, r.errorMessage(), tt.status)
		}
		if r.status == http.StatusOK && strings.HasSuffix(tt.path, "/value") {
			e.remember(decode[struct{ Value string }](t, r).Value)
		}
	}

	r := e.as(t, "dave", "GET", "/v1/tokens/"+alicesShared.ID+"/value", nil)
	if decode[struct{ Value string }](t, r).Value != sharedValue {
		t.Error("value of the shared token revealed to dave: value mismatch")
	}
}

func TestListPaging(t *testing.T) { forEachBackend(t, testListPaging) }

func testListPaging(t *testing.T, e *env) {
	var want []string
	for i := range 5 {
		tok, _ := e.create(t, "carol", map[string]any{"name": fmt.Sprintf("token %d", i), "permissions": []string{"rules:read"}})
		want = append(want, tok.ID)
	}
	slices.Sort(want)

	var got []string
	after := ""
	for pages := 1; ; pages++ {
		r := e.as(t, "carol", "GET", "/v1/tokens?limit=2&after="+after, nil)
		expectStatus(t, "list page", r, http.StatusOK)
		page := decode[tokenList](t, r)
		if len(page.Tokens) > 2 {
			t.Fatalf("page %d has %d tokens, want at most 2", pages, len(page.Tokens))
		}
		for _, tok := range page.Tokens {
			got = append(got, tok.ID)
		}
		if page.Next == "" {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = page.Next
	}
	if !slices.Equal(got, want) {
		t.Errorf("pages list %q, want %q", got, want)
	}

	for _, limit := range []string{"0", "-1", "abc", "1001", "2.5"} {
		r := e.as(t, "carol", "GET", "/v1/tokens?limit="+limit, nil)
		expectStatus(t, "limit "+limit, r, http.StatusBadRequest)
		if !strings.Contains(r.errorMessage(), "limit") {
			t.Errorf("limit %s: message %q does not name the limit", limit, r.errorMessage())
		}
	}
}

func TestDisableUserCascade(t *testing.T) { forEachBackend(t, testDisableUserCascade) }

func testDisableUserCascade(t *testing.T, e *env) {
	tok, value := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
	_, second := e.create(t, "bob", map[string]any{"permissions": []string{"rules:read"}})

	r := e.as(t, "alice", "POST", "/v1/users/bob/disable", nil)
	expectStatus(t, "disable bob", r, http.StatusOK)
	change := decode[userChange](t, r)
	if !change.User.Disabled || change.TokensChanged != 2 {
		t.Errorf("disable bob: %+v, want bob disabled and 2 tokens changed", change)
	}
	for _, v := range []string{value, second} {
		expectStatus(t, "token of disabled bob", e.withToken(t, "GET", "/v1/whoami", v), http.StatusUnauthorized)
	}
	expectStatus(t, "bob manages while disabled", e.as(t, "bob", "GET", "/v1/tokens", nil), http.StatusForbidden)
	r = e.as(t, "alice", "GET", "/v1/tokens/"+tok.ID, nil)
	if got := decode[tokenJSON](t, r); got.Status != "disabled" || got.DisabledReason != "owner_disabled" {
		t.Errorf("token of disabled bob %+v, want disabled with reason owner_disabled", got)
	}

	// Enabling bob does not enable his tokens.
	expectStatus(t, "enable bob", e.as(t, "alice", "POST", "/v1/users/bob/enable", nil), http.StatusOK)
	expectStatus(t, "bob manages after enable", e.as(t, "bob", "GET", "/v1/tokens", nil), http.StatusOK)
	expectStatus(t, "token after enabling bob", e.withToken(t, "GET", "/v1/whoami", value), http.StatusUnauthorized)
	expectStatus(t, "bob enables his token", e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/enable", nil), http.StatusOK)
	expectStatus(t, "enabled token", e.withToken(t, "GET", "/v1/whoami", value), http.StatusOK)
}

func TestRoleChangeCascade(t *testing.T) { forEachBackend(t, testRoleChangeCascade) }

func testRoleChangeCascade(t *testing.T, e *env) {
	tok, value := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read", "attacks:write"}})
	writeOnly, writeOnlyValue := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:write"}})
	expectStatus(t, "rules before demotion", e.request(t, "POST", "/v1/rules", `{}`, "X-API-Token", value), http.StatusForbidden)

	r := e.as(t, "alice", "PUT", "/v1/users/bob/role", map[string]string{"role": "read_only"})
	expectStatus(t, "demote bob", r, http.StatusOK)
	if change := decode[userChange](t, r); change.User.Role != "read_only" || change.TokensChanged != 2 {
		t.Errorf("demote bob: %+v, want role read_only and 2 tokens changed", change)
	}

	r = e.withToken(t, "GET", "/v1/whoami", value)
	expectStatus(t, "whoami after demotion", r, http.StatusOK)
	if got := decode[principalJSON](t, r).Permissions; !slices.Equal(got, []string{"attacks:read"}) {
		t.Errorf("permissions after demotion %q, want attacks:read", got)
	}
	r = e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil)
	if got := decode[tokenJSON](t, r).Permissions; !slices.Equal(got, []string{"attacks:read"}) {
		t.Errorf("stored permissions after demotion %q, want attacks:read", got)
	}
	expectStatus(t, "rules after demotion", e.request(t, "POST", "/v1/rules", `{}`, "X-API-Token", value), http.StatusForbidden)
	r = e.as(t, "bob", "GET", "/v1/tokens/"+writeOnly.ID, nil)
	if got := decode[tokenJSON](t, r); got.Status != "disabled" || got.DisabledReason != "no_permissions" || len(got.Permissions) != 0 {
		t.Errorf("token that lost its only permission %+v, want disabled with reason no_permissions", got)
	}
	expectStatus(t, "token without permissions", e.withToken(t, "GET", "/v1/whoami", writeOnlyValue), http.StatusUnauthorized)

	// Promoting bob to administrator lets a new token write rules.
	expectStatus(t, "promote bob", e.as(t, "dave", "PUT", "/v1/users/bob/role", `{"role":"administrator"}`), http.StatusOK)
	_, adminValue := e.create(t, "bob", map[string]any{"permissions": []string{"rules:write"}})
	expectStatus(t, "rules as administrator", e.request(t, "POST", "/v1/rules", `{"name":"block"}`, "X-API-Token", adminValue), http.StatusCreated)
}

func TestSSOCascade(t *testing.T) { forEachBackend(t, testSSOCascade) }

func testSSOCascade(t *testing.T, e *env) {
	tok, value := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})

	r := e.as(t, "alice", "POST", "/v1/users/bob/sso", nil)
	expectStatus(t, "switch bob to SSO", r, http.StatusOK)
	if change := decode[userChange](t, r); !change.User.SSO || change.TokensChanged != 1 {
		t.Errorf("switch bob to SSO: %+v, want SSO and 1 token changed", change)
	}
	expectStatus(t, "token of SSO user", e.withToken(t, "GET", "/v1/whoami", value), http.StatusUnauthorized)
	expectStatus(t, "SSO user manages", e.as(t, "bob", "POST", "/v1/tokens", `{"name":"x","permissions":["attacks:read"]}`), http.StatusForbidden)
	r = e.as(t, "alice", "GET", "/v1/tokens/"+tok.ID, nil)
	if got := decode[tokenJSON](t, r); got.Status != "disabled" || got.DisabledReason != "owner_sso" {
		t.Errorf("token of SSO user %+v, want disabled with reason owner_sso", got)
	}
	expectStatus(t, "enable token of SSO user", e.as(t, "alice", "POST", "/v1/tokens/"+tok.ID+"/enable", nil), http.StatusConflict)
	expectStatus(t, "erin signs in by SSO", e.as(t, "erin", "GET", "/v1/tokens", nil), http.StatusForbidden)
}

func TestUserEndpointsAccess(t *testing.T) { forEachBackend(t, testUserEndpointsAccess) }

func testUserEndpointsAccess(t *testing.T, e *env) {
	_, carolsValue := e.create(t, "carol", map[string]any{"permissions": []string{"rules:read"}})
	tests := []struct {
		user, method, path string
		body               any
		status             int
	}{
		{"carol", "POST", "/v1/users/bob/disable", nil, http.StatusForbidden},
		{"bob", "PUT", "/v1/users/bob/role", `{"role":"administrator"}`, http.StatusForbidden},
		{"gina", "POST", "/v1/users/bob/disable", nil, http.StatusNotFound},
		{"gina", "POST", "/v1/users/bob/sso", nil, http.StatusNotFound},
		{"alice", "POST", "/v1/users/gina/disable", nil, http.StatusNotFound},
		{"alice", "POST", "/v1/users/nobody/disable", nil, http.StatusNotFound},
		{"alice", "PUT", "/v1/users/bob/role", `{"role":"superuser"}`, http.StatusBadRequest},
		{"alice", "PUT", "/v1/users/bob/role", `{"role":"read_only","extra":1}`, http.StatusBadRequest},
		{"carol", "POST", "/v1/users/bob/legacy-credentials", `{"uuid":"0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11","secret":"x"}`, http.StatusForbidden},
		{"gina", "POST", "/v1/users/bob/legacy-credentials", `{"uuid":"0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11","secret":"x"}`, http.StatusNotFound},
		{"dave", "POST", "/v1/users/gina/disable", nil, http.StatusOK},
		{"gina", "GET", "/v1/tokens", nil, http.StatusForbidden},
		{"dave", "POST", "/v1/users/gina/enable", nil, http.StatusOK},
		{"gina", "GET", "/v1/tokens", nil, http.StatusOK},
		{"alice", "DELETE", "/v1/users/carol", nil, http.StatusOK},
		{"carol", "GET", "/v1/tokens", nil, http.StatusUnauthorized},
		{"alice", "DELETE", "/v1/users/carol", nil, http.StatusNotFound},
	}
	for _, tt := range tests {
		r := e.as(t, tt.user, tt.method, tt.path, tt.body)
		if r.status != tt.status {
			t.Errorf("%s %s %s: status %d (%s), want %d", tt.user, tt.method, tt.path, r.status, r.errorMessage(), tt.status)
		}
	}
	expectStatus(t, "token of deleted carol", e.withToken(t, "GET", "/v1/whoami", carolsValue), http.StatusUnauthorized)
}

func TestLegacyCredentials(t *testing.T) { forEachBackend(t, testLegacyCredentials) }

// testLegacyCredentials needs ImportLegacy and VerifyLegacy of the root
// package.
func testLegacyCredentials(t *testing.T, e *env) {
	const uuid, secret = "0D6E8D4C-3C1F-4A52-9F0E-2B7A4F1E9C11", "legacy-secret-of-bob-9f8e7d6c5b4a"
	e.remember(secret)

	r := e.as(t, "alice", "POST", "/v1/users/bob/legacy-credentials", map[string]string{"uuid": uuid, "secret": secret})
	expectStatus(t, "import legacy credentials", r, http.StatusCreated)
	if strings.Contains(string(r.body), secret) {
		t.Error("import response contains the legacy secret")
	}
	imported := decode[struct{ Token map[string]any }](t, r).Token
	if imported["backward_compatible"] != true || imported["owner_id"] != "bob" {
		t.Errorf("imported token %v, want a backward-compatible token of bob", imported)
	}
	if _, ok := imported["permissions"]; ok {
		t.Error("backward-compatible token JSON has permissions, want them left out")
	}

	r = e.request(t, "GET", "/v1/whoami", nil, "X-API-UUID", uuid, "X-API-Secret", secret)
	expectStatus(t, "whoami with legacy pair", r, http.StatusOK)
	who := decode[principalJSON](t, r)
	if who.Method != "legacy" || who.OwnerID != "bob" || !who.BackwardCompatible {
		t.Errorf("whoami %+v, want bob by method legacy", who)
	}
	if !slices.Equal(who.Permissions, []string{"attacks:read", "attacks:write", "rules:read"}) {
		t.Errorf("legacy permissions %q, want those of the analyst role", who.Permissions)
	}
	expectStatus(t, "attacks with legacy pair", e.request(t, "GET", "/v1/attacks", nil, "X-API-UUID", uuid, "X-API-Secret", secret), http.StatusOK)
	expectStatus(t, "wrong legacy secret", e.request(t, "GET", "/v1/whoami", nil, "X-API-UUID", uuid, "X-API-Secret", secret+"x"), http.StatusUnauthorized)
	expectStatus(t, "legacy pair and token", e.request(t, "GET", "/v1/whoami", nil, "X-API-UUID", uuid, "X-API-Secret", secret, "X-API-Token", "apt_x"), http.StatusUnauthorized)

	// Switching bob to SSO disables backward-compatible tokens too.
	expectStatus(t, "switch bob to SSO", e.as(t, "alice", "POST", "/v1/users/bob/sso", nil), http.StatusOK)
	expectStatus(t, "legacy pair of SSO user", e.request(t, "GET", "/v1/whoami", nil, "X-API-UUID", uuid, "X-API-Secret", secret), http.StatusUnauthorized)
}

func TestExpiry(t *testing.T) { forEachBackend(t, testExpiry) }

func testExpiry(t *testing.T, e *env) {
	tok, value := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}, "expires_at": "2030-01-02T04:04:05Z"})
	if tok.ExpiresAt != "2030-01-02T04:04:05Z" || tok.PurgeAt != "2030-01-09T04:04:05Z" {
		t.Errorf("token expires_at %q and purge_at %q, want 2030-01-02T04:04:05Z and 7 days later", tok.ExpiresAt, tok.PurgeAt)
	}

	e.clock.Add(time.Hour - time.Microsecond)
	expectStatus(t, "token just before expiry", e.withToken(t, "GET", "/v1/whoami", value), http.StatusOK)
	e.clock.Add(time.Microsecond)
	r := e.withToken(t, "GET", "/v1/whoami", value)
	expectStatus(t, "token at expiry", r, http.StatusUnauthorized)
	if !strings.Contains(r.errorMessage(), "expired") {
		t.Errorf("message %q does not say that the token expired", r.errorMessage())
	}

	r = e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil)
	if got := decode[tokenJSON](t, r); got.Status != "expired" {
		t.Errorf("status %q after expiry, want expired", got.Status)
	}
	r = e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/renew", nil)
	expectStatus(t, "renew expired token", r, http.StatusConflict)
	if r.errorCode() != "token_expired" {
		t.Errorf("renew expired token: code %q, want token_expired", r.errorCode())
	}
	expectStatus(t, "enable expired token", e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/enable", nil), http.StatusConflict)

	r = e.as(t, "bob", "PATCH", "/v1/tokens/"+tok.ID, `{"expires_at":"2030-03-01T00:00:00Z"}`)
	expectStatus(t, "extend expired token", r, http.StatusOK)
	if got := decode[tokenJSON](t, r); got.Status != "active" {
		t.Errorf("status %q after a new expiry, want active", got.Status)
	}
	expectStatus(t, "token with new expiry", e.withToken(t, "GET", "/v1/whoami", value), http.StatusOK)
}

func TestPurge(t *testing.T) { forEachBackend(t, testPurge) }

func testPurge(t *testing.T, e *env) {
	tok, _ := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
	kept, _ := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
	r := e.as(t, "bob", "POST", "/v1/tokens/"+tok.ID+"/disable", nil)
	expectStatus(t, "disable", r, http.StatusOK)
	purgeAt, err := time.Parse(time.RFC3339, decode[tokenJSON](t, r).PurgeAt)
	if err != nil {
		t.Fatalf("purge_at: %v", err)
	}
	if want := start.Add(7 * 24 * time.Hour); !purgeAt.Equal(want) {
		t.Errorf("purge_at %s, want %s", purgeAt, want)
	}

	e.clock.Set(purgeAt.Add(-time.Second))
	if n, err := e.server.manager.Purge(t.Context()); err != nil || n != 0 {
		t.Fatalf("purge before purge_at: %d tokens, error %v; want 0", n, err)
	}
	e.clock.Set(purgeAt)
	if n, err := e.server.manager.Purge(t.Context()); err != nil || n != 1 {
		t.Fatalf("purge at purge_at: %d tokens, error %v; want 1", n, err)
	}
	expectStatus(t, "get purged token", e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil), http.StatusNotFound)
	expectStatus(t, "get active token", e.as(t, "bob", "GET", "/v1/tokens/"+kept.ID, nil), http.StatusOK)
}

func TestBadInput(t *testing.T) { forEachBackend(t, testBadInput) }

func testBadInput(t *testing.T, e *env) {
	tok, _ := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
	huge := `{"name":"` + strings.Repeat("a", maxBodyBytes) + `","permissions":["attacks:read"]}`

	tests := []struct {
		name         string
		user, method string
		path         string
		body         any
		status       int
		// mention is a word the error message must contain.
		mention string
	}{
		{"malformed JSON", "bob", "POST", "/v1/tokens", `{"name":`, http.StatusBadRequest, "JSON"},
		{"not an object", "bob", "POST", "/v1/tokens", `["x"]`, http.StatusBadRequest, "object"},
		{"empty body", "bob", "POST", "/v1/tokens", ``, http.StatusBadRequest, "empty"},
		{"two JSON values", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"]} {}`, http.StatusBadRequest, "more than one"},
		{"unknown field", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"],"scopes":[]}`, http.StatusBadRequest, "scopes"},
		{"wrong field type", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":"attacks:read"}`, http.StatusBadRequest, "permissions"},
		{"unknown permission", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:delete"]}`, http.StatusBadRequest, "attacks:delete"},
		{"no permissions", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":[]}`, http.StatusBadRequest, "permissions"},
		{"empty name", "bob", "POST", "/v1/tokens", `{"name":"  ","permissions":["attacks:read"]}`, http.StatusBadRequest, "name"},
		{"overlong name", "bob", "POST", "/v1/tokens", `{"name":"` + strings.Repeat("n", 129) + `","permissions":["attacks:read"]}`, http.StatusBadRequest, "name"},
		{"expiry in the past", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"],"expires_at":"2030-01-02T03:04:04Z"}`, http.StatusBadRequest, "expires_at"},
		{"expiry now", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"],"expires_at":"2030-01-02T03:04:05Z"}`, http.StatusBadRequest, "expires_at"},
		{"unparsable expiry", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"],"expires_at":"tomorrow"}`, http.StatusBadRequest, "expires_at"},
		{"expiry as number", "bob", "PATCH", "/v1/tokens/" + tok.ID, `{"expires_at":1893456000}`, http.StatusBadRequest, "expires_at"},
		{"past expiry in update", "bob", "PATCH", "/v1/tokens/" + tok.ID, `{"expires_at":"2029-12-31T00:00:00Z"}`, http.StatusBadRequest, "expires_at"},
		{"empty name in update", "bob", "PATCH", "/v1/tokens/" + tok.ID, `{"name":""}`, http.StatusBadRequest, "name"},
		{"body over the limit", "bob", "POST", "/v1/tokens", huge, http.StatusBadRequest, "larger than 65536 bytes"},
		{"permission not held", "carol", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:write"]}`, http.StatusForbidden, "attacks:write"},
		{"shared by member", "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"],"shared":true}`, http.StatusForbidden, "shared"},
		{"missing user header", "", "GET", "/v1/tokens", nil, http.StatusUnauthorized, userHeader},
		{"unknown user", "mallory", "GET", "/v1/tokens", nil, http.StatusUnauthorized, "mallory"},
		{"SSO user", "erin", "GET", "/v1/tokens", nil, http.StatusForbidden, "SSO"},
		{"unknown token", "bob", "GET", "/v1/tokens/tok_01JZZZZZZZZZZZZZZZZZZZZZZZ", nil, http.StatusNotFound, "not found"},
		{"unknown endpoint", "bob", "GET", "/v1/nothing", nil, http.StatusNotFound, "/v1/nothing"},
		{"wrong method", "bob", "PUT", "/v1/tokens", `{}`, http.StatusMethodNotAllowed, "use GET, HEAD, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var headers []string
			if tt.user != "" {
				headers = []string{userHeader, tt.user}
			}
			r := e.request(t, tt.method, tt.path, tt.body, headers...)
			if r.status != tt.status {
				t.Fatalf("status %d (%s: %s), want %d", r.status, r.errorCode(), r.errorMessage(), tt.status)
			}
			if !strings.Contains(r.errorMessage(), tt.mention) {
				t.Errorf("message %q does not mention %q", r.errorMessage(), tt.mention)
			}
		})
	}
}

func TestStoreFailure(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			store := &failingStore{Store: b.open(t)}
			e := newEnv(t, store)
			tok, value := e.create(t, "bob", map[string]any{"permissions": []string{"attacks:read"}})
			store.setFailing(true)

			for _, tt := range []struct {
				what string
				r    response
			}{
				{"whoami", e.withToken(t, "GET", "/v1/whoami", value)},
				{"attacks", e.request(t, "GET", "/v1/attacks", nil, "Authorization", "Bearer "+value)},
				{"create", e.as(t, "bob", "POST", "/v1/tokens", `{"name":"a","permissions":["attacks:read"]}`)},
				{"list", e.as(t, "bob", "GET", "/v1/tokens", nil)},
				{"get", e.as(t, "bob", "GET", "/v1/tokens/"+tok.ID, nil)},
				{"disable user", e.as(t, "alice", "POST", "/v1/users/bob/disable", nil)},
			} {
				expectStatus(t, tt.what, tt.r, http.StatusServiceUnavailable)
				if strings.Contains(tt.r.errorMessage(), errDatabaseDown.Error()) {
					t.Errorf("%s: message %q shows the store error", tt.what, tt.r.errorMessage())
				}
			}
			if !strings.Contains(e.logs.String(), errDatabaseDown.Error()) {
				t.Error("logs do not contain the store error")
			}

			// Disabling bob took effect in the directory, and repeating
			// the request once the store is back disables his tokens.
			expectStatus(t, "token of disabled bob", e.withToken(t, "GET", "/v1/whoami", value), http.StatusServiceUnavailable)
			store.setFailing(false)
			expectStatus(t, "token of disabled bob after recovery", e.withToken(t, "GET", "/v1/whoami", value), http.StatusUnauthorized)
			expectStatus(t, "repeat disable", e.as(t, "alice", "POST", "/v1/users/bob/disable", nil), http.StatusOK)
			r := e.as(t, "alice", "GET", "/v1/tokens/"+tok.ID, nil)
			if got := decode[tokenJSON](t, r); got.DisabledReason != "owner_disabled" {
				t.Errorf("disabled_reason %q after repeating, want owner_disabled", got.DisabledReason)
			}
		})
	}
}

// TestLogsHoldNoSecrets runs a whole session of the service and searches
// its logs for every value and legacy secret that it issued or received.
func TestLogsHoldNoSecrets(t *testing.T) {
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, b.open(t))
			testTokenLifecycle(t, e)
			testVisibility(t, e)
			testRoleChangeCascade(t, e)

			// Failed requests log too; send values in every place.
			_, value := e.create(t, "carol", map[string]any{"permissions": []string{"rules:read"}})
			e.request(t, "GET", "/v1/whoami?access_token="+value, nil)
			e.request(t, "GET", "/v1/whoami", nil, "X-API-Token", value, "Authorization", "Bearer "+value)
			e.request(t, "GET", "/v1/whoami", nil, "X-API-Token", value+"x")
			const uuid, secret = "7c9e6679-7425-40de-944b-e07fc1f90ae7", "another-legacy-secret-5d41402abc4b2a76"
			e.remember(secret)
			e.as(t, "alice", "POST", "/v1/users/carol/legacy-credentials", map[string]string{"uuid": uuid, "secret": secret})
			e.request(t, "GET", "/v1/whoami", nil, "X-API-UUID", uuid, "X-API-Secret", secret)
			e.request(t, "GET", "/v1/whoami", nil, "X-API-UUID", uuid, "X-API-Secret", secret+"x")
			e.as(t, "carol", "POST", "/v1/tokens", `{"name":"`+value+`","permissions":["attacks:write"]}`)

			logs := e.logs.String()
			if !strings.Contains(logs, "httpauth: rejected") || !strings.Contains(logs, "msg=request") {
				t.Fatal("logs lack the request and rejection records this test expects")
			}
			e.checkLogs(t)
			if len(e.secrets) < 10 {
				t.Errorf("the test saw %d secrets, want at least 10", len(e.secrets))
			}
		})
	}
}
