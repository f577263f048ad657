package dsu

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestCardExpiry(t *testing.T) {
	dec := Card{ExpMonth: 12, ExpYear: 2026}
	if got, want := dec.ValidUntil(), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("a 12/2026 card is valid until %v, want %v", got, want)
	}
	feb := Card{ExpMonth: 2, ExpYear: 2028} // a leap year: valid through the 29th
	cases := []struct {
		name       string
		card       Card
		now        time.Time
		soon, gone bool
	}{
		{"last second of the last valid day", dec, time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC), true, false},
		{"first instant after", dec, time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), true, true},
		{"30 days before the end", dec, time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC), true, false},
		{"just over 30 days before the end", dec, time.Date(2026, 12, 1, 23, 59, 59, 0, time.UTC), false, false},
		{"leap February's last day", feb, time.Date(2028, 2, 29, 12, 0, 0, 0, time.UTC), true, false},
		{"after leap February", feb, time.Date(2028, 3, 1, 0, 0, 0, 0, time.UTC), true, true},
		{"the end is UTC, whatever the zone of now", dec, time.Date(2026, 12, 31, 20, 0, 0, 0, time.FixedZone("X", -5*3600)), true, true},
		{"unknown expiry never expires", Card{}, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false, false},
		{"bad month never expires", Card{ExpMonth: 13, ExpYear: 2020}, time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC), false, false},
	}
	for _, c := range cases {
		if got := c.card.ExpiresSoon(c.now); got != c.soon {
			t.Errorf("%s: expires soon %v, want %v", c.name, got, c.soon)
		}
		if got := c.card.Expired(c.now); got != c.gone {
			t.Errorf("%s: expired %v, want %v", c.name, got, c.gone)
		}
	}
}

var cardNow = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

func visa(pm string) Card {
	return Card{PaymentMethodID: pm, Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2030}
}

