package dsu

import (
	"errors"
	"testing"
	"time"
)

var planNow = time.Date(2026, 11, 10, 9, 0, 0, 0, time.UTC)

func activePlan() AutoRefill {
	return AutoRefill{Enabled: true, Status: AutoRefillActive, PackageID: "dsu-1000", Threshold: 100, MonthlyLimit: 3}
}

func pausedPlan(reason PauseReason) AutoRefill {
	ar := activePlan()
	ar.Status, ar.PausedReason = AutoRefillPaused, reason
	return ar
}

func offPlan() AutoRefill { return AutoRefill{Status: AutoRefillOff} }

// planCase is one rule applied to one account: the plan and refill state
// expected afterwards, and what the rule reports.
type planCase struct {
	name       string
	acc        Account
	apply      AccountMutation
	wantErr    error // errors.Is, or a Kind via kindOf
	wantKind   Kind
	wantChange PlanChange
	wantPlan   AutoRefill
	wantRefill RefillState
}

func runPlanCases(t *testing.T, cases []planCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			acc := c.acc
			change, err := c.apply(&acc)
			switch {
			case c.wantErr != nil:
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("error %v, want %v", err, c.wantErr)
				}
			case c.wantKind != "":
				if ErrorKind(err) != c.wantKind {
					t.Fatalf("error %v, want kind %s", err, c.wantKind)
				}
			case err != nil:
				t.Fatalf("unexpected error %v", err)
			}
			if change != c.wantChange {
				t.Errorf("change %+v, want %+v", change, c.wantChange)
			}
			if err != nil {
				// A refused rule changes nothing the caller stores.
				if errors.Is(err, ErrNoChange) && (acc.AutoRefill != c.acc.AutoRefill || acc.Refill != c.acc.Refill) {
					t.Errorf("ErrNoChange but the account changed: %+v %+v", acc.AutoRefill, acc.Refill)
				}
				return
			}
			if acc.AutoRefill != c.wantPlan {
				t.Errorf("plan %+v, want %+v", acc.AutoRefill, c.wantPlan)
			}
			if acc.Refill != c.wantRefill {
				t.Errorf("refill %+v, want %+v", acc.Refill, c.wantRefill)
			}
		})
	}
}

func pause(reason PauseReason) AccountMutation {
	return func(a *Account) (PlanChange, error) { return a.Pause(reason) }
}

func TestPause(t *testing.T) {
	failedRefill := RefillState{Phase: RefillFailed, Failures: 1, NextAttemptAt: planNow}
	runPlanCases(t, []planCase{
		{name: "active plan pauses", acc: Account{AutoRefill: activePlan(), Refill: failedRefill}, apply: pause(PausedCardMissing),
			wantChange: PlanChange{Paused: PausedCardMissing}, wantPlan: pausedPlan(PausedCardMissing), wantRefill: failedRefill},
		{name: "paused plan keeps its first reason", acc: Account{AutoRefill: pausedPlan(PausedDispute)}, apply: pause(PausedCardMissing),
			wantErr: ErrNoChange},
		{name: "plan off stays off", acc: Account{AutoRefill: offPlan()}, apply: pause(PausedCardMissing), wantErr: ErrNoChange},
	})
}

func TestResumeForNewCard(t *testing.T) {
	streak := RefillState{Phase: RefillFailed, Failures: 2, NextAttemptAt: planNow.Add(6 * time.Hour), Month: "2026-11", MonthCount: 2}
	resumed := RefillState{Month: "2026-11", MonthCount: 2}
	resume := (*Account).ResumeForNewCard
	var cases []planCase
	for _, reason := range []PauseReason{PausedCardMissing, PausedPaymentFailed, PausedAuthenticationRequired, PausedCardExpired} {
		cases = append(cases, planCase{name: "resumes " + string(reason), acc: Account{AutoRefill: pausedPlan(reason), Refill: streak},
			apply: resume, wantPlan: activePlan(), wantRefill: resumed})
	}
	for _, reason := range []PauseReason{PausedDispute, PausedMonthlyLimitReached, PausedRefillRefunded} {
		cases = append(cases, planCase{name: "keeps " + string(reason), acc: Account{AutoRefill: pausedPlan(reason), Refill: streak},
			apply: resume, wantErr: ErrNoChange})
	}
	cases = append(cases,
		planCase{name: "active plan untouched", acc: Account{AutoRefill: activePlan(), Refill: streak}, apply: resume, wantErr: ErrNoChange},
		planCase{name: "plan off untouched", acc: Account{AutoRefill: offPlan()}, apply: resume, wantErr: ErrNoChange},
	)
	runPlanCases(t, cases)
}

