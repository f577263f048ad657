package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

type refillStore interface {
	settleStore
	GetPartner(ctx context.Context, partnerID string) (dsu.Partner, error)
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
	ChangeAccount(ctx context.Context, partnerID string, mutate dsu.AccountMutation) (dsu.Account, dsu.PlanChange, error)
	StartRefill(ctx context.Context, purchase dsu.Purchase, claim dsu.AccountMutation) (dsu.Account, dsu.PlanChange, error)
	DueAccounts(ctx context.Context, shard int, now time.Time) ([]string, error)
	SweepShards() int
}

// Refiller runs the automated billing plan (RULES.md, "The automated plan"): when a partner's
// balance is used up it buys the default package off-session with the
// saved card. Any number of triggers (stream records, the sweep) may call
// it at once: the claim in storage lets exactly one start a refill.
type Refiller struct {
	Store    refillStore
	Payments paymentIntents
	Catalog  catalogSource
	Settle   *Settler
	Outcomes *RefillOutcomes
	Clock    dsu.Clock
	IDs      dsu.IDGenerator
	Log      *slog.Logger
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// Refill starts an automatic purchase for the partner if one is due.
func (r *Refiller) Refill(ctx context.Context, partnerID string) error {
	acc, err := r.Store.GetAccount(ctx, partnerID)
	if err != nil {
		return err
	}
	now := r.Clock.Now()
	if !acc.RefillDue(now) {
		return nil
	}
	p, err := r.Store.GetPartner(ctx, partnerID)
	if err != nil {
		return err
	}
	if p.Card == nil || p.StripeCustomerID == "" {
		return r.pause(ctx, partnerID, dsu.PausedCardMissing)
	}
	if p.Card.Expired(now) {
		// Before anything is claimed or charged (RULES.md, "Pause reasons").
		r.Log.InfoContext(ctx, "the saved card has expired; plan paused", "partner", partnerID)
		return r.pause(ctx, partnerID, dsu.PausedCardExpired)
	}
	cat, err := r.Catalog.Catalog(ctx)
	if err != nil {
		return err
	}
	pkg, ok := cat.Find(acc.AutoRefill.PackageID)
	if !ok {
		r.Log.ErrorContext(ctx, "the automated plan's package is no longer sold; plan paused", "partner", partnerID, "package", acc.AutoRefill.PackageID)
		return r.pause(ctx, partnerID, dsu.PausedPaymentFailed)
	}
	price, ok := pkg.Price(p.Currency)
	if !ok {
		return dsu.Errorf(dsu.KindInternal, "package %s has no %s price", pkg.ID, p.Currency)
	}
	n := dsu.RefillQuantity(acc.Units, acc.AutoRefill.Threshold, pkg.Units, r.Outcomes.Policy.MaxPackages)
	purchase := dsu.Purchase{
		ID: r.IDs.NewID("pur_"), PartnerID: partnerID, Kind: dsu.KindAutoRefill, Status: dsu.StatusPending,
		Items: []dsu.LineItem{{PackageID: pkg.ID, Name: pkg.Name, Quantity: n, Units: pkg.Units * n,
			Amount: dsu.Money{Amount: price.Amount * n, Currency: p.Currency}}},
		Units: pkg.Units * n, Amount: dsu.Money{Amount: price.Amount * n, Currency: p.Currency}, CreatedAt: now,
	}
	acc, change, err := r.Store.StartRefill(ctx, purchase, func(a *dsu.Account) (dsu.PlanChange, error) {
		return a.ClaimRefill(purchase.ID, now)
	})
	if errors.Is(err, dsu.ErrRefillNotNeeded) {
		return nil // another trigger claimed it, or the balance recovered
	}
	if err != nil {
		return err
	}
	if change.Paused != "" {
		// The claim paused the plan instead (the monthly limit): charge
		// nothing.
		r.Log.InfoContext(ctx, "monthly limit of automatic purchases reached; plan paused", "partner", partnerID, "limit", acc.AutoRefill.MonthlyLimit)
		r.Outcomes.paused(ctx, partnerID, change)
		return nil
	}
	r.Log.InfoContext(ctx, "refill started", "partner", partnerID, "purchase", purchase.ID, "packages", n, "balance", acc.Units)
	return r.charge(ctx, p, purchase, false)
}

// charge creates the off-session PaymentIntent (idempotency key
// purchase:<id>) and settles what Stripe answers. Without an answer the
// refill stays in flight; the sweep reconciles it, and then also reads the
// receipt of a payment that succeeded (a first attempt leaves it to the
// charge.succeeded webhook). A retry sends the card saved now: if the
// first attempt reached Stripe with another card (replaced since), Stripe
// refuses the key (ErrIdempotencyKeyReused) and the first attempt's
// PaymentIntent is looked up instead.
func (r *Refiller) charge(ctx context.Context, p dsu.Partner, purchase dsu.Purchase, reconciling bool) error {
	req := PaymentIntentRequest{
		PurchaseID: purchase.ID, PartnerID: p.ID, Kind: purchase.Kind, Amount: purchase.Amount,
		CustomerID: p.StripeCustomerID, PaymentMethodID: p.Card.PaymentMethodID, Confirm: true, OffSession: true,
	}
	if p.Contact != nil {
		req.ReceiptEmail = p.Contact.Email
	}
	pi, err := r.Payments.CreatePaymentIntent(ctx, req)
	if pi.ID == "" {
		if err == nil {
			err = dsu.Errorf(dsu.KindInternal, "Stripe answered without a PaymentIntent")
		}
		if dsu.IsKind(err, dsu.KindUpstreamUnavailable) {
			// No answer: a charge may have happened. The refill stays in
			// flight and the sweep reconciles it.
			r.Log.WarnContext(ctx, "refill charge not confirmed; the sweep reconciles it", "partner", p.ID, "purchase", purchase.ID, "error", err.Error())
			return nil
		}
		if errors.Is(err, ErrIdempotencyKeyReused) {
			// The first attempt ran at Stripe with other parameters (the
			// card replaced since, say) and may have charged: not a refusal.
			r.Log.WarnContext(ctx, "refill retried with other parameters than its first attempt; looking up its PaymentIntent", "partner", p.ID, "purchase", purchase.ID)
			return r.lookUp(ctx, p, purchase)
		}
		// Stripe refused without creating a PaymentIntent (the card or the
		// customer is gone, say): retrying would be refused again.
		reason := dsu.PausedPaymentFailed
		if dsu.IsKind(err, dsu.KindNotFound) {
			reason = dsu.PausedCardMissing
		}
		r.Log.ErrorContext(ctx, "refill refused by Stripe; plan paused", "partner", p.ID, "purchase", purchase.ID, "reason", string(reason), "error", err.Error())
		return r.notCharged(ctx, purchase, reason)
	}
	// A decline or a needed authentication comes with its PaymentIntent,
	// whose last error says which.
	if reconciling {
		pi = withReceipt(ctx, r.Payments, r.Log, purchase, pi)
	}
	if _, serr := r.Settle.Settle(ctx, purchase, pi, ""); serr != nil && !errors.Is(serr, errMismatch) {
		r.Log.WarnContext(ctx, "refill outcome not recorded; the webhook or the sweep records it", "purchase", purchase.ID, "error", serr.Error())
	}
	return nil
}

func (r *Refiller) pause(ctx context.Context, partnerID string, reason dsu.PauseReason) error {
	_, change, err := r.Store.ChangeAccount(ctx, partnerID, func(a *dsu.Account) (dsu.PlanChange, error) {
		return a.Pause(reason)
	})
	if err == nil {
		r.Outcomes.paused(ctx, partnerID, change)
	}
	return err
}

// Reconcile finishes a refill that has been in flight too long (a timeout,
// a crash, a lost webhook), through its stored PaymentIntent or Stripe's
// idempotency key: never a second charge, never a lost credit.
func (r *Refiller) Reconcile(ctx context.Context, acc dsu.Account) error {
	purchase, err := r.Store.GetPurchase(ctx, acc.PartnerID, acc.Refill.PurchaseID)
	if dsu.IsKind(err, dsu.KindNotFound) {
		r.Log.ErrorContext(ctx, "refill in flight without its purchase; claim released", "partner", acc.PartnerID, "purchase", acc.Refill.PurchaseID)
		return r.release(ctx, acc.PartnerID, func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillReleased(acc.Refill.PurchaseID) })
	}
	if err != nil {
		return err
	}
	switch {
	case purchase.Status == dsu.StatusPending && purchase.PaymentIntentID == "":
		p, err := r.Store.GetPartner(ctx, acc.PartnerID)
		if err != nil {
			return err
		}
		now := r.Clock.Now()
		if acc.AutoRefill.Status == dsu.AutoRefillActive && p.Card != nil && !p.Card.Expired(now) && now.Sub(purchase.CreatedAt) < keyWindow {
			return r.charge(ctx, p, purchase, true) // same idempotency key: finds the first attempt's PaymentIntent
		}
		// The plan stopped, the card is gone or expired, or Stripe may have
		// forgotten the key: look for the PaymentIntent instead of creating
		// one.
		return r.lookUp(ctx, p, purchase)
	case purchase.Status == dsu.StatusPending || purchase.Status == dsu.StatusRequiresAction:
		pi, err := r.Payments.GetPaymentIntent(ctx, purchase.PaymentIntentID)
		if err != nil {
			return err
		}
		_, err = r.Settle.Settle(ctx, purchase, withReceipt(ctx, r.Payments, r.Log, purchase, pi), "")
		if errors.Is(err, errMismatch) {
			return nil
		}
		return err
	case purchase.Status.Paid():
		return r.release(ctx, acc.PartnerID, func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillSucceeded(purchase.ID) })
	default: // failed or canceled, recorded without the claim's release
		return r.release(ctx, acc.PartnerID, func(a *dsu.Account) (dsu.PlanChange, error) { return a.RefillReleased(purchase.ID) })
	}
}