func TestSaveCard(t *testing.T) {
	older := SetupRef{ID: "seti_a", Created: cardNow.Add(-2 * time.Hour)}
	newer := SetupRef{ID: "seti_b", Created: cardNow.Add(-time.Hour)}
	sameSecond := SetupRef{ID: "seti_c", Created: newer.Created}
	withB := func() Partner {
		b := visa("pm_b")
		return Partner{Card: &b, CardSetup: &newer}
	}
	conflict := func(err error) bool { return ErrorKind(err) == KindConflict }
	cases := []struct {
		name    string
		p       Partner
		card    Card
		setup   SetupRef
		wantErr func(error) bool
		want    Partner
	}{
		{name: "first card", p: Partner{}, card: visa("pm_a"), setup: older,
			want: Partner{Card: ptrTo(visa("pm_a")), CardSetup: &older}},
		{name: "a late SetupIntent created before the current card's changes nothing", p: withB(), card: visa("pm_a"), setup: older, wantErr: conflict},
		{name: "created in the same second is not newer", p: withB(), card: visa("pm_c"), setup: sameSecond, wantErr: conflict},
		{name: "the SetupIntent that saved the card: saved before", p: withB(), card: visa("pm_b"), setup: newer, wantErr: func(err error) bool { return errors.Is(err, ErrNoChange) }},
		{name: "a newer card replaces it; the old one is to detach", p: withB(), card: visa("pm_d"), setup: SetupRef{ID: "seti_d", Created: cardNow},
			want: Partner{Card: ptrTo(visa("pm_d")), CardSetup: &SetupRef{ID: "seti_d", Created: cardNow}, ReplacedCards: []string{"pm_b"}, DetachRetryAt: cardNow.Add(DetachRetryDelay)}},
		{name: "a replaced card is never saved again", p: Partner{Card: ptrTo(visa("pm_d")), CardSetup: &newer, ReplacedCards: []string{"pm_b"}},
			card: visa("pm_b"), setup: SetupRef{ID: "seti_e", Created: cardNow}, wantErr: conflict},
		{name: "after the card was removed, an older SetupIntent still changes nothing", p: Partner{CardSetup: &newer}, card: visa("pm_a"), setup: older, wantErr: conflict},
		{name: "a card saved before SetupIntents were recorded is replaced by any", p: Partner{Card: ptrTo(visa("pm_legacy"))}, card: visa("pm_a"), setup: older,
			want: Partner{Card: ptrTo(visa("pm_a")), CardSetup: &older, ReplacedCards: []string{"pm_legacy"}, DetachRetryAt: cardNow.Add(DetachRetryDelay)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			resume, err := p.SaveCard(c.card, c.setup, cardNow)
			if c.wantErr != nil {
				if !c.wantErr(err) {
					t.Fatalf("error %v", err)
				}
				if resume != nil {
					t.Fatal("a card not saved brings a change of the account")
				}
				if !reflect.DeepEqual(p, c.p) {
					t.Fatalf("a refused card changed the record: %+v", p)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p, c.want) {
				t.Fatalf("got %+v card %+v, want %+v card %+v", p, p.Card, c.want, c.want.Card)
			}
		})
	}
}

// TestOnlySavingACardResumesThePlan: the plan resumes in the write that
// saves a card, never when the SetupIntent that saved the current card is
// seen again. Stripe resends setup_intent.succeeded for days after a 5xx
// and the portal may retry PUT /v1/billing/card; by then the card itself
// may have paused the plan (a stolen card declined, the card expired), and
// resuming would charge the declined card again.
func TestOnlySavingACardResumesThePlan(t *testing.T) {
	current := SetupRef{ID: "seti_b", Created: cardNow.Add(-time.Hour)}
	withB := func() Partner {
		b := visa("pm_b")
		return Partner{Card: &b, CardSetup: &current}
	}
	streak := RefillState{Failures: 1, Month: "2026-11", MonthCount: 1}
	cases := []struct {
		name     string
		p        Partner
		card     Card
		setup    SetupRef
		plan     AutoRefill
		wantPlan AutoRefill
	}{
		{name: "the current card's SetupIntent again: its decline stands", p: withB(), card: visa("pm_b"), setup: current,
			plan: pausedPlan(PausedPaymentFailed), wantPlan: pausedPlan(PausedPaymentFailed)},
		{name: "the current card's SetupIntent again: its expiry stands", p: withB(), card: visa("pm_b"), setup: current,
			plan: pausedPlan(PausedCardExpired), wantPlan: pausedPlan(PausedCardExpired)},
		{name: "the current card's SetupIntent again: its authentication stands", p: withB(), card: visa("pm_b"), setup: current,
			plan: pausedPlan(PausedAuthenticationRequired), wantPlan: pausedPlan(PausedAuthenticationRequired)},
		{name: "a new card resumes a plan the old card paused", p: withB(), card: visa("pm_d"), setup: SetupRef{ID: "seti_d", Created: cardNow},
			plan: pausedPlan(PausedPaymentFailed), wantPlan: activePlan()},
		{name: "the same card confirmed by a new SetupIntent resumes", p: withB(), card: visa("pm_b"), setup: SetupRef{ID: "seti_e", Created: cardNow},
			plan: pausedPlan(PausedAuthenticationRequired), wantPlan: activePlan()},
		{name: "a first card resumes card_missing", p: Partner{}, card: visa("pm_a"), setup: current,
			plan: pausedPlan(PausedCardMissing), wantPlan: activePlan()},
		{name: "a new card leaves a dispute pause", p: withB(), card: visa("pm_d"), setup: SetupRef{ID: "seti_d", Created: cardNow},
			plan: pausedPlan(PausedDispute), wantPlan: pausedPlan(PausedDispute)},
		{name: "a late SetupIntent resumes nothing", p: withB(), card: visa("pm_a"), setup: SetupRef{ID: "seti_a", Created: cardNow.Add(-2 * time.Hour)},
			plan: pausedPlan(PausedPaymentFailed), wantPlan: pausedPlan(PausedPaymentFailed)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := c.p
			acc := Account{AutoRefill: c.plan, Refill: streak}
			resume, err := p.SaveCard(c.card, c.setup, cardNow)
			if (err == nil) != (resume != nil) {
				t.Fatalf("error %v with resume %v: a saved card always brings its resume, a refused one never", err, resume != nil)
			}
			if resume != nil {
				if _, err := resume(&acc); err != nil && !errors.Is(err, ErrNoChange) {
					t.Fatal(err)
				}
			}
			if acc.AutoRefill != c.wantPlan {
				t.Fatalf("plan %+v, want %+v", acc.AutoRefill, c.wantPlan)
			}
		})
	}
}

