package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// reconcileStore is what finishing a manual purchase needs.
type reconcileStore interface {
	settleStore
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
}

// reconcilePayments is what finishing a manual purchase asks of Stripe.
type reconcilePayments interface {
	GetPaymentIntent(ctx context.Context, id string) (PaymentIntent, error)
	FindPaymentIntent(ctx context.Context, customerID, purchaseID string, since time.Time) (PaymentIntent, bool, error)
	CancelPaymentIntent(ctx context.Context, id, reason string) (PaymentIntent, error)
	chargeReader
}

// CancelAbandoned is Stripe's cancellation reason for a PaymentIntent
// nobody paid in time; a PaymentIntent canceled for it marks its purchase
// canceled with the failure code abandoned, whoever reports it.
const CancelAbandoned = "abandoned"

// abandonedFailure is the failure of a manual purchase nobody paid within
// dsu.AbandonAfter.
var abandonedFailure = dsu.Failure{Code: "abandoned", Message: "The payment was not completed within 24 hours and was canceled."}

// unauthenticatedFailure is the failure of an automatic purchase the
// partner did not authenticate while the plan waited for it (within 7
// days, and before the plan moved on).
var unauthenticatedFailure = dsu.Failure{Code: "abandoned", Message: "The payment was not authenticated while the automated plan waited for it, and was canceled."}

