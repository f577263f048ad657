package dsu

import (
	"fmt"
	"slices"
	"time"
)

// PurchaseKind says who started a purchase.
type PurchaseKind string

const (
	KindManual     PurchaseKind = "manual"
	KindAutoRefill PurchaseKind = "auto_refill"
)

// PurchaseStatus is where a purchase is in its life (RULES.md, "Purchase state
// machine").
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
	// A failed purchase can still be paid by a later successful confirm;
	// a manual one whose PaymentIntent nobody paid in 24 hours is canceled
	// (RULES.md, "Reconciliation and the sweep").
	StatusFailed:    {StatusSucceeded, StatusCanceled},
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
	// DisputeDebitedUnits is the DSUs lost disputes have taken of the
	// purchase: their claim, as far as refunds in force leave units to take.
	DisputeDebitedUnits Units
	// DisputeClaimedUnits is what lost disputes would take uncapped: the
	// disputed share of the units (RefundUnits of each disputed amount). A
	// refund that fails after them gives back only what this leaves
	// (RULES.md, "Refunds, disputes and the money kept").
	DisputeClaimedUnits Units
	// ReconcileAt is when the sweep next looks at an unfinished manual
	// purchase; zero means ReconcileAfter its creation (Purchase.SweepAt).
	ReconcileAt time.Time
	// AskedToAuthenticate is set, for good, once an automatic purchase
	// waits for the partner to authenticate it: from then on its
	// PaymentIntent is payable on-session (the portal holds its client
	// secret), also after a failed attempt.
	AskedToAuthenticate bool
	// Refunds are the purchase's refunds as this system applied them, in
	// the order it learned of them (RULES.md, "Refunds").
	Refunds []RefundRecord
	// ReceiptURL is Stripe's receipt of the purchase's charge, once known.
	ReceiptURL string
	// Version counts the purchase's writes; every update is conditioned on
	// the version read, so concurrent updates never overwrite each other.
	Version int64
}

// PurchaseKey names one purchase of one partner.
type PurchaseKey struct {
	PartnerID, PurchaseID string
}

// CreditedUnits is what the partner still holds of the purchase's units
// once credited: the units, less refunds and a lost dispute.
func (p Purchase) CreditedUnits() Units {
	return max(p.Units-p.RefundedUnits-p.DisputeDebitedUnits, 0)
}

// CreditEntryType is the ledger entry type that credits this purchase.
func (p Purchase) CreditEntryType() EntryType {
	if p.Kind == KindAutoRefill {
		return EntryRefill
	}
	return EntryPurchase
}

// PurchaseLine is one line a partner asks for: a package and how many.
type PurchaseLine struct {
	PackageID string
	Quantity  int64
}

// Limits of a manual purchase (API.md, "POST /v1/purchases").
const (
	MaxPurchaseLines    = 10
	MaxPurchaseQuantity = 100
)

// PriceLines validates the lines of a manual purchase and prices them from
// the catalog in the partner's currency: the client never sends amounts.
func PriceLines(cat Catalog, cur Currency, lines []PurchaseLine) ([]LineItem, Units, Money, error) {
	var v Validation
	if len(lines) == 0 || len(lines) > MaxPurchaseLines {
		v.Add("items", fmt.Sprintf("must have 1 to %d lines", MaxPurchaseLines))
		return nil, 0, Money{}, v.Err()
	}
	seen := map[string]bool{}
	items := make([]LineItem, 0, len(lines))
	total := Money{Currency: cur}
	var units Units
	for i, l := range lines {
		field := fmt.Sprintf("items[%d]", i)
		pkg, ok := cat.Find(l.PackageID)
		switch {
		case l.PackageID == "":
			v.Add(field+".packageId", "is required")
		case seen[l.PackageID]:
			v.Add(field+".packageId", "appears on more than one line; use quantity")
		case !ok:
			v.Add(field+".packageId", "is not a package of the catalog")
		}
		seen[l.PackageID] = true
		if l.Quantity < 1 || l.Quantity > MaxPurchaseQuantity {
			v.Add(field+".quantity", fmt.Sprintf("must be a whole number from 1 to %d", MaxPurchaseQuantity))
			continue
		}
		if !ok {
			continue
		}
		price, ok := pkg.Price(cur)
		if !ok {
			return nil, 0, Money{}, Errorf(KindInternal, "package %s has no %s price", pkg.ID, cur)
		}
		item := LineItem{PackageID: pkg.ID, Name: pkg.Name, Quantity: l.Quantity, Units: pkg.Units * l.Quantity,
			Amount: Money{Amount: price.Amount * l.Quantity, Currency: cur}}
		items = append(items, item)
		units += item.Units
		total.Amount += item.Amount.Amount
	}
	if err := v.Err(); err != nil {
		return nil, 0, Money{}, err
	}
	return items, units, total, nil
}

