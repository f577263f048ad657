package stripeapi

import (
	"encoding/json"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
)

// ParseWebhook verifies a webhook delivery and parses the object of the
// event types the use cases handle. Other types come back with only ID and
// Type set, to be acknowledged and ignored.
func ParseWebhook(payload []byte, sigHeader string, secrets []string, now time.Time) (app.WebhookEvent, Event, error) {
	ev, err := VerifyEvent(payload, sigHeader, secrets, now, DefaultTolerance)
	if err != nil {
		return app.WebhookEvent{}, Event{}, err
	}
	out := app.WebhookEvent{ID: ev.ID, Type: ev.Type, Livemode: ev.Livemode}
	switch ev.Type {
	case app.EvPaymentSucceeded, app.EvPaymentFailed, app.EvPaymentRequiresAction, app.EvPaymentCanceled:
		pi, err := ParsePaymentIntent(ev.Object)
		if err != nil {
			return out, ev, err
		}
		out.PaymentIntent = &pi
	case app.EvChargeSucceeded, app.EvChargeRefunded:
		ch, err := ParseCharge(ev.Object)
		if err != nil {
			return out, ev, err
		}
		out.Charge = &ch
	case app.EvRefundUpdated:
		r, err := ParseRefund(ev.Object)
		if err != nil {
			return out, ev, err
		}
		out.Refund = &r
	case app.EvDisputeCreated, app.EvDisputeClosed:
		d, err := ParseDispute(ev.Object)
		if err != nil {
			return out, ev, err
		}
		out.Dispute = &d
	case app.EvSetupSucceeded, app.EvSetupFailed:
		si, err := ParseSetupIntent(ev.Object)
		if err != nil {
			return out, ev, err
		}
		out.SetupIntent = &si
	case app.EvPaymentMethodDetached, app.EvPaymentMethodUpdated:
		pm, err := ParsePaymentMethod(ev.Object)
		if err != nil {
			return out, ev, err
		}
		out.PaymentMethod = &pm
		var prev struct {
			Customer json.RawMessage `json:"customer"`
		}
		if len(ev.PreviousAttributes) > 0 && json.Unmarshal(ev.PreviousAttributes, &prev) == nil && len(prev.Customer) > 0 {
			var r ref
			if r.UnmarshalJSON(prev.Customer) == nil {
				out.PreviousCustomerID = string(r)
			}
		}
	}
	return out, ev, nil
}
