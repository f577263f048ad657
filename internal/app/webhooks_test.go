package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
)

// pendingPurchase is a new-card purchase of n dsu-1000 packages whose
// payment Stripe has not reported yet.
func (w *world) pendingPurchase(p dsu.Partner, key string, n int64) (dsu.Purchase, app.PaymentIntent) {
	w.t.Helper()
	res, err := w.buy(p, key, app.PayWithNewCard, n)
	if err != nil {
		w.t.Fatal(err)
	}
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	return res.Purchase, pi
}

func TestSucceededDeliveredManyTimesCreditsOnce(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	pur, pi := w.pendingPurchase(p, "k1", 2)
	pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	ev := piEvent(app.EvPaymentSucceeded, pi)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if err := w.webhooks.Handle(context.Background(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// Stripe may also send the same outcome under another event id.
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
		t.Fatal(err)
	}
	if got := w.balance("p1"); got != 4000 {
		t.Fatalf("balance %d, want 2000 + 2000 once", got)
	}
	if st := w.purchase("p1", pur.ID).Status; st != dsu.StatusSucceeded {
		t.Fatalf("status %s", st)
	}
}

// Every order of succeeded, payment_failed and a full refund ends with the
// purchase paid and refunded, and the balance back where it started: a
// late failure never undoes a payment, and a refund that arrives before
// the payment waits (Stripe retries) instead of being lost.
func TestOutcomesInEveryOrder(t *testing.T) {
	orders := [][]string{
		{"succeeded", "failed", "refunded"}, {"succeeded", "refunded", "failed"},
		{"failed", "succeeded", "refunded"}, {"failed", "refunded", "succeeded"},
		{"refunded", "succeeded", "failed"}, {"refunded", "failed", "succeeded"},
	}
	for _, order := range orders {
		t.Run(fmt.Sprint(order), func(t *testing.T) {
			w := newWorld(t)
			p := w.partner("p1", "")
			pur, pi := w.pendingPurchase(p, "k1", 1)
			succeeded := w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
			failed := pi
			failed.Status, failed.LastError = app.PIRequiresPaymentMethod, &app.PaymentError{Code: "card_declined", DeclineCode: "insufficient_funds"}
			w.pay.Refund(pi.ID, pur.Amount.Amount)
			deliveries := map[string]app.WebhookEvent{
				"succeeded": piEvent(app.EvPaymentSucceeded, succeeded),
				"failed":    piEvent(app.EvPaymentFailed, failed),
				"refunded":  refundEvent(succeeded, pur.Amount.Amount, pur.Amount.Amount),
			}
			var retry []app.WebhookEvent
			for _, name := range order {
				if err := w.webhooks.Handle(context.Background(), deliveries[name]); err != nil {
					if dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
						t.Fatalf("%s: %v", name, err)
					}
					retry = append(retry, deliveries[name]) // Stripe retries 5xx deliveries
				}
			}
			for _, ev := range retry {
				if err := w.webhooks.Handle(context.Background(), ev); err != nil {
					t.Fatalf("retried %s: %v", ev.Type, err)
				}
			}
			got := w.purchase("p1", pur.ID)
			if got.Status != dsu.StatusRefunded || got.RefundedUnits != 1000 {
				t.Fatalf("purchase %+v", got)
			}
			if b := w.balance("p1"); b != 2000 {
				t.Fatalf("balance %d, want 2000 (credited, then refunded)", b)
			}
		})
	}
}

func TestFailedThenSucceededCredits(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	pur, pi := w.pendingPurchase(p, "k1", 1)
	failed := pi
	failed.LastError = &app.PaymentError{Code: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card has insufficient funds."}
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentFailed, failed)); err != nil {
		t.Fatal(err)
	}
	got := w.purchase("p1", pur.ID)
	if got.Status != dsu.StatusFailed || got.Failure == nil || got.Failure.Code != "insufficient_funds" || got.Failure.Message == "" {
		t.Fatalf("after the failure %+v", got)
	}
	// The partner retries in the portal with another card; Stripe reports success.
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil))); err != nil {
		t.Fatal(err)
	}
	if got := w.purchase("p1", pur.ID); got.Status != dsu.StatusSucceeded || w.balance("p1") != 3000 {
		t.Fatalf("after success %+v, balance %d", got, w.balance("p1"))
	}
}

