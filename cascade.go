package apitoken

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// The owner cascades apply a change of a user in the host's directory to
// all of the user's tokens, shared ones included, in one store transaction.
// The host calls them after it changed the user; the Manager does not
// check who may change users, which is the host's business. Each returns
// the number of tokens it changed, and emits an audit event for each.

// DisableOwner disables every token of the owner, recording
// ReasonOwnerDisabled. The tokens stay disabled if the owner is enabled
// again.
func (m *Manager) DisableOwner(ctx context.Context, actorID, ownerID string) (int, error) {
	return m.disableAll(ctx, actorID, ownerID, ReasonOwnerDisabled)
}

// SwitchOwnerToSSO disables every token of an owner who now signs in by
// SSO, backward-compatible ones included, recording ReasonOwnerSSO.
func (m *Manager) SwitchOwnerToSSO(ctx context.Context, actorID, ownerID string) (int, error) {
	return m.disableAll(ctx, actorID, ownerID, ReasonOwnerSSO)
}

func (m *Manager) disableAll(ctx context.Context, actorID, ownerID string, reason Reason) (int, error) {
	now := m.now()
	return m.cascade(ctx, actorID, ownerID, reason, func(rec *Record) Action {
		if rec.Disabled {
			return Keep
		}
		rec.Disabled, rec.DisabledAt, rec.DisabledReason = true, now, reason
		rec.UpdatedAt = now
		return Save
	})
}

// RestrictOwner removes from every token of the owner the permissions not
// in permissions, which are the owner's new permissions. A token left with
// none is disabled with ReasonNoPermissions. Removed permissions do not
// come back if the owner's permissions grow again. Backward-compatible
// tokens are not changed, because their permissions follow the owner's.
func (m *Manager) RestrictOwner(ctx context.Context, actorID, ownerID string, permissions []string) (int, error) {
	now := m.now()
	return m.cascade(ctx, actorID, ownerID, "", func(rec *Record) Action {
		if rec.BackwardCompatible {
			return Keep
		}
		remaining := slices.DeleteFunc(slices.Clone(rec.Permissions), func(p string) bool {
			return !slices.Contains(permissions, p)
		})
		if len(remaining) == len(rec.Permissions) {
			return Keep
		}
		rec.Permissions = remaining
		if len(remaining) == 0 && !rec.Disabled {
			rec.Disabled, rec.DisabledAt, rec.DisabledReason = true, now, ReasonNoPermissions
		}
		rec.UpdatedAt = now
		return Save
	})
}

// DeleteOwner deletes every token of an owner who was deleted.
func (m *Manager) DeleteOwner(ctx context.Context, actorID, ownerID string) (int, error) {
	return m.cascade(ctx, actorID, ownerID, ReasonOwnerDeleted, func(*Record) Action {
		return Remove
	})
}

func (m *Manager) cascade(ctx context.Context, actorID, ownerID string, reason Reason, fn CascadeFunc) (int, error) {
	if ownerID == "" {
		return 0, fmt.Errorf("%w: empty owner ID", ErrInvalidArgument)
	}
	// Drop the cached owner first, so that verification sees the change
	// even while the store transaction runs.
	if f, ok := m.policy.(forgetter); ok {
		f.Forget(ownerID)
	}
	changes, err := m.store.UpdateOwner(ctx, ownerID, fn)
	if err != nil {
		return 0, m.storeFailure(ctx, "owner cascade", err)
	}
	if f, ok := m.policy.(forgetter); ok {
		f.Forget(ownerID)
	}
	now := m.now()
	for i := range changes {
		t := &changes[i].Record.Token
		m.forgetToken(t.ID)
		typ := EventUpdated
		switch {
		case changes[i].Action == Remove:
			typ = EventDeleted
		case t.Disabled && t.DisabledAt.Equal(t.UpdatedAt):
			typ = EventDisabled
		}
		r := reason
		if r == "" && t.Disabled {
			r = t.DisabledReason
		}
		m.audit(ctx, typ, t, actorID, r, now)
	}
	m.log.InfoContext(ctx, "apitoken: owner cascade", "owner", ownerID, "actor", actorID, "reason", string(reason), "tokens", len(changes))
	return len(changes), nil
}

// Purge deletes the tokens that have been disabled or expired for at least
// the retention period, and returns how many it deleted. It deletes in
// batches of Config.PurgeBatchSize, so a large backlog never holds a long
// lock.
func (m *Manager) Purge(ctx context.Context) (int, error) {
	cutoff := m.clock.Now().UTC().Add(-m.retention)
	total := 0
	for {
		recs, err := m.store.Purge(ctx, cutoff, m.purgeBatch)
		if err != nil {
			return total, m.storeFailure(ctx, "purge", err)
		}
		now := m.now()
		for i := range recs {
			m.forgetToken(recs[i].ID)
			m.audit(ctx, EventPurged, &recs[i].Token, "", ReasonRetention, now)
		}
		total += len(recs)
		if len(recs) < m.purgeBatch {
			break
		}
	}
	if total > 0 {
		m.log.InfoContext(ctx, "apitoken: purged tokens", "tokens", total, "cutoff", cutoff)
	}
	return total, nil
}

// RunPurge calls Purge once at start and then at every interval until ctx
// is done, and returns ctx.Err(). Failures are logged and retried at the
// next interval. Run it in its own goroutine.
func (m *Manager) RunPurge(ctx context.Context, interval time.Duration) error {
	if interval <= 0 {
		return fmt.Errorf("%w: purge interval %v: use a positive duration such as time.Hour", ErrInvalidArgument, interval)
	}
	ticker := m.clock.Ticker(interval)
	defer ticker.Stop()
	for {
		_, _ = m.Purge(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}
