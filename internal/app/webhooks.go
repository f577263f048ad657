package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/metrics"
)

// WebhookEvent is a verified Stripe event with its object parsed.
type WebhookEvent struct {
	ID   string
	Type string

	// Livemode is false for events of Stripe's test mode.
	Livemode bool

	PaymentIntent *PaymentIntent
	Charge        *Charge
	Refund        *Refund
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
	EvChargeSucceeded       = "charge.succeeded"
	EvChargeRefunded        = "charge.refunded"
	EvRefundUpdated         = "charge.refund.updated"
	EvDisputeCreated        = "charge.dispute.created"
	EvDisputeClosed         = "charge.dispute.closed"
	EvSetupSucceeded        = "setup_intent.succeeded"
	EvSetupFailed           = "setup_intent.setup_failed"
	EvPaymentMethodDetached = "payment_method.detached"
	EvPaymentMethodUpdated  = "payment_method.automatically_updated"
)

// HandledEvents lists the event types the webhook endpoint must receive.
var HandledEvents = []string{
	EvPaymentSucceeded, EvPaymentFailed, EvPaymentRequiresAction, EvPaymentCanceled, EvChargeSucceeded, EvChargeRefunded,
	EvRefundUpdated, EvDisputeCreated, EvDisputeClosed, EvSetupSucceeded, EvSetupFailed, EvPaymentMethodDetached, EvPaymentMethodUpdated,
}

type webhookStore interface {
	GetPurchase(ctx context.Context, partnerID, purchaseID string) (dsu.Purchase, error)
	PurchaseByPaymentIntent(ctx context.Context, paymentIntentID string) (dsu.Purchase, error)
	UpdatePurchase(ctx context.Context, u dsu.PurchaseUpdate) (dsu.UpdateResult, error)
	EventProcessed(ctx context.Context, eventID string) (bool, error)
	MarkEventProcessed(ctx context.Context, eventID string) error
	GetDuplicate(ctx context.Context, paymentIntentID string) (dsu.DuplicatePayment, bool, error)
	ClaimDuplicate(ctx context.Context, d dsu.DuplicatePayment, prev *dsu.DuplicatePayment) error
	FinishDuplicate(ctx context.Context, d dsu.DuplicatePayment, eventID string) error
}

// refunds is what the webhook asks of Stripe's refunds.
type refunds interface {
	ListRefunds(ctx context.Context, chargeID string) ([]Refund, error)
	// CreateRefund refunds a PaymentIntent in full (a double charge).
	CreateRefund(ctx context.Context, in RefundRequest) (Refund, error)
}

// cardEvents are billing's handlers of card events.
type cardEvents interface {
	SaveCardFromSetupIntent(ctx context.Context, si SetupIntent) error
	CardDetached(ctx context.Context, pm PaymentMethod, previousCustomerID string) error
	CardUpdated(ctx context.Context, pm PaymentMethod) error
}

