package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
	"github.com/cirasync/dsubilling/internal/openapitest"
)

// Stripe as it really behaves: refunds that fail after they were pending,
// refunds of automatic purchases, partial disputes and disputes in another
// currency, second payments for a paid purchase, receipts arriving before
// the payment, events of the other mode (RULES.md, "Refunds", "Disputes and
// the dispute hold", "Double payments", "Receipts", "Webhook verification").

// logLines collects JSON log lines written from several goroutines.
type logLines struct{ logtest.Buffer }

func (l *logLines) logger() *slog.Logger { return l.Logger() }

// at returns the messages logged at exactly level.
func (l *logLines) at(t *testing.T, level slog.Level) []string {
	t.Helper()
	var out []string
	for dec := json.NewDecoder(bytes.NewReader(l.Bytes())); dec.More(); {
		var line struct {
			Level slog.Level `json:"level"`
			Msg   string     `json:"msg"`
		}
		if err := dec.Decode(&line); err != nil {
			t.Fatalf("log line: %v", err)
		}
		if line.Level == level {
			out = append(out, line.Msg)
		}
	}
	return out
}

// deliver hands ev to the webhook n times at once, and redelivers each
// delivery answered with a transient error, as Stripe does, until it is
// acknowledged.
func (w *world) deliver(n int, evs ...app.WebhookEvent) {
	w.t.Helper()
	var wg sync.WaitGroup
	for range n {
		for _, ev := range evs {
			wg.Go(func() {
				for attempt := 0; ; attempt++ {
					err := w.webhooks.Handle(context.Background(), ev)
					if err == nil {
						return
					}
					if !app.Transient(err) || attempt == 20 {
						w.t.Errorf("%s: %v", ev.Type, err)
						return
					}
					time.Sleep(time.Duration(attempt+1) * 5 * time.Millisecond)
				}
			})
		}
	}
	wg.Wait()
}

// refundUpdated is a charge.refund.updated event for refund r.
func refundUpdated(r app.Refund) app.WebhookEvent {
	return app.WebhookEvent{ID: fmt.Sprintf("evt_%d", eventSeq.Add(1)), Type: app.EvRefundUpdated, Refund: &r}
}

func (w *world) entries(partnerID string, typ dsu.EntryType) []dsu.Entry {
	w.t.Helper()
	all, err := w.store.AllLedgerEntries(context.Background(), partnerID)
	if err != nil {
		w.t.Fatal(err)
	}
	var out []dsu.Entry
	for _, e := range all {
		if e.Type == typ {
			out = append(out, e)
		}
	}
	return out
}

// A refund Stripe reported pending, then failed, each report delivered 3
// times at once: the units it debited come back exactly once, and the
// purchase is paid again. Stripe's charge.refunded and a late pending
// report change nothing more.
func TestFailedRefundGivesItsUnitsBackOnce(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 2) // 2,000 DSUs for 100.00
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	before := w.balance("p1")

	refund := w.pay.Refund(pi.ID, 10000)
	pending := refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundPending))
	w.deliver(3, pending)
	if b, st := w.balance("p1"), w.purchase("p1", res.Purchase.ID).Status; b != before-2000 || st != dsu.StatusRefunded {
		t.Fatalf("pending refund: balance %d (want %d), status %s", b, before-2000, st)
	}

	failed := refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundFailed))
	w.deliver(3, failed)
	w.deliver(1, refundEvent(pi, 10000, 10000), pending)

	if b := w.balance("p1"); b != before {
		t.Fatalf("balance %d after the refund failed, want %d", b, before)
	}
	got := w.purchase("p1", res.Purchase.ID)
	if got.Status != dsu.StatusSucceeded || got.RefundedAmount != 0 || got.RefundedUnits != 0 {
		t.Fatalf("purchase after the failed refund: %+v", got)
	}
	reversals := w.entries("p1", dsu.EntryRefundReversal)
	if len(reversals) != 1 || len(w.entries("p1", dsu.EntryRefund)) != 1 {
		t.Fatalf("%d reversals and %d refund entries, want one of each", len(reversals), len(w.entries("p1", dsu.EntryRefund)))
	}
	if e := reversals[0]; e.Units != 2000 || e.Reference != "refund_reversal:"+refund.ID || !strings.Contains(e.Description, refund.ID) {
		t.Fatalf("reversal entry %+v", e)
	}
	w.checkUnits(w.recorded(), "p1")
}

