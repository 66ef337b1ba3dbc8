package main

import (
	"encoding/json"
	"net/http"

	"github.com/apitoken/apitoken/httpauth"
)

// The endpoints in this file stand for the service's own API. They are
// authenticated with API tokens through httpauth.

type principalJSON struct {
	TokenID            string   `json:"token_id"`
	OwnerID            string   `json:"owner_id"`
	TenantID           string   `json:"tenant_id"`
	Shared             bool     `json:"shared"`
	BackwardCompatible bool     `json:"backward_compatible"`
	Method             string   `json:"method"`
	Permissions        []string `json:"permissions"`
}

func (s *server) whoami(w http.ResponseWriter, r *http.Request) {
	p, _ := httpauth.PrincipalFromContext(r.Context())
	writeJSON(w, http.StatusOK, principalJSON{
		TokenID:            p.TokenID,
		OwnerID:            p.OwnerID,
		TenantID:           p.TenantID,
		Shared:             p.Shared,
		BackwardCompatible: p.BackwardCompatible,
		Method:             string(p.Method),
		Permissions:        p.Permissions,
	})
}

type attack struct {
	ID     string `json:"id"`
	Type   string `json:"type"`
	Target string `json:"target"`
}

// listAttacks returns fixed demo data of the principal's tenant.
func (s *server) listAttacks(w http.ResponseWriter, r *http.Request) {
	p, _ := httpauth.PrincipalFromContext(r.Context())
	writeJSON(w, http.StatusOK, struct {
		TenantID string   `json:"tenant_id"`
		Attacks  []attack `json:"attacks"`
	}{p.TenantID, []attack{
		{ID: "atk_1", Type: "sql_injection", Target: "/login"},
		{ID: "atk_2", Type: "path_traversal", Target: "/static/../etc/passwd"},
	}})
}

// createRule accepts any JSON object as a rule and echoes it, because the
// example has no rule engine.
func (s *server) createRule(w http.ResponseWriter, r *http.Request) {
	p, _ := httpauth.PrincipalFromContext(r.Context())
	var rule map[string]json.RawMessage
	if err := decodeJSON(r, &rule); err != nil {
		s.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, struct {
		TenantID  string                     `json:"tenant_id"`
		CreatedBy string                     `json:"created_by"`
		Rule      map[string]json.RawMessage `json:"rule"`
	}{p.TenantID, p.TokenID, rule})
}
