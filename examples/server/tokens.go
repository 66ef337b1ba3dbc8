package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/apitoken/apitoken"
)

type createTokenRequest struct {
	Name        string   `json:"name"`
	Permissions []string `json:"permissions"`
	// ExpiresAt is an RFC 3339 time; absent or null means no expiry.
	ExpiresAt *string `json:"expires_at"`
	Shared    bool    `json:"shared"`
}

// issuedToken is the response of create and renew: the only responses
// besides reveal that contain a value.
type issuedToken struct {
	Token tokenJSON `json:"token"`
	Value string    `json:"value"`
}

func (s *server) createToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	var req createTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	create := apitoken.CreateRequest{Name: req.Name, Permissions: req.Permissions, Shared: req.Shared}
	if req.ExpiresAt != nil {
		t, err := s.parseExpiry(*req.ExpiresAt)
		if err != nil {
			return err
		}
		create.ExpiresAt = t
	}
	tok, value, err := s.manager.Create(r.Context(), actor.ID, create)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, issuedToken{s.tokenJSON(tok), string(value)})
	return nil
}

// parseExpiry parses a new expiry and checks that it lies in the future,
// so that the message names the field.
func (s *server) parseExpiry(value string) (time.Time, error) {
	t, err := parseTime("expires_at", value)
	if err != nil {
		return time.Time{}, err
	}
	if now := s.clock.Now(); !t.After(now) {
		return time.Time{}, badRequest("expires_at %s is not in the future (now %s): give a later time, or leave expires_at out for a token that does not expire",
			formatTime(t), formatTime(now))
	}
	return t, nil
}

type tokenList struct {
	Tokens []tokenJSON `json:"tokens"`
	// Next is the cursor of the following page, for ?after=.
	Next string `json:"next,omitempty"`
}

func (s *server) listTokens(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	opts := apitoken.ListOptions{After: r.URL.Query().Get("after")}
	if v := r.URL.Query().Get("limit"); v != "" {
		limit, err := strconv.Atoi(v)
		if err != nil || limit < 1 || limit > apitoken.MaxPageSize {
			return badRequest("limit %q is not a whole number from 1 to %d", v, apitoken.MaxPageSize)
		}
		opts.Limit = limit
	}
	page, err := s.manager.List(r.Context(), actor.ID, opts)
	if err != nil {
		return err
	}
	out := tokenList{Tokens: make([]tokenJSON, 0, len(page.Tokens)), Next: page.Next}
	for _, t := range page.Tokens {
		out.Tokens = append(out.Tokens, s.tokenJSON(t))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *server) getToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	tok, err := s.manager.Get(r.Context(), actor.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.tokenJSON(tok))
	return nil
}

func (s *server) revealToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	value, err := s.manager.Reveal(r.Context(), actor.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, struct {
		Value string `json:"value"`
	}{string(value)})
	return nil
}

func (s *server) renewToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	tok, value, err := s.manager.Renew(r.Context(), actor.ID, r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, issuedToken{s.tokenJSON(tok), string(value)})
	return nil
}

func (s *server) disableToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	return s.respondToken(w)(s.manager.Disable(r.Context(), actor.ID, r.PathValue("id")))
}

func (s *server) enableToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	return s.respondToken(w)(s.manager.Enable(r.Context(), actor.ID, r.PathValue("id")))
}

// respondToken returns a function that writes the token of a successful
// change, or returns the error of a failed one.
func (s *server) respondToken(w http.ResponseWriter) func(apitoken.Token, error) error {
	return func(tok apitoken.Token, err error) error {
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, s.tokenJSON(tok))
		return nil
	}
}

type updateTokenRequest struct {
	Name *string `json:"name"`
	// ExpiresAt is kept raw to tell an absent field, which keeps the
	// expiry, from null, which removes it.
	ExpiresAt   json.RawMessage `json:"expires_at"`
	Permissions []string        `json:"permissions"`
}

func (s *server) updateToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	var req updateTokenRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	update := apitoken.UpdateRequest{Name: req.Name, Permissions: req.Permissions}
	switch {
	case req.ExpiresAt == nil:
	case bytes.Equal(req.ExpiresAt, []byte("null")):
		update.ExpiresAt = new(time.Time)
	default:
		var value string
		if err := json.Unmarshal(req.ExpiresAt, &value); err != nil {
			return badRequest("field \"expires_at\" must be an RFC 3339 time in a string, or null to remove the expiry")
		}
		t, err := s.parseExpiry(value)
		if err != nil {
			return err
		}
		update.ExpiresAt = &t
	}
	return s.respondToken(w)(s.manager.Update(r.Context(), actor.ID, r.PathValue("id"), update))
}

func (s *server) deleteToken(w http.ResponseWriter, r *http.Request, actor apitoken.User) error {
	if err := s.manager.Delete(r.Context(), actor.ID, r.PathValue("id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