// Webhooks completes purchases, refunds, disputes and cards from verified
// Stripe events (RULES.md, "Crediting a purchase", "Refunds", "Disputes and
// the dispute hold", "Double payments", "Cards"). Handle returns nil when
// the event is processed or needs nothing (Stripe gets 200) and an error
// only for a transient failure (Stripe gets 5xx and retries). A permanent
// problem, such as a payment that does not match its purchase, is logged
// for operators and acknowledged: retrying it would never succeed.
type Webhooks struct {
	Store   webhookStore
	Settle  *Settler
	Refunds refunds
	Cards   cardEvents
	Refills *RefillOutcomes
	Events  Publisher
	// Livemode is the mode of this deployment's Stripe key: events of the
	// other mode are acknowledged and ignored (RULES.md, "Webhook
	// verification").
	Livemode bool
	Clock    dsu.Clock
	Log      *slog.Logger
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// errRetryLater is a transient condition: the event arrived before what it
// depends on (a refund before the payment it refunds).
var errRetryLater = dsu.Errorf(dsu.KindUpstreamUnavailable, "the event arrived before the payment it refers to; Stripe will retry")

// errSecondPaymentWhileOpen: a second PaymentIntent of a purchase
// succeeded before the purchase's own settled; Stripe's retry decides it
// (refunded either way, since one of the two pays or neither does).
var errSecondPaymentWhileOpen = dsu.Errorf(dsu.KindUpstreamUnavailable, "a second payment for a purchase whose own payment is still open; Stripe will retry")

// errDuplicateInProgress: another delivery is refunding the same double
// charge right now; Stripe's retry finds it done.
var errDuplicateInProgress = dsu.Errorf(dsu.KindUpstreamUnavailable, "the refund of this double charge is in progress; Stripe will retry")

// Outcomes of a verified event, the Outcome of metrics.WebhookEvents.
const (
	WebhookProcessed = "processed" // handled (or found handled before)
	WebhookIgnored   = "ignored"   // a type this system does not handle
	WebhookOtherMode = "other_mode"
	WebhookFailed    = "failed" // a permanent problem, acknowledged for an operator
	WebhookRetried   = "retried"
)

// Handle processes one event.
func (w *Webhooks) Handle(ctx context.Context, ev WebhookEvent) error {
	outcome, err := w.handle(ctx, ev)
	typ := "other" // types it does not handle: not one metric per Stripe type
	if outcome != WebhookIgnored {
		typ = ev.Type
	}
	recorderOr(w.Metrics).Add(metrics.WebhookEvents, 1, metrics.Type(typ), metrics.Outcome(outcome))
	return err
}

func (w *Webhooks) handle(ctx context.Context, ev WebhookEvent) (string, error) {
	ctx = WithActor(ctx, dsu.ActorStripe) // what an event changes, Stripe changed
	log := w.Log.With("event", ev.ID, "type", ev.Type)
	if ev.Livemode != w.Livemode {
		// A test event at a live endpoint (or the reverse) never touches
		// money: it names objects of the other mode.
		log.WarnContext(ctx, "event of the other Stripe mode than the key's: acknowledged and ignored", "livemode", ev.Livemode, "keyLivemode", w.Livemode)
		return WebhookOtherMode, nil
	}
	var err error
	switch ev.Type {
	case EvPaymentSucceeded, EvPaymentFailed, EvPaymentRequiresAction, EvPaymentCanceled:
		err = w.paymentIntent(ctx, log, ev)
	case EvChargeSucceeded:
		err = w.chargeSucceeded(ctx, log, ev)
	case EvChargeRefunded:
		err = w.chargeRefunded(ctx, log, ev)
	case EvRefundUpdated:
		err = w.refundUpdated(ctx, log, ev)
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
		return WebhookIgnored, nil
	}
	switch {
	case err == nil:
		return WebhookProcessed, nil
	case !Transient(err):
		log.ErrorContext(ctx, "event could not be processed and is acknowledged; an operator must look", "error", err.Error())
		return WebhookFailed, nil
	default:
		return WebhookRetried, err
	}
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
// authentication or a cancellation only ever moves the purchase forward. A
// success for a purchase another PaymentIntent paid is a double charge.
func (w *Webhooks) paymentIntent(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	pi := *ev.PaymentIntent
	p, err := w.purchaseOf(ctx, pi)
	if dsu.IsKind(err, dsu.KindNotFound) {
		log.ErrorContext(ctx, "payment event for no known purchase: nothing recorded", "paymentIntent", pi.ID,
			"partner", pi.Metadata["partner_id"], "purchase", pi.Metadata["purchase_id"], "customer", pi.CustomerID)
		if pi.Status == PISucceeded {
			// Money taken that credits nobody: as alarming as a mismatch.
			recorderOr(w.Metrics).Add(metrics.CreditMismatches, 1, metrics.Reason(mismatchUnknownPurchase))
		}
		return nil
	}
	if err != nil {
		return err
	}
	if p.Status.Paid() {
		if pi.Status == PISucceeded && p.PaymentIntentID != "" && p.PaymentIntentID != pi.ID {
			return w.duplicate(ctx, log, ev.ID, p, pi)
		}
		return nil // credited before; a late event changes nothing
	}
	if pi.Status == PISucceeded && p.PaymentIntentID != "" && p.PaymentIntentID != pi.ID && pi.Metadata["purchase_id"] == p.ID {
		// A second PaymentIntent of this purchase succeeded while its own
		// has not paid it. Never credited (one purchase, one payment): once
		// the purchase has ended unpaid it is given back at once; while its
		// own may still pay, Stripe's retry comes back when it has settled.
		if p.Status == dsu.StatusFailed || p.Status == dsu.StatusCanceled {
			return w.duplicate(ctx, log, ev.ID, p, pi)
		}
		log.WarnContext(ctx, "a second payment for a purchase whose own payment is still open: decided when that one settles",
			"purchase", p.ID, "paymentIntent", pi.ID, "purchasePaymentIntent", p.PaymentIntentID)
		return errSecondPaymentWhileOpen
	}
	if _, err := w.Settle.Settle(ctx, p, pi, ev.ID); err != nil && !errors.Is(err, errMismatch) {
		return err
	}
	return nil
}

// EventDuplicateRefunded is published once per double charge refunded.
const EventDuplicateRefunded EventType = "payment.duplicate_refunded"

// DuplicateRefundKey is the Stripe idempotency key of the refund of a
// double charge: one refund per PaymentIntent, whoever asks.
func DuplicateRefundKey(paymentIntentID string) string { return "duplicate:" + paymentIntentID }

// duplicate refunds a double charge in full: pi succeeded for purchase p,
// which another PaymentIntent paid (or which ended unpaid under its own).
// It credits nothing. Its record in
// storage lets one delivery at a time refund it (a concurrent one gets a
// 5xx and Stripe's retry finds it done), and only the delivery that records
// the outcome logs it and publishes the domain event, so both happen once.
func (w *Webhooks) duplicate(ctx context.Context, log *slog.Logger, eventID string, p dsu.Purchase, pi PaymentIntent) error {
	now := w.Clock.Now()
	d, found, err := w.Store.GetDuplicate(ctx, pi.ID)
	if err != nil {
		return err
	}
	var prev *dsu.DuplicatePayment
	switch {
	case !found:
		d = dsu.DuplicatePayment{PaymentIntentID: pi.ID, PartnerID: p.PartnerID, PurchaseID: p.ID, PaidBy: p.PaymentIntentID,
			Amount: pi.Amount, State: dsu.DuplicateRefunding, DetectedAt: now}
	case d.Stale(now):
		stale := d // the attempt before died: take it over
		prev = &stale
	case d.State == dsu.DuplicateRefunding:
		return errDuplicateInProgress
	default:
		return nil // refunded (or given up for operators) before
	}
	d.ClaimedAt = now
	if err := w.Store.ClaimDuplicate(ctx, d, prev); errors.Is(err, dsu.ErrDuplicateClaimed) {
		return errDuplicateInProgress
	} else if err != nil {
		return err
	}
	r, err := w.Refunds.CreateRefund(ctx, RefundRequest{PaymentIntentID: pi.ID, PartnerID: p.PartnerID, PurchaseID: p.ID,
		IdempotencyKey: DuplicateRefundKey(pi.ID)})
	switch {
	case err != nil && Transient(err):
		return err // the claim goes stale; Stripe's retry takes it over with the same idempotency key
	case err != nil:
		d.State = dsu.DuplicateRefundFailed
	default:
		d.State, d.RefundID = dsu.DuplicateRefunded, r.ID
	}
	if ferr := w.Store.FinishDuplicate(ctx, d, eventID); errors.Is(ferr, dsu.ErrDuplicateClaimed) {
		return nil // a later attempt took over and reports the outcome
	} else if ferr != nil {
		return ferr
	}
	attrs := []any{"partner", p.PartnerID, "purchase", p.ID, "paymentIntent", pi.ID, "paidBy", p.PaymentIntentID,
		"amount", pi.Amount.Amount, "currency", string(pi.Amount.Currency)}
	if d.State == dsu.DuplicateRefundFailed {
		log.ErrorContext(ctx, "double charge: a second payment for one purchase, which Stripe refused to refund; an operator must refund it",
			append(attrs, "error", err.Error())...)
		// Money kept that credits nothing: the mismatch alarm pages.
		recorderOr(w.Metrics).Add(metrics.CreditMismatches, 1, metrics.Reason(mismatchDuplicateNotRefunded))
		return nil
	}
	log.ErrorContext(ctx, "double charge: a second payment for one purchase, credited nothing and refunded in full",
		append(attrs, "refund", r.ID)...)
	if w.Events != nil {
		w.Events.Publish(ctx, DomainEvent{Type: EventDuplicateRefunded, PartnerID: p.PartnerID, PurchaseID: p.ID,
			PaymentIntentID: pi.ID, Amount: &d.Amount, At: now})
	}
	return nil
}

// chargePurchase finds the purchase a charge pays: by the metadata the
// charge copied from its PaymentIntent, else by the PaymentIntent link.
func (w *Webhooks) chargePurchase(ctx context.Context, ch Charge) (dsu.Purchase, error) {
	if partnerID, purchaseID := ch.Metadata["partner_id"], ch.Metadata["purchase_id"]; partnerID != "" && purchaseID != "" {
		return w.Store.GetPurchase(ctx, partnerID, purchaseID)
	}
	return w.Store.PurchaseByPaymentIntent(ctx, ch.PaymentIntentID)
}

// chargeSucceeded stores the charge's receipt URL on its purchase. It never
// credits and never moves the status: payment_intent.succeeded does, and
// may arrive before or after it.
func (w *Webhooks) chargeSucceeded(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	ch := *ev.Charge
	if ch.ReceiptURL == "" || ch.PaymentIntentID == "" {
		log.DebugContext(ctx, "charge without a receipt or a payment intent: nothing to store", "charge", ch.ID)
		return nil
	}
	p, err := w.chargePurchase(ctx, ch)
	if dsu.IsKind(err, dsu.KindNotFound) {
		log.WarnContext(ctx, "charge of no known purchase: receipt not stored", "charge", ch.ID, "paymentIntent", ch.PaymentIntentID)
		return nil
	}
	if err != nil {
		return err
	}
	_, err = onFreshPurchase(ctx, w.Store, p, func(p dsu.Purchase) (struct{}, error) {
		switch {
		case p.ReceiptURL == ch.ReceiptURL:
			return struct{}{}, nil
		case p.PaymentIntentID == "":
			return struct{}{}, errRetryLater // its PaymentIntent is about to be recorded
		case p.PaymentIntentID != ch.PaymentIntentID:
			log.InfoContext(ctx, "charge of another PaymentIntent than the purchase's: receipt not stored", "purchase", p.ID, "charge", ch.ID, "paymentIntent", ch.PaymentIntentID)
			return struct{}{}, nil
		}
		next := p
		next.ReceiptURL = ch.ReceiptURL
		_, err := w.Store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{p.Status}})
		return struct{}{}, err
	})
	return err
}

