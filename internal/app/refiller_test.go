package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/dynamostream"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
	"github.com/cirasync/dsubilling/internal/triggers"
)

// refillWorld adds the automated plan to the world.
type refillWorld struct {
	*world
	refiller *app.Refiller
	sweeper  *app.Sweeper
	trigger  *triggers.AutoRefill
	usage    *app.Usage
}

func newRefillWorld(t testing.TB) *refillWorld {
	w := newWorld(t)
	r := &refillWorld{world: w}
	log := logging.Discard()
	r.refiller = &app.Refiller{Store: w.store, Payments: w.pay, Catalog: w.catalog, Settle: w.settler, Outcomes: w.outcomes, Clock: w.clock, IDs: w.ids, Log: log, Metrics: w.metrics}
	r.sweeper = &app.Sweeper{Store: w.store, Refiller: r.refiller, Clock: w.clock, Log: log, Cards: w.billing,
		Purchases: &app.PurchaseReconciler{Store: w.store, Payments: w.pay, Settle: w.settler, Clock: w.clock, Log: log, Metrics: w.metrics}}
	r.trigger = &triggers.AutoRefill{Refiller: r.refiller, Sweeper: r.sweeper, Log: log, Metrics: w.metrics, Parallel: 5}
	r.usage = &app.Usage{Store: w.store, Partners: w.partners, Events: app.EventMetrics{Next: w.events, Metrics: w.metrics}, Clock: w.clock, Log: log, Parallel: 4, Metrics: w.metrics}
	return r
}

// planPartner is a partner with a card and an active plan: threshold 0,
// one dsu-1000 package per refill, monthlyLimit refills a month.
func (r *refillWorld) planPartner(id, pm string, monthlyLimit int) dsu.Partner {
	p := r.partner(id, pm)
	if _, err := r.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{
		Enabled: true, PackageID: ptr("dsu-1000"), Threshold: ptr[int64](0), MonthlyLimit: ptr(monthlyLimit),
	}); err != nil {
		r.t.Fatal(err)
	}
	return p
}

// use reports usage of the partner's tenant t on today's date.
func (r *refillWorld) use(partnerID, tenant string, users int64) {
	r.t.Helper()
	res, err := r.usage.Record(context.Background(), []app.UsageInput{{PartnerID: partnerID, TenantID: tenant, Date: r.clock.Now().Format(dsu.DateLayout), Users: users}})
	if err != nil || res[0].Status != app.UsageApplied {
		r.t.Fatalf("usage: %+v %v", res, err)
	}
}

// streamRecord is the stream record of the partner's balance item now.
func (r *refillWorld) streamRecord(partnerID string, seq int) events.DynamoDBEventRecord {
	out, err := r.emu.Client.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String(dynamotest.Table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "P#" + partnerID}, "sk": &types.AttributeValueMemberS{Value: "BALANCE"},
		},
	})
	if err != nil {
		r.t.Fatal(err)
	}
	return events.DynamoDBEventRecord{EventName: "MODIFY", EventSource: "aws:dynamodb", Change: events.DynamoDBStreamRecord{
		NewImage: dynamostream.FromSDK(out.Item), SequenceNumber: fmt.Sprint(seq), StreamViewType: "NEW_AND_OLD_IMAGES",
	}}
}

// refillAwaitingAuthentication is partner id with an active plan whose
// bank wants every charge authenticated, after its first refill: the plan
// paused authentication_required and that refill requires_action.
func (r *refillWorld) refillAwaitingAuthentication(id string) (dsu.Partner, dsu.Purchase) {
	r.t.Helper()
	p := r.planPartner(id, "pm_3ds", 5)
	r.pay.outcome["pm_3ds"] = "requires_action"
	r.use(id, "t", 2000)
	if err := r.refiller.Refill(context.Background(), id); err != nil {
		r.t.Fatal(err)
	}
	autos := r.autoPurchases(id)
	if len(autos) != 1 || autos[0].Status != dsu.StatusRequiresAction {
		r.t.Fatalf("the refill: %+v", autos)
	}
	return p, autos[0]
}

