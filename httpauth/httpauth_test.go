package httpauth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// testStore wraps a memstore, counts lookups and fails them on request.
type testStore struct {
	*memstore.Store
	lookups atomic.Int64
	fail    atomic.Bool
}

var errStoreDown = errors.New("connection refused")

func (s *testStore) Lookup(ctx context.Context, d apitoken.Digest) (apitoken.Record, error) {
	s.lookups.Add(1)
	if s.fail.Load() {
		return apitoken.Record{}, errStoreDown
	}
	return s.Store.Lookup(ctx, d)
}

// LookupCredential overrides the memstore's own, which the Manager calls
// in place of Lookup and which would otherwise bypass the counting and the
// failures.
func (s *testStore) LookupCredential(ctx context.Context, d apitoken.Digest) (apitoken.Credential, error) {
	s.lookups.Add(1)
	if s.fail.Load() {
		return apitoken.Credential{}, errStoreDown
	}
	return s.Store.LookupCredential(ctx, d)
}

func (s *testStore) LookupLegacy(ctx context.Context, uuid string) (apitoken.Record, error) {
	s.lookups.Add(1)
	if s.fail.Load() {
		return apitoken.Record{}, errStoreDown
	}
	return s.Store.LookupLegacy(ctx, uuid)
}

type fixture struct {
	manager *apitoken.Manager
	store   *testStore
	dir     *apitoken.Directory
	clock   *clock.Mock
	// logs receives the records of the Manager and the middleware. The
	// tests serve requests synchronously, so a plain buffer suffices.
	logs *bytes.Buffer
	// value is an active token of bob holding attacks:read and rules:read.
	value apitoken.Value
	// secrets collects every value and secret the fixture issued.
	secrets []string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "attacks:write", "rules:read"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []apitoken.DirectoryUser{
		{ID: "bob", TenantID: "acme", Role: "analyst"},
		{ID: "erin", TenantID: "acme", Role: "analyst"},
	} {
		if err := dir.PutUser(u); err != nil {
			t.Fatal(err)
		}
	}

	f := &fixture{
		store: &testStore{Store: memstore.New()},
		dir:   dir,
		clock: clock.NewMock(),
		logs:  &bytes.Buffer{},
	}
	f.clock.Set(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	logger := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f.manager, err = apitoken.New(apitoken.Config{Store: f.store, Policy: dir, Clock: f.clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	_, f.value = f.create(t, "bob", []string{"attacks:read", "rules:read"}, time.Time{})
	t.Cleanup(func() {
		logs := f.logs.String()
		for _, s := range f.secrets {
			if strings.Contains(logs, s) {
				t.Error("logs contain an issued token value")
			}
		}
	})
	return f
}

func (f *fixture) create(t *testing.T, owner string, perms []string, expiresAt time.Time) (apitoken.Token, apitoken.Value) {
	t.Helper()
	tok, value, err := f.manager.Create(context.Background(), owner, apitoken.CreateRequest{Name: "test", Permissions: perms, ExpiresAt: expiresAt})
	if err != nil {
		t.Fatalf("create token for %s: %v", owner, err)
	}
	f.secrets = append(f.secrets, string(value))
	return tok, value
}

// handler returns the middleware around a handler that writes the
// principal's method and owner, and records the URL it saw.
func (f *fixture) handler(t *testing.T, opts Options) (http.Handler, *string) {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	mw, err := Middleware(f.manager, opts)
	if err != nil {
		t.Fatal(err)
	}
	var seenURL string
	return mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := PrincipalFromContext(r.Context())
		if !ok {
			t.Error("handler called without a principal")
		}
		seenURL = r.URL.String()
		_, _ = w.Write([]byte(string(p.Method) + " " + p.OwnerID))
	})), &seenURL
}

type header struct{ name, value string }

func serve(h http.Handler, target string, headers ...header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, target, nil)
	for _, hd := range headers {
		r.Header.Add(hd.name, hd.value)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body errorBody
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("error body %q is not JSON: %v", w.Body.String(), err)
	}
	if body.Error.Message == "" {
		t.Errorf("error body %q has no message", w.Body.String())
	}
	return body.Error.Code
}

