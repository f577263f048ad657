package app

import (
	"context"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Who acts is request-scoped, like the request id: the HTTP adapter puts
// the token's person in the context, the webhook use case Stripe, and
// anything else (the stream, the sweep) acts as the system. Use cases read
// it for the audit log (RULES.md, "The audit log").

type actorKey struct{}

// WithActor returns ctx acting as a.
func WithActor(ctx context.Context, a dsu.Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorOf is who acts in ctx: the system when nobody said.
func ActorOf(ctx context.Context) dsu.Actor {
	if a, ok := ctx.Value(actorKey{}).(dsu.Actor); ok && a.Sub != "" {
		return a
	}
	return dsu.ActorSystem
}

// auditEvent is an audit event of the partner by ctx's actor.
func auditEvent(ctx context.Context, partnerID string, at dsu.AuditAction, details map[string]any) dsu.AuditEvent {
	return dsu.AuditEvent{PartnerID: partnerID, Actor: ActorOf(ctx), Action: at, Details: details}
}
