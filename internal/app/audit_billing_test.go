package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/logging"
)

type auditPage struct {
	Events []struct {
		ID, Action string
		Actor      struct {
			Sub   string
			Email *string
		}
		Details map[string]any
	}
	NextCursor *string
}

func (r *billingRig) audit(claims map[string]string) (auditPage, billingResponse) {
	r.t.Helper()
	resp := r.do(claims, "GET /v1/audit", "")
	var page auditPage
	if resp.status == 200 {
		if err := json.Unmarshal([]byte(resp.body), &page); err != nil {
			r.t.Fatal(err)
		}
	}
	return page, resp
}

// After a contact change, a card change, a plan change and a purchase,
// GET /v1/audit lists them newest first with the person from the token,
// records the contact's changed fields but never their values, and is
// refused to readers.
func TestAuditOfAPersonsChanges(t *testing.T) {
	r := newBillingRig(t)
	ctx := context.Background()
	jane := billingAdmin("acme")
	jane["sub"], jane["email"] = "5f1b8c2e-jane", "jane.doe@acme.example"

	r.do(jane, "PUT /v1/billing/contact", contactBody(nil)).info(t)
	// The same contact again changes nothing and records nothing; then
	// the city and the phone change.
	r.do(jane, "PUT /v1/billing/contact", contactBody(nil)).info(t)
	r.do(jane, "PUT /v1/billing/contact", contactBody(func(_, contact, address map[string]any) {
		contact["phone"], address["city"] = "+1 555 010 0200", "Shelbyville"
	})).info(t)
	setup := r.startSetup("acme")
	r.pay.ConfirmSetup(setup, "visa", "4242")
	r.do(jane, "PUT /v1/billing/card", fmt.Sprintf(`{"setupIntentId":%q}`, setup)).info(t)
	r.do(jane, "PUT /v1/billing/auto-refill", `{"enabled":true,"packageId":"dsu-1000","threshold":100,"monthlyLimit":5}`).info(t)
	r.do(jane, "PUT /v1/billing/auto-refill", `{"enabled":true,"packageId":"dsu-1000","threshold":100,"monthlyLimit":5}`).info(t) // unchanged

	// A purchase through the purchases use case, as jane.
	purchases := &app.Purchases{Store: r.store, Payments: r.pay, Catalog: r.catalog, Clock: r.clock, IDs: r.ids, Log: logging.Discard()}
	p := r.partner("acme")
	res, err := purchases.Create(app.WithActor(ctx, dsu.Actor{Sub: jane["sub"], Email: jane["email"]}), p, app.CreatePurchaseInput{
		IdempotencyKey: "k1", Fingerprint: "fp", Lines: []dsu.PurchaseLine{{PackageID: "dsu-1000", Quantity: 1}}, PaymentMethod: app.PayWithSavedCard,
	})
	if err != nil {
		t.Fatal(err)
	}

	page, resp := r.audit(jane)
	if resp.status != 200 {
		t.Fatalf("%d %s", resp.status, resp.body)
	}
	var actions []string
	for _, ev := range page.Events {
		actions = append(actions, ev.Action)
		if ev.Actor.Sub != "5f1b8c2e-jane" || ev.Actor.Email == nil || *ev.Actor.Email != "jane.doe@acme.example" {
			t.Errorf("%s by %+v", ev.Action, ev.Actor)
		}
	}
	if want := "[purchase.created auto_refill.updated card.saved contact.updated contact.updated]"; fmt.Sprint(actions) != want {
		t.Fatalf("actions %v, want %s", actions, want)
	}
	ev := func(i int) map[string]any { return page.Events[i].Details }
	if ev(0)["purchaseId"] != res.Purchase.ID || ev(2)["brand"] != "visa" || ev(2)["last4"] != "4242" {
		t.Errorf("details %v %v", ev(0), ev(2))
	}
	if fmt.Sprint(ev(3)["fields"]) != "[contact.phone address.city]" {
		t.Errorf("changed fields %v", ev(3)["fields"])
	}
	before, _ := ev(1)["before"].(map[string]any)
	after, _ := ev(1)["after"].(map[string]any)
	if before["enabled"] != false || after["enabled"] != true || after["threshold"] != float64(100) {
		t.Errorf("plan before %v after %v", before, after)
	}
	// Never a contact value: only the names of the fields.
	for _, value := range []string{"Jane Doe", "555 010", "Shelbyville", "Springfield", "Main Street", "62701"} {
		if strings.Contains(resp.body, value) {
			t.Errorf("the audit log shows %q: %s", value, resp.body)
		}
	}
	if _, resp := r.audit(billingReader("acme")); resp.status != 403 {
		t.Errorf("a reader read the audit log: %d", resp.status)
	}
}

// Webhook-driven changes are Stripe's, and writes that record an audit
// event stay one round trip: the record and its event in one transaction.
func TestAuditOfStripesChangesInTheSameWrite(t *testing.T) {
	r := newBillingRig(t)
	ctx := context.Background()
	r.saveContact("acme")
	setup := r.startSetup("acme")
	si := r.pay.ConfirmSetup(setup, "mastercard", "5454")
	r.api.Reset()
	if err := r.billing.SaveCardFromSetupIntent(app.WithActor(ctx, dsu.ActorStripe), si); err != nil {
		t.Fatal(err)
	}
	c := r.api.Counts()
	// The plan is off, so the account does not change: it is only checked
	// under its version, in the same transaction as the record and its
	// event (the resume a saved card brings is decided there).
	if c.Writes != 0 || c.Transactions != 1 || c.MaxTransactionItems != 3 {
		t.Errorf("saving a card: %+v, want the billing record, its audit event and the account's check in one transaction", c)
	}
	page, _ := r.audit(billingAdmin("acme"))
	if len(page.Events) < 1 || page.Events[0].Action != "card.saved" || page.Events[0].Actor.Sub != "stripe" || page.Events[0].Actor.Email != nil {
		t.Fatalf("%+v", page.Events)
	}
	// A detach reported by Stripe removes the card: Stripe's change too.
	pm := r.partner("acme").Card.PaymentMethodID
	r.clock.Advance(time.Second)
	if err := r.billing.CardDetached(app.WithActor(ctx, dsu.ActorStripe), app.PaymentMethod{ID: pm}, r.partner("acme").StripeCustomerID); err != nil {
		t.Fatal(err)
	}
	page, _ = r.audit(billingAdmin("acme"))
	if page.Events[0].Action != "card.removed" || page.Events[0].Actor.Sub != "stripe" || page.Events[0].Details["last4"] != "5454" {
		t.Fatalf("%+v", page.Events[0])
	}
}
