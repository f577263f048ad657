package dynamo_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// The refunds, the lost dispute's debit and claim, and the receipt of a
// purchase survive the round trip through the table.
func TestPurchaseKeepsItsRefundsAndReceipt(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	p := newPurchase(f, "p1", "pur_1")
	f.store.CreatePurchase(ctx, p, nil)
	next := succeeded(p, "pi_1", f.clock.Now())
	next.ReceiptURL = "https://pay.stripe.com/receipts/acct_1/ch_1/rcpt_1"
	next, _, _ = dsu.ApplyRefund(next, "re_1", 2500)
	next, _, _ = dsu.ApplyRefund(next, "re_2", 2500)
	rev, _ := dsu.ReverseRefund(next, "re_1", 2500)
	next, _ = dsu.LoseDispute(rev.Purchase, next.Amount.Amount) // capped by re_2
	if next.DisputeClaimedUnits == next.DisputeDebitedUnits {
		t.Fatalf("the dispute's claim %d is its debit: the round trip below proves nothing", next.DisputeClaimedUnits)
	}
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusPending}}); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.GetPurchase(ctx, "p1", "pur_1")
	if err != nil {
		t.Fatal(err)
	}
	if got.ReceiptURL != next.ReceiptURL || !reflect.DeepEqual(got.Refunds, next.Refunds) || got.RefundedAmount != 2500 || got.RefundedUnits != 500 ||
		got.DisputeDebitedUnits != next.DisputeDebitedUnits || got.DisputeClaimedUnits != next.DisputeClaimedUnits {
		t.Fatalf("stored %+v, want refunds %+v", got, next.Refunds)
	}
}

func newDuplicate(f *fixture) dsu.DuplicatePayment {
	now := f.clock.Now()
	return dsu.DuplicatePayment{PaymentIntentID: "pi_2", PartnerID: "p1", PurchaseID: "pur_1", PaidBy: "pi_1",
		Amount: dsu.Money{Amount: 5000, Currency: dsu.USD}, State: dsu.DuplicateRefunding, DetectedAt: now, ClaimedAt: now}
}

// Of concurrent attempts to refund one double charge exactly one claims it
// and exactly one records the outcome; a stale attempt is taken over, and
// the attempt taken over can no longer record anything.
func TestDuplicateClaimsAreExclusive(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if _, found, err := f.store.GetDuplicate(ctx, "pi_2"); found || err != nil {
		t.Fatalf("found %v, %v before any record", found, err)
	}
	d := newDuplicate(f)
	var claimed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			switch err := f.store.ClaimDuplicate(ctx, d, nil); {
			case err == nil:
				claimed.Add(1)
			case !errors.Is(err, dsu.ErrDuplicateClaimed):
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if claimed.Load() != 1 {
		t.Fatalf("%d claims, want 1", claimed.Load())
	}
	stored, found, err := f.store.GetDuplicate(ctx, "pi_2")
	if err != nil || !found || !reflect.DeepEqual(stored, d) {
		t.Fatalf("stored %+v, %v, %v; want %+v", stored, found, err, d)
	}

	// The attempt dies; a later one takes over once it is stale.
	f.clock.Advance(dsu.DuplicateClaimStaleAfter)
	if !stored.Stale(f.clock.Now()) {
		t.Fatal("not stale after DuplicateClaimStaleAfter")
	}
	takeover := stored
	takeover.ClaimedAt = f.clock.Now()
	if err := f.store.ClaimDuplicate(ctx, takeover, &stored); err != nil {
		t.Fatal(err)
	}
	if err := f.store.ClaimDuplicate(ctx, takeover, &stored); !errors.Is(err, dsu.ErrDuplicateClaimed) {
		t.Fatalf("second takeover of the same stale attempt: %v", err)
	}
	// The dead attempt wakes up: its outcome is refused.
	late := stored
	late.State, late.RefundID = dsu.DuplicateRefunded, "re_1"
	if err := f.store.FinishDuplicate(ctx, late, "evt_1"); !errors.Is(err, dsu.ErrDuplicateClaimed) {
		t.Fatalf("outcome of the attempt taken over: %v", err)
	}
	done := takeover
	done.State, done.RefundID = dsu.DuplicateRefunded, "re_1"
	if err := f.store.FinishDuplicate(ctx, done, "evt_1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.store.EventProcessed(ctx, "evt_1"); !ok {
		t.Fatal("the event was not recorded with the outcome")
	}
	if err := f.store.FinishDuplicate(ctx, done, "evt_2"); !errors.Is(err, dsu.ErrDuplicateClaimed) {
		t.Fatalf("outcome recorded twice: %v", err)
	}
	if got, _, _ := f.store.GetDuplicate(ctx, "pi_2"); got.State != dsu.DuplicateRefunded || got.RefundID != "re_1" || got.Stale(f.clock.Now().Add(time.Hour)) {
		t.Fatalf("final record %+v", got)
	}
}