// The same reports all delivered at once, in whatever order they run: the
// partner ends with the units, debited and given back or never debited.
func TestPendingAndFailedRefundReportsRacing(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 3) // 3,000 DSUs for 150.00
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	before := w.balance("p1")
	kept := w.pay.Refund(pi.ID, 5001) // succeeds: 1,001 DSUs stay debited
	refund := w.pay.Refund(pi.ID, 5000)
	pending := refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundPending))
	failed := refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundCanceled))
	w.deliver(3, pending, failed, refundUpdated(w.pay.SetRefundStatus(kept.ID, app.RefundSucceeded)))

	if b := w.balance("p1"); b != before-1001 {
		t.Fatalf("balance %d, want %d: only the succeeded refund stays debited", b, before-1001)
	}
	got := w.purchase("p1", res.Purchase.ID)
	if got.Status != dsu.StatusPartiallyRefunded || got.RefundedAmount != 5001 || got.RefundedUnits != 1001 {
		t.Fatalf("purchase %+v", got)
	}
}

// A refund Stripe reports failed before it was ever debited credits
// nothing, and a late report of it pending debits nothing either.
func TestRefundFailedBeforeItWasDebited(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 1)
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	before := w.balance("p1")
	refund := w.pay.Refund(pi.ID, 5000)
	pending := refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundPending))
	// A charge.refunded rendered while the refund was pending, carrying it
	// (as events of older API versions do), delivered late.
	snapshot := refundEvent(pi, 5000, 5000)
	snapshot.Charge.Refunds, snapshot.Charge.RefundsIncluded = []app.Refund{{ID: refund.ID, Status: app.RefundPending, Amount: 5000}}, true
	w.deliver(1, refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundFailed)))
	w.deliver(1, pending, snapshot, refundEvent(pi, 5000, 5000))
	if b := w.balance("p1"); b != before {
		t.Fatalf("balance %d, want %d", b, before)
	}
	if n := len(w.entries("p1", dsu.EntryRefund)) + len(w.entries("p1", dsu.EntryRefundReversal)); n != 0 {
		t.Fatalf("%d refund entries for a refund that never went through", n)
	}
	if st := w.purchase("p1", res.Purchase.ID).Status; st != dsu.StatusSucceeded {
		t.Fatalf("status %s", st)
	}
}

