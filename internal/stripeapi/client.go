// Package stripeapi is the Stripe adapter of DSU Billing (docs/RULES.md,
// "Stripe"): customers, SetupIntents, payment methods, PaymentIntents and
// refunds through one stripe-go v76 client (API version 2023-10-16) per
// process, webhook signature verification, and parsers for the event objects
// the webhook handles.
//
// It speaks the payment types the use cases declare (internal/app,
// payments.go), so the client itself is what the use cases call; stripe-go's
// types stay inside. Every error it returns is a *dsu.Error (see
// translateError for the kinds).
//
// No package-level mutable state: the secret key lives in the Client, never in
// stripe.Key, and stripe-go's own logging is switched off so that nothing it
// might print (response bodies with client secrets, addresses) reaches logs.
// Callers log the returned *dsu.Error, whose cause is a redacted *APIError.
package stripeapi

import (
	"context"
	"errors"
	"maps"
	"net/http"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/stripe/stripe-go/v76"
	"github.com/stripe/stripe-go/v76/client"
)

// APIVersion is the Stripe API version this code reads (RULES.md, "One client"): the one
// stripe-go v76 sends (a test keeps them equal) and the webhook endpoint is
// pinned to.
const APIVersion = "2023-10-16"

// Config configures the one Client of a process.
type Config struct {
	// SecretKey is Stripe's secret API key (sk_live_..., sk_test_...).
	SecretKey string
	// APIBase is the API base URL: "" for the real Stripe API
	// (https://api.stripe.com), stripe-mock's URL in tests and locally.
	APIBase string
	// HTTPClient carries the requests; nil for stripe-go's default (80 s
	// timeout). Tests wrap its Transport to record requests.
	HTTPClient *http.Client
	// MaxNetworkRetries is how often stripe-go retries a request that failed
	// for a transient reason (network errors, 409, 429, 5xx), with backoff
	// and the same idempotency key. Used as given: 0 disables retries. The
	// functions use 1 (internal/wiring, NewStripe): two attempts fit the
	// Lambda's timeout with room to answer.
	MaxNetworkRetries int64
}

// Client talks to Stripe. Build one per process with New; it is safe for
// concurrent use.
type Client struct {
	api *client.API
}

// New builds the Client. It does no network I/O.
func New(cfg Config) *Client {
	retries := max(cfg.MaxNetworkRetries, 0)
	backend := func(t stripe.SupportedBackend) stripe.Backend {
		bc := &stripe.BackendConfig{
			HTTPClient:        cfg.HTTPClient,
			MaxNetworkRetries: stripe.Int64(retries),
			// stripe-go logs error bodies (which may hold addresses) and,
			// at debug level, whole responses (client secrets). Our
			// callers log the redacted *dsu.Error instead.
			LeveledLogger:   &stripe.LeveledLogger{Level: stripe.LevelNull},
			EnableTelemetry: stripe.Bool(false),
		}
		if cfg.APIBase != "" {
			bc.URL = stripe.String(cfg.APIBase)
		}
		return stripe.GetBackendWithConfig(t, bc)
	}
	api := &client.API{}
	api.Init(cfg.SecretKey, &stripe.Backends{
		API:     backend(stripe.APIBackend),
		Connect: backend(stripe.ConnectBackend),
		Uploads: backend(stripe.UploadsBackend),
	})
	return &Client{api: api}
}

// ---------------------------------------------------------------------------
// Customers

// CustomerIdempotencyKey is the idempotency key of the customer creation of
// a partner: one customer per partner, even when creation is retried.
func CustomerIdempotencyKey(partnerID string) string { return "customer:" + partnerID }