func TestCardsDetached(t *testing.T) {
	p := Partner{ReplacedCards: []string{"pm_1", "pm_2"}, DetachRetryAt: cardNow}
	if !p.CardsDetached([]string{"pm_1"}, cardNow) || !reflect.DeepEqual(p.ReplacedCards, []string{"pm_2"}) || !p.DetachRetryAt.Equal(cardNow.Add(DetachRetryDelay)) {
		t.Fatalf("one detached: %+v", p)
	}
	if !p.CardsDetached([]string{"pm_2"}, cardNow) || p.ReplacedCards != nil || !p.DetachRetryAt.IsZero() {
		t.Fatalf("all detached: %+v", p)
	}
	if p.CardsDetached(nil, cardNow) {
		t.Fatal("nothing to detach changed the record")
	}
}

func TestCardSweepAt(t *testing.T) {
	card := visa("pm_1") // valid until 2031-01-01
	end := card.ValidUntil()
	noticed := func(expiring, expired bool) *Card {
		c := card
		c.ExpiringNoticed, c.ExpiredNoticed = expiring, expired
		return &c
	}
	retry := cardNow.Add(DetachRetryDelay)
	cases := []struct {
		name string
		p    Partner
		at   time.Time
		ok   bool
	}{
		{"no card, nothing to detach: not indexed", Partner{}, time.Time{}, false},
		{"a card: 30 days before its end", Partner{Card: noticed(false, false)}, end.Add(-CardExpiringWindow), true},
		{"expiring announced: at its end", Partner{Card: noticed(true, false)}, end, true},
		{"both announced: not indexed", Partner{Card: noticed(true, true)}, time.Time{}, false},
		{"a replaced card to detach comes first", Partner{Card: noticed(false, false), ReplacedCards: []string{"pm_0"}, DetachRetryAt: retry}, retry, true},
		{"a replaced card to detach, no card", Partner{ReplacedCards: []string{"pm_0"}, DetachRetryAt: retry}, retry, true},
		{"an expiry before the retry comes first", Partner{Card: &Card{ExpMonth: 10, ExpYear: 2026}, ReplacedCards: []string{"pm_0"}, DetachRetryAt: retry},
			time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(-CardExpiringWindow), true},
	}
	for _, c := range cases {
		at, ok := c.p.CardSweepAt()
		if ok != c.ok || !at.Equal(c.at) {
			t.Errorf("%s: %v %v, want %v %v", c.name, at, ok, c.at, c.ok)
		}
	}
}

func TestNoteCardExpiryAnnouncesEachOnce(t *testing.T) {
	card := Card{PaymentMethodID: "pm_1", ExpMonth: 12, ExpYear: 2026}
	p := Partner{Card: &card}
	if _, err := p.NoteCardExpiry(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrNoChange) {
		t.Fatalf("31 days ahead: %v", err)
	}
	soon := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	if n, err := p.NoteCardExpiry(soon); err != nil || n != CardExpiringNotice {
		t.Fatalf("within 30 days: %v %v", n, err)
	}
	if _, err := p.NoteCardExpiry(soon); !errors.Is(err, ErrNoChange) {
		t.Fatalf("expiring twice: %v", err)
	}
	gone := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if n, err := p.NoteCardExpiry(gone); err != nil || n != CardExpiredNotice {
		t.Fatalf("expired: %v %v", n, err)
	}
	if _, err := p.NoteCardExpiry(gone.Add(time.Hour)); !errors.Is(err, ErrNoChange) {
		t.Fatalf("expired twice: %v", err)
	}
	// A card found already past its end announces only that it expired.
	late := Partner{Card: &Card{PaymentMethodID: "pm_2", ExpMonth: 1, ExpYear: 2020}}
	if n, err := late.NoteCardExpiry(gone); err != nil || n != CardExpiredNotice || !late.Card.ExpiringNoticed {
		t.Fatalf("late: %v %v %+v", n, err, late.Card)
	}
	if card.ExpiringNoticed || card.ExpiredNoticed {
		t.Fatal("the rule changed the card it was given instead of the record's copy")
	}
}

