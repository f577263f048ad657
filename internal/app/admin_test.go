package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/logging"
)

func (w *world) admin() *app.Admin {
	return &app.Admin{Store: w.store, Payments: w.pay, Clock: w.clock, ReconcileWindow: time.Hour, Log: logging.Discard(), Metrics: w.metrics}
}

var operatorActor = dsu.Actor{Sub: "arn:aws:sts::123456789012:assumed-role/OperatorRole/jane"}

// Adjustments are exactly once per key, audited in the same transaction,
// refused with another body under the same key, and keep the invariant.
func TestAdjustmentsExactlyOncePerKey(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.partner("p1", "")
	adm := w.admin()
	goodwill := dsu.Adjustment{Units: 500, Reason: "goodwill after the outage", Ticket: "SUP-42"}
	first, applied, err := adm.Adjust(ctx, "p1", "k-1", goodwill, operatorActor)
	if err != nil || !applied || first.Units != 500 || first.Type != dsu.EntryAdjustment || first.Reference != "adjustment:k-1" {
		t.Fatalf("adjust: %+v %v %v", first, applied, err)
	}
	if first.Description != "Adjustment: goodwill after the outage (ticket SUP-42)" {
		t.Errorf("description %q", first.Description)
	}
	again, applied, err := adm.Adjust(ctx, "p1", "k-1", goodwill, operatorActor)
	if err != nil || applied || again.ID != first.ID {
		t.Fatalf("replay: %+v %v %v", again, applied, err)
	}
	other := goodwill
	other.Units = 501
	if _, _, err := adm.Adjust(ctx, "p1", "k-1", other, operatorActor); dsu.ErrorKind(err) != dsu.KindIdempotencyKeyReused {
		t.Errorf("same key, other units: %v", err)
	}
	if b := w.balance("p1"); b != 2500 {
		t.Errorf("balance %d after one adjustment of 500", b)
	}
	events, _, err := w.store.ListAudit(ctx, "p1", dsu.Page{Limit: 10})
	if err != nil || len(events) != 1 || events[0].Action != dsu.AuditAdjustmentCreated || events[0].Actor != operatorActor ||
		events[0].Details["entryId"] != first.ID || events[0].Details["units"] != float64(500) {
		t.Fatalf("audit %+v %v", events, err)
	}
	for name, bad := range map[string]dsu.Adjustment{
		"zero":         {Units: 0, Reason: "nothing"},
		"too large":    {Units: 10_000_001, Reason: "typo"},
		"short reason": {Units: 5, Reason: "x"},
		"no reason":    {Units: 5},
	} {
		if _, _, err := adm.Adjust(ctx, "p1", "k-"+name, bad, operatorActor); dsu.ErrorKind(err) != dsu.KindInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, _, err := adm.Adjust(ctx, "p1", "", goodwill, operatorActor); dsu.ErrorKind(err) != dsu.KindIdempotencyKeyMissing {
		t.Errorf("no key: %v", err)
	}
	if _, _, err := adm.Adjust(ctx, "nobody", "k-2", goodwill, operatorActor); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Errorf("unknown partner: %v", err)
	}
	if _, err := w.store.GetAccount(ctx, "nobody"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Error("an operator route created a partner")
	}
	w.checkUnits(w.recorded(), "p1") // the replay is not counted again
}

// Lifting a dispute hold is audited; the plan stays paused until the
// partner re-enables it, which it now may.
func TestReleaseDisputeHold(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "pm_card")
	w.store.ChangeAccount(ctx, "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", MonthlyLimit: 5}
		return a.PauseForDispute()
	})
	info, err := w.admin().ReleaseDisputeHold(ctx, "p1", operatorActor)
	if err != nil || info.Account.AutoRefill.DisputeHold || info.Account.AutoRefill.Status != dsu.AutoRefillPaused {
		t.Fatalf("release: %+v %v", info.Account.AutoRefill, err)
	}
	if _, err := w.billing.UpdateAutoRefill(ctx, p, dsu.PlanSettings{Enabled: true}); err != nil {
		t.Fatalf("re-enabling after the release: %v", err)
	}
	// A second release changes nothing and records nothing.
	if _, err := w.admin().ReleaseDisputeHold(ctx, "p1", operatorActor); err != nil {
		t.Fatal(err)
	}
	// Newest first: the partner's re-enabling, then the one release.
	events, _, _ := w.store.ListAudit(ctx, "p1", dsu.Page{Limit: 10})
	if len(events) != 2 || events[0].Action != dsu.AuditAutoRefillUpdated ||
		events[1].Action != dsu.AuditDisputeHoldReleased || events[1].Details["pausedReason"] != "dispute" || events[1].Actor != operatorActor {
		t.Fatalf("audit %+v", events)
	}
}