// chargeRefunded applies the charge's refunds as Stripe lists them now:
// pending or succeeded ones are debited, failed or canceled ones given back
// (or voided), each once per refund id. Charges carry only the
// PaymentIntent id.
func (w *Webhooks) chargeRefunded(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	ch := *ev.Charge
	if done, err := w.Store.EventProcessed(ctx, ev.ID); err != nil || done {
		return err
	}
	p, err := w.Store.PurchaseByPaymentIntent(ctx, ch.PaymentIntentID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return w.unknownRefund(ctx, log, ch.PaymentIntentID, ch.ID)
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
		var err error
		switch r.Status {
		case RefundPending, RefundSucceeded:
			err = w.applyRefund(ctx, log, p, r)
		case RefundFailed, RefundCanceled:
			err = w.reverseRefund(ctx, log, p, r)
		}
		if err != nil {
			return err
		}
	}
	return w.Store.MarkEventProcessed(ctx, ev.ID)
}

// refundUpdated follows one refund's life (charge.refund.updated): pending
// or succeeded debits it, failed or canceled gives back what it debited.
func (w *Webhooks) refundUpdated(ctx context.Context, log *slog.Logger, ev WebhookEvent) error {
	r := *ev.Refund
	if r.PaymentIntentID == "" {
		log.ErrorContext(ctx, "refund without a payment intent: map it by hand", "refund", r.ID, "charge", r.ChargeID)
		return nil
	}
	p, err := w.Store.PurchaseByPaymentIntent(ctx, r.PaymentIntentID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		return w.unknownRefund(ctx, log, r.PaymentIntentID, r.ChargeID)
	}
	if err != nil {
		return err
	}
	if r.Currency != p.Amount.Currency {
		log.ErrorContext(ctx, "refund in another currency than its purchase: nothing recorded", "purchase", p.ID, "refund", r.ID,
			"currency", string(r.Currency), "purchaseCurrency", string(p.Amount.Currency))
		return nil
	}
	switch r.Status {
	case RefundPending, RefundSucceeded:
		if !p.Status.Paid() {
			return unpaid(ctx, log, p)
		}
		return w.applyRefund(ctx, log, p, r)
	case RefundFailed, RefundCanceled:
		return w.reverseRefund(ctx, log, p, r)
	}
	return nil // requires_action: nothing has moved yet
}