// (Another PaymentIntent of the same purchase is a second payment:
// TestSecondPaymentWhileTheFirstIsOpen.)
func TestMismatchedPaymentCreditsNothing(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	other := w.partner("p2", "")
	pur, pi := w.pendingPurchase(p, "k1", 1)
	pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	tampered := map[string]func(app.PaymentIntent) app.PaymentIntent{
		"amount":   func(x app.PaymentIntent) app.PaymentIntent { x.Amount.Amount--; return x },
		"currency": func(x app.PaymentIntent) app.PaymentIntent { x.Amount.Currency = dsu.EUR; return x },
		"partner": func(x app.PaymentIntent) app.PaymentIntent {
			x.Metadata = map[string]string{"partner_id": other.ID, "purchase_id": pur.ID}
			return x
		},
		"unknown purchase": func(x app.PaymentIntent) app.PaymentIntent {
			x.Metadata = map[string]string{"partner_id": "p1", "purchase_id": "pur_nope"}
			return x
		},
	}
	for name, tamper := range tampered {
		if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, tamper(pi))); err != nil {
			t.Fatalf("%s: a permanent mismatch must be acknowledged (200), got %v", name, err)
		}
		if b := w.balance("p1"); b != 2000 {
			t.Fatalf("%s: credited %d", name, b-2000)
		}
		if b := w.balance("p2"); b != 2000 {
			t.Fatalf("%s: p2 credited", name)
		}
	}
	if st := w.purchase("p1", pur.ID).Status; st != dsu.StatusPending {
		t.Fatalf("status %s", st)
	}
}

func TestWebhookCreditRoundTrips(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	_, pi := w.pendingPurchase(p, "k1", 1)
	pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	w.api.Reset()
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
		t.Fatal(err)
	}
	if c := w.api.Counts(); c.Reads > 2 || c.Transactions != 1 || c.Writes != 0 {
		t.Fatalf("webhook credit cost %+v; budget 2 reads + 1 transaction", c)
	}
}

func TestPartialRefundsDebitTheirShareOnce(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 3) // 3000 DSUs for 15000
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	if w.balance("p1") != 5000 {
		t.Fatal("not credited")
	}
	w.pay.Refund(pi.ID, 5001) // a third and a cent: 1000.2 DSUs → 1001
	ev := refundEvent(pi, 15000, 5001)
	for range 3 {
		if err := w.webhooks.Handle(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	got := w.purchase("p1", res.Purchase.ID)
	if got.Status != dsu.StatusPartiallyRefunded || got.RefundedUnits != 1001 || w.balance("p1") != 5000-1001 {
		t.Fatalf("after a partial refund: %+v balance %d", got, w.balance("p1"))
	}
	// A second refund for the rest, delivered under a new event.
	w.pay.Refund(pi.ID, 15000-5001)
	if err := w.webhooks.Handle(context.Background(), refundEvent(pi, 15000, 15000)); err != nil {
		t.Fatal(err)
	}
	got = w.purchase("p1", res.Purchase.ID)
	if got.Status != dsu.StatusRefunded || got.RefundedUnits != 3000 || w.balance("p1") != 2000 {
		t.Fatalf("after the full refund: %+v balance %d", got, w.balance("p1"))
	}
	entries, _ := w.store.AllLedgerEntries(context.Background(), "p1")
	refunds := 0
	for _, e := range entries {
		if e.Type == dsu.EntryRefund {
			refunds++
		}
	}
	if refunds != 2 {
		t.Fatalf("%d refund entries, want one per refund id", refunds)
	}
	w.checkUnits(w.recorded(), "p1")
}

func TestDisputes(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	w.store.ChangeAccount(context.Background(), "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", MonthlyLimit: 5}
		return dsu.PlanChange{}, nil
	})
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 2)
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	dispute := &app.Dispute{ID: "dp_1", ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "needs_response", Amount: 10000, Currency: dsu.USD}
	created := app.WebhookEvent{ID: "evt_dp_created", Type: app.EvDisputeCreated, Dispute: dispute}
	if err := w.webhooks.Handle(context.Background(), created); err != nil {
		t.Fatal(err)
	}
	acc, _ := w.store.GetAccount(context.Background(), "p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedDispute {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	if w.purchase("p1", res.Purchase.ID).Status != dsu.StatusDisputed || w.balance("p1") != 4000 {
		t.Fatal("a dispute alone debits nothing and marks the purchase disputed")
	}
	lost := *dispute
	lost.Status = "lost"
	for _, id := range []string{"evt_dp_lost", "evt_dp_lost_again"} {
		if err := w.webhooks.Handle(context.Background(), app.WebhookEvent{ID: id, Type: app.EvDisputeClosed, Dispute: &lost}); err != nil {
			t.Fatal(err)
		}
	}
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d after a lost dispute, want the 2000 DSUs debited once", b)
	}
	if len(w.events.Of(app.EventAutoRefillPaused)) == 0 {
		t.Error("no paused event for the dispute")
	}
}