// Refunding an automatic purchase pauses the plan in the same write as the
// debit: no stream record and no sweep starts a new charge, a new card does
// not resume it, and the partner enabling the plan again does.
func TestRefundOfARefillPausesThePlan(t *testing.T) {
	ctx := context.Background()
	r := newRefillWorld(t)
	p := r.planPartner("p1", "pm_card", 5)
	r.use("p1", "tenant-a", 2100) // 2,000 → -100
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	autos := r.autoPurchases("p1")
	if len(autos) != 1 || autos[0].Status != dsu.StatusSucceeded || r.balance("p1") != 900 {
		t.Fatalf("refill %+v, balance %d", autos, r.balance("p1"))
	}
	pi, _ := r.pay.IntentFor(autos[0].ID)
	r.pay.Refund(pi.ID, autos[0].Amount.Amount)
	r.deliver(1, refundEvent(pi, autos[0].Amount.Amount, autos[0].Amount.Amount))

	if b := r.balance("p1"); b != -100 {
		t.Fatalf("balance %d after the refund, want -100", b)
	}
	acc := r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedRefillRefunded {
		t.Fatalf("plan %+v after the refund of a refill", acc.AutoRefill)
	}
	if ev := r.events.Of(app.EventAutoRefillPaused); len(ev) != 1 || ev[0].Reason != string(dsu.PausedRefillRefunded) {
		t.Fatalf("paused events %+v", ev)
	}
	for i := range 30 {
		batch := events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{r.streamRecord("p1", i)}}
		if resp, err := r.trigger.Stream(ctx, batch); err != nil || len(resp.BatchItemFailures) != 0 {
			t.Fatalf("stream: %+v %v", resp, err)
		}
	}
	for range 2 {
		r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
		if _, err := r.sweeper.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// A new card answers card problems, not a refund.
	setup, err := r.billing.StartCardSetup(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	si := r.pay.ConfirmSetup(setup.SetupIntentID, "mastercard", "4444")
	p, _ = r.store.GetPartner(ctx, "p1")
	if _, err := r.billing.SaveCard(ctx, p, si.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sweeper.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("%d PaymentIntents after the refund, want only the refunded one", n)
	}
	if acc := r.account("p1"); acc.AutoRefill.PausedReason != dsu.PausedRefillRefunded {
		t.Fatalf("plan %+v after a new card", acc.AutoRefill)
	}

	// The partner enables the plan again: it runs.
	p, _ = r.store.GetPartner(ctx, "p1")
	if _, err := r.billing.UpdateAutoRefill(ctx, p, dsu.PlanSettings{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.sweeper.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	if n, b := r.pay.Calls("CreatePaymentIntent"), r.balance("p1"); n != 2 || b != 900 {
		t.Fatalf("after enabling again: %d PaymentIntents, balance %d; want a refill to 900", n, b)
	}
}

// A lost partial dispute debits the disputed share, rounded up; one in
// another currency than the purchase debits nothing, is logged for
// operators, and still pauses the plan.
func TestLostDisputesDebitTheDisputedShare(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	var logs logLines
	w.webhooks.Log = logs.logger()
	activate := func(id string) {
		w.store.ChangeAccount(ctx, id, func(a *dsu.Account) (dsu.PlanChange, error) {
			a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", MonthlyLimit: 5}
			return dsu.PlanChange{}, nil
		})
	}
	dispute := func(id string, pi app.PaymentIntent, amount int64, cur dsu.Currency) {
		d := app.Dispute{ID: id, ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "needs_response", Amount: amount, Currency: cur}
		lost := d
		lost.Status = "lost"
		w.deliver(1, app.WebhookEvent{ID: "evt_" + id, Type: app.EvDisputeCreated, Dispute: &d})
		w.deliver(2, app.WebhookEvent{ID: "evt_" + id + "_lost", Type: app.EvDisputeClosed, Dispute: &lost})
	}

	p1 := w.partner("p1", "pm_card")
	res, _ := w.buy(p1, "k1", app.PayWithSavedCard, 3) // 3,000 DSUs for 150.00
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	before := w.balance("p1")
	dispute("dp_1", pi, 5001, dsu.USD) // a third and a cent: 1,000.2 DSUs
	if b := w.balance("p1"); b != before-1001 {
		t.Fatalf("balance %d, want %d: ⌈3000 × 5001 / 15000⌉ = 1001 debited once", b, before-1001)
	}
	if got := w.purchase("p1", res.Purchase.ID); got.Status != dsu.StatusDisputed || got.DisputeDebitedUnits != 1001 {
		t.Fatalf("purchase %+v", got)
	}
	if n := len(logs.at(t, slog.LevelError)); n != 0 {
		t.Fatalf("errors logged for a dispute in the purchase's currency: %v", logs.at(t, slog.LevelError))
	}

	w.partner("p2", "pm_card2")
	activate("p2")
	p2, _ := w.store.GetPartner(ctx, "p2")
	res2, _ := w.buy(p2, "k2", app.PayWithSavedCard, 1)
	pi2, _ := w.pay.IntentFor(res2.Purchase.ID)
	before2 := w.balance("p2")
	dispute("dp_2", pi2, 4600, dsu.EUR)
	if b := w.balance("p2"); b != before2 {
		t.Fatalf("balance %d, want %d: a dispute in another currency debits nothing", b, before2)
	}
	if acc, _ := w.store.GetAccount(ctx, "p2"); acc.AutoRefill.PausedReason != dsu.PausedDispute || !acc.AutoRefill.DisputeHold {
		t.Fatalf("plan %+v: a dispute in another currency still holds the plan", acc.AutoRefill)
	}
	// One line per event of that dispute (created, lost), not per delivery.
	errs := logs.at(t, slog.LevelError)
	if len(errs) != 2 || !strings.Contains(errs[0], "another currency") || !strings.Contains(errs[1], "another currency") {
		t.Fatalf("error log lines %v, want the currency mismatch for operators once per event", errs)
	}
	w.checkUnits(w.recorded(), "p1", "p2")
}

// A refund pending, then a lost dispute of the whole charge (its debit is
// capped at what the refund left), then the refund fails: the partner got
// the whole 100.00 back through the dispute, so the failed refund gives
// nothing back, however often its reports arrive (found by review: it gave
// back the refund's 1,000 DSUs).
func TestFailedRefundAfterALostFullDisputeGivesNothingBack(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	res, _ := w.buy(p, "k1", app.PayWithSavedCard, 2) // 2,000 DSUs for 100.00
	pi, _ := w.pay.IntentFor(res.Purchase.ID)
	before := w.balance("p1")

	refund := w.pay.Refund(pi.ID, 5000)
	w.deliver(1, refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundPending)))
	d := app.Dispute{ID: "dp_1", ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "lost", Amount: 10000, Currency: dsu.USD}
	w.deliver(1, app.WebhookEvent{ID: "evt_dp_lost", Type: app.EvDisputeClosed, Dispute: &d})
	if b := w.balance("p1"); b != before-2000 {
		t.Fatalf("after the refund and the lost dispute: balance %d, want %d", b, before-2000)
	}
	w.deliver(2, refundUpdated(w.pay.SetRefundStatus(refund.ID, app.RefundFailed)))
	if b := w.balance("p1"); b != before-2000 {
		t.Fatalf("the failed refund gave back %d DSUs of a purchase the lost dispute took back in full", b-(before-2000))
	}
	got := w.purchase("p1", res.Purchase.ID)
	if got.Status != dsu.StatusDisputed || got.RefundedAmount != 0 || got.RefundedUnits != 0 || got.DisputeDebitedUnits != 2000 || got.CreditedUnits() != 0 {
		t.Fatalf("purchase %+v: the dispute now holds all 2,000 DSUs", got)
	}
	reversals := w.entries("p1", dsu.EntryRefundReversal)
	if len(reversals) != 1 || reversals[0].Units != 0 || !strings.Contains(reversals[0].Description, "stay debited") {
		t.Fatalf("reversal entries %+v, want one of 0 DSUs saying why", reversals)
	}
	w.checkUnits(w.recorded(), "p1")
}

// Refunds and disputes of one purchase in the orders Stripe may report
// them: the partner always ends with the units of the money still held by
// us, and with a ledger that adds up to the balance.
func TestRefundsAndDisputesInAnyOrderLeaveTheUnitsTheMoneyBuys(t *testing.T) {
	type step func(w *world, pi app.PaymentIntent, refundID string)
	pending := func(w *world, _ app.PaymentIntent, id string) {
		w.deliver(1, refundUpdated(w.pay.SetRefundStatus(id, app.RefundPending)))
	}
	failed := func(w *world, _ app.PaymentIntent, id string) {
		w.deliver(2, refundUpdated(w.pay.SetRefundStatus(id, app.RefundFailed)))
	}
	dispute := func(status string, amount int64, cur dsu.Currency) step {
		return func(w *world, pi app.PaymentIntent, _ string) {
			d := app.Dispute{ID: "dp_1", ChargeID: chargeOf(pi.ID), PaymentIntentID: pi.ID, Status: "needs_response", Amount: amount, Currency: cur}
			closed := d
			closed.Status = status
			w.deliver(1, app.WebhookEvent{ID: "evt_dp_created", Type: app.EvDisputeCreated, Dispute: &d})
			w.deliver(2, app.WebhookEvent{ID: "evt_dp_closed", Type: app.EvDisputeClosed, Dispute: &closed})
		}
	}
	for _, c := range []struct {
		name  string
		steps []step
		want  int64 // DSUs the partner holds of the 2,000 bought for 100.00
	}{
		{"refund fails before the whole charge is disputed and lost", []step{pending, failed, dispute("lost", 10000, dsu.USD)}, 0},
		{"whole charge disputed and lost, then a refund pending and failed", []step{dispute("lost", 10000, dsu.USD), pending, failed}, 0},
		{"half refunded, half disputed and lost, refund fails", []step{pending, dispute("lost", 5000, dsu.USD), failed}, 1000},
		{"half refunded, dispute won, refund fails", []step{pending, dispute("won", 10000, dsu.USD), failed}, 2000},
		// An operator's case: the dispute cannot be weighed, so it debits
		// and keeps nothing.
		{"half refunded, dispute in another currency lost, refund fails", []step{pending, dispute("lost", 9200, dsu.EUR), failed}, 2000},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWorld(t)
			p := w.partner("p1", "pm_card")
			res, _ := w.buy(p, "k1", app.PayWithSavedCard, 2) // 2,000 DSUs for 100.00
			pi, _ := w.pay.IntentFor(res.Purchase.ID)
			before := w.balance("p1") - 2000
			refund := w.pay.Refund(pi.ID, 5000)
			for _, s := range c.steps {
				s(w, pi, refund.ID)
			}
			if b := w.balance("p1"); b != before+c.want {
				t.Fatalf("the partner holds %d DSUs of the purchase, want %d", b-before, c.want)
			}
			if got := w.purchase("p1", res.Purchase.ID); got.CreditedUnits() != c.want {
				t.Fatalf("purchase %+v says the partner holds %d", got, got.CreditedUnits())
			}
			w.checkUnits(w.recorded(), "p1")
		})
	}
}

