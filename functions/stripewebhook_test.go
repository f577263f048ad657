package functions_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/lambdatest"
	"github.com/cirasync/dsubilling/internal/stripeapi"
)

// fixtureWorld seeds what the webhook fixtures refer to: partner-acme with
// its Stripe customer, its card pm_1QFixture00001, and a pending purchase
// pur_fixture0000000001 of 1,000 DSUs for $50 paid by pi_3QFixture0000001.
func fixtureWorld(t *testing.T, emu *dynamotest.Emulator) *dynamo.Store {
	t.Helper()
	ctx := context.Background()
	store := dynamo.New(emu.Client, dynamo.Options{Table: dynamotest.Table})
	now := time.Now().UTC()
	p := dsu.NewPartner("partner-acme", dsu.PartnerDefaults{Currency: dsu.USD}, now)
	if _, err := store.CreatePartner(ctx, p, 2000); err != nil {
		t.Fatal(err)
	}
	p.StripeCustomerID = "cus_QFixture00001"
	p.Contact = &dsu.Contact{Name: "Jane Doe", Email: "jane.doe@acme.example"}
	p.Card = &dsu.Card{PaymentMethodID: "pm_1QFixture00001", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}
	if _, err := store.SavePartner(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	pur := dsu.Purchase{ID: "pur_fixture0000000001", PartnerID: "partner-acme", Kind: dsu.KindManual, Status: dsu.StatusPending,
		Items: []dsu.LineItem{{PackageID: "dsu-1000", Name: "1,000 DSUs", Quantity: 1, Units: 1000, Amount: dsu.Money{Amount: 5000, Currency: dsu.USD}}},
		Units: 1000, Amount: dsu.Money{Amount: 5000, Currency: dsu.USD}, CreatedAt: now}
	if err := store.CreatePurchase(ctx, pur, nil); err != nil {
		t.Fatal(err)
	}
	pur.PaymentIntentID = "pi_3QFixture0000001"
	if _, err := store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: pur, From: []dsu.PurchaseStatus{dsu.StatusPending}, LinkPaymentIntent: true}); err != nil {
		t.Fatal(err)
	}
	return store
}

// deliver signs a fixture now and returns it as Lambda receives it.
func deliver(t *testing.T, name string) []byte {
	t.Helper()
	return deliverChanged(t, name, strings.NewReplacer())
}

// deliverChanged is deliver of the fixture's body changed by r (another
// status, another mode), signed after the change as Stripe would sign it.
func deliverChanged(t *testing.T, name string, r *strings.Replacer) []byte {
	t.Helper()
	var ev events.APIGatewayV2HTTPRequest
	eventfixtures.Load(t, "stripewebhook/"+name, &ev)
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		body, _ = base64.StdEncoding.DecodeString(ev.Body)
	}
	body = []byte(r.Replace(string(body)))
	ev.Body = string(body)
	if ev.IsBase64Encoded {
		ev.Body = base64.StdEncoding.EncodeToString(body)
	}
	ev.Headers["stripe-signature"] = stripeapi.SignPayload(webhookSecret, body, time.Now())
	out, _ := json.Marshal(ev)
	return out
}

func TestStripeWebhookCompletesThePurchase(t *testing.T) {
	emu := seededTable(t)
	store := fixtureWorld(t, emu)
	rt := lambdatest.Start(t, lambdatest.Build(t, "stripewebhook"), baseEnv(emu))
	ctx := context.Background()

	for _, fixture := range []string{"payment_intent.succeeded.json", "payment_intent.succeeded.base64.json", "payment_intent.succeeded.json"} {
		if resp := invokeEvent(t, rt, deliver(t, fixture)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", fixture, resp.StatusCode, resp.Body)
		}
	}
	acc, _ := store.GetAccount(ctx, "partner-acme")
	if acc.Units != 3000 {
		t.Fatalf("balance %d after three deliveries of one payment, want 3000", acc.Units)
	}
	pur, _ := store.GetPurchase(ctx, "partner-acme", "pur_fixture0000000001")
	if pur.Status != dsu.StatusSucceeded {
		t.Fatalf("status %s", pur.Status)
	}

	// A late failure for the same PaymentIntent changes nothing.
	if resp := invokeEvent(t, rt, deliver(t, "payment_intent.payment_failed.json")); resp.StatusCode != 200 {
		t.Fatalf("late failure: %d", resp.StatusCode)
	}
	if pur, _ := store.GetPurchase(ctx, "partner-acme", "pur_fixture0000000001"); pur.Status != dsu.StatusSucceeded {
		t.Fatalf("a late failure moved the purchase back to %s", pur.Status)
	}

	// Unknown events are acknowledged and ignored.
	if resp := invokeEvent(t, rt, deliver(t, "customer.created.json")); resp.StatusCode != 200 {
		t.Fatalf("unknown event: %d", resp.StatusCode)
	}

	// An unsigned delivery is refused.
	var ev events.APIGatewayV2HTTPRequest
	eventfixtures.Load(t, "stripewebhook/payment_intent.succeeded.json", &ev)
	raw, _ := json.Marshal(ev)
	if resp := invokeEvent(t, rt, raw); resp.StatusCode != 400 {
		t.Fatalf("unsigned: %d", resp.StatusCode)
	}
}