func TestPauseForExpiredCard(t *testing.T) {
	streak := RefillState{Phase: RefillFailed, Failures: 1, NextAttemptAt: planNow}
	runPlanCases(t, []planCase{
		{name: "active plan pauses card_expired, keeping its refill state", acc: Account{AutoRefill: activePlan(), Refill: streak}, apply: pause(PausedCardExpired),
			wantChange: PlanChange{Paused: PausedCardExpired}, wantPlan: pausedPlan(PausedCardExpired), wantRefill: streak},
		{name: "a dispute pause stays the reason", acc: Account{AutoRefill: pausedPlan(PausedDispute)}, apply: pause(PausedCardExpired), wantErr: ErrNoChange},
		{name: "already paused card_expired: once", acc: Account{AutoRefill: pausedPlan(PausedCardExpired)}, apply: pause(PausedCardExpired), wantErr: ErrNoChange},
		{name: "plan off stays off", acc: Account{AutoRefill: offPlan()}, apply: pause(PausedCardExpired), wantErr: ErrNoChange},
	})
}

func TestResumeForRenewedCard(t *testing.T) {
	streak := RefillState{Phase: RefillFailed, Failures: 2, NextAttemptAt: planNow.Add(time.Hour), Month: "2026-11", MonthCount: 1}
	resume := (*Account).ResumeForRenewedCard
	cases := []planCase{
		{name: "resumes card_expired and clears the streak", acc: Account{AutoRefill: pausedPlan(PausedCardExpired), Refill: streak}, apply: resume,
			wantPlan: activePlan(), wantRefill: RefillState{Month: "2026-11", MonthCount: 1}},
		{name: "active plan untouched", acc: Account{AutoRefill: activePlan()}, apply: resume, wantErr: ErrNoChange},
		{name: "plan off untouched", acc: Account{AutoRefill: offPlan()}, apply: resume, wantErr: ErrNoChange},
	}
	// A renewal answers an expiry, nothing else.
	for _, reason := range []PauseReason{PausedPaymentFailed, PausedAuthenticationRequired, PausedMonthlyLimitReached, PausedCardMissing, PausedDispute} {
		cases = append(cases, planCase{name: "keeps " + string(reason), acc: Account{AutoRefill: pausedPlan(reason), Refill: streak}, apply: resume, wantErr: ErrNoChange})
	}
	runPlanCases(t, cases)
}

func TestPauseForRefund(t *testing.T) {
	inFlight := RefillState{Phase: RefillInFlight, PurchaseID: "pur_2", StartedAt: planNow}
	refunded := pausedPlan(PausedRefillRefunded)
	cases := []planCase{
		{name: "active plan pauses", acc: Account{AutoRefill: activePlan()}, apply: (*Account).PauseForRefund,
			wantChange: PlanChange{Paused: PausedRefillRefunded}, wantPlan: refunded},
		{name: "a refill in flight is left to finish", acc: Account{AutoRefill: activePlan(), Refill: inFlight}, apply: (*Account).PauseForRefund,
			wantChange: PlanChange{Paused: PausedRefillRefunded}, wantPlan: refunded, wantRefill: inFlight},
		{name: "plan off stays off", acc: Account{AutoRefill: offPlan()}, apply: (*Account).PauseForRefund, wantErr: ErrNoChange},
		{name: "second refund changes nothing", acc: Account{AutoRefill: refunded}, apply: (*Account).PauseForRefund, wantErr: ErrNoChange},
	}
	// A new card lifts these pauses; it must not lift the refund's.
	for _, reason := range []PauseReason{PausedCardMissing, PausedPaymentFailed, PausedAuthenticationRequired} {
		cases = append(cases, planCase{name: "replaces " + string(reason), acc: Account{AutoRefill: pausedPlan(reason)}, apply: (*Account).PauseForRefund,
			wantChange: PlanChange{Paused: PausedRefillRefunded}, wantPlan: refunded})
	}
	for _, reason := range []PauseReason{PausedDispute, PausedMonthlyLimitReached} {
		cases = append(cases, planCase{name: "keeps " + string(reason), acc: Account{AutoRefill: pausedPlan(reason)}, apply: (*Account).PauseForRefund,
			wantErr: ErrNoChange})
	}
	runPlanCases(t, cases)
}