// CreateCustomer creates the partner's Stripe customer (name, email, phone,
// address, metadata partner_id and vat_id) under the idempotency key
// "customer:<partnerID>", so a retried creation returns the same customer.
func (c *Client) CreateCustomer(ctx context.Context, in app.CustomerDetails) (string, error) {
	if in.PartnerID == "" || !validKey(CustomerIdempotencyKey(in.PartnerID)) {
		return "", dsu.Errorf(dsu.KindInternal, "stripe: create customer needs a partner id of at most %d characters", maxKeyLength-len("customer:"))
	}
	p := &stripe.CustomerParams{
		Params:   stripe.Params{Context: ctx, IdempotencyKey: stripe.String(CustomerIdempotencyKey(in.PartnerID))},
		Name:     nonEmpty(in.Name),
		Email:    nonEmpty(in.Email),
		Phone:    nonEmpty(in.Phone),
		Address:  addressParams(in.Address, false),
		Metadata: map[string]string{"partner_id": in.PartnerID},
	}
	if in.VATID != "" {
		p.Metadata["vat_id"] = in.VATID
	}
	cus, err := c.api.Customers.New(p)
	if err != nil {
		return "", translateError(err, "create customer")
	}
	return cus.ID, nil
}

// UpdateCustomer replaces the customer's name, email, phone, address and
// metadata partner_id and vat_id. Empty fields are cleared at Stripe (an
// empty vat_id removes the metadata key).
func (c *Client) UpdateCustomer(ctx context.Context, customerID string, in app.CustomerDetails) error {
	if customerID == "" {
		return dsu.Errorf(dsu.KindInternal, "stripe: update customer without a customer id")
	}
	p := &stripe.CustomerParams{
		Params:   stripe.Params{Context: ctx},
		Name:     stripe.String(in.Name),
		Email:    stripe.String(in.Email),
		Phone:    stripe.String(in.Phone),
		Address:  addressParams(in.Address, true),
		Metadata: map[string]string{"partner_id": in.PartnerID, "vat_id": in.VATID},
	}
	if _, err := c.api.Customers.Update(customerID, p); err != nil {
		return translateError(err, "update customer")
	}
	return nil
}

// addressParams sends every field on update (an empty one clears it) and
// only the non-empty ones on create.
func addressParams(a dsu.Address, all bool) *stripe.AddressParams {
	f := nonEmpty
	if all {
		f = stripe.String
	}
	return &stripe.AddressParams{
		Line1:      f(a.Line1),
		Line2:      f(a.Line2),
		City:       f(a.City),
		State:      f(a.State),
		PostalCode: f(a.PostalCode),
		Country:    f(a.Country),
	}
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return stripe.String(s)
}

// ---------------------------------------------------------------------------
// SetupIntents

// CreateSetupIntent creates a SetupIntent for saving a card for off-session
// use (usage=off_session, payment_method_types=[card]) on the customer, with
// metadata partner_id, under the caller's idempotency key.
func (c *Client) CreateSetupIntent(ctx context.Context, customerID, partnerID, idempotencyKey string) (app.SetupIntent, error) {
	if customerID == "" || partnerID == "" || !validKey(idempotencyKey) {
		return app.SetupIntent{}, dsu.Errorf(dsu.KindInternal, "stripe: create setup intent needs a customer, a partner and an idempotency key of 1-255 characters")
	}
	p := &stripe.SetupIntentParams{
		Params:             stripe.Params{Context: ctx, IdempotencyKey: stripe.String(idempotencyKey)},
		Customer:           stripe.String(customerID),
		Usage:              stripe.String(string(stripe.SetupIntentUsageOffSession)),
		PaymentMethodTypes: []*string{stripe.String("card")},
		Metadata:           map[string]string{"partner_id": partnerID},
	}
	si, err := c.api.SetupIntents.New(p)
	if err != nil {
		return app.SetupIntent{}, translateError(err, "create setup intent")
	}
	return setupIntentFrom(si), nil
}

