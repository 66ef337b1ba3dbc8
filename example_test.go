package apitoken_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/apitoken/apitoken"
	"github.com/apitoken/apitoken/memstore"
)

// newExampleManager returns a Manager on memstore with one analyst, bob.
func newExampleManager() *apitoken.Manager {
	dir, err := apitoken.NewDirectory(map[string]apitoken.RoleDefinition{
		"analyst": {Level: apitoken.RoleMember, Permissions: []string{"attacks:read", "attacks:write"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}); err != nil {
		log.Fatal(err)
	}
	m, err := apitoken.New(apitoken.Config{Store: memstore.New(), Policy: dir})
	if err != nil {
		log.Fatal(err)
	}
	return m
}

// The life of a token: issue it, verify it, renew it and disable it.
func Example() {
	ctx := context.Background()
	m := newExampleManager()
	defer m.Close(ctx)

	// Issue a token. Send string(value) to bob once; only its digest is kept.
	tok, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{
		Name:        "nightly export",
		Permissions: []string{"attacks:read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("created:", tok.Name)

	// Verify a request's value.
	p, err := m.Verify(ctx, string(value))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("owner:", p.OwnerID, "may read:", p.Has("attacks:read"), "may write:", p.Has("attacks:write"))

	// Renew: the old value stops working at once.
	_, renewed, err := m.Renew(ctx, "bob", tok.ID)
	if err != nil {
		log.Fatal(err)
	}
	_, err = m.Verify(ctx, string(value))
	fmt.Println("old value rejected:", errors.Is(err, apitoken.ErrNotFound))

	// Disable: the new value is rejected too.
	if _, err := m.Disable(ctx, "bob", tok.ID); err != nil {
		log.Fatal(err)
	}
	_, err = m.Verify(ctx, string(renewed))
	fmt.Println("disabled token rejected:", errors.Is(err, apitoken.ErrDisabled))

	// Output:
	// created: nightly export
	// owner: bob may read: true may write: false
	// old value rejected: true
	// disabled token rejected: true
}

// A value printed or logged by mistake does not leak.
func ExampleValue() {
	m := newExampleManager()
	_, value, err := m.Create(context.Background(), "bob", apitoken.CreateRequest{
		Name:        "ci",
		Permissions: []string{"attacks:read"},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(value)
	fmt.Printf("%v %q\n", value, value)
	// Output:
	// apt_[redacted]
	// apt_[redacted] "apt_[redacted]"
}

// A host reports a demotion, and the user's tokens lose what the user lost.
func ExampleManager_RestrictOwner() {
	ctx := context.Background()
	m := newExampleManager()
	_, value, err := m.Create(ctx, "bob", apitoken.CreateRequest{
		Name:        "automation",
		Permissions: []string{"attacks:read", "attacks:write"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// The host demoted bob to read-only and reports it.
	n, err := m.RestrictOwner(ctx, "alice", "bob", []string{"attacks:read"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("tokens changed:", n)

	p, err := m.Verify(ctx, string(value))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("permissions:", p.Permissions)
	// Output:
	// tokens changed: 1
	// permissions: [attacks:read]
}
