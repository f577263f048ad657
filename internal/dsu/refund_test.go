package dsu

import (
	"fmt"
	"slices"
	"testing"
)

// paidPurchase is 3,000 DSUs for 150.00.
func paidPurchase() Purchase {
	return Purchase{ID: "pur_1", Status: StatusSucceeded, Units: 3000, Amount: Money{Amount: 15000, Currency: USD}}
}

func TestApplyRefundDebitsTheRefundedShareOnce(t *testing.T) {
	p := paidPurchase()
	next, debit, ok := ApplyRefund(p, "re_1", 5001) // 1000.2 DSUs, rounded up
	if !ok || debit != 1001 || next.Status != StatusPartiallyRefunded || next.RefundedAmount != 5001 || next.RefundedUnits != 1001 {
		t.Fatalf("first refund: %+v debit %d ok %v", next, debit, ok)
	}
	if len(p.Refunds) != 0 {
		t.Fatal("ApplyRefund changed the purchase it was given")
	}
	if _, _, ok := ApplyRefund(next, "re_1", 5001); ok {
		t.Fatal("the same refund applied twice")
	}
	// The rest: cumulative, so the rounding never debits more than the units.
	last, debit, ok := ApplyRefund(next, "re_2", 9999)
	if !ok || debit != 1999 || last.Status != StatusRefunded || last.RefundedUnits != 3000 {
		t.Fatalf("second refund: %+v debit %d", last, debit)
	}
	if _, _, ok := ApplyRefund(last, "re_3", 1); ok {
		t.Fatal("a purchase refunded in full took another refund")
	}
}

func TestApplyRefundNeverTakesMoreThanThePartnerHolds(t *testing.T) {
	p := paidPurchase()
	p.Status, p.DisputeDebitedUnits = StatusDisputed, 3000 // a lost dispute took everything
	next, debit, ok := ApplyRefund(p, "re_1", 15000)
	if !ok || debit != 0 || next.Status != StatusDisputed {
		t.Fatalf("%+v debit %d ok %v; a disputed purchase stays disputed and owes nothing more", next, debit, ok)
	}
}

func TestReverseRefundGivesBackExactlyWhatItDebited(t *testing.T) {
	p := paidPurchase()
	afterA, debitA, _ := ApplyRefund(p, "re_a", 5001)
	afterB, debitB, _ := ApplyRefund(afterA, "re_b", 9999)

	rev, ok := ReverseRefund(afterB, "re_a", 5001)
	if !ok || !rev.Debited || rev.Units != debitA {
		t.Fatalf("reversal of re_a: %+v ok %v; want %d DSUs back", rev, ok, debitA)
	}
	got := rev.Purchase
	if got.Status != StatusPartiallyRefunded || got.RefundedAmount != 9999 || got.RefundedUnits != debitB {
		t.Fatalf("after re_a failed: %+v", got)
	}
	if r, _ := got.Refund("re_a"); r.State != RefundReversed {
		t.Fatalf("re_a recorded as %s", r.State)
	}
	if _, ok := ReverseRefund(got, "re_a", 5001); ok {
		t.Fatal("a refund reversed twice")
	}
	if _, _, ok := ApplyRefund(got, "re_a", 5001); ok {
		t.Fatal("a late pending report debited a reversed refund again")
	}
	rev, ok = ReverseRefund(got, "re_b", 9999)
	if !ok || rev.Units != debitB || rev.Purchase.Status != StatusSucceeded || rev.Purchase.RefundedAmount != 0 || rev.Purchase.RefundedUnits != 0 {
		t.Fatalf("after both failed: %+v", rev)
	}
}

func TestAFailedRefundNeverDebitedCreditsNothing(t *testing.T) {
	p := paidPurchase()
	rev, ok := ReverseRefund(p, "re_1", 15000)
	if !ok || rev.Debited || rev.Units != 0 || rev.Purchase.Status != StatusSucceeded || rev.Purchase.RefundedAmount != 0 {
		t.Fatalf("%+v ok %v", rev, ok)
	}
	if r, _ := rev.Purchase.Refund("re_1"); r.State != RefundVoided {
		t.Fatalf("recorded as %s", r.State)
	}
	if _, _, ok := ApplyRefund(rev.Purchase, "re_1", 15000); ok {
		t.Fatal("a late pending report of a failed refund debited it")
	}
	if _, ok := ReverseRefund(rev.Purchase, "re_1", 15000); ok {
		t.Fatal("a voided refund recorded twice")
	}
}

