package app

import (
	"context"
	"errors"
	"log/slog"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/metrics"
)

// settleStore is what recording a payment outcome needs.
type settleStore interface {
	GetPurchase(ctx context.Context, partnerID, purchaseID string) (dsu.Purchase, error)
	UpdatePurchase(ctx context.Context, u dsu.PurchaseUpdate) (dsu.UpdateResult, error)
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
}

// Settler records what Stripe reports about a purchase's PaymentIntent.
// It is the one completion path: the webhook, the refill's own Stripe call
// and the sweep's reconciliation all come here, so a purchase is credited
// exactly once whoever hears first, and the automated plan's state follows
// the same rules whichever reports it.
type Settler struct {
	Store   settleStore
	Refills *RefillOutcomes
	Clock   dsu.Clock
	Log     *slog.Logger
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// errMismatch marks a PaymentIntent that does not belong to the purchase.
var errMismatch = dsu.Errorf(dsu.KindConflict, "the payment does not match its purchase")

// Settle moves purchase p forward to what pi says, in one transaction with
// the credit (when it succeeded), the plan's change and the event record.
// It returns the purchase as stored afterwards. A purchase that moved on
// meanwhile is not an error: the stored state is returned. A PaymentIntent
// that does not match the purchase returns errMismatch and changes nothing.
func (s *Settler) Settle(ctx context.Context, p dsu.Purchase, pi PaymentIntent, eventID string) (dsu.Purchase, error) {
	return onFreshPurchase(ctx, s.Store, p, func(p dsu.Purchase) (dsu.Purchase, error) {
		if !matches(p, pi) {
			s.Log.ErrorContext(ctx, "payment does not match its purchase: nothing recorded",
				"partner", p.PartnerID, "purchase", p.ID, "paymentIntent", pi.ID, "storedPaymentIntent", p.PaymentIntentID,
				"paymentIntentPartner", pi.Metadata["partner_id"],
				"amount", pi.Amount.Amount, "currency", string(pi.Amount.Currency),
				"storedAmount", p.Amount.Amount, "storedCurrency", string(p.Amount.Currency))
			recorderOr(s.Metrics).Add(metrics.CreditMismatches, 1, metrics.Reason(mismatchReason(p, pi)))
			return p, errMismatch
		}
		next := applyPaymentIntent(p, pi, s.Clock.Now())
		if next.Status == p.Status && next.PaymentIntentID == p.PaymentIntentID {
			return p, nil // nothing new (processing, or a duplicate)
		}
		if next.Status != p.Status && !dsu.CanTransition(p.Status, next.Status) {
			if next.Status == dsu.StatusSucceeded && !p.Status.Paid() {
				s.Log.ErrorContext(ctx, "payment succeeded for a purchase that can no longer be paid: an operator must credit or refund it",
					"partner", p.PartnerID, "purchase", p.ID, "status", string(p.Status), "paymentIntent", pi.ID)
				recorderOr(s.Metrics).Add(metrics.CreditMismatches, 1, metrics.Reason(mismatchUnpayable))
			}
			return p, nil // late or duplicate: never back
		}
		return s.update(ctx, p, next, pi, eventID)
	})
}

// cardReplaced reports whether a refill's PaymentIntent was charged to a
// card the partner has replaced since (a new card saved while the charge
// was in flight): its decline must not pause the plan the new card would
// run. One read, on a refill's failure only.
func (s *Settler) cardReplaced(ctx context.Context, p dsu.Purchase, pi PaymentIntent) (bool, error) {
	if p.Kind != dsu.KindAutoRefill || pi.PaymentMethodID == "" {
		return false, nil
	}
	partner, err := s.Store.GetPartner(ctx, p.PartnerID)
	if err != nil {
		return false, err
	}
	return partner.Card != nil && partner.Card.PaymentMethodID != pi.PaymentMethodID, nil
}

// update writes one settlement; dsu.ErrPurchaseMoved asks for a re-read.
func (s *Settler) update(ctx context.Context, p, next dsu.Purchase, pi PaymentIntent, eventID string) (dsu.Purchase, error) {
	from := dsu.TransitionSources(next.Status)
	if next.Status == p.Status {
		from = []dsu.PurchaseStatus{p.Status} // only the PaymentIntent is new
	}
	u := dsu.PurchaseUpdate{Purchase: next, From: from, LinkPaymentIntent: true, EventID: eventID}
	switch next.Status {
	case dsu.StatusSucceeded:
		u.Ledger, u.Account = creditOf(next), s.Refills.onSucceeded(p)
	case dsu.StatusFailed:
		replaced, err := s.cardReplaced(ctx, p, pi)
		if err != nil {
			return p, err
		}
		u.Account = s.Refills.onFailed(p, next.Failure, replaced)
	case dsu.StatusRequiresAction:
		u.Account = s.Refills.onNeedsAuthentication(p)
	case dsu.StatusCanceled:
		u.Account = s.Refills.onReleased(p)
	}
	res, err := s.Store.UpdatePurchase(ctx, u)
	switch {
	case errors.Is(err, dsu.ErrEventProcessed):
		return s.Store.GetPurchase(ctx, p.PartnerID, p.ID)
	case errors.Is(err, dsu.ErrPaymentIntentTaken):
		s.Log.ErrorContext(ctx, "payment intent already pays another purchase: nothing recorded",
			"partner", p.PartnerID, "purchase", p.ID, "paymentIntent", pi.ID)
		recorderOr(s.Metrics).Add(metrics.CreditMismatches, 1, metrics.Reason(mismatchPaymentIntent))
		return p, errMismatch
	case err != nil:
		return p, err
	}
	if u.Ledger != nil && !res.Applied {
		return s.Store.GetPurchase(ctx, p.PartnerID, p.ID) // credited before
	}
	next.Version++
	countPurchase(s.Metrics, p, next)
	countEntry(s.Metrics, u.Ledger, res.Applied)
	if next.Status != p.Status {
		s.Log.InfoContext(ctx, "purchase settled", "partner", p.PartnerID, "purchase", p.ID, "kind", string(p.Kind), "status", string(next.Status), "paymentIntent", pi.ID)
		if next.Status == dsu.StatusSucceeded {
			s.Refills.succeeded(ctx, next)
		} else {
			s.Refills.changed(ctx, next)
		}
		s.Refills.paused(ctx, p.PartnerID, res.Plan)
	}
	return next, nil
}

// purchaseRaces bounds the re-reads of a purchase other events keep
// changing.
const purchaseRaces = 5

// purchaseReader reads a purchase again.
type purchaseReader interface {
	GetPurchase(ctx context.Context, partnerID, purchaseID string) (dsu.Purchase, error)
}

// onFreshPurchase runs step on p and, each time step reports that the
// stored purchase moved on meanwhile (dsu.ErrPurchaseMoved), on the
// purchase read again: every decision is made on what is stored. Past
// purchaseRaces re-reads it gives up with a transient error.
func onFreshPurchase[T any](ctx context.Context, store purchaseReader, p dsu.Purchase, step func(dsu.Purchase) (T, error)) (T, error) {
	var zero T
	for range purchaseRaces {
		out, err := step(p)
		if !errors.Is(err, dsu.ErrPurchaseMoved) {
			return out, err
		}
		if p, err = store.GetPurchase(ctx, p.PartnerID, p.ID); err != nil {
			return zero, err
		}
	}
	return zero, dsu.Errorf(dsu.KindUpstreamUnavailable, "purchase %s keeps changing; try again", p.ID)
}
