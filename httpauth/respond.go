package httpauth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/apitoken/apitoken"
)

type contextKey struct{}

// authInfo is what Middleware stores in the request context: the
// principal and the configuration that Require needs to answer in the
// same way.
type authInfo struct {
	principal apitoken.Principal
	config    *config
}

// PrincipalFromContext returns the principal that Middleware stored in the
// context, and false when the request was not authenticated by it. The
// Permissions slice is shared with the Manager: do not modify it.
func PrincipalFromContext(ctx context.Context) (apitoken.Principal, bool) {
	info, ok := ctx.Value(contextKey{}).(*authInfo)
	if !ok {
		return apitoken.Principal{}, false
	}
	return info.principal, true
}

// Require returns a middleware that passes a request on only when the
// principal that Middleware stored holds every one of perms. Without a
// principal it responds with 401, so it must run after Middleware. When a
// permission is missing it responds with 403 and error="insufficient_scope" and
// the required permissions in the scope attribute, as RFC 6750 section
// 3.1 describes. With no perms it requires only an authenticated request.
//
// Require panics when a permission is empty or contains a space, a double
// quote or a backslash: such a name is a programming error and could never
// be held.
func Require(perms ...string) func(http.Handler) http.Handler {
	for _, p := range perms {
		if p == "" || strings.ContainsAny(p, " \"\\") {
			panic(fmt.Sprintf("httpauth: Require: permission %q is empty or contains a space, a double quote or a backslash", p))
		}
	}
	scope := strings.Join(perms, " ")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, ok := r.Context().Value(contextKey{}).(*authInfo)
			if !ok {
				w.Header().Set("WWW-Authenticate", "Bearer")
				writeError(w, http.StatusUnauthorized, "missing_credentials", "the request is not authenticated")
				return
			}
			for _, p := range perms {
				if info.principal.Has(p) {
					continue
				}
				info.config.limiter.log(r.Context(), info.config.log, slog.LevelInfo, "httpauth: missing permission",
					requestAttrs(r, "token_id", info.principal.TokenID, "owner_id", info.principal.OwnerID, "permission", p)...)
				w.Header().Set("WWW-Authenticate", info.config.challenge(codeInsufficientScope, scope))
				writeError(w, http.StatusForbidden, codeInsufficientScope, fmt.Sprintf("the token does not hold the permission %q", p))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// unauthorized responds with 401 and a challenge that carries the error code,
// or none when the request carried no credentials (RFC 6750 section 3.1).
func (c *config) unauthorized(w http.ResponseWriter, e *authError) {
	w.Header().Set("WWW-Authenticate", c.challenge(e.code, ""))
	code := e.code
	if code == "" {
		code = "missing_credentials"
	}
	writeError(w, http.StatusUnauthorized, code, e.message)
}

// challenge returns the value of a WWW-Authenticate header for the Bearer
// scheme of RFC 6750 section 3.
func (c *config) challenge(code, scope string) string {
	var params []string
	if c.realm != "" {
		params = append(params, "realm="+quote(c.realm))
	}
	if code != "" {
		params = append(params, "error="+quote(code))
	}
	if scope != "" {
		params = append(params, "scope="+quote(scope))
	}
	if len(params) == 0 {
		return "Bearer"
	}
	return "Bearer " + strings.Join(params, ", ")
}

// quote returns s as a quoted-string of RFC 9110.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// A failed write means that the client went away, so there is no one
	// to report it to.
	_ = json.NewEncoder(w).Encode(errorBody{Error: errorDetail{Code: code, Message: message}})
}
