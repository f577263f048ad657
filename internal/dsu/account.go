package dsu

import "time"

// Account is a partner's DSU pool and the automated plan that keeps it
// filled. It is one storage item, so every balance change sees the plan's
// settings and the refill in flight, and the stream that triggers refills
// carries both.
type Account struct {
	PartnerID string
	Units     Units
	// LedgerSeq is the Seq of the last ledger entry applied.
	LedgerSeq int64
	// LedgerMonth is the month (YYYY-MM) of the last entry: an entry of a
	// later month is the first of its month, and storage bookmarks it so a
	// statement reads only its month.
	LedgerMonth string
	// Version counts every change of the account, for optimistic updates.
	Version    int64
	UpdatedAt  time.Time
	AutoRefill AutoRefill
	Refill     RefillState
}

// AutoRefillStatus is the state of the automated billing plan.
type AutoRefillStatus string

const (
	AutoRefillOff    AutoRefillStatus = "off"
	AutoRefillActive AutoRefillStatus = "active"
	AutoRefillPaused AutoRefillStatus = "paused"
)

// PauseReason says why the plan stopped buying until a person acts.
type PauseReason string

const (
	PausedPaymentFailed          PauseReason = "payment_failed"
	PausedAuthenticationRequired PauseReason = "authentication_required"
	PausedMonthlyLimitReached    PauseReason = "monthly_limit_reached"
	PausedCardMissing            PauseReason = "card_missing"
	PausedDispute                PauseReason = "dispute"
	// PausedCardExpired: the saved card's last valid day is over; nothing
	// is charged to it.
	PausedCardExpired PauseReason = "card_expired"
	// PausedRefillRefunded: an automatic purchase was refunded. Its debit
	// would otherwise start the next automatic charge at once.
	PausedRefillRefunded PauseReason = "refill_refunded"
)

// AutoRefill holds the plan's settings and status.
type AutoRefill struct {
	Enabled      bool
	PackageID    string
	Threshold    Units
	MonthlyLimit int
	Status       AutoRefillStatus
	PausedReason PauseReason
	// DisputeHold is set by a chargeback and cleared only by support: the
	// partner cannot re-arm off-session charging, not even by turning the
	// plan off and on.
	DisputeHold bool
	// AwaitingPurchaseID is the automatic purchase a pause
	// authentication_required waits for the partner to authenticate; any
	// other is superseded (AwaitsAuthentication).
	AwaitingPurchaseID string
}

// RefillPhase is where the current automatic purchase is.
type RefillPhase string

const (
	RefillIdle     RefillPhase = ""
	RefillInFlight RefillPhase = "in_flight"
	// RefillFailed waits for NextAttemptAt before the sweep retries.
	RefillFailed RefillPhase = "failed"
)

// RefillState tracks the automatic purchase in flight and the counters the
// plan's limits need.
type RefillState struct {
	Phase         RefillPhase
	PurchaseID    string
	StartedAt     time.Time
	Failures      int // consecutive failed attempts
	NextAttemptAt time.Time
	Month         string // YYYY-MM of MonthCount
	MonthCount    int    // automatic purchases started in Month
}

// AwaitsAuthentication reports whether the plan waits for the partner to
// authenticate automatic purchase purchaseID on-session (paused
// authentication_required for that very purchase). Once it no longer does
// (a new card resumed it, the partner enabled it again or turned it off,
// a newer refill paused it), that purchase is superseded: paying it would
// be a second charge for one balance drop, so it is confirmed no more and
// canceled. A pause stored before the awaited purchase was recorded waits
// for whichever asks.
func (a Account) AwaitsAuthentication(purchaseID string) bool {
	ar := a.AutoRefill
	return ar.Status == AutoRefillPaused && ar.PausedReason == PausedAuthenticationRequired &&
		(ar.AwaitingPurchaseID == "" || ar.AwaitingPurchaseID == purchaseID)
}

// NeedsRefill reports whether the balance is used up for an active plan with
// nothing in flight: the moment to start an automatic purchase.
func (a Account) NeedsRefill() bool {
	return a.AutoRefill.Status == AutoRefillActive &&
		a.Refill.Phase == RefillIdle &&
		a.Units <= a.AutoRefill.Threshold
}

// SweepAt is when the scheduled sweep must look at this account, and whether
// it must at all: a refill due now, a failed refill's next attempt, or a
// refill in flight for longer than stuckAfter. Storage indexes exactly the
// accounts for which ok is true, so the sweep never reads the others.
func (a Account) SweepAt(stuckAfter time.Duration) (at time.Time, ok bool) {
	if a.AutoRefill.Status != AutoRefillActive {
		// A paused plan still has to finish reconciling a refill in flight.
		if a.Refill.Phase == RefillInFlight {
			return a.Refill.StartedAt.Add(stuckAfter), true
		}
		return time.Time{}, false
	}
	if a.Refill.Phase == RefillInFlight {
		return a.Refill.StartedAt.Add(stuckAfter), true
	}
	if a.Units > a.AutoRefill.Threshold {
		// Enough DSUs: nothing to do, even after a failed refill (the
		// balance recovered by a manual purchase); it is indexed again
		// when the balance falls.
		return time.Time{}, false
	}
	if a.Refill.Phase == RefillFailed {
		return a.Refill.NextAttemptAt, true
	}
	return a.UpdatedAt, true
}