// Verification finds a corrupted balance, a payment Stripe took for a
// purchase still pending, and an amount mismatch, each with its kind; a
// healthy partner is ok.
func TestVerifyFindsWhatIsWrong(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "pm_card")
	healthy, err := w.buy(p, "k-ok", app.PayWithSavedCard, 1)
	if err != nil || healthy.Purchase.Status != dsu.StatusSucceeded {
		t.Fatal(err)
	}
	adm := w.admin()
	if v, err := adm.Verify(ctx, "p1"); err != nil || !v.OK || len(v.Problems) != 0 {
		t.Fatalf("healthy partner: %+v %v", v, err)
	}

	// A payment confirmed at Stripe whose webhook never came.
	lost, _ := w.buy(p, "k-lost", app.PayWithNewCard, 2)
	pi, _ := w.pay.IntentFor(lost.Purchase.ID)
	w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	// A PaymentIntent whose amount is not the purchase's.
	odd, _ := w.buy(p, "k-odd", app.PayWithNewCard, 3)
	oddPI, _ := w.pay.IntentFor(odd.Purchase.ID)
	w.pay.SetIntentAmount(oddPI.ID, oddPI.Amount.Amount+1)
	// A balance changed without a ledger entry.
	w.store.ChangeAccount(ctx, "p1", func(a *dsu.Account) (dsu.PlanChange, error) { a.Units += 7; return dsu.PlanChange{}, nil })

	v, err := adm.Verify(ctx, "p1")
	if err != nil || v.OK {
		t.Fatalf("verify: %+v %v", v, err)
	}
	kinds := map[string]string{}
	for _, pr := range v.Problems {
		kinds[pr.Kind] = pr.PurchaseID
	}
	for kind, purchase := range map[string]string{
		app.ProblemBalanceMismatch: "", app.ProblemPaidNotCredited: lost.Purchase.ID, app.ProblemAmountMismatch: odd.Purchase.ID,
	} {
		if got, ok := kinds[kind]; !ok || got != purchase {
			t.Errorf("no %s for %q in %+v", kind, purchase, v.Problems)
		}
	}
	// A day and two hours later, with no sweep to abandon it, the
	// new-card purchase nobody paid is stuck too.
	w.clock.Advance(dsu.AbandonAfter + 2*time.Hour)
	v, _ = adm.Verify(ctx, "p1")
	if !slices.ContainsFunc(v.Problems, func(pr app.Problem) bool {
		return pr.Kind == app.ProblemStuckInFlight && pr.PurchaseID == odd.Purchase.ID
	}) {
		t.Errorf("no stuck purchase in %+v", v.Problems)
	}
	if _, err := adm.Verify(ctx, "nobody"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Errorf("unknown partner: %v", err)
	}
}

// A declined manual purchase is a legitimate outcome, not stuck, while
// its PaymentIntent may still be paid with another card; past 24 hours and
// the reconcile window its PaymentIntent should have been canceled by the
// sweep, and one still payable is reported.
func TestVerifyReportsAFailedPurchaseWhosePaymentIntentOutlivedItsDay(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "pm_card")
	w.pay.outcome["pm_card"] = "insufficient_funds"
	declined, _ := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if declined.Purchase.Status != dsu.StatusFailed {
		t.Fatalf("purchase %+v", declined.Purchase)
	}
	stuck := func() bool {
		v, err := w.admin().Verify(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		return slices.ContainsFunc(v.Problems, func(pr app.Problem) bool {
			return pr.Kind == app.ProblemStuckInFlight && pr.PurchaseID == declined.Purchase.ID
		})
	}
	w.clock.Advance(dsu.AbandonAfter)
	if stuck() {
		t.Fatal("a declined purchase within its day is reported stuck")
	}
	w.clock.Advance(2 * time.Hour)
	if !stuck() {
		t.Fatal("a declined purchase whose PaymentIntent is still payable after 26 hours is not reported")
	}
	pi, _ := w.pay.IntentFor(declined.Purchase.ID)
	w.pay.SetIntentStatus(pi.ID, app.PICanceled, nil)
	if stuck() {
		t.Fatal("a declined purchase whose PaymentIntent was canceled is reported stuck")
	}
}

