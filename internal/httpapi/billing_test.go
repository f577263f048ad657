package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// The billing endpoints' own job: what each route decodes and hands the use
// case, and the JSON it answers with. The use cases themselves (on the
// store and the Stripe fake) are tested in internal/app/billing_test.go.

// billingCall is one use-case call an endpoint made.
type billingCall struct {
	Op      string
	Partner string
	Contact app.ContactInput
	SetupID string
	Refill  dsu.PlanSettings
}

// stubBilling records calls and answers with info (or err).
type stubBilling struct {
	calls []billingCall
	info  app.BillingInfo
	setup app.CardSetup
	err   error
}

func (s *stubBilling) record(c billingCall) (app.BillingInfo, error) {
	s.calls = append(s.calls, c)
	info := s.info
	info.Partner.ID = c.Partner
	if info.Partner.Currency == "" { // as every stored partner has one
		info.Partner.Currency = dsu.USD
	}
	return info, s.err
}

func (s *stubBilling) Info(_ context.Context, p dsu.Partner) (app.BillingInfo, error) {
	return s.record(billingCall{Op: "Info", Partner: p.ID})
}

func (s *stubBilling) UpdateContact(_ context.Context, p dsu.Partner, in app.ContactInput) (app.BillingInfo, error) {
	return s.record(billingCall{Op: "UpdateContact", Partner: p.ID, Contact: in})
}

func (s *stubBilling) StartCardSetup(_ context.Context, p dsu.Partner) (app.CardSetup, error) {
	_, err := s.record(billingCall{Op: "StartCardSetup", Partner: p.ID})
	return s.setup, err
}

func (s *stubBilling) SaveCard(_ context.Context, p dsu.Partner, id string) (app.BillingInfo, error) {
	return s.record(billingCall{Op: "SaveCard", Partner: p.ID, SetupID: id})
}

func (s *stubBilling) DeleteCard(_ context.Context, p dsu.Partner) (app.BillingInfo, error) {
	return s.record(billingCall{Op: "DeleteCard", Partner: p.ID})
}

func (s *stubBilling) UpdateAutoRefill(_ context.Context, p dsu.Partner, in dsu.PlanSettings) (app.BillingInfo, error) {
	return s.record(billingCall{Op: "UpdateAutoRefill", Partner: p.ID, Refill: in})
}

func newBillingFunction(t *testing.T, stub *stubBilling) *Function {
	t.Helper()
	f, err := NewFunction(routes.Billing, routes.ForFunction(routes.Billing),
		Config{Claims: DefaultClaimNames, Partners: &fakePartners{}, Log: logging.Discard()}, BillingEndpoints(stub, noAudit{}))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func handle(t *testing.T, f *Function, ev events.APIGatewayV2HTTPRequest) events.APIGatewayV2HTTPResponse {
	t.Helper()
	resp, err := f.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("%s: invocation failed: %v", ev.RouteKey, err)
	}
	openapitest.CheckEvent(t, ev, resp)
	return resp
}

func sp(s string) *string { return &s }

