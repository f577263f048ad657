package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// WebhookParser verifies a Stripe delivery over its raw body and parses the
// event; it reports the API version the event was rendered in.
type WebhookParser func(payload []byte, signature string, now time.Time) (ev app.WebhookEvent, apiVersion string, err error)

type webhookHandler interface {
	Handle(ctx context.Context, ev app.WebhookEvent) error
}

// WebhookDeps are what the stripewebhook function needs.
type WebhookDeps struct {
	Parse WebhookParser
	// ExpectedAPIVersion is the version the endpoint is pinned to; events
	// in another version are processed (only the fields used are read)
	// with a warning (RULES.md, "Webhook verification").
	ExpectedAPIVersion string
	Webhooks           webhookHandler
	Clock              dsu.Clock
	Log                *slog.Logger
}

// maxWebhookBody bounds a Stripe event; real ones are a few kilobytes.
const maxWebhookBody = 512 << 10

// WebhookEndpoints is the stripewebhook function's route.
func WebhookEndpoints(d WebhookDeps) map[string]Endpoint {
	return map[string]Endpoint{"POST /v1/stripe/webhook": d.receive}
}

func (d WebhookDeps) receive(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
	if len(r.Body) > maxWebhookBody {
		return events.APIGatewayV2HTTPResponse{}, dsu.Errorf(dsu.KindPayloadTooLarge, "the event is larger than %d bytes", maxWebhookBody)
	}
	// The signature covers the raw body exactly as Stripe sent it (already
	// base64-decoded when API Gateway encoded it). Nothing of the body is
	// logged.
	ev, version, err := d.Parse(r.Body, r.Header("Stripe-Signature"), d.Clock.Now())
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	log := d.Log.With("event", ev.ID, "type", ev.Type)
	if version != "" && version != d.ExpectedAPIVersion {
		log.WarnContext(ctx, "event rendered in another Stripe API version; processing the fields this code reads",
			"apiVersion", version, "expected", d.ExpectedAPIVersion)
	}
	if err := d.Webhooks.Handle(ctx, ev); err != nil {
		// Transient: Stripe retries a non-2xx delivery.
		log.WarnContext(ctx, "event not processed yet; Stripe will retry", "error", err.Error())
		return ErrorResponse(dsu.Wrap(err, dsu.KindUpstreamUnavailable, "temporarily unable to process the event"), r.RequestID), nil
	}
	return JSONResponse(http.StatusOK, map[string]bool{"received": true})
}
