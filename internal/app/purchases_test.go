package app_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestNewCardPurchaseIsCreditedByTheWebhook(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	res, err := w.buy(p, "k1", app.PayWithNewCard, 3)
	if err != nil {
		t.Fatal(err)
	}
	pur := res.Purchase
	if pur.Status != dsu.StatusPending || pur.Units != 3000 || pur.Amount != (dsu.Money{Amount: 15000, Currency: dsu.USD}) || res.ClientSecret == "" {
		t.Fatalf("result %+v", res)
	}
	pi, ok := w.pay.IntentFor(pur.ID)
	if !ok || pi.ID != pur.PaymentIntentID || pi.Metadata["partner_id"] != "p1" || pi.Metadata["purchase_id"] != pur.ID || pi.Metadata["kind"] != "manual" {
		t.Fatalf("payment intent %+v", pi)
	}
	if got := w.balance("p1"); got != 2000 {
		t.Fatalf("credited before payment: %d", got)
	}
	// The portal confirms with Stripe Elements; Stripe reports success.
	pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
		t.Fatal(err)
	}
	if got := w.balance("p1"); got != 5000 {
		t.Fatalf("balance %d, want 5000", got)
	}
	stored := w.purchase("p1", pur.ID)
	if stored.Status != dsu.StatusSucceeded || stored.CompletedAt == nil {
		t.Fatalf("stored %+v", stored)
	}
	// The partner's currency is now fixed.
	if _, err := w.billing.UpdateContact(context.Background(), w.purchaseOwner("p1"), app.ContactInput{
		Contact: p.Contact, Address: p.Address, Currency: ptr("eur"),
	}); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("currency change after a purchase: %v", err)
	}
}

func (w *world) purchaseOwner(id string) dsu.Partner {
	p, err := w.store.GetPartner(context.Background(), id)
	if err != nil {
		w.t.Fatal(err)
	}
	return p
}

func ptr[T any](v T) *T { return &v }

func TestSavedCardOutcomes(t *testing.T) {
	cases := []struct {
		outcome string
		status  dsu.PurchaseStatus
		secret  bool
		balance int64
		failure string
	}{
		{"succeeded", dsu.StatusSucceeded, false, 4000, ""},
		{"requires_action", dsu.StatusRequiresAction, true, 2000, ""},
		{"insufficient_funds", dsu.StatusFailed, false, 2000, "insufficient_funds"},
		{"lost_card", dsu.StatusFailed, false, 2000, "lost_card"},
	}
	for _, c := range cases {
		t.Run(c.outcome, func(t *testing.T) {
			w := newWorld(t)
			p := w.partner("p1", "pm_card")
			w.pay.outcome["pm_card"] = c.outcome
			res, err := w.buy(p, "k1", app.PayWithSavedCard, 2)
			if err != nil {
				t.Fatal(err)
			}
			if res.Purchase.Status != c.status || (res.ClientSecret != "") != c.secret || res.Purchase.PaymentIntentID == "" {
				t.Fatalf("result %+v", res)
			}
			if c.failure != "" && (res.Purchase.Failure == nil || res.Purchase.Failure.Code != c.failure) {
				t.Fatalf("failure %+v", res.Purchase.Failure)
			}
			// Credited before the response, exactly as stored.
			if got := w.balance("p1"); got != c.balance {
				t.Fatalf("balance %d, want %d", got, c.balance)
			}
			if stored := w.purchase("p1", res.Purchase.ID); stored.Status != c.status {
				t.Fatalf("stored status %s", stored.Status)
			}
			if w.pay.Calls("CreatePaymentIntent") != 1 {
				t.Fatalf("%d PaymentIntents", w.pay.Calls("CreatePaymentIntent"))
			}
		})
	}
}