// A partner who opened checkout with a new card and closed the tab has
// done nothing wrong: the sweep leaves that purchase pending, looking at
// it now and then, until dsu.AbandonAfter, then cancels it. verify does
// not call it a problem meanwhile, or every abandoned checkout of the last
// day drowns the real findings (and dsu-admin exits 1).
func TestVerifyIgnoresAnOrdinaryAbandonedCheckout(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.partner("p1", "")
	pur, _ := r.pendingPurchase(p, "k1") // its PaymentIntent requires_payment_method
	for _, at := range []time.Duration{2 * time.Hour, 5 * time.Hour, 12 * time.Hour, dsu.AbandonAfter - time.Minute} {
		r.clock.Set(pur.CreatedAt.Add(at))
		r.sweep()
		if v, err := r.admin().Verify(ctx, "p1"); err != nil || !v.OK {
			t.Fatalf("an unpaid checkout %v old: %+v %v", at, v.Problems, err)
		}
	}
	r.clock.Set(pur.CreatedAt.Add(dsu.AbandonAfter))
	r.sweep()
	if got := r.purchase("p1", pur.ID); got.Status != dsu.StatusCanceled {
		t.Fatalf("the sweep did not abandon it: %s", got.Status)
	}
	if v, err := r.admin().Verify(ctx, "p1"); err != nil || !v.OK {
		t.Fatalf("after the sweep abandoned it: %+v %v", v.Problems, err)
	}
}

// What the sweep should have finished and did not is stuck: a manual
// purchase the sweep has not looked at an hour after it was due, and one
// still in flight an hour past dsu.AbandonAfter (its payment processing
// for a day). An automatic purchase waiting for the partner to
// authenticate is the sweep's the same way.
func TestVerifyFindsWhatTheSweepShouldHaveFinished(t *testing.T) {
	ctx := context.Background()
	stuck := func(w *world, purchaseID string) bool {
		w.t.Helper()
		v, err := w.admin().Verify(ctx, "p1")
		if err != nil {
			w.t.Fatal(err)
		}
		return slices.ContainsFunc(v.Problems, func(pr app.Problem) bool {
			return pr.Kind == app.ProblemStuckInFlight && pr.PurchaseID == purchaseID
		})
	}

	// No sweep ran: due at 1 h, stuck after 2 h.
	w := newWorld(t)
	pur, _ := w.pendingPurchase(w.partner("p1", ""), "k1", 1)
	if w.clock.Set(pur.CreatedAt.Add(dsu.ReconcileAfter + time.Hour)); stuck(w, pur.ID) {
		t.Error("stuck as soon as the sweep is due")
	}
	if w.clock.Set(pur.CreatedAt.Add(dsu.ReconcileAfter + time.Hour + time.Minute)); !stuck(w, pur.ID) {
		t.Error("the sweep never looked at it, and verify does not say")
	}

	// The sweep looks, but the payment has been processing for a day.
	r := newRefillWorld(t)
	pur, pi := r.pendingPurchase(r.partner("p1", ""), "k1")
	r.pay.SetIntentStatus(pi.ID, app.PIProcessing, nil)
	for _, at := range []time.Duration{time.Hour, 2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour, dsu.AbandonAfter, dsu.AbandonAfter + time.Hour, dsu.AbandonAfter + 2*time.Hour} {
		r.clock.Set(pur.CreatedAt.Add(at))
		r.sweep()
		if got := stuck(r.world, pur.ID); got != (at > dsu.AbandonAfter+time.Hour) {
			t.Errorf("processing for %v: stuck %v", at, got)
		}
	}

	// An automatic purchase waiting for the partner to authenticate is the
	// sweep's too: stuck when no sweep looked an hour past its due look;
	// not while the sweep looks on schedule, up to dsu.AuthenticationWindow,
	// when the sweep gives it up (canceled: no longer in flight).
	r = newRefillWorld(t)
	_, auto := r.refillAwaitingAuthentication("p1")
	if r.clock.Set(auto.CreatedAt.Add(dsu.ReconcileAfter + time.Hour + time.Minute)); !stuck(r.world, auto.ID) {
		t.Error("no sweep looked at a refill waiting for authentication, and verify does not say")
	}
	for at := 2 * time.Hour; at <= dsu.AuthenticationWindow; at += time.Hour {
		r.clock.Set(auto.CreatedAt.Add(at))
		r.sweep()
		if stuck(r.world, auto.ID) {
			t.Fatalf("a refill waiting for authentication, swept on schedule, is stuck at %v", at)
		}
	}
	if got := r.purchase("p1", auto.ID); got.Status != dsu.StatusCanceled {
		t.Errorf("the refill after %v: %s", dsu.AuthenticationWindow, got.Status)
	}
}

// Show never creates a partner and reports the invariant.
func TestShowPartner(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "pm_card")
	w.buy(p, "k1", app.PayWithSavedCard, 1)
	o, err := w.admin().Show(ctx, "p1")
	if err != nil || !o.Invariant.OK || o.Invariant.Balance != 3000 || o.Invariant.LedgerSum != 3000 || len(o.Ledger) != 2 || len(o.Purchases) != 1 {
		t.Fatalf("show: %+v %v", o, err)
	}
	for _, id := range []string{"nobody", "a#b", ""} {
		if _, err := w.admin().Show(ctx, id); dsu.ErrorKind(err) != dsu.KindNotFound {
			t.Errorf("%q: %v", id, err)
		}
	}
}
