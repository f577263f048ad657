package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/localstack"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
)

// TestBillingThroughTheLocalStack runs every billing route of docs/API.md through the
// local stack as `make dev` serves it: the emulated API Gateway with the JWTs
// `dsu-local token` prints, the real handlers from the wiring, the embedded
// DynamoDB emulator and stripe-mock. stripe-mock answers from fixtures and
// keeps no state, so the test asserts what holds against it; the behaviour
// behind each route is tested on the Stripe fake in internal/app.
func TestBillingThroughTheLocalStack(t *testing.T) {
	vars := map[string]string{"DSU_LOCAL_ADDR": "127.0.0.1:0", "DSU_LOCAL_JWT_SECRET": "billing-e2e-secret"}
	getenv := func(k string) string { return vars[k] }
	env := localEnv(getenv)
	cfg, err := env.functionsConfig()
	if err != nil {
		t.Fatal(err)
	}
	stack, err := localstack.Start(context.Background(), localstack.Options{
		Addr: env.addr, JWTSecret: env.jwtSecret, SweepInterval: time.Hour, WebhookSecret: env.webhookSecret,
		Functions: cfg, Log: logging.Discard(),
	}, localFunctions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stack.Close)

	token := func(args ...string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(append([]string{"token"}, args...), getenv, &out, io.Discard); err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(out.String())
	}
	admin, reader := token("-partner", "e2e-billing", "-admin"), token("-partner", "e2e-billing")

	client := openapitest.Client(t, 30*time.Second) // checks every answer against docs/openapi.yaml
	type reply struct {
		status      int
		contentType string
		body        []byte
	}
	call := func(method, path, tok, contentType, body string) reply {
		t.Helper()
		req, err := http.NewRequest(method, stack.URL+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return reply{resp.StatusCode, resp.Header.Get("Content-Type"), b}
	}
	type billingInfo struct {
		PartnerID        string  `json:"partnerId"`
		Currency         string  `json:"currency"`
		StripeCustomerID *string `json:"stripeCustomerId"`
		Contact          *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"contact"`
		Address *struct {
			City    string `json:"city"`
			Country string `json:"country"`
		} `json:"address"`
		Card       *json.RawMessage `json:"card"`
		AutoRefill struct {
			Enabled      bool    `json:"enabled"`
			PackageID    *string `json:"packageId"`
			Threshold    int64   `json:"threshold"`
			MonthlyLimit *int    `json:"monthlyLimit"`
			Status       string  `json:"status"`
		} `json:"autoRefill"`
		Balance struct {
			Units int64 `json:"units"`
		} `json:"balance"`
	}
	info := func(r reply) billingInfo {
		t.Helper()
		var v billingInfo
		if r.status != 200 || r.contentType != "application/json" || json.Unmarshal(r.body, &v) != nil {
			t.Fatalf("want 200 BillingInfo, got %d %s %s", r.status, r.contentType, r.body)
		}
		return v
	}
	problem := func(r reply, status int, code string, fields ...string) {
		t.Helper()
		var p struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
			Errors []struct {
				Field string `json:"field"`
			} `json:"errors"`
		}
		if r.status != status || r.contentType != "application/problem+json" || json.Unmarshal(r.body, &p) != nil || p.Status != status || p.Code != code {
			t.Fatalf("want %d %s, got %d %s %s", status, code, r.status, r.contentType, r.body)
		}
		var got []string
		for _, e := range p.Errors {
			got = append(got, e.Field)
		}
		slices.Sort(got)
		slices.Sort(fields)
		if !slices.Equal(got, fields) {
			t.Fatalf("fields %v, want %v: %s", got, fields, r.body)
		}
	}
	const contact = `{"contact":{"name":"Jane Doe","email":"jane.doe@e2e.example","phone":"+49 30 1234567"},` +
		`"address":{"line1":"Hauptstr. 1","city":"Berlin","postalCode":"10115","country":"DE"},"vatId":"DE 123 456 789","currency":"eur"}`

	// The gateway's authorizer refuses requests without a valid token.
	if r := call("GET", "/v1/billing", "", "", ""); r.status != 401 {
		t.Fatalf("no token: %d %s", r.status, r.body)
	}
	if r := call("GET", "/v1/billing", admin[:len(admin)-2]+"xx", "", ""); r.status != 401 {
		t.Fatalf("bad signature: %d %s", r.status, r.body)
	}

	// A reader sees the new partner; writes need the billing-admin group.
	first := info(call("GET", "/v1/billing", reader, "", ""))
	if first.PartnerID != "e2e-billing" || first.Currency != "usd" || first.Balance.Units != 2000 || first.Contact != nil || first.StripeCustomerID != nil {
		t.Fatalf("first GET: %+v", first)
	}
	problem(call("PUT", "/v1/billing/contact", reader, "application/json", contact), 403, "forbidden")
	problem(call("POST", "/v1/billing/card/setup-intent", admin, "", ""), 409, "contact_required")

	// Bad input: 400 naming the fields, 415 for anything but JSON.
	problem(call("PUT", "/v1/billing/contact", admin, "application/json",
		strings.NewReplacer("jane.doe@", "helpdesk@", `"DE"`, `"DX"`).Replace(contact)), 400, "validation_failed", "contact.email", "address.country")
	problem(call("PUT", "/v1/billing/contact", admin, "application/json", `{"contact":{"name":"Jane Doe","cardNumber":"4242424242424242"}}`),
		400, "validation_failed", "contact.cardNumber")
	problem(call("PUT", "/v1/billing/contact", admin, "text/plain", contact), 415, "unsupported_media_type")

	// The contact creates the Stripe customer; GET reflects what was stored.
	saved := info(call("PUT", "/v1/billing/contact", admin, "application/json", contact))
	if saved.StripeCustomerID == nil || !strings.HasPrefix(*saved.StripeCustomerID, "cus_") || saved.Contact == nil || saved.Contact.Email != "jane.doe@e2e.example" ||
		saved.Address == nil || saved.Address.Country != "DE" || saved.Currency != "eur" {
		t.Fatalf("PUT contact: %+v", saved)
	}
	if got := info(call("GET", "/v1/billing", reader, "", "")); got.Contact == nil || *got.StripeCustomerID != *saved.StripeCustomerID || got.Currency != "eur" {
		t.Fatalf("GET after PUT: %+v", got)
	}
	if other := info(call("GET", "/v1/billing", token("-partner", "e2e-other"), "", "")); other.PartnerID != "e2e-other" || other.Contact != nil || other.StripeCustomerID != nil {
		t.Fatalf("another partner sees %+v", other)
	}

	// The card flow: a SetupIntent for the portal's Stripe Elements.
	r := call("POST", "/v1/billing/card/setup-intent", admin, "", "")
	var setup struct {
		SetupIntentID string `json:"setupIntentId"`
		ClientSecret  string `json:"clientSecret"`
	}
	if r.status != 201 || json.Unmarshal(r.body, &setup) != nil || !strings.HasPrefix(setup.SetupIntentID, "seti_") || !strings.Contains(setup.ClientSecret, "_secret_") {
		t.Fatalf("setup-intent: %d %s", r.status, r.body)
	}
	// stripe-mock reports the SetupIntent without our customer: never saved.
	problem(call("PUT", "/v1/billing/card", admin, "application/json", `{"setupIntentId":"`+setup.SetupIntentID+`"}`), 404, "not_found")
	problem(call("PUT", "/v1/billing/card", admin, "application/json", `{"setupIntentId":"pm_card_visa"}`), 400, "validation_failed", "setupIntentId")
	problem(call("PUT", "/v1/billing/card", reader, "application/json", `{"setupIntentId":"`+setup.SetupIntentID+`"}`), 403, "forbidden")

	// The automated plan: settings validated; enabling needs a card.
	problem(call("PUT", "/v1/billing/auto-refill", admin, "application/json", `{"enabled":false,"packageId":"dsu-7","threshold":-1,"monthlyLimit":40}`),
		400, "validation_failed", "packageId", "threshold", "monthlyLimit")
	problem(call("PUT", "/v1/billing/auto-refill", admin, "application/json", `{"enabled":true,"packageId":"dsu-5000","threshold":500,"monthlyLimit":3}`),
		409, "payment_method_required")
	plan := info(call("PUT", "/v1/billing/auto-refill", admin, "application/json", `{"enabled":false,"packageId":"dsu-5000","threshold":500,"monthlyLimit":3}`)).AutoRefill
	if plan.Enabled || plan.Status != "off" || plan.PackageID == nil || *plan.PackageID != "dsu-5000" || plan.Threshold != 500 || plan.MonthlyLimit == nil || *plan.MonthlyLimit != 3 {
		t.Fatalf("plan %+v", plan)
	}

	// Deleting a card there is not is answered with the billing info.
	if got := info(call("DELETE", "/v1/billing/card", admin, "", "")); got.Card != nil || got.Contact == nil {
		t.Fatalf("DELETE card: %+v", got)
	}
	problem(call("DELETE", "/v1/billing/card", reader, "", ""), 403, "forbidden")

	final := info(call("GET", "/v1/billing", reader, "", ""))
	if final.Card != nil || final.AutoRefill.Threshold != 500 || *final.StripeCustomerID != *saved.StripeCustomerID || final.Balance.Units != 2000 {
		t.Fatalf("final GET: %+v", final)
	}
}