func TestPauseForDispute(t *testing.T) {
	held := func(ar AutoRefill) AutoRefill { ar.DisputeHold = true; return ar }
	offHeld := held(offPlan())
	runPlanCases(t, []planCase{
		{name: "active plan pauses and is held", acc: Account{AutoRefill: activePlan()}, apply: (*Account).PauseForDispute,
			wantChange: PlanChange{Paused: PausedDispute}, wantPlan: held(pausedPlan(PausedDispute))},
		{name: "plan paused for its card is held for the dispute", acc: Account{AutoRefill: pausedPlan(PausedCardMissing)}, apply: (*Account).PauseForDispute,
			wantChange: PlanChange{Paused: PausedDispute}, wantPlan: held(pausedPlan(PausedDispute))},
		{name: "plan off is held, stays off", acc: Account{AutoRefill: offPlan()}, apply: (*Account).PauseForDispute, wantPlan: offHeld},
		{name: "second dispute changes nothing", acc: Account{AutoRefill: held(pausedPlan(PausedDispute))}, apply: (*Account).PauseForDispute, wantErr: ErrNoChange},
		{name: "held plan off changes nothing", acc: Account{AutoRefill: offHeld}, apply: (*Account).PauseForDispute, wantErr: ErrNoChange},
	})
}

func TestConfigurePlan(t *testing.T) {
	cat := Catalog{Packages: []Package{{ID: "dsu-1000", Name: "1,000 DSUs", Units: 1000, Prices: map[Currency]int64{USD: 5000, EUR: 4600}},
		{ID: "dsu-5000", Name: "5,000 DSUs", Units: 5000, Prices: map[Currency]int64{USD: 23750, EUR: 21850}}}}
	str := func(s string) *string { return &s }
	units := func(u Units) *Units { return &u }
	num := func(n int) *int { return &n }
	configure := func(s PlanSettings) AccountMutation {
		return func(a *Account) (PlanChange, error) { return a.ConfigurePlan(s, cat) }
	}
	streak := RefillState{Phase: RefillFailed, Failures: 1, NextAttemptAt: planNow.Add(time.Hour), Month: "2026-11", MonthCount: 1}
	withThreshold := func(ar AutoRefill, th Units) AutoRefill { ar.Threshold = th; return ar }
	runPlanCases(t, []planCase{
		{name: "enable from off with every setting", acc: Account{AutoRefill: offPlan()},
			apply:    configure(PlanSettings{Enabled: true, PackageID: str("dsu-1000"), Threshold: units(100), MonthlyLimit: num(3)}),
			wantPlan: activePlan()},
		{name: "enable without a package", acc: Account{AutoRefill: offPlan()},
			apply: configure(PlanSettings{Enabled: true, MonthlyLimit: num(3)}), wantKind: KindInvalid},
		{name: "enable without a monthly limit", acc: Account{AutoRefill: offPlan()},
			apply: configure(PlanSettings{Enabled: true, PackageID: str("dsu-1000")}), wantKind: KindInvalid},
		{name: "enable with a package no longer sold", acc: Account{AutoRefill: AutoRefill{Status: AutoRefillOff, PackageID: "dsu-retired", MonthlyLimit: 3}},
			apply: configure(PlanSettings{Enabled: true}), wantKind: KindInvalid},
		{name: "saving a running plan keeps its retry state", acc: Account{AutoRefill: activePlan(), Refill: streak},
			apply: configure(PlanSettings{Enabled: true, Threshold: units(500)}), wantPlan: withThreshold(activePlan(), 500), wantRefill: streak},
		{name: "re-enabling a paused plan resumes it and clears the streak", acc: Account{AutoRefill: pausedPlan(PausedPaymentFailed), Refill: streak},
			apply: configure(PlanSettings{Enabled: true}), wantPlan: activePlan(), wantRefill: RefillState{Month: "2026-11", MonthCount: 1}},
		{name: "re-enabling after the monthly limit resumes", acc: Account{AutoRefill: pausedPlan(PausedMonthlyLimitReached)},
			apply: configure(PlanSettings{Enabled: true}), wantPlan: activePlan()},
		{name: "re-enabling after a refunded refill resumes", acc: Account{AutoRefill: pausedPlan(PausedRefillRefunded)},
			apply: configure(PlanSettings{Enabled: true}), wantPlan: activePlan()},
		{name: "a dispute hold refuses enabling", acc: Account{AutoRefill: func() AutoRefill { ar := pausedPlan(PausedDispute); ar.DisputeHold = true; return ar }()},
			apply: configure(PlanSettings{Enabled: true}), wantKind: KindConflict},
		{name: "disabling turns a held plan off and keeps the hold",
			acc:      Account{AutoRefill: func() AutoRefill { ar := pausedPlan(PausedDispute); ar.DisputeHold = true; return ar }()},
			apply:    configure(PlanSettings{Enabled: false}),
			wantPlan: AutoRefill{Status: AutoRefillOff, PackageID: "dsu-1000", Threshold: 100, MonthlyLimit: 3, DisputeHold: true}},
		{name: "disabling a running plan", acc: Account{AutoRefill: activePlan(), Refill: streak},
			apply:    configure(PlanSettings{Enabled: false}),
			wantPlan: AutoRefill{Status: AutoRefillOff, PackageID: "dsu-1000", Threshold: 100, MonthlyLimit: 3}, wantRefill: streak},
	})
}

