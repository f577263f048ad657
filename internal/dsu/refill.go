package dsu

import (
	"errors"
	"time"
)

// The automated billing plan (RULES.md, "The automated plan"): when the balance falls to the
// threshold, buy the default package off-session with the saved card. These
// are its rules; the store applies them under optimistic concurrency, so any
// number of concurrent triggers start one refill.

// RefillPolicy configures retries and limits of automatic purchases.
type RefillPolicy struct {
	// RetryDelays is the wait before the sweep retries after the 1st, 2nd,
	// ... consecutive failure with a retryable decline.
	RetryDelays []time.Duration
	// MaxConsecutiveFailures pauses the plan (payment_failed) when reached.
	MaxConsecutiveFailures int
	// StuckAfter is when a refill in flight is reconciled by the sweep.
	StuckAfter time.Duration
	// MaxPackages caps the packages one automatic purchase buys.
	MaxPackages int64
}

// DefaultRefillPolicy retries after 1 h and 6 h and pauses at the third
// consecutive failure; the 24 h step applies when more failures are allowed.
var DefaultRefillPolicy = RefillPolicy{
	RetryDelays:            []time.Duration{time.Hour, 6 * time.Hour, 24 * time.Hour},
	MaxConsecutiveFailures: 3,
	StuckAfter:             15 * time.Minute,
	MaxPackages:            10,
}

// ErrRefillNotNeeded is why a refill cannot be claimed: none is due.
var ErrRefillNotNeeded = errors.New("no refill needed")

// monthOf is the calendar month (UTC) of t, as the monthly limit counts.
func monthOf(t time.Time) string { return t.UTC().Format("2006-01") }

// RefillDue reports whether an automatic purchase must start now: the plan
// is active, the balance is used up, and nothing is in flight or the last
// failure's wait is over.
func (a Account) RefillDue(now time.Time) bool {
	if a.AutoRefill.Status != AutoRefillActive || a.Units > a.AutoRefill.Threshold {
		return false
	}
	switch a.Refill.Phase {
	case RefillIdle:
		return true
	case RefillFailed:
		return !now.Before(a.Refill.NextAttemptAt)
	}
	return false
}

// ClaimRefill marks an automatic purchase in flight for purchaseID: the one
// refill per partner. When this month's limit is used up it pauses the plan
// instead (monthly_limit_reached), which the PlanChange says: nothing may be
// charged then. ErrRefillNotNeeded when no refill is due.
func (a *Account) ClaimRefill(purchaseID string, now time.Time) (PlanChange, error) {
	if !a.RefillDue(now) {
		return PlanChange{}, ErrRefillNotNeeded
	}
	month := monthOf(now)
	count := a.Refill.MonthCount
	if a.Refill.Month != month {
		count = 0
	}
	if a.AutoRefill.MonthlyLimit > 0 && count >= a.AutoRefill.MonthlyLimit {
		a.Refill.Phase, a.Refill.PurchaseID = RefillIdle, ""
		return a.Pause(PausedMonthlyLimitReached)
	}
	a.Refill.Phase, a.Refill.PurchaseID, a.Refill.StartedAt = RefillInFlight, purchaseID, now.UTC()
	a.Refill.Month, a.Refill.MonthCount = month, count+1
	return PlanChange{}, nil
}

// inFlightFor reports whether purchaseID is the refill in flight; outcomes
// of other purchases (stale, or manual) leave the claim alone.
func (a Account) inFlightFor(purchaseID string) bool {
	return a.Refill.Phase == RefillInFlight && a.Refill.PurchaseID == purchaseID
}

// RefillSucceeded releases the claim and clears the failure streak.
func (a *Account) RefillSucceeded(purchaseID string) (PlanChange, error) {
	if !a.inFlightFor(purchaseID) && !(a.Refill.Phase == RefillFailed && a.Refill.PurchaseID == purchaseID) {
		return PlanChange{}, ErrNoChange
	}
	a.Refill = RefillState{Month: a.Refill.Month, MonthCount: a.Refill.MonthCount}
	return PlanChange{}, nil
}

