package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// purchaseStore is the storage purchases need.
type purchaseStore interface {
	idempotencyStore
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
	CreatePurchase(ctx context.Context, p dsu.Purchase, claim *dsu.IdempotencyClaim, audits ...dsu.AuditEvent) error
	RecordAudit(ctx context.Context, ev dsu.AuditEvent) error
	GetPurchase(ctx context.Context, partnerID, purchaseID string) (dsu.Purchase, error)
	ListPurchases(ctx context.Context, partnerID string, page dsu.Page) ([]dsu.Purchase, string, error)
	UpdatePurchase(ctx context.Context, u dsu.PurchaseUpdate) (dsu.UpdateResult, error)
	CompleteIdempotency(ctx context.Context, claim dsu.IdempotencyClaim, result []byte) error
	MarkIdempotencyRetryable(ctx context.Context, claim dsu.IdempotencyClaim) error
}

// paymentIntents is what purchases ask of the payment provider.
type paymentIntents interface {
	CreatePaymentIntent(ctx context.Context, in PaymentIntentRequest) (PaymentIntent, error)
	GetPaymentIntent(ctx context.Context, id string) (PaymentIntent, error)
	// FindPaymentIntent finds a purchase's PaymentIntent among the
	// customer's, for when the idempotency key may be forgotten.
	FindPaymentIntent(ctx context.Context, customerID, purchaseID string, since time.Time) (PaymentIntent, bool, error)
	chargeReader
}

// chargeReader reads a charge: reconciliation takes its receipt.
type chargeReader interface {
	GetCharge(ctx context.Context, id string) (Charge, error)
}

// withReceipt adds the receipt URL of pi's latest charge when pi succeeded
// and the purchase has none yet: reconciliation reads the charge itself,
// since a lost charge.succeeded webhook would otherwise leave the purchase
// without its receipt. Without an answer from Stripe the payment is
// recorded all the same, without a receipt.
func withReceipt(ctx context.Context, charges chargeReader, log *slog.Logger, p dsu.Purchase, pi PaymentIntent) PaymentIntent {
	if pi.Status != PISucceeded || pi.LatestChargeID == "" || pi.ReceiptURL != "" || p.ReceiptURL != "" {
		return pi
	}
	ch, err := charges.GetCharge(ctx, pi.LatestChargeID)
	if err != nil {
		log.WarnContext(ctx, "receipt not read; the payment is recorded without it", "purchase", p.ID, "charge", pi.LatestChargeID, "error", err.Error())
		return pi
	}
	pi.ReceiptURL = ch.ReceiptURL
	return pi
}

// keyWindow is how long after a purchase's creation Stripe's idempotency
// key purchase:<id> (kept 24 h) is trusted to find its first PaymentIntent.
// Past it, a retried creation could charge a second time: the PaymentIntent
// is looked up instead, and without one the purchase fails as not charged.
const keyWindow = 23 * time.Hour

// notChargedFailure marks a purchase given up without a charge. It can
// still succeed if Stripe reports a payment after all (failed → succeeded).
var notChargedFailure = dsu.Failure{Code: "not_charged", Message: "The payment could not be completed and nothing was charged."}