func TestBillingSampleEventsReachTheirUseCases(t *testing.T) {
	usd := "usd"
	threshold, limit := int64(500), 3
	cases := map[string]struct {
		status int
		want   billingCall
	}{
		"get-billing.json":       {200, billingCall{Op: "Info", Partner: "partner-acme"}},
		"post-setup-intent.json": {201, billingCall{Op: "StartCardSetup", Partner: "partner-acme"}},
		"put-card.json":          {200, billingCall{Op: "SaveCard", Partner: "partner-acme", SetupID: "seti_1Pgag7B7WZ01zgkWSgwGdb8Z"}},
		"delete-card.json":       {200, billingCall{Op: "DeleteCard", Partner: "partner-acme"}},
		"put-auto-refill.json": {200, billingCall{Op: "UpdateAutoRefill", Partner: "partner-acme", Refill: dsu.PlanSettings{
			Enabled: true, PackageID: sp("dsu-5000"), Threshold: &threshold, MonthlyLimit: &limit,
		}}},
		"put-contact.json": {200, billingCall{Op: "UpdateContact", Partner: "partner-acme", Contact: app.ContactInput{
			Contact:  &dsu.Contact{Name: "Jane Doe", Email: "jane.doe@acme.example", Phone: "+1 555 010 0199"},
			Address:  &dsu.Address{Line1: "100 Main Street", Line2: "Suite 400", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
			Currency: &usd,
		}}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			stub := &stubBilling{setup: app.CardSetup{SetupIntentID: "seti_new", ClientSecret: "seti_new_secret_abc"}}
			f := newBillingFunction(t, stub)
			ev := eventfixtures.HTTP(t, "billing/"+name)
			resp := handle(t, f, ev)
			if resp.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, c.status, resp.Body)
			}
			if len(stub.calls) != 1 || !reflect.DeepEqual(stub.calls[0], c.want) {
				t.Fatalf("calls %+v, want %+v", stub.calls, c.want)
			}
			// API Gateway may base64-encode a body; the endpoint sees the same.
			if ev.Body != "" {
				ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString([]byte(ev.Body)), true
				if resp := handle(t, f, ev); resp.StatusCode != c.status || !reflect.DeepEqual(stub.calls[1], c.want) {
					t.Fatalf("base64 body: %d %+v", resp.StatusCode, stub.calls[1:])
				}
			}
		})
	}

	stub := &stubBilling{}
	p := decodeProblem(t, handle(t, newBillingFunction(t, stub), eventfixtures.HTTP(t, "billing/put-contact-not-admin.json")))
	if p.Status != 403 || p.Code != "forbidden" || len(stub.calls) != 0 {
		t.Fatalf("not-admin: %+v, calls %+v", p, stub.calls)
	}
}

