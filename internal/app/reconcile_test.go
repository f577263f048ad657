package app_test

import (
	"context"
	"fmt"
	"hash/fnv"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
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

// 10,000 stale purchases, all unfinished and so all in the sweep's index,
// of which 20 are due: the sweep reads the 20 and their PaymentIntents,
// and nothing of the 9,980 others waiting in the index. (20 due, not more:
// the emulator copies the whole table in every transaction, and each due
// purchase costs one. The bounds grow with the due ones only: a sweep that
// read every unfinished purchase would read 10,000 items against 60.)
func TestPurchaseSweepTouchesOnlyThePurchasesDue(t *testing.T) {
	const partners, duePerPartner, stale = 4, 5, 9980
	r := newRefillWorld(t)
	sweepAt := worldStart.Add(dsu.ReconcileAfter)
	// The due purchases first, through the use case, while the table is
	// small: paid at Stripe but their webhooks were lost, each due at
	// sweepAt.
	var due []dsu.Purchase
	for i := range partners {
		p := r.partner(fmt.Sprintf("p%02d", i), "")
		for j := range duePerPartner {
			purchase, pi := r.pendingPurchase(p, fmt.Sprintf("k%d", j))
			r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
			due = append(due, purchase)
		}
	}
	// The others in bulk, as the store writes them: the fixture of a
	// purchase the store wrote is part of that purchase's item, index keys
	// included.
	for _, p := range due {
		stored := plainItem(r.rawItem("P#"+p.PartnerID, "PURCHASE#"+p.ID))
		for name, v := range plainItem(unfinishedPurchaseItem(p, r.store.SweepShards())) {
			if !reflect.DeepEqual(v, stored[name]) {
				t.Fatalf("the fixture of %s has %s = %v; the store wrote %v", p.ID, name, v, stored[name])
			}
		}
	}
	writeUnfinishedPurchases(t, r.emu.Client, r.store.SweepShards(), stale, sweepAt)
	if got := r.purchase("stale-000", "pur_stale00000"); got.Status != dsu.StatusRequiresAction || got.Kind != dsu.KindManual {
		t.Fatalf("a fixture reads back as %+v", got)
	}

	r.clock.Set(sweepAt)
	r.api.Reset()
	res := r.sweep()
	if res.Purchases != len(due) {
		t.Fatalf("sweep %+v, want %d purchases", res, len(due))
	}
	c := r.api.Counts()
	dueN, shards := int64(len(due)), int64(r.store.SweepShards())
	// Per kind of work one query per shard; per due purchase its read and
	// the settlement's balance read; the index itself returns the due keys.
	if c.Reads > 3*shards+2*dueN {
		t.Errorf("the sweep read %d times for %d due purchases among %d unfinished", c.Reads, dueN, stale+dueN)
	}
	if c.ItemsRead > 3*dueN || c.FilteredQueries != 0 {
		t.Errorf("the sweep touched %d items (%d queries filtered) for %d due purchases among %d unfinished", c.ItemsRead, c.FilteredQueries, dueN, stale+dueN)
	}
	// One settlement per due purchase, and no write to any other.
	if c.Transactions != dueN || c.Writes != 0 {
		t.Errorf("the sweep wrote %d transactions and %d single writes for %d due purchases", c.Transactions, c.Writes, dueN)
	}
	if n := r.pay.Calls("GetPaymentIntent"); n != len(due) {
		t.Errorf("%d PaymentIntent reads for %d due purchases", n, len(due))
	}
	for _, p := range due {
		if got := r.purchase(p.PartnerID, p.ID); got.Status != dsu.StatusSucceeded {
			t.Errorf("%s is %s", p.ID, got.Status)
		}
	}
}

// rawItem is the table's item at pk, sk as stored.
func (w *world) rawItem(pk, sk string) map[string]types.AttributeValue {
	w.t.Helper()
	out, err := w.emu.Client.GetItem(context.Background(), &dynamodb.GetItemInput{TableName: aws.String(dynamotest.Table),
		Key: map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: pk}, "sk": &types.AttributeValueMemberS{Value: sk}}})
	if err != nil || len(out.Item) == 0 {
		w.t.Fatalf("%s %s: %v %v", pk, sk, out, err)
	}
	return out.Item
}

// plainItem is an item as Go values (S and N as strings, L as slices, M as
// maps), for comparing and printing.
func plainItem(it map[string]types.AttributeValue) map[string]any {
	out := make(map[string]any, len(it))
	for k, v := range it {
		out[k] = plainValue(v)
	}
	return out
}

