package app_test

import (
	"context"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// An automatic purchase waiting for authentication whose first on-session
// attempt fails (3-D Secure closed or failed: Stripe puts the PaymentIntent
// back to requires_payment_method, payment_intent_authentication_failure)
// is failed, but the portal still holds the client secret and may confirm
// again. That second attempt succeeds and its webhook is lost: the sweep,
// which keeps a refill the partner was asked to authenticate, credits it.
func TestSweepCreditsARefillPaidOnASecondAttemptWhoseWebhookWasLost(t *testing.T) {
	r := newRefillWorld(t)
	refill := r.failedAuthentication("p1")
	// The portal confirms again with the same client secret: paid, webhook lost.
	r.pay.SetIntentStatus(refill.PaymentIntentID, app.PISucceeded, nil)
	before := r.balance("p1")
	for range 10 * 24 {
		r.clock.Advance(time.Hour)
		r.sweep()
	}
	if got := r.balance("p1"); got != before+1000 {
		t.Fatalf("balance %d, want %d: a refill Stripe charged was never credited (purchase %s)",
			got, before+1000, r.purchase("p1", refill.ID).Status)
	}
}

// The same failed refill nobody pays: its PaymentIntent, still payable at
// Stripe, is canceled by the sweep within the authentication window.
func TestSweepCancelsAFailedRefillThePartnerWasAskedToAuthenticate(t *testing.T) {
	r := newRefillWorld(t)
	refill := r.failedAuthentication("p1")
	for range 10 * 24 {
		r.clock.Advance(time.Hour)
		r.sweep()
	}
	if pi, _ := r.pay.IntentFor(refill.ID); pi.Status != app.PICanceled {
		t.Fatalf("after 10 days the failed refill's PaymentIntent is still %s at Stripe (payable)", pi.Status)
	}
}

// A refill waits for authentication (plan paused authentication_required).
// The partner saves a new card instead: the plan resumes and the next
// refill charges the new card. The first refill is superseded: it can no
// longer be confirmed, and the sweep cancels its PaymentIntent at its next
// look, so the partner is not charged twice for one balance drop.
func TestARefillSupersededByANewCardCannotBePaidToo(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p, first := r.refillAwaitingAuthentication("p1")
	si := r.confirmCard(r.savedPartner("p1"), "visa", "4242")
	if _, err := r.billing.SaveCard(ctx, r.savedPartner("p1"), si.ID); err != nil {
		t.Fatal(err)
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillActive {
		t.Fatalf("plan %+v", ar)
	}
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	paid := 0
	for _, a := range r.autoPurchases("p1") {
		if a.Status == dsu.StatusSucceeded {
			paid++
		}
	}
	if paid != 1 {
		t.Fatalf("refills %+v", r.autoPurchases("p1"))
	}
	if _, err := r.purchases.Confirm(ctx, p, first.ID); dsu.ErrorKind(err) != dsu.KindConflict {
		pi, _ := r.pay.IntentFor(first.ID)
		t.Fatalf("the superseded refill %s is still confirmable (PaymentIntent %s, %v) after a newer refill was paid: a second charge", first.ID, pi.Status, err)
	}
	r.clock.Advance(dsu.ReconcileAfter)
	r.sweep()
	got := r.purchase("p1", first.ID)
	if pi, _ := r.pay.IntentFor(first.ID); pi.Status != app.PICanceled || got.Status != dsu.StatusCanceled || got.Failure == nil || got.Failure.Code != "abandoned" {
		t.Fatalf("the superseded refill after the sweep: %s %+v, at Stripe %s", got.Status, got.Failure, pi.Status)
	}
}

// A declined manual purchase paid with another card at its 24th hour, the
// sweep's cancel and look racing several deliveries of
// payment_intent.succeeded and the old payment_failed: credited exactly
// once.
func TestFailedPurchasePaidAtItsDayRacingSweepAndWebhooks(t *testing.T) {
	for range 5 {
		r := newRefillWorld(t)
		p := r.partner("p1", "")
		before := r.balance("p1")
		purchase, pi := r.pendingPurchase(p, "k1")
		declined := r.pay.SetIntentStatus(pi.ID, app.PIRequiresPaymentMethod,
			&app.PaymentError{Code: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card was declined."})
		failedEv := piEvent(app.EvPaymentFailed, declined)
		if err := r.webhooks.Handle(context.Background(), failedEv); err != nil {
			t.Fatal(err)
		}
		r.clock.Advance(dsu.AbandonAfter)
		paid := r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 2 {
				if _, err := r.sweeper.Sweep(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
		r.deliver(3, piEvent(app.EvPaymentSucceeded, paid), failedEv)
		<-done
		r.sweep()
		if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusSucceeded || r.balance("p1") != before+1000 {
			t.Fatalf("purchase %s, balance %d", got.Status, r.balance("p1"))
		}
	}
}

// failedAuthentication is partner id's refill waiting for authentication
// after the partner's first on-session attempt failed (3-D Secure failed
// or closed: Stripe puts the PaymentIntent back to requires_payment_method,
// payment_intent_authentication_failure), as its webhook reported: failed.
func (r *refillWorld) failedAuthentication(id string) dsu.Purchase {
	r.t.Helper()
	ctx := context.Background()
	p, refill := r.refillAwaitingAuthentication(id)
	if _, err := r.purchases.Confirm(ctx, p, refill.ID); err != nil {
		r.t.Fatal(err)
	}
	failed := r.pay.SetIntentStatus(refill.PaymentIntentID, app.PIRequiresPaymentMethod,
		&app.PaymentError{Code: "payment_intent_authentication_failure", Message: "We are unable to authenticate your payment method."})
	if err := r.webhooks.Handle(ctx, piEvent(app.EvPaymentFailed, failed)); err != nil {
		r.t.Fatal(err)
	}
	if got := r.purchase(id, refill.ID); got.Status != dsu.StatusFailed || !got.AskedToAuthenticate {
		r.t.Fatalf("after the failed authentication: %+v", got)
	}
	return refill
}

// A refill waits for authentication; the partner enables the plan again
// (same card), and the next refill for the same balance drop needs
// authentication too. The plan waits for the newer refill only: the first
// cannot be confirmed and the sweep cancels it at its next look, while the
// newer one is confirmed, paid and credited (its webhook lost): one
// balance drop, one charge.
func TestARefillSupersededByANewerRefillAwaitingAuthenticationCannotBePaidToo(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p, first := r.refillAwaitingAuthentication("p1")
	before := r.balance("p1")
	if _, err := r.billing.UpdateAutoRefill(ctx, r.savedPartner("p1"), dsu.PlanSettings{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	var second dsu.Purchase
	for _, a := range r.autoPurchases("p1") {
		if a.ID != first.ID {
			second = a
		}
	}
	if acc := r.account("p1"); second.Status != dsu.StatusRequiresAction || !acc.AwaitsAuthentication(second.ID) || acc.AwaitsAuthentication(first.ID) {
		t.Fatalf("second refill %+v, plan %+v", second, acc.AutoRefill)
	}
	if _, err := r.purchases.Confirm(ctx, p, first.ID); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("Confirm of the superseded refill: %v", err)
	}
	if _, err := r.purchases.Confirm(ctx, p, second.ID); err != nil {
		t.Fatalf("Confirm of the refill the plan waits for: %v", err)
	}
	r.clock.Advance(dsu.ReconcileAfter)
	r.sweep()
	if pi, _ := r.pay.IntentFor(first.ID); pi.Status != app.PICanceled || r.purchase("p1", first.ID).Status != dsu.StatusCanceled {
		t.Fatalf("the superseded refill after the sweep: %s, at Stripe %s", r.purchase("p1", first.ID).Status, pi.Status)
	}
	r.pay.SetIntentStatus(second.PaymentIntentID, app.PISucceeded, nil) // authenticated; webhook lost
	r.clock.Advance(dsu.ReconcileAfter)
	r.sweep()
	if got := r.balance("p1"); got != before+1000 || r.purchase("p1", second.ID).Status != dsu.StatusSucceeded {
		t.Fatalf("balance %d, want %d; second refill %s", got, before+1000, r.purchase("p1", second.ID).Status)
	}
}

// A refill whose first on-session attempt failed (3-D Secure failed or
// closed) can be confirmed again while the plan waits for it: a partner
// who reloads the portal retries.
func TestARefillWhoseAuthenticationFailedCanBeConfirmedAgain(t *testing.T) {
	r := newRefillWorld(t)
	refill := r.failedAuthentication("p1")
	if !r.account("p1").AwaitsAuthentication(refill.ID) {
		t.Fatalf("plan %+v", r.account("p1").AutoRefill)
	}
	res, err := r.purchases.Confirm(context.Background(), r.savedPartner("p1"), refill.ID)
	if err != nil || res.ClientSecret == "" {
		t.Fatalf("the plan waits for this refill, but Confirm: %+v %v", res, err)
	}
}
