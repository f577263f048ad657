package stripeapi

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Realistic data.object bodies of API version 2023-10-16 events, trimmed of
// fields nothing reads only where they are long.

const piSucceeded = `{
  "id": "pi_3OqWxYB7WZ01zgkW1def5678",
  "object": "payment_intent",
  "amount": 45000,
  "amount_capturable": 0,
  "amount_details": {"tip": {}},
  "amount_received": 45000,
  "application": null,
  "application_fee_amount": null,
  "automatic_payment_methods": null,
  "canceled_at": null,
  "cancellation_reason": null,
  "capture_method": "automatic",
  "client_secret": "pi_3OqWxYB7WZ01zgkW1def5678_secret_abcdef",
  "confirmation_method": "automatic",
  "created": 1709640000,
  "currency": "usd",
  "customer": "cus_PfQ2x3y4z5",
  "description": null,
  "invoice": null,
  "last_payment_error": null,
  "latest_charge": "ch_3OqWxYB7WZ01zgkW1xyz9876",
  "livemode": false,
  "metadata": {"kind": "manual", "partner_id": "partner-1", "purchase_id": "pur_01HQ"},
  "next_action": null,
  "on_behalf_of": null,
  "payment_method": "pm_1OqWxYB7WZ01zgkWcard0001",
  "payment_method_configuration_details": null,
  "payment_method_options": {"card": {"installments": null, "mandate_options": null, "network": null, "request_three_d_secure": "automatic"}},
  "payment_method_types": ["card"],
  "processing": null,
  "receipt_email": "ada@example.com",
  "review": null,
  "setup_future_usage": null,
  "shipping": null,
  "source": null,
  "statement_descriptor": null,
  "statement_descriptor_suffix": null,
  "status": "succeeded",
  "transfer_data": null,
  "transfer_group": null
}`

const piPaymentFailed = `{
  "id": "pi_3OqX00B7WZ01zgkW0fail001",
  "object": "payment_intent",
  "amount": 12000,
  "amount_received": 0,
  "capture_method": "automatic",
  "client_secret": "pi_3OqX00B7WZ01zgkW0fail001_secret_xyz",
  "created": 1709640100,
  "currency": "eur",
  "customer": {"id": "cus_PfQ2x3y4z5", "object": "customer", "email": "ada@example.com", "address": {"line1": "1 Main St"}},
  "last_payment_error": {
    "charge": "ch_3OqX00B7WZ01zgkW0chg0001",
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "doc_url": "https://stripe.com/docs/error-codes/card-declined",
    "message": "Your card has insufficient funds.",
    "payment_method": {
      "id": "pm_1OqWxYB7WZ01zgkWcard0001",
      "object": "payment_method",
      "billing_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "62701", "state": null}, "email": null, "name": null, "phone": null},
      "card": {"brand": "visa", "checks": {"address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": null}, "country": "US", "exp_month": 12, "exp_year": 2030, "fingerprint": "Xt5EWLLDS7FJjR1c", "funding": "credit", "last4": "9995", "wallet": null},
      "created": 1709639000,
      "customer": "cus_PfQ2x3y4z5",
      "livemode": false,
      "metadata": {},
      "type": "card"
    },
    "type": "card_error"
  },
  "latest_charge": {"id": "ch_3OqX00B7WZ01zgkW0chg0001", "object": "charge", "status": "failed"},
  "livemode": false,
  "metadata": {"kind": "auto_refill", "partner_id": "partner-1", "purchase_id": "pur_02"},
  "next_action": null,
  "payment_method": null,
  "payment_method_types": ["card"],
  "status": "requires_payment_method"
}`

const chargeRefunded = `{
  "id": "ch_3OqWxYB7WZ01zgkW1xyz9876",
  "object": "charge",
  "amount": 45000,
  "amount_captured": 45000,
  "amount_refunded": 15000,
  "balance_transaction": "txn_3OqWxYB7WZ01zgkW1bal0001",
  "billing_details": {"address": {"city": "Springfield", "country": "US", "line1": "1 Main St", "line2": null, "postal_code": "62701", "state": "IL"}, "email": null, "name": "Ada Lovelace", "phone": null},
  "captured": true,
  "created": 1709640001,
  "currency": "usd",
  "customer": "cus_PfQ2x3y4z5",
  "disputed": false,
  "livemode": false,
  "metadata": {},
  "outcome": {"network_status": "approved_by_network", "reason": null, "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
  "paid": true,
  "payment_intent": "pi_3OqWxYB7WZ01zgkW1def5678",
  "payment_method": "pm_1OqWxYB7WZ01zgkWcard0001",
  "payment_method_details": {"card": {"brand": "visa", "exp_month": 12, "exp_year": 2030, "last4": "4242"}, "type": "card"},
  "receipt_email": "ada@example.com",
  "refunded": false,
  "status": "succeeded"
}`