// Purchases is the manual purchase (RULES.md, "Manual purchase"): packages priced by the server,
// paid once by card, credited exactly once.
type Purchases struct {
	Store    purchaseStore
	Payments paymentIntents
	Catalog  catalogSource
	Clock    dsu.Clock
	IDs      dsu.IDGenerator
	Log      *slog.Logger
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// Payment methods of a manual purchase.
const (
	PayWithNewCard   = "new"
	PayWithSavedCard = "saved"
)

// CreatePurchaseInput is a POST /v1/purchases request.
type CreatePurchaseInput struct {
	IdempotencyKey string
	Fingerprint    string // of the request body
	Lines          []dsu.PurchaseLine
	PaymentMethod  string
}

// PurchaseResult is a purchase with the client secret the portal needs to
// confirm its payment (new card, or 3-D Secure), when it needs one.
type PurchaseResult struct {
	Purchase     dsu.Purchase
	ClientSecret string
}

// Create creates and pays a manual purchase under its Idempotency-Key. The
// purchase is stored (with the key's claim) before Stripe is called, so no
// PaymentIntent exists without its purchase; Stripe's own idempotency key
// purchase:<id> makes a resumed request find the same PaymentIntent.
func (s *Purchases) Create(ctx context.Context, p dsu.Partner, in CreatePurchaseInput) (PurchaseResult, error) {
	if err := dsu.ValidateIdempotencyKey(in.IdempotencyKey); err != nil {
		return PurchaseResult{}, err
	}
	if in.PaymentMethod != PayWithNewCard && in.PaymentMethod != PayWithSavedCard {
		return PurchaseResult{}, dsu.InvalidField("paymentMethod", `must be "new" or "saved"`)
	}
	cat, err := s.Catalog.Catalog(ctx)
	if err != nil {
		return PurchaseResult{}, err
	}
	items, units, amount, err := dsu.PriceLines(cat, p.Currency, in.Lines)
	if err == nil && in.PaymentMethod == PayWithSavedCard {
		switch {
		case p.Card == nil:
			err = dsu.Errorf(dsu.KindPaymentMethodRequired, "there is no saved card; pay with a new card or save one first")
		case p.Card.Expired(s.Clock.Now()):
			// Stripe would only decline it (expired_card).
			err = dsu.Errorf(dsu.KindPaymentMethodRequired, "the saved card has expired; pay with a new card or save one first")
		}
	}
	claim := dsu.IdempotencyClaim{PartnerID: p.ID, Key: in.IdempotencyKey, Fingerprint: in.Fingerprint}
	if err != nil {
		// The same key and body get the first answer even if the catalog
		// or the card changed since; only a new request is refused.
		return s.replayOr(ctx, claim, err)
	}
	return RunIdempotent(ctx, s.Store, s.Clock, claim, IdempotentOp[PurchaseResult]{
		Start: func(ctx context.Context, claim dsu.IdempotencyClaim) (PurchaseResult, error) {
			purchase := dsu.Purchase{
				ID: s.IDs.NewID("pur_"), PartnerID: p.ID, Kind: dsu.KindManual, Status: dsu.StatusPending,
				Items: items, Units: units, Amount: amount, CreatedAt: claim.StartedAt,
			}
			claim.ResourceID = purchase.ID
			created := auditEvent(ctx, p.ID, dsu.AuditPurchaseCreated, map[string]any{"purchaseId": purchase.ID})
			if err := s.Store.CreatePurchase(ctx, purchase, &claim, created); err != nil {
				return PurchaseResult{}, err
			}
			return s.pay(ctx, p, purchase, in.PaymentMethod, claim, false)
		},
		Resume: func(ctx context.Context, rec dsu.IdempotencyRecord) (PurchaseResult, error) {
			purchase, err := s.Store.GetPurchase(ctx, p.ID, rec.ResourceID)
			if err != nil {
				return PurchaseResult{}, err
			}
			if purchase.Status == dsu.StatusPending && purchase.PaymentIntentID == "" {
				if s.Clock.Now().Sub(purchase.CreatedAt) < keyWindow {
					return s.pay(ctx, p, purchase, in.PaymentMethod, rec.IdempotencyClaim, true)
				}
				return s.giveUp(ctx, p, purchase, in.PaymentMethod, rec.IdempotencyClaim)
			}
			// A webhook finished it meanwhile: answer with what is stored.
			res, err := s.withClientSecret(ctx, purchase, in.PaymentMethod)
			if err != nil {
				return PurchaseResult{}, err
			}
			return res, s.Store.CompleteIdempotency(ctx, rec.IdempotencyClaim, encodeResult(res))
		},
		Replay: func(ctx context.Context, rec dsu.IdempotencyRecord) (PurchaseResult, error) {
			return s.replay(ctx, rec.Result)
		},
	})
}

// replayOr answers with the stored result when the key was completed with
// this very request before, and with err otherwise. It costs a read only
// on the refusal path.
func (s *Purchases) replayOr(ctx context.Context, claim dsu.IdempotencyClaim, err error) (PurchaseResult, error) {
	rec, gerr := s.Store.GetIdempotency(ctx, claim.PartnerID, claim.Key)
	if gerr != nil {
		return PurchaseResult{}, err
	}
	if decision, derr := dsu.DecideIdempotency(rec, claim.Fingerprint, s.Clock.Now()); derr == nil && decision == dsu.IdemReplay {
		return s.replay(ctx, rec.Result)
	}
	return PurchaseResult{}, err
}

// pay creates the purchase's PaymentIntent and records the outcome. A
// resumed request also reads the receipt of a payment that succeeded (the
// first request leaves it to the charge.succeeded webhook: one Stripe call).
func (s *Purchases) pay(ctx context.Context, p dsu.Partner, purchase dsu.Purchase, method string, claim dsu.IdempotencyClaim, resumed bool) (PurchaseResult, error) {
	req := PaymentIntentRequest{
		PurchaseID: purchase.ID, PartnerID: p.ID, Kind: purchase.Kind, Amount: purchase.Amount,
		CustomerID: p.StripeCustomerID,
	}
	if p.Contact != nil {
		req.ReceiptEmail = p.Contact.Email
	}
	if method == PayWithSavedCard {
		req.PaymentMethodID, req.Confirm = p.Card.PaymentMethodID, true
	}
	pi, err := s.Payments.CreatePaymentIntent(ctx, req)
	if pi.ID == "" && errors.Is(err, ErrIdempotencyKeyReused) {
		// A resumed request whose first attempt ran at Stripe with other
		// parameters (the card or the receipt address changed since): it
		// may have charged, so its PaymentIntent is looked up.
		s.Log.WarnContext(ctx, "purchase resumed with other parameters than its first attempt; looking up its PaymentIntent", "purchase", purchase.ID)
		res, err := s.giveUp(ctx, p, purchase, method, claim)
		if err != nil && Transient(err) {
			s.resumable(ctx, claim, purchase.ID)
		}
		return res, err
	}
	if err != nil && pi.ID == "" {
		// No PaymentIntent to record (Stripe unreachable, or refused the
		// request). The purchase stays pending and the key resumable: a
		// retry with the same key calls Stripe with the same idempotency
		// key, so it finds the PaymentIntent if this call did create one.
		s.resumable(ctx, claim, purchase.ID)
		return PurchaseResult{}, err
	}
	if resumed {
		pi = withReceipt(ctx, s.Payments, s.Log, purchase, pi)
	}
	// A decline comes with its PaymentIntent: record it as the outcome.
	res, err := s.record(ctx, purchase, pi, method, &claim)
	if err != nil && Transient(err) {
		// Stripe has the outcome but storage did not take it: the retry
		// (or the webhook) records it.
		s.resumable(ctx, claim, purchase.ID)
	}
	return res, err
}

// resumable marks the claim retryable so the client's next attempt
// resumes at once; if even that fails, the claim resumes once stale.
func (s *Purchases) resumable(ctx context.Context, claim dsu.IdempotencyClaim, purchaseID string) {
	if err := s.Store.MarkIdempotencyRetryable(ctx, claim); err != nil {
		s.Log.WarnContext(ctx, "could not mark the purchase's key retryable; it resumes once stale", "purchase", purchaseID, "error", err.Error())
	}
}

// giveUp finishes a purchase whose PaymentIntent cannot be created again:
// its creation outlived Stripe's idempotency window, or Stripe refused the
// retry because the key was first used with other parameters. The
// PaymentIntent it may have created is looked up instead; without one, the
// purchase fails not charged.
func (s *Purchases) giveUp(ctx context.Context, p dsu.Partner, purchase dsu.Purchase, method string, claim dsu.IdempotencyClaim) (PurchaseResult, error) {
	if p.StripeCustomerID != "" {
		pi, found, err := s.Payments.FindPaymentIntent(ctx, p.StripeCustomerID, purchase.ID, purchase.CreatedAt)
		if err != nil {
			return PurchaseResult{}, err
		}
		if found {
			return s.record(ctx, purchase, withReceipt(ctx, s.Payments, s.Log, purchase, pi), method, &claim)
		}
	}
	// Without a customer the PaymentIntent was for a new card whose client
	// secret never reached the portal: it cannot have been paid.
	now := s.Clock.Now()
	failed := purchase
	failed.Status, failed.CompletedAt = dsu.StatusFailed, &now
	f := notChargedFailure
	failed.Failure = &f
	res := PurchaseResult{Purchase: failed}
	_, err := s.Store.UpdatePurchase(ctx, dsu.PurchaseUpdate{
		Purchase: failed, From: []dsu.PurchaseStatus{dsu.StatusPending},
		Complete: &dsu.IdempotencyCompletion{Claim: claim, Result: encodeResult(res)},
	})
	if err != nil {
		return PurchaseResult{}, err
	}
	res.Purchase.Version++
	countPurchase(s.Metrics, purchase, failed)
	s.Log.WarnContext(ctx, "purchase given up: not charged", "purchase", purchase.ID)
	return res, nil
}

// record moves a pending purchase to what its PaymentIntent says, crediting
// it when it succeeded, and completes the claim in the same transaction.
func (s *Purchases) record(ctx context.Context, purchase dsu.Purchase, pi PaymentIntent, method string, claim *dsu.IdempotencyClaim) (PurchaseResult, error) {
	next := applyPaymentIntent(purchase, pi, s.Clock.Now())
	res := PurchaseResult{Purchase: next}
	if needsClientSecret(next, method) {
		res.ClientSecret = pi.ClientSecret
	}
	u := dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusPending}, LinkPaymentIntent: true}
	if next.Status == dsu.StatusSucceeded {
		u.Ledger = creditOf(next)
	}
	if claim != nil {
		u.Complete = &dsu.IdempotencyCompletion{Claim: *claim, Result: encodeResult(res)}
	}
	written, err := s.Store.UpdatePurchase(ctx, u)
	if errors.Is(err, dsu.ErrPurchaseMoved) || (err == nil && u.Ledger != nil && !written.Applied) {
		// A webhook recorded the payment first (and wrote nothing of this
		// transaction, the claim's completion included): answer with its
		// result.
		stored, gerr := s.Store.GetPurchase(ctx, purchase.PartnerID, purchase.ID)
		if gerr != nil {
			return PurchaseResult{}, gerr
		}
		res = PurchaseResult{Purchase: stored}
		if needsClientSecret(stored, method) {
			res.ClientSecret = pi.ClientSecret
		}
		if claim != nil {
			err = s.Store.CompleteIdempotency(ctx, *claim, encodeResult(res))
		} else {
			err = nil
		}
	} else if err == nil {
		countPurchase(s.Metrics, purchase, next)
		countEntry(s.Metrics, u.Ledger, written.Applied)
	}
	if err != nil {
		return PurchaseResult{}, err
	}
	s.Log.InfoContext(ctx, "purchase recorded", "purchase", next.ID, "status", string(res.Purchase.Status), "paymentIntent", pi.ID)
	return res, nil
}

