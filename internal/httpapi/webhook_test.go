package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
	"github.com/cirasync/dsubilling/internal/stripeapi"
)

const secret = "whsec_test_secret"

type recordingHandler struct {
	events []app.WebhookEvent
	err    error
}

func (h *recordingHandler) Handle(_ context.Context, ev app.WebhookEvent) error {
	h.events = append(h.events, ev)
	return h.err
}

// webhookFunction is the webhook function; its responses are checked
// against docs/openapi.yaml.
func webhookFunction(t *testing.T, h *recordingHandler, now time.Time) openapitest.Handler {
	t.Helper()
	f, err := httpapi.NewFunction(routes.StripeWebhook, routes.ForFunction(routes.StripeWebhook),
		httpapi.Config{Claims: httpapi.DefaultClaimNames, Log: logging.Discard()},
		httpapi.WebhookEndpoints(httpapi.WebhookDeps{
			Parse: func(payload []byte, sig string, now time.Time) (app.WebhookEvent, string, error) {
				ev, raw, err := stripeapi.ParseWebhook(payload, sig, []string{secret}, now)
				return ev, raw.APIVersion, err
			},
			ExpectedAPIVersion: stripeapi.APIVersion, Webhooks: h, Clock: dsutest.NewFixedClock(now), Log: logging.Discard(),
		}))
	if err != nil {
		t.Fatal(err)
	}
	return openapitest.Checked(t, f)
}

// signed loads a webhook fixture and signs its body at time at.
func signed(t testing.TB, name string, at time.Time) (events.APIGatewayV2HTTPRequest, []byte) {
	ev := eventfixtures.HTTP(t, "stripewebhook/"+name)
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		body, _ = base64.StdEncoding.DecodeString(ev.Body)
	}
	ev.Headers["stripe-signature"] = stripeapi.SignPayload(secret, body, at)
	return ev, body
}

func TestEveryFixtureIsVerifiedAndParsed(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	for _, typ := range append(app.HandledEvents, "customer.created") {
		for _, variant := range []string{typ + ".json", typ + ".base64.json"} {
			if _, err := os.Stat(filepath.Join(eventfixtures.Dir(), "stripewebhook", variant)); variant == typ+".base64.json" && err != nil {
				continue // the base64 variants exist for some types only
			}
			t.Run(variant, func(t *testing.T) {
				h := &recordingHandler{}
				ev, _ := signed(t, variant, now.Add(-10*time.Second))
				resp, _ := webhookFunction(t, h, now).Handle(context.Background(), ev)
				if resp.StatusCode != 200 || len(h.events) != 1 {
					t.Fatalf("%d %s, %d events handled", resp.StatusCode, resp.Body, len(h.events))
				}
				got := h.events[0]
				if got.Type != typ || got.ID == "" || got.Livemode {
					t.Fatalf("event %+v", got)
				}
				switch {
				case strings.HasPrefix(typ, "payment_intent."):
					if got.PaymentIntent == nil || got.PaymentIntent.ID != "pi_3QFixture0000001" || got.PaymentIntent.Amount != (dsu.Money{Amount: 5000, Currency: dsu.USD}) || got.PaymentIntent.Metadata["purchase_id"] == "" {
						t.Fatalf("payment intent %+v", got.PaymentIntent)
					}
					if typ == app.EvPaymentFailed && (got.PaymentIntent.LastError == nil || got.PaymentIntent.LastError.DeclineCode != "insufficient_funds") {
						t.Fatalf("failure %+v", got.PaymentIntent.LastError)
					}
				case typ == app.EvChargeSucceeded:
					if got.Charge == nil || got.Charge.PaymentIntentID != "pi_3QFixture0000001" || !strings.HasPrefix(got.Charge.ReceiptURL, "https://pay.stripe.com/receipts/") ||
						got.Charge.Metadata["purchase_id"] != "pur_fixture0000000001" {
						t.Fatalf("charge %+v", got.Charge)
					}
				case typ == app.EvRefundUpdated:
					if r := got.Refund; r == nil || r.ID != "re_3QFixture0000001" || r.Status != app.RefundFailed || r.PaymentIntentID != "pi_3QFixture0000001" ||
						r.Amount != 5000 || r.Currency != dsu.USD {
						t.Fatalf("refund %+v", got.Refund)
					}
				case typ == app.EvChargeRefunded:
					if got.Charge == nil || got.Charge.PaymentIntentID != "pi_3QFixture0000001" || got.Charge.AmountRefunded != 5000 {
						t.Fatalf("charge %+v", got.Charge)
					}
				case strings.HasPrefix(typ, "charge.dispute."):
					if got.Dispute == nil || got.Dispute.PaymentIntentID != "pi_3QFixture0000001" {
						t.Fatalf("dispute %+v", got.Dispute)
					}
				case strings.HasPrefix(typ, "setup_intent."):
					if got.SetupIntent == nil || got.SetupIntent.Metadata["partner_id"] != "partner-acme" {
						t.Fatalf("setup intent %+v", got.SetupIntent)
					}
				case typ == app.EvPaymentMethodDetached:
					if got.PaymentMethod == nil || got.PreviousCustomerID != "cus_QFixture00001" {
						t.Fatalf("detached %+v prev %q", got.PaymentMethod, got.PreviousCustomerID)
					}
				case typ == app.EvPaymentMethodUpdated:
					if got.PaymentMethod == nil || got.PaymentMethod.Last4 != "4444" || got.PaymentMethod.CustomerID != "cus_QFixture00001" {
						t.Fatalf("updated %+v", got.PaymentMethod)
					}
				}
			})
		}
	}
}