// lookUp finishes a refill without creating a PaymentIntent: the one
// Stripe has for it (among the customer's, by metadata purchase_id, a
// strongly consistent list) is settled; without one it was never charged.
func (r *Refiller) lookUp(ctx context.Context, p dsu.Partner, purchase dsu.Purchase) error {
	if p.StripeCustomerID != "" {
		pi, found, err := r.Payments.FindPaymentIntent(ctx, p.StripeCustomerID, purchase.ID, purchase.CreatedAt)
		if err != nil {
			return err
		}
		if found {
			_, err := r.Settle.Settle(ctx, purchase, withReceipt(ctx, r.Payments, r.Log, purchase, pi), "")
			if errors.Is(err, errMismatch) {
				return nil
			}
			return err
		}
	}
	return r.notCharged(ctx, purchase, "")
}

// release frees a claim the purchase's outcome did not free; a claim that
// moved on meanwhile is left alone.
func (r *Refiller) release(ctx context.Context, partnerID string, mutate dsu.AccountMutation) error {
	_, _, err := r.Store.ChangeAccount(ctx, partnerID, mutate)
	return err
}

// notCharged gives up a refill that Stripe never charged: the purchase
// fails (not_charged; a payment Stripe reports later still credits it,
// failed → succeeded), the claim is released, and with a reason the plan
// pauses.
func (r *Refiller) notCharged(ctx context.Context, purchase dsu.Purchase, reason dsu.PauseReason) error {
	now := r.Clock.Now()
	next := purchase
	f := notChargedFailure
	next.Status, next.Failure, next.CompletedAt = dsu.StatusFailed, &f, &now
	res, err := r.Store.UpdatePurchase(ctx, dsu.PurchaseUpdate{
		Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusPending},
		Account: func(a *dsu.Account) (dsu.PlanChange, error) {
			return a.RefillNotCharged(purchase.ID, reason)
		},
	})
	if errors.Is(err, dsu.ErrPurchaseMoved) {
		return nil // settled meanwhile
	}
	if err != nil {
		return err
	}
	countPurchase(r.Metrics, purchase, next)
	r.Log.WarnContext(ctx, "refill given up: not charged", "partner", purchase.PartnerID, "purchase", purchase.ID)
	r.Outcomes.paused(ctx, purchase.PartnerID, res.Plan)
	return nil
}

