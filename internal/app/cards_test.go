package app_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// Cards (RULES.md, "Cards"): the newest SetupIntent's card is the one
// charged, replaced cards are detached even when Stripe fails at first,
// and an expired card is never charged.

// confirmCard is the portal's card flow up to Stripe Elements: a
// SetupIntent for the partner's customer, confirmed with a new card.
func (r *refillWorld) confirmCard(p dsu.Partner, brand, last4 string) app.SetupIntent {
	r.t.Helper()
	setup, err := r.billing.StartCardSetup(context.Background(), p)
	if err != nil {
		r.t.Fatal(err)
	}
	return r.pay.ConfirmSetup(setup.SetupIntentID, brand, last4)
}

func (r *refillWorld) setupSucceeded(si app.SetupIntent) error {
	return r.webhooks.Handle(context.Background(), app.WebhookEvent{ID: "evt_" + si.ID, Type: app.EvSetupSucceeded, SetupIntent: &si})
}

func (r *refillWorld) savedPartner(id string) dsu.Partner {
	r.t.Helper()
	p, err := r.store.GetPartner(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *refillWorld) sweep() app.SweepResult {
	r.t.Helper()
	res, err := r.sweeper.Sweep(context.Background())
	if err != nil || res.Failed != 0 {
		r.t.Fatalf("sweep: %+v %v", res, err)
	}
	return res
}

// The partner confirms card A but does not keep it, then saves card B. A's
// setup_intent.succeeded arrives late, and again (Stripe retries): B stays,
// nothing is detached or made default, and the next refill charges B.
func TestLateSetupIntentNeverReplacesANewerCard(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.partner("p1", "")
	siA := r.confirmCard(p, "visa", "1111")
	siB := r.confirmCard(p, "mastercard", "4444")
	if _, err := r.billing.SaveCard(ctx, p, siB.ID); err != nil {
		t.Fatal(err)
	}
	p = r.savedPartner("p1")
	if _, err := r.billing.UpdateAutoRefill(ctx, p, dsu.PlanSettings{Enabled: true, PackageID: ptr("dsu-1000"), Threshold: ptr[int64](0), MonthlyLimit: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	defaults, version := r.pay.Calls("SetDefaultPaymentMethod"), r.savedPartner("p1").Version

	for range 3 {
		if err := r.setupSucceeded(siA); err != nil {
			t.Fatal(err)
		}
	}
	// The portal sending A's SetupIntent late: refused the same way.
	if _, err := r.billing.SaveCard(ctx, r.savedPartner("p1"), siA.ID); !dsu.IsKind(err, dsu.KindConflict) {
		t.Fatalf("PUT with the older SetupIntent: %v", err)
	}

	saved := r.savedPartner("p1")
	if saved.Card == nil || saved.Card.PaymentMethodID != siB.PaymentMethodID || saved.Version != version {
		t.Fatalf("the card is %+v (version %d → %d), want B unchanged", saved.Card, version, saved.Version)
	}
	if n := r.pay.Calls("DetachPaymentMethod"); n != 0 {
		t.Fatalf("%d detaches", n)
	}
	r.pay.mu.Lock()
	def, bAttached := r.pay.defaults[siB.CustomerID], r.pay.paymentMethods[siB.PaymentMethodID].CustomerID != ""
	r.pay.mu.Unlock()
	if r.pay.Calls("SetDefaultPaymentMethod") != defaults || def != siB.PaymentMethodID || !bAttached {
		t.Fatalf("Stripe's default is %s (B %s, attached %v)", def, siB.PaymentMethodID, bAttached)
	}
	if acc := r.account("p1"); acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}

	// The balance runs out: the refill charges B.
	r.use("p1", "t", 2000)
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	autos := r.autoPurchases("p1")
	if len(autos) != 1 {
		t.Fatalf("%d refills", len(autos))
	}
	pi, ok := r.pay.IntentFor(autos[0].ID)
	if !ok || pi.PaymentMethodID != siB.PaymentMethodID || pi.Status != app.PISucceeded {
		t.Fatalf("the refill charged %s (%s), want B %s", pi.PaymentMethodID, pi.Status, siB.PaymentMethodID)
	}

	// A newer SetupIntent still replaces B, and only then is B detached.
	siC := r.confirmCard(r.savedPartner("p1"), "visa", "1881")
	if err := r.setupSucceeded(siC); err != nil {
		t.Fatal(err)
	}
	if c := r.savedPartner("p1").Card; c == nil || c.PaymentMethodID != siC.PaymentMethodID || r.paymentMethod(siB.PaymentMethodID).CustomerID != "" {
		t.Fatalf("a newer card did not replace B: %+v", c)
	}
}

func (r *refillWorld) paymentMethod(id string) app.PaymentMethod {
	r.pay.mu.Lock()
	defer r.pay.mu.Unlock()
	return r.pay.paymentMethods[id]
}

// A replaced card whose detach fails stays on the billing record, is never
// saved again, and is detached by the sweep once its retry is due (or by
// the next card event).
func TestReplacedCardIsDetachedLaterAndNeverSavedAgain(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.partner("p1", "")
	siA := r.confirmCard(p, "visa", "1111")
	if err := r.setupSucceeded(siA); err != nil {
		t.Fatal(err)
	}
	siB := r.confirmCard(p, "mastercard", "4444")
	r.pay.mu.Lock()
	r.pay.failOnce["DetachPaymentMethod"] = errStripeDown
	r.pay.mu.Unlock()
	if _, err := r.billing.SaveCard(ctx, r.savedPartner("p1"), siB.ID); err != nil {
		t.Fatalf("a failed detach must not fail saving the new card: %v", err)
	}
	saved := r.savedPartner("p1")
	if saved.Card.PaymentMethodID != siB.PaymentMethodID || !slices.Equal(saved.ReplacedCards, []string{siA.PaymentMethodID}) {
		t.Fatalf("card %+v, replaced %v", saved.Card, saved.ReplacedCards)
	}
	if r.paymentMethod(siA.PaymentMethodID).CustomerID == "" {
		t.Fatal("the fake detached A although the detach failed")
	}

	// A SetupIntent that brings A back (created after B's, even) is refused.
	siLater := r.confirmCard(saved, "visa", "1111")
	r.pay.mu.Lock()
	si := r.pay.setupIntents[siLater.ID]
	si.PaymentMethodID = siA.PaymentMethodID
	r.pay.setupIntents[si.ID] = si
	r.pay.mu.Unlock()
	if _, err := r.billing.SaveCard(ctx, saved, si.ID); !dsu.IsKind(err, dsu.KindConflict) {
		t.Fatalf("the replaced card was saved again: %v", err)
	}
	if err := r.setupSucceeded(siA); err != nil {
		t.Fatal(err)
	}
	if c := r.savedPartner("p1").Card; c.PaymentMethodID != siB.PaymentMethodID {
		t.Fatalf("card %+v, want B", c)
	}

	// Not due before the retry delay; then the sweep detaches A, once.
	detaches := r.pay.Calls("DetachPaymentMethod")
	if res := r.sweep(); res.Cards != 0 || r.pay.Calls("DetachPaymentMethod") != detaches {
		t.Fatalf("swept before the retry was due: %+v", res)
	}
	r.clock.Advance(dsu.DetachRetryDelay)
	if res := r.sweep(); res.Cards != 1 {
		t.Fatalf("sweep %+v", res)
	}
	if r.paymentMethod(siA.PaymentMethodID).CustomerID != "" || len(r.savedPartner("p1").ReplacedCards) != 0 {
		t.Fatalf("A still attached or remembered: %v", r.savedPartner("p1").ReplacedCards)
	}
	if res := r.sweep(); res.Cards != 0 {
		t.Fatalf("the record stayed due: %+v", res)
	}
	if c := r.savedPartner("p1").Card; c.PaymentMethodID != siB.PaymentMethodID {
		t.Fatalf("card %+v, want B", c)
	}

	// The next card event retries too: a failed detach, then
	// payment_method.automatically_updated of the saved card.
	siC := r.confirmCard(r.savedPartner("p1"), "amex", "0005")
	r.pay.mu.Lock()
	r.pay.failOnce["DetachPaymentMethod"] = errStripeDown
	r.pay.mu.Unlock()
	if err := r.setupSucceeded(siC); err != nil {
		t.Fatal(err)
	}
	if replaced := r.savedPartner("p1").ReplacedCards; !slices.Equal(replaced, []string{siB.PaymentMethodID}) {
		t.Fatalf("replaced %v", replaced)
	}
	renewed := r.paymentMethod(siC.PaymentMethodID)
	if err := r.webhooks.Handle(ctx, app.WebhookEvent{ID: "evt_renew", Type: app.EvPaymentMethodUpdated, PaymentMethod: &renewed}); err != nil {
		t.Fatal(err)
	}
	if r.paymentMethod(siB.PaymentMethodID).CustomerID != "" || len(r.savedPartner("p1").ReplacedCards) != 0 {
		t.Fatal("the card event did not detach B")
	}

	// Stripe's payment_method.detached of a replaced card settles it too.
	siD := r.confirmCard(r.savedPartner("p1"), "visa", "4242")
	r.pay.mu.Lock()
	r.pay.failOnce["DetachPaymentMethod"] = errStripeDown
	r.pay.mu.Unlock()
	if err := r.setupSucceeded(siD); err != nil {
		t.Fatal(err)
	}
	if err := r.billing.CardDetached(ctx, app.PaymentMethod{ID: siC.PaymentMethodID}, siC.CustomerID); err != nil {
		t.Fatal(err)
	}
	if p := r.savedPartner("p1"); len(p.ReplacedCards) != 0 || p.Card.PaymentMethodID != siD.PaymentMethodID {
		t.Fatalf("after the detach event: replaced %v card %+v", p.ReplacedCards, p.Card)
	}
}

// expiringCard gives the partner's saved card an expiry.
func (r *refillWorld) expiringCard(partnerID string, month, year int) {
	r.t.Helper()
	p := r.savedPartner(partnerID)
	c := *p.Card
	c.ExpMonth, c.ExpYear = month, year
	p.Card = &c
	if _, err := r.store.UpdatePartner(context.Background(), p); err != nil {
		r.t.Fatal(err)
	}
	r.pay.mu.Lock()
	pm := r.pay.paymentMethods[c.PaymentMethodID]
	pm.ExpMonth, pm.ExpYear = month, year
	r.pay.paymentMethods[c.PaymentMethodID] = pm
	r.pay.mu.Unlock()
}

// A card past its last valid day is never charged: the refill pauses the
// plan card_expired before claiming anything, and the sweep announces
// card.expired once.
func TestExpiredCardPausesThePlanBeforeAnyCharge(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.planPartner("p1", "pm_card", 5)
	r.expiringCard("p1", 10, 2026) // worldStart is in November 2026
	r.use("p1", "t", 2000)
	for range 3 {
		if err := r.refiller.Refill(ctx, "p1"); err != nil {
			t.Fatal(err)
		}
	}
	r.sweep()
	r.sweep()
	if n := r.pay.Calls("CreatePaymentIntent"); n != 0 {
		t.Fatalf("%d charges of an expired card", n)
	}
	if len(r.autoPurchases("p1")) != 0 {
		t.Fatal("a refill was claimed")
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillPaused || ar.PausedReason != dsu.PausedCardExpired {
		t.Fatalf("plan %+v", ar)
	}
	if evs := r.events.Of(app.EventAutoRefillPaused); len(evs) != 1 || evs[0].Reason != "card_expired" {
		t.Fatalf("paused events %+v", evs)
	}
	if n := len(r.events.Of(app.EventCardExpired)); n != 1 {
		t.Fatalf("%d card.expired events", n)
	}
	if n := len(r.events.Of(app.EventCardExpiring)); n != 0 {
		t.Fatalf("%d card.expiring events for a card found expired", n)
	}

	// A new card resumes the plan, and the refill charges it.
	si := r.confirmCard(r.savedPartner("p1"), "visa", "1881")
	if err := r.setupSucceeded(si); err != nil {
		t.Fatal(err)
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillActive {
		t.Fatalf("plan after a new card %+v", ar)
	}
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	if autos := r.autoPurchases("p1"); len(autos) != 1 || autos[0].Status != dsu.StatusSucceeded {
		t.Fatalf("refills %+v", autos)
	}
}

// card.expiring 30 days ahead and card.expired at the end, each once, from
// the sweep; BillingInfo says the card expires soon. The issuer's renewal
// (payment_method.automatically_updated) clears both: the plan resumes and
// the announcements are re-armed for the new expiry.
func TestCardExpiryAnnouncementsAndRenewal(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.planPartner("p1", "pm_card", 5)
	r.expiringCard("p1", 12, 2026) // valid until 2027-01-01
	expiresSoon := func() bool {
		t.Helper()
		info, err := r.billing.Info(ctx, r.savedPartner("p1"))
		if err != nil {
			t.Fatal(err)
		}
		return info.CardExpiresSoon
	}
	if res := r.sweep(); res.Cards != 0 || expiresSoon() {
		t.Fatalf("41 days ahead: %+v, expires soon %v", res, expiresSoon())
	}
	r.clock.Set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)) // 30 days before the end
	for range 3 {
		r.sweep()
	}
	if n := len(r.events.Of(app.EventCardExpiring)); n != 1 || !expiresSoon() {
		t.Fatalf("%d card.expiring events, expires soon %v", n, expiresSoon())
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillActive {
		t.Fatalf("an expiring card paused the plan: %+v", ar)
	}
	r.clock.Set(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
	for range 3 {
		r.sweep()
	}
	if n := len(r.events.Of(app.EventCardExpired)); n != 1 {
		t.Fatalf("%d card.expired events", n)
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillPaused || ar.PausedReason != dsu.PausedCardExpired {
		t.Fatalf("plan %+v", ar)
	}
	if evs := r.events.Of(app.EventAutoRefillPaused); len(evs) != 1 {
		t.Fatalf("paused events %+v", evs)
	}

	// The issuer renews the card.
	renewed := r.paymentMethod("pm_card")
	renewed.ExpMonth, renewed.ExpYear = 12, 2029
	for range 2 { // delivered twice
		if err := r.webhooks.Handle(ctx, app.WebhookEvent{ID: "evt_renewed", Type: app.EvPaymentMethodUpdated, PaymentMethod: &renewed}); err != nil {
			t.Fatal(err)
		}
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillActive {
		t.Fatalf("plan after the renewal %+v", ar)
	}
	if expiresSoon() {
		t.Fatal("a renewed card still expires soon")
	}
	p := r.savedPartner("p1")
	if c := p.Card; c.ExpYear != 2029 || c.ExpiringNoticed || c.ExpiredNoticed {
		t.Fatalf("card %+v", c)
	}
	if at, ok := p.CardSweepAt(); !ok || !at.Equal(time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("next card work at %v %v, want 30 days before the new end", at, ok)
	}
	// Re-armed: the new expiry is announced in its time.
	r.clock.Set(time.Date(2029, 12, 2, 0, 0, 0, 0, time.UTC))
	r.sweep()
	if n := len(r.events.Of(app.EventCardExpiring)); n != 2 {
		t.Fatalf("%d card.expiring events after the renewal's", n)
	}
}

// An expired saved card is no card to pay with: enabling the automated plan
// and a saved-card purchase are refused 409 payment_method_required, and
// nothing is sent to Stripe (it would only decline the card, expired_card).
// A new card takes both.
func TestAnExpiredSavedCardIsRefusedBeforeStripe(t *testing.T) {
	r := newRefillWorld(t)
	r.partner("p1", "pm_card")
	r.expiringCard("p1", 10, 2026) // worldStart is in November 2026
	p := r.savedPartner("p1")
	before := r.balance("p1")
	if _, err := r.buy(p, "k1", app.PayWithSavedCard, 1); dsu.ErrorKind(err) != dsu.KindPaymentMethodRequired {
		t.Fatalf("saved-card purchase with an expired card: %v", err)
	}
	_, err := r.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: true, PackageID: ptr("dsu-1000"), Threshold: ptr(int64(500)), MonthlyLimit: ptr(5)})
	if dsu.ErrorKind(err) != dsu.KindPaymentMethodRequired {
		t.Fatalf("enabling the plan with an expired card: %v", err)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 0 {
		t.Fatalf("%d PaymentIntents for an expired card", n)
	}
	if ar := r.account("p1").AutoRefill; ar.Enabled {
		t.Fatalf("plan %+v", ar)
	}
	if list, _, err := r.store.ListPurchases(context.Background(), "p1", dsu.Page{Limit: 10}); err != nil || len(list) != 0 || r.balance("p1") != before {
		t.Fatalf("a refused purchase left something behind: %+v %v", list, err)
	}

	si := r.confirmCard(p, "visa", "1881")
	if err := r.setupSucceeded(si); err != nil {
		t.Fatal(err)
	}
	p = r.savedPartner("p1")
	if res, err := r.buy(p, "k1", app.PayWithSavedCard, 1); err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("the same key with a new card: %+v %v", res.Purchase, err)
	}
	if _, err := r.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: true, PackageID: ptr("dsu-1000"), Threshold: ptr(int64(500)), MonthlyLimit: ptr(5)}); err != nil {
		t.Fatalf("enabling with a new card: %v", err)
	}
}

// GET /v1/billing (and every BillingInfo) says when the saved card expires
// within 30 days or has expired, and shows the card_expired pause.
func TestBillingInfoSaysWhenTheCardExpiresSoon(t *testing.T) {
	r := newBillingRig(t)
	r.saveContact("p1")
	si := r.pay.ConfirmSetup(r.startSetup("p1"), "visa", "4242")
	r.pay.mu.Lock()
	pm := r.pay.paymentMethods[si.PaymentMethodID]
	pm.ExpMonth, pm.ExpYear = 12, 2026 // billingNow is 2026-11-12: 50 days left
	r.pay.paymentMethods[pm.ID] = pm
	r.pay.mu.Unlock()
	info := r.do(billingAdmin("p1"), "PUT /v1/billing/card", `{"setupIntentId":"`+si.ID+`"}`).info(t)
	if info.Card == nil || info.Card.ExpiresSoon {
		t.Fatalf("card %+v, 50 days before its end", info.Card)
	}
	r.enablePlan("p1", 100)
	for _, c := range []struct {
		now  time.Time
		soon bool
	}{
		{time.Date(2026, 12, 1, 23, 59, 0, 0, time.UTC), false},
		{time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), true},
		{time.Date(2027, 1, 2, 0, 0, 0, 0, time.UTC), true},
	} {
		r.clock.Set(c.now)
		if info := r.do(billingReader("p1"), "GET /v1/billing", "").info(t); info.Card.ExpiresSoon != c.soon {
			t.Errorf("at %v: expiresSoon %v, want %v", c.now, info.Card.ExpiresSoon, c.soon)
		}
	}
	if _, _, err := r.store.ChangeAccount(context.Background(), "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		return a.Pause(dsu.PausedCardExpired)
	}); err != nil {
		t.Fatal(err)
	}
	info = r.do(billingReader("p1"), "GET /v1/billing", "").info(t)
	if info.AutoRefill.Status != "paused" || info.AutoRefill.PausedReason == nil || *info.AutoRefill.PausedReason != "card_expired" {
		t.Fatalf("plan %+v", info.AutoRefill)
	}
}

