package apitoken

import (
	"context"
	"time"
)

// EventType names what happened to a token.
type EventType string

// Event types.
const (
	EventCreated  EventType = "created"
	EventRenewed  EventType = "renewed"
	EventRevealed EventType = "revealed"
	EventDisabled EventType = "disabled"
	EventEnabled  EventType = "enabled"
	EventUpdated  EventType = "updated"
	EventDeleted  EventType = "deleted"
	EventPurged   EventType = "purged"
	EventImported EventType = "imported"
)

// Event describes one change to a token, delivered to the Auditor after the
// change was stored. It never holds a value or a secret.
type Event struct {
	Type     EventType
	TokenID  string
	OwnerID  string
	TenantID string
	// ActorID is the user who made the change, or "" for the purge.
	ActorID string
	Time    time.Time
	// Reason is the cause of a change made by a cascade or the purge. It
	// is empty for changes made by hand.
	Reason Reason
}

// Auditor receives audit events. The Manager calls Audit synchronously
// after each change, from the goroutine that made it, so Audit must return
// quickly. An implementation that writes to a slow sink should queue the
// event. Implementations must be safe for concurrent use.
type Auditor interface {
	Audit(ctx context.Context, e Event)
}

// AuditFunc adapts a function to the Auditor interface.
type AuditFunc func(ctx context.Context, e Event)

// Audit calls f.
func (f AuditFunc) Audit(ctx context.Context, e Event) { f(ctx, e) }

func (m *Manager) audit(ctx context.Context, typ EventType, t *Token, actorID string, reason Reason, at time.Time) {
	m.auditor.Audit(ctx, Event{
		Type:     typ,
		TokenID:  t.ID,
		OwnerID:  t.OwnerID,
		TenantID: t.TenantID,
		ActorID:  actorID,
		Time:     at,
		Reason:   reason,
	})
}