func TestRenewCardRearmsTheAnnouncements(t *testing.T) {
	card := Card{PaymentMethodID: "pm_1", Brand: "visa", Last4: "4242", ExpMonth: 12, ExpYear: 2026, ExpiringNoticed: true, ExpiredNoticed: true}
	p := Partner{Card: &card}
	if _, err := p.RenewCard("pm_other", "visa", "4242", 12, 2029); !errors.Is(err, ErrNoChange) {
		t.Fatalf("another card: %v", err)
	}
	if _, err := p.RenewCard("pm_1", "visa", "4242", 12, 2026); !errors.Is(err, ErrNoChange) {
		t.Fatalf("nothing new: %v", err)
	}
	newExpiry, err := p.RenewCard("pm_1", "visa", "4243", 12, 2026)
	if err != nil || newExpiry || !p.Card.ExpiredNoticed || p.Card.Last4 != "4243" {
		t.Fatalf("new number, same expiry: %v %v %+v", newExpiry, err, p.Card)
	}
	newExpiry, err = p.RenewCard("pm_1", "visa", "4243", 12, 2029)
	if err != nil || !newExpiry || p.Card.ExpiringNoticed || p.Card.ExpiredNoticed || p.Card.ExpYear != 2029 {
		t.Fatalf("new expiry: %v %v %+v", newExpiry, err, p.Card)
	}
}

func TestManualPurchaseReconcileSchedule(t *testing.T) {
	created := time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)
	p := Purchase{Kind: KindManual, Status: StatusPending, CreatedAt: created}
	if at, ok := p.SweepAt(); !ok || !at.Equal(created.Add(ReconcileAfter)) {
		t.Fatalf("first look at %v %v, want an hour after creation", at, ok)
	}
	for _, st := range PurchaseStatuses {
		q := p
		q.Status = st
		_, ok := q.SweepAt()
		if want := st == StatusPending || st == StatusRequiresAction; ok != want {
			t.Errorf("%s without a PaymentIntent indexed %v, want %v", st, ok, want)
		}
		// A declined PaymentIntent stays payable with another card until
		// the sweep cancels it: a failed purchase with one stays indexed.
		q.PaymentIntentID = "pi_1"
		_, ok = q.SweepAt()
		if want := st == StatusPending || st == StatusRequiresAction || st == StatusFailed; ok != want {
			t.Errorf("%s with a PaymentIntent indexed %v, want %v", st, ok, want)
		}
	}
	// An automatic purchase is reconciled through its account while in
	// flight; once the partner may pay it on-session (waiting for
	// authentication, or failed after being asked to) it is indexed itself.
	for _, st := range PurchaseStatuses {
		_, ok := (Purchase{Kind: KindAutoRefill, Status: st, PaymentIntentID: "pi_1", CreatedAt: created}).SweepAt()
		if want := st == StatusRequiresAction; ok != want {
			t.Errorf("an automatic purchase %s with a PaymentIntent indexed %v, want %v", st, ok, want)
		}
		_, ok = (Purchase{Kind: KindAutoRefill, Status: st, PaymentIntentID: "pi_1", AskedToAuthenticate: true, CreatedAt: created}).SweepAt()
		if want := st == StatusRequiresAction || st == StatusFailed; ok != want {
			t.Errorf("an automatic purchase %s the partner was asked to authenticate indexed %v, want %v", st, ok, want)
		}
		if _, ok := (Purchase{Kind: KindAutoRefill, Status: st, CreatedAt: created}).SweepAt(); ok {
			t.Errorf("an automatic purchase %s without a PaymentIntent is indexed", st)
		}
	}
	// Looks after 1 h, 2 h, 4 h, 8 h, 16 h, then at 24 h, then hourly.
	now := created.Add(ReconcileAfter)
	var looks []time.Duration
	for range 8 {
		now = p.NextReconcile(now)
		looks = append(looks, now.Sub(created))
	}
	want := []time.Duration{2 * time.Hour, 4 * time.Hour, 8 * time.Hour, 16 * time.Hour, 24 * time.Hour, 25 * time.Hour, 26 * time.Hour, 27 * time.Hour}
	if !reflect.DeepEqual(looks, want) {
		t.Fatalf("looks at %v, want %v", looks, want)
	}
	p.ReconcileAt = created.Add(4 * time.Hour)
	if at, _ := p.SweepAt(); !at.Equal(p.ReconcileAt) {
		t.Fatalf("rescheduled look at %v", at)
	}
	if p.Abandoned(created.Add(AbandonAfter-time.Second)) || !p.Abandoned(created.Add(AbandonAfter)) {
		t.Fatal("abandoned at 24 h")
	}
}

func ptrTo[T any](v T) *T { return &v }