func TestSavedCardNeedsACard(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	if _, err := w.buy(p, "k1", app.PayWithSavedCard, 1); dsu.ErrorKind(err) != dsu.KindPaymentMethodRequired {
		t.Fatalf("err %v", err)
	}
	if w.pay.Calls("CreatePaymentIntent") != 0 {
		t.Fatal("Stripe was called")
	}
	// The refused request consumed nothing: the key works for a valid body.
	if _, err := w.buy(p, "k1", app.PayWithNewCard, 1); err != nil {
		t.Fatalf("the key of a refused request stays usable: %v", err)
	}
}

func TestIdempotencyKeyReplaysAndRefusesOtherBodies(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	first, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil {
		t.Fatal(err)
	}
	again, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil {
		t.Fatal(err)
	}
	if again.Purchase.ID != first.Purchase.ID || again.Purchase.Status != first.Purchase.Status || again.ClientSecret != first.ClientSecret {
		t.Fatalf("replay %+v, first %+v", again, first)
	}
	if _, err := w.buy(p, "k1", app.PayWithSavedCard, 2); dsu.ErrorKind(err) != dsu.KindIdempotencyKeyReused {
		t.Fatalf("other body: %v", err)
	}
	if got := w.balance("p1"); got != 3000 || w.pay.Calls("CreatePaymentIntent") != 1 {
		t.Fatalf("balance %d, %d charges; want one", got, w.pay.Calls("CreatePaymentIntent"))
	}
	// A replayed new-card purchase gets its client secret again (fetched,
	// never stored).
	res, _ := w.buy(p, "k2", app.PayWithNewCard, 1)
	replay, err := w.buy(p, "k2", app.PayWithNewCard, 1)
	if err != nil || replay.ClientSecret == "" || replay.ClientSecret != res.ClientSecret {
		t.Fatalf("replay %+v %v", replay, err)
	}
}

func TestConcurrentDuplicatesChargeOnce(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			_, err := w.buy(p, "same-key", app.PayWithSavedCard, 1)
			if err != nil && dsu.ErrorKind(err) != dsu.KindRequestInProgress {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := w.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("%d PaymentIntents for one key", n)
	}
	if got := w.balance("p1"); got != 3000 {
		t.Fatalf("balance %d", got)
	}
}

func TestStripeOutageBeforeThePaymentIntentIsRetriedSafely(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	w.pay.failOnce["CreatePaymentIntent"] = errStripeDown
	_, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
		t.Fatalf("err %v, want upstream_unavailable", err)
	}
	list, _, _ := w.store.ListPurchases(context.Background(), "p1", dsu.Page{Limit: 10})
	if len(list) != 1 || list[0].Status != dsu.StatusPending || list[0].PaymentIntentID != "" {
		t.Fatalf("after the outage: %+v", list)
	}
	// The client retries with the same key: the same purchase completes.
	res, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil || res.Purchase.ID != list[0].ID || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("retry %+v %v", res, err)
	}
	if got := w.balance("p1"); got != 3000 {
		t.Fatalf("balance %d", got)
	}
}

// A crash after Stripe created the PaymentIntent but before the database
// knew it: both the retry and the webhook finish it, with one credit.
func TestLostStripeResponseIsCompletedOnce(t *testing.T) {
	for _, order := range []string{"webhook first", "retry first"} {
		t.Run(order, func(t *testing.T) {
			w := newWorld(t)
			p := w.partner("p1", "pm_card")
			w.pay.loseResponse = true
			if _, err := w.buy(p, "k1", app.PayWithSavedCard, 1); dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
				t.Fatalf("err %v", err)
			}
			list, _, _ := w.store.ListPurchases(context.Background(), "p1", dsu.Page{Limit: 10})
			pi, _ := w.pay.IntentFor(list[0].ID)
			if pi.Status != app.PISucceeded {
				t.Fatalf("Stripe charged: %+v", pi)
			}
			webhook := func() {
				if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
					t.Fatal(err)
				}
			}
			retry := func() {
				res, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
				if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
					t.Fatalf("retry %+v %v", res, err)
				}
			}
			if order == "webhook first" {
				webhook()
				retry()
			} else {
				retry()
				webhook()
			}
			if got := w.balance("p1"); got != 3000 {
				t.Fatalf("balance %d, want one credit (3000)", got)
			}
			if len(w.pay.intents) != 1 {
				t.Fatalf("%d PaymentIntents at Stripe; the retry must reuse the first", len(w.pay.intents))
			}
		})
	}
}

