package httpauth

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/apitoken/apitoken"
)

// MaxCredentialLength is the maximum length in bytes of one credential
// header value or query parameter. Longer values are rejected before any
// store lookup. Token values have 53 bytes with the default prefix and at
// most 66 with a custom one, so the limit leaves room for legacy secrets.
const MaxCredentialLength = 4096

// QueryParameter is the query parameter that carries a token when
// Options.AllowQueryToken is set, as in RFC 6750 section 2.3.
const QueryParameter = "access_token"

// Error codes of RFC 6750 section 3.1.
const (
	codeInvalidRequest    = "invalid_request"
	codeInvalidToken      = "invalid_token"
	codeInsufficientScope = "insufficient_scope"
)

// credentials is the set of credentials that a request carries, before
// verification.
type credentials struct {
	method apitoken.Method
	// value is the token value of MethodToken and MethodBearer.
	value string
	// uuid and secret are the legacy pair of MethodLegacy.
	uuid, secret string
	// fromQuery is set when value came from the query string.
	fromQuery bool
}

// authError is a rejection found before or during verification. Its
// message is built only from constant text and configured header names,
// never from what the request sent, so it can neither leak a credential
// nor be used to inject text into a response or a log.
type authError struct {
	// code is the RFC 6750 error code, or "" when the request carried no
	// credentials this package accepts.
	code string
	// reason is a short machine-readable cause for logs.
	reason  string
	message string
}

// extractCredentials finds the one set of credentials that a request
// carries in its headers and query string. It checks their syntax only:
// whether they are valid is for the Manager to decide.
func extractCredentials(h http.Header, rawQuery string, c *config) (credentials, *authError) {
	authorization := h["Authorization"]
	tokens := h[c.tokenHeader]
	uuids := h[c.uuidHeader]
	secrets := h[c.secretHeader]
	// Without AllowQueryToken the query string is not a place for
	// credentials at all: a token there is ignored, as if absent.
	var queryTokens []string
	var queryErr bool
	if c.allowQuery {
		queryTokens, queryErr = findQueryTokens(rawQuery)
	}

	for _, f := range []struct {
		name   string
		values []string
	}{
		{"Authorization", authorization},
		{c.tokenName, tokens},
		{c.uuidName, uuids},
		{c.secretName, secrets},
		{"query parameter " + QueryParameter, queryTokens},
	} {
		if len(f.values) > 1 {
			return credentials{}, invalidRequest("duplicate", fmt.Sprintf("the request has %d %s values: send exactly one", len(f.values), f.name))
		}
		if len(f.values) == 1 && len(f.values[0]) > MaxCredentialLength {
			return credentials{}, invalidRequest("too_long", fmt.Sprintf("the %s value is longer than %d bytes", f.name, MaxCredentialLength))
		}
	}
	if queryErr {
		return credentials{}, invalidRequest("malformed", "the query parameter "+QueryParameter+" is not properly percent-encoded")
	}

	// An Authorization header with another scheme, such as Basic from a
	// proxy in front of the service, is not a credential of this package
	// and is ignored.
	bearer, isBearer := bearerCredentials(authorization, c)

	var sources []string
	if isBearer {
		sources = append(sources, "Authorization: Bearer")
	}
	if len(tokens) > 0 {
		sources = append(sources, c.tokenName)
	}
	if len(uuids) > 0 || len(secrets) > 0 {
		sources = append(sources, "the legacy "+c.uuidName+" and "+c.secretName+" pair")
	}
	if len(queryTokens) > 0 {
		sources = append(sources, "query parameter "+QueryParameter)
	}
	switch {
	case len(sources) > 1:
		return credentials{}, invalidRequest("conflict", "the request carries credentials in more than one way ("+strings.Join(sources, ", ")+"): send exactly one")
	case len(sources) == 0 && len(authorization) > 0:
		return credentials{}, &authError{reason: "unsupported_scheme", message: "the Authorization header does not use the Bearer scheme: send an API token as \"Authorization: Bearer TOKEN\" or in the " + c.tokenName + " header"}
	case len(sources) == 0:
		hint := "send an API token in the " + c.tokenName + " header"
		if c.bearer {
			hint += " or as \"Authorization: Bearer TOKEN\""
		}
		return credentials{}, &authError{reason: "missing", message: "the request carries no credentials: " + hint}
	}

	switch {
	case isBearer:
		if bearer == "" {
			return credentials{}, invalidRequest("malformed", "the Authorization header has the Bearer scheme but no token after it")
		}
		if !isToken68(bearer) {
			return credentials{}, invalidRequest("malformed", "the Bearer token contains characters that a token never contains")
		}
		return credentials{method: apitoken.MethodBearer, value: bearer}, nil

	case len(tokens) > 0:
		value := trimOWS(tokens[0])
		if value == "" || !isToken68(value) {
			return credentials{}, invalidRequest("malformed", "the "+c.tokenName+" header is empty or contains characters that a token never contains")
		}
		return credentials{method: apitoken.MethodToken, value: value}, nil

	case len(queryTokens) > 0:
		// RFC 6750 calls the query parameter a way to send a bearer token.
		value := queryTokens[0]
		if value == "" || !isToken68(value) {
			return credentials{}, invalidRequest("malformed", "the query parameter "+QueryParameter+" is empty or contains characters that a token never contains")
		}
		return credentials{method: apitoken.MethodBearer, value: value, fromQuery: true}, nil
	}

	if len(uuids) == 0 || len(secrets) == 0 {
		return credentials{}, invalidRequest("incomplete_legacy", "legacy credentials need both the "+c.uuidName+" and the "+c.secretName+" header")
	}
	uuid, secret := trimOWS(uuids[0]), trimOWS(secrets[0])
	if !isVisibleASCII(uuid) || !isVisibleASCII(secret) {
		return credentials{}, invalidRequest("malformed", "the "+c.uuidName+" or "+c.secretName+" header is empty or contains characters other than visible ASCII")
	}
	return credentials{method: apitoken.MethodLegacy, uuid: uuid, secret: secret}, nil
}

