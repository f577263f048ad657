package dsu

import "time"

// The automated plan's status rules: what pauses it, what resumes it and
// what its settings must be. Storage applies them under optimistic
// concurrency, so each rule is a method that changes an account as read
// and says what it did; callers announce that once it is stored.

// PlanChange is what a change of the account did to the automated plan.
// The zero value means its status did not change.
type PlanChange struct {
	// Paused is why the change paused an active plan; "" when it did not.
	Paused PauseReason
}

// AccountMutation changes an account as read and says what it did to the
// plan. Storage may run it more than once (a lost race retries from a
// fresh read), so it must depend only on the account it is given, and the
// caller acts on the PlanChange of the attempt that was stored. It returns
// ErrNoChange when there is nothing to change.
type AccountMutation func(*Account) (PlanChange, error)

// Pause pauses an active plan for reason; ErrNoChange when the plan is not
// active (off, or paused already for whatever reason).
func (a *Account) Pause(reason PauseReason) (PlanChange, error) {
	ar := &a.AutoRefill
	if ar.Status != AutoRefillActive {
		return PlanChange{}, ErrNoChange
	}
	ar.Status, ar.PausedReason = AutoRefillPaused, reason
	return PlanChange{Paused: reason}, nil
}

// Resume reactivates the plan and clears the failure streak, so the next
// trigger may charge at once.
func (a *Account) Resume() {
	a.AutoRefill.Status, a.AutoRefill.PausedReason, a.AutoRefill.AwaitingPurchaseID = AutoRefillActive, "", ""
	if a.Refill.Phase == RefillFailed {
		a.Refill.Phase = RefillIdle
	}
	a.Refill.Failures, a.Refill.NextAttemptAt = 0, time.Time{}
}

// cardPauses are the pauses a new card answers: the card was missing, was
// declined, had expired, or its bank wanted an authentication the partner
// gave.
var cardPauses = map[PauseReason]bool{
	PausedCardMissing:            true,
	PausedPaymentFailed:          true,
	PausedAuthenticationRequired: true,
	PausedCardExpired:            true,
}

// ResumeForNewCard resumes a plan paused because of its card. Plans paused
// for other reasons (a dispute, the monthly limit) stay paused. It belongs
// to the write that saves a card (Partner.SaveCard returns it): a card
// already saved never lifts a pause it caused itself.
func (a *Account) ResumeForNewCard() (PlanChange, error) {
	ar := a.AutoRefill
	if ar.Status != AutoRefillPaused || !cardPauses[ar.PausedReason] {
		return PlanChange{}, ErrNoChange
	}
	a.Resume()
	return PlanChange{}, nil
}

// ResumeForRenewedCard resumes a plan paused because its card expired, once
// the issuer renewed the card with a new expiry. Other pauses stay: a
// renewal says nothing about a decline or a dispute.
func (a *Account) ResumeForRenewedCard() (PlanChange, error) {
	ar := a.AutoRefill
	if ar.Status != AutoRefillPaused || ar.PausedReason != PausedCardExpired {
		return PlanChange{}, ErrNoChange
	}
	a.Resume()
	return PlanChange{}, nil
}

// PauseForRefund pauses the plan when an automatic purchase is refunded,
// in the same write as the refund's debit, so the debit never starts the
// next automatic charge (RULES.md, "Refunds"). It also replaces a pause a
// new card would lift: only the partner enabling the plan again resumes it.
// A plan off, or paused for a dispute or the monthly limit, stays as it is.
func (a *Account) PauseForRefund() (PlanChange, error) {
	ar := &a.AutoRefill
	if ar.Status != AutoRefillActive && (ar.Status != AutoRefillPaused || !cardPauses[ar.PausedReason]) {
		return PlanChange{}, ErrNoChange
	}
	ar.Status, ar.PausedReason = AutoRefillPaused, PausedRefillRefunded
	return PlanChange{Paused: PausedRefillRefunded}, nil
}

// PauseForDispute pauses an enabled plan and holds it: a chargeback needs a
// person at CiraSync, so the partner cannot re-arm off-session charging by
// themselves, not even by turning the plan off and on.
func (a *Account) PauseForDispute() (PlanChange, error) {
	ar := &a.AutoRefill
	if ar.DisputeHold && (!ar.Enabled || ar.PausedReason == PausedDispute) {
		return PlanChange{}, ErrNoChange
	}
	ar.DisputeHold = true
	if !ar.Enabled {
		return PlanChange{}, nil
	}
	ar.Status, ar.PausedReason = AutoRefillPaused, PausedDispute
	return PlanChange{Paused: PausedDispute}, nil
}

// Bounds of the plan's settings.
const (
	// MaxThreshold bounds the threshold: a typo of a few zeros would
	// otherwise buy packages back to back up to the monthly limit.
	MaxThreshold = 10_000_000
	// MaxMonthlyLimit bounds the automatic purchases of a calendar month.
	MaxMonthlyLimit = 31
)

// PlanSettings is a change of the plan's settings; nil fields keep their
// current values.
type PlanSettings struct {
	Enabled      bool
	PackageID    *string
	Threshold    *Units
	MonthlyLimit *int
}

// Validate checks the fields that are set, field by field.
func (s PlanSettings) Validate(cat Catalog) error {
	var v Validation
	if s.PackageID != nil {
		_, ok := cat.Find(*s.PackageID)
		v.Check(ok, "packageId", "is not a package of the catalog")
	}
	if s.Threshold != nil {
		v.Check(*s.Threshold >= 0 && *s.Threshold <= MaxThreshold, "threshold", "must be between 0 and 10,000,000 DSUs")
	}
	if s.MonthlyLimit != nil {
		v.Check(*s.MonthlyLimit >= 1 && *s.MonthlyLimit <= MaxMonthlyLimit, "monthlyLimit", "must be between 1 and 31 automatic purchases a month")
	}
	return v.Err()
}

// ConfigurePlan applies validated settings. Enabling needs every setting
// once the plan runs, and a package still sold; it resumes a paused plan
// (clearing its failure streak) unless a dispute holds it. Saving the
// settings of a plan that already runs keeps its retry state: resetting it
// would retry a declined card at once and never let the failure streak
// pause the plan. Disabling turns the plan off, whatever paused it.
func (a *Account) ConfigurePlan(s PlanSettings, cat Catalog) (PlanChange, error) {
	ar := &a.AutoRefill
	if s.PackageID != nil {
		ar.PackageID = *s.PackageID
	}
	if s.Threshold != nil {
		ar.Threshold = *s.Threshold
	}
	if s.MonthlyLimit != nil {
		ar.MonthlyLimit = *s.MonthlyLimit
	}
	if !s.Enabled {
		ar.Enabled, ar.Status, ar.PausedReason, ar.AwaitingPurchaseID = false, AutoRefillOff, "", ""
		return PlanChange{}, nil
	}
	if ar.DisputeHold {
		return PlanChange{}, Errorf(KindConflict, "the automated plan is on hold because of a card dispute; contact support to resume it")
	}
	var v Validation
	if _, ok := cat.Find(ar.PackageID); ar.PackageID == "" {
		v.Add("packageId", "is required to enable the automated plan")
	} else if !ok { // saved earlier, since removed from the catalog
		v.Add("packageId", "is no longer a package of the catalog; choose another")
	}
	v.Check(ar.MonthlyLimit >= 1, "monthlyLimit", "is required to enable the automated plan")
	if err := v.Err(); err != nil {
		return PlanChange{}, err
	}
	running := ar.Enabled && ar.Status == AutoRefillActive
	ar.Enabled = true
	if !running {
		a.Resume()
	}
	return PlanChange{}, nil
}
