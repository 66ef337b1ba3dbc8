package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

// relation is how an actor relates to a token, which decides what the
// actor may do with it.
type relation int

const (
	unrelated relation = iota // may not see the token
	owner                     // owns the token
	admin                     // administers the token's tenant
)

// accessTokens are the tokens of the access table: owner and shared flag.
var accessTokens = []struct {
	name   string
	owner  string
	shared bool
}{
	{"bob private", "bob", false},
	{"alice private", "alice", false},
	{"alice shared", "alice", true},
	{"gina private", "gina", false},
	{"gina shared", "gina", true},
}

// relations lists, for every actor, its relation to each token of
// accessTokens in order. They are written out by hand from the demo
// directory rather than computed, so that the test does not share the
// Manager's logic.
var relations = map[string][]relation{
	// A member sees only their own tokens.
	"bob":   {owner, unrelated, unrelated, unrelated, unrelated},
	"carol": {unrelated, unrelated, unrelated, unrelated, unrelated},
	// Administrators of acme see every acme token.
	"alice": {admin, owner, owner, unrelated, unrelated},
	"alan":  {admin, admin, admin, unrelated, unrelated},
	// The administrator of globex sees nothing of acme.
	"gina": {unrelated, unrelated, unrelated, owner, owner},
	// dave administers every tenant; ivy only initech and globex.
	"dave": {admin, admin, admin, admin, admin},
	"ivy":  {unrelated, unrelated, unrelated, admin, admin},
}

// operations of the access table, each applied to a fresh token.
var operations = []struct {
	name string
	run  func(e *env, actor string, tok apitoken.Token) error
	// allowed returns nil or the error the relation gets.
	allowed func(r relation, shared bool) error
}{
	{"get", func(e *env, actor string, tok apitoken.Token) error {
		_, err := e.m.Get(e.ctx, actor, tok.ID)
		return err
	}, seeRule},
	{"list", func(e *env, actor string, tok apitoken.Token) error {
		page, err := e.m.List(e.ctx, actor, apitoken.ListOptions{Limit: apitoken.MaxPageSize})
		if err != nil {
			return err
		}
		if !slices.ContainsFunc(page.Tokens, func(t apitoken.Token) bool { return t.ID == tok.ID }) {
			return apitoken.ErrNotFound
		}
		return nil
	}, seeRule},
	{"reveal", func(e *env, actor string, tok apitoken.Token) error {
		_, err := e.m.Reveal(e.ctx, actor, tok.ID)
		return err
	}, valueRule},
	{"renew", func(e *env, actor string, tok apitoken.Token) error {
		_, _, err := e.m.Renew(e.ctx, actor, tok.ID)
		return err
	}, valueRule},
	{"disable", func(e *env, actor string, tok apitoken.Token) error {
		_, err := e.m.Disable(e.ctx, actor, tok.ID)
		return err
	}, seeRule},
	{"enable", func(e *env, actor string, tok apitoken.Token) error {
		if _, err := e.m.Disable(e.ctx, tok.OwnerID, tok.ID); err != nil {
			return fmt.Errorf("setup: %w", err)
		}
		_, err := e.m.Enable(e.ctx, actor, tok.ID)
		return err
	}, seeRule},
	{"rename", func(e *env, actor string, tok apitoken.Token) error {
		name := "renamed by " + actor
		_, err := e.m.Update(e.ctx, actor, tok.ID, apitoken.UpdateRequest{Name: &name})
		return err
	}, seeRule},
	{"change expiry", func(e *env, actor string, tok apitoken.Token) error {
		at := start.Add(time.Hour)
		_, err := e.m.Update(e.ctx, actor, tok.ID, apitoken.UpdateRequest{ExpiresAt: &at})
		return err
	}, seeRule},
	{"change permissions", func(e *env, actor string, tok apitoken.Token) error {
		_, err := e.m.Update(e.ctx, actor, tok.ID, apitoken.UpdateRequest{Permissions: []string{"rules:read"}})
		return err
	}, func(r relation, _ bool) error {
		switch r {
		case owner:
			return nil
		case admin:
			return apitoken.ErrForbidden
		}
		return apitoken.ErrNotFound
	}},
	{"delete", func(e *env, actor string, tok apitoken.Token) error {
		return e.m.Delete(e.ctx, actor, tok.ID)
	}, seeRule},
}

// seeRule: the owner and administrators of the tenant may; others do not
// see the token.
func seeRule(r relation, _ bool) error {
	if r == unrelated {
		return apitoken.ErrNotFound
	}
	return nil
}

// valueRule: the owner, and administrators of the tenant for a shared
// token, may use the value; an administrator may not use a private one.
func valueRule(r relation, shared bool) error {
	switch {
	case r == owner, r == admin && shared:
		return nil
	case r == admin:
		return apitoken.ErrForbidden
	}
	return apitoken.ErrNotFound
}