func invalidRequest(reason, message string) *authError {
	return &authError{code: codeInvalidRequest, reason: reason, message: message}
}

// bearerCredentials reports whether the Authorization values hold one
// header with the Bearer scheme, and returns the text after the scheme.
// RFC 9110 makes the scheme case-insensitive and separates it from the
// token by one or more spaces. The returned token is "" when only the
// scheme was sent, and is not checked further.
func bearerCredentials(authorization []string, c *config) (string, bool) {
	if len(authorization) != 1 || !c.bearer {
		return "", false
	}
	v := trimOWS(authorization[0])
	scheme, rest, _ := strings.Cut(v, " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimLeft(rest, " "), true
}

// findQueryTokens returns the decoded values of every QueryParameter in a
// raw query string, and whether one of them is not properly encoded. It
// reads the query itself because url.ParseQuery drops badly encoded pairs
// without saying which.
func findQueryTokens(rawQuery string) (values []string, malformed bool) {
	for rawQuery != "" {
		var pair string
		pair, rawQuery, _ = strings.Cut(rawQuery, "&")
		rawKey, rawValue, _ := strings.Cut(pair, "=")
		key, err := url.QueryUnescape(rawKey)
		if err != nil || key != QueryParameter {
			continue
		}
		if len(rawValue) > MaxCredentialLength {
			// Keep the raw value so that the length check rejects it
			// without decoding it.
			values = append(values, rawValue)
			continue
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			malformed = true
			continue
		}
		values = append(values, value)
	}
	return values, malformed
}

// trimOWS removes the optional whitespace (spaces and horizontal tabs) that
// RFC 9110 allows around a field value.
func trimOWS(s string) string {
	return strings.Trim(s, " \t")
}

// isToken68 reports whether s matches the token68 syntax of RFC 9110:
// 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" )
// *"=".
func isToken68(s string) bool {
	end := strings.TrimRight(s, "=")
	if end == "" {
		return false
	}
	for i := 0; i < len(end); i++ {
		b := end[i]
		switch {
		case 'a' <= b && b <= 'z', 'A' <= b && b <= 'Z', '0' <= b && b <= '9':
		case b == '-', b == '.', b == '_', b == '~', b == '+', b == '/':
		default:
			return false
		}
	}
	return true
}

// isVisibleASCII reports whether s is non-empty and consists of visible
// ASCII characters (VCHAR of RFC 5234): no spaces, control characters or
// non-ASCII bytes.
func isVisibleASCII(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
