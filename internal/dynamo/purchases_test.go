package dynamo_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/dynamo"
)

func newPurchase(f *fixture, partnerID, id string) dsu.Purchase {
	return dsu.Purchase{
		ID: id, PartnerID: partnerID, Kind: dsu.KindManual, Status: dsu.StatusPending,
		Items: []dsu.LineItem{{PackageID: "dsu-1000", Name: "1,000 DSUs", Quantity: 2, Units: 2000, Amount: dsu.Money{Amount: 10000, Currency: dsu.USD}}},
		Units: 2000, Amount: dsu.Money{Amount: 10000, Currency: dsu.USD}, CreatedAt: f.clock.Now(),
	}
}

func TestCreatePurchaseClaimsTheKeyAndFixesTheCurrency(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 2000)
	claim := dsu.IdempotencyClaim{PartnerID: "p1", Key: "k1", Fingerprint: "fp", ResourceID: "pur_1", StartedAt: f.clock.Now()}
	p := newPurchase(f, "p1", "pur_1")
	if err := f.store.CreatePurchase(ctx, p, &claim); err != nil {
		t.Fatal(err)
	}
	got, err := f.store.GetPurchase(ctx, "p1", "pur_1")
	if err != nil || got.Status != dsu.StatusPending || got.Amount != p.Amount || len(got.Items) != 1 || got.Items[0] != p.Items[0] {
		t.Fatalf("stored %+v, %v", got, err)
	}
	partner, _ := f.store.GetPartner(ctx, "p1")
	if partner.FirstPurchaseAt == nil || partner.Version != 2 {
		t.Fatalf("first purchase not recorded on the billing record: %+v", partner)
	}
	// The same key again: taken, and nothing is written.
	if err := f.store.CreatePurchase(ctx, newPurchase(f, "p1", "pur_2"), &claim); !errors.Is(err, dsu.ErrIdempotencyKeyTaken) {
		t.Fatalf("reused key: %v", err)
	}
	if _, err := f.store.GetPurchase(ctx, "p1", "pur_2"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatal("a purchase was written although its key was taken")
	}
	// Priced in another currency than the partner's: refused.
	eur := newPurchase(f, "p1", "pur_3")
	eur.Amount.Currency = dsu.EUR
	if err := f.store.CreatePurchase(ctx, eur, nil); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("currency mismatch: %v", err)
	}
	// Another partner cannot read it.
	f.createPartner(t, "p2", 0)
	if _, err := f.store.GetPurchase(ctx, "p2", "pur_1"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatalf("p2 read p1's purchase: %v", err)
	}
	// A concurrent billing-record update read before the purchase must retry.
	stale := partner
	stale.Version = 1
	if _, err := f.store.UpdatePartner(ctx, stale); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("stale billing-record write: %v", err)
	}
}

func succeeded(p dsu.Purchase, pi string, at time.Time) dsu.Purchase {
	p.Status, p.PaymentIntentID, p.CompletedAt = dsu.StatusSucceeded, pi, &at
	return p
}

func TestCreditingAPurchaseIsExactlyOnce(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 2000)
	p := newPurchase(f, "p1", "pur_1")
	if err := f.store.CreatePurchase(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	credit := func(eventID string) (dsu.UpdateResult, error) {
		return f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{
			Purchase: succeeded(p, "pi_1", f.clock.Now()), From: dsu.TransitionSources(dsu.StatusSucceeded), LinkPaymentIntent: true,
			Ledger:  &dsu.LedgerChange{PartnerID: "p1", Type: dsu.EntryPurchase, Units: p.Units, Reference: dsu.PurchaseRef(p.ID)},
			EventID: eventID,
		})
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	applied := 0
	for i := range 10 {
		wg.Go(func() {
			res, err := credit("evt_" + string(rune('a'+i)))
			if err == nil && res.Applied {
				mu.Lock()
				applied++
				mu.Unlock()
			} else if err != nil && !errors.Is(err, dsu.ErrPurchaseMoved) {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if applied != 1 {
		t.Fatalf("%d credits applied, want 1", applied)
	}
	if acc := f.checkInvariant(t, "p1"); acc.Units != 4000 {
		t.Fatalf("balance %d", acc.Units)
	}
	got, _ := f.store.GetPurchase(ctx, "p1", "pur_1")
	if got.Status != dsu.StatusSucceeded || got.PaymentIntentID != "pi_1" {
		t.Fatalf("purchase %+v", got)
	}
	byPI, err := f.store.PurchaseByPaymentIntent(ctx, "pi_1")
	if err != nil || byPI.ID != "pur_1" {
		t.Fatalf("lookup by payment intent: %+v %v", byPI, err)
	}
	if _, err := f.store.PurchaseByPaymentIntent(ctx, "pi_unknown"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatalf("unknown payment intent: %v", err)
	}
}

func TestForwardOnlyIsEnforcedInStorage(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	p := newPurchase(f, "p1", "pur_1")
	f.store.CreatePurchase(ctx, p, nil)
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: succeeded(p, "pi_1", f.clock.Now()), From: []dsu.PurchaseStatus{dsu.StatusPending}, LinkPaymentIntent: true}); err != nil {
		t.Fatal(err)
	}
	// A late "failed" may only start from pending or requires_action: refused.
	late := p
	late.Status, late.Failure = dsu.StatusFailed, &dsu.Failure{Code: "card_declined"}
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: late, From: dsu.TransitionSources(dsu.StatusFailed)}); !errors.Is(err, dsu.ErrPurchaseMoved) {
		t.Fatalf("late failure: %v", err)
	}
	// Another PaymentIntent for the same purchase: refused.
	other := succeeded(p, "pi_2", f.clock.Now())
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: other, From: []dsu.PurchaseStatus{dsu.StatusSucceeded}, LinkPaymentIntent: true}); !errors.Is(err, dsu.ErrPurchaseMoved) {
		t.Fatalf("second payment intent: %v", err)
	}
	got, _ := f.store.GetPurchase(ctx, "p1", "pur_1")
	if got.Status != dsu.StatusSucceeded || got.Failure != nil || got.PaymentIntentID != "pi_1" {
		t.Fatalf("purchase moved back: %+v", got)
	}
	// A PaymentIntent already linked to pur_1 cannot be linked to pur_2.
	p2 := newPurchase(f, "p1", "pur_2")
	f.store.CreatePurchase(ctx, p2, nil)
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: succeeded(p2, "pi_1", f.clock.Now()), From: []dsu.PurchaseStatus{dsu.StatusPending}, LinkPaymentIntent: true}); !errors.Is(err, dsu.ErrPaymentIntentTaken) {
		t.Fatalf("reused payment intent: %v", err)
	}
}

