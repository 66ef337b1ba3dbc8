package sqlstore_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/sqlstore"
)

// A Manager on a SQLite file: open the pool, create the tables, issue a
// token and verify it.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "apitoken-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	db, dialect, err := sqlstore.Open("sqlite:" + filepath.Join(dir, "tokens.db"))
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	store, err := sqlstore.New(db, dialect)
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	if err := store.Migrate(ctx); err != nil {
		log.Fatal(err)
	}

	users, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := users.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}); err != nil {
		log.Fatal(err)
	}
	m, err := apitoken.New(apitoken.Config{Store: store, Policy: users})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close(ctx)

	_, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{Name: "nightly export", Permissions: []string{"attacks:read"}})
	if err != nil {
		log.Fatal(err)
	}
	p, err := m.Verify(ctx, string(value))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("owner:", p.OwnerID, "may read:", p.Has("attacks:read"))

	current, latest, err := store.SchemaVersion(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("schema up to date:", current == latest)

	// Output:
	// owner: bob may read: true
	// schema up to date: true
}