// A failure of the database write after Stripe answered: the purchase
// stays pending with the key resumable; the retry finds the same
// PaymentIntent (Stripe's idempotency) and credits once.
func TestDatabaseFailureAfterStripeIsCompletedByTheRetry(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	// The first transaction (claim + purchase) passes; the one after
	// Stripe's answer (the outcome) fails.
	hook := &failAfterStripe{w: w}
	w.purchases.Payments = hook
	_, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err == nil {
		t.Fatal("the injected failure did not surface")
	}
	if !hook.created {
		t.Fatal("Stripe was not called before the failure")
	}
	if got := w.balance("p1"); got != 2000 {
		t.Fatalf("credited despite the failed write: %d", got)
	}
	res, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("retry %+v %v", res, err)
	}
	if got := w.balance("p1"); got != 3000 || len(w.pay.intents) != 1 {
		t.Fatalf("balance %d with %d PaymentIntents", got, len(w.pay.intents))
	}
}

// failAfterStripe lets CreatePaymentIntent succeed at Stripe and then
// makes the next database transaction fail.
type failAfterStripe struct {
	w       *world
	created bool
}

func (f *failAfterStripe) CreatePaymentIntent(ctx context.Context, in app.PaymentIntentRequest) (app.PaymentIntent, error) {
	pi, err := f.w.pay.CreatePaymentIntent(ctx, in)
	if !f.created {
		f.created = true
		f.w.faults.failTransactions.Store(1)
	}
	return pi, err
}

func (f *failAfterStripe) GetPaymentIntent(ctx context.Context, id string) (app.PaymentIntent, error) {
	return f.w.pay.GetPaymentIntent(ctx, id)
}

func (f *failAfterStripe) FindPaymentIntent(ctx context.Context, customerID, purchaseID string, since time.Time) (app.PaymentIntent, bool, error) {
	return f.w.pay.FindPaymentIntent(ctx, customerID, purchaseID, since)
}

func (f *failAfterStripe) GetCharge(ctx context.Context, id string) (app.Charge, error) {
	return f.w.pay.GetCharge(ctx, id)
}

// A purchase resumed near the end of Stripe's 24 h idempotency window: the
// first PaymentIntent is looked up, never a second one created (here
// Stripe has already forgotten the key, so a creation would charge again).
func TestResumeNearStripesKeyWindowNeverChargesTwice(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	w.pay.loseResponse = true
	if _, err := w.buy(p, "k1", app.PayWithSavedCard, 1); err == nil {
		t.Fatal("want the lost answer")
	}
	w.clock.Advance(23*time.Hour + 30*time.Minute)
	w.pay.ForgetKeys()
	res, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("resume: %+v %v", res, err)
	}
	if n := len(w.pay.intents); n != 1 || w.pay.Calls("CreatePaymentIntent") != 1 {
		t.Fatalf("%d PaymentIntents, %d creations for one purchase", n, w.pay.Calls("CreatePaymentIntent"))
	}
	if b := w.balance("p1"); b != 3000 {
		t.Fatalf("balance %d", b)
	}
	// The key's life was fixed by the first claim: 24 h after it, gone.
	w.clock.Advance(31 * time.Minute)
	if _, err := w.store.GetIdempotency(context.Background(), "p1", "k1"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatalf("the key outlived its window: %v", err)
	}
}

