package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// WebhookEvent is a verified Stripe event with its object parsed.
type WebhookEvent struct {
	ID   string
	Type string

	PaymentIntent *PaymentIntent
	Charge        *Charge
	Dispute       *Dispute
	SetupIntent   *SetupIntent
	PaymentMethod *PaymentMethod
	// PreviousCustomerID is the customer a detached payment method had.
	PreviousCustomerID string
}

// Stripe event types handled (API.md, "POST /v1/stripe/webhook").
const (
	EvPaymentSucceeded      = "payment_intent.succeeded"
	EvPaymentFailed         = "payment_intent.payment_failed"
	EvPaymentRequiresAction = "payment_intent.requires_action"
	EvPaymentCanceled       = "payment_intent.canceled"
	EvChargeRefunded        = "charge.refunded"
	EvDisputeCreated        = "charge.dispute.created"
	EvDisputeClosed         = "charge.dispute.closed"
	EvSetupSucceeded        = "setup_intent.succeeded"
	EvSetupFailed           = "setup_intent.setup_failed"
	EvPaymentMethodDetached = "payment_method.detached"
	EvPaymentMethodUpdated  = "payment_method.automatically_updated"
)

// HandledEvents lists the event types the webhook endpoint must receive.
var HandledEvents = []string{
	EvPaymentSucceeded, EvPaymentFailed, EvPaymentRequiresAction, EvPaymentCanceled, EvChargeRefunded,
	EvDisputeCreated, EvDisputeClosed, EvSetupSucceeded, EvSetupFailed, EvPaymentMethodDetached, EvPaymentMethodUpdated,
}

type webhookStore interface {
	GetPurchase(ctx context.Context, partnerID, purchaseID string) (dsu.Purchase, error)
	PurchaseByPaymentIntent(ctx context.Context, paymentIntentID string) (dsu.Purchase, error)
	UpdatePurchase(ctx context.Context, u dsu.PurchaseUpdate) (dsu.UpdateResult, error)
	EventProcessed(ctx context.Context, eventID string) (bool, error)
	MarkEventProcessed(ctx context.Context, eventID string) error
}

type refundLister interface {
	ListRefunds(ctx context.Context, chargeID string) ([]Refund, error)
}

// cardEvents are billing's handlers of card events.
type cardEvents interface {
	SaveCardFromSetupIntent(ctx context.Context, si SetupIntent) error
	CardDetached(ctx context.Context, pm PaymentMethod, previousCustomerID string) error
	CardUpdated(ctx context.Context, pm PaymentMethod) error
}

// Webhooks completes purchases, refunds, disputes and cards from verified
// Stripe events (RULES.md, "Crediting a purchase", "Refunds", "Disputes and
// the dispute hold", "Cards"). Handle returns nil when the event is processed
// or needs nothing (Stripe gets 200) and an error only for a transient
// failure (Stripe gets 5xx and retries). A permanent problem, such as a
// payment that does not match its purchase, is logged for operators and
// acknowledged: retrying it would never succeed.
type Webhooks struct {
	Store   webhookStore
	Settle  *Settler
	Refunds refundLister
	Cards   cardEvents
	Refills *RefillOutcomes
	Clock   dsu.Clock
	Log     *slog.Logger
}

// errRetryLater is a transient condition: the event arrived before what it
// depends on (a refund before the payment it refunds).
var errRetryLater = dsu.Errorf(dsu.KindUpstreamUnavailable, "the event arrived before the payment it refers to; Stripe will retry")

// Handle processes one event.
func (w *Webhooks) Handle(ctx context.Context, ev WebhookEvent) error {
	log := w.Log.With("event", ev.ID, "type", ev.Type)
	var err error
	switch ev.Type {
	case EvPaymentSucceeded, EvPaymentFailed, EvPaymentRequiresAction, EvPaymentCanceled:
		err = w.paymentIntent(ctx, log, ev)
	case EvChargeRefunded:
		err = w.chargeRefunded(ctx, log, ev)
	case EvDisputeCreated, EvDisputeClosed:
		err = w.dispute(ctx, log, ev)
	case EvSetupSucceeded:
		err = w.Cards.SaveCardFromSetupIntent(ctx, *ev.SetupIntent)
		if dsu.IsKind(err, dsu.KindNotFound) || dsu.IsKind(err, dsu.KindConflict) {
			log.WarnContext(ctx, "setup intent not saved as a card", "reason", err.Error())
			err = nil
		}
	case EvSetupFailed:
		log.InfoContext(ctx, "card setup failed; the portal shows Stripe's message", "setupIntent", ev.SetupIntent.ID)
	case EvPaymentMethodDetached:
		err = w.Cards.CardDetached(ctx, *ev.PaymentMethod, ev.PreviousCustomerID)
	case EvPaymentMethodUpdated:
		err = w.Cards.CardUpdated(ctx, *ev.PaymentMethod)
	default:
		log.DebugContext(ctx, "event ignored")
		return nil
	}
	if err != nil && !Transient(err) {
		log.ErrorContext(ctx, "event could not be processed and is acknowledged; an operator must look", "error", err.Error())
		return nil
	}
	return err
}