func TestBadDeliveriesAre400AndChangeNothing(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	good, body := signed(t, "payment_intent.succeeded.json", now)
	cases := map[string]func(ev *events.APIGatewayV2HTTPRequest){
		"bad signature": func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["stripe-signature"] = stripeapi.SignPayload("whsec_other", body, now)
		},
		"stale timestamp": func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Headers["stripe-signature"] = stripeapi.SignPayload(secret, body, now.Add(-301*time.Second))
		},
		"tampered body": func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = strings.Replace(ev.Body, `"amount":5000`, `"amount":500000`, 1)
		},
		"missing header": func(ev *events.APIGatewayV2HTTPRequest) { delete(ev.Headers, "stripe-signature") },
		"malformed json": func(ev *events.APIGatewayV2HTTPRequest) {
			ev.Body = `{"id":"evt_1","type":`
			ev.Headers["stripe-signature"] = stripeapi.SignPayload(secret, []byte(ev.Body), now)
		},
		"malformed header": func(ev *events.APIGatewayV2HTTPRequest) { ev.Headers["stripe-signature"] = "v1=abc" },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			ev := good
			ev.Headers = map[string]string{}
			for k, v := range good.Headers {
				ev.Headers[k] = v
			}
			mutate(&ev)
			h := &recordingHandler{}
			resp, _ := webhookFunction(t, h, now).Handle(context.Background(), ev)
			if resp.StatusCode != 400 {
				t.Fatalf("status %d %s", resp.StatusCode, resp.Body)
			}
			if len(h.events) != 0 {
				t.Fatal("an unverified event reached the use case")
			}
			if strings.Contains(resp.Body, "pi_3QFixture") {
				t.Fatal("the error echoes the body")
			}
		})
	}
}

func TestTransientFailureIs5xxForStripesRetry(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	ev, _ := signed(t, "payment_intent.succeeded.json", now)
	h := &recordingHandler{err: dsu.Errorf(dsu.KindUpstreamUnavailable, "database down")}
	resp, _ := webhookFunction(t, h, now).Handle(context.Background(), ev)
	if resp.StatusCode != 503 {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestOtherAPIVersionsAreProcessed(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	ev := eventfixtures.HTTP(t, "stripewebhook/payment_intent.succeeded.json")
	var body map[string]any
	json.Unmarshal([]byte(ev.Body), &body)
	body["api_version"] = "2025-09-30.clover"
	raw, _ := json.Marshal(body)
	ev.Body = string(raw)
	ev.Headers["stripe-signature"] = stripeapi.SignPayload(secret, raw, now)
	h := &recordingHandler{}
	resp, _ := webhookFunction(t, h, now).Handle(context.Background(), ev)
	if resp.StatusCode != 200 || len(h.events) != 1 {
		t.Fatalf("a correctly signed event of another API version was refused: %d", resp.StatusCode)
	}
}

// The event's mode reaches the use case, which ignores the other mode's.
func TestLivemodeReachesTheUseCase(t *testing.T) {
	now := time.Date(2026, 11, 29, 3, 0, 0, 0, time.UTC)
	ev := eventfixtures.HTTP(t, "stripewebhook/charge.refund.updated.json")
	ev.Body = strings.Replace(ev.Body, `"livemode":false`, `"livemode":true`, 1)
	ev.Headers["stripe-signature"] = stripeapi.SignPayload(secret, []byte(ev.Body), now)
	h := &recordingHandler{}
	resp, _ := webhookFunction(t, h, now).Handle(context.Background(), ev)
	if resp.StatusCode != 200 || len(h.events) != 1 || !h.events[0].Livemode {
		t.Fatalf("%d %s, events %+v", resp.StatusCode, resp.Body, h.events)
	}
}