func TestBillingBodiesAreDecodedStrictly(t *testing.T) {
	stub := &stubBilling{}
	f := newBillingFunction(t, stub)
	admin := map[string]string{"custom:partner_id": "p1", "cognito:groups": "[billing-admin]"}
	send := func(route, contentType, body string) events.APIGatewayV2HTTPResponse {
		ev := event(route, admin)
		ev.Body = body
		if contentType != "" {
			ev.Headers = map[string]string{"content-type": contentType}
		}
		return handle(t, f, ev)
	}
	wantProblem := func(resp events.APIGatewayV2HTTPResponse, status int, code, field string) {
		t.Helper()
		p := decodeProblem(t, resp)
		if p.Status != status || p.Code != code {
			t.Fatalf("%+v, want %d %s", p, status, code)
		}
		if field != "" && (len(p.Errors) != 1 || p.Errors[0].Field != field) {
			t.Fatalf("errors %+v, want one for %s", p.Errors, field)
		}
	}

	// Body-less routes take nothing, or an empty object.
	wantProblem(send("DELETE /v1/billing/card", "application/json", `{"confirm":true}`), 400, "validation_failed", "confirm")
	wantProblem(send("POST /v1/billing/card/setup-intent", "application/json", `{"customer":"cus_other"}`), 400, "validation_failed", "customer")
	wantProblem(send("POST /v1/billing/card/setup-intent", "text/plain", `hello`), 415, "unsupported_media_type", "")
	if resp := send("DELETE /v1/billing/card", "application/json", ` {} `); resp.StatusCode != 200 {
		t.Fatalf("DELETE with {}: %d %s", resp.StatusCode, resp.Body)
	}
	// The setup-intent answer is exactly the two ids the portal needs.
	stub.setup = app.CardSetup{SetupIntentID: "seti_9", ClientSecret: "seti_9_secret_z"}
	if resp := send("POST /v1/billing/card/setup-intent", "", ""); resp.StatusCode != 201 || resp.Body != `{"clientSecret":"seti_9_secret_z","setupIntentId":"seti_9"}` {
		t.Fatalf("setup-intent: %d %s", resp.StatusCode, resp.Body)
	}

	wantProblem(send("PUT /v1/billing/card", "application/json", `{"setupIntentId":"seti_1","paymentMethod":"pm_1"}`), 400, "validation_failed", "paymentMethod")
	wantProblem(send("PUT /v1/billing/card", "application/json", `{"setupIntentId":7}`), 400, "validation_failed", "setupIntentId")
	wantProblem(send("PUT /v1/billing/card", "application/json; charset=latin1", `{"setupIntentId":"seti_1"}`), 415, "unsupported_media_type", "")
	wantProblem(send("PUT /v1/billing/card", "application/json", `{"number":"4242"}`), 400, "validation_failed", "number")
	wantProblem(send("PUT /v1/billing/auto-refill", "application/json", `{"threshold":5}`), 400, "validation_failed", "enabled")
	wantProblem(send("PUT /v1/billing/auto-refill", "application/json", `{"enabled":true,"monthlyLimit":99999999999999999999}`), 400, "validation_failed", "monthlyLimit")
	wantProblem(send("PUT /v1/billing/auto-refill", "application/json", `{"enabled":true,"threshold":-0.5}`), 400, "validation_failed", "threshold")
	wantProblem(send("PUT /v1/billing/contact", "application/json", `{"contact":{"name":"Jane","cvv":"123"}}`), 400, "validation_failed", "contact.cvv")
	wantProblem(send("PUT /v1/billing/contact", "application/json", `{"address":{"line1":"x","zip":"1"}}`), 400, "validation_failed", "address.zip")
	wantProblem(send("PUT /v1/billing/contact", "application/json", `{"contact":{}}`+strings.Repeat(" ", MaxBodyBytes)), 413, "payload_too_large", "")
	if len(stub.calls) != 2 { // the DELETE with {} and the setup-intent
		t.Fatalf("refused bodies reached the use cases: %+v", stub.calls)
	}

	// Nulls mean "none"; an omitted setting stays nil so the use case keeps
	// the stored value.
	stub.calls = nil
	send("PUT /v1/billing/contact", "application/json", `{"contact":{"name":"Jane Doe","email":"j@x.example","phone":null},"address":{"line1":"1","line2":null,"city":"c","state":null,"postalCode":"1","country":"DE"},"vatId":null,"currency":null}`)
	send("PUT /v1/billing/auto-refill", "application/json", `{"enabled":false}`)
	in, refill := stub.calls[0].Contact, stub.calls[1].Refill
	if in.Currency != nil || in.VATID != "" || in.Contact.Phone != "" || in.Address.Line2 != "" || in.Address.State != "" {
		t.Fatalf("contact input %+v", in)
	}
	if refill.Enabled || refill.PackageID != nil || refill.Threshold != nil || refill.MonthlyLimit != nil {
		t.Fatalf("auto-refill input %+v", refill)
	}
}

