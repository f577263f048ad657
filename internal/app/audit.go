package app

import (
	"context"

	"github.com/cirasync/dsubilling/internal/dsu"
)

type auditStore interface {
	ListAudit(ctx context.Context, partnerID string, page dsu.Page) ([]dsu.AuditEvent, string, error)
}

// AuditLog lists who changed a partner's billing (API.md, "GET /v1/audit"),
// newest first: one query per page.
type AuditLog struct{ Store auditStore }

// List returns a page of the partner's audit events.
func (l *AuditLog) List(ctx context.Context, p dsu.Partner, page dsu.Page) ([]dsu.AuditEvent, string, error) {
	return l.Store.ListAudit(ctx, p.ID, page)
}
