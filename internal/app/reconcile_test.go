package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

// No manual purchase is left behind (RULES.md, "Reconciliation and the
// sweep"): the sweep finishes what the portal or a lost webhook left
// unfinished, through the sparse index only.

// pendingPurchase is a manual purchase with a new card: pending, its
// PaymentIntent waiting for the portal.
func (r *refillWorld) pendingPurchase(p dsu.Partner, key string) (dsu.Purchase, app.PaymentIntent) {
	r.t.Helper()
	res, err := r.buy(p, key, app.PayWithNewCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusPending {
		r.t.Fatalf("buy: %+v %v", res.Purchase, err)
	}
	pi, ok := r.pay.IntentFor(res.Purchase.ID)
	if !ok {
		r.t.Fatal("no PaymentIntent")
	}
	return res.Purchase, pi
}

// The partner paid in the portal, but every payment_intent.succeeded was
// lost: the sweep credits the purchase an hour after its creation, exactly
// once, however the late webhook and the sweep race.
func TestSweepCreditsAManualPurchaseWhoseWebhookWasLost(t *testing.T) {
	r := newRefillWorld(t)
	p := r.partner("p1", "")
	before := r.balance("p1")
	purchase, pi := r.pendingPurchase(p, "k1")
	paid := r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)

	r.clock.Advance(dsu.ReconcileAfter - time.Minute)
	if res := r.sweep(); res.Purchases != 0 || r.pay.Calls("GetPaymentIntent") != 0 {
		t.Fatalf("looked before an hour: %+v", res)
	}
	r.clock.Advance(time.Minute)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			if i%2 == 0 {
				r.sweeper.Sweep(context.Background())
			} else {
				r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, paid))
			}
		})
	}
	wg.Wait()
	if got := r.balance("p1"); got != before+1000 {
		t.Fatalf("balance %d, want %d: credited %d times", got, before+1000, (got-before)/1000)
	}
	if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusSucceeded || got.PaymentIntentID != pi.ID {
		t.Fatalf("purchase %+v", got)
	}
	// Settled: out of the index for good.
	r.clock.Advance(48 * time.Hour)
	if res := r.sweep(); res.Purchases != 0 {
		t.Fatalf("a settled purchase is still swept: %+v", res)
	}
}