func TestBillingUseCaseErrorsBecomeProblems(t *testing.T) {
	admin := map[string]string{"custom:partner_id": "p1", "cognito:groups": "[billing-admin]"}
	for _, c := range []struct {
		err    error
		status int
		code   string
	}{
		{dsu.Errorf(dsu.KindContactRequired, "save a billing contact first"), 409, "contact_required"},
		{dsu.Errorf(dsu.KindPaymentMethodRequired, "save a card first"), 409, "payment_method_required"},
		{dsu.Errorf(dsu.KindNotFound, "no such SetupIntent"), 404, "not_found"},
		{dsu.Errorf(dsu.KindConflict, "not confirmed yet"), 409, "conflict"},
		{dsu.Wrap(errors.New("dial tcp: api.stripe.com: i/o timeout"), dsu.KindUpstreamUnavailable, "Stripe is unavailable"), 503, "upstream_unavailable"},
		{errors.New("ConditionalCheckFailed on pk=P#p1 sk_live_secret"), 500, "internal"},
	} {
		f := newBillingFunction(t, &stubBilling{err: c.err})
		// A read fails only for want of Stripe or the table: the 4xx of
		// writes are not among its documented answers.
		keys := []string{"PUT /v1/billing/card"}
		if c.status >= 500 {
			keys = append(keys, "GET /v1/billing")
		}
		for _, route := range keys {
			ev := event(route, admin)
			if route == "PUT /v1/billing/card" {
				ev.Headers, ev.Body = map[string]string{"content-type": "application/json"}, `{"setupIntentId":"seti_1"}`
			}
			resp := handle(t, f, ev)
			p := decodeProblem(t, resp)
			if p.Status != c.status || p.Code != c.code {
				t.Fatalf("%s with %v: %+v", route, c.err, p)
			}
			if strings.Contains(resp.Body, "dial tcp") || strings.Contains(resp.Body, "sk_live") || strings.Contains(resp.Body, "pk=") {
				t.Fatalf("internals in %s", resp.Body)
			}
		}
	}
}

func TestBillingInfoJSON(t *testing.T) {
	created := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	fresh := app.BillingInfo{
		Partner: dsu.Partner{ID: "p1", Currency: dsu.USD, CreatedAt: created},
		Account: dsu.Account{PartnerID: "p1", Units: 2000},
	}
	full := app.BillingInfo{
		Partner: dsu.Partner{
			ID: "p1", Currency: dsu.EUR, StripeCustomerID: "cus_1", VATID: "DE123456789", CreatedAt: created,
			Contact: &dsu.Contact{Name: "Jane Doe", Email: "jane@acme.example", Phone: "+49 30 1234567"},
			Address: &dsu.Address{Line1: "Hauptstr. 1", Line2: "2. OG", City: "Berlin", PostalCode: "10115", Country: "DE"},
			Card:    &dsu.Card{PaymentMethodID: "pm_secret_id", Brand: "visa", Last4: "4242", ExpMonth: 1, ExpYear: 2031},
		},
		Account: dsu.Account{PartnerID: "p1", Units: -40, AutoRefill: dsu.AutoRefill{
			Enabled: true, PackageID: "dsu-5000", Threshold: 100, MonthlyLimit: 4, Status: dsu.AutoRefillPaused, PausedReason: dsu.PausedPaymentFailed,
		}},
		CardExpiresSoon: true,
	}
	for _, c := range []struct {
		info app.BillingInfo
		want string
	}{
		{fresh, `{"partnerId":"p1","currency":"usd","stripeCustomerId":null,"contact":null,"address":null,"vatId":null,"card":null,` +
			`"autoRefill":{"enabled":false,"packageId":null,"threshold":0,"monthlyLimit":null,"status":"off","pausedReason":null},"balance":{"units":2000}}`},
		{full, `{"partnerId":"p1","currency":"eur","stripeCustomerId":"cus_1",` +
			`"contact":{"name":"Jane Doe","email":"jane@acme.example","phone":"+49 30 1234567"},` +
			`"address":{"line1":"Hauptstr. 1","line2":"2. OG","city":"Berlin","state":null,"postalCode":"10115","country":"DE"},` +
			`"vatId":"DE123456789","card":{"brand":"visa","last4":"4242","expMonth":1,"expYear":2031,"expiresSoon":true},` +
			`"autoRefill":{"enabled":true,"packageId":"dsu-5000","threshold":100,"monthlyLimit":4,"status":"paused","pausedReason":"payment_failed"},"balance":{"units":-40}}`},
	} {
		b, err := json.Marshal(billingInfoView(c.info))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("got  %s\nwant %s", b, c.want)
		}
	}
}

// noAudit is an empty audit log.
type noAudit struct{}

func (noAudit) List(context.Context, dsu.Partner, dsu.Page) ([]dsu.AuditEvent, string, error) {
	return nil, "", nil
}
