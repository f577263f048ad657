package dsu

import "slices"

// Refunds and their reversals (RULES.md, "Refunds"). Stripe reports a
// refund pending or succeeded, and it may later report the same refund
// failed or canceled. The purchase keeps a record per refund id, so each
// refund is debited once, a failed one gives back exactly what it debited,
// and a refund that failed before it was ever debited is never debited by a
// late report of it. Storage writes every change under the purchase's
// version, so the records are always decided on what is stored.
//
// Refunds in force and lost disputes each claim a share of the units (the
// refunded or disputed share, rounded up). What the partner holds of a paid
// purchase is always its units less all those claims, floored at 0: a
// refund or dispute debits its claim as far as the partner still holds
// units, and a refund that fails gives back only what the claims left in
// force make free again (RULES.md, "Refunds, disputes and the money kept").

// RefundState is where one refund is, as this system applied it.
type RefundState string

const (
	// RefundDebited: Stripe reported it pending or succeeded and its share
	// of the units was debited.
	RefundDebited RefundState = "debited"
	// RefundReversed: it was debited, then Stripe reported it failed or
	// canceled and the debited units came back.
	RefundReversed RefundState = "reversed"
	// RefundVoided: Stripe reported it failed or canceled before it was
	// ever debited; nothing moved, and nothing ever will for it.
	RefundVoided RefundState = "voided"
)

// RefundRecord is one refund of a purchase.
type RefundRecord struct {
	ID     string
	Amount int64 // in the purchase's currency
	Units  Units // debited for it (0 for a voided refund)
	// Claim is its share of the units, uncapped: more than Units when a
	// lost dispute had taken the units already.
	Claim Units
	State RefundState
}

// claim is the record's share of the units; a record stored before claims
// were recorded claimed what it debited.
func (r RefundRecord) claim() Units { return max(r.Claim, r.Units) }

// refundClaim is what the refunds in force claim of the units.
func (p Purchase) refundClaim() Units {
	var c Units
	for _, r := range p.Refunds {
		if r.State == RefundDebited {
			c += r.claim()
		}
	}
	return c
}

// disputeClaim is what lost disputes claim of the units; a purchase stored
// before claims were recorded claimed what its disputes debited.
func (p Purchase) disputeClaim() Units {
	return max(p.DisputeClaimedUnits, p.DisputeDebitedUnits)
}

// Refund returns the record of a refund id, if the purchase has one.
func (p Purchase) Refund(refundID string) (RefundRecord, bool) {
	i := slices.IndexFunc(p.Refunds, func(r RefundRecord) bool { return r.ID == refundID })
	if i < 0 {
		return RefundRecord{}, false
	}
	return p.Refunds[i], true
}

// ApplyRefund is the purchase after refund refundID of amount, and the DSUs
// to debit for it: its claim is the refunded share of the units, cumulative
// over the refunds in force and rounded up (all of them for a full
// refund), and it debits its claim, never more than the partner still
// holds of the purchase (a lost dispute may have taken them already). A
// disputed purchase stays disputed. ok is false when there is nothing to
// do: the refund is known already (debited, reversed or voided), or the
// purchase was refunded in full.
func ApplyRefund(p Purchase, refundID string, amount int64) (next Purchase, debit Units, ok bool) {
	if _, known := p.Refund(refundID); known || p.Status == StatusRefunded {
		return p, 0, false
	}
	next = p
	next.Refunds = slices.Clone(p.Refunds)
	next.RefundedAmount = p.RefundedAmount + amount
	claim := max(RefundUnits(p, next.RefundedAmount)-p.refundClaim(), 0)
	debit = min(claim, p.CreditedUnits())
	next.RefundedUnits = p.RefundedUnits + debit
	next.Refunds = append(next.Refunds, RefundRecord{ID: refundID, Amount: amount, Units: debit, Claim: claim, State: RefundDebited})
	if p.Status != StatusDisputed {
		next.Status = StatusPartiallyRefunded
		if next.RefundedAmount >= p.Amount.Amount {
			next.Status = StatusRefunded
		}
	}
	return next, debit, true
}

// RefundUnits is the DSUs a purchase owes back once refundedAmount of its
// amount is refunded: the refunded share of its units, rounded up, and all
// of them for a full refund (RULES.md, "Refunds").
func RefundUnits(p Purchase, refundedAmount int64) Units {
	if p.Amount.Amount <= 0 || refundedAmount >= p.Amount.Amount {
		return p.Units
	}
	if refundedAmount <= 0 {
		return 0
	}
	// ceil(units × refunded / amount) without floats; a purchase's units
	// (≤ 10^8) times its amount (≤ 4·10^8) stay far from overflow.
	return (p.Units*refundedAmount + p.Amount.Amount - 1) / p.Amount.Amount
}

