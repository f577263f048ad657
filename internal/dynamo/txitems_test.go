package dynamo_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
)

// Every failure a caller can see from a cancelled transaction, checked once
// with the transactions as the store builds them and once with an unrelated
// item in front of each: a failed condition belongs to its item, never to a
// position, so the answers must not change.
func TestTransactionFailuresBelongToTheirItems(t *testing.T) {
	for _, layout := range []string{"as built", "unrelated item first"} {
		t.Run(layout, func(t *testing.T) {
			f := newFixture(t)
			if layout != "as built" {
				dynamo.LeadWithUnrelatedItem(f.store)
			}
			ctx := context.Background()
			f.createPartner(t, "p1", 2000)

			// The partner exists.
			again := dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.USD}, f.clock.Now())
			if _, err := f.store.CreatePartner(ctx, again, 2000); dsu.ErrorKind(err) != dsu.KindConflict {
				t.Errorf("partner created twice: %v, want conflict", err)
			}

			// A reference applied before: the first entry, nothing written.
			ref := dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryAdjustment, Units: 5, Reference: "adjustment:k1"}
			first, applied, err := f.store.ApplyLedger(ctx, ref)
			if err != nil || !applied {
				t.Fatalf("first application: %v %v", applied, err)
			}
			second, applied, err := f.store.ApplyLedger(ctx, ref)
			if err != nil || applied || second.ID != first.ID {
				t.Errorf("second application: %+v applied=%v %v, want the first entry %s", second, applied, err, first.ID)
			}

			// The key is taken; the currency is no longer the purchase's.
			claim := dsu.IdempotencyClaim{PartnerID: "p1", Key: "k1", Fingerprint: "fp", ResourceID: "pur_1", StartedAt: f.clock.Now()}
			p := newPurchase(f, "p1", "pur_1")
			if err := f.store.CreatePurchase(ctx, p, &claim); err != nil {
				t.Fatal(err)
			}
			if err := f.store.CreatePurchase(ctx, newPurchase(f, "p1", "pur_2"), &claim); !errors.Is(err, dsu.ErrIdempotencyKeyTaken) {
				t.Errorf("key reused: %v, want ErrIdempotencyKeyTaken", err)
			}
			eur := newPurchase(f, "p1", "pur_3")
			eur.Amount.Currency = dsu.EUR
			if err := f.store.CreatePurchase(ctx, eur, nil); dsu.ErrorKind(err) != dsu.KindConflict {
				t.Errorf("currency changed: %v, want conflict", err)
			}

			// Purchase updates: each condition with its own answer, with
			// and without a ledger entry in the same transaction.
			p, _ = f.store.GetPurchase(ctx, "p1", "pur_1")
			pending := p
			pending.Status, pending.PaymentIntentID = dsu.StatusRequiresAction, "pi_1"
			if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: pending, From: []dsu.PurchaseStatus{dsu.StatusPending},
				LinkPaymentIntent: true, EventID: "evt_1"}); err != nil {
				t.Fatal(err)
			}
			stale := succeeded(p, "pi_1", f.clock.Now()) // built from version 1, stored is 2
			credit := &dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryPurchase, Units: p.Units, Reference: dsu.PurchaseRef(p.ID)}
			for _, ledger := range []*dsu.LedgerChange{nil, credit} {
				if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: stale, From: []dsu.PurchaseStatus{dsu.StatusRequiresAction}, Ledger: ledger}); !errors.Is(err, dsu.ErrPurchaseMoved) {
					t.Errorf("stale version (ledger %v): %v, want ErrPurchaseMoved", ledger != nil, err)
				}
			}
			current, _ := f.store.GetPurchase(ctx, "p1", "pur_1")
			other := newPurchase(f, "p1", "pur_4")
			if err := f.store.CreatePurchase(ctx, other, nil); err != nil {
				t.Fatal(err)
			}
			takenPI := other
			takenPI.Status, takenPI.PaymentIntentID = dsu.StatusRequiresAction, "pi_1"
			for _, ledger := range []*dsu.LedgerChange{nil, {PartnerID: "p1", Type: dsu.EntryPurchase, Units: 1, Reference: "purchase:pur_4"}} {
				if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: takenPI, From: []dsu.PurchaseStatus{dsu.StatusPending},
					LinkPaymentIntent: true, Ledger: ledger}); !errors.Is(err, dsu.ErrPaymentIntentTaken) {
					t.Errorf("payment intent of another purchase (ledger %v): %v, want ErrPaymentIntentTaken", ledger != nil, err)
				}
			}
			for _, ledger := range []*dsu.LedgerChange{nil, credit} {
				next := succeeded(current, "pi_1", f.clock.Now())
				if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusRequiresAction},
					LinkPaymentIntent: true, EventID: "evt_1", Ledger: ledger}); !errors.Is(err, dsu.ErrEventProcessed) {
					t.Errorf("event processed before (ledger %v): %v, want ErrEventProcessed", ledger != nil, err)
				}
			}
			takenOver := claim
			takenOver.StartedAt = claim.StartedAt.Add(-1)
			next := succeeded(current, "pi_1", f.clock.Now())
			if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{dsu.StatusRequiresAction},
				Ledger: credit, Complete: &dsu.IdempotencyCompletion{Claim: takenOver, Result: []byte("{}")}}); dsu.ErrorKind(err) != dsu.KindRequestInProgress {
				t.Errorf("key taken over: %v, want request_in_progress", err)
			}

			// The customer link belongs to another partner; the billing
			// record changed since it was read.
			f.createPartner(t, "p2", 0)
			p1, _ := f.store.GetPartner(ctx, "p1")
			p1.StripeCustomerID = "cus_1"
			if _, err := f.store.SavePartner(ctx, p1, true); err != nil {
				t.Fatal(err)
			}
			p2, _ := f.store.GetPartner(ctx, "p2")
			p2.StripeCustomerID = "cus_1"
			if _, err := f.store.SavePartner(ctx, p2, true); dsu.ErrorKind(err) != dsu.KindInternal {
				t.Errorf("customer of another partner: %v, want internal", err)
			}
			p1.StripeCustomerID = "cus_1b"
			if _, err := f.store.SavePartner(ctx, p1, true); dsu.ErrorKind(err) != dsu.KindConflict {
				t.Errorf("stale billing record: %v, want conflict", err)
			}

			f.checkInvariant(t, "p1")
		})
	}
}
