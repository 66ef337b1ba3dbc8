package httpauth_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/httpauth"
	"github.com/apitoken/apitoken/memstore"
)

// Example protects two endpoints: /v1/whoami needs any valid token, and
// /v1/rules needs the permission rules:write.
func Example() {
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "rules:read", "rules:write"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}); err != nil {
		log.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := apitoken.New(apitoken.Config{Store: memstore.New(), Policy: dir, Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	_, value, err := m.Create(context.Background(), "bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read"}})
	if err != nil {
		log.Fatal(err)
	}

	authenticate, err := httpauth.Middleware(m, httpauth.Options{Realm: "example", Logger: logger})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, _ := httpauth.PrincipalFromContext(r.Context())
		fmt.Fprintf(w, "%s via %s", p.OwnerID, p.Method)
	})
	mux.Handle("POST /v1/rules", httpauth.Require("rules:write")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusCreated)
	})))
	handler := authenticate(mux)

	send := func(method, path, authorization string) {
		r := httptest.NewRequest(method, path, nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
		if challenge := w.Header().Get("WWW-Authenticate"); challenge != "" {
			fmt.Println("  WWW-Authenticate:", challenge)
		}
	}
	send("GET", "/v1/whoami", "Bearer "+string(value))
	send("POST", "/v1/rules", "Bearer "+string(value))
	send("GET", "/v1/whoami", "")
	// Output:
	// 200 bob via bearer
	// 403 {"error":{"code":"insufficient_scope","message":"the token does not hold the permission \"rules:write\""}}
	//   WWW-Authenticate: Bearer realm="example", error="insufficient_scope", scope="rules:write"
	// 401 {"error":{"code":"missing_credentials","message":"the request carries no credentials: send an API token in the X-API-Token header or as \"Authorization: Bearer TOKEN\""}}
	//   WWW-Authenticate: Bearer realm="example"
}