func TestEventRecordDeduplicates(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	p := newPurchase(f, "p1", "pur_1")
	f.store.CreatePurchase(ctx, p, nil)
	failed := p
	failed.Status = dsu.StatusRequiresAction
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: failed, From: []dsu.PurchaseStatus{dsu.StatusPending}, EventID: "evt_1"}); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.store.EventProcessed(ctx, "evt_1"); !ok {
		t.Fatal("event not recorded")
	}
	// The stale copy (version 0) is refused whatever the event.
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: failed, From: []dsu.PurchaseStatus{dsu.StatusRequiresAction}, EventID: "evt_2"}); !errors.Is(err, dsu.ErrPurchaseMoved) {
		t.Fatalf("stale version: %v", err)
	}
	current, _ := f.store.GetPurchase(ctx, "p1", "pur_1")
	if current.Version != 1 {
		t.Fatalf("version %d after one update", current.Version)
	}
	if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: current, From: []dsu.PurchaseStatus{dsu.StatusRequiresAction}, EventID: "evt_1"}); !errors.Is(err, dsu.ErrEventProcessed) {
		t.Fatalf("same event again: %v", err)
	}
	f.clock.Advance(dynamo.EventRetention + time.Hour)
	if ok, _ := f.store.EventProcessed(ctx, "evt_1"); ok {
		t.Fatal("an expired event record still counts")
	}
}

func TestListPurchasesNewestFirst(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	ids := dsutest.SequentialIDs{}
	for range 7 {
		f.store.CreatePurchase(ctx, newPurchase(f, "p1", ids.NewID("pur_")), nil)
	}
	page1, next, err := f.store.ListPurchases(ctx, "p1", dynamo.Page{Limit: 5})
	if err != nil || len(page1) != 5 || next == "" || page1[0].ID != "pur_0000000007" {
		t.Fatalf("page 1: %d %q %v", len(page1), next, err)
	}
	page2, next, err := f.store.ListPurchases(ctx, "p1", dynamo.Page{Limit: 5, Cursor: next})
	if err != nil || len(page2) != 2 || next != "" || page2[1].ID != "pur_0000000001" {
		t.Fatalf("page 2: %d %q %v", len(page2), next, err)
	}
	if _, _, err := f.store.Ledger(ctx, "p1", dynamo.Page{Limit: 5, Cursor: next}); err != nil {
		t.Fatal(err)
	}
}

func TestCustomerLinkAndAccountChanges(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	p, _ := f.store.GetPartner(ctx, "p1")
	p.StripeCustomerID = "cus_1"
	p, err := f.store.SavePartner(ctx, p, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := f.store.PartnerByCustomer(ctx, "cus_1"); err != nil || got.ID != "p1" {
		t.Fatalf("by customer: %+v %v", got, err)
	}
	acc, _, err := f.store.ChangeAccount(ctx, "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", Threshold: 100, MonthlyLimit: 3}
		return dsu.PlanChange{}, nil
	})
	if err != nil || acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("%+v %v", acc, err)
	}
	f.api.Reset()
	same, _, err := f.store.ChangeAccount(ctx, "p1", func(*dsu.Account) (dsu.PlanChange, error) { return dsu.PlanChange{}, dsu.ErrNoChange })
	if err != nil || same.Version != acc.Version || f.api.Counts().Transactions != 0 {
		t.Fatalf("a no-op change wrote: %+v %v %+v", same, err, f.api.Counts())
	}
}
