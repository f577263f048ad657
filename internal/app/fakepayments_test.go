package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// fakePayments is a hand-written Stripe at the port the use cases consume.
// It keeps state like Stripe does (customers, SetupIntents, payment
// methods, PaymentIntents with their idempotency keys) and lets tests
// inject outages, declines and lost responses.
type fakePayments struct {
	mu sync.Mutex
	n  int

	customers      map[string]app.CustomerDetails // id → details
	customerOf     map[string]string              // partner → customer (idempotency key customer:<partner>)
	setupIntents   map[string]app.SetupIntent
	paymentMethods map[string]app.PaymentMethod
	defaults       map[string]string // customer → default payment method
	intents        map[string]app.PaymentIntent
	intentOf       map[string]string                   // purchase → payment intent (idempotency key purchase:<id>)
	intentReqs     map[string]app.PaymentIntentRequest // purchase → the request its key was first used with
	refunds        map[string][]app.Refund
	refundKeys     map[string]app.Refund // idempotency key → the refund it created
	refundRequests []app.RefundRequest
	calls          map[string]int

	// outage makes every call fail as Stripe unreachable.
	outage bool
	// failOnce makes the next call of an operation fail with the error.
	failOnce map[string]error
	// loseResponse makes CreatePaymentIntent do its work at "Stripe" and
	// then fail as if the response was lost (a timeout).
	loseResponse bool
	// refundDelay holds every CreateRefund that long before Stripe
	// answers, so concurrent deliveries meet while a refund is under way.
	refundDelay time.Duration
	// outcome decides a confirmed PaymentIntent's result by payment method:
	// "succeeded", "requires_action", or a decline code.
	outcome map[string]string
}

func newFakePayments() *fakePayments {
	return &fakePayments{
		customers: map[string]app.CustomerDetails{}, customerOf: map[string]string{},
		setupIntents: map[string]app.SetupIntent{}, paymentMethods: map[string]app.PaymentMethod{},
		defaults: map[string]string{}, intents: map[string]app.PaymentIntent{}, intentOf: map[string]string{}, intentReqs: map[string]app.PaymentIntentRequest{},
		refunds: map[string][]app.Refund{}, refundKeys: map[string]app.Refund{}, calls: map[string]int{}, failOnce: map[string]error{}, outcome: map[string]string{},
	}
}

var errStripeDown = dsu.Errorf(dsu.KindUpstreamUnavailable, "stripe is unreachable")

func (f *fakePayments) call(op string) error {
	f.calls[op]++
	if f.outage {
		return errStripeDown
	}
	if err := f.failOnce[op]; err != nil {
		delete(f.failOnce, op)
		return err
	}
	return nil
}

func (f *fakePayments) id(prefix string) string {
	f.n++
	return fmt.Sprintf("%s_%04d", prefix, f.n)
}

// Calls returns how often op was called (all ops when op is "").
func (f *fakePayments) Calls(op string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	if op != "" {
		return f.calls[op]
	}
	total := 0
	for _, n := range f.calls {
		total += n
	}
	return total
}

func (f *fakePayments) CreateCustomer(_ context.Context, in app.CustomerDetails) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateCustomer"); err != nil {
		return "", err
	}
	if id, ok := f.customerOf[in.PartnerID]; ok {
		return id, nil // Stripe's idempotency: the same key, the same customer
	}
	id := f.id("cus")
	f.customers[id], f.customerOf[in.PartnerID] = in, id
	return id, nil
}

func (f *fakePayments) UpdateCustomer(_ context.Context, id string, in app.CustomerDetails) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("UpdateCustomer"); err != nil {
		return err
	}
	if _, ok := f.customers[id]; !ok {
		return dsu.Errorf(dsu.KindNotFound, "no customer %s", id)
	}
	f.customers[id] = in
	return nil
}

