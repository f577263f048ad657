package dynamo_test

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// duePurchases lists every shard's due purchases at now.
func (f *fixture) duePurchases(t *testing.T, now time.Time) []dsu.PurchaseKey {
	t.Helper()
	var out []dsu.PurchaseKey
	for shard := range f.store.SweepShards() {
		keys, err := f.store.DuePurchases(context.Background(), shard, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, keys...)
	}
	return out
}

func (f *fixture) dueCards(t *testing.T, now time.Time) []string {
	t.Helper()
	var out []string
	for shard := range f.store.SweepShards() {
		ids, err := f.store.DueCards(context.Background(), shard, now)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ids...)
	}
	return out
}

// An unfinished manual purchase is in the sweep's index from its creation,
// at its next look; every update keeps it there while it is unfinished and
// takes it out with the move that finishes it.
func TestUnfinishedManualPurchasesAreIndexedUntilTheyFinish(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	p := newPurchase(f, "p1", "pur_1")
	if err := f.store.CreatePurchase(ctx, p, nil); err != nil {
		t.Fatal(err)
	}
	key := []dsu.PurchaseKey{{PartnerID: "p1", PurchaseID: "pur_1"}}
	if due := f.duePurchases(t, p.CreatedAt.Add(dsu.ReconcileAfter-time.Second)); len(due) != 0 {
		t.Fatalf("due before its first look: %v", due)
	}
	if due := f.duePurchases(t, p.CreatedAt.Add(dsu.ReconcileAfter)); !reflect.DeepEqual(due, key) {
		t.Fatalf("due at its first look: %v", due)
	}
	update := func(next dsu.Purchase) dsu.Purchase {
		t.Helper()
		if _, err := f.store.UpdatePurchase(ctx, dsu.PurchaseUpdate{Purchase: next, From: []dsu.PurchaseStatus{p.Status}}); err != nil {
			t.Fatal(err)
		}
		got, err := f.store.GetPurchase(ctx, "p1", "pur_1")
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	// Rescheduled: the index follows.
	next := p
	next.ReconcileAt = p.CreatedAt.Add(4 * time.Hour)
	p = update(next)
	if !p.ReconcileAt.Equal(next.ReconcileAt) {
		t.Fatalf("reconcileAt %v", p.ReconcileAt)
	}
	if due := f.duePurchases(t, p.CreatedAt.Add(3*time.Hour)); len(due) != 0 {
		t.Fatalf("due before its rescheduled look: %v", due)
	}
	// Requires action: still unfinished, still indexed.
	next = p
	next.Status, next.PaymentIntentID = dsu.StatusRequiresAction, "pi_1"
	p = update(next)
	if due := f.duePurchases(t, p.CreatedAt.Add(4*time.Hour)); !reflect.DeepEqual(due, key) {
		t.Fatalf("a purchase requiring action left the index: %v", due)
	}
	// Canceled: out of the index, whenever the sweep looks.
	next = p
	next.Status = dsu.StatusCanceled
	update(next)
	if due := f.duePurchases(t, p.CreatedAt.Add(48*time.Hour)); len(due) != 0 {
		t.Fatalf("a finished purchase is still indexed: %v", due)
	}

	// Automatic purchases are reconciled through their account: never
	// indexed themselves.
	auto := newPurchase(f, "p1", "pur_2")
	auto.Kind = dsu.KindAutoRefill
	if err := f.store.CreatePurchase(ctx, auto, nil); err != nil {
		t.Fatal(err)
	}
	if due := f.duePurchases(t, auto.CreatedAt.Add(48*time.Hour)); len(due) != 0 {
		t.Fatalf("an automatic purchase is indexed: %v", due)
	}
}

// The billing record keeps the SetupIntent that saved the card, the
// replaced cards still to detach and the expiry announcements made, and is
// in the sweep's index at its next card work.
func TestBillingRecordCardStateAndIndex(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	p, err := f.store.GetPartner(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	if due := f.dueCards(t, t0.AddDate(50, 0, 0)); len(due) != 0 {
		t.Fatalf("a record without a card is indexed: %v", due)
	}
	card := dsu.Card{PaymentMethodID: "pm_b", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2026, ExpiringNoticed: true}
	p.Card = &card
	p.CardSetup = &dsu.SetupRef{ID: "seti_b", Created: t0.Add(-time.Hour)}
	p.ReplacedCards = []string{"pm_a", "pm_0"}
	p.DetachRetryAt = t0.Add(dsu.DetachRetryDelay)
	saved, err := f.store.UpdatePartner(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.store.GetPartner(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	got.ReplacedCards = slices.Sorted(slices.Values(got.ReplacedCards))
	saved.ReplacedCards = slices.Sorted(slices.Values(saved.ReplacedCards))
	if !reflect.DeepEqual(got, saved) {
		t.Fatalf("read back %+v (card %+v setup %+v), want %+v", got, got.Card, got.CardSetup, saved)
	}
	if due := f.dueCards(t, p.DetachRetryAt.Add(-time.Second)); len(due) != 0 {
		t.Fatalf("due before the detach retry: %v", due)
	}
	if due := f.dueCards(t, p.DetachRetryAt); !reflect.DeepEqual(due, []string{"p1"}) {
		t.Fatalf("due at the detach retry: %v", due)
	}
	// Detached: next due at the card's end (expiring was announced).
	got.ReplacedCards, got.DetachRetryAt = nil, time.Time{}
	if _, err := f.store.UpdatePartner(ctx, got); err != nil {
		t.Fatal(err)
	}
	end := card.ValidUntil()
	if due := f.dueCards(t, end.Add(-time.Second)); len(due) != 0 {
		t.Fatalf("due before the card's end: %v", due)
	}
	if due := f.dueCards(t, end); !reflect.DeepEqual(due, []string{"p1"}) {
		t.Fatalf("due at the card's end: %v", due)
	}
}
