package main

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/benbjohnson/clock"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/httpauth"
)

// userHeader carries the ID of the signed-in user of a management request.
// The management API trusts it, so the server must only be reachable
// through an authenticating proxy that sets it and drops it from client
// requests.
const userHeader = "X-Forwarded-User"

// maxBodyBytes is the maximum size of a request body.
const maxBodyBytes = 64 << 10

// config is the configuration of newServer. Store and Users are required.
type config struct {
	Store apitoken.Store
	Users *usersFile
	// Keyring lets owners reveal values later; nil shows a value only
	// when it is issued.
	Keyring *apitoken.Keyring
	// Clock is the source of time; nil means the real clock.
	Clock clock.Clock
	// Logger receives request and error logs; nil means slog.Default().
	Logger *slog.Logger
}

// server is the HTTP API of the example service.
type server struct {
	manager *apitoken.Manager
	users   *userDirectory
	clock   clock.Clock
	log     *slog.Logger
	handler http.Handler

	// userChanges serialises the user endpoints, so that the directory
	// change and the token cascade of one request are not interleaved
	// with those of another.
	userChanges sync.Mutex
}

// newServer builds the service on a store. The caller runs the purge
// (server.manager.RunPurge) and closes the Manager.
func newServer(cfg config) (*server, error) {
	if cfg.Users == nil {
		return nil, errors.New("config.Users is nil: pass the users from loadUsers")
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.New()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	users, err := newUserDirectory(cfg.Users)
	if err != nil {
		return nil, err
	}
	m, err := apitoken.New(apitoken.Config{
		Store:   cfg.Store,
		Policy:  users.policy,
		Clock:   cfg.Clock,
		Keyring: cfg.Keyring,
		Logger:  cfg.Logger,
	})
	if err != nil {
		return nil, err
	}
	s := &server{manager: m, users: users, clock: cfg.Clock, log: cfg.Logger}

	authenticate, err := httpauth.Middleware(m, httpauth.Options{Logger: cfg.Logger, Realm: "apitoken example"})
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()

	mux.Handle("POST /v1/tokens", s.withActor(s.createToken))
	mux.Handle("GET /v1/tokens", s.withActor(s.listTokens))
	mux.Handle("GET /v1/tokens/{id}", s.withActor(s.getToken))
	mux.Handle("GET /v1/tokens/{id}/value", s.withActor(s.revealToken))
	mux.Handle("POST /v1/tokens/{id}/renew", s.withActor(s.renewToken))
	mux.Handle("POST /v1/tokens/{id}/disable", s.withActor(s.disableToken))
	mux.Handle("POST /v1/tokens/{id}/enable", s.withActor(s.enableToken))
	mux.Handle("PATCH /v1/tokens/{id}", s.withActor(s.updateToken))
	mux.Handle("DELETE /v1/tokens/{id}", s.withActor(s.deleteToken))

	mux.Handle("POST /v1/users/{id}/disable", s.withActor(s.disableUser))
	mux.Handle("POST /v1/users/{id}/enable", s.withActor(s.enableUser))
	mux.Handle("PUT /v1/users/{id}/role", s.withActor(s.changeRole))
	mux.Handle("POST /v1/users/{id}/sso", s.withActor(s.switchToSSO))
	mux.Handle("DELETE /v1/users/{id}", s.withActor(s.deleteUser))
	mux.Handle("POST /v1/users/{id}/legacy-credentials", s.withActor(s.importLegacy))

	mux.Handle("GET /v1/whoami", authenticate(http.HandlerFunc(s.whoami)))
	mux.Handle("GET /v1/attacks", authenticate(httpauth.Require("attacks:read")(http.HandlerFunc(s.listAttacks))))
	mux.Handle("POST /v1/rules", authenticate(httpauth.Require("rules:write")(http.HandlerFunc(s.createRule))))

	s.handler = s.logRequests(limitBody(jsonRoutingErrors(mux)))
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// actorHandler is a management endpoint. It receives the signed-in user,
// and withActor passes its error to writeError.
type actorHandler func(w http.ResponseWriter, r *http.Request, actor apitoken.User) error

// withActor resolves the signed-in user from userHeader and runs h. A
// missing or unknown user gets 401, and a disabled user or one who signs
// in by SSO gets 403.
func (s *server) withActor(h actorHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		actor, err := s.resolveActor(r)
		if err == nil {
			err = h(w, r, actor)
		}
		if err != nil {
			s.writeError(w, r, err)
		}
	})
}

func (s *server) resolveActor(r *http.Request) (apitoken.User, error) {
	ids := r.Header.Values(userHeader)
	if len(ids) != 1 || ids[0] == "" {
		return apitoken.User{}, &apiError{status: http.StatusUnauthorized, code: "unauthenticated",
			message: fmt.Sprintf("send the ID of the signed-in user in exactly one %s header", userHeader)}
	}
	actor, err := s.users.policy.User(r.Context(), ids[0])
	if err != nil {
		return apitoken.User{}, &apiError{status: http.StatusUnauthorized, code: "unauthenticated",
			message: fmt.Sprintf("user %q is not known", ids[0]), err: err}
	}
	switch {
	case actor.Disabled:
		return apitoken.User{}, &apiError{status: http.StatusForbidden, code: "forbidden",
			message: fmt.Sprintf("user %q is disabled", actor.ID), err: apitoken.ErrOwnerDisabled}
	case actor.SSO:
		return apitoken.User{}, &apiError{status: http.StatusForbidden, code: "forbidden",
			message: fmt.Sprintf("user %q signs in by SSO and cannot manage API tokens", actor.ID), err: apitoken.ErrSSO}
	}
	return actor, nil
}

// jsonRoutingErrors responds with a JSON error to requests that match no
// route, where ServeMux would respond 404 or 405 in plain text.
func jsonRoutingErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, pattern := mux.Handler(r)
		if pattern != "" {
			mux.ServeHTTP(w, r)
			return
		}
		// Let the mux decide between 404 and 405 and set Allow, but
		// replace its body.
		probe := &headerRecorder{header: http.Header{}}
		h.ServeHTTP(probe, r)
		if probe.status != http.StatusNotFound && probe.status != http.StatusMethodNotAllowed {
			mux.ServeHTTP(w, r)
			return
		}
		if allow := probe.header.Get("Allow"); allow != "" {
			w.Header().Set("Allow", allow)
			writeJSON(w, probe.status, errorBody{errorDetail{"method_not_allowed",
				fmt.Sprintf("method %s is not allowed on %s: use %s", r.Method, r.URL.Path, allow)}})
			return
		}
		writeJSON(w, probe.status, errorBody{errorDetail{"not_found", fmt.Sprintf("no endpoint %s %s", r.Method, r.URL.Path)}})
	})
}

// headerRecorder is a ResponseWriter that keeps the header and status and
// discards the body.
type headerRecorder struct {
	header http.Header
	status int
}

func (h *headerRecorder) Header() http.Header { return h.header }

func (h *headerRecorder) Write(b []byte) (int, error) { return len(b), nil }

func (h *headerRecorder) WriteHeader(status int) { h.status = status }

// limitBody caps every request body at maxBodyBytes.
func limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// logRequests logs one line per request with the path but not the query,
// so that no credential sent in a URL reaches the log.
func (s *server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := s.clock.Now()
		rec := &statusRecorder{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		s.log.InfoContext(r.Context(), "request",
			"method", r.Method,
			"path", r.URL.Path,
			"status", rec.status,
			"user", r.Header.Get(userHeader),
			"duration", s.clock.Since(start).Round(time.Microsecond))
	})
}
