package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// adminStore is what the operator routes read and write.
type adminStore interface {
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
	Ledger(ctx context.Context, partnerID string, page dsu.Page) ([]dsu.Entry, string, error)
	AllLedgerEntries(ctx context.Context, partnerID string) ([]dsu.Entry, error)
	ListPurchases(ctx context.Context, partnerID string, page dsu.Page) ([]dsu.Purchase, string, error)
	ApplyAdjustment(ctx context.Context, change dsu.LedgerChange, audit dsu.AuditEvent) (dsu.Entry, bool, error)
	ChangeAccountAudited(ctx context.Context, partnerID string, mutate dsu.AccountMutation, audit func(before, after dsu.Account) *dsu.AuditEvent) (dsu.Account, dsu.PlanChange, error)
}

// adminPayments is what verification asks Stripe.
type adminPayments interface {
	GetPaymentIntent(ctx context.Context, id string) (PaymentIntent, error)
}

// Admin is the operators' tools (API.md, "Operator routes"): a partner's
// whole billing state, adjustments, lifting a dispute hold, and checking
// a partner's money against its ledger and Stripe. Every change is audited
// in its own transaction; nothing here creates a partner.
type Admin struct {
	Store    adminStore
	Payments adminPayments
	Clock    dsu.Clock
	// ReconcileWindow is how long past the time the sweep is due to have
	// finished (or looked at) a payment in flight verification waits
	// before calling it stuck (stuckAt).
	ReconcileWindow time.Duration
	Log             *slog.Logger
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// Invariant is a partner's balance against the sum of its ledger.
type Invariant struct {
	LedgerSum dsu.Units
	Balance   dsu.Units
	OK        bool
}

// PartnerOverview is what an operator sees of a partner.
type PartnerOverview struct {
	Billing   BillingInfo
	Ledger    []dsu.Entry    // the last 20, newest first
	Purchases []dsu.Purchase // the last 10, newest first
	Invariant Invariant
}

// partner reads an existing partner; an id that is not a partner id is
// not found either.
func (a *Admin) partner(ctx context.Context, partnerID string) (dsu.Partner, error) {
	if dsu.ValidatePartnerID(partnerID) != nil {
		return dsu.Partner{}, dsu.Errorf(dsu.KindNotFound, "unknown partner")
	}
	return a.Store.GetPartner(ctx, partnerID)
}

// Show is a partner's billing record, plan, recent ledger and purchases,
// and whether its balance equals the sum of its ledger.
func (a *Admin) Show(ctx context.Context, partnerID string) (PartnerOverview, error) {
	p, err := a.partner(ctx, partnerID)
	if err != nil {
		return PartnerOverview{}, err
	}
	acc, err := a.Store.GetAccount(ctx, partnerID)
	if err != nil {
		return PartnerOverview{}, err
	}
	out := PartnerOverview{Billing: BillingInfo{Partner: p, Account: acc}}
	if out.Ledger, _, err = a.Store.Ledger(ctx, partnerID, dsu.Page{Limit: 20}); err != nil {
		return PartnerOverview{}, err
	}
	if out.Purchases, _, err = a.Store.ListPurchases(ctx, partnerID, dsu.Page{Limit: 10}); err != nil {
		return PartnerOverview{}, err
	}
	entries, err := a.Store.AllLedgerEntries(ctx, partnerID)
	if err != nil {
		return PartnerOverview{}, err
	}
	out.Invariant = invariantOf(acc, entries)
	return out, nil
}

func invariantOf(acc dsu.Account, entries []dsu.Entry) Invariant {
	inv := Invariant{Balance: acc.Units}
	for _, e := range entries {
		inv.LedgerSum += e.Units
	}
	inv.OK = dsu.CheckInvariant(acc.Units, entries) == nil
	return inv
}

// Adjust applies an operator's adjustment once per Idempotency-Key: the
// same key replays the first entry (applied = false); the same key with
// other units or another reason is refused (422).
func (a *Admin) Adjust(ctx context.Context, partnerID, key string, adj dsu.Adjustment, actor dsu.Actor) (dsu.Entry, bool, error) {
	if err := dsu.ValidateIdempotencyKey(key); err != nil {
		return dsu.Entry{}, false, err
	}
	if err := adj.Validate(); err != nil {
		return dsu.Entry{}, false, err
	}
	if _, err := a.partner(ctx, partnerID); err != nil {
		return dsu.Entry{}, false, err
	}
	change := dsu.LedgerChange{PartnerID: partnerID, Type: dsu.EntryAdjustment, Units: adj.Units,
		Reference: dsu.AdjustmentRef(key), Description: dsu.AdjustmentDescription(adj)}
	if err := change.Validate(); err != nil {
		return dsu.Entry{}, false, dsu.InvalidField("Idempotency-Key", "is too long for a ledger reference")
	}
	entry, applied, err := a.Store.ApplyAdjustment(ctx, change, dsu.AuditEvent{
		PartnerID: partnerID, At: a.Clock.Now(), Actor: actor, Action: dsu.AuditAdjustmentCreated,
		Details: map[string]any{"units": adj.Units, "reason": adj.Reason, "ticket": adj.Ticket},
	})
	if err != nil {
		return dsu.Entry{}, false, err
	}
	if !applied && (entry.Units != change.Units || entry.Description != change.Description) {
		return dsu.Entry{}, false, dsu.Errorf(dsu.KindIdempotencyKeyReused, "this Idempotency-Key made another adjustment")
	}
	if applied {
		countUnits(a.Metrics, change.Units)
		a.Log.WarnContext(ctx, "balance adjusted by an operator", "partner", partnerID, "units", adj.Units, "ticket", adj.Ticket, "operator", actor.Sub)
	}
	return entry, applied, nil
}

// ReleaseDisputeHold lifts a partner's dispute hold; the plan stays paused
// until the partner re-enables it.
func (a *Admin) ReleaseDisputeHold(ctx context.Context, partnerID string, actor dsu.Actor) (BillingInfo, error) {
	p, err := a.partner(ctx, partnerID)
	if err != nil {
		return BillingInfo{}, err
	}
	acc, _, err := a.Store.ChangeAccountAudited(ctx, partnerID, (*dsu.Account).ReleaseDisputeHold, func(before, _ dsu.Account) *dsu.AuditEvent {
		return &dsu.AuditEvent{PartnerID: partnerID, At: a.Clock.Now(), Actor: actor, Action: dsu.AuditDisputeHoldReleased,
			Details: map[string]any{"planStatus": string(before.AutoRefill.Status), "pausedReason": string(before.AutoRefill.PausedReason)}}
	})
	if err != nil {
		return BillingInfo{}, err
	}
	return BillingInfo{Partner: p, Account: acc}, nil
}

// Problem kinds verification reports.
const (
	ProblemBalanceMismatch     = "balance_mismatch"      // balance ≠ Σ ledger
	ProblemLedgerInconsistent  = "ledger_inconsistent"   // a gap in sequence numbers or a wrong running balance
	ProblemPaidNotCredited     = "paid_not_credited"     // Stripe says succeeded, the purchase was never credited
	ProblemCreditedNotPaid     = "credited_not_paid"     // credited, but Stripe does not say succeeded
	ProblemAmountMismatch      = "amount_mismatch"       // the PaymentIntent's amount is not the purchase's
	ProblemCurrencyMismatch    = "currency_mismatch"     // nor its currency
	ProblemCreditMissing       = "credit_missing"        // a paid purchase without its ledger credit
	ProblemCreditDuplicated    = "credit_duplicated"     // more than one credit for one purchase
	ProblemCreditWrongUnits    = "credit_wrong_units"    // a credit of other units than the purchase's
	ProblemStuckInFlight       = "stuck_in_flight"       // still in flight past when the sweep should have finished it
	ProblemPaymentIntentAbsent = "payment_intent_absent" // Stripe does not know the stored PaymentIntent
)

// Problem is one thing verification found wrong.
type Problem struct {
	Kind       string
	Detail     string
	PurchaseID string
}

// Verification is a partner's money checked against its ledger and Stripe.
type Verification struct {
	OK       bool
	Problems []Problem
}

// verifyWindow is how far back purchases are checked against Stripe.
const verifyWindow = 90 * 24 * time.Hour

// Verify checks a partner: balance = Σ ledger (every entry read, page by
// page); every purchase of the last 90 days against its PaymentIntent at
// Stripe (status, amount, currency) and credited exactly once when paid;
// nothing still in flight past when the sweep should have finished it
// (stuckAt).
func (a *Admin) Verify(ctx context.Context, partnerID string) (Verification, error) {
	if _, err := a.partner(ctx, partnerID); err != nil {
		return Verification{}, err
	}
	acc, err := a.Store.GetAccount(ctx, partnerID)
	if err != nil {
		return Verification{}, err
	}
	entries, err := a.Store.AllLedgerEntries(ctx, partnerID)
	if err != nil {
		return Verification{}, err
	}
	var v Verification
	add := func(kind, purchaseID, format string, args ...any) {
		v.Problems = append(v.Problems, Problem{Kind: kind, PurchaseID: purchaseID, Detail: fmt.Sprintf(format, args...)})
	}
	inv := invariantOf(acc, entries)
	if inv.LedgerSum != inv.Balance {
		add(ProblemBalanceMismatch, "", "the balance is %d DSUs but the ledger sums to %d", inv.Balance, inv.LedgerSum)
	} else if err := dsu.CheckInvariant(acc.Units, entries); err != nil {
		add(ProblemLedgerInconsistent, "", "%v", err)
	}
	credits := map[string][]dsu.Entry{}
	for _, e := range entries {
		if e.Type == dsu.EntryPurchase || e.Type == dsu.EntryRefill {
			credits[e.Reference] = append(credits[e.Reference], e)
		}
	}

	now := a.Clock.Now()
	window := a.ReconcileWindow
	if window <= 0 {
		window = time.Hour
	}
	page := dsu.Page{Limit: 100}
	for {
		purchases, next, err := a.Store.ListPurchases(ctx, partnerID, page)
		if err != nil {
			return Verification{}, err
		}
		for _, p := range purchases {
			if now.Sub(p.CreatedAt) > verifyWindow {
				next = ""
				break
			}
			if err := a.verifyPurchase(ctx, p, credits[dsu.PurchaseRef(p.ID)], now, window, add); err != nil {
				return Verification{}, err
			}
		}
		if next == "" {
			break
		}
		page.Cursor = next
	}
	if acc.Refill.Phase == dsu.RefillInFlight && now.Sub(acc.Refill.StartedAt) > dsu.DefaultRefillPolicy.StuckAfter+window {
		add(ProblemStuckInFlight, acc.Refill.PurchaseID, "a refill has been in flight since %s", acc.Refill.StartedAt.Format(time.RFC3339))
	}
	v.OK = len(v.Problems) == 0
	return v, nil
}

func (a *Admin) verifyPurchase(ctx context.Context, p dsu.Purchase, credits []dsu.Entry, now time.Time, window time.Duration, add func(kind, purchaseID, format string, args ...any)) error {
	switch {
	case p.Status.Paid() && len(credits) == 0:
		add(ProblemCreditMissing, p.ID, "the purchase is %s but its DSUs were never credited", p.Status)
	case len(credits) > 1:
		add(ProblemCreditDuplicated, p.ID, "the purchase was credited %d times", len(credits))
	case len(credits) == 1 && credits[0].Units != p.Units:
		add(ProblemCreditWrongUnits, p.ID, "credited %d DSUs for a purchase of %d", credits[0].Units, p.Units)
	}
	inFlight := p.Status == dsu.StatusPending || p.Status == dsu.StatusRequiresAction
	if p.PaymentIntentID == "" {
		if inFlight && now.After(stuckAt(p, window)) {
			add(ProblemStuckInFlight, p.ID, "the purchase has been %s without a PaymentIntent since %s", p.Status, p.CreatedAt.Format(time.RFC3339))
		}
		return nil
	}
	pi, err := a.Payments.GetPaymentIntent(ctx, p.PaymentIntentID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		add(ProblemPaymentIntentAbsent, p.ID, "Stripe does not know PaymentIntent %s", p.PaymentIntentID)
		return nil
	}
	if err != nil {
		return err
	}
	if pi.Amount.Amount != p.Amount.Amount {
		add(ProblemAmountMismatch, p.ID, "PaymentIntent %s is for %d, the purchase for %d", pi.ID, pi.Amount.Amount, p.Amount.Amount)
	}
	if pi.Amount.Currency != p.Amount.Currency {
		add(ProblemCurrencyMismatch, p.ID, "PaymentIntent %s is in %s, the purchase in %s", pi.ID, pi.Amount.Currency, p.Amount.Currency)
	}
	switch {
	case pi.Status == PISucceeded && !p.Status.Paid():
		add(ProblemPaidNotCredited, p.ID, "PaymentIntent %s succeeded but the purchase is %s", pi.ID, p.Status)
	case pi.Status != PISucceeded && p.Status.Paid():
		add(ProblemCreditedNotPaid, p.ID, "the purchase is %s but PaymentIntent %s is %s", p.Status, pi.ID, pi.Status)
	case inFlight:
		if now.After(stuckAt(p, window)) {
			add(ProblemStuckInFlight, p.ID, "the purchase has been %s since %s (PaymentIntent %s is %s)", p.Status, p.CreatedAt.Format(time.RFC3339), pi.ID, pi.Status)
		}
	case p.Status == dsu.StatusFailed && swept(p) && cancelable(pi.Status) && now.After(p.AbandonAt().Add(window)):
		// A declined manual purchase stays payable with another card until
		// the sweep cancels its PaymentIntent at 24 hours; a refill the
		// partner was asked to authenticate, until 7 days at the latest.
		add(ProblemStuckInFlight, p.ID, "the purchase failed but its PaymentIntent %s is still %s since %s; the sweep should have canceled it", pi.ID, pi.Status, p.CreatedAt.Format(time.RFC3339))
	}
	return nil
}

// swept reports whether the sweep's index lists the purchase.
func swept(p dsu.Purchase) bool {
	_, ok := p.SweepAt()
	return ok
}

// stuckAt is when a purchase still pending or requiring action counts as
// stuck: window past the time what finishes it should have.
//
//   - A manual purchase is the sweep's (RULES.md, "Reconciliation and the
//     sweep"): an unpaid one waits, by design, until dsu.AbandonAfter, and
//     the sweep looks at it on a schedule it keeps in the purchase. It is
//     stuck when the sweep is window late for its next look, or window past
//     dsu.AbandonAfter (the sweep cancels an unpaid one then; still in
//     flight, its payment is processing for a day, or the sweep fails on
//     it). An abandoned checkout of the last day is no problem.
//   - An automatic purchase requiring action waits for the partner to
//     authenticate it (the plan is paused meanwhile); the sweep looks at it
//     the same way, and gives it up after dsu.AuthenticationWindow.
//   - Any other automatic purchase is the refill's, which the sweep
//     reconciles after the refill policy's StuckAfter.
func stuckAt(p dsu.Purchase, window time.Duration) time.Time {
	if p.Kind == dsu.KindManual || p.Status == dsu.StatusRequiresAction && p.PaymentIntentID != "" {
		at := p.AbandonAt()
		if next, ok := p.SweepAt(); ok && next.Before(at) {
			at = next
		}
		return at.Add(window)
	}
	return p.CreatedAt.Add(dsu.DefaultRefillPolicy.StuckAfter + window)
}