func plainValue(v types.AttributeValue) any {
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		return v.Value
	case *types.AttributeValueMemberN:
		return "N:" + v.Value
	case *types.AttributeValueMemberBOOL:
		return v.Value
	case *types.AttributeValueMemberL:
		out := make([]any, len(v.Value))
		for i, e := range v.Value {
			out[i] = plainValue(e)
		}
		return out
	case *types.AttributeValueMemberM:
		return plainItem(v.Value)
	}
	return fmt.Sprintf("%T", v)
}

// writeUnfinishedPurchases writes n manual purchases straight to the table
// in bulk (BatchWriteItem: the emulator copies the whole table in every
// transaction), none due at now: pending ones waiting for the portal and
// ones requiring 3-D Secure, some created less than an hour ago, some
// already looked at and rescheduled, the nearest due a millisecond after
// now. They belong to 100 partners the sweep never needs to read.
func writeUnfinishedPurchases(t *testing.T, db *dynamodb.Client, shards, n int, now time.Time) {
	t.Helper()
	var batch []types.WriteRequest
	flush := func() {
		for len(batch) > 0 {
			out, err := db.BatchWriteItem(context.Background(), &dynamodb.BatchWriteItemInput{RequestItems: map[string][]types.WriteRequest{dynamotest.Table: batch}})
			if err != nil {
				t.Fatal(err)
			}
			batch = out.UnprocessedItems[dynamotest.Table]
		}
	}
	for i := range n {
		p := dsu.Purchase{ID: fmt.Sprintf("pur_stale%05d", i), PartnerID: fmt.Sprintf("stale-%03d", i*100/n), Kind: dsu.KindManual, Status: dsu.StatusPending,
			CreatedAt: now.Add(-time.Duration(1+i%59) * time.Minute)}
		if i%3 == 0 {
			p.Status = dsu.StatusRequiresAction
		}
		if i%2 == 1 { // looked at before: the next look is later
			p.CreatedAt = now.Add(-time.Duration(2+i%20) * time.Hour)
			p.ReconcileAt = now.Add(time.Millisecond + time.Duration(i/2%600)*time.Minute)
		}
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: unfinishedPurchaseItem(p, shards)}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
}

// unfinishedPurchaseItem is the item of an unfinished manual purchase (id,
// partner, status and times from p) with the keys of the sweep's index,
// as the store writes them. It leaves out the attributes the sweep's index
// and a purchase's status do not depend on (amounts, lines): the emulator
// copies every attribute of the table in every transaction.
func unfinishedPurchaseItem(p dsu.Purchase, shards int) map[string]types.AttributeValue {
	const layout = "2006-01-02T15:04:05.000000000Z" // the store's sortable times
	s := func(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }
	dueAt, ok := p.SweepAt()
	if !ok {
		panic(fmt.Sprintf("purchase %+v is not in the sweep's index", p))
	}
	shard := fnv.New32a()
	shard.Write([]byte(p.ID))
	it := map[string]types.AttributeValue{
		"pk": s("P#" + p.PartnerID), "sk": s("PURCHASE#" + p.ID), "type": s("purchase"), "id": s(p.ID), "partnerId": s(p.PartnerID),
		"kind": s(string(p.Kind)), "status": s(string(p.Status)), "createdAt": s(p.CreatedAt.UTC().Format(layout)),
		"gsi1pk": s(fmt.Sprintf("SWEEPPUR#%d", shard.Sum32()%uint32(shards))),
		"gsi1sk": s(dueAt.UTC().Format(layout) + "#" + p.PartnerID + "#" + p.ID),
	}
	if !p.ReconcileAt.IsZero() {
		it["reconcileAt"] = s(p.ReconcileAt.UTC().Format(layout))
	}
	return it
}

