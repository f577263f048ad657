package dynamo_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
)

func adjust(t *testing.T, f *fixture, partner string, units int64, ref string) dsu.Entry {
	t.Helper()
	e, _, err := f.store.ApplyLedger(context.Background(), dsu.LedgerChange{PartnerID: partner, Type: dsu.EntryAdjustment, Units: units, Reference: ref})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// checkMonth asserts a month's opening balance and entry references.
func checkMonth(t *testing.T, f *fixture, partner, month string, opening int64, refs ...string) {
	t.Helper()
	gotOpening, entries, err := f.store.MonthLedger(context.Background(), partner, month)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Reference)
	}
	if gotOpening != opening || fmt.Sprint(got) != fmt.Sprint(refs) {
		t.Errorf("%s: opening %d, entries %v; want %d, %v", month, gotOpening, got, opening, refs)
	}
}

// Months across a year's end, a partner created mid-month, an empty month
// between two others, and the current month with no entry yet.
func TestMonthLedgerReadsOneMonth(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(time.Date(2026, 11, 17, 10, 0, 0, 0, time.UTC)) // mid-month
	f.createPartner(t, "p1", 2000)
	adjust(t, f, "p1", -300, "adjustment:nov")
	f.clock.Set(time.Date(2027, 1, 2, 0, 0, 1, 0, time.UTC)) // December had none
	adjust(t, f, "p1", 50, "adjustment:jan1")
	adjust(t, f, "p1", -20, "adjustment:jan2")
	f.clock.Set(time.Date(2027, 3, 5, 0, 0, 0, 0, time.UTC))

	checkMonth(t, f, "p1", "2026-11", 0, "grant:welcome", "adjustment:nov")
	checkMonth(t, f, "p1", "2026-12", 1700)
	checkMonth(t, f, "p1", "2027-01", 1700, "adjustment:jan1", "adjustment:jan2")
	checkMonth(t, f, "p1", "2027-02", 1730) // nothing since: today's balance
	checkMonth(t, f, "p1", "2027-03", 1730)
	f.checkInvariant(t, "p1")
}

// Writers' clocks differ by milliseconds: an entry stamped in the month
// before the ledger's current one belongs to the current one, and no
// second marker is written for a month that has one.
func TestMonthsFollowSequenceNumbers(t *testing.T) {
	f := newFixture(t)
	f.clock.Set(time.Date(2026, 12, 31, 23, 59, 59, 0, time.UTC))
	f.createPartner(t, "p1", 100)
	f.clock.Set(time.Date(2027, 1, 1, 0, 0, 0, 1, time.UTC))
	adjust(t, f, "p1", 1, "adjustment:jan")
	f.clock.Set(time.Date(2026, 12, 31, 23, 59, 59, 999, time.UTC)) // a late clock
	adjust(t, f, "p1", 2, "adjustment:late")
	checkMonth(t, f, "p1", "2026-12", 0, "grant:welcome")
	checkMonth(t, f, "p1", "2027-01", 100, "adjustment:jan", "adjustment:late")
}

// A statement's reads grow with its month's entries, never with the
// ledger's history: 10,000 older entries cost nothing.
func TestMonthLedgerIgnoresOlderHistory(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	f.clock.Set(time.Date(2026, 9, 3, 8, 0, 0, 0, time.UTC))
	f.createPartner(t, "p1", 0)
	if err := dynamo.SeedOldLedger(ctx, f.store, f.emu.Client, "p1", 10_000, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Set(time.Date(2026, 10, 1, 9, 0, 0, 0, time.UTC))
	// Few entries through the real transaction path: the emulator copies
	// its whole table on every transaction.
	for i := range 3 {
		adjust(t, f, "p1", -1, fmt.Sprintf("adjustment:oct%02d", i))
	}
	f.api.Reset()
	opening, entries, err := f.store.MonthLedger(ctx, "p1", "2026-10")
	if err != nil {
		t.Fatal(err)
	}
	if opening != 10_000 || len(entries) != 3 || entries[0].Reference != "adjustment:oct00" {
		t.Fatalf("opening %d, %d entries", opening, len(entries))
	}
	// The month's marker, the next marker, one page of entries.
	if c := f.api.Counts(); c.Reads != 3 {
		t.Errorf("%d reads for a month of 3 entries after 10,000 older ones, want 3", c.Reads)
	}
	if acc, _ := f.store.GetAccount(ctx, "p1"); acc.Units != 10_000-3 || acc.LedgerSeq != 10_003 || acc.LedgerMonth != "2026-10" {
		t.Errorf("account %+v", acc)
	}
}