// GetSetupIntent reads a SetupIntent.
func (c *Client) GetSetupIntent(ctx context.Context, id string) (app.SetupIntent, error) {
	if id == "" {
		return app.SetupIntent{}, dsu.Errorf(dsu.KindNotFound, "the setup intent was not found")
	}
	si, err := c.api.SetupIntents.Get(id, &stripe.SetupIntentParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return app.SetupIntent{}, translateError(err, "get setup intent")
	}
	return setupIntentFrom(si), nil
}

func setupIntentFrom(si *stripe.SetupIntent) app.SetupIntent {
	out := app.SetupIntent{
		ID:           si.ID,
		ClientSecret: si.ClientSecret,
		Status:       string(si.Status),
		Metadata:     copyMap(si.Metadata),
		Created:      unixTime(si.Created),
	}
	if si.Customer != nil {
		out.CustomerID = si.Customer.ID
	}
	if si.PaymentMethod != nil {
		out.PaymentMethodID = si.PaymentMethod.ID
	}
	return out
}

// ---------------------------------------------------------------------------
// Payment methods

// GetPaymentMethod reads a payment method.
func (c *Client) GetPaymentMethod(ctx context.Context, id string) (app.PaymentMethod, error) {
	if id == "" {
		return app.PaymentMethod{}, dsu.Errorf(dsu.KindNotFound, "the payment method was not found")
	}
	pm, err := c.api.PaymentMethods.Get(id, &stripe.PaymentMethodParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return app.PaymentMethod{}, translateError(err, "get payment method")
	}
	return paymentMethodFrom(pm), nil
}

func paymentMethodFrom(pm *stripe.PaymentMethod) app.PaymentMethod {
	out := app.PaymentMethod{ID: pm.ID}
	if pm.Customer != nil {
		out.CustomerID = pm.Customer.ID
	}
	if pm.Card != nil {
		out.Brand = string(pm.Card.Brand)
		out.Last4 = pm.Card.Last4
		out.ExpMonth = int(pm.Card.ExpMonth)
		out.ExpYear = int(pm.Card.ExpYear)
	}
	return out
}

// SetDefaultPaymentMethod makes the payment method the customer's default
// (invoice_settings.default_payment_method). It must be attached to the
// customer, as a succeeded SetupIntent leaves it.
func (c *Client) SetDefaultPaymentMethod(ctx context.Context, customerID, paymentMethodID string) error {
	if customerID == "" || paymentMethodID == "" {
		return dsu.Errorf(dsu.KindInternal, "stripe: set default payment method needs a customer and a payment method")
	}
	p := &stripe.CustomerParams{
		Params:          stripe.Params{Context: ctx},
		InvoiceSettings: &stripe.CustomerInvoiceSettingsParams{DefaultPaymentMethod: stripe.String(paymentMethodID)},
	}
	if _, err := c.api.Customers.Update(customerID, p); err != nil {
		return translateError(err, "set default payment method")
	}
	return nil
}

// DetachPaymentMethod detaches the payment method from its customer; it can
// never be charged again.
func (c *Client) DetachPaymentMethod(ctx context.Context, paymentMethodID string) error {
	if paymentMethodID == "" {
		return dsu.Errorf(dsu.KindNotFound, "the payment method was not found")
	}
	p := &stripe.PaymentMethodDetachParams{Params: stripe.Params{Context: ctx}}
	if _, err := c.api.PaymentMethods.Detach(paymentMethodID, p); err != nil {
		return translateError(err, "detach payment method")
	}
	return nil
}

// ---------------------------------------------------------------------------
// PaymentIntents

// PurchaseIdempotencyKey is the idempotency key of a purchase's
// PaymentIntent: one PaymentIntent per purchase, even when creation is
// retried.
func PurchaseIdempotencyKey(purchaseID string) string { return "purchase:" + purchaseID }

