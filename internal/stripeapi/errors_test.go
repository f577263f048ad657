package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"

	"github.com/stripe/stripe-go/v76"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// The one translation table, on the errors stripe-go produces.
func TestTranslateError(t *testing.T) {
	secretPI := &stripe.PaymentIntent{ID: "pi_1", ClientSecret: "pi_1_secret_shh"}
	tests := []struct {
		name    string
		err     error
		kind    dsu.Kind
		decline string
		msg     string // substring of the caller-safe message
	}{
		{"card declined with decline code", &stripe.Error{Type: stripe.ErrorTypeCard, HTTPStatusCode: 402, Code: "card_declined", DeclineCode: "insufficient_funds", Msg: "Your card has insufficient funds.", PaymentIntent: secretPI},
			dsu.KindCardDeclined, "insufficient_funds", "Your card has insufficient funds."},
		{"card error without decline code", &stripe.Error{Type: stripe.ErrorTypeCard, HTTPStatusCode: 402, Code: "expired_card", Msg: "Your card has expired."},
			dsu.KindCardDeclined, "expired_card", "Your card has expired."},
		{"card error without message", &stripe.Error{Type: stripe.ErrorTypeCard, HTTPStatusCode: 402, Code: "card_declined", DeclineCode: "generic_decline"},
			dsu.KindCardDeclined, "generic_decline", msgDeclined},
		{"authentication required code", &stripe.Error{Type: stripe.ErrorTypeCard, HTTPStatusCode: 402, Code: "authentication_required", Msg: "This payment requires authentication."},
			dsu.KindAuthenticationRequired, "authentication_required", "authenticate"},
		{"authentication required decline code", &stripe.Error{Type: stripe.ErrorTypeCard, HTTPStatusCode: 402, Code: "card_declined", DeclineCode: "authentication_required"},
			dsu.KindAuthenticationRequired, "authentication_required", "authenticate"},
		{"429", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 429, Code: "rate_limit"}, dsu.KindUpstreamUnavailable, "", "try again"},
		{"rate_limit code", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, Code: "rate_limit"}, dsu.KindUpstreamUnavailable, "", ""},
		{"lock timeout", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 429, Code: "lock_timeout"}, dsu.KindUpstreamUnavailable, "", ""},
		{"500 api_error", &stripe.Error{Type: stripe.ErrorTypeAPI, HTTPStatusCode: 500}, dsu.KindUpstreamUnavailable, "", ""},
		{"503", &stripe.Error{HTTPStatusCode: 503}, dsu.KindUpstreamUnavailable, "", ""},
		{"409 idempotency key in use", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 409, Code: "idempotency_key_in_use"}, dsu.KindUpstreamUnavailable, "", ""},
		{"resource missing", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 404, Code: "resource_missing", Param: "id"}, dsu.KindNotFound, "", "not found"},
		{"404 without code", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 404}, dsu.KindNotFound, "", ""},
		{"bad key", &stripe.Error{Type: "authentication_error", HTTPStatusCode: 401, Msg: "Invalid API Key provided: sk_test_****1234"}, dsu.KindInternal, "", ""},
		{"permission", &stripe.Error{Type: "invalid_request_error", HTTPStatusCode: 403}, dsu.KindInternal, "", ""},
		{"idempotency error", &stripe.Error{Type: stripe.ErrorTypeIdempotency, HTTPStatusCode: 400, Msg: "Keys for idempotent requests can only be used with the same parameters"}, dsu.KindInternal, "", ""},
		{"invalid request", &stripe.Error{Type: stripe.ErrorTypeInvalidRequest, HTTPStatusCode: 400, Code: "parameter_unknown", Param: "foo"}, dsu.KindInternal, "", ""},
		{"deadline", &url.Error{Op: "Post", URL: "https://api.stripe.com/v1/payment_intents", Err: context.DeadlineExceeded}, dsu.KindUpstreamUnavailable, "", ""},
		{"canceled", context.Canceled, dsu.KindUpstreamUnavailable, "", ""},
		{"connection refused", &url.Error{Op: "Post", URL: "https://api.stripe.com/v1/customers", Err: &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}}, dsu.KindUpstreamUnavailable, "", ""},
		{"bare net error", &net.DNSError{Err: "no such host", Name: "api.stripe.com", IsTimeout: true}, dsu.KindUpstreamUnavailable, "", ""},
		{"bad base URL", &url.Error{Op: "parse", URL: "::", Err: errors.New("missing protocol scheme")}, dsu.KindInternal, "", ""},
		{"undecodable 502", errors.New("Couldn't deserialize JSON (response status: 502, body sample: '<html>Bad gateway</html>'): invalid character '<'"), dsu.KindUpstreamUnavailable, "", ""},
		{"undecodable 200", errors.New("Couldn't deserialize JSON (response status: 200, body sample: '{\"address\":{\"line1\":\"1 Main St\"'): unexpected end"), dsu.KindInternal, "", ""},
		{"error body without error object", errors.New(`{"weird":"1 Main St"}`), dsu.KindInternal, "", ""},
		{"already translated", dsu.Errorf(dsu.KindConflict, "x"), dsu.KindConflict, "", "x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := translateError(tt.err, "test op")
			de := dsuError(t, err, tt.kind)
			if de.DeclineCode != tt.decline {
				t.Errorf("DeclineCode = %q, want %q", de.DeclineCode, tt.decline)
			}
			if !strings.Contains(de.Message, tt.msg) {
				t.Errorf("Message = %q, want it to contain %q", de.Message, tt.msg)
			}
			if tt.kind != dsu.KindConflict && de.Err == nil {
				t.Error("cause dropped")
			}
			// Nothing a log must not show.
			for _, leak := range []string{"secret_shh", "1 Main St", "Bad gateway"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("error text leaks %q: %s", leak, err)
				}
			}
			if se, ok := tt.err.(*stripe.Error); ok {
				var ae *APIError
				if !errors.As(err, &ae) {
					t.Fatalf("cause %T, want *APIError", de.Err)
				}
				if ae.Op != "test op" || ae.HTTPStatus != se.HTTPStatusCode || ae.Code != string(se.Code) || ae.Type != string(se.Type) {
					t.Errorf("APIError = %+v", ae)
				}
			}
		})
	}
	if translateError(nil, "x") != nil {
		t.Error("nil error translated to non-nil")
	}
}

