package dsu

import (
	"fmt"
	"time"
)

// EntryType says why a partner's balance changed.
type EntryType string

const (
	EntryGrant      EntryType = "grant"
	EntryPurchase   EntryType = "purchase" // a manual purchase credited
	EntryRefill     EntryType = "refill"   // an automatic purchase credited
	EntryUsage      EntryType = "usage"
	EntryRefund     EntryType = "refund"
	EntryDispute    EntryType = "dispute"
	EntryAdjustment EntryType = "adjustment"
)

// Valid reports whether t is one of the ledger's entry types.
func (t EntryType) Valid() bool {
	switch t {
	case EntryGrant, EntryPurchase, EntryRefill, EntryUsage, EntryRefund, EntryDispute, EntryAdjustment:
		return true
	}
	return false
}

// References identify the business event behind an entry. A reference is
// applied at most once per partner; applying it again returns the first
// result (§4).
func PurchaseRef(purchaseID string) string { return "purchase:" + purchaseID }
func UsageRef(partnerID, tenantID, date string) string {
	return "usage:" + partnerID + ":" + tenantID + ":" + date
}
func RefundRef(refundID string) string   { return "refund:" + refundID }
func DisputeRef(disputeID string) string { return "dispute:" + disputeID }

// WelcomeGrantRef is the reference of the one-time grant of §1.
const WelcomeGrantRef = "grant:welcome"

// MaxReferenceLength bounds references so they fit comfortably in a key.
const MaxReferenceLength = 512

// LedgerChange is a request to move a partner's balance.
type LedgerChange struct {
	PartnerID string
	Type      EntryType
	Units     Units // signed: credits positive, debits negative
	Reference string
}

// Validate checks the change before it reaches storage.
func (c LedgerChange) Validate() error {
	if err := ValidatePartnerID(c.PartnerID); err != nil {
		return err
	}
	if !c.Type.Valid() {
		return fmt.Errorf("ledger: unknown entry type %q", c.Type)
	}
	if c.Reference == "" || len(c.Reference) > MaxReferenceLength {
		return fmt.Errorf("ledger: reference must be 1-%d bytes", MaxReferenceLength)
	}
	return nil
}

// Entry is one immutable line of a partner's ledger. Seq numbers a partner's
// entries 1, 2, 3, ... with no gaps; Seq equals the balance version it made.
type Entry struct {
	ID           string
	PartnerID    string
	Seq          int64
	Type         EntryType
	Units        Units
	BalanceAfter Units
	Reference    string
	CreatedAt    time.Time
}

// CheckInvariant verifies balance = Σ entries and that every entry's
// balanceAfter is the running sum (§4). entries must be in Seq order.
func CheckInvariant(balance Units, entries []Entry) error {
	var sum Units
	for i, e := range entries {
		sum += e.Units
		if e.Seq != int64(i+1) {
			return fmt.Errorf("ledger: entry %d has seq %d", i+1, e.Seq)
		}
		if e.BalanceAfter != sum {
			return fmt.Errorf("ledger: entry %d (%s) balanceAfter %d, running sum %d", e.Seq, e.Reference, e.BalanceAfter, sum)
		}
	}
	if sum != balance {
		return fmt.Errorf("ledger: balance %d but entries sum to %d", balance, sum)
	}
	return nil
}
