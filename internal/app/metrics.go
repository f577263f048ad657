package app

import (
	"context"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/metrics"
)

// Business metrics (docs/ARCHITECTURE.md, "Metrics") are recorded where a
// change is committed, never before: a metric counts what the table holds.
// The recorder is *metrics.EMF in the functions; nil records nothing.

// metricsRecorder takes metric values (metrics.Recorder).
type metricsRecorder interface {
	Add(name string, value float64, dims ...metrics.Dimension)
}

// recorderOr is m, or a recorder that drops everything when m is nil.
func recorderOr(m metricsRecorder) metricsRecorder {
	if m == nil {
		return metrics.Discard{}
	}
	return m
}

// countPurchase records a committed change of a purchase from before to
// after: its PaymentIntent linked for the first time (created; for an
// automatic purchase also a refill started), and its arrival at succeeded
// (credited) or at failed or canceled. Later moves (refunds, disputes)
// count as units debited, not here.
func countPurchase(m metricsRecorder, before, after dsu.Purchase) {
	m = recorderOr(m)
	kind := metrics.Kind(string(after.Kind))
	if before.PaymentIntentID == "" && after.PaymentIntentID != "" {
		m.Add(metrics.PurchasesCreated, 1, kind)
		if after.Kind == dsu.KindAutoRefill {
			m.Add(metrics.RefillsStarted, 1)
		}
	}
	if before.Status == after.Status {
		return
	}
	switch after.Status {
	case dsu.StatusSucceeded:
		m.Add(metrics.PurchasesSucceeded, 1, kind)
	case dsu.StatusFailed, dsu.StatusCanceled:
		m.Add(metrics.PurchasesFailed, 1, kind)
	}
}

// countEntry records the DSUs a committed ledger change moved; nothing
// when it was applied before (applied false) or there was none.
func countEntry(m metricsRecorder, change *dsu.LedgerChange, applied bool) {
	if change == nil || !applied {
		return
	}
	countUnits(m, change.Units)
}

// countUnits records a signed change of a balance.
func countUnits(m metricsRecorder, units dsu.Units) {
	m = recorderOr(m)
	switch {
	case units > 0:
		m.Add(metrics.UnitsCredited, float64(units))
	case units < 0:
		m.Add(metrics.UnitsDebited, float64(-units))
	}
}

// Reasons of metrics.CreditMismatches.
const (
	mismatchAmount        = "amount"
	mismatchCurrency      = "currency"
	mismatchPartner       = "partner"
	mismatchPaymentIntent = "payment_intent"
	// a successful payment naming no purchase this system knows
	mismatchUnknownPurchase = "unknown_purchase"
	// a second payment for one purchase that Stripe refused to refund
	mismatchDuplicateNotRefunded = "duplicate_not_refunded"
	// a payment that succeeded for a purchase that can no longer be paid
	mismatchUnpayable = "unpayable_purchase"
)

// mismatchReason says why pi does not match p (see matches).
func mismatchReason(p dsu.Purchase, pi PaymentIntent) string {
	switch {
	case p.PaymentIntentID != "" && p.PaymentIntentID != pi.ID:
		return mismatchPaymentIntent
	case pi.Amount.Currency != p.Amount.Currency:
		return mismatchCurrency
	case pi.Amount.Amount != p.Amount.Amount:
		return mismatchAmount
	default:
		return mismatchPartner
	}
}

// EventMetrics counts the domain events that are also business metrics and
// passes every event on to Next: a refill credited, failed or needing
// authentication, a plan paused (by reason), a double charge refunded.
// Counting the events themselves keeps each metric and its notification
// in agreement, wherever in the code the event is raised.
type EventMetrics struct {
	Next    Publisher
	Metrics metricsRecorder
}

func (e EventMetrics) Publish(ctx context.Context, ev DomainEvent) {
	m := recorderOr(e.Metrics)
	switch ev.Type {
	case EventRefillSucceeded:
		m.Add(metrics.RefillsSucceeded, 1)
	case EventRefillFailed, EventAuthenticationRequired:
		m.Add(metrics.RefillsFailed, 1)
	case EventAutoRefillPaused:
		m.Add(metrics.RefillsPaused, 1, metrics.Reason(ev.Reason))
	case EventDuplicateRefunded:
		m.Add(metrics.DoubleChargesRefunded, 1)
	}
	if e.Next != nil {
		e.Next.Publish(ctx, ev)
	}
}