// stripeErrorServer answers every request with status and body (a Stripe
// error envelope) and counts requests.
func stripeErrorServer(t *testing.T, status int, body string) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Request-Id", "req_test123")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

const declinedPI = `{
  "id": "pi_3Declined", "object": "payment_intent", "amount": 5000, "currency": "usd",
  "status": "requires_payment_method", "customer": "cus_123", "payment_method": null,
  "client_secret": "pi_3Declined_secret_TOPSECRET", "latest_charge": "ch_3Declined",
  "metadata": {"partner_id": "partner-1", "purchase_id": "pur_01", "kind": "auto_refill"},
  "last_payment_error": {
    "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
    "message": "Your card has insufficient funds.",
    "payment_method": {"id": "pm_123", "object": "payment_method", "billing_details": {"address": {"line1": "1 Main St"}}}
  }
}`

var refill = app.PaymentIntentRequest{
	PurchaseID: "pur_01", PartnerID: "partner-1", Kind: dsu.KindAutoRefill,
	Amount: dsu.Money{Amount: 5000, Currency: dsu.USD}, CustomerID: "cus_123",
	PaymentMethodID: "pm_123", Confirm: true, OffSession: true,
}

// A declined confirmation returns the PaymentIntent Stripe embeds in the
// error together with the error.
func TestCreatePaymentIntentCardDeclined(t *testing.T) {
	srv, n := stripeErrorServer(t, http.StatusPaymentRequired, `{"error": {
		"type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
		"message": "Your card has insufficient funds.", "charge": "ch_3Declined",
		"payment_method": {"id": "pm_123", "object": "payment_method", "billing_details": {"address": {"line1": "1 Main St"}}},
		"payment_intent": `+declinedPI+`}}`)
	c, _ := newTestClient(srv.URL)
	pi, err := c.CreatePaymentIntent(context.Background(), refill)
	de := dsuError(t, err, dsu.KindCardDeclined)
	if de.DeclineCode != "insufficient_funds" || de.Message != "Your card has insufficient funds." {
		t.Errorf("error = %+v", de)
	}
	if !RetryableDecline(de.DeclineCode) || PermanentDecline(de.DeclineCode) {
		t.Errorf("insufficient_funds must be retryable")
	}
	if pi.ID != "pi_3Declined" || pi.Status != "requires_payment_method" || pi.LatestChargeID != "ch_3Declined" {
		t.Errorf("payment intent = %+v", pi)
	}
	if pi.LastError == nil || pi.LastError.Code != "card_declined" || pi.LastError.DeclineCode != "insufficient_funds" {
		t.Errorf("LastError = %+v", pi.LastError)
	}
	if pi.Metadata["purchase_id"] != "pur_01" || pi.Amount != (dsu.Money{Amount: 5000, Currency: dsu.USD}) {
		t.Errorf("payment intent = %+v", pi)
	}
	var ae *APIError
	if !errors.As(err, &ae) || ae.RequestID != "req_test123" || ae.HTTPStatus != 402 {
		t.Errorf("cause = %#v", de.Err)
	}
	for _, leak := range []string{"TOPSECRET", "1 Main St", testKey} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("error text leaks %q: %s", leak, err)
		}
	}
	if n.Load() != 1 {
		t.Errorf("%d requests, want 1 (no retries)", n.Load())
	}
}