func TestRefundBeforeThePaymentWaitsForStripesRetry(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	pur, pi := w.pendingPurchase(p, "k1", 1)
	w.pay.Refund(pi.ID, pur.Amount.Amount)
	err := w.webhooks.Handle(context.Background(), refundEvent(pi, pur.Amount.Amount, pur.Amount.Amount))
	if dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
		t.Fatalf("refund before payment: %v; want a transient error so Stripe retries", err)
	}
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d", b)
	}
}

func TestStorageOutageIsTransient(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	_, pi := w.pendingPurchase(p, "k1", 1)
	pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	w.faults.failTransactions.Store(100)
	err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi))
	if dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
		t.Fatalf("err %v; a storage failure must be a 5xx so Stripe retries", err)
	}
	w.faults.failTransactions.Store(0)
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
		t.Fatal(err)
	}
	if b := w.balance("p1"); b != 3000 {
		t.Fatalf("balance %d", b)
	}
}

// An event type this system does not handle is acknowledged (nil: Stripe
// gets 200 and stops sending it) without touching anything, even when it
// names a real pending purchase, and without an error logged: Handle also
// answers nil for a permanent failure it logs, so nil alone would not show
// that nothing failed.
func TestUnknownEventsAreAcknowledged(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	_, pi := w.pendingPurchase(p, "k1", 1)
	var logged bytes.Buffer
	w.webhooks.Log = slog.New(slog.NewJSONHandler(&logged, &slog.HandlerOptions{Level: slog.LevelDebug}))
	w.api.Reset()
	w.events.mu.Lock()
	published := len(w.events.all)
	w.events.mu.Unlock()

	for _, ev := range []app.WebhookEvent{
		{ID: "evt_customer", Type: "customer.created"},
		{ID: "evt_invoice", Type: "invoice.paid"},
		piEvent("payment_intent.created", pi),
		piEvent("payment_intent.processing", pi),
	} {
		if err := w.webhooks.Handle(context.Background(), ev); err != nil {
			t.Errorf("%s: %v", ev.Type, err)
		}
	}

	if c := w.api.Counts(); c.Writes != 0 || c.Transactions != 0 {
		t.Errorf("unknown events wrote to the table: %+v", c)
	}
	w.events.mu.Lock()
	if n := len(w.events.all) - published; n != 0 {
		t.Errorf("unknown events published %d domain events", n)
	}
	w.events.mu.Unlock()
	for dec := json.NewDecoder(&logged); dec.More(); {
		var line struct {
			Level slog.Level `json:"level"`
			Msg   string     `json:"msg"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("log line: %v", err)
		}
		if line.Level >= slog.LevelWarn {
			t.Errorf("logged %s %q: %s", line.Level, line.Msg, logged.String())
		}
	}
}

func TestRequiresActionAndCanceled(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	pur, pi := w.pendingPurchase(p, "k1", 1)
	pi = w.pay.SetIntentStatus(pi.ID, app.PIRequiresAction, nil)
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentRequiresAction, pi)); err != nil {
		t.Fatal(err)
	}
	if st := w.purchase("p1", pur.ID).Status; st != dsu.StatusRequiresAction {
		t.Fatalf("status %s", st)
	}
	canceled := pi
	canceled.Status = app.PICanceled
	if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentCanceled, canceled)); err != nil {
		t.Fatal(err)
	}
	// A late requires_action never moves it back.
	w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentRequiresAction, pi))
	if st := w.purchase("p1", pur.ID).Status; st != dsu.StatusCanceled {
		t.Fatalf("status %s", st)
	}
}

// An inquiry closed by a full refund (Stripe's own advice for inquiries):
// the refund debits the DSUs although the purchase is disputed.
func TestRefundOfADisputedPurchaseIsDebited(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 2) // 2000 DSUs for 10000
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	inquiry := &app.Dispute{ID: "dp_1", ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "warning_needs_response", Amount: 10000, Currency: dsu.USD}
	if err := w.webhooks.Handle(context.Background(), app.WebhookEvent{ID: "evt_dp", Type: app.EvDisputeCreated, Dispute: inquiry}); err != nil {
		t.Fatal(err)
	}
	w.pay.Refund(pi.ID, 10000)
	if err := w.webhooks.Handle(context.Background(), refundEvent(pi, 10000, 10000)); err != nil {
		t.Fatal(err)
	}
	closed := *inquiry
	closed.Status = "warning_closed"
	if err := w.webhooks.Handle(context.Background(), app.WebhookEvent{ID: "evt_dp_closed", Type: app.EvDisputeClosed, Dispute: &closed}); err != nil {
		t.Fatal(err)
	}
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d after a full refund of the 2000-DSU purchase; want 2000", b)
	}
	// Lost after all: nothing more to take.
	lost := *inquiry
	lost.Status = "lost"
	w.webhooks.Handle(context.Background(), app.WebhookEvent{ID: "evt_dp_lost", Type: app.EvDisputeClosed, Dispute: &lost})
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d: a lost dispute took refunded DSUs again", b)
	}
}

// A dispute of a purchase refunded in full is acknowledged (never a 5xx
// for a permanent condition) and still pauses the plan.
func TestDisputeOfARefundedPurchase(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	w.store.ChangeAccount(context.Background(), "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", MonthlyLimit: 5}
		return dsu.PlanChange{}, nil
	})
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 1)
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	w.pay.Refund(pi.ID, res.Purchase.Amount.Amount)
	if err := w.webhooks.Handle(context.Background(), refundEvent(pi, res.Purchase.Amount.Amount, res.Purchase.Amount.Amount)); err != nil {
		t.Fatal(err)
	}
	d := &app.Dispute{ID: "dp_1", ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "needs_response", Amount: res.Purchase.Amount.Amount, Currency: dsu.USD}
	for i := range 3 {
		if err := w.webhooks.Handle(context.Background(), app.WebhookEvent{ID: "evt_dp", Type: app.EvDisputeCreated, Dispute: d}); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	if st := w.purchase("p1", res.Purchase.ID).Status; st != dsu.StatusRefunded {
		t.Fatalf("status %s", st)
	}
	if acc, _ := w.store.GetAccount(context.Background(), "p1"); acc.AutoRefill.PausedReason != dsu.PausedDispute {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d", b)
	}
}

// interleavingStore runs hook once, right after the dispute handler read
// the purchase: another event's write lands in between.
type interleavingStore struct {
	*dynamo.Store
	hook func()
}

func (s *interleavingStore) PurchaseByPaymentIntent(ctx context.Context, pi string) (dsu.Purchase, error) {
	p, err := s.Store.PurchaseByPaymentIntent(ctx, pi)
	if h := s.hook; h != nil {
		s.hook = nil
		h()
	}
	return p, err
}

func TestDisputeNeverOverwritesAConcurrentRefund(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 2) // balance 4000
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	w.pay.Refund(pi.ID, 5000)
	st := &interleavingStore{Store: w.store}
	st.hook = func() {
		if err := w.webhooks.Handle(context.Background(), refundEvent(pi, 10000, 5000)); err != nil {
			t.Fatal(err)
		}
	}
	racing := *w.webhooks
	racing.Store = st
	d := &app.Dispute{ID: "dp_1", ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "needs_response", Amount: 5000, Currency: dsu.USD}
	if err := racing.Handle(context.Background(), app.WebhookEvent{ID: "evt_dp", Type: app.EvDisputeCreated, Dispute: d}); err != nil {
		t.Fatal(err)
	}
	lost := *d
	lost.Status = "lost"
	if err := w.webhooks.Handle(context.Background(), app.WebhookEvent{ID: "evt_dp_lost", Type: app.EvDisputeClosed, Dispute: &lost}); err != nil {
		t.Fatal(err)
	}
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d, want 2000: refunded DSUs debited twice", b)
	}
}