// The portal's first card is declined (payment_failed moves the purchase
// to failed), the partner confirms the same PaymentIntent with another card
// and it succeeds, but that webhook is lost: a failed manual purchase with
// a PaymentIntent stays in the sweep's index, so the money taken is
// credited, exactly once.
func TestSweepCreditsAFailedManualPurchasePaidLaterWhoseWebhookWasLost(t *testing.T) {
	r := newRefillWorld(t)
	p := r.partner("p1", "")
	before := r.balance("p1")
	purchase, pi := r.pendingPurchase(p, "k1")
	declined := r.pay.SetIntentStatus(pi.ID, app.PIRequiresPaymentMethod,
		&app.PaymentError{Code: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card was declined."})
	if err := r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentFailed, declined)); err != nil {
		t.Fatal(err)
	}
	if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusFailed {
		t.Fatalf("purchase %+v", got)
	}
	r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil) // second card, webhook lost
	for range 6 {
		r.clock.Advance(5 * time.Hour)
		r.sweep()
	}
	if got := r.balance("p1"); got != before+1000 {
		t.Fatalf("balance %d, want %d: a paid purchase stays uncredited (status %s)", got, before+1000, r.purchase("p1", purchase.ID).Status)
	}
	if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusSucceeded || got.Failure != nil {
		t.Fatalf("purchase %+v failure %+v", got, got.Failure)
	}
	if n := r.pay.Calls("CancelPaymentIntent"); n != 0 {
		t.Fatalf("a paid PaymentIntent was canceled %d times", n)
	}
	r.clock.Advance(48 * time.Hour)
	if res := r.sweep(); res.Purchases != 0 {
		t.Fatalf("a settled purchase is still swept: %+v", res)
	}
}

// A declined manual purchase nobody pays with another card: its
// PaymentIntent stays payable at Stripe, so at 24 hours the sweep cancels
// it (abandoned) and the purchase is canceled, out of the index for good.
// A late payment_intent.canceled changes nothing more.
func TestSweepCancelsTheStillPayablePaymentIntentOfAFailedManualPurchase(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.partner("p1", "pm_saved")
	r.pay.outcome["pm_saved"] = "insufficient_funds"
	before := r.balance("p1")
	res, err := r.buy(p, "k1", app.PayWithSavedCard, 1)
	if !dsu.IsKind(err, dsu.KindCardDeclined) && err != nil {
		t.Fatal(err)
	}
	purchase := r.purchase("p1", res.Purchase.ID)
	if purchase.Status != dsu.StatusFailed || purchase.PaymentIntentID == "" {
		t.Fatalf("declined purchase %+v", purchase)
	}
	start := purchase.CreatedAt
	for r.clock.Now().Add(5 * time.Minute).Before(start.Add(dsu.AbandonAfter)) {
		r.clock.Advance(5 * time.Minute)
		r.sweep()
	}
	if n := r.pay.Calls("CancelPaymentIntent"); n != 0 {
		t.Fatalf("canceled before 24 hours: %d", n)
	}
	if n := r.pay.Calls("GetPaymentIntent"); n != 5 {
		t.Fatalf("%d PaymentIntent reads in 24 hours, want 5 looks", n)
	}
	if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusFailed || got.Failure == nil || got.Failure.Code != "insufficient_funds" {
		t.Fatalf("before 24 hours: %+v failure %+v", got, got.Failure)
	}
	r.clock.Set(start.Add(dsu.AbandonAfter))
	r.sweep()
	pi, _ := r.pay.IntentFor(purchase.ID)
	if pi.Status != app.PICanceled || pi.CancellationReason != app.CancelAbandoned {
		t.Fatalf("at Stripe: %s %q", pi.Status, pi.CancellationReason)
	}
	got := r.purchase("p1", purchase.ID)
	if got.Status != dsu.StatusCanceled || got.Failure == nil || got.Failure.Code != "abandoned" {
		t.Fatalf("after 24 hours: %+v failure %+v", got, got.Failure)
	}
	if err := r.webhooks.Handle(ctx, piEvent(app.EvPaymentCanceled, pi)); err != nil {
		t.Fatal(err)
	}
	if again := r.purchase("p1", purchase.ID); again.Status != dsu.StatusCanceled || again.Version != got.Version {
		t.Fatalf("after the event: %+v", again)
	}
	if r.balance("p1") != before {
		t.Fatal("a declined purchase moved the balance")
	}
	r.clock.Advance(48 * time.Hour)
	if res := r.sweep(); res.Purchases != 0 {
		t.Fatalf("a canceled purchase is still swept: %+v", res)
	}
}

// Paid with another card just as the sweep cancels the declined
// PaymentIntent: the cancellation is refused and the payment credited.
func TestSweepCreditsAFailedPurchasePaidJustBeforeItsCancellation(t *testing.T) {
	r := newRefillWorld(t)
	p := r.partner("p1", "")
	before := r.balance("p1")
	purchase, pi := r.pendingPurchase(p, "k1")
	declined := r.pay.SetIntentStatus(pi.ID, app.PIRequiresPaymentMethod,
		&app.PaymentError{Code: "card_declined", DeclineCode: "do_not_honor", Message: "Your card was declined."})
	if err := r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentFailed, declined)); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(dsu.AbandonAfter)
	r.pay.mu.Lock()
	r.pay.failOnce["CancelPaymentIntent"] = dsu.Errorf(dsu.KindInternal, "payment_intent_unexpected_state")
	r.pay.mu.Unlock()
	r.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	r.sweep()
	if got := r.purchase("p1", purchase.ID); got.Status != dsu.StatusSucceeded || r.balance("p1") != before+1000 {
		t.Fatalf("purchase %s, balance %d", got.Status, r.balance("p1"))
	}
}