// Nobody pays: the sweep looks after 1, 2, 4, 8 and 16 hours, then at 24
// hours cancels the PaymentIntent at Stripe and marks the purchase
// canceled, failure code abandoned. A late payment_intent.canceled changes
// nothing more.
func TestSweepCancelsAnAbandonedManualPurchase(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.partner("p1", "pm_saved")
	r.pay.outcome["pm_saved"] = "requires_action"
	before := r.balance("p1")
	newCard, newPI := r.pendingPurchase(p, "k-new")
	res, err := r.buy(p, "k-3ds", app.PayWithSavedCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusRequiresAction {
		t.Fatalf("3-D Secure purchase: %+v %v", res.Purchase, err)
	}
	threeDS := res.Purchase

	start := r.clock.Now()
	for r.clock.Now().Add(5 * time.Minute).Before(start.Add(dsu.AbandonAfter)) {
		r.clock.Advance(5 * time.Minute) // the schedule's period
		r.sweep()
	}
	if n := r.pay.Calls("CancelPaymentIntent"); n != 0 {
		t.Fatalf("canceled before 24 hours: %d", n)
	}
	if n := r.pay.Calls("GetPaymentIntent"); n != 2*5 {
		t.Fatalf("%d PaymentIntent reads for 2 purchases in 24 hours, want 5 looks each", n)
	}
	for _, id := range []string{newCard.ID, threeDS.ID} {
		if st := r.purchase("p1", id).Status; st != dsu.StatusPending && st != dsu.StatusRequiresAction {
			t.Fatalf("%s is %s before 24 hours", id, st)
		}
	}
	r.clock.Set(start.Add(dsu.AbandonAfter))
	if res := r.sweep(); res.Purchases != 2 {
		t.Fatalf("sweep %+v", res)
	}
	if n := r.pay.Calls("CancelPaymentIntent"); n != 2 {
		t.Fatalf("%d cancellations at Stripe", n)
	}
	for _, id := range []string{newCard.ID, threeDS.ID} {
		got := r.purchase("p1", id)
		if got.Status != dsu.StatusCanceled || got.Failure == nil || got.Failure.Code != "abandoned" || got.CompletedAt == nil {
			t.Fatalf("%s: %+v failure %+v", id, got, got.Failure)
		}
		pi, _ := r.pay.IntentFor(id)
		if pi.Status != app.PICanceled || pi.CancellationReason != "abandoned" {
			t.Fatalf("at Stripe: %s %q", pi.Status, pi.CancellationReason)
		}
	}
	// Stripe reports the cancellation; nothing changes, nothing is credited.
	canceled, _ := r.pay.IntentFor(newCard.ID)
	if err := r.webhooks.Handle(ctx, piEvent(app.EvPaymentCanceled, canceled)); err != nil {
		t.Fatal(err)
	}
	if got := r.purchase("p1", newCard.ID); got.Status != dsu.StatusCanceled || got.Failure.Code != "abandoned" || got.PaymentIntentID != newPI.ID {
		t.Fatalf("after the event: %+v", got)
	}
	if r.balance("p1") != before {
		t.Fatal("an abandoned purchase moved the balance")
	}
	r.clock.Advance(48 * time.Hour)
	if res := r.sweep(); res.Purchases != 0 {
		t.Fatalf("canceled purchases are still swept: %+v", res)
	}
}

// Paid at the last moment: the cancellation is refused, and the sweep
// credits what Stripe says instead.
func TestSweepCreditsAPurchasePaidJustBeforeItsCancellation(t *testing.T) {
	r := newRefillWorld(t)
	p := r.partner("p1", "")
	before := r.balance("p1")
	purchase, pi := r.pendingPurchase(p, "k1")
	r.clock.Advance(dsu.AbandonAfter)
	// Pending at the sweep's read, paid by the time it cancels.
	r.pay.mu.Lock()
	r.pay.failOnce["CancelPaymentIntent"] = dsu.Errorf(dsu.KindInternal, "payment_intent_unexpected_state")
	r.pay.mu.Unlock()
	r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	r.sweep()
	if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusSucceeded || r.balance("p1") != before+1000 {
		t.Fatalf("purchase %s, balance %d", got.Status, r.balance("p1"))
	}
}

// A purchase whose PaymentIntent was never created (Stripe was down and
// the client never retried its key) fails not_charged after 24 hours.
func TestSweepGivesUpAPurchaseThatNeverReachedStripe(t *testing.T) {
	r := newRefillWorld(t)
	p := r.partner("p1", "")
	r.pay.outage = true
	if _, err := r.buy(p, "k1", app.PayWithNewCard, 1); !dsu.IsKind(err, dsu.KindUpstreamUnavailable) {
		t.Fatalf("buy during an outage: %v", err)
	}
	r.pay.outage = false
	list, _, err := r.store.ListPurchases(context.Background(), "p1", dsuPage(10))
	if err != nil || len(list) != 1 || list[0].PaymentIntentID != "" {
		t.Fatalf("%+v %v", list, err)
	}
	r.clock.Advance(dsu.ReconcileAfter)
	r.sweep()
	if got := r.purchase("p1", list[0].ID); got.Status != dsu.StatusPending || r.pay.Calls("FindPaymentIntent") != 1 {
		t.Fatalf("after an hour: %s, %d lookups", got.Status, r.pay.Calls("FindPaymentIntent"))
	}
	r.clock.Set(list[0].CreatedAt.Add(dsu.AbandonAfter))
	r.sweep()
	if got := r.purchase("p1", list[0].ID); got.Status != dsu.StatusFailed || got.Failure.Code != "not_charged" {
		t.Fatalf("after 24 hours: %+v", got)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("the sweep created a PaymentIntent: %d calls", n)
	}
}

// 10,000 stale purchases, of which 100 are due: the sweep reads the 100
// and their PaymentIntents, and nothing of the others.
func TestPurchaseSweepTouchesOnlyThePurchasesDue(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	// The due purchases first, through the use case, while the table is
	// small (the emulator copies the table in every transaction): 100
	// paid at Stripe whose webhooks were lost, over 10 partners.
	var due []dsu.Purchase
	for i := range 10 {
		p := r.partner(fmt.Sprintf("p%02d", i), "")
		for j := range 10 {
			purchase, pi := r.pendingPurchase(p, fmt.Sprintf("k%d", j))
			r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
			due = append(due, purchase)
		}
	}
	// 9,900 stale purchases written straight to the table: finished ones,
	// which never carry the index's keys.
	var batch []types.WriteRequest
	flush := func() {
		if len(batch) == 0 {
			return
		}
		if _, err := r.emu.Client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{dynamotest.Table: batch}}); err != nil {
			t.Fatal(err)
		}
		batch = nil
	}
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	n := func(v int64) types.AttributeValue { return &types.AttributeValueMemberN{Value: fmt.Sprint(v)} }
	for i := range 9900 {
		partner, id := fmt.Sprintf("stale-%03d", i%100), fmt.Sprintf("pur_stale%05d", i)
		status := []string{"succeeded", "failed", "canceled", "refunded"}[i%4]
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
			"pk": s("P#" + partner), "sk": s("PURCHASE#" + id), "type": s("purchase"), "id": s(id), "partnerId": s(partner),
			"kind": s("manual"), "status": s(status), "units": n(1000), "amount": n(5000), "currency": s("usd"),
			"createdAt": s(worldStart.Add(-30 * 24 * time.Hour).Format(time.RFC3339Nano)), "version": n(2),
			"items": &types.AttributeValueMemberL{},
		}}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
	r.clock.Advance(dsu.ReconcileAfter)
	r.api.Reset()
	res := r.sweep()
	if res.Purchases != 100 {
		t.Fatalf("sweep %+v, want 100 purchases", res)
	}
	c := r.api.Counts()
	shards := int64(r.store.SweepShards())
	// Per kind of work one query per shard; per due purchase its read and
	// the settlement's balance read; the index itself returns the 100 keys.
	if c.Reads > 3*shards+100*2 {
		t.Fatalf("the sweep read %d times for 100 due purchases among 10,000", c.Reads)
	}
	if c.ItemsRead > 100+100*2 {
		t.Fatalf("the sweep touched %d items for 100 due purchases among 10,000", c.ItemsRead)
	}
	if n := r.pay.Calls("GetPaymentIntent"); n != 100 {
		t.Fatalf("%d PaymentIntent reads", n)
	}
	for _, p := range due {
		if got := r.purchase(p.PartnerID, p.ID); got.Status != dsu.StatusSucceeded {
			t.Fatalf("%s is %s", p.ID, got.Status)
		}
	}
}