// Transient reports whether err may go away when the same work is tried
// again: a dependency did not answer, another request holds what this one
// needs, or something unexpected happened. Every trigger (Stripe's webhook
// retries, the stream's batch retries, a client's retry with its
// Idempotency-Key) retries these and gives up on the rest.
func Transient(err error) bool {
	switch dsu.ErrorKind(err) {
	case dsu.KindUpstreamUnavailable, dsu.KindInternal, dsu.KindRequestInProgress:
		return true
	}
	return false
}

// purchaseOf finds the purchase a PaymentIntent pays: by the metadata this
// system put on it, else by the PaymentIntent lookup.
func (w *Webhooks) purchaseOf(ctx context.Context, pi PaymentIntent) (dsu.Purchase, error) {
	if partnerID, purchaseID := pi.Metadata["partner_id"], pi.Metadata["purchase_id"]; partnerID != "" && purchaseID != "" {
		return w.Store.GetPurchase(ctx, partnerID, purchaseID)
	}
	return w.Store.PurchaseByPaymentIntent(ctx, pi.ID)
}

// matches checks a PaymentIntent against the purchase it claims to pay:
// same PaymentIntent (or none recorded yet), same amount and currency.
func matches(p dsu.Purchase, pi PaymentIntent) bool {
	return (p.PaymentIntentID == "" || p.PaymentIntentID == pi.ID) && p.Amount == pi.Amount &&
		(pi.Metadata["partner_id"] == "" || pi.Metadata["partner_id"] == p.PartnerID)
}

// paymentIntent settles a payment_intent.* event through the one
// completion path: a succeeded payment is credited exactly once (2 reads,
// the purchase and the balance, and 1 transaction); a failure, a needed
// authentication or a cancellation only ever moves the purchase forward.
func (w *Webhooks) paymentIntent(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	pi := *ev.PaymentIntent
	p, err := w.purchaseOf(ctx, pi)
	if dsu.IsKind(err, dsu.KindNotFound) {
		log.ErrorContext(ctx, "payment event for no known purchase: nothing recorded", "paymentIntent", pi.ID)
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status.Paid() {
		return nil // credited before; a late event changes nothing
	}
	if _, err := w.Settle.Settle(ctx, p, pi, ev.ID); err != nil && !errors.Is(err, errMismatch) {
		return err
	}
	return nil
}

// chargeRefunded debits the refunded share of a purchase's units, once per
// refund id. Charges carry only the PaymentIntent id.
func (w *Webhooks) chargeRefunded(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	ch := *ev.Charge
	if done, err := w.Store.EventProcessed(ctx, ev.ID); err != nil || done {
		return err
	}
	p, err := w.Store.PurchaseByPaymentIntent(ctx, ch.PaymentIntentID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		log.ErrorContext(ctx, "refund of a charge of no known purchase: nothing debited", "charge", ch.ID, "paymentIntent", ch.PaymentIntentID)
		return nil
	}
	if err != nil {
		return err
	}
	if ch.Currency != p.Amount.Currency || ch.Amount != p.Amount.Amount {
		log.ErrorContext(ctx, "refunded charge does not match its purchase: nothing debited", "purchase", p.ID, "charge", ch.ID)
		return nil
	}
	if !p.Status.Paid() {
		return unpaid(ctx, log, p)
	}
	refunds := ch.Refunds
	if !ch.RefundsIncluded {
		// API 2023-10-16 events carry no refund ids: ask Stripe.
		var err error
		if refunds, err = w.Refunds.ListRefunds(ctx, ch.ID); err != nil {
			return err
		}
	}
	slices.Reverse(refunds) // Stripe lists newest first; apply oldest first
	for _, r := range refunds {
		if r.Status != "succeeded" && r.Status != "pending" {
			continue
		}
		if err := w.applyRefund(ctx, log, p, r); err != nil {
			return err
		}
	}
	return w.Store.MarkEventProcessed(ctx, ev.ID)
}

// unpaid answers a refund or dispute of a purchase not credited yet: its
// payment's success is still to come (events arrive in any order), so
// Stripe retries; unless the purchase can never be paid any more.
func unpaid(ctx context.Context, log *slog.Logger, p dsu.Purchase) error {
	if p.Status == dsu.StatusCanceled {
		log.ErrorContext(ctx, "money moved on a canceled purchase: an operator must reconcile it", "purchase", p.ID, "partner", p.PartnerID)
		return nil
	}
	return errRetryLater
}

// applyRefund debits one refund once (its reference guards it), deciding
// on the purchase as stored.
func (w *Webhooks) applyRefund(ctx context.Context, log *slog.Logger, p dsu.Purchase, r Refund) error {
	_, err := onFreshPurchase(ctx, w.Store, p, func(p dsu.Purchase) (struct{}, error) {
		if !p.Status.Paid() {
			return struct{}{}, unpaid(ctx, log, p)
		}
		if p.Status == dsu.StatusRefunded {
			return struct{}{}, nil // refunded in full before: nothing left
		}
		next, debit := dsu.ApplyRefund(p, r.Amount)
		// The entry is written even for 0 DSUs (a lost dispute took them
		// already): its reference is what makes the refund count once.
		res, err := w.Store.UpdatePurchase(ctx, dsu.PurchaseUpdate{
			Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusSucceeded, dsu.StatusPartiallyRefunded, dsu.StatusDisputed},
			Ledger: &dsu.LedgerChange{PartnerID: p.PartnerID, Type: dsu.EntryRefund, Units: -debit, Reference: dsu.RefundRef(r.ID),
				Description: dsu.RefundDescription(r.ID, p.ID)},
		})
		if err == nil && res.Applied {
			log.InfoContext(ctx, "refund debited", "purchase", p.ID, "refund", r.ID, "units", debit)
		}
		return struct{}{}, err
	})
	return err
}

