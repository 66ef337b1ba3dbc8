package storetest

import (
	"context"
	"crypto/sha256"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/apitoken/apitoken"
)

// runManagerRules checks the token lifecycle through the Manager: value
// format, storage, verification, creation, expiry, disabling, renewal,
// the owner cascades, the purge, audit events and last-used times.
func runManagerRules(t *testing.T, newStore NewStore) {
	t.Run("value format", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, value := e.createRead("bob")
		s := string(value)
		assert.True(t, strings.HasPrefix(s, apitoken.DefaultPrefix))
		assert.Equal(t, len(apitoken.DefaultPrefix)+49, len(s), "value length")
		pattern := regexp.MustCompile(apitoken.ValuePattern(apitoken.DefaultPrefix))
		assert.True(t, pattern.MatchString(s), "value does not match the scanner pattern")
		assert.True(t, apitoken.CheckValue(apitoken.DefaultPrefix, s))
	})

	t.Run("typo is rejected before any lookup", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, value := e.createRead("bob")
		s := []byte(value)
		last := len(s) - 10
		s[last] = map[bool]byte{true: 'b', false: 'a'}[s[last] == 'a']
		before := e.store.lookups.Load()
		e.requireRejected(apitoken.Value(s), apitoken.ErrMalformed)
		for _, garbage := range []string{"", "apt_", "apt_" + strings.Repeat("A", 49), "xyz_" + string(value)[4:], string(value) + "A", " " + string(value), "Bearer " + string(value)} {
			e.requireRejected(apitoken.Value(garbage), apitoken.ErrMalformed)
		}
		assert.Equal(t, before, e.store.lookups.Load(), "malformed values cause no store lookup")
	})

	t.Run("unknown value is not found", func(t *testing.T) {
		e := newEnv(t, newStore)
		other := newEnv(t, newStore)
		_, foreign := other.createRead("bob")
		e.requireRejected(foreign, apitoken.ErrNotFound)
	})

	t.Run("store holds only the digest", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		rec := e.get(tok.ID)
		assert.Equal(t, apitoken.Digest(sha256.Sum256([]byte(value))), rec.Digest)
		assert.Nil(t, rec.Sealed, "no sealed copy without a keyring")
		if strings.Contains(fmt.Sprintf("%#v", rec), string(value)[len(apitoken.DefaultPrefix):]) {
			t.Fatal("the stored record contains the token value")
		}
	})

	t.Run("verify returns the principal", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.create("alice", apitoken.CreateRequest{Permissions: []string{"rules:write", "attacks:read"}, Shared: true})
		p := e.requireValid(value)
		assert.Equal(t, apitoken.Principal{
			TokenID:     tok.ID,
			OwnerID:     "alice",
			TenantID:    "acme",
			Shared:      true,
			Method:      apitoken.MethodToken,
			Permissions: []string{"attacks:read", "rules:write"},
		}, p)
		assert.True(t, p.Has("rules:write"))
		assert.False(t, p.Has("nodes:deploy"))
	})

	t.Run("create checks the name", func(t *testing.T) {
		e := newEnv(t, newStore)
		cases := []struct {
			name string
			want error
			kept string
		}{
			{"  deploy bot  ", nil, "deploy bot"},
			{strings.Repeat("é", apitoken.MaxNameLength), nil, strings.Repeat("é", apitoken.MaxNameLength)},
			{"", apitoken.ErrInvalidArgument, ""},
			{"   ", apitoken.ErrInvalidArgument, ""},
			{strings.Repeat("a", apitoken.MaxNameLength+1), apitoken.ErrInvalidArgument, ""},
			{"line\nbreak", apitoken.ErrInvalidArgument, ""},
			{"nul\x00", apitoken.ErrInvalidArgument, ""},
			{"bad \xff utf8", apitoken.ErrInvalidArgument, ""},
		}
		for _, c := range cases {
			tok, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: c.name, Permissions: []string{"attacks:read"}})
			if c.want != nil {
				assert.ErrorIs(t, err, c.want, "name %q", c.name)
				continue
			}
			require.NoError(t, err, "name %q", c.name)
			assert.Equal(t, c.kept, tok.Name)
		}
		assert.Equal(t, 2, e.count("bob"), "rejected names store nothing")
	})

	t.Run("create checks permissions", func(t *testing.T) {
		e := newEnv(t, newStore)
		cases := []struct {
			perms   []string
			want    error
			mention string
		}{
			{nil, apitoken.ErrInvalidArgument, "no permissions"},
			{[]string{}, apitoken.ErrInvalidArgument, "no permissions"},
			{[]string{"attacks:read", "attacks:delete"}, apitoken.ErrInvalidArgument, "attacks:delete"},
			{[]string{"attacks:read", "users:manage", "nodes:deploy"}, apitoken.ErrForbidden, `"nodes:deploy" "users:manage"`},
			{[]string{""}, apitoken.ErrInvalidArgument, "empty"},
		}
		for _, c := range cases {
			_, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: c.perms})
			assert.ErrorIs(t, err, c.want, "permissions %q", c.perms)
			if err != nil {
				assert.Contains(t, err.Error(), c.mention)
			}
		}
		assert.Zero(t, e.count("bob"), "rejected requests store nothing")

		tok, _ := e.create("bob", apitoken.CreateRequest{Permissions: []string{"rules:read", "attacks:read", "rules:read"}})
		assert.Equal(t, []string{"attacks:read", "rules:read"}, tok.Permissions, "permissions are sorted without duplicates")
	})

	t.Run("expiry in the past is rejected", func(t *testing.T) {
		e := newEnv(t, newStore)
		for _, at := range []time.Time{start, start.Add(-time.Nanosecond), start.Add(-24 * time.Hour), time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)} {
			_, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}, ExpiresAt: at})
			assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "expiry %v", at)
		}
		assert.Zero(t, e.count("bob"), "no row for a rejected expiry")
	})

	t.Run("expiry 30 years ahead is kept unchanged", func(t *testing.T) {
		e := newEnv(t, newStore)
		at := start.AddDate(30, 0, 0).Add(123456 * time.Microsecond)
		tok, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: at})
		assert.True(t, tok.ExpiresAt.Equal(at), "expiry %v, want %v", tok.ExpiresAt, at)
		assert.True(t, e.get(tok.ID).ExpiresAt.Equal(at), "stored expiry differs")
		e.requireValid(value)
	})

	t.Run("no expiry never expires", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: time.Time{}})
		assert.True(t, tok.ExpiresAt.IsZero())
		e.clock.Add(10 * 365 * 24 * time.Hour)
		e.requireValid(value)
		assert.Equal(t, apitoken.StatusActive, tok.Status(e.clock.Now()))
	})

	t.Run("expiry compares to the instant", func(t *testing.T) {
		e := newEnv(t, newStore)
		nine := time.Date(2026, 3, 3, 9, 0, 0, 0, time.UTC)
		tok, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: nine})

		e.clock.Set(nine.Add(-time.Nanosecond))
		e.requireValid(value)
		e.clock.Set(nine)
		e.requireRejected(value, apitoken.ErrExpired)
		e.clock.Set(nine.Add(6 * time.Hour))
		e.requireRejected(value, apitoken.ErrExpired)

		rec := e.get(tok.ID)
		assert.True(t, rec.ExpiresAt.Equal(nine), "the check leaves the stored expiry unchanged")
		assert.False(t, rec.Disabled, "the row stays until the purge")
		assert.Equal(t, apitoken.StatusExpired, rec.Status(e.clock.Now()))
	})

	t.Run("maximum lifetime", func(t *testing.T) {
		e := newEnv(t, newStore, func(c *apitoken.Config) { c.MaxLifetime = 90 * 24 * time.Hour })
		tok, _ := e.createRead("bob")
		assert.True(t, tok.ExpiresAt.Equal(start.Add(90*24*time.Hour)), "a token without expiry gets the maximum lifetime")
		_, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}, ExpiresAt: start.Add(91 * 24 * time.Hour)})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
		noExpiry := time.Time{}
		_, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{ExpiresAt: &noExpiry})
		require.NoError(t, err)
		assert.True(t, e.get(tok.ID).ExpiresAt.Equal(start.Add(90*24*time.Hour)), "removing the expiry falls back to the maximum lifetime")
	})

	t.Run("disable and enable", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		e.clock.Add(time.Minute)
		got, err := e.m.Disable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, got.Disabled)
		assert.Equal(t, apitoken.ReasonManual, got.DisabledReason)
		assert.True(t, got.DisabledAt.Equal(start.Add(time.Minute)))
		e.requireRejected(value, apitoken.ErrDisabled)

		_, err = e.m.Disable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.Len(t, e.events.of(apitoken.EventDisabled), 1, "disabling twice changes nothing")

		got, err = e.m.Enable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.False(t, got.Disabled)
		assert.True(t, got.DisabledAt.IsZero())
		assert.Empty(t, got.DisabledReason)
		e.requireValid(value)
	})

	t.Run("enable refusals", func(t *testing.T) {
		e := newEnv(t, newStore)
		expiring, _ := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: start.Add(time.Hour)})
		_, err := e.m.Disable(e.ctx, "bob", expiring.ID)
		require.NoError(t, err)
		e.clock.Add(time.Hour)
		_, err = e.m.Enable(e.ctx, "bob", expiring.ID)
		assert.ErrorIs(t, err, apitoken.ErrExpired)
		assert.Contains(t, err.Error(), "set a new expiry")

		// Administrators enable tokens of owners who can no longer act.
		carolTok, _ := e.createRead("carol")
		_, err = e.m.Disable(e.ctx, "carol", carolTok.ID)
		require.NoError(t, err)
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "carol", TenantID: "acme", Role: "read_only", Disabled: true}))
		_, err = e.m.Enable(e.ctx, "alice", carolTok.ID)
		assert.ErrorIs(t, err, apitoken.ErrOwnerDisabled)
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "carol", TenantID: "acme", Role: "read_only", SSO: true}))
		_, err = e.m.Enable(e.ctx, "alice", carolTok.ID)
		assert.ErrorIs(t, err, apitoken.ErrSSO)
		assert.True(t, e.get(carolTok.ID).Disabled, "refused enables change nothing")

		writeTok, _ := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:write"}})
		_, err = e.m.Disable(e.ctx, "bob", writeTok.ID)
		require.NoError(t, err)
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "read_only"}))
		_, err = e.m.Enable(e.ctx, "bob", writeTok.ID)
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument, "a token whose owner holds none of its permissions stays disabled")
	})

	t.Run("rotation kills the old value at once", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, old := e.create("bob", apitoken.CreateRequest{Name: "ci", Permissions: []string{"attacks:read", "rules:read"}, ExpiresAt: start.Add(time.Hour)})
		e.requireValid(old)
		renewed, value, err := e.m.Renew(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		e.values = append(e.values, value)
		assert.False(t, value == old, "renewal issues a new value")
		e.requireRejected(old, apitoken.ErrNotFound)
		p := e.requireValid(value)
		assert.Equal(t, tok.ID, p.TokenID)
		assert.Equal(t, tok.ID, renewed.ID)
		assert.Equal(t, tok.Name, renewed.Name)
		assert.Equal(t, tok.Permissions, renewed.Permissions)
		assert.True(t, tok.ExpiresAt.Equal(renewed.ExpiresAt))
		assert.Len(t, e.events.of(apitoken.EventRenewed), 1)
	})

	t.Run("renew refusals", func(t *testing.T) {
		e := newEnv(t, newStore)
		disabled, _ := e.createRead("bob")
		_, err := e.m.Disable(e.ctx, "bob", disabled.ID)
		require.NoError(t, err)
		_, _, err = e.m.Renew(e.ctx, "bob", disabled.ID)
		assert.ErrorIs(t, err, apitoken.ErrDisabled)

		expiring, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: start.Add(time.Hour)})
		e.clock.Add(time.Hour)
		_, _, err = e.m.Renew(e.ctx, "bob", expiring.ID)
		assert.ErrorIs(t, err, apitoken.ErrExpired)
		e.requireRejected(value, apitoken.ErrExpired)

		shared, sharedValue := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, Shared: true})
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "alice", TenantID: "acme", Role: "administrator", Disabled: true}))
		before := e.get(shared.ID)
		_, _, err = e.m.Renew(e.ctx, "alan", shared.ID)
		assert.ErrorIs(t, err, apitoken.ErrOwnerDisabled, "a disabled owner's token is not renewed")
		assert.Equal(t, before.Version, e.get(shared.ID).Version, "nothing written")
		e.requireRejected(sharedValue, apitoken.ErrOwnerDisabled)
	})

	t.Run("fifty concurrent renewals leave one value", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, first := e.createRead("bob")
		const workers = 50
		values := make([]apitoken.Value, workers)
		var wg sync.WaitGroup
		for i := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, v, err := e.m.Renew(e.ctx, "bob", tok.ID)
				if err != nil {
					assert.ErrorIs(t, err, apitoken.ErrConflict)
					return
				}
				values[i] = v
			}()
		}
		wg.Wait()
		valid := 0
		for _, v := range append(values, first) {
			if v == "" {
				continue
			}
			if _, err := e.verify(v); err == nil {
				valid++
			}
		}
		assert.Equal(t, 1, valid, "exactly one value verifies after concurrent renewals")
	})

	t.Run("disabled owner cannot mint tokens", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", Disabled: true}))
		e.requireRejected(value, apitoken.ErrOwnerDisabled)
		_, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}})
		assert.ErrorIs(t, err, apitoken.ErrOwnerDisabled)
		_, _, err = e.m.Renew(e.ctx, "bob", tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrOwnerDisabled)
		assert.Equal(t, 1, e.count("bob"), "nothing written")
		assert.Equal(t, int64(1), e.get(tok.ID).Version, "nothing written")
	})

	t.Run("owner disabled cascade", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, private := e.createRead("alice")
		_, shared := e.create("alice", apitoken.CreateRequest{Permissions: []string{"rules:read"}, Shared: true})
		_, bobs := e.createRead("bob")
		expired, _ := e.create("alice", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: start.Add(time.Minute)})
		e.clock.Add(time.Hour)

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "alice", TenantID: "acme", Role: "administrator", Disabled: true}))
		n, err := e.m.DisableOwner(e.ctx, "dave", "alice")
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		for _, rec := range listAll(t, e.store, apitoken.Filter{OwnerID: "alice"}) {
			assert.True(t, rec.Disabled, "token %s", rec.ID)
			assert.Equal(t, apitoken.ReasonOwnerDisabled, rec.DisabledReason)
		}
		assert.True(t, e.get(expired.ID).InactiveSince().Equal(start.Add(time.Minute)), "the purge still counts from the expiry")
		events := e.events.of(apitoken.EventDisabled)
		require.Len(t, events, 3)
		for _, ev := range events {
			assert.Equal(t, "dave", ev.ActorID)
			assert.Equal(t, "alice", ev.OwnerID)
			assert.Equal(t, apitoken.ReasonOwnerDisabled, ev.Reason)
		}

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "alice", TenantID: "acme", Role: "administrator"}))
		e.requireRejected(private, apitoken.ErrDisabled)
		e.requireRejected(shared, apitoken.ErrDisabled)
		e.requireValid(bobs)
	})

	t.Run("owner permissions reduced cascade", func(t *testing.T) {
		e := newEnv(t, newStore)
		both, bothValue := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read", "attacks:write"}})
		writeOnly, writeValue := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:write"}})
		readOnly, _ := e.create("bob", apitoken.CreateRequest{Permissions: []string{"rules:read"}})

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "read_only"}))
		n, err := e.m.RestrictOwner(e.ctx, "alice", "bob", []string{"attacks:read", "rules:read"})
		require.NoError(t, err)
		assert.Equal(t, 2, n)
		assert.Equal(t, []string{"attacks:read"}, e.get(both.ID).Permissions)
		emptied := e.get(writeOnly.ID)
		assert.Empty(t, emptied.Permissions)
		assert.True(t, emptied.Disabled)
		assert.Equal(t, apitoken.ReasonNoPermissions, emptied.DisabledReason)
		assert.Equal(t, int64(1), e.get(readOnly.ID).Version, "unaffected tokens are not written")

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst"}))
		p := e.requireValid(bothValue)
		assert.Equal(t, []string{"attacks:read"}, p.Permissions, "removed permissions do not come back")
		e.requireRejected(writeValue, apitoken.ErrDisabled)
	})

	t.Run("demotion shrinks permissions without a report", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, both := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read", "attacks:write"}})
		_, writeOnly := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:write"}})
		assert.True(t, e.requireValid(both).Has("attacks:write"))

		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "read_only"}))
		p := e.requireValid(both)
		assert.Equal(t, []string{"attacks:read"}, p.Permissions)
		assert.False(t, p.Has("attacks:write"))
		e.requireRejected(writeOnly, apitoken.ErrDisabled)
	})

	t.Run("owner deleted cascade", func(t *testing.T) {
		e := newEnv(t, newStore)
		var values []apitoken.Value
		for range 3 {
			_, v := e.createRead("bob")
			values = append(values, v)
		}
		_, carol := e.createRead("carol")
		e.dir.RemoveUser("bob")
		n, err := e.m.DeleteOwner(e.ctx, "alice", "bob")
		require.NoError(t, err)
		assert.Equal(t, 3, n)
		assert.Zero(t, e.count("bob"))
		assert.Len(t, e.events.of(apitoken.EventDeleted), 3)
		for _, v := range values {
			e.requireRejected(v, apitoken.ErrNotFound)
		}
		e.requireValid(carol)
	})

	t.Run("unknown owner is rejected", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, value := e.createRead("bob")
		e.dir.RemoveUser("bob")
		e.requireRejected(value, apitoken.ErrOwnerDisabled)
	})

	t.Run("owner moved to another tenant is rejected", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, value := e.createRead("bob")
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "globex", Role: "analyst"}))
		e.requireRejected(value, apitoken.ErrOwnerDisabled)
	})

	t.Run("switch to SSO", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		require.NoError(t, e.dir.PutUser(apitoken.DirectoryUser{ID: "bob", TenantID: "acme", Role: "analyst", SSO: true}))
		e.requireRejected(value, apitoken.ErrSSO)
		n, err := e.m.SwitchOwnerToSSO(e.ctx, "alice", "bob")
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		rec := e.get(tok.ID)
		assert.True(t, rec.Disabled)
		assert.Equal(t, apitoken.ReasonOwnerSSO, rec.DisabledReason)

		_, _, err = e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}})
		assert.ErrorIs(t, err, apitoken.ErrSSO)
		_, err = e.m.List(e.ctx, "bob", apitoken.ListOptions{})
		assert.ErrorIs(t, err, apitoken.ErrSSO)
		_, err = e.m.Get(e.ctx, "bob", tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrSSO)
		_, err = e.m.Reveal(e.ctx, "bob", tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrSSO)
		_, _, err = e.m.Renew(e.ctx, "bob", tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrSSO)
		_, err = e.m.Enable(e.ctx, "alice", tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrSSO, "an SSO owner's token cannot be enabled")
	})

	t.Run("purge after the retention period", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, _ := e.createRead("bob")
		keep, _ := e.createRead("bob")
		_, err := e.m.Disable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)

		e.clock.Add(apitoken.DefaultRetention - time.Nanosecond)
		n, err := e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, n, "kept until the retention period has passed")

		e.clock.Add(time.Nanosecond)
		n, err = e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = e.store.Get(e.ctx, tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
		e.get(keep.ID)
		purged := e.events.of(apitoken.EventPurged)
		require.Len(t, purged, 1)
		assert.Equal(t, tok.ID, purged[0].TokenID)
		assert.Equal(t, apitoken.ReasonRetention, purged[0].Reason)
	})

	t.Run("enabling cancels the purge", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		_, err := e.m.Disable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, e.get(tok.ID).PurgeAt(e.m.Retention()).Equal(start.Add(apitoken.DefaultRetention)))
		e.clock.Add(6 * 24 * time.Hour)
		_, err = e.m.Enable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, e.get(tok.ID).PurgeAt(e.m.Retention()).IsZero())
		e.clock.Add(2 * 24 * time.Hour)
		n, err := e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		e.requireValid(value)
	})

	t.Run("purge counts from the expiry", func(t *testing.T) {
		e := newEnv(t, newStore, func(c *apitoken.Config) { c.Retention = 24 * time.Hour })
		expiry := start.Add(time.Hour)
		tok, _ := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: expiry})
		e.clock.Set(expiry.Add(24*time.Hour - time.Nanosecond))
		n, err := e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Zero(t, n)
		e.clock.Set(expiry.Add(24 * time.Hour))
		n, err = e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 1, n)
		_, err = e.store.Get(e.ctx, tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrNotFound)
	})

	t.Run("purge in batches", func(t *testing.T) {
		e := newEnv(t, newStore, func(c *apitoken.Config) { c.PurgeBatchSize = 4 })
		for range 10 {
			tok, _ := e.createRead("bob")
			_, err := e.m.Disable(e.ctx, "bob", tok.ID)
			require.NoError(t, err)
		}
		e.clock.Add(apitoken.DefaultRetention)
		n, err := e.m.Purge(e.ctx)
		require.NoError(t, err)
		assert.Equal(t, 10, n)
		assert.Zero(t, e.count("bob"))
	})

	t.Run("audit events", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, _ := e.createRead("bob")
		e.clock.Add(time.Second)
		_, _, err := e.m.Renew(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		_, err = e.m.Disable(e.ctx, "alice", tok.ID)
		require.NoError(t, err)
		_, err = e.m.Enable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		name := "renamed"
		_, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{Name: &name})
		require.NoError(t, err)
		require.NoError(t, e.m.Delete(e.ctx, "dave", tok.ID))

		var got []string
		for _, ev := range e.events.events {
			assert.Equal(t, tok.ID, ev.TokenID)
			assert.Equal(t, "bob", ev.OwnerID)
			assert.Equal(t, "acme", ev.TenantID)
			assert.False(t, ev.Time.IsZero())
			got = append(got, string(ev.Type)+" by "+ev.ActorID)
		}
		assert.Equal(t, []string{"created by bob", "renewed by bob", "disabled by alice", "enabled by bob", "updated by bob", "deleted by dave"}, got)
		assert.True(t, e.events.events[1].Time.Equal(start.Add(time.Second)))
	})

	t.Run("update", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}})
		name := "  nightly export "
		expiry := start.Add(48 * time.Hour)
		got, err := e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{Name: &name, ExpiresAt: &expiry, Permissions: []string{"rules:read", "attacks:write"}})
		require.NoError(t, err)
		assert.Equal(t, "nightly export", got.Name)
		assert.True(t, got.ExpiresAt.Equal(expiry))
		assert.Equal(t, []string{"attacks:write", "rules:read"}, got.Permissions)
		assert.Equal(t, []string{"attacks:write", "rules:read"}, e.requireValid(value).Permissions)

		past := start.Add(-time.Second)
		_, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{ExpiresAt: &past})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
		empty := ""
		_, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{Name: &empty})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)
		_, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{Permissions: []string{}})
		assert.ErrorIs(t, err, apitoken.ErrInvalidArgument)

		none := time.Time{}
		got, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{ExpiresAt: &none})
		require.NoError(t, err)
		assert.True(t, got.ExpiresAt.IsZero(), "a zero expiry removes the expiry")

		before := len(e.events.of(apitoken.EventUpdated))
		_, err = e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{})
		require.NoError(t, err)
		assert.Len(t, e.events.of(apitoken.EventUpdated), before, "an empty update writes nothing")
	})

	t.Run("new expiry revives an expired token", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.create("bob", apitoken.CreateRequest{Permissions: []string{"attacks:read"}, ExpiresAt: start.Add(time.Hour)})
		e.clock.Add(2 * time.Hour)
		e.requireRejected(value, apitoken.ErrExpired)
		later := e.clock.Now().Add(time.Hour)
		_, err := e.m.Update(e.ctx, "bob", tok.ID, apitoken.UpdateRequest{ExpiresAt: &later})
		require.NoError(t, err)
		e.requireValid(value)
	})

	t.Run("delete", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		require.NoError(t, e.m.Delete(e.ctx, "bob", tok.ID))
		e.requireRejected(value, apitoken.ErrNotFound)
		assert.ErrorIs(t, e.m.Delete(e.ctx, "bob", tok.ID), apitoken.ErrNotFound)
	})

	t.Run("no stale verification after a change", func(t *testing.T) {
		changes := map[string]struct {
			change func(e *env, tok apitoken.Token) error
			want   error
		}{
			"disable": {func(e *env, tok apitoken.Token) error { _, err := e.m.Disable(e.ctx, "bob", tok.ID); return err }, apitoken.ErrDisabled},
			"delete":  {func(e *env, tok apitoken.Token) error { return e.m.Delete(e.ctx, "bob", tok.ID) }, apitoken.ErrNotFound},
			"renew":   {func(e *env, tok apitoken.Token) error { _, _, err := e.m.Renew(e.ctx, "bob", tok.ID); return err }, apitoken.ErrNotFound},
			"owner disabled": {func(e *env, tok apitoken.Token) error {
				_, err := e.m.DisableOwner(e.ctx, "alice", "bob")
				return err
			}, apitoken.ErrDisabled},
			"owner restricted": {func(e *env, tok apitoken.Token) error {
				_, err := e.m.RestrictOwner(e.ctx, "alice", "bob", []string{"rules:read"})
				return err
			}, apitoken.ErrDisabled},
		}
		for name, c := range changes {
			t.Run(name, func(t *testing.T) {
				e := newEnv(t, newStore)
				tok, value := e.createRead("bob")
				for range 3 {
					e.requireValid(value)
				}
				require.NoError(t, c.change(e, tok))
				e.requireRejected(value, c.want)
			})
		}
	})

	t.Run("last used is written once per interval", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		_, wrong := newEnv(t, newStore).createRead("bob")
		// The mock clock yields on every move, so it moves every 100 calls.
		for i := range 1000 {
			if i%100 == 0 {
				e.clock.Set(start.Add(time.Duration(i) * 59 * time.Millisecond))
			}
			e.requireValid(value)
			_, _ = e.verify(wrong)
		}
		assert.LessOrEqual(t, e.store.lastUsedSet.Load(), int64(1), "1,000 verifications within a minute write at most once")

		writes := e.store.lastUsedSet.Load()
		e.clock.Set(start.Add(apitoken.DefaultLastUsedInterval))
		for range 100 {
			e.requireRejected(wrong, apitoken.ErrNotFound)
		}
		assert.Equal(t, writes, e.store.lastUsedSet.Load(), "failed verifications write nothing")

		e.requireValid(value)
		assert.Equal(t, writes+1, e.store.lastUsedSet.Load(), "one write after the interval")
		assert.True(t, e.get(tok.ID).LastUsedAt.Equal(start.Add(apitoken.DefaultLastUsedInterval)), "the write moves the time forward")

		for i := range 1000 {
			if i%100 == 0 {
				e.clock.Set(start.Add(apitoken.DefaultLastUsedInterval + time.Duration(i)*59*time.Millisecond))
			}
			e.requireValid(value)
		}
		assert.Equal(t, writes+1, e.store.lastUsedSet.Load(), "a fresh stored time needs no write")
	})

	t.Run("verification is one store read", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, value := e.createRead("bob")
		e.requireValid(value)
		require.NoError(t, e.m.FlushLastUsed(e.ctx))

		// The stored last-used time is now fresh, so verification needs
		// nothing from the store but the token.
		calls, lookups := e.store.calls.Load(), e.store.lookups.Load()
		for range 10 {
			e.requireValid(value)
		}
		assert.Equal(t, lookups+10, e.store.lookups.Load(), "each verification looks the token up once")
		assert.Equal(t, calls+10, e.store.calls.Load(), "verification calls the store for nothing else")
	})

	t.Run("close writes pending last-used times", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		e.clock.Add(10 * time.Second)
		e.requireValid(value)
		assert.True(t, e.get(tok.ID).LastUsedAt.IsZero(), "nothing written within the interval")
		require.NoError(t, e.m.Close(e.ctx))
		assert.True(t, e.get(tok.ID).LastUsedAt.Equal(start.Add(10*time.Second)))
		require.NoError(t, e.m.Close(e.ctx), "Close may be called again")
	})

	t.Run("failing store fails closed", func(t *testing.T) {
		e := newEnv(t, newStore)
		_, value := e.createRead("bob")
		e.store.fail.Store(true)
		_, err := e.verify(value)
		require.Error(t, err)
		assert.False(t, apitoken.IsCredentialError(err), "a store failure is not a credential rejection")
		assert.ErrorIs(t, err, errFault)
		e.requireNoSecret(err)
	})

	t.Run("failing policy fails closed", func(t *testing.T) {
		var p *failingPolicy
		e := newEnv(t, newStore, func(c *apitoken.Config) {
			p = &failingPolicy{Policy: c.Policy}
			c.Policy = p
		})
		_, value := e.createRead("bob")
		p.fail = true
		_, err := e.verify(value)
		require.Error(t, err)
		assert.False(t, apitoken.IsCredentialError(err))
	})

	t.Run("failed calls write nothing", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		e.store.fail.Store(true)
		_, _, err := e.m.Create(e.ctx, "bob", apitoken.CreateRequest{Name: "x", Permissions: []string{"attacks:read"}})
		require.Error(t, err)
		_, _, err = e.m.Renew(e.ctx, "bob", tok.ID)
		require.Error(t, err)
		_, err = e.m.DisableOwner(e.ctx, "alice", "bob")
		require.Error(t, err)
		e.store.fail.Store(false)

		assert.Equal(t, 1, e.count("bob"))
		rec := e.get(tok.ID)
		assert.False(t, rec.Disabled)
		assert.Equal(t, int64(1), rec.Version)
		e.requireValid(value)
	})

	t.Run("errors hold no values", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, value := e.createRead("bob")
		_, err := e.m.Disable(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		_, errVerify := e.verify(value)
		_, errMalformed := e.verify(value + "x")
		_, _, errRenew := e.m.Renew(e.ctx, "bob", tok.ID)
		_, errReveal := e.m.Reveal(e.ctx, "bob", tok.ID)
		for _, err := range []error{errVerify, errMalformed, errRenew, errReveal} {
			require.Error(t, err)
			e.requireNoSecret(err)
		}
	})

	t.Run("reveal", func(t *testing.T) {
		e := newEnv(t, newStore)
		tok, _ := e.createRead("bob")
		_, err := e.m.Reveal(e.ctx, "bob", tok.ID)
		assert.ErrorIs(t, err, apitoken.ErrValueNotRetained, "without a keyring the value is shown once")
	})

	t.Run("reveal with a keyring", func(t *testing.T) {
		oldKey, err := apitoken.NewSealingKey()
		require.NoError(t, err)
		newKey, err := apitoken.NewSealingKey()
		require.NoError(t, err)
		ring, err := apitoken.NewKeyring("k1", map[string][]byte{"k1": oldKey})
		require.NoError(t, err)
		e := newEnv(t, newStore, func(c *apitoken.Config) { c.Keyring = ring })
		tok, value := e.createRead("bob")
		rec := e.get(tok.ID)
		require.NotEmpty(t, rec.Sealed)
		if strings.Contains(string(rec.Sealed), string(value)[len(apitoken.DefaultPrefix):]) {
			t.Fatal("the sealed copy contains the value in plain text")
		}
		got, err := e.m.Reveal(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, got == value, "revealed value mismatch")
		assert.Len(t, e.events.of(apitoken.EventRevealed), 1)

		// A rotated keyring still opens values sealed with the old key.
		rotated, err := apitoken.NewKeyring("k2", map[string][]byte{"k1": oldKey, "k2": newKey})
		require.NoError(t, err)
		e2, err := apitoken.New(apitoken.Config{Store: e.managed, Policy: e.dir, Clock: e.clock, Keyring: rotated, Logger: discardLogger()})
		require.NoError(t, err)
		got, err = e2.Reveal(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, got == value, "revealed value mismatch after rotation")

		_, renewed, err := e2.Renew(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		e.values = append(e.values, renewed)
		onlyNew, err := apitoken.NewKeyring("k2", map[string][]byte{"k2": newKey})
		require.NoError(t, err)
		e3, err := apitoken.New(apitoken.Config{Store: e.managed, Policy: e.dir, Clock: e.clock, Keyring: onlyNew, Logger: discardLogger()})
		require.NoError(t, err)
		got, err = e3.Reveal(e.ctx, "bob", tok.ID)
		require.NoError(t, err)
		assert.True(t, got == renewed, "renewal seals with the current key")

		other, _ := e.createRead("carol")
		_, err = e3.Reveal(e.ctx, "carol", other.ID)
		assert.ErrorIs(t, err, apitoken.ErrValueNotRetained, "a value sealed with a removed key cannot be revealed")
		assert.Contains(t, err.Error(), `"k1"`)
	})

	t.Run("sealed copy is bound to its token", func(t *testing.T) {
		key, err := apitoken.NewSealingKey()
		require.NoError(t, err)
		ring, err := apitoken.NewKeyring("k1", map[string][]byte{"k1": key})
		require.NoError(t, err)
		e := newEnv(t, newStore, func(c *apitoken.Config) { c.Keyring = ring })
		a, _ := e.createRead("bob")
		b, _ := e.createRead("bob")
		recB := e.get(b.ID)
		recB.Sealed = e.get(a.ID).Sealed
		require.NoError(t, e.store.Update(e.ctx, &recB))
		_, err = e.m.Reveal(e.ctx, "bob", b.ID)
		assert.ErrorIs(t, err, apitoken.ErrValueNotRetained)
	})

	t.Run("list through the manager", func(t *testing.T) {
		e := newEnv(t, newStore)
		var want []string
		for range 12 {
			tok, _ := e.createRead("bob")
			want = append(want, tok.ID)
		}
		var got []string
		opts := apitoken.ListOptions{Limit: 5}
		for {
			page, err := e.m.List(e.ctx, "bob", opts)
			require.NoError(t, err)
			for _, tok := range page.Tokens {
				got = append(got, tok.ID)
			}
			if page.Next == "" {
				break
			}
			opts.After = page.Next
		}
		assert.ElementsMatch(t, want, got)
	})
}

// failingPolicy wraps a Policy and fails every User call while fail is set.
type failingPolicy struct {
	apitoken.Policy
	fail bool
}

func (p *failingPolicy) User(ctx context.Context, id string) (apitoken.User, error) {
	if p.fail {
		return apitoken.User{}, errFault
	}
	return p.Policy.User(ctx, id)
}