func (f *fakePayments) CreateSetupIntent(_ context.Context, customerID, partnerID, key string) (app.SetupIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreateSetupIntent"); err != nil {
		return app.SetupIntent{}, err
	}
	si := app.SetupIntent{ID: f.id("seti"), CustomerID: customerID, Status: "requires_payment_method", Metadata: map[string]string{"partner_id": partnerID}}
	// Stripe's created has whole seconds; each SetupIntent is a second
	// after the one before, so their order is their creation's.
	si.Created = setupEpoch.Add(time.Duration(f.n) * time.Second)
	si.ClientSecret = si.ID + "_secret_x"
	f.setupIntents[si.ID] = si
	return si, nil
}

// ConfirmSetup is what the portal does with Stripe Elements: the card is
// attached to the SetupIntent's customer and the SetupIntent succeeds.
func (f *fakePayments) ConfirmSetup(setupIntentID, brand, last4 string) app.SetupIntent {
	f.mu.Lock()
	defer f.mu.Unlock()
	si := f.setupIntents[setupIntentID]
	pm := app.PaymentMethod{ID: f.id("pm"), CustomerID: si.CustomerID, Brand: brand, Last4: last4, ExpMonth: 12, ExpYear: 2030}
	f.paymentMethods[pm.ID] = pm
	si.Status, si.PaymentMethodID = "succeeded", pm.ID
	f.setupIntents[si.ID] = si
	return si
}

func (f *fakePayments) GetSetupIntent(_ context.Context, id string) (app.SetupIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetSetupIntent"); err != nil {
		return app.SetupIntent{}, err
	}
	si, ok := f.setupIntents[id]
	if !ok {
		return app.SetupIntent{}, dsu.Errorf(dsu.KindNotFound, "no setup intent %s", id)
	}
	return si, nil
}

func (f *fakePayments) GetPaymentMethod(_ context.Context, id string) (app.PaymentMethod, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetPaymentMethod"); err != nil {
		return app.PaymentMethod{}, err
	}
	pm, ok := f.paymentMethods[id]
	if !ok {
		return app.PaymentMethod{}, dsu.Errorf(dsu.KindNotFound, "no payment method %s", id)
	}
	return pm, nil
}

func (f *fakePayments) SetDefaultPaymentMethod(_ context.Context, customerID, pmID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("SetDefaultPaymentMethod"); err != nil {
		return err
	}
	f.defaults[customerID] = pmID
	return nil
}

func (f *fakePayments) DetachPaymentMethod(_ context.Context, pmID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("DetachPaymentMethod"); err != nil {
		return err
	}
	pm, ok := f.paymentMethods[pmID]
	if !ok || pm.CustomerID == "" {
		return dsu.Errorf(dsu.KindNotFound, "payment method %s is not attached", pmID)
	}
	pm.CustomerID = ""
	f.paymentMethods[pmID] = pm
	return nil
}

func (f *fakePayments) CreatePaymentIntent(_ context.Context, in app.PaymentIntentRequest) (app.PaymentIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CreatePaymentIntent"); err != nil {
		return app.PaymentIntent{}, err
	}
	if id, ok := f.intentOf[in.PurchaseID]; ok {
		// The same idempotency key (purchase:<id>) replays the first result,
		// but only for the same parameters: Stripe refuses a key reused with
		// others (idempotency_error), as the adapter reports it.
		if first := f.intentReqs[in.PurchaseID]; first != in {
			return app.PaymentIntent{}, dsu.Wrap(app.ErrIdempotencyKeyReused, dsu.KindInternal, "the payment service rejected the request")
		}
		return f.result(f.intents[id])
	}
	pi := app.PaymentIntent{
		ID: f.id("pi"), Status: app.PIRequiresPaymentMethod, CustomerID: in.CustomerID, Amount: in.Amount,
		Metadata: map[string]string{"partner_id": in.PartnerID, "purchase_id": in.PurchaseID, "kind": string(in.Kind)},
	}
	pi.ClientSecret = pi.ID + "_secret_y"
	if in.Confirm {
		pi.PaymentMethodID = in.PaymentMethodID
		switch outcome := f.outcome[in.PaymentMethodID]; {
		case outcome == "" || outcome == "succeeded":
			pi.Status, pi.LatestChargeID = app.PISucceeded, "ch_"+pi.ID
		case outcome == "requires_action" && !in.OffSession:
			pi.Status = app.PIRequiresAction
		case outcome == "requires_action":
			pi.LastError = &app.PaymentError{Code: "authentication_required", DeclineCode: "authentication_required", Message: "Your card requires authentication."}
		default:
			pi.LastError = &app.PaymentError{Code: "card_declined", DeclineCode: outcome, Message: "Your card was declined."}
		}
	}
	f.intents[pi.ID], f.intentOf[in.PurchaseID], f.intentReqs[in.PurchaseID] = pi, pi.ID, in
	if f.loseResponse {
		f.loseResponse = false
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindUpstreamUnavailable, "timeout waiting for Stripe")
	}
	return f.result(pi)
}