// PurchaseReconciler finishes the manual purchases the sweep finds
// unfinished (RULES.md, "Reconciliation and the sweep"): a purchase still
// pending or requiring action an hour after its creation, or failed with a
// PaymentIntent the portal may still pay with another card, is compared
// with its PaymentIntent and settled through the one settlement path
// (Settler.Settle), so a payment whose webhook was lost is credited exactly
// once; one still unpaid after 24 hours is canceled at Stripe and marked
// canceled (abandoned). Between looks the purchase waits in the sparse
// index (dsu.Purchase.NextReconcile).
type PurchaseReconciler struct {
	Store    reconcileStore
	Payments reconcilePayments
	Settle   *Settler
	Clock    dsu.Clock
	Log      *slog.Logger
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// Reconcile looks at one purchase the sweep's index lists as due.
func (r *PurchaseReconciler) Reconcile(ctx context.Context, key dsu.PurchaseKey) error {
	p, err := r.Store.GetPurchase(ctx, key.PartnerID, key.PurchaseID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	now := r.Clock.Now()
	if at, ok := p.SweepAt(); !ok || now.Before(at) {
		return nil // finished or rescheduled since the index was read
	}
	pi, found, err := r.paymentIntentOf(ctx, p)
	if err != nil {
		return err
	}
	switch {
	case !found && p.PaymentIntentID == "" && p.Abandoned(now):
		return r.notCharged(ctx, p, now)
	case !found:
		return r.later(ctx, p, now)
	case !matches(p, pi):
		r.Log.ErrorContext(ctx, "payment does not match its purchase: nothing recorded, an operator must look",
			"partner", p.PartnerID, "purchase", p.ID, "paymentIntent", pi.ID)
		return r.later(ctx, p, now)
	}
	giveUp := p.Abandoned(now)
	if !giveUp && p.Kind == dsu.KindAutoRefill && cancelable(pi.Status) {
		if giveUp, err = r.superseded(ctx, p); err != nil {
			return err
		}
	}
	if giveUp && cancelable(pi.Status) {
		canceled, err := r.Payments.CancelPaymentIntent(ctx, pi.ID, CancelAbandoned)
		switch {
		case err == nil:
			pi = canceled
			r.Log.InfoContext(ctx, "abandoned purchase canceled at Stripe", "partner", p.PartnerID, "purchase", p.ID, "paymentIntent", pi.ID)
		case dsu.IsKind(err, dsu.KindUpstreamUnavailable):
			return err
		default:
			// Refused: the payment moved on meanwhile (paid, say). Settle
			// what it is now.
			if pi, err = r.Payments.GetPaymentIntent(ctx, pi.ID); err != nil {
				return err
			}
		}
	}
	// The webhooks were lost, charge.succeeded's too: the receipt comes
	// from the charge, or the purchase would keep none.
	pi = withReceipt(ctx, r.Payments, r.Log, p, pi)
	stored, err := r.Settle.Settle(ctx, p, pi, "")
	if errors.Is(err, errMismatch) {
		return r.later(ctx, p, now)
	}
	if err != nil {
		return err
	}
	if _, unfinished := stored.SweepAt(); unfinished {
		// Not paid yet (or still processing): look again later.
		return r.later(ctx, stored, now)
	}
	return nil
}

// superseded reports whether an automatic purchase waiting to be paid
// on-session is one the plan no longer waits for (dsu.Account.
// AwaitsAuthentication): paying it would be a second charge for one
// balance drop, so it is canceled now rather than at its abandon time.
func (r *PurchaseReconciler) superseded(ctx context.Context, p dsu.Purchase) (bool, error) {
	acc, err := r.Store.GetAccount(ctx, p.PartnerID)
	if err != nil {
		return false, err
	}
	return !acc.AwaitsAuthentication(p.ID), nil
}

// paymentIntentOf reads the purchase's PaymentIntent, or looks for it among
// the customer's when the purchase never learned its id (the creation's
// answer was lost). found is false when Stripe has none.
func (r *PurchaseReconciler) paymentIntentOf(ctx context.Context, p dsu.Purchase) (PaymentIntent, bool, error) {
	if p.PaymentIntentID != "" {
		pi, err := r.Payments.GetPaymentIntent(ctx, p.PaymentIntentID)
		if dsu.IsKind(err, dsu.KindNotFound) {
			r.Log.ErrorContext(ctx, "Stripe does not know the purchase's PaymentIntent: an operator must look",
				"partner", p.PartnerID, "purchase", p.ID, "paymentIntent", p.PaymentIntentID)
			return PaymentIntent{}, false, nil
		}
		return pi, err == nil, err
	}
	partner, err := r.Store.GetPartner(ctx, p.PartnerID)
	if err != nil {
		return PaymentIntent{}, false, err
	}
	if partner.StripeCustomerID == "" {
		// A PaymentIntent without a customer is a new card's whose client
		// secret never reached the portal: it cannot have been paid.
		return PaymentIntent{}, false, nil
	}
	return r.Payments.FindPaymentIntent(ctx, partner.StripeCustomerID, p.ID, p.CreatedAt)
}

// cancelable reports whether Stripe still lets a PaymentIntent be canceled
// and nobody paid it: processing and finished ones are settled as they are.
func cancelable(status string) bool {
	switch status {
	case PIRequiresPaymentMethod, PIRequiresConfirmation, PIRequiresAction:
		return true
	}
	return false
}

// later moves the purchase's next look on (dsu.Purchase.NextReconcile); a
// purchase that moved on meanwhile has left the index with that write.
func (r *PurchaseReconciler) later(ctx context.Context, p dsu.Purchase, now time.Time) error {
	next := p
	next.ReconcileAt = p.NextReconcile(now)
	_, err := r.Store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{p.Status}})
	if errors.Is(err, dsu.ErrPurchaseMoved) {
		return nil
	}
	return err
}

// notCharged gives up a purchase that never got a PaymentIntent in 24
// hours: it fails not_charged (a payment Stripe reports later still credits
// it, failed → succeeded).
func (r *PurchaseReconciler) notCharged(ctx context.Context, p dsu.Purchase, now time.Time) error {
	next := p
	f := notChargedFailure
	next.Status, next.Failure, next.CompletedAt = dsu.StatusFailed, &f, &now
	_, err := r.Store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusPending}})
	if errors.Is(err, dsu.ErrPurchaseMoved) {
		return nil
	}
	if err == nil {
		countPurchase(r.Metrics, p, next)
		r.Log.WarnContext(ctx, "purchase given up: not charged", "partner", p.PartnerID, "purchase", p.ID)
	}
	return err
}