// sweepStore is what the sweep reads: the sparse index's three kinds of
// work, and the accounts.
type sweepStore interface {
	refillStore
	DuePurchases(ctx context.Context, shard int, now time.Time) ([]dsu.PurchaseKey, error)
	DueCards(ctx context.Context, shard int, now time.Time) ([]string, error)
}

// cardSweep does the card work of one billing record (Billing.SweepCard).
type cardSweep interface {
	SweepCard(ctx context.Context, partnerID string) error
}

// purchaseSweep finishes one manual purchase (PurchaseReconciler).
type purchaseSweep interface {
	Reconcile(ctx context.Context, key dsu.PurchaseKey) error
}

// Sweeper is the scheduled sweep (RULES.md, "Reconciliation and the
// sweep"): it reads only what the sparse index marks as needing attention
// and handles each, no faster than the Stripe budget allows: accounts (a
// refill due, a failed refill whose wait is over, a refill in flight for
// too long), unfinished manual purchases, and billing records with card
// work (a replaced card to detach, an expiry to announce).
type Sweeper struct {
	Store    sweepStore
	Refiller *Refiller
	// Purchases finishes unfinished manual purchases; nil skips them.
	Purchases purchaseSweep
	// Cards does the card work; nil skips it.
	Cards cardSweep
	Clock dsu.Clock
	Log   *slog.Logger
	// Rate is how many items per second the sweep handles (each may call
	// Stripe); 0 means unpaced.
	Rate float64
	// Sleep waits between items; tests replace it.
	Sleep func(ctx context.Context, d time.Duration) error
}

