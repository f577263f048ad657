package dsu

import (
	"errors"
	"time"
)

// Double charges (RULES.md, "Double payments"): a PaymentIntent that
// succeeds for a purchase another PaymentIntent paid already credits
// nothing and is refunded in full. Its record in storage makes the refund,
// the operators' error log and the domain event happen once however often
// Stripe delivers the event, and however many deliveries run at once.

// DuplicateState is where the refund of a double charge is.
type DuplicateState string

const (
	// DuplicateRefunding: an attempt to refund it at Stripe is under way
	// (or died; it is taken over once stale).
	DuplicateRefunding DuplicateState = "refunding"
	// DuplicateRefunded: Stripe accepted the refund.
	DuplicateRefunded DuplicateState = "refunded"
	// DuplicateRefundFailed: Stripe refused the refund for good; an
	// operator must refund it by hand.
	DuplicateRefundFailed DuplicateState = "refund_failed"
)

// DuplicateClaimStaleAfter is when an attempt to refund a double charge is
// presumed dead (its Lambda timed out): well past the function's timeout.
const DuplicateClaimStaleAfter = 2 * time.Minute

// DuplicatePayment is a PaymentIntent that paid a purchase already paid by
// another one.
type DuplicatePayment struct {
	PaymentIntentID string
	PartnerID       string
	PurchaseID      string
	// PaidBy is the PaymentIntent that paid the purchase first.
	PaidBy     string
	Amount     Money
	State      DuplicateState
	DetectedAt time.Time
	// ClaimedAt is when the current attempt to refund it started; it
	// identifies that attempt.
	ClaimedAt time.Time
	RefundID  string
}

// ErrDuplicateClaimed is the store's answer when another attempt holds (or
// took over) the refund of a double charge.
var ErrDuplicateClaimed = errors.New("another attempt is refunding this double charge")

// Stale reports whether an attempt to refund it may be taken over.
func (d DuplicatePayment) Stale(now time.Time) bool {
	return d.State == DuplicateRefunding && now.Sub(d.ClaimedAt) >= DuplicateClaimStaleAfter
}