// CreatePaymentIntent creates (and with Confirm, confirms) the PaymentIntent
// of a purchase under the idempotency key "purchase:<PurchaseID>", card only,
// with metadata partner_id, purchase_id and kind.
//
// When a confirmation fails (a card decline, authentication_required), Stripe
// returns the PaymentIntent inside the error: it is returned together with
// the error, with ID, Status and LastError set, so the caller can record the
// PaymentIntent id and the decline.
func (c *Client) CreatePaymentIntent(ctx context.Context, in app.PaymentIntentRequest) (app.PaymentIntent, error) {
	switch {
	case in.PurchaseID == "" || in.PartnerID == "" || in.Kind == "" || !validKey(PurchaseIdempotencyKey(in.PurchaseID)):
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindInternal, "stripe: create payment intent needs a purchase id (at most %d characters), a partner and a kind", maxKeyLength-len("purchase:"))
	case in.Amount.Amount <= 0 || in.Amount.Currency == "":
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindInternal, "stripe: create payment intent needs a positive amount and a currency")
	case in.Confirm && in.PaymentMethodID == "":
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindInternal, "stripe: confirming a payment intent needs a payment method")
	case in.OffSession && !in.Confirm:
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindInternal, "stripe: off_session needs confirm")
	}
	p := &stripe.PaymentIntentParams{
		Params:             stripe.Params{Context: ctx, IdempotencyKey: stripe.String(PurchaseIdempotencyKey(in.PurchaseID))},
		Amount:             stripe.Int64(in.Amount.Amount),
		Currency:           stripe.String(string(in.Amount.Currency)),
		Customer:           nonEmpty(in.CustomerID),
		ReceiptEmail:       nonEmpty(in.ReceiptEmail),
		PaymentMethod:      nonEmpty(in.PaymentMethodID),
		PaymentMethodTypes: []*string{stripe.String("card")},
		Metadata: map[string]string{
			"partner_id":  in.PartnerID,
			"purchase_id": in.PurchaseID,
			"kind":        string(in.Kind),
		},
	}
	if in.Confirm {
		p.Confirm = stripe.Bool(true)
	}
	if in.OffSession {
		p.OffSession = stripe.Bool(true)
	}
	pi, err := c.api.PaymentIntents.New(p)
	if err != nil {
		out := app.PaymentIntent{}
		if se, ok := errors.AsType[*stripe.Error](err); ok && se.PaymentIntent != nil {
			out = paymentIntentFrom(se.PaymentIntent)
			if out.LastError == nil {
				out.LastError = paymentErrorFrom(se)
			}
		}
		return out, translateError(err, "create payment intent")
	}
	return paymentIntentFrom(pi), nil
}

// GetPaymentIntent reads a PaymentIntent.
func (c *Client) GetPaymentIntent(ctx context.Context, id string) (app.PaymentIntent, error) {
	if id == "" {
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindNotFound, "the payment intent was not found")
	}
	pi, err := c.api.PaymentIntents.Get(id, &stripe.PaymentIntentParams{Params: stripe.Params{Context: ctx}})
	if err != nil {
		return app.PaymentIntent{}, translateError(err, "get payment intent")
	}
	return paymentIntentFrom(pi), nil
}

// CancelPaymentIntent cancels a PaymentIntent nobody paid, with the
// cancellation reason given (abandoned, duplicate, requested_by_customer,
// fraudulent), and returns it as canceled. A PaymentIntent that is
// already canceled, succeeded or processing cannot be canceled (Stripe's
// payment_intent_unexpected_state, KindInternal): callers read it again
// and act on its status.
func (c *Client) CancelPaymentIntent(ctx context.Context, id, reason string) (app.PaymentIntent, error) {
	if id == "" {
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindNotFound, "the payment intent was not found")
	}
	p := &stripe.PaymentIntentCancelParams{Params: stripe.Params{Context: ctx}}
	if reason != "" {
		p.CancellationReason = stripe.String(reason)
	}
	pi, err := c.api.PaymentIntents.Cancel(id, p)
	if err != nil {
		return app.PaymentIntent{}, translateError(err, "cancel payment intent")
	}
	return paymentIntentFrom(pi), nil
}