// A purchase refunded in full stays refunded when its dispute is lost; if
// that refund then fails, the dispute took its money and units: it reads
// disputed, not succeeded.
func TestFullRefundFailingAfterALostDisputeReadsDisputed(t *testing.T) {
	p := paidPurchase()
	p, _, _ = ApplyRefund(p, "re_1", p.Amount.Amount)
	if p.Status != StatusRefunded {
		t.Fatalf("%+v", p)
	}
	p, _ = LoseDispute(p, p.Amount.Amount)
	rev, ok := ReverseRefund(p, "re_1", p.Amount.Amount)
	if !ok || rev.Units != 0 || rev.Purchase.Status != StatusDisputed || rev.Purchase.CreditedUnits() != 0 {
		t.Fatalf("%+v: status %s, %d DSUs credited", rev, rev.Purchase.Status, rev.Purchase.CreditedUnits())
	}
}

func TestReversalOfADisputedPurchaseKeepsItDisputed(t *testing.T) {
	p := paidPurchase()
	p.Status = StatusDisputed
	after, debit, _ := ApplyRefund(p, "re_1", 7500)
	rev, _ := ReverseRefund(after, "re_1", 7500)
	if rev.Units != debit || rev.Purchase.Status != StatusDisputed {
		t.Fatalf("%+v", rev)
	}
}