// The refund lifecycle and receipts through the built function: an event
// of the other Stripe mode changes nothing; charge.succeeded stores the
// receipt; a refund reported pending, then failed, is debited and given
// back.
func TestStripeWebhookReceiptsAndRefundLifecycle(t *testing.T) {
	emu := seededTable(t)
	store := fixtureWorld(t, emu)
	rt := lambdatest.Start(t, lambdatest.Build(t, "stripewebhook"), baseEnv(emu))
	ctx := context.Background()
	balance := func() int64 {
		acc, _ := store.GetAccount(ctx, "partner-acme")
		return acc.Units
	}

	live := strings.NewReplacer(`"livemode":false,"pending_webhooks"`, `"livemode":true,"pending_webhooks"`, "evt_3QFixture0000001", "evt_3QFixtureLive01")
	if resp := invokeEvent(t, rt, deliverChanged(t, "payment_intent.succeeded.json", live)); resp.StatusCode != 200 {
		t.Fatalf("live event at a test key: %d %s", resp.StatusCode, resp.Body)
	}
	if pur, _ := store.GetPurchase(ctx, "partner-acme", "pur_fixture0000000001"); pur.Status != dsu.StatusPending || balance() != 2000 {
		t.Fatalf("a live event credited a test deployment: %s, balance %d", pur.Status, balance())
	}

	for _, fixture := range []string{"charge.succeeded.json", "payment_intent.succeeded.json", "charge.succeeded.base64.json"} {
		if resp := invokeEvent(t, rt, deliver(t, fixture)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", fixture, resp.StatusCode, resp.Body)
		}
	}
	pur, _ := store.GetPurchase(ctx, "partner-acme", "pur_fixture0000000001")
	if pur.Status != dsu.StatusSucceeded || !strings.HasPrefix(pur.ReceiptURL, "https://pay.stripe.com/receipts/") || balance() != 3000 {
		t.Fatalf("purchase %+v, balance %d", pur, balance())
	}

	pending := strings.NewReplacer(`"status":"failed"`, `"status":"pending"`, "evt_3QFixture0000014", "evt_3QFixturePend14")
	if resp := invokeEvent(t, rt, deliverChanged(t, "charge.refund.updated.json", pending)); resp.StatusCode != 200 {
		t.Fatalf("pending refund: %d %s", resp.StatusCode, resp.Body)
	}
	if pur, _ := store.GetPurchase(ctx, "partner-acme", "pur_fixture0000000001"); pur.Status != dsu.StatusRefunded || balance() != 2000 {
		t.Fatalf("after the pending refund: %s, balance %d", pur.Status, balance())
	}
	for _, fixture := range []string{"charge.refund.updated.json", "charge.refund.updated.base64.json"} {
		if resp := invokeEvent(t, rt, deliver(t, fixture)); resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", fixture, resp.StatusCode, resp.Body)
		}
	}
	if pur, _ := store.GetPurchase(ctx, "partner-acme", "pur_fixture0000000001"); pur.Status != dsu.StatusSucceeded || balance() != 3000 {
		t.Fatalf("after the refund failed: %s, balance %d", pur.Status, balance())
	}
}

func TestStripeWebhookSavesAndForgetsCards(t *testing.T) {
	emu := seededTable(t)
	store := fixtureWorld(t, emu)
	rt := lambdatest.Start(t, lambdatest.Build(t, "stripewebhook"), baseEnv(emu))
	ctx := context.Background()

	// The automatic update renews the saved card's expiry and number.
	if resp := invokeEvent(t, rt, deliver(t, "payment_method.automatically_updated.json")); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	p, _ := store.GetPartner(ctx, "partner-acme")
	if p.Card == nil || p.Card.Last4 != "4444" || p.Card.ExpYear != 2031 {
		t.Fatalf("card %+v", p.Card)
	}
	// Detached at Stripe (the Dashboard): forgotten here too.
	if resp := invokeEvent(t, rt, deliver(t, "payment_method.detached.json")); resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if p, _ := store.GetPartner(ctx, "partner-acme"); p.Card != nil {
		t.Fatalf("card still saved: %+v", p.Card)
	}
}