// A second PaymentIntent succeeding for a purchase another one paid: no
// credit, one refund at Stripe under duplicate:<pi>, one domain event and
// one error log, however many times (and however concurrently) Stripe
// delivers it.
func TestDoublePaymentIsRefundedOnce(t *testing.T) {
	w := newWorld(t)
	var logs logLines
	w.webhooks.Log = logs.logger()
	p := w.partner("p1", "")
	pur, first := w.pendingPurchase(p, "k1", 2)
	first = w.pay.SetIntentStatus(first.ID, app.PISucceeded, nil)
	w.deliver(1, piEvent(app.EvPaymentSucceeded, first))
	paid := w.balance("p1")

	// The partner paid again in another tab: a second PaymentIntent for
	// the same purchase, with the same metadata.
	second := first
	second.ID, second.LatestChargeID, second.ClientSecret = "pi_second", chargeOf("pi_second"), ""
	w.pay.mu.Lock()
	w.pay.intents[second.ID] = second
	w.pay.mu.Unlock()
	dup := piEvent(app.EvPaymentSucceeded, second)
	w.pay.refundDelay = 50 * time.Millisecond // the three deliveries meet while the refund is under way
	w.deliver(3, dup)
	w.deliver(1, dup, piEvent(app.EvPaymentSucceeded, second)) // later, and under another event id

	if b := w.balance("p1"); b != paid {
		t.Fatalf("balance %d, want %d: a double charge credits nothing", b, paid)
	}
	reqs := w.pay.RefundRequests()
	if len(reqs) != 1 || reqs[0].IdempotencyKey != "duplicate:pi_second" || reqs[0].PaymentIntentID != "pi_second" ||
		reqs[0].PartnerID != "p1" || reqs[0].PurchaseID != pur.ID {
		t.Fatalf("refund requests %+v, want one for pi_second", reqs)
	}
	if ev := w.events.Of(app.EventDuplicateRefunded); len(ev) != 1 || ev[0].PurchaseID != pur.ID || ev[0].PaymentIntentID != "pi_second" ||
		ev[0].Amount == nil || *ev[0].Amount != second.Amount {
		t.Fatalf("duplicate events %+v, want one", ev)
	}
	if errs := logs.at(t, slog.LevelError); len(errs) != 1 || !strings.Contains(errs[0], "double charge") {
		t.Fatalf("error log lines %v, want one for the double charge", errs)
	}
	if got := w.purchase("p1", pur.ID); got.Status != dsu.StatusSucceeded || got.PaymentIntentID != first.ID {
		t.Fatalf("purchase %+v", got)
	}
	// Stripe reports the refund of the second charge: nothing to debit,
	// nothing for operators.
	w.deliver(1, refundEvent(second, second.Amount.Amount, second.Amount.Amount))
	if b := w.balance("p1"); b != paid || len(logs.at(t, slog.LevelError)) != 1 {
		t.Fatalf("the duplicate's own refund: balance %d, errors %v", b, logs.at(t, slog.LevelError))
	}
	pts := w.recorded()
	if got := metricstest.Sum(pts, metrics.DoubleChargesRefunded); got != 1 {
		t.Fatalf("DoubleChargesRefunded %v, want 1 however often Stripe delivers", got)
	}
	w.checkUnits(pts, "p1")
}