// RefundReversal is what a failed or canceled refund does to its purchase.
type RefundReversal struct {
	// Purchase is the purchase afterwards.
	Purchase Purchase
	// Debited says the refund had been debited: Units come back, under the
	// reference RefundReversalRef. Otherwise nothing moves and the refund
	// is only recorded as voided.
	Debited bool
	Units   Units
	// Kept is what the refund debited that does not come back: a lost
	// dispute and the refunds still in force claim it.
	Kept Units
}

// ReverseRefund is the purchase after Stripe reported refund refundID
// failed or canceled. A debited refund's claim leaves the claims in force,
// and the partner gets back what that frees: exactly what the refund
// debited, unless a lost dispute claims some of it (its debit was capped
// by the refunds in force when it was lost, or it capped theirs): then
// only what the purchase's money still held by us justifies, which may be
// nothing. Its amount leaves the refunded amount, the status follows (the
// one backward move of the state machine: CanReverse), and the units the
// claims in force take are told apart again: lost disputes' first, then
// refunds'. A refund never debited is recorded as voided, so a late report
// of it pending debits nothing. ok is false when its failure was recorded
// before.
func ReverseRefund(p Purchase, refundID string, amount int64) (RefundReversal, bool) {
	rec, known := p.Refund(refundID)
	if known && rec.State != RefundDebited {
		return RefundReversal{Purchase: p}, false
	}
	next := p
	next.Refunds = slices.Clone(p.Refunds)
	if !known {
		next.Refunds = append(next.Refunds, RefundRecord{ID: refundID, Amount: amount, State: RefundVoided})
		return RefundReversal{Purchase: next}, true
	}
	i := slices.IndexFunc(next.Refunds, func(r RefundRecord) bool { return r.ID == refundID })
	next.Refunds[i].State = RefundReversed
	next.RefundedAmount = max(p.RefundedAmount-rec.Amount, 0)
	next.Status = statusAfterRefunds(next)
	held := p.CreditedUnits()
	if p.disputeClaim() == 0 {
		// Nothing but refunds ever debited it: exactly what it debited.
		next.RefundedUnits = max(p.RefundedUnits-rec.Units, 0)
		return RefundReversal{Purchase: next, Debited: true, Units: rec.Units}, true
	}
	taken := min(next.refundClaim()+next.disputeClaim(), p.Units)
	next.DisputeDebitedUnits = min(next.disputeClaim(), p.Units)
	next.RefundedUnits = taken - next.DisputeDebitedUnits
	back := max(next.CreditedUnits()-held, 0)
	return RefundReversal{Purchase: next, Debited: true, Units: back, Kept: max(rec.Units-back, 0)}, true
}

// statusAfterRefunds is a paid purchase's status for the refunds in force:
// a disputed purchase stays disputed.
func statusAfterRefunds(p Purchase) PurchaseStatus {
	switch {
	case p.Status == StatusDisputed, p.disputeClaim() > 0:
		// A lost dispute of a purchase refunded in full left it refunded;
		// without that refund, the dispute is what took its money.
		return StatusDisputed
	case p.RefundedAmount <= 0:
		return StatusSucceeded
	case p.RefundedAmount < p.Amount.Amount:
		return StatusPartiallyRefunded
	}
	return StatusRefunded
}

// reversals are the only moves back of the state machine: a refund that
// Stripe reports failed or canceled takes the purchase back to what the
// refunds still in force make it, or to disputed when a lost dispute
// claims it. Nothing else moves a purchase back.
var reversals = map[PurchaseStatus][]PurchaseStatus{
	StatusRefunded:          {StatusPartiallyRefunded, StatusSucceeded, StatusDisputed},
	StatusPartiallyRefunded: {StatusSucceeded, StatusDisputed},
}

// CanReverse reports whether a failed or canceled refund may move a
// purchase from one status back to another.
func CanReverse(from, to PurchaseStatus) bool {
	return slices.Contains(reversals[from], to)
}

// DisputeUnits is the DSUs a lost dispute of amount debits: the disputed
// share of the purchase's units, rounded up like refunds, never more than
// the partner still holds of the purchase (RULES.md, "Disputes and the
// dispute hold").
func DisputeUnits(p Purchase, amount int64) Units {
	return min(RefundUnits(p, amount), p.CreditedUnits())
}

// LoseDispute is the purchase after a dispute of amount (in the purchase's
// currency) was lost, and the DSUs to debit for it (DisputeUnits). The
// purchase records the dispute's whole claim as well as its debit, so a
// refund in force now that fails later gives back only what the claim
// leaves (ReverseRefund). The caller records each dispute once.
func LoseDispute(p Purchase, amount int64) (next Purchase, debit Units) {
	next = p
	debit = DisputeUnits(p, amount)
	next.DisputeClaimedUnits = p.disputeClaim() + RefundUnits(p, amount)
	next.DisputeDebitedUnits = p.DisputeDebitedUnits + debit
	return next, debit
}