func (r *refillWorld) autoPurchases(partnerID string) []dsu.Purchase {
	list, _, err := r.store.ListPurchases(context.Background(), partnerID, dsu.Page{Limit: 100})
	if err != nil {
		r.t.Fatal(err)
	}
	var out []dsu.Purchase
	for _, p := range list {
		if p.Kind == dsu.KindAutoRefill {
			out = append(out, p)
		}
	}
	return out
}

func (r *refillWorld) account(partnerID string) dsu.Account {
	acc, err := r.store.GetAccount(context.Background(), partnerID)
	if err != nil {
		r.t.Fatal(err)
	}
	return acc
}

func TestUsedUpBalanceRefillsOnceUnderConcurrentTriggers(t *testing.T) {
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_card", 5)
	r.use("p1", "tenant-a", 2100) // 2,000 → -100

	var wg sync.WaitGroup
	for i := range 50 {
		rec := r.streamRecord("p1", i)
		wg.Go(func() {
			resp, err := r.trigger.Stream(context.Background(), events.DynamoDBEvent{Records: []events.DynamoDBEventRecord{rec}})
			if err != nil || len(resp.BatchItemFailures) != 0 {
				t.Errorf("stream: %v %+v", err, resp)
			}
		})
	}
	wg.Go(func() {
		if _, err := r.sweeper.Sweep(context.Background()); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()

	autos := r.autoPurchases("p1")
	if len(autos) != 1 || autos[0].Status != dsu.StatusSucceeded || autos[0].Units != 1000 {
		t.Fatalf("automatic purchases %+v; want exactly one, succeeded", autos)
	}
	if n := len(r.pay.intents); n != 1 {
		t.Fatalf("%d PaymentIntents, want 1", n)
	}
	if b := r.balance("p1"); b != 900 {
		t.Fatalf("balance %d, want -100 + 1000 = 900 (above the threshold)", b)
	}
	acc := r.account("p1")
	if acc.Refill.Phase != dsu.RefillIdle || acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("plan after the refill %+v / %+v", acc.AutoRefill, acc.Refill)
	}
	if len(r.events.Of(app.EventRefillSucceeded)) != 1 {
		t.Fatal("no refill.succeeded event")
	}
	// Nothing is due any more.
	if res, _ := r.sweeper.Sweep(context.Background()); res.Due != 0 {
		t.Fatalf("%d accounts still due", res.Due)
	}
	// The trigger wrote the metrics at the end of each invocation (the
	// last one: this sweep): one refill, however many triggers raced.
	if err := r.trigger.Sweep(context.Background(), events.EventBridgeEvent{}); err != nil {
		t.Fatal(err)
	}
	points, err := metricstest.Parse(r.emfOut.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{metrics.RefillsStarted, metrics.RefillsSucceeded, metrics.PurchasesCreated, metrics.PurchasesSucceeded} {
		if got := metricstest.Sum(points, name); got != 1 {
			t.Errorf("%s = %v, want 1\n%v", name, got, metricstest.Series(points))
		}
	}
}

func TestRefillBuysEnoughPackagesCapped(t *testing.T) {
	if n := dsu.RefillQuantity(-2500, 0, 1000, 10); n != 3 {
		t.Fatalf("-2500 needs 3 packages of 1000 to end above 0, got %d", n)
	}
	if n := dsu.RefillQuantity(0, 0, 1000, 10); n != 1 {
		t.Fatalf("at the threshold: %d", n)
	}
	if n := dsu.RefillQuantity(-1_000_000, 500, 1000, 10); n != 10 {
		t.Fatalf("the cap: %d", n)
	}
	if n := dsu.RefillQuantity(400, 500, 100, 10); n != 2 {
		t.Fatalf("400 → above 500 with packages of 100: %d", n)
	}
}

func TestAuthenticationRequiredPausesAndCanBeConfirmed(t *testing.T) {
	r := newRefillWorld(t)
	p := r.planPartner("p1", "pm_3ds", 5)
	r.pay.outcome["pm_3ds"] = "requires_action"
	r.use("p1", "t", 2000)
	if err := r.refiller.Refill(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	autos := r.autoPurchases("p1")
	if len(autos) != 1 || autos[0].Status != dsu.StatusRequiresAction || autos[0].Failure == nil || autos[0].Failure.Code != "authentication_required" {
		t.Fatalf("purchase %+v", autos)
	}
	acc := r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedAuthenticationRequired || acc.Refill.Phase != dsu.RefillIdle {
		t.Fatalf("plan %+v %+v", acc.AutoRefill, acc.Refill)
	}
	// No blind retry: the sweep leaves it alone.
	r.clock.Advance(48 * time.Hour)
	r.sweeper.Sweep(context.Background())
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("%d charges; authentication_required must not be retried", n)
	}
	// The partner confirms on-session.
	res, err := r.purchases.Confirm(context.Background(), p, autos[0].ID)
	if err != nil || res.ClientSecret == "" {
		t.Fatalf("confirm: %+v %v", res, err)
	}
	if len(r.events.Of(app.EventAuthenticationRequired)) != 1 || len(r.events.Of(app.EventAutoRefillPaused)) != 1 {
		t.Fatalf("events %+v", r.events.all)
	}
	// Stripe reports the confirmed payment: credited through the same path.
	pi := r.pay.SetIntentStatus(autos[0].PaymentIntentID, app.PISucceeded, nil)
	if err := r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
		t.Fatal(err)
	}
	if b := r.balance("p1"); b != 1000 {
		t.Fatalf("balance %d", b)
	}
}

func TestRetryableDeclinesRetryThenPause(t *testing.T) {
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_poor", 10)
	r.pay.outcome["pm_poor"] = "insufficient_funds"
	r.use("p1", "t", 2000)
	ctx := context.Background()
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	acc := r.account("p1")
	if acc.Refill.Phase != dsu.RefillFailed || acc.Refill.Failures != 1 || !acc.Refill.NextAttemptAt.Equal(r.clock.Now().Add(time.Hour)) {
		t.Fatalf("after the first decline %+v", acc.Refill)
	}
	// Too early: the sweep waits for the backoff.
	r.clock.Advance(59 * time.Minute)
	r.sweeper.Sweep(ctx)
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("retried before the backoff: %d charges", n)
	}
	r.clock.Advance(time.Minute)
	r.sweeper.Sweep(ctx)
	acc = r.account("p1")
	if n := r.pay.Calls("CreatePaymentIntent"); n != 2 || acc.Refill.Failures != 2 || !acc.Refill.NextAttemptAt.Equal(r.clock.Now().Add(6*time.Hour)) {
		t.Fatalf("second attempt: %d charges, %+v", n, acc.Refill)
	}
	r.clock.Advance(6 * time.Hour)
	r.sweeper.Sweep(ctx)
	acc = r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedPaymentFailed {
		t.Fatalf("after three consecutive failures the plan must pause: %+v %+v", acc.AutoRefill, acc.Refill)
	}
	r.clock.Advance(48 * time.Hour)
	r.sweeper.Sweep(ctx)
	if n := r.pay.Calls("CreatePaymentIntent"); n != 3 {
		t.Fatalf("%d charges, want 3", n)
	}
	if autos := r.autoPurchases("p1"); len(autos) != 3 || autos[0].Status != dsu.StatusFailed || autos[0].Failure.Code != "insufficient_funds" {
		t.Fatalf("purchases %+v", autos)
	}
	if b := r.balance("p1"); b != 0 {
		t.Fatalf("balance %d", b)
	}
	if len(r.events.Of(app.EventRefillFailed)) != 3 || len(r.events.Of(app.EventAutoRefillPaused)) != 1 {
		t.Fatalf("events: %d failed, %d paused", len(r.events.Of(app.EventRefillFailed)), len(r.events.Of(app.EventAutoRefillPaused)))
	}
	// A new card resumes the plan, and the next sweep refills.
	r.pay.outcome["pm_new"] = "succeeded"
	p, _ := r.store.GetPartner(ctx, "p1")
	si, _ := r.pay.CreateSetupIntent(ctx, p.StripeCustomerID, "p1", "k")
	si = r.pay.ConfirmSetup(si.ID, "mastercard", "4444")
	r.pay.mu.Lock()
	r.pay.outcome[si.PaymentMethodID] = "succeeded"
	r.pay.mu.Unlock()
	if _, err := r.billing.SaveCard(ctx, p, si.ID); err != nil {
		t.Fatal(err)
	}
	if acc := r.account("p1"); acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("a new card did not resume the plan: %+v", acc.AutoRefill)
	}
	r.sweeper.Sweep(ctx)
	if b := r.balance("p1"); b != 1000 {
		t.Fatalf("balance %d after resuming", b)
	}
}