const disputeCreated = `{
  "id": "dp_1OqX9zB7WZ01zgkWdisp0001",
  "object": "dispute",
  "amount": 45000,
  "balance_transactions": [],
  "charge": "ch_3OqWxYB7WZ01zgkW1xyz9876",
  "created": 1709641000,
  "currency": "usd",
  "evidence": {"access_activity_log": null, "billing_address": null, "customer_email_address": null},
  "evidence_details": {"due_by": 1710460799, "has_evidence": false, "past_due": false, "submission_count": 0},
  "is_charge_refundable": false,
  "livemode": false,
  "metadata": {},
  "payment_intent": "pi_3OqWxYB7WZ01zgkW1def5678",
  "payment_method_details": {"card": {"brand": "visa", "network_reason_code": "10.4"}, "type": "card"},
  "reason": "fraudulent",
  "status": "needs_response"
}`

const setupIntentSucceeded = `{
  "id": "seti_1OqWaaB7WZ01zgkWsetup001",
  "object": "setup_intent",
  "application": null,
  "automatic_payment_methods": null,
  "cancellation_reason": null,
  "client_secret": "seti_1OqWaaB7WZ01zgkWsetup001_secret_Pq1",
  "created": 1709638000,
  "customer": "cus_PfQ2x3y4z5",
  "description": null,
  "flow_directions": null,
  "last_setup_error": null,
  "latest_attempt": "setatt_1OqWabB7WZ01zgkWatt0001",
  "livemode": false,
  "mandate": null,
  "metadata": {"partner_id": "partner-1"},
  "next_action": null,
  "on_behalf_of": null,
  "payment_method": "pm_1OqWxYB7WZ01zgkWcard0001",
  "payment_method_configuration_details": null,
  "payment_method_options": {"card": {"mandate_options": null, "network": null, "request_three_d_secure": "automatic"}},
  "payment_method_types": ["card"],
  "single_use_mandate": null,
  "status": "succeeded",
  "usage": "off_session"
}`

const paymentMethodAttached = `{
  "id": "pm_1OqWxYB7WZ01zgkWcard0001",
  "object": "payment_method",
  "billing_details": {"address": {"city": null, "country": "US", "line1": null, "line2": null, "postal_code": "62701", "state": null}, "email": null, "name": null, "phone": null},
  "card": {
    "brand": "mastercard",
    "checks": {"address_line1_check": null, "address_postal_code_check": "pass", "cvc_check": "pass"},
    "country": "US",
    "display_brand": "mastercard",
    "exp_month": 4,
    "exp_year": 2031,
    "fingerprint": "Xt5EWLLDS7FJjR1c",
    "funding": "credit",
    "generated_from": null,
    "last4": "4444",
    "networks": {"available": ["mastercard"], "preferred": null},
    "three_d_secure_usage": {"supported": true},
    "wallet": null
  },
  "created": 1709638100,
  "customer": "cus_PfQ2x3y4z5",
  "livemode": false,
  "metadata": {},
  "type": "card"
}`

