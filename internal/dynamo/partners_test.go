package dynamo_test

import (
	"context"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// pausePlan pauses the partner's plan for reason, as a decline would.
func (f *fixture) pausePlan(t *testing.T, partnerID string, reason dsu.PauseReason) {
	t.Helper()
	if _, _, err := f.store.ChangeAccount(context.Background(), partnerID, func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, PackageID: "dsu-1000", Status: dsu.AutoRefillActive}
		return a.Pause(reason)
	}); err != nil {
		t.Fatal(err)
	}
}

// A card and the resume it brings are one write (RULES.md, "Cards"): a
// record that changed meanwhile refuses both, so the plan never resumes
// for a card that is not saved, and the card is never saved without it.
func TestSavePartnerWithAccountWritesBothOrNeither(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	f.pausePlan(t, "p1", dsu.PausedPaymentFailed)
	p, err := f.store.GetPartner(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	card := dsu.Card{PaymentMethodID: "pm_new", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}
	setup := dsu.SetupRef{ID: "seti_new", Created: t0}

	stale := p
	stale.Version-- // another writer saved the record since it was read
	next := stale
	resume, err := next.SaveCard(card, setup, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := f.store.SavePartnerWithAccount(ctx, next, resume); dsu.ErrorKind(err) != dsu.KindConflict {
		t.Fatalf("a stale record saved: %v", err)
	}
	if acc, _ := f.store.GetAccount(ctx, "p1"); acc.AutoRefill.Status != dsu.AutoRefillPaused {
		t.Fatalf("the plan resumed for a card that was not saved: %+v", acc.AutoRefill)
	}
	if got, _ := f.store.GetPartner(ctx, "p1"); got.Card != nil {
		t.Fatalf("card %+v saved by a refused write", got.Card)
	}

	next = p
	resume, _ = next.SaveCard(card, setup, t0)
	f.api.Reset()
	saved, acc, _, err := f.store.SavePartnerWithAccount(ctx, next, resume)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := f.store.GetPartner(ctx, "p1"); got.Card == nil || got.Card.PaymentMethodID != "pm_new" || got.Version != saved.Version {
		t.Fatalf("record %+v, saved %+v", got, saved)
	}
	if stored, _ := f.store.GetAccount(ctx, "p1"); acc.AutoRefill.Status != dsu.AutoRefillActive || stored.AutoRefill != acc.AutoRefill {
		t.Fatalf("plan %+v, stored %+v; want resumed in the same write", acc.AutoRefill, stored.AutoRefill)
	}
	if c := f.api.Counts(); c.Transactions != 1 || c.Writes != 0 {
		t.Fatalf("%+v: want the record and the account in one TransactWriteItems", c)
	}
}

// The resume is decided on the account as it stands when the card is
// saved: a pause written between the read and the write (the old card's
// decline) is seen and lifted by the retry, never overwritten by a stale
// copy of the account.
func TestSavePartnerWithAccountDecidesOnTheAccountAsWritten(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	f.pausePlan(t, "p1", dsu.PausedCardMissing)
	p, err := f.store.GetPartner(ctx, "p1")
	if err != nil {
		t.Fatal(err)
	}
	next := p
	resume, err := next.SaveCard(dsu.Card{PaymentMethodID: "pm_new"}, dsu.SetupRef{ID: "seti_new", Created: t0}, t0)
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	racing := func(a *dsu.Account) (dsu.PlanChange, error) {
		runs++
		if runs == 1 {
			// Another writer changes the account after this read.
			if _, _, err := f.store.ChangeAccount(ctx, "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
				a.AutoRefill.PausedReason = dsu.PausedPaymentFailed
				return dsu.PlanChange{}, nil
			}); err != nil {
				t.Fatal(err)
			}
		}
		return resume(a)
	}
	_, acc, _, err := f.store.SavePartnerWithAccount(ctx, next, racing)
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Fatalf("the account rule ran %d times, want 2 (once more on the fresh account)", runs)
	}
	if acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("plan %+v", acc.AutoRefill)
	}
	if got, _ := f.store.GetPartner(ctx, "p1"); got.Card == nil || got.Version != p.Version+1 {
		t.Fatalf("record %+v: want the card saved once", got)
	}
}

// A card saved while the plan runs leaves the account unwritten, only
// checked under its version: the old card's decline that pauses the plan
// after the account was read fails that check, and the retry resumes the
// plan for the new card instead of leaving it paused.
func TestSavePartnerWithAccountChecksAnUnchangedAccount(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.createPartner(t, "p1", 0)
	if _, _, err := f.store.ChangeAccount(ctx, "p1", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, PackageID: "dsu-1000", Status: dsu.AutoRefillActive}
		return dsu.PlanChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}
	save := func(id string, racing bool) (runs int, acc dsu.Account) {
		t.Helper()
		p, err := f.store.GetPartner(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		resume, err := p.SaveCard(dsu.Card{PaymentMethodID: "pm_" + id}, dsu.SetupRef{ID: "seti_" + id, Created: f.clock.Now()}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		_, acc, _, err = f.store.SavePartnerWithAccount(ctx, p, func(a *dsu.Account) (dsu.PlanChange, error) {
			runs++
			if racing && runs == 1 {
				f.pausePlan(t, "p1", dsu.PausedPaymentFailed)
			}
			return resume(a)
		})
		if err != nil {
			t.Fatal(err)
		}
		return runs, acc
	}

	before, _ := f.store.GetAccount(ctx, "p1")
	if _, acc := save("a", false); acc.Version != before.Version || acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("account %+v after a card saved while the plan runs; want it unwritten (version %d)", acc, before.Version)
	}
	if stored, _ := f.store.GetAccount(ctx, "p1"); stored.Version != before.Version {
		t.Fatalf("the account was written: version %d, want %d", stored.Version, before.Version)
	}

	f.clock.Advance(time.Minute)
	runs, acc := save("b", true)
	if runs != 2 || acc.AutoRefill.Status != dsu.AutoRefillActive {
		t.Fatalf("rule ran %d times, plan %+v: want the racing pause seen and lifted by the new card", runs, acc.AutoRefill)
	}
	if got, _ := f.store.GetPartner(ctx, "p1"); got.Card == nil || got.Card.PaymentMethodID != "pm_b" {
		t.Fatalf("card %+v", got.Card)
	}
}
