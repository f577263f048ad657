package functions_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/lambdatest"
)

// TestBillingFunctionServesItsSampleEvents runs functions/billing as Lambda
// does (bootstrap, environment, Runtime API) against the emulated table and
// stripe-mock, and sends it the sample events under events/billing/.
// stripe-mock answers from fixtures and keeps no state, so this checks the
// wiring and the Stripe requests' acceptance; the behaviour behind each route
// is tested on the Stripe fake in internal/app.
func TestBillingFunctionServesItsSampleEvents(t *testing.T) {
	emu := seededTable(t)
	rt := lambdatest.Start(t, lambdatest.Build(t, "billing"), baseEnv(emu))

	type info struct {
		PartnerID        string  `json:"partnerId"`
		StripeCustomerID *string `json:"stripeCustomerId"`
		Contact          *struct {
			Name  string `json:"name"`
			Email string `json:"email"`
		} `json:"contact"`
		Card       *json.RawMessage `json:"card"`
		AutoRefill struct {
			Status string `json:"status"`
		} `json:"autoRefill"`
		Balance struct {
			Units int64 `json:"units"`
		} `json:"balance"`
	}
	decode := func(resp events.APIGatewayV2HTTPResponse, status int) info {
		t.Helper()
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d: %s", resp.StatusCode, status, resp.Body)
		}
		var v info
		if err := json.Unmarshal([]byte(resp.Body), &v); err != nil {
			t.Fatalf("body %s: %v", resp.Body, err)
		}
		return v
	}
	problem := func(resp events.APIGatewayV2HTTPResponse, status int, code string) {
		t.Helper()
		var p struct {
			Status int    `json:"status"`
			Code   string `json:"code"`
		}
		if resp.StatusCode != status || resp.Headers["Content-Type"] != "application/problem+json" ||
			json.Unmarshal([]byte(resp.Body), &p) != nil || p.Status != status || p.Code != code {
			t.Fatalf("got %d %v %s, want %d %s", resp.StatusCode, resp.Headers, resp.Body, status, code)
		}
	}

	// The partner's first request creates it with the welcome grant.
	got := decode(invokeHTTP(t, rt, "billing/get-billing.json"), 200)
	if got.PartnerID != "partner-acme" || got.Balance.Units != 2000 || got.Contact != nil || got.StripeCustomerID != nil || got.AutoRefill.Status != "off" {
		t.Fatalf("get-billing: %+v", got)
	}
	problem(invokeHTTP(t, rt, "billing/post-setup-intent.json"), 409, "contact_required")
	problem(invokeHTTP(t, rt, "billing/put-contact-not-admin.json"), 403, "forbidden")

	// The contact creates the Stripe customer (stripe-mock accepted the
	// request the adapter built) and links it to the partner.
	got = decode(invokeHTTP(t, rt, "billing/put-contact.json"), 200)
	if got.Contact == nil || got.Contact.Email != "jane.doe@acme.example" || got.StripeCustomerID == nil || !strings.HasPrefix(*got.StripeCustomerID, "cus_") {
		t.Fatalf("put-contact: %+v", got)
	}
	store := dynamo.New(emu.Client, dynamo.Options{Table: dynamotest.Table})
	if p, err := store.PartnerByCustomer(context.Background(), *got.StripeCustomerID); err != nil || p.ID != "partner-acme" || p.Contact == nil {
		t.Fatalf("stored partner %+v, %v", p, err)
	}

	resp := invokeHTTP(t, rt, "billing/post-setup-intent.json")
	var setup struct {
		SetupIntentID string `json:"setupIntentId"`
		ClientSecret  string `json:"clientSecret"`
	}
	if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &setup) != nil || !strings.HasPrefix(setup.SetupIntentID, "seti_") || setup.ClientSecret == "" {
		t.Fatalf("post-setup-intent: %d %s", resp.StatusCode, resp.Body)
	}

	// stripe-mock's SetupIntent names no customer: it is not this partner's,
	// and no card is saved.
	problem(invokeHTTP(t, rt, "billing/put-card.json"), 404, "not_found")
	problem(invokeHTTP(t, rt, "billing/put-auto-refill.json"), 409, "payment_method_required")
	got = decode(invokeHTTP(t, rt, "billing/delete-card.json"), 200)
	if got.Card != nil || got.Contact == nil {
		t.Fatalf("delete-card: %+v", got)
	}
	var audit struct {
		Events     []json.RawMessage `json:"events"`
		NextCursor *string           `json:"nextCursor"`
	}
	if resp := invokeHTTP(t, rt, "billing/get-audit.json"); resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &audit) != nil || audit.Events == nil {
		t.Fatalf("get-audit: %d %s", resp.StatusCode, resp.Body)
	}
}