func TestMiddlewareAccepts(t *testing.T) {
	f := newFixture(t)
	v := string(f.value)
	h, _ := f.handler(t, Options{Realm: "test"})

	tests := []struct {
		name    string
		target  string
		headers []header
		method  apitoken.Method
	}{
		{"token header", "/", []header{{"X-API-Token", v}}, apitoken.MethodToken},
		{"token header beside an ignored query token", "/?access_token=" + v + "x", []header{{"X-API-Token", v}}, apitoken.MethodToken},
		{"token header lower-case name", "/", []header{{"x-api-token", v}}, apitoken.MethodToken},
		{"token header with spaces", "/", []header{{"X-API-Token", "  " + v + "\t"}}, apitoken.MethodToken},
		{"bearer", "/", []header{{"Authorization", "Bearer " + v}}, apitoken.MethodBearer},
		{"bearer lower-case scheme", "/", []header{{"Authorization", "bearer " + v}}, apitoken.MethodBearer},
		{"bearer upper-case scheme", "/", []header{{"Authorization", "BEARER " + v}}, apitoken.MethodBearer},
		{"bearer mixed-case scheme", "/", []header{{"Authorization", "bEaReR " + v}}, apitoken.MethodBearer},
		{"bearer many spaces", "/", []header{{"Authorization", "Bearer    " + v}}, apitoken.MethodBearer},
		{"bearer surrounding whitespace", "/", []header{{"Authorization", " \tBearer " + v + " \t"}}, apitoken.MethodBearer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(h, tt.target, tt.headers...)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", w.Code, w.Body)
			}
			if got, want := w.Body.String(), string(tt.method)+" bob"; got != want {
				t.Errorf("handler wrote %q, want %q", got, want)
			}
		})
	}
}

func TestMiddlewareRejects(t *testing.T) {
	f := newFixture(t)
	v := string(f.value)
	long := "apt_" + strings.Repeat("a", MaxCredentialLength)
	h, _ := f.handler(t, Options{Realm: "test"})

	const (
		noCode         = ""
		invalidRequest = codeInvalidRequest
		invalidToken   = codeInvalidToken
	)
	tests := []struct {
		name    string
		target  string
		headers []header
		code    string
		// lookup is true when the store may be asked.
		lookup bool
	}{
		{"no credentials", "/", nil, noCode, false},
		{"basic scheme", "/", []header{{"Authorization", "Basic Ym9iOnNlY3JldA=="}}, noCode, false},
		{"scheme glued to bearer", "/", []header{{"Authorization", "BearerX " + v}}, noCode, false},
		{"value without scheme", "/", []header{{"Authorization", v}}, noCode, false},
		{"tab after scheme", "/", []header{{"Authorization", "Bearer\t" + v}}, noCode, false},
		{"bare bearer", "/", []header{{"Authorization", "Bearer"}}, invalidRequest, false},
		{"bearer with empty value", "/", []header{{"Authorization", "Bearer "}}, invalidRequest, false},
		{"bearer with two words", "/", []header{{"Authorization", "Bearer " + v + " extra"}}, invalidRequest, false},
		{"bearer with comma", "/", []header{{"Authorization", "Bearer " + v + ",x"}}, invalidRequest, false},
		{"bearer value in upper case", "/", []header{{"Authorization", "Bearer " + strings.ToUpper(v)}}, invalidToken, false},
		{"bearer value in lower case", "/", []header{{"Authorization", "Bearer " + strings.ToLower(v)}}, invalidToken, false},
		{"empty token header", "/", []header{{"X-API-Token", ""}}, invalidRequest, false},
		{"token header with space inside", "/", []header{{"X-API-Token", v[:10] + " " + v[10:]}}, invalidRequest, false},
		{"non-ASCII in token header", "/", []header{{"X-API-Token", v + "\u00e9"}}, invalidRequest, false},
		{"non-ASCII in bearer", "/", []header{{"Authorization", "Bearer " + v[:20] + "\xff" + v[21:]}}, invalidRequest, false},
		{"overlong token header", "/", []header{{"X-API-Token", long}}, invalidRequest, false},
		{"overlong bearer", "/", []header{{"Authorization", "Bearer " + long}}, invalidRequest, false},
		{"overlong legacy secret", "/", []header{{"X-API-UUID", "0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11"}, {"X-API-Secret", long}}, invalidRequest, false},
		{"two authorization headers", "/", []header{{"Authorization", "Bearer " + v}, {"Authorization", "Bearer " + v}}, invalidRequest, false},
		{"bearer then basic", "/", []header{{"Authorization", "Bearer " + v}, {"Authorization", "Basic Ym9iOnNlY3JldA=="}}, invalidRequest, false},
		{"basic then bearer", "/", []header{{"Authorization", "Basic Ym9iOnNlY3JldA=="}, {"Authorization", "Bearer " + v}}, invalidRequest, false},
		{"two token headers", "/", []header{{"X-API-Token", v}, {"X-API-Token", v}}, invalidRequest, false},
		{"token then equal bearer", "/", []header{{"X-API-Token", v}, {"Authorization", "Bearer " + v}}, invalidRequest, false},
		{"bearer then equal token", "/", []header{{"Authorization", "Bearer " + v}, {"X-API-Token", v}}, invalidRequest, false},
		{"token and empty bearer", "/", []header{{"X-API-Token", v}, {"Authorization", "Bearer"}}, invalidRequest, false},
		{"token and legacy pair", "/", []header{{"X-API-Token", v}, {"X-API-UUID", "u"}, {"X-API-Secret", "s"}}, invalidRequest, false},
		{"legacy pair and bearer", "/", []header{{"X-API-UUID", "u"}, {"X-API-Secret", "s"}, {"Authorization", "Bearer " + v}}, invalidRequest, false},
		{"legacy UUID alone", "/", []header{{"X-API-UUID", "0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11"}}, invalidRequest, false},
		{"legacy secret alone", "/", []header{{"X-API-Secret", "s3cret"}}, invalidRequest, false},
		{"token and legacy UUID alone", "/", []header{{"X-API-Token", v}, {"X-API-UUID", "u"}}, invalidRequest, false},
		{"two legacy UUIDs", "/", []header{{"X-API-UUID", "u"}, {"X-API-UUID", "u"}, {"X-API-Secret", "s"}}, invalidRequest, false},
		{"legacy secret with space", "/", []header{{"X-API-UUID", "u"}, {"X-API-Secret", "s 3"}}, invalidRequest, false},
		{"query token not allowed", "/?access_token=" + v, nil, "", false},
		{"malformed value", "/", []header{{"X-API-Token", "apt_short"}}, invalidToken, false},
		{"unknown token", "/", []header{{"X-API-Token", unknownValue(t)}}, invalidToken, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.store.lookups.Load()
			w := serve(h, tt.target, tt.headers...)
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			challenge := `Bearer realm="test"`
			if tt.code != "" {
				challenge += `, error="` + tt.code + `"`
			}
			if got := w.Header().Get("WWW-Authenticate"); got != challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, challenge)
			}
			wantCode := tt.code
			if wantCode == "" {
				wantCode = "missing_credentials"
			}
			if got := errorCode(t, w); got != wantCode {
				t.Errorf("error code %q, want %q", got, wantCode)
			}
			if strings.Contains(w.Body.String(), v) {
				t.Error("response body contains the token value")
			}
			if n := f.store.lookups.Load() - before; !tt.lookup && n != 0 {
				t.Errorf("store was asked %d times, want 0", n)
			}
		})
	}
}

