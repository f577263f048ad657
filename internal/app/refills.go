package app

import (
	"context"
	"log/slog"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// RefillOutcomes applies the outcome of an automatic purchase's payment to
// the automated plan, wherever the outcome is learned: the refill's own
// Stripe call, the webhook, or the sweep's reconciliation. One path, so
// the plan's state never depends on who heard first.
type RefillOutcomes struct {
	Policy dsu.RefillPolicy
	Clock  dsu.Clock
	Events Publisher
	Log    *slog.Logger
	// Retryable classifies decline codes (RULES.md, "Error kinds and decline classes"): insufficient_funds and the
	// like are retried with backoff; lost_card and the like are not.
	Retryable func(code string) bool
}

// The on* methods return the account change to write in the same
// transaction as the purchase's update; nil for manual purchases.

func (r *RefillOutcomes) onSucceeded(p dsu.Purchase) dsu.AccountMutation {
	if r == nil || p.Kind != dsu.KindAutoRefill {
		return nil
	}
	return func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillSucceeded(p.ID) }
}

// onFailed is the account change of a failed refill; replacedCard says the
// card it was charged to is no longer the partner's saved card.
func (r *RefillOutcomes) onFailed(p dsu.Purchase, f *dsu.Failure, replacedCard bool) dsu.AccountMutation {
	if r == nil || p.Kind != dsu.KindAutoRefill {
		return nil
	}
	if replacedCard {
		return func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillDeclinedOnReplacedCard(p.ID) }
	}
	if f != nil && f.Code == string(dsu.KindAuthenticationRequired) {
		return r.onNeedsAuthentication(p)
	}
	retryable := f != nil && r.Retryable != nil && r.Retryable(f.Code)
	now := r.Clock.Now()
	return func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillFailed(p.ID, retryable, now, r.Policy) }
}

func (r *RefillOutcomes) onNeedsAuthentication(p dsu.Purchase) dsu.AccountMutation {
	if r == nil || p.Kind != dsu.KindAutoRefill {
		return nil
	}
	return func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillNeedsAuthentication(p.ID) }
}

func (r *RefillOutcomes) onReleased(p dsu.Purchase) dsu.AccountMutation {
	if r == nil || p.Kind != dsu.KindAutoRefill {
		return nil
	}
	return func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillReleased(p.ID) }
}

// After a committed outcome: the domain events for notifications.

func (r *RefillOutcomes) succeeded(ctx context.Context, p dsu.Purchase) {
	if r == nil || p.Kind != dsu.KindAutoRefill {
		return
	}
	r.publish(ctx, DomainEvent{Type: EventRefillSucceeded, PartnerID: p.PartnerID, PurchaseID: p.ID, Units: p.Units, Amount: &p.Amount})
}

func (r *RefillOutcomes) changed(ctx context.Context, p dsu.Purchase) {
	if r == nil || p.Kind != dsu.KindAutoRefill {
		return
	}
	switch p.Status {
	case dsu.StatusFailed:
		reason := ""
		if p.Failure != nil {
			reason = p.Failure.Code
		}
		// Every refill RefillsFailed counts has this line: the runbook of
		// the refill-failure alarm finds the partners by it.
		r.Log.WarnContext(ctx, "refill failed", "event", "refill_failed", "partner", p.PartnerID, "purchase", p.ID, "code", reason)
		if reason == string(dsu.KindAuthenticationRequired) {
			r.publish(ctx, DomainEvent{Type: EventAuthenticationRequired, PartnerID: p.PartnerID, PurchaseID: p.ID})
			return
		}
		r.publish(ctx, DomainEvent{Type: EventRefillFailed, PartnerID: p.PartnerID, PurchaseID: p.ID, Reason: reason})
	case dsu.StatusRequiresAction:
		r.Log.WarnContext(ctx, "refill failed", "event", "refill_failed", "partner", p.PartnerID, "purchase", p.ID, "code", string(dsu.KindAuthenticationRequired))
		r.publish(ctx, DomainEvent{Type: EventAuthenticationRequired, PartnerID: p.PartnerID, PurchaseID: p.ID})
	}
}

// paused announces a pause the stored change made; nothing when it made
// none.
func (r *RefillOutcomes) paused(ctx context.Context, partnerID string, change dsu.PlanChange) {
	if r == nil || change.Paused == "" {
		return
	}
	r.publish(ctx, DomainEvent{Type: EventAutoRefillPaused, PartnerID: partnerID, Reason: string(change.Paused)})
}

func (r *RefillOutcomes) publish(ctx context.Context, ev DomainEvent) {
	if r.Events == nil {
		return
	}
	if ev.At.IsZero() {
		ev.At = r.Clock.Now()
	}
	r.Events.Publish(ctx, ev)
}
