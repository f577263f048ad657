package dsu

import (
	"fmt"
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