// result returns a PaymentIntent the way the adapter does: a decline is an
// error that carries its PaymentIntent.
func (f *fakePayments) result(pi app.PaymentIntent) (app.PaymentIntent, error) {
	if e := pi.LastError; e != nil && pi.Status == app.PIRequiresPaymentMethod {
		if e.Code == "authentication_required" {
			return pi, &dsu.Error{Kind: dsu.KindAuthenticationRequired, Message: e.Message, DeclineCode: e.DeclineCode}
		}
		return pi, &dsu.Error{Kind: dsu.KindCardDeclined, Message: e.Message, DeclineCode: e.DeclineCode}
	}
	return pi, nil
}

func (f *fakePayments) GetPaymentIntent(_ context.Context, id string) (app.PaymentIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetPaymentIntent"); err != nil {
		return app.PaymentIntent{}, err
	}
	pi, ok := f.intents[id]
	if !ok {
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindNotFound, "no payment intent %s", id)
	}
	return pi, nil
}

func (f *fakePayments) FindPaymentIntent(_ context.Context, customerID, purchaseID string, _ time.Time) (app.PaymentIntent, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("FindPaymentIntent"); err != nil {
		return app.PaymentIntent{}, false, err
	}
	for _, pi := range f.intents {
		if pi.CustomerID == customerID && pi.Metadata["purchase_id"] == purchaseID {
			return pi, true, nil
		}
	}
	return app.PaymentIntent{}, false, nil
}

// ForgetKeys makes Stripe forget its idempotency keys, as it does after
// 24 h: the same purchase then gets a new PaymentIntent.
func (f *fakePayments) ForgetKeys() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.intentOf, f.intentReqs = map[string]string{}, map[string]app.PaymentIntentRequest{}
}

// SetIntentStatus changes a PaymentIntent at "Stripe" (the portal confirmed
// it, or the bank declined it).
func (f *fakePayments) SetIntentStatus(id, status string, lastErr *app.PaymentError) app.PaymentIntent {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi := f.intents[id]
	pi.Status, pi.LastError = status, lastErr
	if status == app.PISucceeded {
		pi.LatestChargeID = "ch_" + pi.ID
	}
	f.intents[id] = pi
	return pi
}

// SetIntentAmount changes a PaymentIntent's amount at "Stripe" (a
// PaymentIntent edited in the Dashboard, say).
func (f *fakePayments) SetIntentAmount(id string, amount int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pi := f.intents[id]
	pi.Amount.Amount = amount
	f.intents[id] = pi
}

// IntentFor returns the PaymentIntent of a purchase, if Stripe has one.
func (f *fakePayments) IntentFor(purchaseID string) (app.PaymentIntent, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.intentOf[purchaseID]
	return f.intents[id], ok
}

// Refund adds a refund of a PaymentIntent's charge.
func (f *fakePayments) Refund(piID string, amount int64) app.Refund {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := app.Refund{ID: f.id("re"), Status: "succeeded", Amount: amount}
	ch := "ch_" + piID
	f.refunds[ch] = append([]app.Refund{r}, f.refunds[ch]...) // newest first, as Stripe lists
	return r
}