// unknownValue returns a well-formed value that no store holds.
func unknownValue(t *testing.T) string {
	t.Helper()
	other := newFixture(t)
	return string(other.value)
}

func TestMiddlewareRejectsTokenStates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	h, _ := f.handler(t, Options{})

	expiring, expiringValue := f.create(t, "bob", []string{"attacks:read"}, f.clock.Now().Add(time.Hour))
	disabled, disabledValue := f.create(t, "bob", []string{"attacks:read"}, time.Time{})
	if _, err := f.manager.Disable(ctx, "bob", disabled.ID); err != nil {
		t.Fatal(err)
	}
	_, erinValue := f.create(t, "erin", []string{"attacks:read"}, time.Time{})

	if w := serve(h, "/", header{"X-API-Token", string(expiringValue)}); w.Code != http.StatusOK {
		t.Fatalf("token before expiry: status %d", w.Code)
	}
	f.clock.Add(time.Hour)

	tests := []struct {
		name  string
		value apitoken.Value
		setup func(t *testing.T)
	}{
		{"expired", expiringValue, nil},
		{"disabled", disabledValue, nil},
		{"owner disabled", f.value, func(t *testing.T) {
			if err := f.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", Disabled: true}); err != nil {
				t.Fatal(err)
			}
		}},
		{"owner signs in by SSO", erinValue, func(t *testing.T) {
			if err := f.dir.PutUser(apitoken.DirectoryUser{ID: "erin", TenantID: "acme", Role: "analyst", SSO: true}); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.setup != nil {
				tt.setup(t)
			}
			w := serve(h, "/", header{"X-API-Token", string(tt.value)})
			if w.Code != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", w.Code)
			}
			if got, want := w.Header().Get("WWW-Authenticate"), `Bearer error="invalid_token"`; got != want {
				t.Errorf("WWW-Authenticate %q, want %q", got, want)
			}
			if got := errorCode(t, w); got != codeInvalidToken {
				t.Errorf("error code %q, want %q", got, codeInvalidToken)
			}
		})
	}
	if !strings.Contains(f.logs.String(), expiring.ID) {
		t.Errorf("logs do not name the expired token %s", expiring.ID)
	}
}