func TestPlanSettingsValidate(t *testing.T) {
	cat := Catalog{Packages: []Package{{ID: "dsu-1000", Name: "1,000 DSUs", Units: 1000, Prices: map[Currency]int64{USD: 5000, EUR: 4600}}}}
	str := func(s string) *string { return &s }
	units := func(u Units) *Units { return &u }
	num := func(n int) *int { return &n }
	for _, c := range []struct {
		name   string
		s      PlanSettings
		fields []string
	}{
		{"nothing set", PlanSettings{}, nil},
		{"bounds included", PlanSettings{Threshold: units(MaxThreshold), MonthlyLimit: num(31), PackageID: str("dsu-1000")}, nil},
		{"zero threshold", PlanSettings{Threshold: units(0), MonthlyLimit: num(1)}, nil},
		{"negative threshold", PlanSettings{Threshold: units(-1)}, []string{"threshold"}},
		{"threshold over the bound", PlanSettings{Threshold: units(MaxThreshold + 1)}, []string{"threshold"}},
		{"monthly limit 0", PlanSettings{MonthlyLimit: num(0)}, []string{"monthlyLimit"}},
		{"monthly limit 32", PlanSettings{MonthlyLimit: num(32)}, []string{"monthlyLimit"}},
		{"unknown package", PlanSettings{PackageID: str("dsu-7")}, []string{"packageId"}},
		{"all wrong at once", PlanSettings{PackageID: str(""), Threshold: units(-5), MonthlyLimit: num(99)}, []string{"packageId", "threshold", "monthlyLimit"}},
	} {
		err := c.s.Validate(cat)
		var got []string
		if e, ok := errors.AsType[*Error](err); ok {
			for _, f := range e.Fields {
				got = append(got, f.Field)
			}
		}
		if len(got) != len(c.fields) {
			t.Errorf("%s: fields %v, want %v (%v)", c.name, got, c.fields, err)
			continue
		}
		for i := range got {
			if got[i] != c.fields[i] {
				t.Errorf("%s: fields %v, want %v", c.name, got, c.fields)
			}
		}
	}
}