// A refund Stripe refuses for good is left to operators, once.
func TestDoublePaymentStripeRefusesToRefund(t *testing.T) {
	w := newWorld(t)
	var logs logLines
	w.webhooks.Log = logs.logger()
	p := w.partner("p1", "")
	_, first := w.pendingPurchase(p, "k1", 1)
	first = w.pay.SetIntentStatus(first.ID, app.PISucceeded, nil)
	w.deliver(1, piEvent(app.EvPaymentSucceeded, first))
	second := first
	second.ID = "pi_second" // unknown to the fake Stripe: the refund is refused
	w.deliver(2, piEvent(app.EvPaymentSucceeded, second))
	if n := w.pay.Calls("CreateRefund"); n != 1 {
		t.Fatalf("%d refund calls", n)
	}
	if errs := logs.at(t, slog.LevelError); len(errs) != 1 || !strings.Contains(errs[0], "operator must refund") {
		t.Fatalf("errors %v", errs)
	}
	if len(w.events.Of(app.EventDuplicateRefunded)) != 0 {
		t.Fatal("published a refund that did not happen")
	}
	// Money kept that credits nothing pages through the mismatch alarm.
	if got := by(w.recorded(), metrics.CreditMismatches, metrics.DimReason, "duplicate_not_refunded"); got != 1 {
		t.Fatalf("CreditMismatches{duplicate_not_refunded} = %v, want 1", got)
	}
}

