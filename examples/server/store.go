package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// openStore opens the token store that dsn names, or the default store in
// the data folder when dsn is empty. It returns the store, a function
// that releases it, and a description for the log that contains no
// password.
func openStore(ctx context.Context, dsn, dataDir string) (apitoken.Store, func() error, string, error) {
	// TODO: open SQLite in dataDir by default, and PostgreSQL or MySQL
	// for a postgres:// or mysql:// dsn, once package sqlstore exists.
	// Until then tokens live in memory and are lost on restart.
	_ = ctx
	_ = dataDir
	if dsn != "" {
		scheme, _, _ := strings.Cut(dsn, "://")
		return nil, nil, "", fmt.Errorf("-db %s://...: database stores are not available yet: leave -db empty", scheme)
	}
	return memstore.New(), func() error { return nil }, "memory (tokens are lost on restart)", nil
}