// unknownRefund answers a refund of a PaymentIntent that pays no purchase:
// the refund of a double charge (nothing to debit), or an operator's case.
func (w *Webhooks) unknownRefund(ctx context.Context, log *slog.Logger, paymentIntentID, chargeID string) error {
	if _, found, err := w.Store.GetDuplicate(ctx, paymentIntentID); err != nil {
		return err
	} else if found {
		log.InfoContext(ctx, "refund of a double charge: nothing to debit", "paymentIntent", paymentIntentID, "charge", chargeID)
		return nil
	}
	log.ErrorContext(ctx, "refund of a charge of no known purchase: nothing debited", "charge", chargeID, "paymentIntent", paymentIntentID)
	return nil
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

// applyRefund debits one refund once (the purchase's refund record and the
// entry's reference guard it), deciding on the purchase as stored. A refund
// of an automatic purchase pauses the plan in the same transaction, so the
// debit never starts the next automatic charge.
func (w *Webhooks) applyRefund(ctx context.Context, log *slog.Logger, p dsu.Purchase, r Refund) error {
	_, err := onFreshPurchase(ctx, w.Store, p, func(p dsu.Purchase) (struct{}, error) {
		if !p.Status.Paid() {
			return struct{}{}, unpaid(ctx, log, p)
		}
		next, debit, ok := dsu.ApplyRefund(p, r.ID, r.Amount)
		if !ok {
			return struct{}{}, nil // applied, reversed or voided before; or nothing left
		}
		// The entry is written even for 0 DSUs (a lost dispute took them
		// already): its reference is what makes the refund count once.
		u := dsu.PurchaseUpdate{
			Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusSucceeded, dsu.StatusPartiallyRefunded, dsu.StatusDisputed},
			Ledger: &dsu.LedgerChange{PartnerID: p.PartnerID, Type: dsu.EntryRefund, Units: -debit, Reference: dsu.RefundRef(r.ID),
				Description: dsu.RefundDescription(r.ID, p.ID)},
		}
		if p.Kind == dsu.KindAutoRefill {
			u.Account = (*dsu.Account).PauseForRefund
		}
		res, err := w.Store.UpdatePurchase(ctx, u)
		if err == nil && res.Applied {
			countEntry(w.Metrics, u.Ledger, true)
			log.InfoContext(ctx, "refund debited", "purchase", p.ID, "refund", r.ID, "units", debit)
			w.Refills.paused(ctx, p.PartnerID, res.Plan)
		}
		return struct{}{}, err
	})
	return err
}

