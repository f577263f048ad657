package stripeapi

import (
	"context"
	"encoding/json"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
)

// Port adapts the client to the payment port the use cases declare
// (internal/app/payments.go). The types have the same fields, so each
// method converts without copying field by field.
type Port struct{ C *Client }

func (p Port) CreateCustomer(ctx context.Context, in app.CustomerDetails) (string, error) {
	return p.C.CreateCustomer(ctx, CustomerInput(in))
}

func (p Port) UpdateCustomer(ctx context.Context, id string, in app.CustomerDetails) error {
	return p.C.UpdateCustomer(ctx, id, CustomerInput(in))
}

func (p Port) CreateSetupIntent(ctx context.Context, customerID, partnerID, key string) (app.SetupIntent, error) {
	si, err := p.C.CreateSetupIntent(ctx, customerID, partnerID, key)
	return app.SetupIntent(si), err
}

func (p Port) GetSetupIntent(ctx context.Context, id string) (app.SetupIntent, error) {
	si, err := p.C.GetSetupIntent(ctx, id)
	return app.SetupIntent(si), err
}

func (p Port) GetPaymentMethod(ctx context.Context, id string) (app.PaymentMethod, error) {
	pm, err := p.C.GetPaymentMethod(ctx, id)
	return app.PaymentMethod(pm), err
}

func (p Port) SetDefaultPaymentMethod(ctx context.Context, customerID, paymentMethodID string) error {
	return p.C.SetDefaultPaymentMethod(ctx, customerID, paymentMethodID)
}

func (p Port) DetachPaymentMethod(ctx context.Context, paymentMethodID string) error {
	return p.C.DetachPaymentMethod(ctx, paymentMethodID)
}

func (p Port) CreatePaymentIntent(ctx context.Context, in app.PaymentIntentRequest) (app.PaymentIntent, error) {
	pi, err := p.C.CreatePaymentIntent(ctx, PaymentIntentInput(in))
	return toAppPI(pi), err
}

func (p Port) GetPaymentIntent(ctx context.Context, id string) (app.PaymentIntent, error) {
	pi, err := p.C.GetPaymentIntent(ctx, id)
	return toAppPI(pi), err
}

func (p Port) FindPaymentIntent(ctx context.Context, customerID, purchaseID string, since time.Time) (app.PaymentIntent, bool, error) {
	pi, ok, err := p.C.FindPaymentIntent(ctx, customerID, purchaseID, since)
	return toAppPI(pi), ok, err
}

func (p Port) ListRefunds(ctx context.Context, chargeID string) ([]app.Refund, error) {
	rs, err := p.C.ListRefunds(ctx, chargeID)
	out := make([]app.Refund, len(rs))
	for i, r := range rs {
		out[i] = app.Refund(r)
	}
	return out, err
}

func toAppPI(pi PaymentIntent) app.PaymentIntent {
	out := app.PaymentIntent{
		ID: pi.ID, Status: pi.Status, ClientSecret: pi.ClientSecret, CustomerID: pi.CustomerID,
		PaymentMethodID: pi.PaymentMethodID, LatestChargeID: pi.LatestChargeID, Amount: pi.Amount, Metadata: pi.Metadata,
	}
	if pi.LastError != nil {
		e := app.PaymentError(*pi.LastError)
		out.LastError = &e
	}
	return out
}

// ParseWebhook verifies a webhook delivery and parses the object of the
// event types the use cases handle. Other types come back with only ID and
// Type set, to be acknowledged and ignored.
func ParseWebhook(payload []byte, sigHeader string, secrets []string, now time.Time) (app.WebhookEvent, Event, error) {
	ev, err := VerifyEvent(payload, sigHeader, secrets, now, DefaultTolerance)
	if err != nil {
		return app.WebhookEvent{}, Event{}, err
	}
	out := app.WebhookEvent{ID: ev.ID, Type: ev.Type}
	switch ev.Type {
	case app.EvPaymentSucceeded, app.EvPaymentFailed, app.EvPaymentRequiresAction, app.EvPaymentCanceled:
		pi, err := ParsePaymentIntent(ev.Object)
		if err != nil {
			return out, ev, err
		}
		api := toAppPI(pi)
		out.PaymentIntent = &api
	case app.EvChargeRefunded:
		ch, err := ParseCharge(ev.Object)
		if err != nil {
			return out, ev, err
		}
		c := app.Charge{ID: ch.ID, PaymentIntentID: ch.PaymentIntentID, Amount: ch.Amount, AmountRefunded: ch.AmountRefunded,
			Currency: ch.Currency, Refunded: ch.Refunded, RefundsIncluded: ch.RefundsIncluded}
		for _, r := range ch.Refunds {
			c.Refunds = append(c.Refunds, app.Refund(r))
		}
		out.Charge = &c
	case app.EvDisputeCreated, app.EvDisputeClosed:
		d, err := ParseDispute(ev.Object)
		if err != nil {
			return out, ev, err
		}
		ad := app.Dispute(d)
		out.Dispute = &ad
	case app.EvSetupSucceeded, app.EvSetupFailed:
		si, err := ParseSetupIntent(ev.Object)
		if err != nil {
			return out, ev, err
		}
		asi := app.SetupIntent(si)
		out.SetupIntent = &asi
	case app.EvPaymentMethodDetached, app.EvPaymentMethodUpdated:
		pm, err := ParsePaymentMethod(ev.Object)
		if err != nil {
			return out, ev, err
		}
		apm := app.PaymentMethod(pm)
		out.PaymentMethod = &apm
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