// applyPaymentIntent is the purchase after Stripe reported pi for it.
func applyPaymentIntent(p dsu.Purchase, pi PaymentIntent, now time.Time) dsu.Purchase {
	p.PaymentIntentID = pi.ID
	if p.ReceiptURL == "" {
		p.ReceiptURL = pi.ReceiptURL
	}
	switch pi.Status {
	case PISucceeded:
		p.Status, p.Failure = dsu.StatusSucceeded, nil
		p.CompletedAt = &now
	case PIRequiresAction:
		p.Status = dsu.StatusRequiresAction
	case PICanceled:
		p.Status = dsu.StatusCanceled
		p.CompletedAt = &now
		if pi.CancellationReason == CancelAbandoned {
			// Nobody paid in time (RULES.md, "Reconciliation and the sweep").
			f := abandonedFailure
			if p.Kind == dsu.KindAutoRefill {
				f = unauthenticatedFailure
			}
			p.Failure = &f
		}
	case PIRequiresPaymentMethod:
		switch {
		case pi.LastError != nil && pi.LastError.Failure().Code == string(dsu.KindAuthenticationRequired):
			// The bank wants the partner to authenticate (an off-session
			// charge): the partner confirms it on-session (POST
			// /v1/purchases/{id}/confirm), nothing is retried blindly.
			p.Status, p.Failure = dsu.StatusRequiresAction, pi.LastError.Failure()
		case pi.LastError != nil:
			p.Status, p.Failure = dsu.StatusFailed, pi.LastError.Failure()
			p.CompletedAt = &now
		}
	}
	// requires_confirmation, processing and a fresh requires_payment_method
	// stay pending: the portal confirms, or a webhook finishes.
	if p.Kind == dsu.KindAutoRefill && p.Status == dsu.StatusRequiresAction {
		p.AskedToAuthenticate = true
	}
	return p
}