func TestRefillRules(t *testing.T) {
	policy := DefaultRefillPolicy
	inFlight := RefillState{Phase: RefillInFlight, PurchaseID: "pur_1", StartedAt: planNow, Month: "2026-11", MonthCount: 1}
	claim := func(id string) AccountMutation {
		return func(a *Account) (PlanChange, error) { return a.ClaimRefill(id, planNow) }
	}
	failed := func(retryable bool) AccountMutation {
		return func(a *Account) (PlanChange, error) { return a.RefillFailed("pur_1", retryable, planNow, policy) }
	}
	limitUsed := RefillState{Month: "2026-11", MonthCount: 3}
	runPlanCases(t, []planCase{
		{name: "claim when due", acc: Account{Units: 100, AutoRefill: activePlan()}, apply: claim("pur_1"),
			wantPlan: activePlan(), wantRefill: inFlight},
		{name: "claim above the threshold", acc: Account{Units: 101, AutoRefill: activePlan()}, apply: claim("pur_1"), wantErr: ErrRefillNotNeeded},
		{name: "claim while one is in flight", acc: Account{Units: 0, AutoRefill: activePlan(), Refill: inFlight}, apply: claim("pur_2"), wantErr: ErrRefillNotNeeded},
		{name: "claim of a paused plan", acc: Account{Units: 0, AutoRefill: pausedPlan(PausedCardMissing)}, apply: claim("pur_1"), wantErr: ErrRefillNotNeeded},
		{name: "claim past the monthly limit pauses instead", acc: Account{Units: 0, AutoRefill: activePlan(), Refill: limitUsed}, apply: claim("pur_1"),
			wantChange: PlanChange{Paused: PausedMonthlyLimitReached}, wantPlan: pausedPlan(PausedMonthlyLimitReached), wantRefill: limitUsed},
		{name: "a new month resets the count", acc: Account{Units: 0, AutoRefill: activePlan(), Refill: RefillState{Month: "2026-10", MonthCount: 3}},
			apply: claim("pur_1"), wantPlan: activePlan(), wantRefill: inFlight},
		{name: "success releases the claim", acc: Account{AutoRefill: activePlan(), Refill: inFlight},
			apply:    func(a *Account) (PlanChange, error) { return a.RefillSucceeded("pur_1") },
			wantPlan: activePlan(), wantRefill: RefillState{Month: "2026-11", MonthCount: 1}},
		{name: "success of another purchase", acc: Account{AutoRefill: activePlan(), Refill: inFlight},
			apply: func(a *Account) (PlanChange, error) { return a.RefillSucceeded("pur_0") }, wantErr: ErrNoChange},
		{name: "retryable decline waits an hour", acc: Account{AutoRefill: activePlan(), Refill: inFlight}, apply: failed(true),
			wantPlan: activePlan(), wantRefill: RefillState{Phase: RefillFailed, PurchaseID: "pur_1", StartedAt: planNow, Failures: 1,
				NextAttemptAt: planNow.Add(time.Hour), Month: "2026-11", MonthCount: 1}},
		{name: "third retryable decline pauses", acc: Account{AutoRefill: activePlan(), Refill: func() RefillState { r := inFlight; r.Failures = 2; return r }()},
			apply: failed(true), wantChange: PlanChange{Paused: PausedPaymentFailed}, wantPlan: pausedPlan(PausedPaymentFailed),
			wantRefill: RefillState{PurchaseID: "pur_1", StartedAt: planNow, Failures: 3, Month: "2026-11", MonthCount: 1}},
		{name: "permanent decline pauses at once", acc: Account{AutoRefill: activePlan(), Refill: inFlight}, apply: failed(false),
			wantChange: PlanChange{Paused: PausedPaymentFailed}, wantPlan: pausedPlan(PausedPaymentFailed),
			wantRefill: RefillState{PurchaseID: "pur_1", StartedAt: planNow, Failures: 1, Month: "2026-11", MonthCount: 1}},
		{name: "decline of a plan paused meanwhile keeps its pause", acc: Account{AutoRefill: pausedPlan(PausedDispute), Refill: inFlight}, apply: failed(false),
			wantPlan: pausedPlan(PausedDispute), wantRefill: RefillState{PurchaseID: "pur_1", StartedAt: planNow, Failures: 1, Month: "2026-11", MonthCount: 1}},
		{name: "authentication needed pauses, waiting for that purchase", acc: Account{AutoRefill: activePlan(), Refill: inFlight},
			apply:      func(a *Account) (PlanChange, error) { return a.RefillNeedsAuthentication("pur_1") },
			wantChange: PlanChange{Paused: PausedAuthenticationRequired}, wantPlan: awaiting("pur_1"),
			wantRefill: RefillState{StartedAt: planNow, Month: "2026-11", MonthCount: 1}},
		{name: "authentication needed of a plan paused meanwhile waits for nothing", acc: Account{AutoRefill: pausedPlan(PausedDispute), Refill: inFlight},
			apply:    func(a *Account) (PlanChange, error) { return a.RefillNeedsAuthentication("pur_1") },
			wantPlan: pausedPlan(PausedDispute), wantRefill: RefillState{StartedAt: planNow, Month: "2026-11", MonthCount: 1}},
		{name: "not charged releases and pauses", acc: Account{AutoRefill: activePlan(), Refill: inFlight},
			apply:      func(a *Account) (PlanChange, error) { return a.RefillNotCharged("pur_1", PausedCardMissing) },
			wantChange: PlanChange{Paused: PausedCardMissing}, wantPlan: pausedPlan(PausedCardMissing),
			wantRefill: RefillState{StartedAt: planNow, Month: "2026-11", MonthCount: 1}},
		{name: "not charged without a reason only releases", acc: Account{AutoRefill: activePlan(), Refill: inFlight},
			apply:    func(a *Account) (PlanChange, error) { return a.RefillNotCharged("pur_1", "") },
			wantPlan: activePlan(), wantRefill: RefillState{StartedAt: planNow, Month: "2026-11", MonthCount: 1}},
		{name: "not charged, claim gone, plan paused: nothing", acc: Account{AutoRefill: pausedPlan(PausedDispute)},
			apply: func(a *Account) (PlanChange, error) { return a.RefillNotCharged("pur_1", PausedCardMissing) }, wantErr: ErrNoChange},
		{name: "decline of a replaced card releases, gives the month's count back, clears the streak",
			acc:      Account{AutoRefill: activePlan(), Refill: func() RefillState { r := inFlight; r.Failures = 2; return r }()},
			apply:    func(a *Account) (PlanChange, error) { return a.RefillDeclinedOnReplacedCard("pur_1") },
			wantPlan: activePlan(), wantRefill: RefillState{StartedAt: planNow, Month: "2026-11", MonthCount: 0}},
		{name: "decline of a replaced card, claim gone: nothing", acc: Account{AutoRefill: activePlan()},
			apply: func(a *Account) (PlanChange, error) { return a.RefillDeclinedOnReplacedCard("pur_1") }, wantErr: ErrNoChange},
	})
}