// reverseRefund gives back what a failed or canceled refund debited, once
// (the purchase's refund record and the reversal's reference guard it),
// less what a lost dispute claims once the refund is out of force
// (dsu.ReverseRefund: those stay debited), and moves the purchase back to
// what the refunds still in force make it. A refund that failed before it was ever debited credits
// nothing: it is recorded so that a late report of it pending debits
// nothing either. The plan a refunded refill paused stays paused.
func (w *Webhooks) reverseRefund(ctx context.Context, log *slog.Logger, p dsu.Purchase, r Refund) error {
	_, err := onFreshPurchase(ctx, w.Store, p, func(p dsu.Purchase) (struct{}, error) {
		rev, ok := dsu.ReverseRefund(p, r.ID, r.Amount)
		if !ok {
			return struct{}{}, nil // recorded before
		}
		u := dsu.PurchaseUpdate{Purchase: rev.Purchase, From: []dsu.PurchaseStatus{p.Status}}
		if rev.Debited {
			u.Ledger = &dsu.LedgerChange{PartnerID: p.PartnerID, Type: dsu.EntryRefundReversal, Units: rev.Units,
				Reference: dsu.RefundReversalRef(r.ID), Description: dsu.RefundReversalKeptDescription(r.ID, p.ID, rev.Units, rev.Kept)}
		}
		res, err := w.Store.UpdatePurchase(ctx, u)
		switch {
		case err != nil:
		case rev.Debited && res.Applied:
			countEntry(w.Metrics, u.Ledger, true)
			log.WarnContext(ctx, "refund did not go through at Stripe; its DSUs are back", "purchase", p.ID, "refund", r.ID,
				"status", r.Status, "reason", r.FailureReason, "units", rev.Units, "keptForDispute", rev.Kept,
				"purchaseStatus", string(rev.Purchase.Status))
		case !rev.Debited:
			log.InfoContext(ctx, "refund did not go through before it was debited: nothing to give back", "purchase", p.ID, "refund", r.ID, "status", r.Status)
		}
		return struct{}{}, err
	})
	return err
}