// needsClientSecret says whether the portal must still act on the payment.
func needsClientSecret(p dsu.Purchase, method string) bool {
	switch p.Status {
	case dsu.StatusRequiresAction:
		return true
	case dsu.StatusPending:
		return method == PayWithNewCard
	}
	return false
}

func creditOf(p dsu.Purchase) *dsu.LedgerChange {
	return &dsu.LedgerChange{PartnerID: p.PartnerID, Type: p.CreditEntryType(), Units: p.Units, Reference: dsu.PurchaseRef(p.ID),
		Description: dsu.PurchaseDescription(p)}
}

// withClientSecret answers for a stored purchase, fetching the client
// secret from Stripe when the portal still needs it: client secrets are
// never stored.
func (s *Purchases) withClientSecret(ctx context.Context, p dsu.Purchase, method string) (PurchaseResult, error) {
	res := PurchaseResult{Purchase: p}
	if needsClientSecret(p, method) && p.PaymentIntentID != "" {
		pi, err := s.Payments.GetPaymentIntent(ctx, p.PaymentIntentID)
		if err != nil {
			return PurchaseResult{}, err
		}
		res.ClientSecret = pi.ClientSecret
	}
	return res, nil
}

// storedResult is what an Idempotency-Key remembers of its response: the
// purchase as answered, and whether the answer carried a client secret
// (fetched again on replay, never stored).
type storedResult struct {
	Purchase  purchaseRecord `json:"purchase"`
	HadSecret bool           `json:"hadSecret"`
}

