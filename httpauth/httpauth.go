// Package httpauth authenticates HTTP requests with apitoken credentials.
//
// Middleware finds the credentials of a request, verifies them with one
// call to the Manager and stores the resulting Principal in the request
// context. Require then checks permissions. Both respond to failures as RFC
// 6750 describes: 401 with a WWW-Authenticate challenge for bad or missing
// credentials, 403 with error="insufficient_scope" for a missing
// permission. When the store or the Policy fails, the middleware answers
// 503 and never passes the request on.
//
// Error responses have the JSON body
//
//	{"error":{"code":"invalid_token","message":"the token has expired"}}
//
// and never contain a token value or a secret, and neither do the log
// records.
package httpauth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
)

// Default header names of Options.
const (
	DefaultTokenHeader        = "X-API-Token"
	DefaultLegacyUUIDHeader   = "X-API-UUID"
	DefaultLegacySecretHeader = "X-API-Secret"
)

// Options configures Middleware. The zero value accepts a token in the
// X-API-Token header or as "Authorization: Bearer TOKEN", and a legacy
// pair in X-API-UUID and X-API-Secret.
type Options struct {
	// TokenHeader is the header that carries a token value; "" means
	// DefaultTokenHeader.
	TokenHeader string
	// DisableBearer stops the middleware from accepting tokens in an
	// "Authorization: Bearer" header. Authorization headers are then
	// ignored.
	DisableBearer bool
	// LegacyUUIDHeader and LegacySecretHeader carry the UUID and secret of
	// the older credential scheme; "" means DefaultLegacyUUIDHeader and
	// DefaultLegacySecretHeader.
	LegacyUUIDHeader   string
	LegacySecretHeader string
	// AllowQueryToken accepts a token in the query parameter access_token.
	// URLs end up in proxy logs and browser histories, so enable it only
	// for clients that cannot set headers. The middleware removes the
	// parameter from the URL before passing the request on. While this is
	// false the parameter is ignored: it neither authenticates a request
	// nor causes a rejection.
	AllowQueryToken bool
	// Logger receives one record per rejected request: Debug for a request
	// without credentials, Info for rejected credentials and missing
	// permissions, Error when the store or the Policy fails. At most 20
	// such records are written per second; the others are counted, and
	// the count is written in one Warn record a second later. Nil means
	// slog.Default().
	Logger *slog.Logger
	// Realm is the realm of the WWW-Authenticate challenge. It may contain
	// printable ASCII characters only. "" leaves the realm out.
	Realm string
}

// config is Options checked and completed with defaults. The header
// fields hold names in canonical form, which is how http.Header stores
// them, and the name fields hold them as configured, for messages.
type config struct {
	tokenHeader, tokenName   string
	uuidHeader, uuidName     string
	secretHeader, secretName string
	bearer                   bool
	allowQuery               bool
	realm                    string
	log                      *slog.Logger
	limiter                  *logLimiter
}

func newConfig(opts Options) (*config, error) {
	tokenHeader := cmpOr(opts.TokenHeader, DefaultTokenHeader)
	uuidHeader := cmpOr(opts.LegacyUUIDHeader, DefaultLegacyUUIDHeader)
	secretHeader := cmpOr(opts.LegacySecretHeader, DefaultLegacySecretHeader)
	c := &config{
		tokenHeader:  http.CanonicalHeaderKey(tokenHeader),
		tokenName:    tokenHeader,
		uuidHeader:   http.CanonicalHeaderKey(uuidHeader),
		uuidName:     uuidHeader,
		secretHeader: http.CanonicalHeaderKey(secretHeader),
		secretName:   secretHeader,
		bearer:       !opts.DisableBearer,
		allowQuery:   opts.AllowQueryToken,
		realm:        opts.Realm,
		log:          opts.Logger,
	}
	if c.log == nil {
		c.log = slog.Default()
	}
	c.limiter = &logLimiter{now: time.Now}
	seen := map[string]string{"Authorization": "the Authorization header"}
	for _, h := range []struct{ field, name string }{
		{"TokenHeader", c.tokenHeader},
		{"LegacyUUIDHeader", c.uuidHeader},
		{"LegacySecretHeader", c.secretHeader},
	} {
		if !isHeaderName(h.name) {
			return nil, fmt.Errorf("%w: Options.%s %q is not a valid header name: use letters, digits and '-', such as %q",
				apitoken.ErrInvalidArgument, h.field, h.name, DefaultTokenHeader)
		}
		if other, ok := seen[h.name]; ok {
			return nil, fmt.Errorf("%w: Options.%s %q is already used by %s: give each credential its own header",
				apitoken.ErrInvalidArgument, h.field, h.name, other)
		}
		seen[h.name] = "Options." + h.field
	}
	for i := 0; i < len(c.realm); i++ {
		if c.realm[i] < 0x20 || c.realm[i] > 0x7e {
			return nil, fmt.Errorf("%w: Options.Realm contains the byte %#x at offset %d: use printable ASCII characters only",
				apitoken.ErrInvalidArgument, c.realm[i], i)
		}
	}
	return c, nil
}

func cmpOr(v, fallback string) string {
	if v == "" {
		return fallback
	}
	return v
}

