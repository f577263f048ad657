package dsu

import (
	"slices"
	"time"
)

// PurchaseKind says who started a purchase.
type PurchaseKind string

const (
	KindManual     PurchaseKind = "manual"
	KindAutoRefill PurchaseKind = "auto_refill"
)

// PurchaseStatus is where a purchase is in its life (§4).
type PurchaseStatus string

const (
	StatusPending           PurchaseStatus = "pending"
	StatusRequiresAction    PurchaseStatus = "requires_action"
	StatusSucceeded         PurchaseStatus = "succeeded"
	StatusFailed            PurchaseStatus = "failed"
	StatusCanceled          PurchaseStatus = "canceled"
	StatusRefunded          PurchaseStatus = "refunded"
	StatusPartiallyRefunded PurchaseStatus = "partially_refunded"
	StatusDisputed          PurchaseStatus = "disputed"
)

// PurchaseStatuses lists every status, for exhaustive tests.
var PurchaseStatuses = []PurchaseStatus{
	StatusPending, StatusRequiresAction, StatusSucceeded, StatusFailed,
	StatusCanceled, StatusRefunded, StatusPartiallyRefunded, StatusDisputed,
}

// transitions is the whole state machine: status → the statuses it may move
// to. Anything not listed (including staying put) is not a transition, so a
// late or duplicate event never moves a purchase back.
var transitions = map[PurchaseStatus][]PurchaseStatus{
	StatusPending:        {StatusRequiresAction, StatusSucceeded, StatusFailed, StatusCanceled},
	StatusRequiresAction: {StatusSucceeded, StatusFailed, StatusCanceled},
	// A failed purchase can still be paid by a later successful confirm.
	StatusFailed:    {StatusSucceeded},
	StatusSucceeded: {StatusRefunded, StatusPartiallyRefunded, StatusDisputed},
	// Further refunds finish it; a dispute can follow a partial refund.
	StatusPartiallyRefunded: {StatusRefunded, StatusDisputed},
}

// CanTransition reports whether a purchase may move from one status to another.
func CanTransition(from, to PurchaseStatus) bool {
	return slices.Contains(transitions[from], to)
}

// TransitionSources lists the statuses from which to is reachable: the
// condition storage checks before writing to.
func TransitionSources(to PurchaseStatus) []PurchaseStatus {
	var from []PurchaseStatus
	for _, s := range PurchaseStatuses {
		if CanTransition(s, to) {
			from = append(from, s)
		}
	}
	return from
}

// Paid reports whether the purchase's DSUs have been credited at some point.
func (s PurchaseStatus) Paid() bool {
	switch s {
	case StatusSucceeded, StatusRefunded, StatusPartiallyRefunded, StatusDisputed:
		return true
	}
	return false
}

// LineItem is one package line of a purchase, priced by the server.
type LineItem struct {
	PackageID string
	Name      string
	Quantity  int64
	Units     Units
	Amount    Money
}

// Failure is why a payment did not go through, as Stripe reported it.
type Failure struct {
	Code    string
	Message string
}

// Purchase is one payment for DSUs, manual or automatic.
type Purchase struct {
	ID              string
	PartnerID       string
	Kind            PurchaseKind
	Status          PurchaseStatus
	Items           []LineItem
	Units           Units
	Amount          Money
	PaymentIntentID string
	Failure         *Failure
	CreatedAt       time.Time
	CompletedAt     *time.Time
	// RefundedAmount is the total refunded so far, in Amount's currency.
	RefundedAmount int64
	// RefundedUnits is the DSUs debited for refunds so far.
	RefundedUnits Units
}

// CreditEntryType is the ledger entry type that credits this purchase.
func (p Purchase) CreditEntryType() EntryType {
	if p.Kind == KindAutoRefill {
		return EntryRefill
	}
	return EntryPurchase
}
