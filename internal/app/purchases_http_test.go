package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

// purchasesFunction is the purchases function over the world, as wiring
// builds it; its responses are checked against docs/openapi.yaml.
func (w *world) purchasesFunction() openapitest.Handler {
	w.t.Helper()
	f, err := httpapi.NewFunction(routes.Purchases, routes.ForFunction(routes.Purchases),
		httpapi.Config{Claims: httpapi.DefaultClaimNames, Partners: w.partners, Log: logging.Discard()},
		httpapi.PurchasesEndpoints(httpapi.PurchasesDeps{
			Packages: &app.Packages{Catalog: w.catalog}, Purchases: w.purchases, Balances: &app.Balances{Store: w.store, Clock: w.clock},
			Reports: &app.Reports{Store: w.store, Clock: w.clock},
		}))
	if err != nil {
		w.t.Fatal(err)
	}
	return openapitest.Checked(w.t, f)
}

func purchaseRequest(routeKey, partner, key, body string, params map[string]string) events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(routeKey, " ")
	ev := events.APIGatewayV2HTTPRequest{RouteKey: routeKey, RawPath: path, Body: body, PathParameters: params,
		Headers: map[string]string{"content-type": "application/json"}}
	if key != "" {
		ev.Headers["idempotency-key"] = key
	}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: map[string]string{
			"custom:partner_id": partner, "cognito:groups": "[billing-admin]",
		}},
	}
	return ev
}

// The input rules of POST /v1/purchases (API.md), through the real endpoint.
func TestPurchaseRequestValidation(t *testing.T) {
	w := newWorld(t)
	w.partner("p1", "")
	f := w.purchasesFunction()
	cases := []struct {
		name, key, body, code, field string
	}{
		{"quantity 0", "k", `{"items":[{"packageId":"dsu-1000","quantity":0}],"paymentMethod":"new"}`, "validation_failed", "items[0].quantity"},
		{"quantity -1", "k", `{"items":[{"packageId":"dsu-1000","quantity":-1}],"paymentMethod":"new"}`, "validation_failed", "items[0].quantity"},
		{"quantity 101", "k", `{"items":[{"packageId":"dsu-1000","quantity":101}],"paymentMethod":"new"}`, "validation_failed", "items[0].quantity"},
		{"quantity 1.5", "k", `{"items":[{"packageId":"dsu-1000","quantity":1.5}],"paymentMethod":"new"}`, "validation_failed", "items.quantity"},
		{`quantity "2"`, "k", `{"items":[{"packageId":"dsu-1000","quantity":"2"}],"paymentMethod":"new"}`, "validation_failed", "items.quantity"},
		{"empty list", "k", `{"items":[],"paymentMethod":"new"}`, "validation_failed", "items"},
		{"duplicate lines", "k", `{"items":[{"packageId":"dsu-1000","quantity":1},{"packageId":"dsu-1000","quantity":2}],"paymentMethod":"new"}`, "validation_failed", "items[1].packageId"},
		{"unknown package", "k", `{"items":[{"packageId":"dsu-3","quantity":1}],"paymentMethod":"new"}`, "validation_failed", "items[0].packageId"},
		{"client-sent amount", "k", `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new","amount":{"amount":1,"currency":"usd"}}`, "validation_failed", "amount"},
		{"client-sent line price", "k", `{"items":[{"packageId":"dsu-1000","quantity":1,"price":1}],"paymentMethod":"new"}`, "validation_failed", "items[0].price"},
		{"card number", "k", `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new","cardNumber":"4242424242424242"}`, "validation_failed", "cardNumber"},
		{"bad payment method", "k", `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"cash"}`, "validation_failed", "paymentMethod"},
		{"no key", "", `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`, "idempotency_key_missing", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := f.Handle(context.Background(), purchaseRequest("POST /v1/purchases", "p1", c.key, c.body, nil))
			var p httpapi.Problem
			json.Unmarshal([]byte(resp.Body), &p)
			if resp.StatusCode != 400 || p.Code != c.code {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
			if c.field != "" && (len(p.Errors) == 0 || p.Errors[0].Field != c.field) {
				t.Fatalf("errors %+v, want field %s", p.Errors, c.field)
			}
		})
	}
	if w.pay.Calls("CreatePaymentIntent") != 0 {
		t.Fatal("an invalid purchase reached Stripe")
	}
	list, _, _ := w.store.ListPurchases(context.Background(), "p1", dsuPage(10))
	if len(list) != 0 {
		t.Fatalf("%d purchases stored from invalid requests", len(list))
	}

	// Another partner's purchase is 404, by id and by confirm.
	resp, _ := f.Handle(context.Background(), purchaseRequest("POST /v1/purchases", "p1", "k-ok", `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`, nil))
	var created struct{ Purchase struct{ ID string } }
	if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &created) != nil {
		t.Fatalf("valid purchase: %d %s", resp.StatusCode, resp.Body)
	}
	w.partner("p2", "")
	for _, route := range []string{"GET /v1/purchases/{id}", "POST /v1/purchases/{id}/confirm"} {
		resp, _ = f.Handle(context.Background(), purchaseRequest(route, "p2", "", "", map[string]string{"id": created.Purchase.ID}))
		if resp.StatusCode != 404 {
			t.Fatalf("%s by another partner: %d %s", route, resp.StatusCode, resp.Body)
		}
	}
}