func encodeResult(r PurchaseResult) []byte {
	b, _ := json.Marshal(storedResult{Purchase: toRecord(r.Purchase), HadSecret: r.ClientSecret != ""})
	return b
}

func (s *Purchases) replay(ctx context.Context, raw []byte) (PurchaseResult, error) {
	var sr storedResult
	if err := json.Unmarshal(raw, &sr); err != nil {
		return PurchaseResult{}, dsu.Wrap(err, dsu.KindInternal, "unreadable idempotency record")
	}
	res := PurchaseResult{Purchase: sr.Purchase.purchase()}
	if sr.HadSecret && res.Purchase.PaymentIntentID != "" {
		pi, err := s.Payments.GetPaymentIntent(ctx, res.Purchase.PaymentIntentID)
		if err != nil {
			return PurchaseResult{}, err
		}
		res.ClientSecret = pi.ClientSecret
	}
	return res, nil
}

// Get returns one of the partner's purchases.
func (s *Purchases) Get(ctx context.Context, p dsu.Partner, id string) (dsu.Purchase, error) {
	return s.Store.GetPurchase(ctx, p.ID, id)
}

// List returns a page of the partner's purchases, newest first.
func (s *Purchases) List(ctx context.Context, p dsu.Partner, page dsu.Page) ([]dsu.Purchase, string, error) {
	return s.Store.ListPurchases(ctx, p.ID, page)
}

// Confirm hands the portal what it needs to confirm a payment on-session
// with 3-D Secure: for a purchase in requires_action, or an automatic
// purchase that failed because its bank wants the partner to authenticate.
func (s *Purchases) Confirm(ctx context.Context, p dsu.Partner, id string) (PurchaseResult, error) {
	purchase, err := s.Store.GetPurchase(ctx, p.ID, id)
	if err != nil {
		return PurchaseResult{}, err
	}
	// A refill the partner was asked to authenticate stays confirmable
	// after a failed attempt (3-D Secure failed or closed), while the plan
	// waits for it.
	confirmable := purchase.Status == dsu.StatusRequiresAction ||
		(purchase.Status == dsu.StatusFailed && purchase.Kind == dsu.KindAutoRefill && purchase.AskedToAuthenticate)
	if !confirmable || purchase.PaymentIntentID == "" {
		return PurchaseResult{}, dsu.Errorf(dsu.KindConflict, "a %s purchase cannot be confirmed", purchase.Status)
	}
	if purchase.Kind == dsu.KindAutoRefill {
		// Only while the plan waits for it: once a new card or the partner
		// moved the plan on, paying it would charge twice for one balance
		// drop (the sweep cancels it).
		acc, err := s.Store.GetAccount(ctx, p.ID)
		if err != nil {
			return PurchaseResult{}, err
		}
		if !acc.AwaitsAuthentication(purchase.ID) {
			return PurchaseResult{}, dsu.Errorf(dsu.KindConflict, "the automated plan no longer waits for this payment; it buys again when the balance needs it")
		}
	}
	pi, err := s.Payments.GetPaymentIntent(ctx, purchase.PaymentIntentID)
	if err != nil {
		return PurchaseResult{}, err
	}
	if pi.Status == PISucceeded || pi.Status == PICanceled || pi.Status == PIProcessing {
		return PurchaseResult{}, dsu.Errorf(dsu.KindConflict, "the payment is %s already", pi.Status)
	}
	// The partner takes the payment on-session: recorded on its own, as
	// nothing else is written here.
	if err := s.Store.RecordAudit(ctx, auditEvent(ctx, p.ID, dsu.AuditPurchaseConfirmed, map[string]any{"purchaseId": purchase.ID})); err != nil {
		return PurchaseResult{}, err
	}
	return PurchaseResult{Purchase: purchase, ClientSecret: pi.ClientSecret}, nil
}