// An automatic purchase the bank wants authenticated waits for the partner
// (the plan is paused authentication_required). The partner confirms it in
// the portal and pays, and that webhook is lost: the purchase sweep credits
// it, once, like a manual purchase's; the plan stays paused (RULES.md,
// "Outcomes, retries and backoff").
func TestSweepCreditsAnAuthenticatedRefillWhoseWebhookWasLost(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p, refill := r.refillAwaitingAuthentication("p1")
	if _, err := r.purchases.Confirm(ctx, p, refill.ID); err != nil {
		t.Fatal(err)
	}
	r.pay.SetIntentStatus(refill.PaymentIntentID, app.PISucceeded, nil) // authenticated; webhook lost
	before := r.balance("p1")
	r.clock.Advance(dsu.ReconcileAfter)
	if res := r.sweep(); res.Purchases != 1 {
		t.Fatalf("sweep %+v", res)
	}
	if got := r.purchase("p1", refill.ID); got.Status != dsu.StatusSucceeded {
		t.Fatalf("refill %+v", got)
	}
	if got := r.balance("p1"); got != before+1000 {
		t.Fatalf("balance %d, want %d", got, before+1000)
	}
	if acc := r.account("p1"); acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedAuthenticationRequired {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	// The webhook arrives after all: credited once.
	pi, _ := r.pay.IntentFor(refill.ID)
	if err := r.webhooks.Handle(ctx, piEvent(app.EvPaymentSucceeded, pi)); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(48 * time.Hour)
	if res := r.sweep(); res.Purchases != 0 {
		t.Fatalf("a settled refill is still swept: %+v", res)
	}
	if got := r.balance("p1"); got != before+1000 {
		t.Fatalf("balance %d after the late webhook, want %d", got, before+1000)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("%d charges; a refill waiting for authentication is never charged again", n)
	}
}

// Nobody authenticates it: the sweep looks at it on the usual schedule
// (1 h, 2 h, 4 h, …) and, after dsu.AuthenticationWindow, cancels its
// PaymentIntent at Stripe (abandoned), so it can no longer be paid. The
// plan stays paused; nothing is credited.
func TestSweepGivesUpARefillNobodyAuthenticates(t *testing.T) {
	r := newRefillWorld(t)
	_, refill := r.refillAwaitingAuthentication("p1")
	before := r.balance("p1")
	start := r.clock.Now()
	looks := 0
	for {
		r.clock.Advance(time.Hour)
		if !r.clock.Now().Before(start.Add(dsu.AuthenticationWindow)) {
			break
		}
		looks += r.sweep().Purchases
	}
	if n := r.pay.Calls("CancelPaymentIntent"); n != 0 || looks != 8 {
		t.Fatalf("before %s: %d cancellations, %d looks (want 0 and 8: 1, 2, 4, …, 128 h)", dsu.AuthenticationWindow, n, looks)
	}
	if got := r.purchase("p1", refill.ID); got.Status != dsu.StatusRequiresAction {
		t.Fatalf("refill %+v before the window's end", got)
	}
	r.clock.Set(start.Add(dsu.AuthenticationWindow))
	if res := r.sweep(); res.Purchases != 1 {
		t.Fatalf("sweep %+v", res)
	}
	got := r.purchase("p1", refill.ID)
	if got.Status != dsu.StatusCanceled || got.Failure == nil || got.Failure.Code != "abandoned" {
		t.Fatalf("refill %+v failure %+v", got, got.Failure)
	}
	if pi, _ := r.pay.IntentFor(refill.ID); pi.Status != app.PICanceled || pi.CancellationReason != app.CancelAbandoned {
		t.Fatalf("at Stripe: %s %q", pi.Status, pi.CancellationReason)
	}
	if r.balance("p1") != before {
		t.Fatal("an abandoned refill moved the balance")
	}
	if acc := r.account("p1"); acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedAuthenticationRequired {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	r.clock.Advance(48 * time.Hour)
	if res := r.sweep(); res.Purchases != 0 {
		t.Fatalf("a canceled refill is still swept: %+v", res)
	}
}