func (f *fakePayments) ListRefunds(_ context.Context, chargeID string) ([]app.Refund, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("ListRefunds"); err != nil {
		return nil, err
	}
	return append([]app.Refund(nil), f.refunds[chargeID]...), nil
}

// chargeOf is the charge id the fake gives a PaymentIntent.
func chargeOf(piID string) string { return "ch_" + piID }

// setupEpoch is when the fake's first SetupIntent is created.
var setupEpoch = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

func (f *fakePayments) CancelPaymentIntent(_ context.Context, id, reason string) (app.PaymentIntent, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("CancelPaymentIntent"); err != nil {
		return app.PaymentIntent{}, err
	}
	pi, ok := f.intents[id]
	if !ok {
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindNotFound, "no payment intent %s", id)
	}
	switch pi.Status {
	case app.PIRequiresPaymentMethod, app.PIRequiresConfirmation, app.PIRequiresAction:
	default:
		// Stripe's payment_intent_unexpected_state.
		return app.PaymentIntent{}, dsu.Errorf(dsu.KindInternal, "payment intent %s is %s and cannot be canceled", id, pi.Status)
	}
	pi.Status, pi.CancellationReason = app.PICanceled, reason
	f.intents[id] = pi
	return pi, nil
}

// receiptOf is the receipt URL the fake gives a charge.
func receiptOf(chargeID string) string {
	return "https://pay.stripe.com/receipts/acct_fake/" + chargeID + "/rcpt_1"
}

func (f *fakePayments) GetCharge(_ context.Context, id string) (app.Charge, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.call("GetCharge"); err != nil {
		return app.Charge{}, err
	}
	for _, pi := range f.intents {
		if pi.LatestChargeID == id {
			return app.Charge{ID: id, PaymentIntentID: pi.ID, Status: "succeeded", Amount: pi.Amount.Amount, Currency: pi.Amount.Currency,
				ReceiptURL: receiptOf(id), Metadata: pi.Metadata}, nil
		}
	}
	return app.Charge{}, dsu.Errorf(dsu.KindNotFound, "no charge %s", id)
}

// CreateRefund refunds a PaymentIntent in full; the same idempotency key
// returns the first refund, as Stripe does.
func (f *fakePayments) CreateRefund(_ context.Context, in app.RefundRequest) (app.Refund, error) {
	time.Sleep(f.refundDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.refundRequests = append(f.refundRequests, in)
	if err := f.call("CreateRefund"); err != nil {
		return app.Refund{}, err
	}
	if r, ok := f.refundKeys[in.IdempotencyKey]; ok {
		return r, nil
	}
	pi, ok := f.intents[in.PaymentIntentID]
	if !ok || pi.Status != app.PISucceeded {
		return app.Refund{}, dsu.Errorf(dsu.KindConflict, "payment intent %s has no charge to refund", in.PaymentIntentID)
	}
	r := app.Refund{ID: f.id("re"), Status: "pending", Amount: pi.Amount.Amount, ChargeID: pi.LatestChargeID, PaymentIntentID: pi.ID, Currency: pi.Amount.Currency}
	f.refundKeys[in.IdempotencyKey] = r
	f.refunds[pi.LatestChargeID] = append([]app.Refund{r}, f.refunds[pi.LatestChargeID]...)
	return r, nil
}

// RefundRequests returns the refunds asked for, idempotent replays included.
func (f *fakePayments) RefundRequests() []app.RefundRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]app.RefundRequest(nil), f.refundRequests...)
}

// SetRefundStatus changes a refund at "Stripe" (a refund that fails or is
// canceled after it was pending) and returns it as a refund event carries
// it.
func (f *fakePayments) SetRefundStatus(refundID, status string) app.Refund {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, list := range f.refunds {
		for i, r := range list {
			if r.ID == refundID {
				list[i].Status = status
				pi := f.intents[strings.TrimPrefix(ch, "ch_")]
				r = list[i]
				r.ChargeID, r.PaymentIntentID, r.Currency = ch, pi.ID, pi.Amount.Currency
				return r
			}
		}
	}
	panic("no refund " + refundID)
}