func TestNonRetryableDeclinePausesAtOnce(t *testing.T) {
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_lost", 5)
	r.pay.outcome["pm_lost"] = "lost_card"
	r.use("p1", "t", 2000)
	r.refiller.Refill(context.Background(), "p1")
	acc := r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedPaymentFailed {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	r.clock.Advance(48 * time.Hour)
	r.sweeper.Sweep(context.Background())
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("%d charges", n)
	}
}

func TestMonthlyLimitPausesWithoutCharging(t *testing.T) {
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_card", 1)
	r.use("p1", "t1", 2000)
	r.refiller.Refill(context.Background(), "p1")
	r.use("p1", "t2", 1000) // the refill is used up too
	if err := r.refiller.Refill(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	acc := r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedMonthlyLimitReached {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 || len(r.autoPurchases("p1")) != 1 {
		t.Fatalf("%d charges", n)
	}
	// Next month the partner re-enables the plan: it refills at once.
	r.clock.Set(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	p, _ := r.store.GetPartner(context.Background(), "p1")
	if _, err := r.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	r.sweeper.Sweep(context.Background())
	if n := r.pay.Calls("CreatePaymentIntent"); n != 2 {
		t.Fatalf("%d charges after re-enabling", n)
	}
}

// A crash after Stripe created the PaymentIntent: the refill stays in
// flight and the sweep reconciles it through Stripe's idempotency key.
func TestCrashAfterThePaymentIntentIsReconciled(t *testing.T) {
	for _, via := range []string{"sweep", "webhook then sweep"} {
		t.Run(via, func(t *testing.T) {
			r := newRefillWorld(t)
			r.planPartner("p1", "pm_card", 5)
			r.use("p1", "t", 2000)
			r.pay.loseResponse = true
			if err := r.refiller.Refill(context.Background(), "p1"); err != nil {
				t.Fatal(err)
			}
			autos := r.autoPurchases("p1")
			if len(autos) != 1 || autos[0].Status != dsu.StatusPending || r.account("p1").Refill.Phase != dsu.RefillInFlight {
				t.Fatalf("after the lost answer: %+v", autos)
			}
			// Still in flight: other triggers start nothing new.
			r.refiller.Refill(context.Background(), "p1")
			r.sweeper.Sweep(context.Background())
			if len(r.autoPurchases("p1")) != 1 || len(r.pay.intents) != 1 {
				t.Fatal("a second refill started while one was in flight")
			}
			if via == "webhook then sweep" {
				pi, _ := r.pay.IntentFor(autos[0].ID)
				if err := r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi)); err != nil {
					t.Fatal(err)
				}
			}
			r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
			if _, err := r.sweeper.Sweep(context.Background()); err != nil {
				t.Fatal(err)
			}
			if b := r.balance("p1"); b != 1000 {
				t.Fatalf("balance %d, want one credit", b)
			}
			if len(r.pay.intents) != 1 {
				t.Fatalf("%d PaymentIntents: a second charge", len(r.pay.intents))
			}
			if acc := r.account("p1"); acc.Refill.Phase != dsu.RefillIdle || acc.AutoRefill.Status != dsu.AutoRefillActive {
				t.Fatalf("plan %+v %+v", acc.AutoRefill, acc.Refill)
			}
		})
	}
}

func TestSweepPacesItsStripeBudget(t *testing.T) {
	r := newRefillWorld(t)
	for i := range 5 {
		id := fmt.Sprintf("p%d", i)
		r.planPartner(id, "pm_"+id, 5)
		r.use(id, "t", 2000)
	}
	var slept []time.Duration
	r.sweeper.Rate = 20
	r.sweeper.Sleep = func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil }
	res, err := r.sweeper.Sweep(context.Background())
	if err != nil || res.Due != 5 {
		t.Fatalf("%+v %v", res, err)
	}
	if len(slept) != 4 || slept[0] != 50*time.Millisecond {
		t.Fatalf("paced %v; want 4 waits of 50ms for 20 refills a second", slept)
	}
}