func paymentIntentFrom(pi *stripe.PaymentIntent) app.PaymentIntent {
	out := app.PaymentIntent{
		ID:           pi.ID,
		Status:       string(pi.Status),
		ClientSecret: pi.ClientSecret,
		Amount:       dsu.Money{Amount: pi.Amount, Currency: dsu.Currency(strings.ToLower(string(pi.Currency)))},
		Metadata:     copyMap(pi.Metadata),
		LastError:    paymentErrorFrom(pi.LastPaymentError),
		// Empty unless canceled.
		CancellationReason: string(pi.CancellationReason),
	}
	if pi.Customer != nil {
		out.CustomerID = pi.Customer.ID
	}
	if pi.PaymentMethod != nil {
		out.PaymentMethodID = pi.PaymentMethod.ID
	}
	if pi.LatestCharge != nil {
		out.LatestChargeID = pi.LatestCharge.ID
	}
	return out
}

func paymentErrorFrom(e *stripe.Error) *app.PaymentError {
	if e == nil || (e.Code == "" && e.DeclineCode == "" && e.Msg == "") {
		return nil
	}
	return &app.PaymentError{Code: string(e.Code), DeclineCode: string(e.DeclineCode), Message: e.Msg}
}

// ---------------------------------------------------------------------------
// Refunds

// ListRefunds lists every refund of a charge, all pages, newest first.
// charge.refunded events do not carry refund ids in API 2023-10-16.
func (c *Client) ListRefunds(ctx context.Context, chargeID string) ([]app.Refund, error) {
	if chargeID == "" {
		return nil, dsu.Errorf(dsu.KindNotFound, "the charge was not found")
	}
	p := &stripe.RefundListParams{Charge: stripe.String(chargeID)}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	it := c.api.Refunds.List(p)
	var out []app.Refund
	for it.Next() {
		r := it.Refund()
		out = append(out, app.Refund{ID: r.ID, Status: string(r.Status), Amount: r.Amount})
	}
	if err := it.Err(); err != nil {
		return nil, translateError(err, "list refunds")
	}
	return out, nil
}

// FindPaymentIntent looks for the PaymentIntent created for a purchase
// among the customer's PaymentIntents created since since (by the metadata
// purchase_id this system puts on each). It is how a purchase whose
// creation answer was lost is reconciled once Stripe's idempotency key
// (kept 24 h) may be gone: listing is strongly consistent, unlike search.
func (c *Client) FindPaymentIntent(ctx context.Context, customerID, purchaseID string, since time.Time) (app.PaymentIntent, bool, error) {
	if customerID == "" || purchaseID == "" {
		return app.PaymentIntent{}, false, dsu.Errorf(dsu.KindInternal, "stripe: find payment intent needs a customer and a purchase")
	}
	p := &stripe.PaymentIntentListParams{
		Customer:     stripe.String(customerID),
		CreatedRange: &stripe.RangeQueryParams{GreaterThanOrEqual: since.Add(-5 * time.Minute).Unix()},
	}
	p.Context = ctx
	p.Limit = stripe.Int64(100)
	it := c.api.PaymentIntents.List(p)
	for it.Next() {
		if pi := it.PaymentIntent(); pi.Metadata["purchase_id"] == purchaseID {
			return paymentIntentFrom(pi), true, nil
		}
	}
	if err := it.Err(); err != nil {
		return app.PaymentIntent{}, false, translateError(err, "list payment intents")
	}
	return app.PaymentIntent{}, false, nil
}

// maxKeyLength is the longest idempotency key Stripe (and stripe-go) accepts.
const maxKeyLength = 255

// validKey reports whether key can be sent as is: stripe-go trims spaces,
// which would silently change it.
func validKey(key string) bool {
	return key != "" && len(key) <= maxKeyLength && strings.TrimSpace(key) == key
}

func copyMap(m map[string]string) map[string]string { return maps.Clone(m) }
