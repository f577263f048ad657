package dsu

import (
	"fmt"
	"strconv"
	"strings"
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

// EntryRefundReversal gives back what a refund debited once Stripe reports
// that refund failed or canceled.
const EntryRefundReversal EntryType = "refund_reversal"

// Valid reports whether t is one of the ledger's entry types.
func (t EntryType) Valid() bool {
	switch t {
	case EntryGrant, EntryPurchase, EntryRefill, EntryUsage, EntryRefund, EntryRefundReversal, EntryDispute, EntryAdjustment:
		return true
	}
	return false
}

// References identify the business event behind an entry. A reference is
// applied at most once per partner; applying it again returns the first
// result (RULES.md, "References").
func PurchaseRef(purchaseID string) string { return "purchase:" + purchaseID }
func RefundRef(refundID string) string     { return "refund:" + refundID }
func DisputeRef(disputeID string) string   { return "dispute:" + disputeID }

// RefundReversalRef is the reference of the entry that gives back what a
// failed or canceled refund debited.
func RefundReversalRef(refundID string) string { return "refund_reversal:" + refundID }

// UsageRef is the reference of a usage entry: the records of one partner
// and date written in one transaction, numbered by the entry's own ledger
// sequence number. It is unique by construction, so it needs no guard: each
// record's usage item is its own exactly-once guard.
func UsageRef(partnerID, date string, seq int64) string {
	return "usage:" + partnerID + ":" + date + ":" + strconv.FormatInt(seq, 10)
}

// WelcomeGrantRef is the reference of the one-time welcome grant.
const WelcomeGrantRef = "grant:welcome"

// MaxReferenceLength bounds references so they fit comfortably in a key.
const MaxReferenceLength = 512

// LedgerChange is a request to move a partner's balance.
type LedgerChange struct {
	PartnerID string
	Type      EntryType
	Units     Units // signed: credits positive, debits negative
	Reference string
	// Description is the entry's line on a statement, a short sentence.
	Description string
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
	if len(c.Description) > MaxDescriptionLength {
		return fmt.Errorf("ledger: description longer than %d bytes", MaxDescriptionLength)
	}
	return nil
}

// MaxDescriptionLength bounds an entry's description.
const MaxDescriptionLength = 500

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
	Description  string
	CreatedAt    time.Time
}

// CheckInvariant verifies balance = Σ entries and that every entry's
// balanceAfter is the running sum (RULES.md, "The invariant"). entries must be in Seq order.
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

// Descriptions of ledger entries: the sentence a statement shows for each.

// Summary is the entry's description; entries written before descriptions
// existed get one built from their type and reference.
func (e Entry) Summary() string {
	if e.Description != "" {
		return e.Description
	}
	name := string(e.Type)
	if name != "" {
		name = strings.ToUpper(name[:1]) + strings.ReplaceAll(name[1:], "_", " ")
	}
	return name + " " + e.Reference
}

// GrantDescription describes the welcome grant.
func GrantDescription(units Units) string {
	return "Welcome grant of " + FormatUnits(units) + " DSUs"
}

// PurchaseDescription describes the credit of a purchase: "Purchase pur_…
// (2 × 5,000 DSUs)", or "Automatic purchase …" for the automated plan.
func PurchaseDescription(p Purchase) string {
	lines := make([]string, 0, len(p.Items))
	for _, l := range p.Items {
		lines = append(lines, FormatUnits(l.Quantity)+" × "+l.Name)
	}
	what := "Purchase "
	if p.Kind == KindAutoRefill {
		what = "Automatic purchase "
	}
	d := what + p.ID
	if len(lines) > 0 {
		d += " (" + strings.Join(lines, ", ") + ")"
	}
	return d
}

// UsageDescription describes a usage entry: "Usage on 2026-11-20 across 49
// tenants".
func UsageDescription(date string, tenants int) string {
	noun := "tenants"
	if tenants == 1 {
		noun = "tenant"
	}
	return "Usage on " + date + " across " + FormatUnits(int64(tenants)) + " " + noun
}

// RefundDescription describes the debit of a refund.
func RefundDescription(refundID, purchaseID string) string {
	return "Refund " + refundID + " of " + purchaseID
}

// RefundReversalDescription describes the credit of a refund that failed
// or was canceled.
func RefundReversalDescription(refundID, purchaseID string) string {
	return "Refund " + refundID + " of " + purchaseID + " did not go through; DSUs returned"
}

// RefundReversalKeptDescription describes the entry of a refund that
// failed or was canceled when a lost dispute returned the money its DSUs
// stood for: kept of what it debited stay debited, returned come back.
func RefundReversalKeptDescription(refundID, purchaseID string, returned, kept Units) string {
	if kept <= 0 {
		return RefundReversalDescription(refundID, purchaseID)
	}
	d := "Refund " + refundID + " of " + purchaseID + " did not go through; "
	if returned <= 0 {
		return d + "its DSUs stay debited, as a lost dispute returned the money"
	}
	return d + FormatUnits(returned) + " DSUs returned, " + FormatUnits(kept) + " stay debited, as a lost dispute returned the money"
}

// DisputeDescription describes the debit of a lost dispute.
func DisputeDescription(disputeID, purchaseID string) string {
	return "Dispute " + disputeID + " lost on " + purchaseID
}

// FormatUnits writes a whole number with thousands separators: 12,500.
func FormatUnits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