// SweepResult counts what a sweep did.
type SweepResult struct {
	// Due is the accounts due; Purchases and Cards the purchases and
	// billing records. Failed counts all three.
	Due, Purchases, Cards, Failed int
}

// Sweep handles everything due now. Failures of single items are logged
// and counted; they are due again at the next sweep.
func (s *Sweeper) Sweep(ctx context.Context) (SweepResult, error) {
	now := s.Clock.Now()
	var res SweepResult
	pace := s.pacer(ctx)
	failed := func(err error, kind string, args ...any) {
		if err != nil {
			res.Failed++
			s.Log.ErrorContext(ctx, "sweep could not handle "+kind+"; it is due again next sweep", append(args, "error", err.Error())...)
		}
	}
	for shard := range s.Store.SweepShards() {
		partners, err := s.Store.DueAccounts(ctx, shard, now)
		if err != nil {
			return res, err
		}
		for _, partnerID := range partners {
			res.Due++
			failed(s.handle(ctx, partnerID, now, pace), "an account", "partner", partnerID)
		}
	}
	if s.Purchases != nil {
		for shard := range s.Store.SweepShards() {
			keys, err := s.Store.DuePurchases(ctx, shard, now)
			if err != nil {
				return res, err
			}
			for _, key := range keys {
				res.Purchases++
				err := pace()
				if err == nil {
					err = s.Purchases.Reconcile(ctx, key)
				}
				failed(err, "a purchase", "partner", key.PartnerID, "purchase", key.PurchaseID)
			}
		}
	}
	if s.Cards != nil {
		for shard := range s.Store.SweepShards() {
			partners, err := s.Store.DueCards(ctx, shard, now)
			if err != nil {
				return res, err
			}
			for _, partnerID := range partners {
				res.Cards++
				err := pace()
				if err == nil {
					err = s.Cards.SweepCard(ctx, partnerID)
				}
				failed(err, "a card", "partner", partnerID)
			}
		}
	}
	s.Log.InfoContext(ctx, "sweep done", "due", res.Due, "purchases", res.Purchases, "cards", res.Cards, "failed", res.Failed)
	return res, nil
}

// pacer returns the wait to call before anything that may reach Stripe:
// none before the first, then 1/Rate between.
func (s *Sweeper) pacer(ctx context.Context) func() error {
	var interval time.Duration
	if s.Rate > 0 {
		interval = time.Duration(float64(time.Second) / s.Rate)
	}
	sleep := s.Sleep
	if sleep == nil {
		sleep = dsu.Sleep
	}
	calls := 0
	return func() error {
		if calls > 0 && interval > 0 {
			if err := sleep(ctx, interval); err != nil {
				return err
			}
		}
		calls++
		return nil
	}
}

// handle looks at one due account; pace is called before anything that
// may reach Stripe.
func (s *Sweeper) handle(ctx context.Context, partnerID string, now time.Time, pace func() error) error {
	acc, err := s.Store.GetAccount(ctx, partnerID)
	if err != nil {
		return err
	}
	switch {
	case acc.Refill.Phase == dsu.RefillInFlight:
		if now.Sub(acc.Refill.StartedAt) < s.Refiller.Outcomes.Policy.StuckAfter {
			return nil
		}
		if err := pace(); err != nil {
			return err
		}
		return s.Refiller.Reconcile(ctx, acc)
	case acc.RefillDue(now):
		if err := pace(); err != nil {
			return err
		}
		return s.Refiller.Refill(ctx, partnerID)
	}
	return nil
}
