package dsu

import (
	"fmt"
	"testing"
)

// TestPurchaseTransitions checks every ordered pair of statuses against the
// state machine of RULES.md, so adding a status or an edge cannot go unnoticed.
func TestPurchaseTransitions(t *testing.T) {
	allowed := map[[2]PurchaseStatus]bool{
		{StatusPending, StatusRequiresAction}:      true,
		{StatusPending, StatusSucceeded}:           true,
		{StatusPending, StatusFailed}:              true,
		{StatusPending, StatusCanceled}:            true,
		{StatusRequiresAction, StatusSucceeded}:    true,
		{StatusRequiresAction, StatusFailed}:       true,
		{StatusRequiresAction, StatusCanceled}:     true,
		{StatusFailed, StatusSucceeded}:            true,
		{StatusFailed, StatusCanceled}:             true,
		{StatusSucceeded, StatusRefunded}:          true,
		{StatusSucceeded, StatusPartiallyRefunded}: true,
		{StatusSucceeded, StatusDisputed}:          true,
		{StatusPartiallyRefunded, StatusRefunded}:  true,
		{StatusPartiallyRefunded, StatusDisputed}:  true,
	}
	if len(PurchaseStatuses) != 8 {
		t.Fatalf("expected the 8 statuses of API.md, have %d", len(PurchaseStatuses))
	}
	for _, from := range PurchaseStatuses {
		for _, to := range PurchaseStatuses {
			t.Run(fmt.Sprintf("%s→%s", from, to), func(t *testing.T) {
				if got, want := CanTransition(from, to), allowed[[2]PurchaseStatus{from, to}]; got != want {
					t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
				}
			})
		}
	}
}

func TestTerminalStatusesNeverMove(t *testing.T) {
	for _, from := range []PurchaseStatus{StatusCanceled, StatusRefunded, StatusDisputed} {
		for _, to := range PurchaseStatuses {
			if CanTransition(from, to) {
				t.Errorf("%s is terminal but may move to %s", from, to)
			}
		}
	}
}

func TestTransitionSourcesAreTheInverse(t *testing.T) {
	for _, to := range PurchaseStatuses {
		for _, from := range TransitionSources(to) {
			if !CanTransition(from, to) {
				t.Errorf("TransitionSources(%s) lists %s which cannot move there", to, from)
			}
		}
	}
	if got := TransitionSources(StatusSucceeded); len(got) != 3 {
		t.Errorf("succeeded is reachable from pending, requires_action and failed; got %v", got)
	}
}

func TestCreditEntryType(t *testing.T) {
	if (Purchase{Kind: KindManual}).CreditEntryType() != EntryPurchase {
		t.Error("manual purchases credit as purchase")
	}
	if (Purchase{Kind: KindAutoRefill}).CreditEntryType() != EntryRefill {
		t.Error("automatic purchases credit as refill")
	}
}
