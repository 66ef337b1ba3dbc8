package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/internal/testdb"
	"github.com/apitoken/apitoken/memstore"
)

// backend is a store that the contract tests run on.
type backend struct {
	name string
	// open returns an empty store, or skips the test.
	open func(t *testing.T) apitoken.Store
}

// backends returns every store the contract tests run on. The database
// servers are skipped when their variable is not set, unless CI is set.
func backends() []backend {
	return []backend{
		{"memstore", func(*testing.T) apitoken.Store { return memstore.New() }},
		{"SQLite", func(t *testing.T) apitoken.Store { return openTestStore(t, "") }},
		{"PostgreSQL", func(t *testing.T) apitoken.Store {
			return openTestStore(t, testdb.FreshPostgres(t, "apitoken_example_"))
		}},
		{"MariaDB", func(t *testing.T) apitoken.Store {
			return openTestStore(t, testdb.FreshMySQL(t, "apitoken_example_"))
		}},
	}
}

// openTestStore opens a store with openStore, as the server does, and
// closes it when the test ends.
func openTestStore(t *testing.T, dsn string) apitoken.Store {
	t.Helper()
	store, closeStore, _, err := openStore(t.Context(), dsn, t.TempDir())
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() {
		if err := closeStore(); err != nil {
			t.Errorf("close store: %v", err)
		}
	})
	return store
}

// syncBuffer is a bytes.Buffer safe for the concurrent writes of a logger.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is a running example service on an httptest.Server.
type env struct {
	t      *testing.T
	server *server
	http   *httptest.Server
	clock  *clock.Mock
	logs   *syncBuffer

	mu sync.Mutex
	// secrets are the token values and legacy secrets the test saw. The
	// cleanup checks that none of them reached the logs.
	secrets []string
}

// start is the instant at which the mock clock of every env starts.
var start = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

func newEnv(t *testing.T, store apitoken.Store) *env {
	t.Helper()
	users, err := loadUsers("")
	if err != nil {
		t.Fatal(err)
	}
	key, err := apitoken.NewSealingKey()
	if err != nil {
		t.Fatal(err)
	}
	keyring, err := apitoken.NewKeyring("test", map[string][]byte{"test": key})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, clock: clock.NewMock(), logs: &syncBuffer{}}
	e.clock.Set(start)
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.server, err = newServer(config{Store: store, Users: users, Keyring: keyring, Clock: e.clock, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	e.http = httptest.NewServer(e.server)
	t.Cleanup(func() {
		e.http.Close()
		if err := e.server.manager.Close(context.Background()); err != nil {
			t.Errorf("close manager: %v", err)
		}
		e.checkLogs(t)
	})
	return e
}

// checkLogs fails the test when a value or secret it saw is in the logs.
func (e *env) checkLogs(t *testing.T) {
	t.Helper()
	logs := e.logs.String()
	e.mu.Lock()
	defer e.mu.Unlock()
	for i, s := range e.secrets {
		if strings.Contains(logs, s) {
			t.Errorf("logs contain secret %d of %d", i+1, len(e.secrets))
		}
	}
}

func (e *env) remember(secret string) {
	if secret == "" {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, secret)
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// errorCode returns the code of a JSON error body, or "" when the body is
// not one.
func (r response) errorCode() string {
	var body errorBody
	_ = json.Unmarshal(r.body, &body)
	return body.Error.Code
}

func (r response) errorMessage() string {
	var body errorBody
	_ = json.Unmarshal(r.body, &body)
	return body.Error.Message
}

// request sends a request. A string or []byte body is sent as is, and any
// other body as JSON. The headers are name and value pairs.
func (e *env) request(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var reader io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		reader = strings.NewReader(b)
	case []byte:
		reader = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		reader = bytes.NewReader(data)
	}

	req, err := http.NewRequest(method, e.http.URL+path, reader)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Add(headers[i], headers[i+1])
	}

	resp, err := e.http.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode >= 400 && resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s %s: status %d with content type %q, want JSON", method, path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

// as sends a management request as the user.
func (e *env) as(t *testing.T, user, method, path string, body any) response {
	t.Helper()
	return e.request(t, method, path, body, userHeader, user)
}

// withToken sends a request authenticated with a token value.
func (e *env) withToken(t *testing.T, method, path string, value string) response {
	t.Helper()
	return e.request(t, method, path, nil, "X-API-Token", value)
}

func decode[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("response body %q: %v", r.body, err)
	}
	return v
}

// expectStatus fails the test when the response has another status, with
// the error code and message of the body.
func expectStatus(t *testing.T, what string, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d (%s: %s), want %d", what, r.status, r.errorCode(), r.errorMessage(), status)
	}
}

// create creates a token as the user and returns its metadata and value.
func (e *env) create(t *testing.T, user string, req map[string]any) (tokenJSON, string) {
	t.Helper()
	if _, ok := req["name"]; !ok {
		req["name"] = "test token"
	}
	r := e.as(t, user, "POST", "/v1/tokens", req)
	expectStatus(t, "create token as "+user, r, http.StatusCreated)
	out := decode[issuedToken](t, r)
	e.remember(out.Value)
	if out.Value == "" {
		t.Fatal("create token: no value in the response")
	}
	return out.Token, out.Value
}

// failingStore is a store whose every method fails, for the 503 path.
type failingStore struct {
	apitoken.Store
	fail bool
	mu   sync.Mutex
}

var errDatabaseDown = errors.New("database is down")

func (s *failingStore) failing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fail
}

func (s *failingStore) setFailing(fail bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = fail
}

func (s *failingStore) Lookup(ctx context.Context, d apitoken.Digest) (apitoken.Record, error) {
	if s.failing() {
		return apitoken.Record{}, errDatabaseDown
	}
	return s.Store.Lookup(ctx, d)
}

func (s *failingStore) Get(ctx context.Context, id string) (apitoken.Record, error) {
	if s.failing() {
		return apitoken.Record{}, errDatabaseDown
	}
	return s.Store.Get(ctx, id)
}

func (s *failingStore) Create(ctx context.Context, rec *apitoken.Record) error {
	if s.failing() {
		return errDatabaseDown
	}
	return s.Store.Create(ctx, rec)
}

func (s *failingStore) List(ctx context.Context, f apitoken.Filter) (apitoken.Page, error) {
	if s.failing() {
		return apitoken.Page{}, errDatabaseDown
	}
	return s.Store.List(ctx, f)
}

func (s *failingStore) UpdateOwner(ctx context.Context, ownerID string, fn apitoken.CascadeFunc) ([]apitoken.Change, error) {
	if s.failing() {
		return nil, errDatabaseDown
	}
	return s.Store.UpdateOwner(ctx, ownerID, fn)
}