// A manual purchase the portal never finished, or whose webhook was lost,
// is finished by the sweep (RULES.md, "Reconciliation and the sweep").
const (
	// ReconcileAfter is when the sweep first compares an unfinished manual
	// purchase with its PaymentIntent.
	ReconcileAfter = time.Hour
	// AbandonAfter is when an unpaid manual purchase (pending, requiring
	// action, or failed with a PaymentIntent) is given up: its PaymentIntent
	// is canceled at Stripe.
	AbandonAfter = 24 * time.Hour
	// AuthenticationWindow is how long an automatic purchase waits for the
	// partner to authenticate it on-session (the plan is paused
	// authentication_required meanwhile) before it is given up the same
	// way: longer than a manual purchase's day, since the partner learns of
	// it from a notification, perhaps on a weekend.
	AuthenticationWindow = 7 * 24 * time.Hour
)

// SweepAt is when the sweep must look at the purchase, and whether it must
// at all: a manual purchase still pending or requiring action, or one that
// failed with a PaymentIntent (a declined card: the portal may still pay
// that PaymentIntent with another card, and its webhook may be lost; once
// abandoned it is canceled at Stripe), and an automatic purchase waiting
// for the partner to authenticate, or failed after the partner was asked
// to (the partner confirms it in the portal, perhaps again after a failed
// attempt, and that webhook may be lost too; see
// Account.AwaitsAuthentication). Storage indexes exactly the
// purchases for which ok is true, so the sweep never reads the others;
// every other status leaves the index.
func (p Purchase) SweepAt() (at time.Time, ok bool) {
	if !p.awaitsSweep() {
		return time.Time{}, false
	}
	if !p.ReconcileAt.IsZero() {
		return p.ReconcileAt, true
	}
	return p.CreatedAt.Add(ReconcileAfter), true
}

// awaitsSweep reports whether the purchase may still change without this
// system acting, and so needs the sweep: a manual purchase not finished,
// or failed with a PaymentIntent that is still payable until canceled.
func (p Purchase) awaitsSweep() bool {
	if p.Kind != KindManual {
		// An automatic purchase's PaymentIntent is payable on-session once
		// the partner was asked to authenticate it, also after a failed
		// attempt; the sweep cancels it once superseded or abandoned. One
		// declined off-session was never handed to the portal.
		return p.Kind == KindAutoRefill && p.PaymentIntentID != "" &&
			(p.Status == StatusRequiresAction || p.Status == StatusFailed && p.AskedToAuthenticate)
	}
	switch p.Status {
	case StatusPending, StatusRequiresAction:
		return true
	case StatusFailed:
		return p.PaymentIntentID != ""
	}
	return false
}

// AbandonAt is when the purchase, still unpaid, is given up: AbandonAfter
// after its creation, AuthenticationWindow for an automatic purchase.
func (p Purchase) AbandonAt() time.Time {
	if p.Kind == KindAutoRefill {
		return p.CreatedAt.Add(AuthenticationWindow)
	}
	return p.CreatedAt.Add(AbandonAfter)
}

// Abandoned reports whether the purchase is past AbandonAt.
func (p Purchase) Abandoned(now time.Time) bool {
	return !now.Before(p.AbandonAt())
}

// NextReconcile is when the sweep looks again at a purchase it found
// unfinished at now: after as long again as the purchase is old (1 h, 2 h,
// 4 h, …), never later than when it counts as abandoned, and an hour later
// past that (a payment still processing cannot be canceled).
func (p Purchase) NextReconcile(now time.Time) time.Time {
	now = now.UTC()
	abandon := p.AbandonAt()
	if !now.Before(abandon) {
		return now.Add(ReconcileAfter)
	}
	next := now.Add(max(now.Sub(p.CreatedAt), ReconcileAfter))
	if next.After(abandon) {
		next = abandon
	}
	return next
}