// TestReversals checks every ordered pair of statuses against the one
// backward move of the state machine.
func TestReversals(t *testing.T) {
	allowed := map[[2]PurchaseStatus]bool{
		{StatusRefunded, StatusPartiallyRefunded}:  true,
		{StatusRefunded, StatusSucceeded}:          true,
		{StatusPartiallyRefunded, StatusSucceeded}: true,
		// A lost dispute claims what the failed refund no longer does.
		{StatusRefunded, StatusDisputed}:          true,
		{StatusPartiallyRefunded, StatusDisputed}: true,
	}
	for _, from := range PurchaseStatuses {
		for _, to := range PurchaseStatuses {
			if got, want := CanReverse(from, to), allowed[[2]PurchaseStatus{from, to}]; got != want {
				t.Errorf("CanReverse(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
	}
	// Every reversal ReverseRefund makes is one of them.
	for _, amounts := range [][]int64{{15000}, {5000}, {5000, 10000}, {1, 14999}} {
		p := paidPurchase()
		var ids []string
		for i, a := range amounts {
			id := fmt.Sprintf("re_%d", i)
			p, _, _ = ApplyRefund(p, id, a)
			ids = append(ids, id)
		}
		for i, id := range ids {
			rev, _ := ReverseRefund(p, id, amounts[i])
			if rev.Purchase.Status != p.Status && !CanReverse(p.Status, rev.Purchase.Status) {
				t.Errorf("%v: reversing %s moved %s → %s", amounts, id, p.Status, rev.Purchase.Status)
			}
			p = rev.Purchase
		}
		if p.Status != StatusSucceeded || p.RefundedUnits != 0 {
			t.Errorf("%v: all refunds failed, purchase %+v", amounts, p)
		}
	}
}

func TestDisputeUnits(t *testing.T) {
	p := paidPurchase()
	for _, c := range []struct {
		name     string
		p        Purchase
		disputed int64
		want     Units
	}{
		{"whole charge", p, 15000, 3000},
		{"a third and a cent, rounded up", p, 5001, 1001},
		{"nothing disputed", p, 0, 0},
		{"more than the charge", p, 20000, 3000},
		{"capped by what a refund left", func() Purchase { q, _, _ := ApplyRefund(p, "re_1", 10000); return q }(), 15000, 1000},
	} {
		if got := DisputeUnits(c.p, c.disputed); got != c.want {
			t.Errorf("%s: %d, want %d", c.name, got, c.want)
		}
	}
}

// moneyEvent is one report about a purchase's money, as Stripe sends them:
// a refund reported pending, a refund reported failed, a dispute lost.
type moneyEvent struct {
	kind   string // "refund", "fail" or "lose"
	id     string // the refund's
	amount int64
}

func (e moneyEvent) String() string {
	if e.kind == "fail" {
		return "fail " + e.id
	}
	return fmt.Sprintf("%s %s %d", e.kind, e.id, e.amount)
}

// applyMoneyEvents runs events against p as the webhooks do and returns the
// purchase and the DSUs the partner holds of it (what its ledger entries
// add up to), checking after every step that the purchase's record of
// what it took agrees with them.
func applyMoneyEvents(t *testing.T, p Purchase, events []moneyEvent) (Purchase, Units) {
	t.Helper()
	held := p.Units
	for _, e := range events {
		switch e.kind {
		case "refund":
			next, debit, ok := ApplyRefund(p, e.id, e.amount)
			if ok {
				p, held = next, held-debit
			}
		case "fail":
			rec, _ := p.Refund(e.id)
			if rev, ok := ReverseRefund(p, e.id, rec.Amount); ok {
				if rev.Units < 0 || rev.Kept < 0 || rev.Units+rev.Kept < rec.Units && rev.Debited {
					t.Fatalf("%v: reversal of %s gave back %d and kept %d of %d", events, e.id, rev.Units, rev.Kept, rec.Units)
				}
				p, held = rev.Purchase, held+rev.Units
			}
		case "lose":
			var debit Units
			p, debit = LoseDispute(p, e.amount)
			p.Status = StatusDisputed
			held -= debit
		}
		if held < 0 || held > p.Units || held != p.CreditedUnits() {
			t.Fatalf("%v: after %v the partner holds %d, the purchase says %d (%+v)", events, e, held, p.CreditedUnits(), p)
		}
	}
	return p, held
}

// moneyKept is what a purchase's money still held by us buys once events
// ran in that order: a refund is in force when it was reported pending
// before any report of it failed.
func moneyKept(p Purchase, events []moneyEvent) int64 {
	kept := p.Amount.Amount
	state := map[string]string{}
	amounts := map[string]int64{}
	for _, e := range events {
		switch e.kind {
		case "refund":
			amounts[e.id] = e.amount
			if state[e.id] == "" {
				state[e.id] = "pending"
			}
		case "fail":
			if state[e.id] == "pending" {
				state[e.id] = "reversed"
			} else if state[e.id] == "" {
				state[e.id] = "voided"
			}
		case "lose":
			kept -= e.amount
		}
	}
	for id, s := range state {
		if s == "pending" {
			kept -= amounts[id]
		}
	}
	return max(kept, 0)
}

// permutations calls f with every order of events.
func permutations(events []moneyEvent, f func([]moneyEvent)) {
	var rec func(k int)
	rec = func(k int) {
		if k == len(events) {
			f(slices.Clone(events))
			return
		}
		for i := k; i < len(events); i++ {
			events[k], events[i] = events[i], events[k]
			rec(k + 1)
			events[k], events[i] = events[i], events[k]
		}
	}
	rec(0)
}

// Refunds that fail and disputes that are lost, in every order Stripe may
// report them: the partner always ends with exactly the units the money
// still held by us buys, never the units of money a lost dispute returned
// (a dispute's debit is capped by the refunds in force when it is lost, so
// a refund failing afterwards must not give those back). The amounts are
// whole DSUs (5 cents each), so no rounding blurs the comparison.
func TestEveryOrderOfRefundsAndLostDisputesLeavesTheUnitsTheMoneyBuys(t *testing.T) {
	p := Purchase{ID: "pur_1", Status: StatusSucceeded, Units: 2000, Amount: Money{Amount: 10000, Currency: USD}}
	refund := func(id string, amount int64) moneyEvent { return moneyEvent{"refund", id, amount} }
	fail := func(id string) moneyEvent { return moneyEvent{kind: "fail", id: id} }
	lose := func(amount int64) moneyEvent { return moneyEvent{kind: "lose", amount: amount} }
	for _, c := range []struct {
		name   string
		events []moneyEvent // in the order of the case's name; every other order is checked too
		want   Units
	}{
		{"half refunded, whole charge disputed and lost, refund fails", []moneyEvent{refund("re_a", 5000), lose(10000), fail("re_a")}, 0},
		{"half refunded, half disputed and lost, refund fails", []moneyEvent{refund("re_a", 5000), lose(5000), fail("re_a")}, 1000},
		{"three quarters refunded, half disputed and lost, refund fails", []moneyEvent{refund("re_a", 7500), lose(5000), fail("re_a")}, 1000},
		{"a quarter refunded, a quarter disputed and lost, refund fails", []moneyEvent{refund("re_a", 2500), lose(2500), fail("re_a")}, 1500},
		{"refunded in full, whole charge disputed and lost, refund fails", []moneyEvent{refund("re_a", 10000), lose(10000), fail("re_a")}, 0},
		{"two refunds, whole charge disputed and lost, both fail", []moneyEvent{refund("re_a", 2500), refund("re_b", 2500), lose(10000), fail("re_a"), fail("re_b")}, 0},
		{"half refunded, half disputed and lost, half refunded again, the first refund fails",
			[]moneyEvent{refund("re_a", 5000), lose(5000), refund("re_b", 5000), fail("re_a")}, 0},
		{"two refunds, a quarter disputed and lost, one refund fails",
			[]moneyEvent{refund("re_a", 5000), refund("re_b", 2500), lose(2500), fail("re_b")}, 500},
		{"two refunds, a quarter disputed and lost, both fail",
			[]moneyEvent{refund("re_a", 2500), refund("re_b", 2500), lose(2500), fail("re_a"), fail("re_b")}, 1500},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, _ := applyMoneyEvents(t, p, c.events); got.CreditedUnits() != c.want {
				t.Fatalf("the partner holds %d, want %d", got.CreditedUnits(), c.want)
			}
			permutations(c.events, func(order []moneyEvent) {
				_, held := applyMoneyEvents(t, p, order)
				if want := p.Units * moneyKept(p, order) / p.Amount.Amount; held != want {
					t.Errorf("%v: the partner holds %d DSUs, the money kept buys %d", order, held, want)
				}
			})
		})
	}
}

// Without a lost dispute a failed refund gives back exactly what it
// debited, rounding included; with one, what the claims left in force free
// again, rounded in our favour like every debit.
func TestReverseRefundAfterALostDisputeRounds(t *testing.T) {
	p := paidPurchase()                    // 3,000 DSUs for 150.00
	p, _, _ = ApplyRefund(p, "re_1", 5001) // 1,001 DSUs
	p, debit := LoseDispute(p, 5001)       // its own 1,001
	if debit != 1001 || p.DisputeClaimedUnits != 1001 {
		t.Fatalf("dispute debited %d, claims %d", debit, p.DisputeClaimedUnits)
	}
	rev, _ := ReverseRefund(p, "re_1", 5001)
	if rev.Units != 1001 || rev.Kept != 0 || rev.Purchase.CreditedUnits() != 1999 || rev.Purchase.RefundedUnits != 0 || rev.Purchase.DisputeDebitedUnits != 1001 {
		t.Fatalf("%+v", rev)
	}
}

// A purchase stored before disputes recorded their claim counts the
// dispute's debit as its claim: its refunds fail as they used to.
func TestReverseRefundOfAPurchaseStoredBeforeClaims(t *testing.T) {
	p := paidPurchase()
	p, _, _ = ApplyRefund(p, "re_1", 5000) // 1,000 DSUs
	p.Status, p.DisputeDebitedUnits = StatusDisputed, 500
	p.Refunds[0].Claim = 0
	rev, ok := ReverseRefund(p, "re_1", 5000)
	if !ok || rev.Units != 1000 || rev.Purchase.CreditedUnits() != 2500 || rev.Purchase.DisputeDebitedUnits != 500 {
		t.Fatalf("%+v", rev)
	}
}
