package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Domain events tell other systems (notifications, CRM) what happened to a
// partner's billing. This system sends no email itself: it publishes, and
// subscribers decide (EventBridge in AWS, a log line locally).

// EventType names a domain event; it becomes the EventBridge detail-type.
type EventType string

const (
	EventRefillSucceeded        EventType = "refill.succeeded"
	EventRefillFailed           EventType = "refill.failed"
	EventAuthenticationRequired EventType = "refill.authentication_required"
	EventAutoRefillPaused       EventType = "autorefill.paused"
	EventBalanceLow             EventType = "balance.low"
)

// Card expiry events (RULES.md, "Cards"): each once per card and expiry.
const (
	// EventCardExpiring: the saved card's last valid day is within 30 days.
	EventCardExpiring EventType = "card.expiring"
	// EventCardExpired: the saved card's last valid day is over.
	EventCardExpired EventType = "card.expired"
)

// DomainEvent is one event, without personal data: ids, amounts, reasons.
type DomainEvent struct {
	Type       EventType  `json:"type"`
	PartnerID  string     `json:"partnerId"`
	PurchaseID string     `json:"purchaseId,omitempty"`
	Reason     string     `json:"reason,omitempty"`
	Units      int64      `json:"units,omitempty"`
	Amount     *dsu.Money `json:"amount,omitempty"`
	At         time.Time  `json:"at"`
}

// Publisher publishes domain events. Publishing is best effort: it never
// fails the money path that caused the event; implementations log what
// they could not deliver.
type Publisher interface {
	Publish(ctx context.Context, ev DomainEvent)
}

// LogPublisher writes events as log lines (the local stack).
type LogPublisher struct{ Log *slog.Logger }

func (p LogPublisher) Publish(ctx context.Context, ev DomainEvent) {
	p.Log.InfoContext(ctx, "domain event", "event", string(ev.Type), "partner", ev.PartnerID, "purchase", ev.PurchaseID, "reason", ev.Reason, "units", ev.Units)
}