func TestCreatePaymentIntentAuthenticationRequired(t *testing.T) {
	pi := strings.Replace(declinedPI, `"decline_code": "insufficient_funds"`, `"decline_code": "authentication_required"`, 1)
	pi = strings.Replace(pi, `"code": "card_declined"`, `"code": "authentication_required"`, 1)
	srv, _ := stripeErrorServer(t, http.StatusPaymentRequired, `{"error": {
		"type": "card_error", "code": "authentication_required", "decline_code": "authentication_required",
		"message": "Your card was declined. This transaction requires authentication.",
		"payment_intent": `+pi+`}}`)
	c, _ := newTestClient(srv.URL)
	got, err := c.CreatePaymentIntent(context.Background(), refill)
	de := dsuError(t, err, dsu.KindAuthenticationRequired)
	if de.DeclineCode != "authentication_required" {
		t.Errorf("DeclineCode = %q", de.DeclineCode)
	}
	if got.ID != "pi_3Declined" || got.LastError == nil || got.LastError.Code != "authentication_required" {
		t.Errorf("payment intent = %+v", got)
	}
}

// An embedded PaymentIntent without last_payment_error gets the error's
// codes.
func TestCreatePaymentIntentFillsLastErrorFromError(t *testing.T) {
	srv, _ := stripeErrorServer(t, http.StatusPaymentRequired, `{"error": {
		"type": "card_error", "code": "expired_card", "message": "Your card has expired.",
		"payment_intent": {"id": "pi_4", "object": "payment_intent", "status": "requires_payment_method", "amount": 5000, "currency": "usd"}}}`)
	c, _ := newTestClient(srv.URL)
	got, err := c.CreatePaymentIntent(context.Background(), refill)
	de := dsuError(t, err, dsu.KindCardDeclined)
	if de.DeclineCode != "expired_card" || !PermanentDecline(de.DeclineCode) {
		t.Errorf("DeclineCode = %q", de.DeclineCode)
	}
	if got.ID != "pi_4" || got.LastError == nil || got.LastError.Code != "expired_card" || got.LastError.Message != "Your card has expired." {
		t.Errorf("payment intent = %+v", got)
	}
}

// The kinds, through the real client against Stripe-shaped answers.
func TestErrorsThroughTheClient(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		kind   dsu.Kind
	}{
		{"rate limit", 429, `{"error":{"type":"invalid_request_error","code":"rate_limit","message":"Too many requests hit the API too quickly."}}`, dsu.KindUpstreamUnavailable},
		{"server error", 500, `{"error":{"type":"api_error","message":"An unknown error occurred"}}`, dsu.KindUpstreamUnavailable},
		{"gateway html", 502, `<html><body>Bad gateway</body></html>`, dsu.KindUpstreamUnavailable},
		{"missing", 404, `{"error":{"type":"invalid_request_error","code":"resource_missing","param":"intent","message":"No such payment_intent: 'pi_nope'"}}`, dsu.KindNotFound},
		{"bad key", 401, `{"error":{"type":"authentication_error","message":"Invalid API Key provided: sk_test_****Leak"}}`, dsu.KindInternal},
		{"idempotency", 400, `{"error":{"type":"idempotency_error","message":"Keys for idempotent requests can only be used with the same parameters they were first used with."}}`, dsu.KindInternal},
		{"invalid request", 400, `{"error":{"type":"invalid_request_error","code":"parameter_unknown","param":"foo","message":"Received unknown parameter: foo"}}`, dsu.KindInternal},
		{"garbage success", 200, `{"id": "pi_1", "amount": "not a number"`, dsu.KindInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := stripeErrorServer(t, tt.status, tt.body)
			c, _ := newTestClient(srv.URL)
			_, err := c.GetPaymentIntent(context.Background(), "pi_nope")
			dsuError(t, err, tt.kind)
			// Only a key reused with other parameters says so: the use
			// cases then look up what the first request created.
			if got, want := errors.Is(err, app.ErrIdempotencyKeyReused), tt.name == "idempotency"; got != want {
				t.Errorf("errors.Is(err, app.ErrIdempotencyKeyReused) = %v, want %v", got, want)
			}
			if n.Load() != 1 {
				t.Errorf("%d requests, want 1", n.Load())
			}
			if strings.Contains(err.Error(), "Bad gateway") {
				t.Errorf("error text carries the response body: %v", err)
			}
		})
	}
}

func TestNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()

	c, _ := newTestClient(closed)
	_, err = c.CreatePaymentIntent(context.Background(), refill)
	dsuError(t, err, dsu.KindUpstreamUnavailable)
	_, err = c.ListRefunds(context.Background(), "ch_1")
	dsuError(t, err, dsu.KindUpstreamUnavailable)

	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer slow.Close()
	t.Run("client timeout", func(t *testing.T) {
		c := New(Config{SecretKey: testKey, APIBase: slow.URL, HTTPClient: &http.Client{Timeout: 50 * time.Millisecond}})
		_, err := c.GetPaymentIntent(context.Background(), "pi_1")
		dsuError(t, err, dsu.KindUpstreamUnavailable)
	})
	t.Run("context deadline", func(t *testing.T) {
		c, _ := newTestClient(slow.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		_, err := c.GetPaymentIntent(ctx, "pi_1")
		de := dsuError(t, err, dsu.KindUpstreamUnavailable)
		if !errors.Is(de, context.DeadlineExceeded) {
			t.Errorf("cause %v, want context.DeadlineExceeded kept", de.Err)
		}
	})
}

// With retries on, stripe-go retries a 5xx with the same idempotency key,
// which is what makes retries safe.
func TestRetriesKeepTheIdempotencyKey(t *testing.T) {
	var (
		mu   sync.Mutex
		keys []string
		n    atomic.Int32
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		keys = append(keys, r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"error":{"type":"api_error","message":"try again"}}`)
			return
		}
		fmt.Fprint(w, `{"id":"pi_ok","object":"payment_intent","status":"succeeded","amount":5000,"currency":"usd","customer":{"id":"cus_123","object":"customer"}}`)
	}))
	defer srv.Close()
	c := New(Config{SecretKey: testKey, APIBase: srv.URL, MaxNetworkRetries: 1})
	pi, err := c.CreatePaymentIntent(context.Background(), refill)
	if err != nil {
		t.Fatal(err)
	}
	if pi.ID != "pi_ok" || pi.Status != "succeeded" || pi.CustomerID != "cus_123" {
		t.Errorf("payment intent = %+v", pi)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(keys) != 2 || keys[0] != "purchase:pur_01" || keys[1] != "purchase:pur_01" {
		t.Errorf("idempotency keys = %v", keys)
	}
}

func TestDeclineClassification(t *testing.T) {
	retryable := []string{"insufficient_funds", "try_again_later", "processing_error", "issuer_not_available", "generic_decline"}
	permanent := []string{"lost_card", "stolen_card", "expired_card", "fraudulent", "do_not_try_again", "incorrect_number", "pickup_card", "restricted_card"}
	neither := []string{"", "authentication_required", "do_not_honor", "card_not_supported", "INSUFFICIENT_FUNDS"}
	for _, c := range retryable {
		if !RetryableDecline(c) || PermanentDecline(c) {
			t.Errorf("%q: want retryable only", c)
		}
	}
	for _, c := range permanent {
		if RetryableDecline(c) || !PermanentDecline(c) {
			t.Errorf("%q: want permanent only", c)
		}
	}
	for _, c := range neither {
		if RetryableDecline(c) || PermanentDecline(c) {
			t.Errorf("%q: want neither", c)
		}
	}
}