// runAccessRules walks the whole access table: every actor, every kind of
// token and every operation.
func runAccessRules(t *testing.T, newStore NewStore) {
	key, err := apitoken.NewSealingKey()
	require.NoError(t, err)
	ring, err := apitoken.NewKeyring("k1", map[string][]byte{"k1": key})
	require.NoError(t, err)
	e := newEnv(t, newStore, func(c *apitoken.Config) { c.Keyring = ring })

	for _, op := range operations {
		for actor, rels := range relations {
			for i, tt := range accessTokens {
				want := op.allowed(rels[i], tt.shared)
				t.Run(fmt.Sprintf("%s/%s/%s", op.name, actor, tt.name), func(t *testing.T) {
					perms := []string{"rules:read", "attacks:read"}
					tok, _ := e.create(tt.owner, apitoken.CreateRequest{Permissions: perms, Shared: tt.shared})
					err := op.run(e, actor, tok)
					if want == nil {
						assert.NoError(t, err)
						return
					}
					assert.ErrorIs(t, err, want)
					if want == apitoken.ErrNotFound {
						assert.NotErrorIs(t, err, apitoken.ErrForbidden, "an invisible token must look absent")
					}
				})
			}
		}
	}

	t.Run("list shows only visible tokens", func(t *testing.T) {
		e := newEnv(t, newStore)
		ownerOf := map[string]string{}
		for _, tt := range accessTokens {
			tok, _ := e.create(tt.owner, apitoken.CreateRequest{Permissions: []string{"rules:read"}, Shared: tt.shared})
			ownerOf[tok.ID] = tt.name
		}
		for actor, rels := range relations {
			page, err := e.m.List(e.ctx, actor, apitoken.ListOptions{})
			require.NoError(t, err)
			var got, want []string
			for _, tok := range page.Tokens {
				got = append(got, ownerOf[tok.ID])
			}
			for i, tt := range accessTokens {
				if rels[i] != unrelated {
					want = append(want, tt.name)
				}
			}
			assert.ElementsMatch(t, want, got, "tokens listed for %s", actor)
		}
	})

	t.Run("only administrators create shared tokens", func(t *testing.T) {
		e := newEnv(t, newStore)
		for _, actor := range []string{"alice", "dave", "gina", "ivy"} {
			_, _, err := e.m.Create(e.ctx, actor, apitoken.CreateRequest{Name: "shared", Permissions: []string{"rules:read"}, Shared: true})
			assert.NoError(t, err, actor)
		}
		for _, actor := range []string{"bob", "carol", "hank"} {
			_, _, err := e.m.Create(e.ctx, actor, apitoken.CreateRequest{Name: "shared", Permissions: []string{"rules:read"}, Shared: true})
			assert.ErrorIs(t, err, apitoken.ErrForbidden, actor)
		}
	})

	t.Run("every role may use tokens", func(t *testing.T) {
		e := newEnv(t, newStore)
		for _, actor := range []string{"alice", "bob", "carol", "dave", "gina", "hank", "ivy"} {
			u, err := e.dir.User(e.ctx, actor)
			require.NoError(t, err)
			_, value := e.create(actor, apitoken.CreateRequest{Permissions: u.Permissions[:1]})
			e.requireValid(value)
		}
	})
}