// dispute marks the purchase disputed and pauses the plan; a lost dispute
// debits what the partner still holds of the purchase's units. A purchase
// refunded in full stays refunded (the state machine's end), but the plan
// pauses all the same.
func (w *Webhooks) dispute(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	d := *ev.Dispute
	if d.PaymentIntentID == "" {
		log.ErrorContext(ctx, "dispute without a payment intent: map it by hand", "dispute", d.ID, "charge", d.ChargeID)
		return nil
	}
	p, err := w.Store.PurchaseByPaymentIntent(ctx, d.PaymentIntentID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		log.ErrorContext(ctx, "dispute of no known purchase", "dispute", d.ID, "paymentIntent", d.PaymentIntentID)
		return nil
	}
	if err != nil {
		return err
	}
	lost := ev.Type == EvDisputeClosed && d.Status == "lost"
	_, err = onFreshPurchase(ctx, w.Store, p, func(p dsu.Purchase) (struct{}, error) {
		if !p.Status.Paid() {
			return struct{}{}, unpaid(ctx, log, p)
		}
		if p.Status == dsu.StatusDisputed && !lost {
			return struct{}{}, nil
		}
		next := p
		from := []dsu.PurchaseStatus{dsu.StatusSucceeded, dsu.StatusPartiallyRefunded, dsu.StatusDisputed}
		if p.Status == dsu.StatusRefunded {
			from = []dsu.PurchaseStatus{dsu.StatusRefunded}
		} else {
			next.Status = dsu.StatusDisputed
		}
		u := dsu.PurchaseUpdate{Purchase: next, From: from, EventID: ev.ID, Account: (*dsu.Account).PauseForDispute}
		if lost {
			debit := p.CreditedUnits()
			next.DisputeDebitedUnits += debit
			u.Purchase = next
			u.Ledger = &dsu.LedgerChange{PartnerID: p.PartnerID, Type: dsu.EntryDispute, Units: -debit, Reference: dsu.DisputeRef(d.ID),
				Description: dsu.DisputeDescription(d.ID, p.ID)}
		}
		res, err := w.Store.UpdatePurchase(ctx, u)
		if errors.Is(err, dsu.ErrEventProcessed) {
			return struct{}{}, nil
		}
		if err != nil {
			return struct{}{}, err
		}
		log.WarnContext(ctx, "purchase disputed; automated plan paused", "purchase", p.ID, "dispute", d.ID, "status", d.Status, "debited", lost && res.Applied)
		w.Refills.paused(ctx, p.PartnerID, res.Plan)
		return struct{}{}, nil
	})
	return err
}