func TestMiddlewareStoreFailure(t *testing.T) {
	f := newFixture(t)
	h, _ := f.handler(t, Options{})
	f.store.fail.Store(true)

	for _, hd := range []header{
		{"X-API-Token", string(f.value)},
		{"Authorization", "Bearer " + string(f.value)},
	} {
		w := serve(h, "/", hd)
		if w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s: status %d, want 503", hd.name, w.Code)
		}
		if got := errorCode(t, w); got != "unavailable" {
			t.Errorf("%s: error code %q, want unavailable", hd.name, got)
		}
		if got := w.Header().Get("WWW-Authenticate"); got != "" {
			t.Errorf("%s: WWW-Authenticate %q on a store failure", hd.name, got)
		}
	}
	if !strings.Contains(f.logs.String(), "connection refused") {
		t.Error("logs do not contain the store error")
	}
}

func TestMiddlewareQueryToken(t *testing.T) {
	f := newFixture(t)
	h, seenURL := f.handler(t, Options{AllowQueryToken: true})

	w := serve(h, "/attacks?page=2&access_token="+string(f.value)+"&sort=asc")
	if w.Code != http.StatusOK {
		t.Fatalf("status %d, body %s", w.Code, w.Body)
	}
	if got, want := w.Body.String(), "bearer bob"; got != want {
		t.Errorf("handler wrote %q, want %q", got, want)
	}
	if got, want := *seenURL, "/attacks?page=2&sort=asc"; got != want {
		t.Errorf("handler saw URL %q, want %q", got, want)
	}

	for _, target := range []string{
		"/?access_token=" + string(f.value) + "&access_token=" + string(f.value),
		"/?access_token=%zz",
		"/?access_token=",
		"/?access%5Ftoken=" + string(f.value) + "&access_token=x",
	} {
		if w := serve(h, target); w.Code != http.StatusUnauthorized || errorCode(t, w) != codeInvalidRequest {
			t.Errorf("query %d: status %d, body %s; want 401 invalid_request", len(target), w.Code, w.Body)
		}
	}
	w = serve(h, "/?access_token="+string(f.value), header{"Authorization", "Bearer " + string(f.value)})
	if w.Code != http.StatusUnauthorized || errorCode(t, w) != codeInvalidRequest {
		t.Errorf("query and bearer: status %d, want 401 invalid_request", w.Code)
	}
}

func TestMiddlewareCustomHeaders(t *testing.T) {
	f := newFixture(t)
	h, _ := f.handler(t, Options{TokenHeader: "X-Key", DisableBearer: true, LegacyUUIDHeader: "X-Id", LegacySecretHeader: "X-Pass"})

	if w := serve(h, "/", header{"X-Key", string(f.value)}); w.Code != http.StatusOK {
		t.Errorf("custom token header: status %d", w.Code)
	}
	w := serve(h, "/", header{"Authorization", "Bearer " + string(f.value)})
	if w.Code != http.StatusUnauthorized || errorCode(t, w) != "missing_credentials" {
		t.Errorf("bearer when disabled: status %d, body %s; want 401 missing_credentials", w.Code, w.Body)
	}
	w = serve(h, "/", header{"X-API-Token", string(f.value)})
	if w.Code != http.StatusUnauthorized || errorCode(t, w) != "missing_credentials" {
		t.Errorf("default header when renamed: status %d, body %s; want 401 missing_credentials", w.Code, w.Body)
	}
	w = serve(h, "/", header{"X-Id", "u"})
	if w.Code != http.StatusUnauthorized || errorCode(t, w) != codeInvalidRequest {
		t.Errorf("half a renamed legacy pair: status %d, body %s; want 401 invalid_request", w.Code, w.Body)
	}
}