// secondIntent is another PaymentIntent of the purchase pi pays, succeeded:
// it carries the same metadata (the partner paid it in another tab, or a
// resumed request made it).
func (w *world) secondIntent(pi app.PaymentIntent, id string) app.PaymentIntent {
	second := pi
	second.ID, second.Status, second.LatestChargeID, second.ClientSecret = id, app.PISucceeded, chargeOf(id), ""
	w.pay.mu.Lock()
	w.pay.intents[id] = second
	w.pay.mu.Unlock()
	return second
}

// A second PaymentIntent that succeeds while the purchase's own is still
// open is never credited: Stripe is asked to retry, and once the purchase
// is paid by its own, the second is the double charge and is refunded.
func TestSecondPaymentWhileTheFirstIsOpen(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "")
	pur, first := w.pendingPurchase(p, "k1", 2)
	second := w.secondIntent(first, "pi_second")

	err := w.webhooks.Handle(ctx, piEvent(app.EvPaymentSucceeded, second))
	if !app.Transient(err) {
		t.Fatalf("second payment while the first is open: %v, want a transient error for Stripe to retry", err)
	}
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d: the second payment was credited", b)
	}
	if n := w.pay.Calls("CreateRefund"); n != 0 {
		t.Fatalf("%d refunds before the purchase settled", n)
	}
	if got := w.purchase("p1", pur.ID); got.Status != dsu.StatusPending || got.PaymentIntentID != first.ID {
		t.Fatalf("purchase %+v changed", got)
	}

	// The purchase's own payment succeeds; Stripe's retry of the second
	// comes after.
	w.deliver(1, piEvent(app.EvPaymentSucceeded, w.pay.SetIntentStatus(first.ID, app.PISucceeded, nil)))
	w.deliver(2, piEvent(app.EvPaymentSucceeded, second))
	if b := w.balance("p1"); b != 4000 {
		t.Fatalf("balance %d, want 2000 + 2000 once", b)
	}
	if reqs := w.pay.RefundRequests(); len(reqs) != 1 || reqs[0].PaymentIntentID != second.ID {
		t.Fatalf("refunds %+v, want the second payment's", reqs)
	}
	w.checkUnits(w.recorded(), "p1")
}