// awaiting is an active plan paused authentication_required for purchase id.
func awaiting(id string) AutoRefill {
	ar := pausedPlan(PausedAuthenticationRequired)
	ar.AwaitingPurchaseID = id
	return ar
}

// The plan waits for the one refill it paused for: resuming it (a new card,
// enabling again) or turning it off supersedes that refill, and so does a
// newer refill's own pause for authentication.
func TestAwaitsAuthenticationOfOneRefill(t *testing.T) {
	a := Account{AutoRefill: activePlan(), Refill: RefillState{Phase: RefillInFlight, PurchaseID: "pur_a"}}
	if _, err := a.RefillNeedsAuthentication("pur_a"); err != nil {
		t.Fatal(err)
	}
	if !a.AwaitsAuthentication("pur_a") || a.AwaitsAuthentication("pur_b") {
		t.Fatalf("after A's pause: %+v", a.AutoRefill)
	}
	if _, err := a.ResumeForNewCard(); err != nil {
		t.Fatal(err)
	}
	if a.AwaitsAuthentication("pur_a") {
		t.Fatal("a new card resumed the plan, and it still waits for A")
	}
	a.Refill = RefillState{Phase: RefillInFlight, PurchaseID: "pur_b"}
	if _, err := a.RefillNeedsAuthentication("pur_b"); err != nil {
		t.Fatal(err)
	}
	if a.AwaitsAuthentication("pur_a") || !a.AwaitsAuthentication("pur_b") {
		t.Fatalf("after B's pause the plan waits for A: %+v", a.AutoRefill)
	}
	if _, err := a.ConfigurePlan(PlanSettings{Enabled: false}, Catalog{}); err != nil {
		t.Fatal(err)
	}
	if a.AwaitsAuthentication("pur_b") || a.AutoRefill.AwaitingPurchaseID != "" {
		t.Fatalf("turned off, the plan still waits: %+v", a.AutoRefill)
	}
	legacy := Account{AutoRefill: pausedPlan(PausedAuthenticationRequired)}
	if !legacy.AwaitsAuthentication("pur_a") {
		t.Fatal("a pause stored without its purchase waits for none")
	}
}