// TestMiddlewareLegacy needs ImportLegacy and VerifyLegacy of the root
// package.
func TestMiddlewareLegacy(t *testing.T) {
	f := newFixture(t)
	const uuid, secret = "0d6e8d4c-3c1f-4a52-9f0e-2b7a4f1e9c11", "legacy-secret-of-bob-1234567890"
	f.secrets = append(f.secrets, secret)
	if _, err := f.manager.ImportLegacy(context.Background(), "bob", apitoken.LegacyImport{OwnerID: "bob", UUID: uuid, Secret: secret}); err != nil {
		t.Fatalf("import legacy credentials: %v", err)
	}
	h, _ := f.handler(t, Options{})

	w := serve(h, "/", header{"X-API-UUID", uuid}, header{"X-API-Secret", secret})
	if w.Code != http.StatusOK {
		t.Fatalf("legacy pair: status %d, body %s", w.Code, w.Body)
	}
	if got, want := w.Body.String(), "legacy bob"; got != want {
		t.Errorf("handler wrote %q, want %q", got, want)
	}
	w = serve(h, "/", header{"X-API-UUID", uuid}, header{"X-API-Secret", secret + "x"})
	if w.Code != http.StatusUnauthorized || errorCode(t, w) != codeInvalidToken {
		t.Errorf("wrong secret: status %d, body %s; want 401 invalid_token", w.Code, w.Body)
	}
}

func TestRequire(t *testing.T) {
	f := newFixture(t)
	mw, err := Middleware(f.manager, Options{Realm: "test", Logger: slog.New(slog.NewTextHandler(f.logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	token := header{"X-API-Token", string(f.value)}

	tests := []struct {
		name      string
		handler   http.Handler
		headers   []header
		status    int
		challenge string
	}{
		{"held permission", mw(Require("attacks:read")(ok)), []header{token}, http.StatusOK, ""},
		{"held permissions", mw(Require("attacks:read", "rules:read")(ok)), []header{token}, http.StatusOK, ""},
		{"no permissions", mw(Require()(ok)), []header{token}, http.StatusOK, ""},
		{"missing permission", mw(Require("rules:write")(ok)), []header{token}, http.StatusForbidden,
			`Bearer realm="test", error="insufficient_scope", scope="rules:write"`},
		{"one of two missing", mw(Require("attacks:read", "attacks:write")(ok)), []header{token}, http.StatusForbidden,
			`Bearer realm="test", error="insufficient_scope", scope="attacks:read attacks:write"`},
		{"without middleware", Require("attacks:read")(ok), []header{token}, http.StatusUnauthorized, "Bearer"},
		{"without credentials", mw(Require("attacks:read")(ok)), nil, http.StatusUnauthorized, `Bearer realm="test"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := serve(tt.handler, "/", tt.headers...)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tt.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, tt.challenge)
			}
			if tt.status == http.StatusForbidden {
				if got := errorCode(t, w); got != codeInsufficientScope {
					t.Errorf("error code %q, want %q", got, codeInsufficientScope)
				}
			}
		})
	}
}

func TestRequirePanicsOnBadPermission(t *testing.T) {
	for _, p := range []string{"", "a b", `a"b`, `a\b`} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Require(%q) did not panic", p)
				}
			}()
			Require(p)
		}()
	}
}

func TestMiddlewareOptions(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name string
		opts Options
	}{
		{"token header with space", Options{TokenHeader: "X API"}},
		{"token header with colon", Options{TokenHeader: "X-API:"}},
		{"token header is Authorization", Options{TokenHeader: "authorization"}},
		{"token header equals UUID header", Options{TokenHeader: "X-API-UUID"}},
		{"UUID header equals secret header", Options{LegacyUUIDHeader: "x-key", LegacySecretHeader: "X-Key"}},
		{"realm with newline", Options{Realm: "a\nb"}},
		{"realm with non-ASCII", Options{Realm: "r\u00e9alm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Middleware(f.manager, tt.opts); !errors.Is(err, apitoken.ErrInvalidArgument) {
				t.Errorf("Middleware error %v, want ErrInvalidArgument", err)
			}
		})
	}
	if _, err := Middleware(nil, Options{}); !errors.Is(err, apitoken.ErrInvalidArgument) {
		t.Errorf("nil Manager: error %v, want ErrInvalidArgument", err)
	}
	if _, err := Middleware(f.manager, Options{Realm: `say "hi"`}); err != nil {
		t.Errorf("realm with quotes: %v", err)
	}
}

func TestChallengeQuotesRealm(t *testing.T) {
	c := &config{realm: `a "b" \c`}
	if got, want := c.challenge(codeInvalidToken, ""), `Bearer realm="a \"b\" \\c", error="invalid_token"`; got != want {
		t.Errorf("challenge %q, want %q", got, want)
	}
}
