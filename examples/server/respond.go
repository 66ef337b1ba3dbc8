package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/apitoken/apitoken"
)

// apiError is an error with its own status and code, for failures that
// the server finds itself, such as a malformed request body.
type apiError struct {
	status  int
	code    string
	message string
	// err is the sentinel error of the root package that the failure
	// matches, if any.
	err error
}

func (e *apiError) Error() string { return e.message }

func (e *apiError) Unwrap() error { return e.err }

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "invalid_request", message: fmt.Sprintf(format, args...)}
}

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorStatuses maps the sentinel errors of the root package to a status
// and an error code. The first match wins. A disabled actor or one who
// signs in by SSO is rejected with 403 by withActor before the Manager is
// called, so ErrOwnerDisabled and ErrSSO here are about the owner of a
// token, whose state prevents the operation.
var errorStatuses = []struct {
	err    error
	status int
	code   string
}{
	{apitoken.ErrInvalidArgument, http.StatusBadRequest, "invalid_request"},
	{apitoken.ErrMalformed, http.StatusBadRequest, "invalid_request"},
	{apitoken.ErrNotFound, http.StatusNotFound, "not_found"},
	{apitoken.ErrUnknownUser, http.StatusNotFound, "not_found"},
	{apitoken.ErrForbidden, http.StatusForbidden, "forbidden"},
	{apitoken.ErrConflict, http.StatusConflict, "conflict"},
	{apitoken.ErrDisabled, http.StatusConflict, "token_disabled"},
	{apitoken.ErrExpired, http.StatusConflict, "token_expired"},
	{apitoken.ErrOwnerDisabled, http.StatusConflict, "owner_disabled"},
	{apitoken.ErrSSO, http.StatusConflict, "owner_sso"},
	{apitoken.ErrValueNotRetained, http.StatusConflict, "value_not_retained"},
}

// writeError logs a failed request and writes its error response. Store
// errors and anything unexpected get 503 with a generic message, because
// their text may describe the database. The log record has the details.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, message := http.StatusServiceUnavailable, "unavailable", "the token service is unavailable: retry later"

	var apiErr *apiError
	var mapped bool
	if errors.As(err, &apiErr) {
		status, code, message, mapped = apiErr.status, apiErr.code, apiErr.message, true
	}
	for _, e := range errorStatuses {
		if !mapped && errors.Is(err, e.err) {
			status, code, message, mapped = e.status, e.code, strings.TrimPrefix(err.Error(), "apitoken: "), true
		}
	}

	attrs := []any{"method", r.Method, "path", r.URL.Path, "user", r.Header.Get(userHeader), "status", status, "error", err.Error()}
	if status >= 500 {
		s.log.ErrorContext(r.Context(), "request failed", attrs...)
	} else {
		s.log.InfoContext(r.Context(), "request rejected", attrs...)
	}
	writeJSON(w, status, errorBody{errorDetail{code, message}})
}

// writeJSON writes v as the JSON body of a response. Responses may carry
// token values, so no cache may keep them.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	// A failed write means that the client went away.
	_ = json.NewEncoder(w).Encode(v)
}

// decodeJSON decodes a request body of one JSON object into dst, and
// rejects unknown fields, trailing data and bodies over maxBodyBytes with
// a message that names the problem.
func decodeJSON(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == nil {
		if dec.Decode(&struct{}{}) != io.EOF {
			return badRequest("request body contains more than one JSON value: send one object")
		}
		return nil
	}

	var syntaxErr *json.SyntaxError
	var typeErr *json.UnmarshalTypeError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return badRequest("request body is larger than %d bytes", tooLarge.Limit)
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty: send a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body is not valid JSON: it ends too early")
	case errors.As(err, &syntaxErr):
		return badRequest("request body is not valid JSON: %s at byte %d", syntaxErr, syntaxErr.Offset)
	case errors.As(err, &typeErr) && typeErr.Field != "":
		return badRequest("field %q must be %s, not a JSON %s", typeErr.Field, jsonKind(typeErr.Type.Kind().String()), typeErr.Value)
	case errors.As(err, &typeErr):
		return badRequest("request body must be a JSON object, not a JSON %s", typeErr.Value)
	}
	if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return badRequest("unknown field %s in the request body", field)
	}
	return badRequest("request body is not valid: %v", err)
}

// jsonKind returns the JSON name of a Go kind, for messages.
func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "a number"
}

// parseTime parses an RFC 3339 time of the named field.
func parseTime(field, value string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, value)
	if err != nil {
		return time.Time{}, badRequest("%s %q is not an RFC 3339 time such as \"2030-01-02T15:04:05Z\"", field, value)
	}
	return t, nil
}

// tokenJSON is the JSON form of a token's metadata. Times are RFC 3339 in
// UTC, and unset times are left out.
type tokenJSON struct {
	ID                 string `json:"id"`
	Name               string `json:"name"`
	OwnerID            string `json:"owner_id"`
	TenantID           string `json:"tenant_id"`
	Shared             bool   `json:"shared"`
	BackwardCompatible bool   `json:"backward_compatible"`
	// Permissions is left out for backward-compatible tokens, whose
	// permissions are always their owner's.
	Permissions    []string `json:"permissions,omitzero"`
	Status         string   `json:"status"`
	DisabledReason string   `json:"disabled_reason,omitempty"`
	CreatedAt      string   `json:"created_at"`
	ExpiresAt      string   `json:"expires_at,omitempty"`
	DisabledAt     string   `json:"disabled_at,omitempty"`
	LastUsedAt     string   `json:"last_used_at,omitempty"`
	PurgeAt        string   `json:"purge_at,omitempty"`
}

func (s *server) tokenJSON(t apitoken.Token) tokenJSON {
	out := tokenJSON{
		ID:                 t.ID,
		Name:               t.Name,
		OwnerID:            t.OwnerID,
		TenantID:           t.TenantID,
		Shared:             t.Shared,
		BackwardCompatible: t.BackwardCompatible,
		Status:             string(t.Status(s.clock.Now())),
		DisabledReason:     string(t.DisabledReason),
		CreatedAt:          formatTime(t.CreatedAt),
		ExpiresAt:          formatTime(t.ExpiresAt),
		DisabledAt:         formatTime(t.DisabledAt),
		LastUsedAt:         formatTime(t.LastUsedAt),
		PurgeAt:            formatTime(t.PurgeAt(s.manager.Retention())),
	}
	if !t.BackwardCompatible {
		out.Permissions = append([]string{}, t.Permissions...)
	}
	return out
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}
