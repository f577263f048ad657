package app

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// The payment provider as the use cases see it: these types are the port;
// internal/stripeapi adapts Stripe to them. Card data never appears here,
// only what Stripe reports about cards.

// CustomerDetails is what the provider's customer holds of a partner.
type CustomerDetails struct {
	PartnerID string
	Name      string
	Email     string
	Phone     string
	Address   dsu.Address
	VATID     string
}

// SetupIntent is a card being saved for later, off-session use.
type SetupIntent struct {
	ID              string
	ClientSecret    string // for the portal only; never logged or stored
	CustomerID      string
	Status          string // succeeded once the card is saved
	PaymentMethodID string
	Metadata        map[string]string
	// Created is when Stripe created the SetupIntent: of two SetupIntents,
	// the later created one saves the newer card, whatever order their
	// events arrive in.
	Created time.Time
}

// PaymentMethod is a saved card as the provider describes it.
type PaymentMethod struct {
	ID         string
	CustomerID string // "" once detached
	Brand      string
	Last4      string
	ExpMonth   int
	ExpYear    int
}

// ErrIdempotencyKeyReused is what the payment provider's error wraps when
// it refuses a request whose idempotency key was first used with other
// parameters (Stripe's idempotency_error): the first request ran, so what
// it created is looked up rather than taken as a refusal (RULES.md,
// "Idempotency keys and metadata"). Its kind stays internal.
var ErrIdempotencyKeyReused = errors.New("idempotency key reused with other parameters")

// PaymentIntentRequest is one purchase's payment.
type PaymentIntentRequest struct {
	PurchaseID      string
	PartnerID       string
	Kind            dsu.PurchaseKind
	Amount          dsu.Money
	CustomerID      string
	ReceiptEmail    string
	PaymentMethodID string // the saved card; empty for a new card
	Confirm         bool
	OffSession      bool
}

// PaymentIntent is the provider's view of a payment.
type PaymentIntent struct {
	ID              string
	Status          string // requires_payment_method, requires_action, processing, succeeded, canceled
	ClientSecret    string // for the portal only; never logged or stored
	CustomerID      string
	PaymentMethodID string
	LatestChargeID  string
	Amount          dsu.Money
	Metadata        map[string]string
	LastError       *PaymentError
	// CancellationReason is why a canceled PaymentIntent was canceled
	// (abandoned, duplicate, requested_by_customer, ...).
	CancellationReason string
	// ReceiptURL is the receipt of the latest charge, when the caller read
	// that charge (reconciliation does; Stripe's PaymentIntent has none).
	ReceiptURL string
}

// PaymentError is why the last payment attempt failed.
type PaymentError struct {
	Code        string
	DeclineCode string
	Message     string
}

// Failure is the purchase failure this error records: the decline code
// when the issuer gave one, else Stripe's error code.
func (e *PaymentError) Failure() *dsu.Failure {
	if e == nil {
		return &dsu.Failure{Code: "payment_failed", Message: "The payment failed."}
	}
	code := e.DeclineCode
	if code == "" {
		code = e.Code
	}
	if code == "" {
		code = "payment_failed"
	}
	return &dsu.Failure{Code: code, Message: e.Message}
}

// Refund is one refund of a charge.
type Refund struct {
	ID     string
	Status string // pending, requires_action, succeeded, failed, canceled
	Amount int64
	// Set when the refund is read on its own (charge.refund.updated, a
	// created refund); a charge's list of refunds leaves them empty.
	ChargeID        string
	PaymentIntentID string
	Currency        dsu.Currency
	FailureReason   string
}

// Refund statuses the use cases act on.
const (
	RefundPending   = "pending"
	RefundSucceeded = "succeeded"
	RefundFailed    = "failed"
	RefundCanceled  = "canceled"
)

// RefundRequest refunds a PaymentIntent in full: a double charge.
type RefundRequest struct {
	PaymentIntentID string
	PartnerID       string
	PurchaseID      string
	// IdempotencyKey is derived from our own ids (duplicate:<pi_id>).
	IdempotencyKey string
}

// Charge is a payment's charge, as charge events carry it.
type Charge struct {
	ID              string
	PaymentIntentID string
	Status          string // succeeded, pending, failed
	Amount          int64
	AmountRefunded  int64
	Currency        dsu.Currency
	Refunded        bool
	// ReceiptURL is Stripe's receipt of the charge.
	ReceiptURL string
	// Metadata is the PaymentIntent's, copied when it was confirmed.
	Metadata map[string]string
	// Refunds are the charge's refunds when the event carries them all;
	// otherwise they are listed from Stripe.
	Refunds         []Refund
	RefundsIncluded bool
}

// Dispute is a chargeback on a charge.
type Dispute struct {
	ID              string
	ChargeID        string
	PaymentIntentID string
	Status          string // ..., won, lost
	Reason          string
	Amount          int64
	Currency        dsu.Currency
}

// PaymentIntent statuses the use cases act on.
const (
	PIRequiresPaymentMethod = "requires_payment_method"
	PIRequiresConfirmation  = "requires_confirmation"
	PIRequiresAction        = "requires_action"
	PIProcessing            = "processing"
	PISucceeded             = "succeeded"
	PICanceled              = "canceled"
)

// Client secrets let a browser confirm a payment: they must never reach
// logs (docs/RULES.md, "Secrets and what is never logged"). PaymentIntent and SetupIntent carry one for the portal, so
// both print and log without it, whether logged with slog or formatted
// with %v / %+v.

const redacted = "[redacted]"

func secretMark(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue logs the PaymentIntent without its client secret.
func (p PaymentIntent) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("id", p.ID),
		slog.String("status", p.Status),
		slog.Int64("amount", p.Amount.Amount),
		slog.String("currency", string(p.Amount.Currency)),
		slog.String("customer", p.CustomerID),
		slog.String("paymentMethod", p.PaymentMethodID),
		slog.String("latestCharge", p.LatestChargeID),
	}
	if p.LastError != nil {
		attrs = append(attrs, slog.String("errorCode", p.LastError.Code), slog.String("declineCode", p.LastError.DeclineCode))
	}
	return slog.GroupValue(attrs...)
}

// String formats the PaymentIntent without its client secret.
func (p PaymentIntent) String() string {
	return fmt.Sprintf("{ID:%s Status:%s ClientSecret:%s CustomerID:%s PaymentMethodID:%s LatestChargeID:%s Amount:%d %s Metadata:%v LastError:%+v}",
		p.ID, p.Status, secretMark(p.ClientSecret), p.CustomerID, p.PaymentMethodID, p.LatestChargeID,
		p.Amount.Amount, p.Amount.Currency, p.Metadata, p.LastError)
}

// LogValue logs the SetupIntent without its client secret.
func (s SetupIntent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", s.ID),
		slog.String("status", s.Status),
		slog.String("customer", s.CustomerID),
		slog.String("paymentMethod", s.PaymentMethodID),
	)
}

// String formats the SetupIntent without its client secret.
func (s SetupIntent) String() string {
	return fmt.Sprintf("{ID:%s ClientSecret:%s CustomerID:%s Status:%s PaymentMethodID:%s Metadata:%v}",
		s.ID, secretMark(s.ClientSecret), s.CustomerID, s.Status, s.PaymentMethodID, s.Metadata)
}
