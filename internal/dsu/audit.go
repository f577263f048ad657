package dsu

import (
	"fmt"
	"strings"
	"time"
)

// Actor is who made a change: a person of the partner (the token's sub and
// email), an operator (an IAM ARN; "local-operator" in the local stack),
// Stripe (webhook-driven changes) or the system (the sweep).
type Actor struct {
	Sub   string
	Email string // "" when the token carries none
}

// Actors of changes no person of the partner made.
var (
	ActorStripe = Actor{Sub: "stripe"}
	ActorSystem = Actor{Sub: "system"}
)

// AuditAction names a recorded change.
type AuditAction string

const (
	AuditContactUpdated      AuditAction = "contact.updated"
	AuditCardSaved           AuditAction = "card.saved"
	AuditCardRemoved         AuditAction = "card.removed"
	AuditAutoRefillUpdated   AuditAction = "auto_refill.updated"
	AuditPurchaseCreated     AuditAction = "purchase.created"
	AuditPurchaseConfirmed   AuditAction = "purchase.confirmed"
	AuditAdjustmentCreated   AuditAction = "adjustment.created"
	AuditDisputeHoldReleased AuditAction = "dispute_hold.released"
)

// AuditEvent is one change, recorded in the same transaction as the change
// itself. Details never hold contact values, only what changed.
type AuditEvent struct {
	ID        string
	PartnerID string
	At        time.Time
	Actor     Actor
	Action    AuditAction
	Details   map[string]any
}

// Adjustment limits (operators only).
const (
	MaxAdjustmentUnits     = 10_000_000
	MinAdjustmentReasonLen = 3
	MaxAdjustmentReasonLen = 500
	MaxAdjustmentTicketLen = 100
)

// Adjustment is an operator's correction of a partner's balance: a ledger
// entry like any other, exactly once per Idempotency-Key.
type Adjustment struct {
	Units  Units
	Reason string
	Ticket string
}

// Validate checks an adjustment field by field.
func (a Adjustment) Validate() error {
	var v Validation
	v.Check(a.Units != 0 && a.Units >= -MaxAdjustmentUnits && a.Units <= MaxAdjustmentUnits, "units", "must be a whole number of DSUs, not 0, from -10,000,000 to 10,000,000")
	reason := strings.TrimSpace(a.Reason)
	v.Check(len([]rune(reason)) >= MinAdjustmentReasonLen && len([]rune(reason)) <= MaxAdjustmentReasonLen && !hasControl(reason),
		"reason", "must be 3 to 500 characters of text")
	v.Check(len(a.Ticket) <= MaxAdjustmentTicketLen && !hasControl(a.Ticket), "ticket", "must be at most 100 characters of text")
	return v.Err()
}

// AdjustmentRef is the reference of the adjustment made under an
// Idempotency-Key.
func AdjustmentRef(key string) string { return "adjustment:" + key }

// AdjustmentDescription describes an adjustment on a statement.
func AdjustmentDescription(a Adjustment) string {
	d := "Adjustment: " + strings.TrimSpace(a.Reason)
	if a.Ticket != "" {
		d += " (ticket " + a.Ticket + ")"
	}
	return d
}

// ReleaseDisputeHold lifts a dispute hold, which only support may do. The
// plan stays paused until the partner re-enables it: releasing the hold is
// not consent to charge the card again. ErrNoChange without a hold.
func (a *Account) ReleaseDisputeHold() (PlanChange, error) {
	if !a.AutoRefill.DisputeHold {
		return PlanChange{}, ErrNoChange
	}
	a.AutoRefill.DisputeHold = false
	return PlanChange{}, nil
}

func hasControl(s string) bool {
	return strings.ContainsFunc(s, func(c rune) bool { return c < ' ' || c == 0x7f || (c >= 0x80 && c < 0xa0) })
}

// String is an actor as a log or a CLI shows it.
func (a Actor) String() string {
	if a.Email != "" {
		return fmt.Sprintf("%s <%s>", a.Sub, a.Email)
	}
	return a.Sub
}