// A second PaymentIntent that succeeds for a purchase that ended unpaid is
// refunded in full; the purchase stays failed and nothing is credited.
func TestSecondPaymentForAFailedPurchaseIsRefunded(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	pur, first := w.pendingPurchase(p, "k1", 1)
	w.deliver(1, piEvent(app.EvPaymentFailed, w.pay.SetIntentStatus(first.ID, app.PIRequiresPaymentMethod,
		&app.PaymentError{Code: "card_declined", DeclineCode: "generic_decline"})))
	if got := w.purchase("p1", pur.ID); got.Status != dsu.StatusFailed {
		t.Fatalf("purchase %s, want failed", got.Status)
	}
	second := w.secondIntent(first, "pi_second")
	w.deliver(3, piEvent(app.EvPaymentSucceeded, second))
	if b := w.balance("p1"); b != 2000 {
		t.Fatalf("balance %d: a payment for a failed purchase was credited", b)
	}
	if reqs := w.pay.RefundRequests(); len(reqs) != 1 || reqs[0].PaymentIntentID != second.ID || reqs[0].IdempotencyKey != app.DuplicateRefundKey(second.ID) {
		t.Fatalf("refunds %+v, want one of the second payment", reqs)
	}
	if got := w.purchase("p1", pur.ID); got.Status != dsu.StatusFailed || got.PaymentIntentID != first.ID {
		t.Fatalf("purchase %+v", got)
	}
	if got := metricstest.Sum(w.recorded(), metrics.DoubleChargesRefunded); got != 1 {
		t.Fatalf("DoubleChargesRefunded %v, want 1", got)
	}
}

// charge.succeeded brings the receipt, before or after the payment's own
// event; it never credits or moves the status. The API shows it once the
// purchase succeeded.
func TestReceiptFromChargeSucceeded(t *testing.T) {
	for _, order := range [][]string{{"charge", "payment"}, {"payment", "charge"}} {
		t.Run(strings.Join(order, " then "), func(t *testing.T) {
			w := newWorld(t)
			p := w.partner("p1", "")
			pur, pi := w.pendingPurchase(p, "k1", 1)
			pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
			charge := app.WebhookEvent{ID: "evt_charge", Type: app.EvChargeSucceeded, Charge: &app.Charge{
				ID: pi.LatestChargeID, PaymentIntentID: pi.ID, Status: "succeeded", Amount: pi.Amount.Amount, Currency: pi.Amount.Currency,
				ReceiptURL: receiptOf(pi.LatestChargeID), Metadata: pi.Metadata,
			}}
			f := w.purchasesFunction()
			for _, step := range order {
				switch step {
				case "charge":
					w.deliver(2, charge)
					if got := w.purchase("p1", pur.ID); order[0] == "charge" && (got.Status != dsu.StatusPending || w.balance("p1") != 2000) {
						t.Fatalf("charge.succeeded moved the purchase: %+v, balance %d", got, w.balance("p1"))
					}
					if order[0] == "charge" {
						if view := getPurchase(t, f, "p1", pur.ID); view["receiptUrl"] != nil {
							t.Fatalf("receiptUrl %v before the purchase succeeded", view["receiptUrl"])
						}
					}
				case "payment":
					w.deliver(1, piEvent(app.EvPaymentSucceeded, pi))
				}
			}
			got := w.purchase("p1", pur.ID)
			if got.Status != dsu.StatusSucceeded || got.ReceiptURL != receiptOf(pi.LatestChargeID) || w.balance("p1") != 3000 {
				t.Fatalf("purchase %+v, balance %d", got, w.balance("p1"))
			}
			if view := getPurchase(t, f, "p1", pur.ID); view["receiptUrl"] != receiptOf(pi.LatestChargeID) {
				t.Fatalf("receiptUrl %v", view["receiptUrl"])
			}
		})
	}
}

