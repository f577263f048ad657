package stripeapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// Parsers for the data.object of the events the webhook handles. Each reads
// only the fields it needs and ignores everything else, so an event rendered
// in another API version still parses as long as those fields mean the same.
// An expandable reference (customer, payment_method, charge, ...) may be an
// id string, an expanded object with an "id", or null. Errors are
// *dsu.Error of KindInvalid, field "body".

// ref is an expandable reference: an id, an object with an id, or null.
type ref string

func (r *ref) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*r = ""
		return nil
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*r = ref(s)
		return nil
	default:
		var obj struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(b, &obj); err != nil {
			return err
		}
		*r = ref(obj.ID)
		return nil
	}
}

type lastPaymentError struct {
	Code        string `json:"code"`
	DeclineCode string `json:"decline_code"`
	Message     string `json:"message"`
}

type paymentIntentObject struct {
	ID               string            `json:"id"`
	Object           string            `json:"object"`
	Status           string            `json:"status"`
	Amount           int64             `json:"amount"`
	Currency         string            `json:"currency"`
	Customer         ref               `json:"customer"`
	PaymentMethod    ref               `json:"payment_method"`
	LatestCharge     ref               `json:"latest_charge"`
	Metadata         map[string]string `json:"metadata"`
	ClientSecret     string            `json:"client_secret"`
	LastPaymentError *lastPaymentError `json:"last_payment_error"`
	// CancellationReason is null unless the PaymentIntent was canceled.
	CancellationReason *string `json:"cancellation_reason"`
}

// ParsePaymentIntent reads a payment_intent object.
func ParsePaymentIntent(raw json.RawMessage) (app.PaymentIntent, error) {
	var o paymentIntentObject
	if err := decodeObject(raw, "payment_intent", &o.Object, &o.ID, &o); err != nil {
		return app.PaymentIntent{}, err
	}
	pi := app.PaymentIntent{
		ID:              o.ID,
		Status:          o.Status,
		ClientSecret:    o.ClientSecret,
		CustomerID:      string(o.Customer),
		PaymentMethodID: string(o.PaymentMethod),
		LatestChargeID:  string(o.LatestCharge),
		Amount:          dsu.Money{Amount: o.Amount, Currency: currency(o.Currency)},
		Metadata:        o.Metadata,
	}
	if o.CancellationReason != nil {
		pi.CancellationReason = *o.CancellationReason
	}
	if e := o.LastPaymentError; e != nil && (e.Code != "" || e.DeclineCode != "" || e.Message != "") {
		pi.LastError = &app.PaymentError{Code: e.Code, DeclineCode: e.DeclineCode, Message: e.Message}
	}
	return pi, nil
}

type chargeObject struct {
	ID             string `json:"id"`
	Object         string `json:"object"`
	PaymentIntent  ref    `json:"payment_intent"`
	Amount         int64  `json:"amount"`
	AmountRefunded int64  `json:"amount_refunded"`
	Currency       string `json:"currency"`
	Refunded       bool   `json:"refunded"`
	// Refunds is present in API versions before 2022-11-15 (and when
	// expanded); 2023-10-16 leaves it out.
	Refunds *struct {
		Data []struct {
			ID     string `json:"id"`
			Status string `json:"status"`
			Amount int64  `json:"amount"`
		} `json:"data"`
		HasMore bool `json:"has_more"`
	} `json:"refunds"`
}

// ParseCharge reads a charge object.
func ParseCharge(raw json.RawMessage) (app.Charge, error) {
	var o chargeObject
	if err := decodeObject(raw, "charge", &o.Object, &o.ID, &o); err != nil {
		return app.Charge{}, err
	}
	ch := app.Charge{
		ID:              o.ID,
		PaymentIntentID: string(o.PaymentIntent),
		Amount:          o.Amount,
		AmountRefunded:  o.AmountRefunded,
		Currency:        currency(o.Currency),
		Refunded:        o.Refunded,
	}
	if o.Refunds != nil && !o.Refunds.HasMore {
		ch.RefundsIncluded = true
		for _, r := range o.Refunds.Data {
			ch.Refunds = append(ch.Refunds, app.Refund{ID: r.ID, Status: r.Status, Amount: r.Amount})
		}
	}
	return ch, nil
}