// runEscalation tries ways for one user to exceed their rights. Every one
// must be refused with the given error.
func runEscalation(t *testing.T, newStore NewStore) {
	cases := []struct {
		name    string
		attempt func(e *env) error
		want    error
	}{
		{"member asks for a permission beyond their role", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "carol", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:write"}})
			return err
		}, apitoken.ErrForbidden},
		{"member asks for an unknown permission", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "carol", apitoken.CreateRequest{Name: "x", Permissions: []string{"admin:*"}})
			return err
		}, apitoken.ErrInvalidArgument},
		{"member hides a forbidden permission among allowed ones", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "carol", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read", "rules:read", "users:manage"}})
			return err
		}, apitoken.ErrForbidden},
		{"member creates a shared token", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}, Shared: true})
			return err
		}, apitoken.ErrForbidden},
		{"member reads another member's token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Get(e.ctx, "carol", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"member reveals another member's token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Reveal(e.ctx, "carol", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"member renews another member's token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, _, err := e.m.Renew(e.ctx, "carol", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"member disables another member's token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Disable(e.ctx, "carol", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"member deletes an administrator's shared token", func(e *env) error {
			tok, _ := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, Shared: true})
			return e.m.Delete(e.ctx, "bob", tok.ID)
		}, apitoken.ErrNotFound},
		{"member renames an administrator's shared token", func(e *env) error {
			tok, _ := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, Shared: true})
			name := "mine now"
			_, err := e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{Name: &name})
			return err
		}, apitoken.ErrNotFound},
		{"administrator reveals a member's private token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Reveal(e.ctx, "alice", tok.ID)
			return err
		}, apitoken.ErrForbidden},
		{"administrator renews a member's private token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, _, err := e.m.Renew(e.ctx, "alice", tok.ID)
			return err
		}, apitoken.ErrForbidden},
		{"global administrator reveals a member's private token", func(e *env) error {
			tok, _ := e.createRead("hank")
			_, err := e.m.Reveal(e.ctx, "dave", tok.ID)
			return err
		}, apitoken.ErrForbidden},
		{"administrator widens a member's token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Update(e.ctx, "alice", tok.ID, apitoken.UpdateRequest{Permissions: []string{"attacks:read", "users:manage"}})
			return err
		}, apitoken.ErrForbidden},
		{"administrator changes another administrator's shared token permissions", func(e *env) error {
			tok, _ := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, Shared: true})
			_, err := e.m.Update(e.ctx, "alan", tok.ID, apitoken.UpdateRequest{Permissions: []string{"users:manage"}})
			return err
		}, apitoken.ErrForbidden},
		{"administrator of another tenant reads a token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Get(e.ctx, "gina", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"administrator of another tenant reveals a shared token", func(e *env) error {
			tok, _ := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, Shared: true})
			_, err := e.m.Reveal(e.ctx, "gina", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"administrator of another tenant disables a token", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.Disable(e.ctx, "gina", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"global administrator of other tenants renews a shared token", func(e *env) error {
			tok, _ := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, Shared: true})
			_, _, err := e.m.Renew(e.ctx, "ivy", tok.ID)
			return err
		}, apitoken.ErrNotFound},
		{"SSO user creates a token", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "erin", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}})
			return err
		}, apitoken.ErrSSO},
		{"SSO user lists tokens", func(e *env) error {
			_, err := e.m.List(e.ctx, "erin", apitoken.ListOptions{})
			return err
		}, apitoken.ErrSSO},
		{"disabled user creates a token", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "frank", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}})
			return err
		}, apitoken.ErrOwnerDisabled},
		{"unknown user creates a token", func(e *env) error {
			_, _, err := e.m.Create(e.ctx, "mallory", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}})
			return err
		}, apitoken.ErrUnknownUser},
		{"disabled owner uses an old token", func(e *env) error {
			_, value := e.createRead("bob")
			require.NoError(e.t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", Disabled: true}))
			_, err := e.verify(value)
			return err
		}, apitoken.ErrOwnerDisabled},
		{"SSO owner uses an old token before the switch is reported", func(e *env) error {
			_, value := e.createRead("bob")
			require.NoError(e.t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", SSO: true}))
			_, err := e.verify(value)
			return err
		}, apitoken.ErrSSO},
		{"demoted owner puts a lost permission back", func(e *env) error {
			tok, _ := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read", "attacks:write"}})
			require.NoError(e.t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "read_only"}))
			_, err := e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{Permissions: []string{"attacks:read", "attacks:write"}})
			return err
		}, apitoken.ErrForbidden},
		{"demoted owner's token keeps a write permission", func(e *env) error {
			_, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read", "attacks:write"}})
			require.NoError(e.t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "read_only"}))
			p, err := e.verify(value)
			if err != nil {
				return err
			}
			if p.Has("attacks:write") {
				return nil
			}
			return apitoken.ErrForbidden
		}, apitoken.ErrForbidden},
		{"owner moved to another tenant keeps access", func(e *env) error {
			_, value := e.createRead("bob")
			require.NoError(e.t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "globex", Role: "analyst"}))
			_, err := e.verify(value)
			return err
		}, apitoken.ErrOwnerDisabled},
		{"owner enables a token disabled with its owner", func(e *env) error {
			tok, _ := e.createRead("bob")
			_, err := e.m.DisableOwner(e.ctx, "alice", "bob")
			require.NoError(e.t, err)
			require.NoError(e.t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", Disabled: true}))
			_, err = e.m.Enable(e.ctx, "bob", tok.ID)
			return err
		}, apitoken.ErrOwnerDisabled},
		{"forged value with a valid checksum", func(e *env) error {
			_, value := newEnv(e.t, func(*testing.T) apitoken.Store { return e.store.Store }).createRead("carol")
			require.NoError(e.t, e.m.Delete(e.ctx, "carol", mustOnly(e, "carol")))
			_, err := e.verify(value)
			return err
		}, apitoken.ErrNotFound},
		{"value with another prefix", func(e *env) error {
			other := newEnv(e.t, func(*testing.T) apitoken.Store { return e.store.Store }, func(c *apitoken.Config) { c.Prefix = "xyz_" })
			_, value := other.createRead("bob")
			_, err := e.verify(value)
			return err
		}, apitoken.ErrMalformed},
	}
	require.GreaterOrEqual(t, len(cases), 25)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, newStore)
			err := c.attempt(e)
			require.Error(t, err, "the attempt must be refused")
			assert.ErrorIs(t, err, c.want)
			e.requireNoSecret(err)
		})
	}
}

// mustOnly returns the ID of the only token of the owner.
func mustOnly(e *env, ownerID string) string {
	e.t.Helper()
	recs := listAll(e.t, e.store, apitoken.Filter{OwnerID: ownerID})
	require.Len(e.t, recs, 1)
	return recs[0].ID
}