// A new-card purchase whose answer was lost and never resumed within the
// window cannot have been paid (the portal never got its client secret):
// it fails as not charged.
func TestUnpaidPurchasePastTheKeyWindowFailsNotCharged(t *testing.T) {
	w := newWorld(t)
	p, _ := w.partners.Ensure(context.Background(), "p-nocustomer")
	w.pay.failOnce["CreatePaymentIntent"] = errStripeDown
	if _, err := w.buy(p, "k1", app.PayWithNewCard, 1); err == nil {
		t.Fatal("want the outage")
	}
	w.clock.Advance(23 * time.Hour)
	res, err := w.buy(p, "k1", app.PayWithNewCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusFailed || res.Purchase.Failure.Code != "not_charged" {
		t.Fatalf("%+v %v", res, err)
	}
	if w.pay.Calls("CreatePaymentIntent") != 1 {
		t.Fatal("Stripe was asked again past the key window")
	}
}

func TestPurchaseRoundTrips(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	// Warm caches as a warm Lambda has them; the partner read is part of
	// the request (the HTTP layer resolves it).
	w.buy(p, "warm", app.PayWithNewCard, 1)
	for _, method := range []string{app.PayWithNewCard, app.PayWithSavedCard} {
		w.api.Reset()
		calls := w.pay.Calls("")
		if _, err := w.partners.Ensure(context.Background(), "p1"); err != nil {
			t.Fatal(err)
		}
		w.catalog.TTL = 0 // count the catalog read too
		if _, err := w.buy(p, "budget-"+method, method, 1); err != nil {
			t.Fatal(err)
		}
		c := w.api.Counts()
		if c.Reads > 3 || c.Writes+c.Transactions > 2 || w.pay.Calls("")-calls != 1 {
			t.Fatalf("%s: %+v and %d Stripe calls; budget 3 reads + 2 writes + 1 Stripe call", method, c, w.pay.Calls("")-calls)
		}
	}
}

func TestPurchasesAreThePartnersOwn(t *testing.T) {
	w := newWorld(t)
	p1 := w.partner("p1", "")
	p2 := w.partner("p2", "")
	res, _ := w.buy(p1, "k1", app.PayWithNewCard, 1)
	if _, err := w.purchases.Get(context.Background(), p2, res.Purchase.ID); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatalf("p2 read p1's purchase: %v", err)
	}
	if _, err := w.purchases.Confirm(context.Background(), p2, res.Purchase.ID); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatalf("p2 confirmed p1's purchase: %v", err)
	}
	list, _, _ := w.purchases.List(context.Background(), p2, dsu.Page{Limit: 10})
	if len(list) != 0 {
		t.Fatalf("p2 lists %d purchases", len(list))
	}
	// Same key, other partner: independent.
	if r2, err := w.buy(p2, "k1", app.PayWithNewCard, 1); err != nil || r2.Purchase.ID == res.Purchase.ID {
		t.Fatalf("p2 with p1's key: %+v %v", r2, err)
	}
}