func TestSweepTouchesOnlyTheAccountsThatNeedIt(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	// The 100 due partners first: the emulator snapshots the whole table
	// in every transaction, so their setup is cheaper on a small table.
	for i := range 100 {
		id := fmt.Sprintf("due-%03d", i)
		r.planPartner(id, "pm_"+id, 5)
		r.use(id, "t", 2000)
	}
	// 9,900 partners with plenty of DSUs, written straight to the table.
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
	for i := range 9900 {
		id := fmt.Sprintf("idle-%05d", i)
		batch = append(batch, types.WriteRequest{PutRequest: &types.PutRequest{Item: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: "P#" + id}, "sk": &types.AttributeValueMemberS{Value: "BALANCE"},
			"type": &types.AttributeValueMemberS{Value: "balance"}, "partnerId": &types.AttributeValueMemberS{Value: id},
			"units": &types.AttributeValueMemberN{Value: "5000"}, "version": &types.AttributeValueMemberN{Value: "1"},
			"arStatus": &types.AttributeValueMemberS{Value: "active"}, "arEnabled": &types.AttributeValueMemberBOOL{Value: true},
			"arPackageId": &types.AttributeValueMemberS{Value: "dsu-1000"}, "arThreshold": &types.AttributeValueMemberN{Value: "0"},
		}}})
		if len(batch) == 25 {
			flush()
		}
	}
	flush()
	r.api.Reset()
	res, err := r.sweeper.Sweep(ctx)
	if err != nil || res.Due != 100 || res.Failed != 0 {
		t.Fatalf("%+v %v", res, err)
	}
	c := r.api.Counts()
	// Per due account: the sweep's read, the refill's account and partner
	// reads, the claim's read and the settlement's read.
	if c.Reads > int64(r.store.SweepShards())+100*6 {
		t.Fatalf("the sweep read %d times for 100 due accounts among 10,000", c.Reads)
	}
	if n := len(r.pay.intents); n != 100 {
		t.Fatalf("%d refills", n)
	}
}