type disputeObject struct {
	ID            string `json:"id"`
	Object        string `json:"object"`
	Charge        ref    `json:"charge"`
	PaymentIntent ref    `json:"payment_intent"`
	Status        string `json:"status"`
	Reason        string `json:"reason"`
	Amount        int64  `json:"amount"`
	Currency      string `json:"currency"`
}

// ParseDispute reads a dispute object.
func ParseDispute(raw json.RawMessage) (app.Dispute, error) {
	var o disputeObject
	if err := decodeObject(raw, "dispute", &o.Object, &o.ID, &o); err != nil {
		return app.Dispute{}, err
	}
	return app.Dispute{
		ID:              o.ID,
		ChargeID:        string(o.Charge),
		PaymentIntentID: string(o.PaymentIntent),
		Status:          o.Status,
		Reason:          o.Reason,
		Amount:          o.Amount,
		Currency:        currency(o.Currency),
	}, nil
}

type setupIntentObject struct {
	ID            string            `json:"id"`
	Object        string            `json:"object"`
	ClientSecret  string            `json:"client_secret"`
	Customer      ref               `json:"customer"`
	Status        string            `json:"status"`
	PaymentMethod ref               `json:"payment_method"`
	Metadata      map[string]string `json:"metadata"`
	Created       int64             `json:"created"`
}

// ParseSetupIntent reads a setup_intent object.
func ParseSetupIntent(raw json.RawMessage) (app.SetupIntent, error) {
	var o setupIntentObject
	if err := decodeObject(raw, "setup_intent", &o.Object, &o.ID, &o); err != nil {
		return app.SetupIntent{}, err
	}
	return app.SetupIntent{
		ID:              o.ID,
		ClientSecret:    o.ClientSecret,
		CustomerID:      string(o.Customer),
		Status:          o.Status,
		PaymentMethodID: string(o.PaymentMethod),
		Metadata:        o.Metadata,
		Created:         unixTime(o.Created),
	}, nil
}

// unixTime is a Stripe timestamp (epoch seconds) as a UTC time; zero when
// absent.
func unixTime(sec int64) time.Time {
	if sec <= 0 {
		return time.Time{}
	}
	return time.Unix(sec, 0).UTC()
}

type paymentMethodObject struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Customer ref    `json:"customer"`
	Card     *struct {
		Brand    string `json:"brand"`
		Last4    string `json:"last4"`
		ExpMonth int    `json:"exp_month"`
		ExpYear  int    `json:"exp_year"`
	} `json:"card"`
}

// ParsePaymentMethod reads a payment_method object. CustomerID is "" for a
// detached payment method; the card fields are zero for one that is not a
// card.
func ParsePaymentMethod(raw json.RawMessage) (app.PaymentMethod, error) {
	var o paymentMethodObject
	if err := decodeObject(raw, "payment_method", &o.Object, &o.ID, &o); err != nil {
		return app.PaymentMethod{}, err
	}
	pm := app.PaymentMethod{ID: o.ID, CustomerID: string(o.Customer)}
	if c := o.Card; c != nil {
		pm.Brand, pm.Last4, pm.ExpMonth, pm.ExpYear = c.Brand, c.Last4, c.ExpMonth, c.ExpYear
	}
	return pm, nil
}

// decodeObject unmarshals raw into v and checks that it is an object of the
// wanted type (when it says) with an id.
func decodeObject(raw json.RawMessage, want string, object, id *string, v any) error {
	if !isJSONObject(raw) {
		return objectError("the event object is not a JSON object")
	}
	if err := json.Unmarshal(raw, v); err != nil {
		e := objectError("the event object does not have the expected shape")
		e.Err = fmt.Errorf("%w: %v", ErrMalformedEvent, err)
		return e
	}
	if *object != "" && *object != want {
		return objectError("the event object is a " + truncate(*object, 40) + ", not a " + want)
	}
	if *id == "" {
		return objectError("the event object has no id")
	}
	return nil
}

func objectError(msg string) *dsu.Error {
	e := dsu.InvalidField("body", msg)
	e.Err = ErrMalformedEvent
	return e
}

func currency(s string) dsu.Currency { return dsu.Currency(strings.ToLower(s)) }

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}