func TestPricingValidation(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	cases := map[string][]dsu.PurchaseLine{
		"empty":          {},
		"zero":           {{PackageID: "dsu-1000", Quantity: 0}},
		"negative":       {{PackageID: "dsu-1000", Quantity: -1}},
		"too many":       {{PackageID: "dsu-1000", Quantity: 101}},
		"duplicate line": {{PackageID: "dsu-1000", Quantity: 1}, {PackageID: "dsu-1000", Quantity: 2}},
		"unknown":        {{PackageID: "dsu-7", Quantity: 1}},
		"eleven lines":   make([]dsu.PurchaseLine, 11),
	}
	for name, lines := range cases {
		_, err := w.purchases.Create(context.Background(), p, app.CreatePurchaseInput{IdempotencyKey: name, Fingerprint: name, Lines: lines, PaymentMethod: "new"})
		if dsu.ErrorKind(err) != dsu.KindInvalid {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := w.purchases.Create(context.Background(), p, app.CreatePurchaseInput{IdempotencyKey: "m", Fingerprint: "m", Lines: []dsu.PurchaseLine{{PackageID: "dsu-1000", Quantity: 1}}, PaymentMethod: "cash"}); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Errorf("payment method: %v", err)
	}
	if w.pay.Calls("CreatePaymentIntent") != 0 {
		t.Fatal("an invalid purchase reached Stripe")
	}
	// Several packages priced by the server in the partner's currency.
	res, err := w.purchases.Create(context.Background(), p, app.CreatePurchaseInput{IdempotencyKey: "ok", Fingerprint: "ok", PaymentMethod: "new",
		Lines: []dsu.PurchaseLine{{PackageID: "dsu-5000", Quantity: 2}, {PackageID: "dsu-100000", Quantity: 1}}})
	if err != nil || res.Purchase.Amount.Amount != 2*23750+375000 || res.Purchase.Units != 110000 || len(res.Purchase.Items) != 2 {
		t.Fatalf("%+v %v", res.Purchase, err)
	}
}

func TestConfirmReturnsTheClientSecretOnlyWhenActionIsNeeded(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_3ds")
	w.pay.outcome["pm_3ds"] = "requires_action"
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 1)
	got, err := w.purchases.Confirm(context.Background(), p, res.Purchase.ID)
	if err != nil || got.ClientSecret == "" {
		t.Fatalf("confirm %+v %v", got, err)
	}
	w.pay.outcome["pm_3ds"] = "succeeded"
	paid, _ := w.buy(p, "k2", app.PayWithSavedCard, 1)
	if _, err := w.purchases.Confirm(context.Background(), p, paid.Purchase.ID); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("confirm of a paid purchase: %v", err)
	}
}

// The same key and body get the first answer even after the catalog or
// the saved card changed.
func TestReplaySurvivesACardRemoval(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	first, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil {
		t.Fatal(err)
	}
	p, _ = w.store.GetPartner(context.Background(), "p1")
	if _, err := w.billing.DeleteCard(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	p, _ = w.store.GetPartner(context.Background(), "p1")
	again, err := w.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil || again.Purchase.ID != first.Purchase.ID {
		t.Fatalf("replay after the card's removal: %+v %v", again, err)
	}
	if _, err := w.buy(p, "k2", app.PayWithSavedCard, 1); dsu.ErrorKind(err) != dsu.KindPaymentMethodRequired {
		t.Fatalf("a new request without a card: %v", err)
	}
}

// A saved-card purchase charged at Stripe whose answer was lost, resumed
// with the same Idempotency-Key after the partner replaced the card: the
// retry's new card under the same Stripe key is refused (idempotency_error);
// the first PaymentIntent is looked up and recorded, and the retry answers
// with the paid purchase, credited once.
func TestResumeAfterTheCardChangedFindsTheFirstPayment(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.partner("p1", "pm_old")
	before := r.balance("p1")
	r.pay.loseResponse = true
	if _, err := r.buy(p, "k1", app.PayWithSavedCard, 1); err == nil {
		t.Fatal("want the lost answer")
	}
	si := r.confirmCard(p, "visa", "1881")
	if _, err := r.billing.SaveCard(ctx, p, si.ID); err != nil {
		t.Fatal(err)
	}
	p = r.savedPartner("p1")
	res, err := r.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("resume: %+v %v", res.Purchase, err)
	}
	pi, _ := r.pay.IntentFor(res.Purchase.ID)
	if res.Purchase.PaymentIntentID != pi.ID || pi.PaymentMethodID != "pm_old" || len(r.pay.intents) != 1 {
		t.Fatalf("purchase %+v, PaymentIntent %+v, %d PaymentIntents", res.Purchase, pi, len(r.pay.intents))
	}
	if b := r.balance("p1"); b != before+1000 {
		t.Fatalf("balance %d, want %d", b, before+1000)
	}
}