// A refill charged at Stripe whose answer was lost, then the card deleted:
// the sweep finds the PaymentIntent at Stripe and credits it, and a late
// webhook changes nothing more.
func TestReconcileFindsAChargeAfterTheCardIsGone(t *testing.T) {
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_card", 5)
	r.use("p1", "t", 2000)
	r.pay.loseResponse = true
	r.refiller.Refill(context.Background(), "p1")
	autos := r.autoPurchases("p1")
	pi, _ := r.pay.IntentFor(autos[0].ID)
	p, _ := r.store.GetPartner(context.Background(), "p1")
	if _, err := r.billing.DeleteCard(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
	if _, err := r.sweeper.Sweep(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, pi))
	if b := r.balance("p1"); b != 1000 {
		t.Fatalf("balance %d: the charge was not credited once", b)
	}
	if n := r.pay.Calls("CreatePaymentIntent"); n != 1 {
		t.Fatalf("%d charges", n)
	}
}

// A refill that was never charged, reconciled after the plan stopped: it
// fails as not charged without asking Stripe to charge, and a success
// Stripe reports later after all still credits it.
func TestReconcileGivesUpAnUnchargedRefill(t *testing.T) {
	r := newRefillWorld(t)
	p := r.planPartner("p1", "pm_card", 5)
	r.use("p1", "t", 2000)
	r.pay.failOnce["CreatePaymentIntent"] = errStripeDown
	r.refiller.Refill(context.Background(), "p1")
	if _, err := r.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: false}); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
	r.sweeper.Sweep(context.Background())
	autos := r.autoPurchases("p1")
	if len(autos) != 1 || autos[0].Status != dsu.StatusFailed || autos[0].Failure.Code != "not_charged" {
		t.Fatalf("purchase %+v", autos)
	}
	if r.pay.Calls("CreatePaymentIntent") != 1 || r.account("p1").Refill.Phase != dsu.RefillIdle {
		t.Fatalf("%d charges, refill %+v", r.pay.Calls("CreatePaymentIntent"), r.account("p1").Refill)
	}
	late := app.PaymentIntent{ID: "pi_late", Status: app.PISucceeded, Amount: autos[0].Amount,
		Metadata: map[string]string{"partner_id": "p1", "purchase_id": autos[0].ID}}
	if err := r.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, late)); err != nil {
		t.Fatal(err)
	}
	if b := r.balance("p1"); b != 1000 {
		t.Fatalf("balance %d: a late payment of a given-up refill must still be credited", b)
	}
}