// isHeaderName reports whether s is a field name, which RFC 9110 defines
// as a token.
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", b) >= 0:
		default:
			return false
		}
	}
	return true
}

// Middleware returns a middleware that authenticates every request with m
// and stores the Principal in the request context, where
// PrincipalFromContext finds it. Principal.Method records how the
// credentials came: MethodToken for the token header, MethodBearer for an
// Authorization: Bearer header or the query parameter, MethodLegacy for a
// legacy pair. It returns an error wrapping apitoken.ErrInvalidArgument
// when m is nil or an option is invalid.
//
// A request is rejected with 401 when it carries no credentials, more than
// one set of them, a duplicate or malformed credential header, or
// credentials that the Manager rejects. It is rejected with 503 when the
// Manager fails for any other reason, such as an unreachable store.
func Middleware(m *apitoken.Manager, opts Options) (func(http.Handler) http.Handler, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil Manager: pass the Manager that issued the tokens", apitoken.ErrInvalidArgument)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return func(next http.Handler) http.Handler {
		return &authenticator{manager: m, config: c, next: next}
	}, nil
}

type authenticator struct {
	manager *apitoken.Manager
	config  *config
	next    http.Handler
}

func (a *authenticator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := a.config
	creds, aerr := extractCredentials(r.Header, r.URL.RawQuery, c)
	if aerr != nil {
		level := slog.LevelInfo
		if aerr.code == "" {
			level = slog.LevelDebug
		}
		c.limiter.log(r.Context(), c.log, level, "httpauth: rejected request", requestAttrs(r, "reason", aerr.reason)...)
		c.unauthorized(w, aerr)
		return
	}

	var p apitoken.Principal
	var err error
	if creds.method == apitoken.MethodLegacy {
		p, err = a.manager.VerifyLegacy(r.Context(), creds.uuid, creds.secret)
	} else {
		p, err = a.manager.Verify(r.Context(), creds.value)
	}
	if err != nil {
		a.fail(w, r, creds.method, err)
		return
	}
	p.Method = creds.method

	ctx := context.WithValue(r.Context(), contextKey{}, &authInfo{principal: p, config: c})
	r = r.WithContext(ctx)
	if creds.fromQuery {
		r = withoutQueryToken(r)
	}
	a.next.ServeHTTP(w, r)
}

// fail logs and rejects a request whose credentials the Manager did not
// accept.
func (a *authenticator) fail(w http.ResponseWriter, r *http.Request, method apitoken.Method, err error) {
	c := a.config
	attrs := requestAttrs(r, "credential_method", string(method), "error", err.Error())
	if id := tokenIDPattern.FindString(err.Error()); id != "" {
		attrs = append(attrs, "token_id", id)
	}
	if !apitoken.IsCredentialError(err) {
		c.limiter.log(r.Context(), c.log, slog.LevelError, "httpauth: credential check failed", attrs...)
		writeError(w, http.StatusServiceUnavailable, "unavailable", "credentials cannot be checked right now: retry later")
		return
	}
	reason, message := describeRejection(err)
	c.limiter.log(r.Context(), c.log, slog.LevelInfo, "httpauth: rejected credentials", append(attrs, "reason", reason)...)
	c.unauthorized(w, &authError{code: codeInvalidToken, reason: reason, message: message})
}

// tokenIDPattern matches the token IDs that errors of the root package
// contain. Errors never contain values, so the ID is the only part of a
// token worth pulling out of them for a log record.
var tokenIDPattern = regexp.MustCompile(`\btok_[0-9A-HJKMNP-TV-Z]{26}\b`)

// describeRejection returns a log reason and a client message for an error
// for which apitoken.IsCredentialError is true.
func describeRejection(err error) (reason, message string) {
	switch {
	case errors.Is(err, apitoken.ErrMalformed):
		return "malformed", "the token is malformed"
	case errors.Is(err, apitoken.ErrExpired):
		return "expired", "the token has expired"
	case errors.Is(err, apitoken.ErrDisabled):
		return "disabled", "the token is disabled"
	case errors.Is(err, apitoken.ErrOwnerDisabled):
		return "owner_disabled", "the owner of the token is disabled"
	case errors.Is(err, apitoken.ErrSSO):
		return "owner_sso", "the owner of the token signs in by single sign-on and cannot use API tokens"
	}
	return "unknown", "the credentials are unknown: the token may have been renewed or deleted"
}

// withoutQueryToken returns a shallow copy of r whose URL has no
// QueryParameter, so that handlers and access logs further on never see
// the token.
func withoutQueryToken(r *http.Request) *http.Request {
	r2 := new(http.Request)
	*r2 = *r
	u := *r.URL
	var kept []string
	for pair := range strings.SplitSeq(u.RawQuery, "&") {
		rawKey, _, _ := strings.Cut(pair, "=")
		if key, err := url.QueryUnescape(rawKey); err != nil || key != QueryParameter {
			kept = append(kept, pair)
		}
	}
	u.RawQuery = strings.Join(kept, "&")
	r2.URL = &u
	if r.RequestURI != "" {
		r2.RequestURI = u.RequestURI()
	}
	return r2
}

func requestAttrs(r *http.Request, attrs ...any) []any {
	return append([]any{"http_method", r.Method, "path", r.URL.Path, "remote_addr", r.RemoteAddr}, attrs...)
}