// dispute marks the purchase disputed and pauses the plan; a lost dispute
// debits the disputed share of the purchase's units, never more than the
// partner still holds of it, and records its whole share, which a refund
// failing later does not give back (dsu.LoseDispute). A dispute in another
// currency than the purchase debits nothing and is an operator's case. A purchase refunded in
// full stays refunded (the state machine's end), but the plan pauses all
// the same.
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
	// A dispute in another currency cannot be weighed against the
	// purchase's amount: it debits nothing, and an operator looks.
	foreign := d.Currency != p.Amount.Currency
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
		var debit dsu.Units
		if lost && !foreign {
			next, debit = dsu.LoseDispute(next, d.Amount)
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
		countEntry(w.Metrics, u.Ledger, res.Applied)
		log.WarnContext(ctx, "purchase disputed; automated plan paused", "purchase", p.ID, "dispute", d.ID, "status", d.Status,
			"debited", u.Ledger != nil && res.Applied, "units", debit)
		if foreign {
			log.ErrorContext(ctx, "dispute in another currency than its purchase: nothing debited; an operator must look",
				"purchase", p.ID, "dispute", d.ID, "status", d.Status, "amount", d.Amount, "currency", string(d.Currency),
				"purchaseCurrency", string(p.Amount.Currency))
		}
		w.Refills.paused(ctx, p.PartnerID, res.Plan)
		return struct{}{}, nil
	})
	return err
}
