package app_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Tests of the billing routes (API.md, the /v1/billing routes): the billing function as
// wiring builds it (httpapi.Function over the route table, app.Partners and
// app.Billing) on the store over the emulated table, with the Stripe fake.
// Only the Lambda runtime is missing; functions/billing_test.go adds it.

// billingRig is one billing function with its own table and Stripe.
type billingRig struct {
	t         *testing.T
	api       *dynamotest.CountingAPI
	store     *dynamo.Store
	clock     *dsutest.FixedClock
	ids       *dsutest.SequentialIDs
	pay       *fakePayments
	published *recordedEvents
	catalog   *app.CachedCatalog
	partners  *app.Partners
	billing   *app.Billing
	fn        *httpapi.Function
}

var billingNow = time.Date(2026, 11, 12, 10, 0, 0, 0, time.UTC)

func newBillingRig(t *testing.T) *billingRig {
	t.Helper()
	emu := dynamotest.New(t)
	r := &billingRig{t: t, clock: dsutest.NewFixedClock(billingNow), ids: &dsutest.SequentialIDs{}, pay: newFakePayments(), published: &recordedEvents{}}
	r.api = dynamotest.NewCountingAPI(emu.Client)
	r.store = dynamo.New(r.api, dynamo.Options{Table: dynamotest.Table, Clock: r.clock, IDs: r.ids})
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.store.PutCatalog(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	log := logging.Discard()
	r.catalog = &app.CachedCatalog{Source: r.store, Clock: r.clock, TTL: time.Minute}
	r.partners = &app.Partners{Store: r.store, Defaults: dsu.PartnerDefaults{Currency: dsu.USD, WelcomeGrant: 2000}, Clock: r.clock}
	r.billing = &app.Billing{Store: r.store, Payments: r.pay, Catalog: r.catalog, IDs: r.ids, Events: r.published, Log: log, Clock: r.clock}
	r.fn, err = httpapi.NewFunction(routes.Billing, routes.ForFunction(routes.Billing),
		httpapi.Config{Claims: httpapi.DefaultClaimNames, Partners: r.partners, Log: log},
		httpapi.BillingEndpoints(r.billing, &app.AuditLog{Store: r.store}))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Callers, with claims as API Gateway's JWT authorizer passes them: every
// value a string, the groups as "[a b]".
func billingAdmin(partner string) map[string]string {
	return map[string]string{"custom:partner_id": partner, "cognito:groups": "[billing-admin]", "sub": "admin-of-" + partner}
}

func billingReader(partner string) map[string]string {
	return map[string]string{"custom:partner_id": partner, "cognito:groups": "[billing-viewer]", "sub": "reader-of-" + partner}
}

type billingResponse struct {
	status  int
	headers map[string]string
	body    string
}

// do sends one request to the billing function.
func (r *billingRig) do(claims map[string]string, routeKey, body string) billingResponse {
	r.t.Helper()
	method, path, _ := strings.Cut(routeKey, " ")
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: routeKey, RawPath: path, Body: body, Headers: map[string]string{"accept": "application/json"}}
	if body != "" {
		ev.Headers["content-type"] = "application/json"
	}
	ev.RequestContext.RouteKey = routeKey
	ev.RequestContext.RequestID = "req-billing-test"
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = method, path
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return r.invoke(ev)
}

func (r *billingRig) invoke(ev events.APIGatewayV2HTTPRequest) billingResponse {
	r.t.Helper()
	resp, err := r.fn.Handle(context.Background(), ev)
	if err != nil {
		r.t.Fatalf("%s: the handler failed the invocation: %v", ev.RouteKey, err)
	}
	openapitest.CheckEvent(r.t, ev, resp)
	return billingResponse{status: resp.StatusCode, headers: resp.Headers, body: resp.Body}
}

// billingInfo is BillingInfo as API.md shows it.
type billingInfo struct {
	PartnerID        string  `json:"partnerId"`
	Currency         string  `json:"currency"`
	StripeCustomerID *string `json:"stripeCustomerId"`
	Contact          *struct {
		Name  string  `json:"name"`
		Email string  `json:"email"`
		Phone *string `json:"phone"`
	} `json:"contact"`
	Address *struct {
		Line1      string  `json:"line1"`
		Line2      *string `json:"line2"`
		City       string  `json:"city"`
		State      *string `json:"state"`
		PostalCode string  `json:"postalCode"`
		Country    string  `json:"country"`
	} `json:"address"`
	VATID *string `json:"vatId"`
	Card  *struct {
		Brand       string `json:"brand"`
		Last4       string `json:"last4"`
		ExpMonth    int    `json:"expMonth"`
		ExpYear     int    `json:"expYear"`
		ExpiresSoon bool   `json:"expiresSoon"`
	} `json:"card"`
	AutoRefill struct {
		Enabled      bool    `json:"enabled"`
		PackageID    *string `json:"packageId"`
		Threshold    int64   `json:"threshold"`
		MonthlyLimit *int    `json:"monthlyLimit"`
		Status       string  `json:"status"`
		PausedReason *string `json:"pausedReason"`
	} `json:"autoRefill"`
	Balance struct {
		Units int64 `json:"units"`
	} `json:"balance"`
}

// info decodes a 200 BillingInfo; a field API.md does not list fails the test.
func (resp billingResponse) info(t *testing.T) billingInfo {
	t.Helper()
	if resp.status != 200 {
		t.Fatalf("status %d, want 200: %s", resp.status, resp.body)
	}
	if resp.headers["Content-Type"] != "application/json" || resp.headers["Cache-Control"] != "no-store" {
		t.Fatalf("headers %v", resp.headers)
	}
	var info billingInfo
	dec := json.NewDecoder(strings.NewReader(resp.body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&info); err != nil {
		t.Fatalf("not a BillingInfo: %v: %s", err, resp.body)
	}
	return info
}

type billingProblem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
	Errors []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"errors"`
}

// problem checks a problem+json answer: status, code and, for validation
// failures, exactly the fields named.
func (resp billingResponse) problem(t *testing.T, status int, code string, fields ...string) billingProblem {
	t.Helper()
	if resp.status != status {
		t.Fatalf("status %d, want %d: %s", resp.status, status, resp.body)
	}
	if ct := resp.headers["Content-Type"]; ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	var p billingProblem
	if err := json.Unmarshal([]byte(resp.body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != status || p.Code != code || p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Fatalf("problem %+v, want status %d code %s", p, status, code)
	}
	var got []string
	for _, e := range p.Errors {
		if e.Message == "" {
			t.Errorf("field %s without a message", e.Field)
		}
		got = append(got, e.Field)
	}
	slices.Sort(got)
	want := slices.Clone(fields)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("fields %v, want %v: %s", got, want, resp.body)
	}
	return p
}

// contactBody is a valid PUT /v1/billing/contact body, changed by edit.
func contactBody(edit func(body, contact, address map[string]any)) string {
	contact := map[string]any{"name": "Jane Doe", "email": "jane.doe@acme.example", "phone": "+1 555 010 0199"}
	address := map[string]any{"line1": "100 Main Street", "line2": "Suite 400", "city": "Springfield", "state": "IL", "postalCode": "62701", "country": "US"}
	body := map[string]any{"contact": contact, "address": address}
	if edit != nil {
		edit(body, contact, address)
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (r *billingRig) saveContact(partner string) billingInfo {
	r.t.Helper()
	return r.do(billingAdmin(partner), "PUT /v1/billing/contact", contactBody(nil)).info(r.t)
}

// saveCard goes through the portal's card flow: a SetupIntent, confirmed
// with Stripe Elements (the fake), then PUT /v1/billing/card. It returns
// the SetupIntent.
func (r *billingRig) saveCard(partner, brand, last4 string) app.SetupIntent {
	r.t.Helper()
	setup := r.startSetup(partner)
	si := r.pay.ConfirmSetup(setup, brand, last4)
	info := r.do(billingAdmin(partner), "PUT /v1/billing/card", `{"setupIntentId":"`+si.ID+`"}`).info(r.t)
	if info.Card == nil || info.Card.Brand != brand || info.Card.Last4 != last4 {
		r.t.Fatalf("card not saved: %+v", info.Card)
	}
	return si
}

func (r *billingRig) startSetup(partner string) string {
	r.t.Helper()
	resp := r.do(billingAdmin(partner), "POST /v1/billing/card/setup-intent", "")
	if resp.status != 201 {
		r.t.Fatalf("setup-intent: %d %s", resp.status, resp.body)
	}
	var out struct {
		SetupIntentID string `json:"setupIntentId"`
		ClientSecret  string `json:"clientSecret"`
	}
	if err := json.Unmarshal([]byte(resp.body), &out); err != nil || !strings.HasPrefix(out.SetupIntentID, "seti_") || out.ClientSecret == "" {
		r.t.Fatalf("setup-intent body %s", resp.body)
	}
	return out.SetupIntentID
}

func (r *billingRig) enablePlan(partner string, threshold int64) billingInfo {
	r.t.Helper()
	body := fmt.Sprintf(`{"enabled":true,"packageId":"dsu-1000","threshold":%d,"monthlyLimit":5}`, threshold)
	info := r.do(billingAdmin(partner), "PUT /v1/billing/auto-refill", body).info(r.t)
	if info.AutoRefill.Status != "active" {
		r.t.Fatalf("plan not active: %+v", info.AutoRefill)
	}
	return info
}

func (r *billingRig) partner(id string) dsu.Partner {
	r.t.Helper()
	p, err := r.store.GetPartner(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return p
}

func (r *billingRig) account(id string) dsu.Account {
	r.t.Helper()
	a, err := r.store.GetAccount(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return a
}

// paymentMethod is the fake Stripe's view of a card.
func (r *billingRig) paymentMethod(id string) app.PaymentMethod {
	r.pay.mu.Lock()
	defer r.pay.mu.Unlock()
	return r.pay.paymentMethods[id]
}

func (r *billingRig) customerCount() int {
	r.pay.mu.Lock()
	defer r.pay.mu.Unlock()
	return len(r.pay.customers)
}

// ---- contact and address ----

func TestBillingContactValidationNamesEachField(t *testing.T) {
	r := newBillingRig(t)
	put := func(body string) billingResponse { return r.do(billingAdmin("p-val"), "PUT /v1/billing/contact", body) }
	cases := []struct {
		name   string
		body   string
		fields []string
	}{
		{"contact missing", contactBody(func(b, _, _ map[string]any) { delete(b, "contact") }), []string{"contact"}},
		{"address null", contactBody(func(b, _, _ map[string]any) { b["address"] = nil }), []string{"address"}},
		{"name missing", contactBody(func(_, c, _ map[string]any) { delete(c, "name") }), []string{"contact.name"}},
		{"name is an email", contactBody(func(_, c, _ map[string]any) { c["name"] = "jane@acme.example" }), []string{"contact.name"}},
		{"email malformed", contactBody(func(_, c, _ map[string]any) { c["email"] = "jane.doe@" }), []string{"contact.email"}},
		{"email of a role account", contactBody(func(_, c, _ map[string]any) { c["email"] = "support@acme.example" }), []string{"contact.email"}},
		{"email of a no-reply box", contactBody(func(_, c, _ map[string]any) { c["email"] = "No_Reply+billing@acme.example" }), []string{"contact.email"}},
		{"phone too short", contactBody(func(_, c, _ map[string]any) { c["phone"] = "12345" }), []string{"contact.phone"}},
		{"line1 missing", contactBody(func(_, _, a map[string]any) { a["line1"] = "  " }), []string{"address.line1"}},
		{"line1 too long", contactBody(func(_, _, a map[string]any) { a["line1"] = strings.Repeat("a", 201) }), []string{"address.line1"}},
		{"city missing", contactBody(func(_, _, a map[string]any) { delete(a, "city") }), []string{"address.city"}},
		{"country not ISO 3166", contactBody(func(_, _, a map[string]any) { a["country"] = "XX" }), []string{"address.country"}},
		{"country UK", contactBody(func(_, _, a map[string]any) { a["country"] = "UK"; a["postalCode"] = "SW1A 1AA"; delete(a, "state") }), []string{"address.country"}},
		{"postal code missing", contactBody(func(_, _, a map[string]any) { delete(a, "postalCode") }), []string{"address.postalCode"}},
		{"postal code not of the country", contactBody(func(_, _, a map[string]any) { a["postalCode"] = "SW1A 1AA" }), []string{"address.postalCode"}},
		{"US state missing", contactBody(func(_, _, a map[string]any) { delete(a, "state") }), []string{"address.state"}},
		{"control character", contactBody(func(_, _, a map[string]any) { a["line2"] = "Suite\u202e400" }), []string{"address.line2"}},
		{"VAT id malformed", contactBody(func(b, _, _ map[string]any) { b["vatId"] = "DE123" }), []string{"vatId"}},
		{"currency unknown", contactBody(func(b, _, _ map[string]any) { b["currency"] = "gbp" }), []string{"currency"}},
		{"every failure at once", contactBody(func(b, c, a map[string]any) {
			c["email"] = "admin@acme.example"
			a["country"] = "XX"
			b["currency"] = "gbp"
		}), []string{"contact.email", "address.country", "currency"}},
		{"unknown field", contactBody(func(_, c, _ map[string]any) { c["fax"] = "+1 555 010 0100" }), []string{"contact.fax"}},
		{"partner id in the body", contactBody(func(b, _, _ map[string]any) { b["partnerId"] = "p-other" }), []string{"partnerId"}},
		{"wrong type", contactBody(func(_, c, _ map[string]any) { c["name"] = 42 }), []string{"contact.name"}},
		{"duplicate key", `{"contact":{"name":"Jane Doe","name":"Eve"}}`, []string{"contact.name"}},
		{"malformed JSON", `{"contact":`, []string{"body"}},
		{"empty body", "", []string{"body"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// r.request always says application/json, also for no body.
			r.invoke(r.request(billingAdmin("p-val"), "PUT /v1/billing/contact", c.body)).problem(t, 400, "validation_failed", c.fields...)
		})
	}

	// Card data is refused wherever it appears, with a message saying where
	// cards are entered.
	for name, body := range map[string]string{
		"cardNumber field": contactBody(func(b, _, _ map[string]any) { b["cardNumber"] = "4242 4242 4242 4242" }),
		"cvc field":        contactBody(func(b, _, _ map[string]any) { b["cvc"] = "123" }),
		"digits in a text": contactBody(func(_, _, a map[string]any) { a["line2"] = "4242424242424242" }),
	} {
		p := put(body).problem(t, 400, "validation_failed", map[string]string{
			"cardNumber field": "cardNumber", "cvc field": "cvc", "digits in a text": "address.line2",
		}[name])
		if !strings.Contains(p.Errors[0].Message, "Stripe Elements") {
			t.Errorf("%s: message %q does not say cards go through Stripe Elements", name, p.Errors[0].Message)
		}
		if strings.Contains(p.Detail+p.Errors[0].Message, "4242") {
			t.Errorf("%s: the problem echoes the card number", name)
		}
	}

	textPlain := r.request(billingAdmin("p-val"), "PUT /v1/billing/contact", contactBody(nil))
	textPlain.Headers["content-type"] = "text/plain"
	r.invoke(textPlain).problem(t, 415, "unsupported_media_type")
	big := contactBody(func(_, _, a map[string]any) { a["line2"] = strings.Repeat("x", httpapi.MaxBodyBytes) })
	put(big).problem(t, 413, "payload_too_large")

	if p := r.partner("p-val"); p.Contact != nil || p.Address != nil || p.StripeCustomerID != "" {
		t.Fatalf("an invalid request stored %+v", p)
	}
	if n := r.pay.Calls(""); n != 0 {
		t.Fatalf("invalid requests made %d Stripe calls", n)
	}
}

// request builds the event do sends, for tests that change it.
func (r *billingRig) request(claims map[string]string, routeKey, body string) events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(routeKey, " ")
	ev := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: routeKey, RawPath: path, Body: body, Headers: map[string]string{"content-type": "application/json"}}
	ev.RequestContext.RouteKey, ev.RequestContext.RequestID = routeKey, "req-billing-test"
	ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = method, path
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	return ev
}

func TestBillingContactCreatesTheStripeCustomerAndNormalises(t *testing.T) {
	r := newBillingRig(t)
	body := contactBody(func(b, c, a map[string]any) {
		c["email"] = "Jane.Doe@ACME.Example"
		a["country"], a["state"], a["postalCode"] = " us ", "il", "62701-1234"
		delete(a, "line2")
		b["vatId"] = nil
	})
	info := r.do(billingAdmin("p-new"), "PUT /v1/billing/contact", body).info(t)
	if info.PartnerID != "p-new" || info.StripeCustomerID == nil || info.Contact == nil || info.Address == nil {
		t.Fatalf("info %+v", info)
	}
	if info.Contact.Email != "Jane.Doe@acme.example" || info.Address.Country != "US" || *info.Address.State != "IL" ||
		info.Address.Line2 != nil || info.VATID != nil || *info.Contact.Phone != "+1 555 010 0199" || info.Balance.Units != 2000 {
		t.Fatalf("not normalised as stored: %s", body)
	}
	// The customer Stripe holds is the partner's, tagged with its id.
	r.pay.mu.Lock()
	cus := r.pay.customers[*info.StripeCustomerID]
	r.pay.mu.Unlock()
	if cus.PartnerID != "p-new" || cus.Email != "Jane.Doe@acme.example" || cus.Address.Country != "US" || cus.Name != "Jane Doe" {
		t.Fatalf("Stripe customer %+v", cus)
	}
	// Payment method events name only the customer: it leads to the partner.
	if p, err := r.store.PartnerByCustomer(context.Background(), *info.StripeCustomerID); err != nil || p.ID != "p-new" {
		t.Fatalf("customer link: %+v %v", p, err)
	}
	if got := r.do(billingReader("p-new"), "GET /v1/billing", "").info(t); !reflect.DeepEqual(got, info) {
		t.Fatalf("GET shows %+v, PUT answered %+v", got, info)
	}
}

func TestBillingContactTwiceKeepsOneStripeCustomer(t *testing.T) {
	r := newBillingRig(t)
	first := r.saveContact("p-twice")
	second := r.do(billingAdmin("p-twice"), "PUT /v1/billing/contact", contactBody(func(_, c, _ map[string]any) { c["name"] = "Janet Doe" })).info(t)
	if *first.StripeCustomerID != *second.StripeCustomerID || second.Contact.Name != "Janet Doe" {
		t.Fatalf("first %v, second %v", *first.StripeCustomerID, *second.StripeCustomerID)
	}
	// Setting up cards twice uses that customer too.
	r.startSetup("p-twice")
	r.startSetup("p-twice")
	// The creation carries only the partner id (so a retried creation
	// reuses its idempotency key with the same parameters); each save then
	// writes the details.
	if r.pay.Calls("CreateCustomer") != 1 || r.pay.Calls("UpdateCustomer") != 2 || r.customerCount() != 1 {
		t.Fatalf("create %d, update %d, customers %d; want one customer, updated by each save",
			r.pay.Calls("CreateCustomer"), r.pay.Calls("UpdateCustomer"), r.customerCount())
	}
	r.pay.mu.Lock()
	name := r.pay.customers[*first.StripeCustomerID].Name
	r.pay.mu.Unlock()
	if name != "Janet Doe" {
		t.Fatalf("the Stripe customer was not updated: %q", name)
	}

	// Concurrent first saves (a double click) still make one customer.
	ctx := context.Background()
	p, err := r.partners.Ensure(ctx, "p-race")
	if err != nil {
		t.Fatal(err)
	}
	in := app.ContactInput{Contact: &dsu.Contact{Name: "Jane Doe", Email: "jane@race.example"}, Address: &dsu.Address{Line1: "1 Rue", City: "Paris", PostalCode: "75001", Country: "FR"}}
	ids := make([]string, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			info, err := r.billing.UpdateContact(ctx, p, in)
			if err != nil {
				t.Errorf("concurrent save %d: %v", i, err)
				return
			}
			ids[i] = info.Partner.StripeCustomerID
		})
	}
	wg.Wait()
	stored := r.partner("p-race")
	for _, id := range ids {
		if id != stored.StripeCustomerID {
			t.Fatalf("customers %v, stored %s", ids, stored.StripeCustomerID)
		}
	}
	if r.customerCount() != 2 { // p-twice's and p-race's
		t.Fatalf("%d Stripe customers for two partners", r.customerCount())
	}
}

func TestBillingCurrencyChangesOnlyBeforeTheFirstPurchase(t *testing.T) {
	r := newBillingRig(t)
	r.saveContact("p-cur")
	eur := r.do(billingAdmin("p-cur"), "PUT /v1/billing/contact", contactBody(func(b, _, _ map[string]any) { b["currency"] = "EUR" })).info(t)
	if eur.Currency != "eur" {
		t.Fatalf("currency %s before any purchase", eur.Currency)
	}

	purchases := &app.Purchases{Store: r.store, Payments: r.pay, Catalog: r.catalog, Clock: r.clock, IDs: r.ids, Log: logging.Discard()}
	body := `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`
	res, err := purchases.Create(context.Background(), r.partner("p-cur"), app.CreatePurchaseInput{
		IdempotencyKey: "first-purchase", Fingerprint: dsu.Fingerprint("POST /v1/purchases", []byte(body)),
		Lines: []dsu.PurchaseLine{{PackageID: "dsu-1000", Quantity: 1}}, PaymentMethod: "new",
	})
	if err != nil || res.Purchase.Amount.Currency != dsu.EUR {
		t.Fatalf("purchase %+v, %v", res.Purchase, err)
	}

	stripeCalls := r.pay.Calls("")
	before := r.partner("p-cur")
	r.do(billingAdmin("p-cur"), "PUT /v1/billing/contact", contactBody(func(b, c, _ map[string]any) {
		b["currency"] = "usd"
		c["name"] = "Janet Doe"
	})).problem(t, 409, "conflict")
	if after := r.partner("p-cur"); !reflect.DeepEqual(after, before) || r.pay.Calls("") != stripeCalls {
		t.Fatalf("a refused currency change wrote %+v or called Stripe", after)
	}
	// The contact itself can still change, naming the same currency or none.
	same := r.do(billingAdmin("p-cur"), "PUT /v1/billing/contact", contactBody(func(b, c, _ map[string]any) {
		b["currency"] = "eur"
		c["name"] = "Janet Doe"
	})).info(t)
	none := r.do(billingAdmin("p-cur"), "PUT /v1/billing/contact", contactBody(nil)).info(t)
	if same.Currency != "eur" || same.Contact.Name != "Janet Doe" || none.Currency != "eur" || none.Contact.Name != "Jane Doe" {
		t.Fatalf("same %+v, none %+v", same, none)
	}
}

// ---- identity ----

func TestBillingWritesNeedTheAdminGroup(t *testing.T) {
	r := newBillingRig(t)
	bodies := map[string]string{
		"PUT /v1/billing/contact":            contactBody(nil),
		"POST /v1/billing/card/setup-intent": "",
		"PUT /v1/billing/card":               `{"setupIntentId":"seti_123"}`,
		"DELETE /v1/billing/card":            "",
		"PUT /v1/billing/auto-refill":        `{"enabled":false}`,
	}
	writes := 0
	for _, route := range routes.ForFunction(routes.Billing) {
		if !route.Write() {
			continue
		}
		writes++
		body, ok := bodies[route.Key()]
		if !ok {
			t.Fatalf("no test body for %s", route.Key())
		}
		r.do(billingReader("p-reader"), route.Key(), body).problem(t, 403, "forbidden")
		// A token without any group claim is a reader too.
		r.do(map[string]string{"custom:partner_id": "p-reader"}, route.Key(), body).problem(t, 403, "forbidden")
		// No partner in the token: 401 before anything else.
		r.do(nil, route.Key(), body).problem(t, 401, "unauthenticated")
		r.do(map[string]string{"custom:partner_id": " ", "cognito:groups": "[billing-admin]"}, route.Key(), body).problem(t, 401, "unauthenticated")
	}
	if writes != 5 {
		t.Fatalf("%d billing write routes; the test expects the 5 of API.md", writes)
	}
	if _, err := r.store.GetPartner(context.Background(), "p-reader"); !dsu.IsKind(err, dsu.KindNotFound) || r.pay.Calls("") != 0 {
		t.Fatalf("refused writes created the partner (%v) or called Stripe (%d)", err, r.pay.Calls(""))
	}
	// Reads need only a partner.
	r.do(nil, "GET /v1/billing", "").problem(t, 401, "unauthenticated")
	if info := r.do(billingReader("p-reader"), "GET /v1/billing", "").info(t); info.PartnerID != "p-reader" || info.Balance.Units != 2000 {
		t.Fatalf("reader's GET %+v", info)
	}
	// The admin group may come among others, as "[a b]".
	multi := map[string]string{"custom:partner_id": "p-reader", "cognito:groups": "[billing-viewer billing-admin]"}
	if info := r.do(multi, "PUT /v1/billing/auto-refill", `{"enabled":false,"threshold":100}`).info(t); info.AutoRefill.Threshold != 100 {
		t.Fatalf("admin among other groups: %+v", info.AutoRefill)
	}
}

func TestBillingNeverShowsAnotherPartner(t *testing.T) {
	r := newBillingRig(t)
	r.saveContact("p-a")
	siA := r.saveCard("p-a", "visa", "4242")
	r.enablePlan("p-a", 100)

	// B sees only its own, fresh record, whatever the request names.
	b := r.do(billingAdmin("p-b"), "GET /v1/billing", "").info(t)
	if b.PartnerID != "p-b" || b.StripeCustomerID != nil || b.Contact != nil || b.Card != nil || b.AutoRefill.Status != "off" {
		t.Fatalf("B sees %+v", b)
	}
	ev := r.request(billingReader("p-b"), "GET /v1/billing", "")
	ev.PathParameters = map[string]string{"partnerId": "p-a"}
	if got := r.invoke(ev).info(t); got.PartnerID != "p-b" || got.Contact != nil {
		t.Fatalf("a partner id in the path was used: %+v", got)
	}
	// A partner id in the query string is an unknown parameter: refused,
	// never read (API.md, Query strings).
	ev = r.request(billingReader("p-b"), "GET /v1/billing", "")
	ev.RawQueryString = "partnerId=p-a"
	ev.QueryStringParameters = map[string]string{"partnerId": "p-a"}
	if res := r.invoke(ev); strings.Contains(res.body, "p-a") {
		t.Fatalf("the answer names the other partner: %s", res.body)
	} else {
		res.problem(t, 400, "validation_failed", "partnerId")
	}

	// B cannot save A's card with A's SetupIntent, even with a customer.
	r.saveContact("p-b")
	r.do(billingAdmin("p-b"), "PUT /v1/billing/card", `{"setupIntentId":"`+siA.ID+`"}`).problem(t, 404, "not_found")
	if p := r.partner("p-b"); p.Card != nil {
		t.Fatalf("B got A's card %+v", p.Card)
	}
	// B's writes leave A alone.
	r.do(billingAdmin("p-b"), "DELETE /v1/billing/card", "").info(t)
	a := r.do(billingReader("p-a"), "GET /v1/billing", "").info(t)
	if a.Card == nil || a.AutoRefill.Status != "active" || r.paymentMethod(siA.PaymentMethodID).CustomerID == "" {
		t.Fatalf("B's requests changed A: %+v", a)
	}
}

// ---- Stripe outages ----

func TestBillingStripeOutageLeavesNothingHalfWritten(t *testing.T) {
	r := newBillingRig(t)
	unchanged := func(t *testing.T, id string, before dsu.Partner, acc dsu.Account) {
		t.Helper()
		if after := r.partner(id); !reflect.DeepEqual(after, before) {
			t.Fatalf("billing record changed during the outage:\nbefore %+v\nafter  %+v", before, after)
		}
		if after := r.account(id); !reflect.DeepEqual(after, acc) {
			t.Fatalf("account changed during the outage:\nbefore %+v\nafter  %+v", acc, after)
		}
	}
	outage := func(on bool) {
		r.pay.mu.Lock()
		r.pay.outage = on
		r.pay.mu.Unlock()
	}

	// The first contact: no customer, no contact, no customer link.
	r.do(billingReader("p-down"), "GET /v1/billing", "").info(t)
	before, acc := r.partner("p-down"), r.account("p-down")
	outage(true)
	r.do(billingAdmin("p-down"), "PUT /v1/billing/contact", contactBody(nil)).problem(t, 503, "upstream_unavailable")
	unchanged(t, "p-down", before, acc)

	// With a contact, a card and a running plan: every write is refused
	// whole.
	outage(false)
	r.saveContact("p-down")
	si := r.saveCard("p-down", "visa", "4242")
	r.enablePlan("p-down", 100)
	next := r.pay.ConfirmSetup(r.startSetup("p-down"), "mastercard", "4444")
	before, acc = r.partner("p-down"), r.account("p-down")
	outage(true)
	for _, req := range []struct{ route, body string }{
		{"PUT /v1/billing/contact", contactBody(func(_, c, _ map[string]any) { c["name"] = "Janet Doe" })},
		{"POST /v1/billing/card/setup-intent", ""},
		{"PUT /v1/billing/card", `{"setupIntentId":"` + next.ID + `"}`},
		{"DELETE /v1/billing/card", ""},
	} {
		r.do(billingAdmin("p-down"), req.route, req.body).problem(t, 503, "upstream_unavailable")
		unchanged(t, "p-down", before, acc)
	}
	// Settings never need Stripe: they work during the outage.
	r.do(billingAdmin("p-down"), "PUT /v1/billing/auto-refill", `{"enabled":true,"threshold":50}`).info(t)
	outage(false)

	// A failure after some Stripe calls succeeded leaves the old card.
	r.pay.mu.Lock()
	r.pay.failOnce["SetDefaultPaymentMethod"] = errStripeDown
	r.pay.mu.Unlock()
	r.do(billingAdmin("p-down"), "PUT /v1/billing/card", `{"setupIntentId":"`+next.ID+`"}`).problem(t, 503, "upstream_unavailable")
	if p := r.partner("p-down"); p.Card == nil || p.Card.PaymentMethodID != si.PaymentMethodID {
		t.Fatalf("card after a failed replacement: %+v", p.Card)
	}
	// Once Stripe is back the same request completes.
	if info := r.do(billingAdmin("p-down"), "PUT /v1/billing/card", `{"setupIntentId":"`+next.ID+`"}`).info(t); info.Card.Last4 != "4444" {
		t.Fatalf("card %+v", info.Card)
	}
}

// ---- the card ----

func TestBillingCardNeedsAContactFirst(t *testing.T) {
	r := newBillingRig(t)
	r.do(billingAdmin("p-nocontact"), "POST /v1/billing/card/setup-intent", "").problem(t, 409, "contact_required")
	r.do(billingAdmin("p-nocontact"), "POST /v1/billing/card/setup-intent", `{"usage":"on_session"}`).problem(t, 400, "validation_failed", "usage")
	if r.pay.Calls("") != 0 {
		t.Fatal("Stripe was called without a customer")
	}
	// Deleting a card that is not there is a no-op answer, not an error.
	if info := r.do(billingAdmin("p-nocontact"), "DELETE /v1/billing/card", "").info(t); info.Card != nil {
		t.Fatalf("info %+v", info)
	}
}

func TestBillingSetupIntentOfAnotherCustomerNeverSavesACard(t *testing.T) {
	r := newBillingRig(t)
	ctx := context.Background()
	r.saveContact("p-mine")
	r.saveContact("p-theirs")
	theirs := r.pay.ConfirmSetup(r.startSetup("p-theirs"), "amex", "0005")

	// Through the portal: 404, as any resource of another partner.
	r.do(billingAdmin("p-mine"), "PUT /v1/billing/card", `{"setupIntentId":"`+theirs.ID+`"}`).problem(t, 404, "not_found")
	// Through the webhook, with our partner id in the metadata but another
	// customer (a forged or mixed-up SetupIntent).
	forged := theirs
	forged.Metadata = map[string]string{"partner_id": "p-mine"}
	if err := r.billing.SaveCardFromSetupIntent(ctx, forged); !dsu.IsKind(err, dsu.KindNotFound) {
		t.Fatalf("forged SetupIntent: %v", err)
	}
	// Our customer but another partner's id in the metadata.
	mine := r.pay.ConfirmSetup(r.startSetup("p-mine"), "visa", "4242")
	mixed := mine
	mixed.Metadata = map[string]string{"partner_id": "p-theirs"}
	if err := r.billing.SaveCardFromSetupIntent(ctx, mixed); !dsu.IsKind(err, dsu.KindNotFound) {
		t.Fatalf("mixed-up SetupIntent: %v", err)
	}
	// Our SetupIntent whose card Stripe has on another customer.
	r.pay.mu.Lock()
	pm := r.pay.paymentMethods[mine.PaymentMethodID]
	pm.CustomerID = theirs.CustomerID
	r.pay.paymentMethods[pm.ID] = pm
	r.pay.mu.Unlock()
	r.do(billingAdmin("p-mine"), "PUT /v1/billing/card", `{"setupIntentId":"`+mine.ID+`"}`).problem(t, 409, "conflict")

	if r.partner("p-mine").Card != nil || r.partner("p-theirs").Card != nil || r.pay.Calls("SetDefaultPaymentMethod") != 0 {
		t.Fatalf("a card was saved or made default: mine %+v theirs %+v, %d defaults",
			r.partner("p-mine").Card, r.partner("p-theirs").Card, r.pay.Calls("SetDefaultPaymentMethod"))
	}

	// Not confirmed yet: 409 until Stripe says succeeded. Unknown: 404. Not a
	// SetupIntent id: 400.
	pending := r.startSetup("p-mine")
	r.do(billingAdmin("p-mine"), "PUT /v1/billing/card", `{"setupIntentId":"`+pending+`"}`).problem(t, 409, "conflict")
	r.do(billingAdmin("p-mine"), "PUT /v1/billing/card", `{"setupIntentId":"seti_unknown"}`).problem(t, 404, "not_found")
	for _, body := range []string{`{"setupIntentId":"pm_123"}`, `{"setupIntentId":""}`, `{}`, `{"setupIntentId":"seti_` + strings.Repeat("x", 260) + `"}`} {
		r.do(billingAdmin("p-mine"), "PUT /v1/billing/card", body).problem(t, 400, "validation_failed", "setupIntentId")
	}
}

func TestBillingSetupIntentSucceededSavesTheCardOnce(t *testing.T) {
	r := newBillingRig(t)
	ctx := context.Background()
	r.saveContact("p-once")
	si := r.saveCard("p-once", "visa", "4242") // the portal's PUT first
	saved := r.partner("p-once")

	// The webhook reports the same SetupIntent, as often as Stripe likes.
	for range 3 {
		if err := r.billing.SaveCardFromSetupIntent(ctx, si); err != nil {
			t.Fatal(err)
		}
	}
	if p := r.partner("p-once"); p.Version != saved.Version || !reflect.DeepEqual(p.Card, saved.Card) {
		t.Fatalf("the webhook saved the card again: version %d → %d", saved.Version, p.Version)
	}
	if r.pay.Calls("DetachPaymentMethod") != 0 || r.paymentMethod(si.PaymentMethodID).CustomerID == "" {
		t.Fatal("the saved card was detached as if replaced")
	}

	// The webhook first (the portal never called), then the portal.
	next := r.pay.ConfirmSetup(r.startSetup("p-once"), "mastercard", "4444")
	if err := r.billing.SaveCardFromSetupIntent(ctx, app.SetupIntent{ID: next.ID, CustomerID: next.CustomerID, Status: next.Status,
		PaymentMethodID: next.PaymentMethodID, Metadata: next.Metadata}); err != nil {
		t.Fatal(err)
	}
	viaWebhook := r.partner("p-once")
	if viaWebhook.Card == nil || viaWebhook.Card.Last4 != "4444" || viaWebhook.Card.PaymentMethodID != next.PaymentMethodID {
		t.Fatalf("webhook did not save the card: %+v", viaWebhook.Card)
	}
	info := r.do(billingAdmin("p-once"), "PUT /v1/billing/card", `{"setupIntentId":"`+next.ID+`"}`).info(t)
	if info.Card.Last4 != "4444" || r.partner("p-once").Version != viaWebhook.Version {
		t.Fatalf("the portal saved the card a second time: %+v", info.Card)
	}
	// The new card replaced the old one, which can never be charged again;
	// Stripe's default is the new one.
	r.pay.mu.Lock()
	def := r.pay.defaults[next.CustomerID]
	r.pay.mu.Unlock()
	if r.paymentMethod(si.PaymentMethodID).CustomerID != "" || r.pay.Calls("DetachPaymentMethod") != 1 || def != next.PaymentMethodID {
		t.Fatalf("old card still attached (%d detaches) or default %s", r.pay.Calls("DetachPaymentMethod"), def)
	}
	// The response shows the card, never Stripe's ids of it.
	resp := r.do(billingReader("p-once"), "GET /v1/billing", "")
	if strings.Contains(resp.body, "pm_") || strings.Contains(resp.body, "seti_") || strings.Contains(resp.body, "secret") {
		t.Fatalf("the billing info leaks Stripe ids: %s", resp.body)
	}
	// The SetupIntent found through the customer when the metadata is gone.
	r.saveContact("p-nometa")
	bare := r.pay.ConfirmSetup(r.startSetup("p-nometa"), "visa", "1881")
	bare.Metadata = nil
	if err := r.billing.SaveCardFromSetupIntent(ctx, bare); err != nil || r.partner("p-nometa").Card == nil {
		t.Fatalf("by customer: %v", err)
	}
}

func TestBillingDeleteCardPausesTheActivePlan(t *testing.T) {
	r := newBillingRig(t)
	r.saveContact("p-del")
	si := r.saveCard("p-del", "visa", "4242")
	r.enablePlan("p-del", 100)

	info := r.do(billingAdmin("p-del"), "DELETE /v1/billing/card", "").info(t)
	if info.Card != nil || !info.AutoRefill.Enabled || info.AutoRefill.Status != "paused" || info.AutoRefill.PausedReason == nil || *info.AutoRefill.PausedReason != "card_missing" {
		t.Fatalf("after DELETE: card %+v, plan %+v", info.Card, info.AutoRefill)
	}
	if r.paymentMethod(si.PaymentMethodID).CustomerID != "" {
		t.Fatal("the card is still attached at Stripe")
	}
	if p := r.partner("p-del"); p.Card != nil {
		t.Fatal("the card is still stored")
	}
	// Stripe then reports the detach; nothing more happens.
	if err := r.billing.CardDetached(context.Background(), app.PaymentMethod{ID: si.PaymentMethodID}, si.CustomerID); err != nil {
		t.Fatal(err)
	}
	r.do(billingAdmin("p-del"), "DELETE /v1/billing/card", "").info(t)
	if n := len(r.published.Of(app.EventAutoRefillPaused)); n != 1 {
		t.Fatalf("%d autorefill.paused events, want 1", n)
	}
	if r.pay.Calls("DetachPaymentMethod") != 1 {
		t.Fatalf("%d detaches", r.pay.Calls("DetachPaymentMethod"))
	}
	// The paused plan cannot be turned back on without a card.
	r.do(billingAdmin("p-del"), "PUT /v1/billing/auto-refill", `{"enabled":true}`).problem(t, 409, "payment_method_required")

	// A plan that is off stays off.
	r.saveContact("p-off")
	r.saveCard("p-off", "visa", "4242")
	if info := r.do(billingAdmin("p-off"), "DELETE /v1/billing/card", "").info(t); info.AutoRefill.Status != "off" || info.AutoRefill.PausedReason != nil {
		t.Fatalf("plan %+v", info.AutoRefill)
	}
}

func TestBillingNewCardResumesAPlanPausedForCardMissing(t *testing.T) {
	r := newBillingRig(t)
	r.saveContact("p-resume")
	r.saveCard("p-resume", "visa", "4242")
	r.enablePlan("p-resume", 100)
	r.do(billingAdmin("p-resume"), "DELETE /v1/billing/card", "").info(t)

	r.saveCard("p-resume", "mastercard", "4444")
	info := r.do(billingReader("p-resume"), "GET /v1/billing", "").info(t)
	if info.AutoRefill.Status != "active" || info.AutoRefill.PausedReason != nil || info.Card.Last4 != "4444" {
		t.Fatalf("plan %+v after a new card", info.AutoRefill)
	}

	// A plan paused for a dispute waits for a person, card or not.
	if _, _, err := r.store.ChangeAccount(context.Background(), "p-resume", (*dsu.Account).PauseForDispute); err != nil {
		t.Fatal(err)
	}
	r.saveCard("p-resume", "visa", "1881")
	if info := r.do(billingReader("p-resume"), "GET /v1/billing", "").info(t); info.AutoRefill.Status != "paused" || *info.AutoRefill.PausedReason != "dispute" {
		t.Fatalf("a dispute pause was lifted by a new card: %+v", info.AutoRefill)
	}
}

func TestBillingPaymentMethodEvents(t *testing.T) {
	r := newBillingRig(t)
	ctx := context.Background()
	r.saveContact("p-pm")
	old := r.saveCard("p-pm", "visa", "4242")
	r.enablePlan("p-pm", 100)
	cur := r.saveCard("p-pm", "mastercard", "4444") // replaces (and detaches) old

	// payment_method.detached of the replaced card: the plan keeps the new
	// card and keeps running.
	if err := r.billing.CardDetached(ctx, app.PaymentMethod{ID: old.PaymentMethodID}, old.CustomerID); err != nil {
		t.Fatal(err)
	}
	if info := r.do(billingReader("p-pm"), "GET /v1/billing", "").info(t); info.Card == nil || info.Card.Last4 != "4444" || info.AutoRefill.Status != "active" {
		t.Fatalf("the old card's detach changed the billing info: card %+v plan %+v", info.Card, info.AutoRefill)
	}

	// payment_method.automatically_updated: the issuer renewed the card.
	renewed := app.PaymentMethod{ID: cur.PaymentMethodID, CustomerID: cur.CustomerID, Brand: "mastercard", Last4: "5555", ExpMonth: 3, ExpYear: 2031}
	if err := r.billing.CardUpdated(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	info := r.do(billingReader("p-pm"), "GET /v1/billing", "").info(t)
	if info.Card.Last4 != "5555" || info.Card.ExpMonth != 3 || info.Card.ExpYear != 2031 {
		t.Fatalf("card after the update %+v", info.Card)
	}
	version := r.partner("p-pm").Version
	// Repeated, for another card of the customer, for an unknown customer
	// or without one: nothing changes.
	for _, pm := range []app.PaymentMethod{
		renewed,
		{ID: "pm_other", CustomerID: cur.CustomerID, Brand: "visa", Last4: "0000", ExpMonth: 1, ExpYear: 2030},
		{ID: cur.PaymentMethodID, CustomerID: "cus_unknown", Brand: "visa", Last4: "0000"},
		{ID: cur.PaymentMethodID, Brand: "visa", Last4: "0000"},
	} {
		if err := r.billing.CardUpdated(ctx, pm); err != nil {
			t.Fatalf("%+v: %v", pm, err)
		}
	}
	if p := r.partner("p-pm"); p.Version != version || p.Card.Last4 != "5555" {
		t.Fatalf("card %+v (version %d → %d)", p.Card, version, p.Version)
	}
	// Detach events of strangers are acknowledged and change nothing.
	for _, prev := range []string{"cus_unknown", ""} {
		if err := r.billing.CardDetached(ctx, app.PaymentMethod{ID: cur.PaymentMethodID}, prev); err != nil {
			t.Fatal(err)
		}
	}
	if p := r.partner("p-pm"); p.Version != version {
		t.Fatal("a stranger's detach changed the record")
	}

	// payment_method.detached of the saved card (from the Dashboard): it is
	// forgotten and the plan pauses. The event names the customer in
	// previous_attributes only.
	if err := r.billing.CardDetached(ctx, app.PaymentMethod{ID: cur.PaymentMethodID}, cur.CustomerID); err != nil {
		t.Fatal(err)
	}
	info = r.do(billingReader("p-pm"), "GET /v1/billing", "").info(t)
	if info.Card != nil || info.AutoRefill.Status != "paused" || *info.AutoRefill.PausedReason != "card_missing" {
		t.Fatalf("after the detach: card %+v plan %+v", info.Card, info.AutoRefill)
	}
	if evs := r.published.Of(app.EventAutoRefillPaused); len(evs) != 1 || evs[0].PartnerID != "p-pm" || evs[0].Reason != "card_missing" {
		t.Fatalf("events %+v", evs)
	}
}

// ---- the automated plan ----

func TestBillingAutoRefillSettingsAreValidated(t *testing.T) {
	r := newBillingRig(t)
	put := func(partner, body string) billingResponse {
		return r.do(billingAdmin(partner), "PUT /v1/billing/auto-refill", body)
	}
	for _, c := range []struct {
		body   string
		fields []string
	}{
		{`{"enabled":false,"packageId":"dsu-3"}`, []string{"packageId"}},
		{`{"enabled":false,"threshold":-1}`, []string{"threshold"}},
		{`{"enabled":false,"monthlyLimit":0}`, []string{"monthlyLimit"}},
		{`{"enabled":false,"monthlyLimit":32}`, []string{"monthlyLimit"}},
		{`{"enabled":true,"packageId":"nope","threshold":-5,"monthlyLimit":99}`, []string{"packageId", "threshold", "monthlyLimit"}},
		{`{"packageId":"dsu-1000"}`, []string{"enabled"}},
		{`{"enabled":"yes"}`, []string{"enabled"}},
		{`{"enabled":false,"threshold":1.5}`, []string{"threshold"}},
		{`{"enabled":false,"monthlyLimit":"5"}`, []string{"monthlyLimit"}},
		{`{"enabled":false,"status":"active"}`, []string{"status"}},
	} {
		put("p-ar", c.body).problem(t, 400, "validation_failed", c.fields...)
	}

	// Enabling needs a contact, then a card, then every setting.
	put("p-ar", `{"enabled":true,"packageId":"dsu-1000","threshold":0,"monthlyLimit":1}`).problem(t, 409, "contact_required")
	r.saveContact("p-ar")
	put("p-ar", `{"enabled":true,"packageId":"dsu-1000","threshold":0,"monthlyLimit":1}`).problem(t, 409, "payment_method_required")
	r.saveCard("p-ar", "visa", "4242")
	put("p-ar", `{"enabled":true,"threshold":0}`).problem(t, 400, "validation_failed", "packageId", "monthlyLimit")
	if acc := r.account("p-ar"); acc.AutoRefill.Enabled || acc.AutoRefill.Status != dsu.AutoRefillOff {
		t.Fatalf("refused requests changed the plan: %+v", acc.AutoRefill)
	}

	// The bounds themselves are accepted.
	info := put("p-ar", `{"enabled":true,"packageId":"dsu-5000","threshold":0,"monthlyLimit":31}`).info(t)
	ar := info.AutoRefill
	if !ar.Enabled || *ar.PackageID != "dsu-5000" || ar.Threshold != 0 || *ar.MonthlyLimit != 31 || ar.Status != "active" || ar.PausedReason != nil {
		t.Fatalf("plan %+v", ar)
	}
	if acc := r.account("p-ar"); acc.RefillDue(r.clock.Now()) {
		t.Fatal("a refill is due with 2000 DSUs over a threshold of 0")
	}
	// Omitted settings keep their values; disabling keeps them all.
	info = put("p-ar", `{"enabled":true,"monthlyLimit":1}`).info(t)
	if *info.AutoRefill.PackageID != "dsu-5000" || *info.AutoRefill.MonthlyLimit != 1 {
		t.Fatalf("plan %+v", info.AutoRefill)
	}
	info = put("p-ar", `{"enabled":false}`).info(t)
	if info.AutoRefill.Enabled || info.AutoRefill.Status != "off" || *info.AutoRefill.PackageID != "dsu-5000" || *info.AutoRefill.MonthlyLimit != 1 {
		t.Fatalf("disabled plan %+v", info.AutoRefill)
	}

	// A default package since removed from the catalog cannot be enabled.
	if _, _, err := r.store.ChangeAccount(context.Background(), "p-ar", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill.PackageID = "dsu-retired"
		return dsu.PlanChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	put("p-ar", `{"enabled":true}`).problem(t, 400, "validation_failed", "packageId")
	if acc := r.account("p-ar"); acc.AutoRefill.Enabled {
		t.Fatal("enabled with a package that is not sold")
	}

	// Enabling at or below the threshold starts a refill: the account is
	// due at once (the stream and the sweep act on that).
	put("p-ar", `{"enabled":true,"packageId":"dsu-1000","threshold":2000}`).info(t)
	if acc := r.account("p-ar"); !acc.RefillDue(r.clock.Now()) {
		t.Fatalf("no refill due with 2000 DSUs at a threshold of 2000: %+v", acc.AutoRefill)
	}
}

func TestBillingAutoRefillSettingsKeepTheRetryState(t *testing.T) {
	r := newBillingRig(t)
	ctx := context.Background()
	r.saveContact("p-retry")
	r.saveCard("p-retry", "visa", "4242")
	r.enablePlan("p-retry", 2000)
	// An automatic purchase was declined (insufficient funds): the next
	// attempt waits an hour.
	retryAt := r.clock.Now().Add(time.Hour)
	if _, _, err := r.store.ChangeAccount(ctx, "p-retry", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.Refill = dsu.RefillState{Phase: dsu.RefillFailed, Failures: 1, NextAttemptAt: retryAt, Month: "2026-11", MonthCount: 1}
		return dsu.PlanChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	// The partner edits the running plan's threshold.
	r.do(billingAdmin("p-retry"), "PUT /v1/billing/auto-refill", `{"enabled":true,"threshold":1500}`).info(t)
	acc := r.account("p-retry")
	if acc.Refill.Phase != dsu.RefillFailed || acc.Refill.Failures != 1 || !acc.Refill.NextAttemptAt.Equal(retryAt) || acc.RefillDue(r.clock.Now()) {
		t.Fatalf("saving the settings reset the retry state: %+v", acc.Refill)
	}
	// Re-enabling a paused plan is the partner's decision to try again.
	if _, _, err := r.store.ChangeAccount(ctx, "p-retry", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill.Status, a.AutoRefill.PausedReason = dsu.AutoRefillPaused, dsu.PausedPaymentFailed
		a.Refill = dsu.RefillState{Failures: 3, Month: "2026-11", MonthCount: 3}
		return dsu.PlanChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	r.do(billingAdmin("p-retry"), "PUT /v1/billing/auto-refill", `{"enabled":true,"threshold":2000}`).info(t)
	if acc := r.account("p-retry"); acc.AutoRefill.Status != dsu.AutoRefillActive || acc.Refill.Failures != 0 || !acc.RefillDue(r.clock.Now()) {
		t.Fatalf("re-enabled plan %+v %+v", acc.AutoRefill, acc.Refill)
	}
}

// ---- GET /v1/billing ----

func TestBillingGetMakesTwoReadsAndNoStripeCall(t *testing.T) {
	r := newBillingRig(t)
	r.saveContact("p-get")
	r.saveCard("p-get", "visa", "4242")
	r.enablePlan("p-get", 100)

	r.api.Reset()
	stripe := r.pay.Calls("")
	resp := r.do(billingReader("p-get"), "GET /v1/billing", "")
	c := r.api.Counts()
	if c.Reads > 2 || c.Writes != 0 || c.Transactions != 0 || r.pay.Calls("") != stripe {
		t.Fatalf("GET /v1/billing: %+v and %d Stripe calls; want ≤ 2 reads, nothing else", c, r.pay.Calls("")-stripe)
	}

	// Exactly the shape of API.md.
	var body map[string]any
	if err := json.Unmarshal([]byte(resp.body), &body); err != nil {
		t.Fatal(err)
	}
	keys := func(m map[string]any) []string {
		out := make([]string, 0, len(m))
		for k := range m {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	want := map[string][]string{
		"":           {"address", "autoRefill", "balance", "card", "contact", "currency", "partnerId", "stripeCustomerId", "vatId"},
		"contact":    {"email", "name", "phone"},
		"address":    {"city", "country", "line1", "line2", "postalCode", "state"},
		"card":       {"brand", "expMonth", "expYear", "expiresSoon", "last4"},
		"autoRefill": {"enabled", "monthlyLimit", "packageId", "pausedReason", "status", "threshold"},
		"balance":    {"units"},
	}
	for path, fields := range want {
		m := body
		if path != "" {
			m, _ = body[path].(map[string]any)
		}
		if got := keys(m); !slices.Equal(got, fields) {
			t.Errorf("%s: fields %v, want %v", path, got, fields)
		}
	}
	info := resp.info(t)
	if info.Card.Brand != "visa" || info.Card.Last4 != "4242" || info.Card.ExpMonth != 12 || info.Card.ExpYear != 2030 ||
		info.Balance.Units != 2000 || info.Currency != "usd" || *info.AutoRefill.PackageID != "dsu-1000" || info.AutoRefill.Threshold != 100 {
		t.Fatalf("info %+v", info)
	}

	// A partner's very first request creates it (one transaction) and
	// still reads at most twice.
	r.api.Reset()
	first := r.do(billingReader("p-first"), "GET /v1/billing", "").info(t)
	if c := r.api.Counts(); c.Reads > 2 || c.Transactions != 1 || c.Writes != 0 {
		t.Fatalf("first GET: %+v", c)
	}
	if first.StripeCustomerID != nil || first.Contact != nil || first.Address != nil || first.VATID != nil || first.Card != nil ||
		first.AutoRefill.Status != "off" || first.AutoRefill.PackageID != nil || first.AutoRefill.MonthlyLimit != nil || first.Balance.Units != 2000 {
		t.Fatalf("a new partner's info %+v", first)
	}
}

// ---- the sample events ----

func TestBillingSampleEvents(t *testing.T) {
	r := newBillingRig(t)
	send := func(name string) billingResponse {
		t.Helper()
		return r.invoke(eventfixtures.HTTP(t, "billing/"+name))
	}
	// The fixtures' partner is unknown: the first request creates it.
	info := send("get-billing.json").info(t)
	if info.PartnerID != "partner-acme" || info.Balance.Units != 2000 || info.Contact != nil {
		t.Fatalf("get-billing: %+v", info)
	}
	send("post-setup-intent.json").problem(t, 409, "contact_required")
	send("put-contact-not-admin.json").problem(t, 403, "forbidden")
	info = send("put-contact.json").info(t)
	if info.Contact == nil || info.Contact.Name != "Jane Doe" || *info.Address.Line2 != "Suite 400" || info.StripeCustomerID == nil || info.Currency != "usd" {
		t.Fatalf("put-contact: %+v", info)
	}
	resp := send("post-setup-intent.json")
	if resp.status != 201 || !strings.Contains(resp.body, `"setupIntentId":"seti_`) || !strings.Contains(resp.body, `"clientSecret":"seti_`) {
		t.Fatalf("post-setup-intent: %d %s", resp.status, resp.body)
	}
	send("put-auto-refill.json").problem(t, 409, "payment_method_required")

	// The portal confirms the fixture's SetupIntent with Stripe Elements.
	fixture := eventfixtures.HTTP(t, "billing/put-card.json")
	var card struct {
		SetupIntentID string `json:"setupIntentId"`
	}
	if err := json.Unmarshal([]byte(fixture.Body), &card); err != nil {
		t.Fatal(err)
	}
	send("put-card.json").problem(t, 404, "not_found")
	r.pay.mu.Lock()
	r.pay.setupIntents[card.SetupIntentID] = app.SetupIntent{ID: card.SetupIntentID, CustomerID: *info.StripeCustomerID, Status: "requires_payment_method",
		Metadata: map[string]string{"partner_id": "partner-acme"}, Created: setupEpoch}
	r.pay.mu.Unlock()
	send("put-card.json").problem(t, 409, "conflict")
	r.pay.ConfirmSetup(card.SetupIntentID, "visa", "4242")
	if info := send("put-card.json").info(t); info.Card == nil || info.Card.Last4 != "4242" {
		t.Fatalf("put-card: %+v", info.Card)
	}

	info = send("put-auto-refill.json").info(t)
	if ar := info.AutoRefill; !ar.Enabled || ar.Status != "active" || *ar.PackageID != "dsu-5000" || ar.Threshold != 500 || *ar.MonthlyLimit != 3 {
		t.Fatalf("put-auto-refill: %+v", ar)
	}
	info = send("delete-card.json").info(t)
	if info.Card != nil || info.AutoRefill.Status != "paused" || *info.AutoRefill.PausedReason != "card_missing" {
		t.Fatalf("delete-card: %+v", info)
	}
	if got := send("get-billing.json").info(t); !reflect.DeepEqual(got, info) {
		t.Fatalf("get-billing after the others: %+v", got)
	}

	// Every billing route has its sample event.
	for _, route := range routes.ForFunction(routes.Billing) {
		found := false
		for _, name := range []string{"get-billing", "put-contact", "post-setup-intent", "put-card", "delete-card", "put-auto-refill", "get-audit"} {
			if ev := eventfixtures.HTTP(t, "billing/"+name+".json"); ev.RouteKey == route.Key() && ev.RequestContext.RouteKey == route.Key() {
				found = true
			}
		}
		if !found {
			t.Errorf("no sample event for %s under events/billing/", route.Key())
		}
	}
}

func TestDisputePauseNeedsSupport(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_card")
	w.store.ChangeAccount(context.Background(), "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", MonthlyLimit: 5}
		return a.PauseForDispute()
	})
	if _, err := w.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: true}); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("re-enabling after a dispute: %v", err)
	}
	// Turning the plan off stays possible, and does not lift the hold.
	if info, err := w.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: false}); err != nil || info.Account.AutoRefill.Status != dsu.AutoRefillOff {
		t.Fatalf("turning off: %+v %v", info.Account.AutoRefill, err)
	}
	if _, err := w.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: true}); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("off and on again lifted the dispute hold: %v", err)
	}
	if _, err := w.billing.UpdateAutoRefill(context.Background(), p, dsu.PlanSettings{Enabled: true, Threshold: ptr[int64](10_000_001)}); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatalf("a threshold of ten million and one: %v", err)
	}
}