func TestParsePaymentIntent(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want app.PaymentIntent
	}{
		{"succeeded", piSucceeded, app.PaymentIntent{
			ID: "pi_3OqWxYB7WZ01zgkW1def5678", Status: "succeeded",
			ClientSecret: "pi_3OqWxYB7WZ01zgkW1def5678_secret_abcdef",
			CustomerID:   "cus_PfQ2x3y4z5", PaymentMethodID: "pm_1OqWxYB7WZ01zgkWcard0001",
			LatestChargeID: "ch_3OqWxYB7WZ01zgkW1xyz9876",
			Amount:         dsu.Money{Amount: 45000, Currency: dsu.USD},
			Metadata:       map[string]string{"kind": "manual", "partner_id": "partner-1", "purchase_id": "pur_01HQ"},
		}},
		{"payment failed, expanded customer and charge", piPaymentFailed, app.PaymentIntent{
			ID: "pi_3OqX00B7WZ01zgkW0fail001", Status: "requires_payment_method",
			ClientSecret: "pi_3OqX00B7WZ01zgkW0fail001_secret_xyz",
			CustomerID:   "cus_PfQ2x3y4z5", LatestChargeID: "ch_3OqX00B7WZ01zgkW0chg0001",
			Amount:    dsu.Money{Amount: 12000, Currency: dsu.EUR},
			Metadata:  map[string]string{"kind": "auto_refill", "partner_id": "partner-1", "purchase_id": "pur_02"},
			LastError: &app.PaymentError{Code: "card_declined", DeclineCode: "insufficient_funds", Message: "Your card has insufficient funds."},
		}},
		{"expanded payment method, upper-case currency, no client secret, no metadata", `{
			"id": "pi_x", "object": "payment_intent", "amount": 100, "currency": "EUR", "status": "processing",
			"customer": null, "payment_method": {"id": "pm_x", "object": "payment_method", "card": {"last4": "4242"}},
			"latest_charge": null, "some_future_field": {"nested": [1, 2, 3]}}`, app.PaymentIntent{
			ID: "pi_x", Status: "processing", PaymentMethodID: "pm_x",
			Amount: dsu.Money{Amount: 100, Currency: dsu.EUR},
		}},
		{"last_payment_error without codes", `{"id": "pi_y", "amount": 1, "currency": "usd", "status": "requires_payment_method", "last_payment_error": {"type": "api_error"}}`, app.PaymentIntent{
			ID: "pi_y", Status: "requires_payment_method", Amount: dsu.Money{Amount: 1, Currency: dsu.USD},
		}},
		{"canceled as abandoned", `{"id": "pi_c", "object": "payment_intent", "amount": 5000, "currency": "usd", "status": "canceled",
			"cancellation_reason": "abandoned"}`, app.PaymentIntent{
			ID: "pi_c", Status: "canceled", Amount: dsu.Money{Amount: 5000, Currency: dsu.USD}, CancellationReason: "abandoned",
		}},
		{"authentication required", `{"id": "pi_z", "object": "payment_intent", "amount": 5000, "currency": "usd", "status": "requires_payment_method",
			"last_payment_error": {"type": "card_error", "code": "authentication_required", "decline_code": "authentication_required", "message": "Your card was declined. This transaction requires authentication."}}`, app.PaymentIntent{
			ID: "pi_z", Status: "requires_payment_method", Amount: dsu.Money{Amount: 5000, Currency: dsu.USD},
			LastError: &app.PaymentError{Code: "authentication_required", DeclineCode: "authentication_required", Message: "Your card was declined. This transaction requires authentication."},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePaymentIntent(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseCharge(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want app.Charge
	}{
		{"partially refunded", chargeRefunded, app.Charge{
			ID: "ch_3OqWxYB7WZ01zgkW1xyz9876", PaymentIntentID: "pi_3OqWxYB7WZ01zgkW1def5678",
			Amount: 45000, AmountRefunded: 15000, Currency: dsu.USD,
		}},
		{"fully refunded, expanded payment intent", strings.NewReplacer(
			`"amount_refunded": 15000`, `"amount_refunded": 45000`,
			`"refunded": false`, `"refunded": true`,
			`"payment_intent": "pi_3OqWxYB7WZ01zgkW1def5678"`, `"payment_intent": {"id": "pi_3OqWxYB7WZ01zgkW1def5678", "object": "payment_intent", "status": "succeeded"}`,
		).Replace(chargeRefunded), app.Charge{
			ID: "ch_3OqWxYB7WZ01zgkW1xyz9876", PaymentIntentID: "pi_3OqWxYB7WZ01zgkW1def5678",
			Amount: 45000, AmountRefunded: 45000, Currency: dsu.USD, Refunded: true,
		}},
		{"no payment intent", `{"id": "ch_old", "object": "charge", "amount": 500, "amount_refunded": 0, "currency": "usd", "payment_intent": null}`, app.Charge{
			ID: "ch_old", Amount: 500, Currency: dsu.USD,
		}},
		{"refunds included (API before 2022-11-15)", `{"id": "ch_1", "object": "charge", "amount": 500, "amount_refunded": 300, "currency": "usd", "payment_intent": "pi_1",
			"refunds": {"object": "list", "data": [{"id": "re_2", "object": "refund", "amount": 200, "status": "succeeded"}, {"id": "re_1", "object": "refund", "amount": 100, "status": "succeeded"}], "has_more": false}}`, app.Charge{
			ID: "ch_1", PaymentIntentID: "pi_1", Amount: 500, AmountRefunded: 300, Currency: dsu.USD, RefundsIncluded: true,
			Refunds: []app.Refund{{ID: "re_2", Status: "succeeded", Amount: 200}, {ID: "re_1", Status: "succeeded", Amount: 100}},
		}},
		{"refunds truncated: listed instead", `{"id": "ch_1", "object": "charge", "amount": 500, "amount_refunded": 300, "currency": "usd", "payment_intent": "pi_1",
			"refunds": {"object": "list", "data": [{"id": "re_2", "object": "refund", "amount": 200, "status": "succeeded"}], "has_more": true}}`, app.Charge{
			ID: "ch_1", PaymentIntentID: "pi_1", Amount: 500, AmountRefunded: 300, Currency: dsu.USD,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCharge(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseDispute(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want app.Dispute
	}{
		{"created", disputeCreated, app.Dispute{
			ID: "dp_1OqX9zB7WZ01zgkWdisp0001", ChargeID: "ch_3OqWxYB7WZ01zgkW1xyz9876",
			PaymentIntentID: "pi_3OqWxYB7WZ01zgkW1def5678", Status: "needs_response", Reason: "fraudulent",
			Amount: 45000, Currency: dsu.USD,
		}},
		{"closed lost, expanded charge", strings.NewReplacer(
			`"status": "needs_response"`, `"status": "lost"`,
			`"charge": "ch_3OqWxYB7WZ01zgkW1xyz9876"`, `"charge": {"id": "ch_3OqWxYB7WZ01zgkW1xyz9876", "object": "charge", "amount": 45000}`,
		).Replace(disputeCreated), app.Dispute{
			ID: "dp_1OqX9zB7WZ01zgkWdisp0001", ChargeID: "ch_3OqWxYB7WZ01zgkW1xyz9876",
			PaymentIntentID: "pi_3OqWxYB7WZ01zgkW1def5678", Status: "lost", Reason: "fraudulent",
			Amount: 45000, Currency: dsu.USD,
		}},
		{"old dispute without payment_intent", `{"id": "dp_old", "object": "dispute", "amount": 700, "currency": "EUR", "charge": "ch_old", "reason": "general", "status": "won"}`, app.Dispute{
			ID: "dp_old", ChargeID: "ch_old", Status: "won", Reason: "general", Amount: 700, Currency: dsu.EUR,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseDispute(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseSetupIntent(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want app.SetupIntent
	}{
		{"succeeded", setupIntentSucceeded, app.SetupIntent{
			ID: "seti_1OqWaaB7WZ01zgkWsetup001", ClientSecret: "seti_1OqWaaB7WZ01zgkWsetup001_secret_Pq1",
			CustomerID: "cus_PfQ2x3y4z5", Status: "succeeded", PaymentMethodID: "pm_1OqWxYB7WZ01zgkWcard0001",
			Metadata: map[string]string{"partner_id": "partner-1"}, Created: time.Unix(1709638000, 0).UTC(),
		}},
		{"expanded customer and payment method", strings.NewReplacer(
			`"customer": "cus_PfQ2x3y4z5"`, `"customer": {"id": "cus_PfQ2x3y4z5", "object": "customer"}`,
			`"payment_method": "pm_1OqWxYB7WZ01zgkWcard0001"`, `"payment_method": {"id": "pm_1OqWxYB7WZ01zgkWcard0001", "object": "payment_method", "card": {"last4": "4242"}}`,
		).Replace(setupIntentSucceeded), app.SetupIntent{
			ID: "seti_1OqWaaB7WZ01zgkWsetup001", ClientSecret: "seti_1OqWaaB7WZ01zgkWsetup001_secret_Pq1",
			CustomerID: "cus_PfQ2x3y4z5", Status: "succeeded", PaymentMethodID: "pm_1OqWxYB7WZ01zgkWcard0001",
			Metadata: map[string]string{"partner_id": "partner-1"}, Created: time.Unix(1709638000, 0).UTC(),
		}},
		{"setup failed", `{"id": "seti_f", "object": "setup_intent", "customer": "cus_1", "status": "requires_payment_method",
			"payment_method": null, "last_setup_error": {"code": "card_declined"}, "metadata": {}}`, app.SetupIntent{
			ID: "seti_f", CustomerID: "cus_1", Status: "requires_payment_method", Metadata: map[string]string{},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSetupIntent(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsePaymentMethod(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want app.PaymentMethod
	}{
		{"attached card", paymentMethodAttached, app.PaymentMethod{
			ID: "pm_1OqWxYB7WZ01zgkWcard0001", CustomerID: "cus_PfQ2x3y4z5",
			Brand: "mastercard", Last4: "4444", ExpMonth: 4, ExpYear: 2031,
		}},
		{"detached", strings.Replace(paymentMethodAttached, `"customer": "cus_PfQ2x3y4z5"`, `"customer": null`, 1), app.PaymentMethod{
			ID: "pm_1OqWxYB7WZ01zgkWcard0001", Brand: "mastercard", Last4: "4444", ExpMonth: 4, ExpYear: 2031,
		}},
		{"expanded customer", strings.Replace(paymentMethodAttached, `"customer": "cus_PfQ2x3y4z5"`, `"customer": {"id": "cus_PfQ2x3y4z5", "object": "customer", "email": "ada@example.com"}`, 1), app.PaymentMethod{
			ID: "pm_1OqWxYB7WZ01zgkWcard0001", CustomerID: "cus_PfQ2x3y4z5",
			Brand: "mastercard", Last4: "4444", ExpMonth: 4, ExpYear: 2031,
		}},
		{"automatically updated card", strings.NewReplacer(`"exp_month": 4`, `"exp_month": 9`, `"exp_year": 2031`, `"exp_year": 2034`).Replace(paymentMethodAttached), app.PaymentMethod{
			ID: "pm_1OqWxYB7WZ01zgkWcard0001", CustomerID: "cus_PfQ2x3y4z5",
			Brand: "mastercard", Last4: "4444", ExpMonth: 9, ExpYear: 2034,
		}},
		{"not a card", `{"id": "pm_sepa", "object": "payment_method", "type": "sepa_debit", "sepa_debit": {"last4": "3000"}, "customer": "cus_1"}`, app.PaymentMethod{
			ID: "pm_sepa", CustomerID: "cus_1",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePaymentMethod(json.RawMessage(tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParsersReject(t *testing.T) {
	parsers := map[string]func(json.RawMessage) error{
		"payment_intent": func(r json.RawMessage) error { _, err := ParsePaymentIntent(r); return err },
		"charge":         func(r json.RawMessage) error { _, err := ParseCharge(r); return err },
		"dispute":        func(r json.RawMessage) error { _, err := ParseDispute(r); return err },
		"setup_intent":   func(r json.RawMessage) error { _, err := ParseSetupIntent(r); return err },
		"payment_method": func(r json.RawMessage) error { _, err := ParsePaymentMethod(r); return err },
	}
	bad := map[string]string{
		"empty":        ``,
		"null":         `null`,
		"array":        `[{"id": "x"}]`,
		"string":       `"pi_1"`,
		"broken":       `{"id": "x",`,
		"no id":        `{"object": "%s", "amount": 1}`,
		"wrong object": `{"id": "x", "object": "invoice"}`,
		"id of a type": `{"id": 42, "object": "%s"}`,
	}
	for name, parse := range parsers {
		for what, raw := range bad {
			t.Run(name+"/"+what, func(t *testing.T) {
				err := parse(json.RawMessage(strings.ReplaceAll(raw, "%s", name)))
				dsuError(t, err, dsu.KindInvalid)
				if !errors.Is(err, ErrMalformedEvent) {
					t.Errorf("err = %v, want ErrMalformedEvent", err)
				}
			})
		}
	}
	// Wrong shapes of the fields read.
	for _, raw := range []string{
		`{"id": "pi_1", "amount": "5000"}`,
		`{"id": "pi_1", "customer": 42}`,
		`{"id": "pi_1", "metadata": {"n": 1}}`,
	} {
		if _, err := ParsePaymentIntent(json.RawMessage(raw)); !dsu.IsKind(err, dsu.KindInvalid) {
			t.Errorf("%s: err = %v, want KindInvalid", raw, err)
		}
	}
}

// Parsers run on verified events only, but must still never panic.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{piSucceeded, piPaymentFailed, chargeRefunded, disputeCreated, setupIntentSucceeded, paymentMethodAttached, `{}`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, err := range []error{
			second(ParsePaymentIntent(raw)), second(ParseCharge(raw)), second(ParseDispute(raw)),
			second(ParseSetupIntent(raw)), second(ParsePaymentMethod(raw)),
		} {
			if err != nil && !dsu.IsKind(err, dsu.KindInvalid) {
				t.Fatalf("err = %v, want KindInvalid", err)
			}
		}
	})
}

func second[T any](_ T, err error) error { return err }