// RefillFailed records a declined automatic purchase. A retryable decline
// waits for the next delay, until the streak reaches the maximum; any other
// decline pauses the plan at once. Both pause with payment_failed.
func (a *Account) RefillFailed(purchaseID string, retryable bool, now time.Time, p RefillPolicy) (PlanChange, error) {
	if !a.inFlightFor(purchaseID) {
		return PlanChange{}, ErrNoChange
	}
	a.Refill.Failures++
	a.Refill.Phase = RefillFailed
	if !retryable || a.Refill.Failures >= p.MaxConsecutiveFailures {
		a.Refill.Phase, a.Refill.NextAttemptAt = RefillIdle, time.Time{}
		return a.pauseIfActive(PausedPaymentFailed), nil
	}
	delay := p.RetryDelays[min(a.Refill.Failures, len(p.RetryDelays))-1]
	a.Refill.NextAttemptAt = now.UTC().Add(delay)
	return PlanChange{}, nil
}

// RefillDeclinedOnReplacedCard records an automatic purchase declined on a
// card the partner has replaced since it was charged: the decline says
// nothing of the card saved now, so the plan neither pauses nor backs off.
// The claim is released, the month's count given back and the failure
// streak cleared: the next refill charges the new card (RULES.md,
// "Outcomes, retries and backoff").
func (a *Account) RefillDeclinedOnReplacedCard(purchaseID string) (PlanChange, error) {
	if !a.inFlightFor(purchaseID) {
		return PlanChange{}, ErrNoChange
	}
	a.Refill.Phase, a.Refill.PurchaseID = RefillIdle, ""
	a.Refill.Failures, a.Refill.NextAttemptAt = 0, time.Time{}
	if a.Refill.MonthCount > 0 {
		a.Refill.MonthCount--
	}
	return PlanChange{}, nil
}

// RefillNeedsAuthentication pauses the plan: the bank wants the partner to
// confirm on-session, and retrying blindly would only fail again (RULES.md, "Error kinds and decline classes").
func (a *Account) RefillNeedsAuthentication(purchaseID string) (PlanChange, error) {
	if !a.inFlightFor(purchaseID) {
		return PlanChange{}, ErrNoChange
	}
	a.Refill.Phase, a.Refill.PurchaseID = RefillIdle, ""
	change := a.pauseIfActive(PausedAuthenticationRequired)
	if change.Paused == PausedAuthenticationRequired {
		a.AutoRefill.AwaitingPurchaseID = purchaseID
	}
	return change, nil
}

// RefillReleased frees the claim of a refill that ended without a payment
// (canceled, or never charged).
func (a *Account) RefillReleased(purchaseID string) (PlanChange, error) {
	if !a.inFlightFor(purchaseID) {
		return PlanChange{}, ErrNoChange
	}
	a.Refill.Phase, a.Refill.PurchaseID = RefillIdle, ""
	return PlanChange{}, nil
}

// RefillNotCharged gives up a refill Stripe never charged: it releases the
// claim and, with a reason, pauses an active plan (the card or customer is
// gone). ErrNoChange when neither applies.
func (a *Account) RefillNotCharged(purchaseID string, reason PauseReason) (PlanChange, error) {
	_, err := a.RefillReleased(purchaseID)
	released := err == nil
	var change PlanChange
	if reason != "" {
		change = a.pauseIfActive(reason)
	}
	if !released && change.Paused == "" {
		return PlanChange{}, ErrNoChange
	}
	return change, nil
}

// pauseIfActive pauses an active plan and says so; other plans stay as they
// are.
func (a *Account) pauseIfActive(reason PauseReason) PlanChange {
	change, _ := a.Pause(reason)
	return change
}

// RefillQuantity is how many default packages an automatic purchase buys:
// the smallest count that lifts the balance above the threshold, at least
// one, at most max.
func RefillQuantity(balance, threshold, packageUnits, max Units) Units {
	if packageUnits <= 0 {
		return 1
	}
	need := threshold - balance + 1 // units to end strictly above the threshold
	n := max64(1, (need+packageUnits-1)/packageUnits)
	if max > 0 && n > max {
		n = max
	}
	return n
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}