// Stripe refuses a refill outright (no PaymentIntent, not an outage): the
// plan pauses at once instead of retrying the same refusal.
func TestPermanentRefusalPausesThePlan(t *testing.T) {
	r := newRefillWorld(t)
	r.planPartner("p1", "pm_card", 5)
	r.use("p1", "t", 2000)
	r.pay.failOnce["CreatePaymentIntent"] = dsu.Errorf(dsu.KindNotFound, "No such PaymentMethod: 'pm_card'")
	if err := r.refiller.Refill(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	acc := r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillPaused || acc.AutoRefill.PausedReason != dsu.PausedCardMissing || acc.Refill.Phase != dsu.RefillIdle {
		t.Fatalf("plan %+v %+v", acc.AutoRefill, acc.Refill)
	}
	if autos := r.autoPurchases("p1"); len(autos) != 1 || autos[0].Status != dsu.StatusFailed {
		t.Fatalf("purchase %+v", autos)
	}
}

// A refill charged on the old card whose answer and webhooks were lost,
// then the card is replaced: the sweep's retry sends the new card under the
// same idempotency key, which Stripe refuses (idempotency_error, a key
// reused with other parameters). The first attempt's PaymentIntent is
// looked up and credited, never taken as a refusal: the refill is not
// marked not charged and the plan is not paused.
func TestReconcileFindsARefillChargedOnACardReplacedSince(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.planPartner("p1", "pm_old", 5)
	before := r.balance("p1")
	r.use("p1", "t", 2000)
	r.pay.loseResponse = true
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	autos := r.autoPurchases("p1")
	if len(autos) != 1 || autos[0].Status != dsu.StatusPending {
		t.Fatalf("refill %+v", autos)
	}
	charged, _ := r.pay.IntentFor(autos[0].ID)
	if charged.Status != app.PISucceeded || charged.PaymentMethodID != "pm_old" {
		t.Fatalf("first attempt at Stripe %+v", charged)
	}
	si := r.confirmCard(p, "visa", "1881")
	if _, err := r.billing.SaveCard(ctx, p, si.ID); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
	r.sweep()
	got := r.purchase("p1", autos[0].ID)
	if got.Status != dsu.StatusSucceeded || got.PaymentIntentID != charged.ID {
		t.Fatalf("refill %+v failure %+v", got, got.Failure)
	}
	if b := r.balance("p1"); b != before-2000+1000 {
		t.Fatalf("balance %d, want %d: the charge on the old card was not credited once", b, before-1000)
	}
	if acc := r.account("p1"); acc.AutoRefill.Status != dsu.AutoRefillActive || acc.Refill.Phase != dsu.RefillIdle {
		t.Fatalf("plan %+v, refill %+v", acc.AutoRefill, acc.Refill)
	}
	if n := len(r.pay.intents); n != 1 {
		t.Fatalf("%d PaymentIntents for one refill", n)
	}
}

// A refill whose first attempt never reached Stripe, retried after the card
// was replaced: nothing used the key, so the new card is charged, once.
func TestReconcileChargesTheNewCardWhenTheFirstAttemptNeverReachedStripe(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	p := r.planPartner("p1", "pm_old", 5)
	before := r.balance("p1")
	r.use("p1", "t", 2000)
	r.pay.failOnce["CreatePaymentIntent"] = errStripeDown
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	si := r.confirmCard(p, "visa", "1881")
	if _, err := r.billing.SaveCard(ctx, p, si.ID); err != nil {
		t.Fatal(err)
	}
	r.clock.Advance(dsu.DefaultRefillPolicy.StuckAfter)
	r.sweep()
	autos := r.autoPurchases("p1")
	pi, _ := r.pay.IntentFor(autos[0].ID)
	if len(autos) != 1 || autos[0].Status != dsu.StatusSucceeded || pi.PaymentMethodID != si.PaymentMethodID {
		t.Fatalf("refill %+v, charged %q", autos, pi.PaymentMethodID)
	}
	if b := r.balance("p1"); b != before-1000 {
		t.Fatalf("balance %d, want %d", b, before-1000)
	}
}

// A refill is in flight on the old card when the partner saves a new one;
// then the old card's charge is declined for good (stolen_card). The
// decline says nothing of the new card: the plan stays active, neither the
// failure streak nor the month's count (a limit of 1) holds it back, and
// the next refill charges the new card.
func TestADeclineOfAReplacedCardDoesNotPauseThePlan(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.planPartner("p1", "pm_old", 1)
	r.use("p1", "t", 2000)
	r.pay.loseResponse = true // in flight: Stripe's answer is lost
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	r.pay.loseResponse = false
	first := r.autoPurchases("p1")[0]
	si := r.confirmCard(r.savedPartner("p1"), "visa", "4242")
	if err := r.setupSucceeded(si); err != nil {
		t.Fatal(err)
	}
	newCard := r.savedPartner("p1").Card.PaymentMethodID
	if newCard == "pm_old" {
		t.Fatal("the new card was not saved")
	}

	pi, _ := r.pay.IntentFor(first.ID)
	if pi.PaymentMethodID != "pm_old" {
		t.Fatalf("the first refill was charged to %q", pi.PaymentMethodID)
	}
	declined := r.pay.SetIntentStatus(pi.ID, app.PIRequiresPaymentMethod,
		&app.PaymentError{Code: "card_declined", DeclineCode: "stolen_card", Message: "Your card was declined."})
	if err := r.webhooks.Handle(ctx, piEvent(app.EvPaymentFailed, declined)); err != nil {
		t.Fatal(err)
	}
	if got := r.purchase("p1", first.ID); got.Status != dsu.StatusFailed {
		t.Fatalf("the old card's refill %+v", got)
	}
	acc := r.account("p1")
	if acc.AutoRefill.Status != dsu.AutoRefillActive || acc.Refill.Phase != dsu.RefillIdle || acc.Refill.Failures != 0 || acc.Refill.MonthCount != 0 {
		t.Fatalf("after the old card's decline: plan %+v, refill %+v", acc.AutoRefill, acc.Refill)
	}
	before := r.balance("p1")
	if err := r.refiller.Refill(ctx, "p1"); err != nil {
		t.Fatal(err)
	}
	var second dsu.Purchase
	for _, a := range r.autoPurchases("p1") {
		if a.ID != first.ID {
			second = a
		}
	}
	if pi, _ := r.pay.IntentFor(second.ID); second.Status != dsu.StatusSucceeded || pi.PaymentMethodID != newCard {
		t.Fatalf("the next refill %+v, charged to %q, want the new card %q", second, pi.PaymentMethodID, newCard)
	}
	if got := r.balance("p1"); got != before+1000 {
		t.Fatalf("balance %d, want %d", got, before+1000)
	}
}