func getPurchase(t *testing.T, f openapitest.Handler, partner, id string) map[string]any {
	t.Helper()
	resp, err := f.Handle(context.Background(), purchaseRequest("GET /v1/purchases/{id}", partner, "", "", map[string]string{"id": id}))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET purchase: %d %s %v", resp.StatusCode, resp.Body, err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// A refill whose answer from Stripe was lost is reconciled by the sweep,
// which reads the charge for its receipt; so is a manual purchase resumed
// after its first attempt's write failed, and a portal payment whose
// webhooks were all lost, credited by the purchase sweep.
func TestReconciliationFillsTheReceipt(t *testing.T) {
	ctx := context.Background()
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_card", 5)
	r.use("p1", "t", 2000)
	r.pay.loseResponse = true
	r.refiller.Refill(ctx, "p1")
	r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
	if _, err := r.sweeper.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	autos := r.autoPurchases("p1")
	pi, _ := r.pay.IntentFor(autos[0].ID)
	if len(autos) != 1 || autos[0].Status != dsu.StatusSucceeded || autos[0].ReceiptURL != receiptOf(pi.LatestChargeID) {
		t.Fatalf("reconciled refill %+v", autos)
	}

	p := r.partner("p2", "pm_card2")
	hook := &failAfterStripe{w: r.world}
	r.purchases.Payments = hook
	if _, err := r.buy(p, "k1", app.PayWithSavedCard, 1); err == nil {
		t.Fatal("the injected failure did not surface")
	}
	res, err := r.buy(p, "k1", app.PayWithSavedCard, 1)
	if err != nil {
		t.Fatal(err)
	}
	pi, _ = r.pay.IntentFor(res.Purchase.ID)
	if got := r.purchase("p2", res.Purchase.ID); got.Status != dsu.StatusSucceeded || got.ReceiptURL != receiptOf(pi.LatestChargeID) {
		t.Fatalf("resumed purchase %+v", got)
	}

	// A portal payment whose webhooks were all lost is credited by the
	// purchase sweep, with its receipt.
	p3 := r.partner("p3", "")
	lost, lostPI := r.pendingPurchase(p3, "k3")
	paid := r.pay.SetIntentStatus(lostPI.ID, app.PISucceeded, nil)
	r.clock.Advance(dsu.ReconcileAfter)
	r.sweep()
	if got := r.purchase("p3", lost.ID); got.Status != dsu.StatusSucceeded || got.ReceiptURL != receiptOf(paid.LatestChargeID) {
		t.Fatalf("manual purchase reconciled by the sweep %+v", got)
	}
	if n := r.pay.Calls("GetCharge"); n != 3 {
		t.Fatalf("%d charge reads, want one per reconciled payment", n)
	}
}

// An event of the other Stripe mode than the key's is acknowledged,
// changes nothing, and is logged as a warning.
func TestEventOfTheOtherModeIsIgnored(t *testing.T) {
	for _, keyLive := range []bool{false, true} {
		t.Run(fmt.Sprintf("key live %v", keyLive), func(t *testing.T) {
			w := newWorld(t)
			var logs logLines
			w.webhooks.Log, w.webhooks.Livemode = logs.logger(), keyLive
			p := w.partner("p1", "")
			pur, pi := w.pendingPurchase(p, "k1", 1)
			pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
			ev := piEvent(app.EvPaymentSucceeded, pi)
			ev.Livemode = !keyLive
			w.api.Reset()
			if err := w.webhooks.Handle(context.Background(), ev); err != nil {
				t.Fatalf("an event of the other mode must be acknowledged: %v", err)
			}
			if c := w.api.Counts(); c != (dynamotest.Counts{}) {
				t.Fatalf("an event of the other mode touched the table: %+v", c)
			}
			if st := w.purchase("p1", pur.ID).Status; st != dsu.StatusPending || w.balance("p1") != 2000 {
				t.Fatalf("status %s, balance %d", st, w.balance("p1"))
			}
			if warns := logs.at(t, slog.LevelWarn); len(warns) != 1 || !strings.Contains(warns[0], "mode") {
				t.Fatalf("warnings %v", warns)
			}
			// The same event in the key's mode is processed.
			ev.Livemode = keyLive
			w.deliver(1, ev)
			if b := w.balance("p1"); b != 3000 {
				t.Fatalf("balance %d after the event of the key's mode", b)
			}
		})
	}
}