// declinedPlanPartner is a partner whose only card (saved through the
// portal's SetupIntent si) was declined for good by its first automatic
// charge: the plan is paused payment_failed.
func (r *refillWorld) declinedPlanPartner(id string) app.SetupIntent {
	r.t.Helper()
	ctx := context.Background()
	si := r.confirmCard(r.partner(id, ""), "visa", "1111")
	if _, err := r.billing.SaveCard(ctx, r.savedPartner(id), si.ID); err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.billing.UpdateAutoRefill(ctx, r.savedPartner(id), dsu.PlanSettings{Enabled: true, PackageID: ptr("dsu-1000"), Threshold: ptr[int64](0), MonthlyLimit: ptr(5)}); err != nil {
		r.t.Fatal(err)
	}
	r.pay.outcome[si.PaymentMethodID] = "stolen_card"
	r.use(id, "t", 2000)
	if err := r.refiller.Refill(ctx, id); err != nil {
		r.t.Fatal(err)
	}
	if ar := r.account(id).AutoRefill; ar.Status != dsu.AutoRefillPaused || ar.PausedReason != dsu.PausedPaymentFailed {
		r.t.Fatalf("plan after the decline %+v", ar)
	}
	return si
}

// Only the write that saves a card resumes the plan (RULES.md, "Cards").
// Stripe resends setup_intent.succeeded for days after a 5xx, and the
// portal may retry PUT /v1/billing/card with the same SetupIntent: neither
// lifts the pause that this same card's decline (a stolen card) caused, so
// the sweep never charges the declined card again. A genuinely new card
// still resumes the plan, and it is the one charged.
func TestResentCardConfirmationNeverResumesAPlanItsCardPaused(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	si := r.declinedPlanPartner("p1")

	// Stripe retries the setup_intent.succeeded whose first delivery got a 5xx.
	if err := r.setupSucceeded(si); err != nil {
		t.Fatal(err)
	}
	// The portal retries PUT /v1/billing/card with the same SetupIntent.
	info, err := r.billing.SaveCard(ctx, r.savedPartner("p1"), si.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ar := info.Account.AutoRefill; ar.Status != dsu.AutoRefillPaused || ar.PausedReason != dsu.PausedPaymentFailed {
		t.Fatalf("the retried PUT answers plan %+v", ar)
	}
	r.clock.Advance(2 * time.Hour)
	r.sweep()
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("the stolen card was charged %d times; plan %+v", n, r.account("p1").AutoRefill)
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillPaused || ar.PausedReason != dsu.PausedPaymentFailed {
		t.Fatalf("plan %+v, want still paused payment_failed", ar)
	}

	// A new card is the partner's answer: the plan resumes and charges it.
	fresh := r.confirmCard(r.savedPartner("p1"), "mastercard", "4444")
	if err := r.setupSucceeded(fresh); err != nil {
		t.Fatal(err)
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillActive {
		t.Fatalf("plan after a new card %+v", ar)
	}
	r.sweep()
	autos := r.autoPurchases("p1")
	if n := r.pay.Calls("CreatePaymentIntent"); n != 2 || len(autos) != 2 {
		t.Fatalf("%d charges, refills %+v; want the new card charged once", n, autos)
	}
	for _, a := range autos {
		pi, _ := r.pay.IntentFor(a.ID)
		if a.Status == dsu.StatusSucceeded && pi.PaymentMethodID != fresh.PaymentMethodID {
			t.Fatalf("the refill that succeeded charged %s, want the new card %s", pi.PaymentMethodID, fresh.PaymentMethodID)
		}
	}
}

// A resent confirmation of a card that has since expired leaves the plan
// paused card_expired and announces nothing again: one autorefill.paused.
func TestResentCardConfirmationLeavesAnExpiryPause(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	si := r.confirmCard(r.partner("p1", ""), "visa", "1111")
	if err := r.setupSucceeded(si); err != nil {
		t.Fatal(err)
	}
	if _, err := r.billing.UpdateAutoRefill(ctx, r.savedPartner("p1"), dsu.PlanSettings{Enabled: true, PackageID: ptr("dsu-1000"), Threshold: ptr[int64](0), MonthlyLimit: ptr(5)}); err != nil {
		t.Fatal(err)
	}
	r.expiringCard("p1", 10, 2026) // worldStart is in November 2026
	r.sweep()
	for _, tenant := range []string{"a", "b", "c"} {
		if err := r.setupSucceeded(si); err != nil {
			t.Fatal(err)
		}
		r.use("p1", tenant, 1000)
		r.sweep()
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillPaused || ar.PausedReason != dsu.PausedCardExpired {
		t.Fatalf("plan %+v", ar)
	}
	if evs := r.events.Of(app.EventAutoRefillPaused); len(evs) != 1 {
		t.Fatalf("paused events %+v, want one", evs)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 0 {
		t.Fatalf("%d charges of an expired card", n)
	}
}

// Saving a card and resuming the plan it answers are one write: when that
// write fails (a crash, a storage outage), neither happened, and the
// retry (Stripe's redelivery here) saves the card and resumes the plan.
func TestCardSavedAndPlanResumedInOneWrite(t *testing.T) {
	r := newRefillWorld(t)
	r.declinedPlanPartner("p1")
	fresh := r.confirmCard(r.savedPartner("p1"), "mastercard", "4444")

	r.faults.failTransactions.Store(1)
	if err := r.setupSucceeded(fresh); err == nil {
		t.Fatal("the card was saved through a failed write")
	}
	if p := r.savedPartner("p1"); p.Card.PaymentMethodID == fresh.PaymentMethodID {
		t.Fatal("the card is saved although its write failed")
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillPaused {
		t.Fatalf("the plan resumed without its card saved: %+v", ar)
	}

	if err := r.setupSucceeded(fresh); err != nil {
		t.Fatal(err)
	}
	if p := r.savedPartner("p1"); p.Card.PaymentMethodID != fresh.PaymentMethodID {
		t.Fatalf("card %+v after the redelivery", p.Card)
	}
	if ar := r.account("p1").AutoRefill; ar.Status != dsu.AutoRefillActive {
		t.Fatalf("plan after the redelivery %+v", ar)
	}
}
