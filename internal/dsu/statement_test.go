package dsu

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestParseMonth(t *testing.T) {
	now := time.Date(2027, 1, 15, 10, 0, 0, 0, time.UTC)
	for m, ok := range map[string]bool{
		"2027-01": true, "2026-12": true, "2020-02": true, // the current month, last year's December, long ago
		"2027-02": false, "2028-01": false, // the future
		"2027-1": false, "27-01": false, "2027-13": false, "2027-00": false, "2027/01": false, "": false, " 2027-01": false, "2027-01-01": false,
	} {
		if _, err := ParseMonth(m, now); (err == nil) != ok {
			t.Errorf("ParseMonth(%q) accepted = %v, want %v (%v)", m, err == nil, ok, err)
		}
	}
	if NextMonth("2026-12") != "2027-01" || NextMonth("2027-01") != "2027-02" {
		t.Errorf("NextMonth across the year: %s, %s", NextMonth("2026-12"), NextMonth("2027-01"))
	}
	if MonthOf(time.Date(2026, 12, 31, 23, 59, 59, 0, time.FixedZone("x", -3600))) != "2027-01" {
		t.Error("months are UTC months")
	}
}

// closingBalance = openingBalance + Σ totals, whatever the month's entries.
func TestStatementAddsUpOverRandomLedgers(t *testing.T) {
	types := []EntryType{EntryGrant, EntryPurchase, EntryRefill, EntryUsage, EntryRefund, EntryDispute, EntryAdjustment}
	r := rand.New(rand.NewPCG(1, 2))
	for run := range 500 {
		opening := r.Int64N(2_000_000) - 1_000_000
		balance := opening
		var entries []Entry
		for i := range r.IntN(200) {
			u := r.Int64N(200_000) - 100_000
			balance += u
			entries = append(entries, Entry{Seq: int64(i + 1), Type: types[r.IntN(len(types))], Units: u, BalanceAfter: balance})
		}
		st := NewStatement("2026-11", opening, entries)
		var sum Units
		for _, u := range st.Totals {
			sum += u
		}
		if st.ClosingBalance != st.OpeningBalance+sum {
			t.Fatalf("run %d: closing %d ≠ opening %d + Σ totals %d", run, st.ClosingBalance, st.OpeningBalance, sum)
		}
		if st.ClosingBalance != balance {
			t.Fatalf("run %d: closing %d, the ledger ends at %d", run, st.ClosingBalance, balance)
		}
		if st.UsageUnits != -st.Totals[EntryUsage] {
			t.Fatalf("run %d: usage units %d, usage total %d", run, st.UsageUnits, st.Totals[EntryUsage])
		}
	}
	empty := NewStatement("2026-11", 1500, nil)
	if empty.ClosingBalance != 1500 || len(empty.Totals) != 0 || empty.UsageUnits != 0 {
		t.Errorf("empty month: %+v", empty)
	}
}

func TestStatementCreditedPurchases(t *testing.T) {
	st := NewStatement("2026-11", 0, []Entry{
		{Type: EntryGrant, Reference: WelcomeGrantRef},
		{Type: EntryPurchase, Reference: PurchaseRef("pur_2")},
		{Type: EntryRefund, Reference: RefundRef("re_1")},
		{Type: EntryRefill, Reference: PurchaseRef("pur_3")},
		{Type: EntryPurchase, Reference: PurchaseRef("pur_2")},
	})
	got := st.CreditedPurchases()
	if len(got) != 2 || got[0] != "pur_2" || got[1] != "pur_3" {
		t.Errorf("credited purchases %v", got)
	}
}

func TestUsageReportGroupsByTenant(t *testing.T) {
	rep := NewUsageReport("2026-11", []UsageRecord{
		{TenantID: "b", Date: "2026-11-02", Users: 5, Units: 5},
		{TenantID: "a", Date: "2026-11-03", Users: 7, Units: 7},
		{TenantID: "b", Date: "2026-11-01", Users: 5, Units: 5},
		{TenantID: "c", Date: "2026-11-27", Users: 90, Units: 0}, // a free day
		{TenantID: "d", Date: "2026-11-01", Users: 10, Units: 10},
	})
	if rep.TotalUnits != 27 || len(rep.Tenants) != 4 {
		t.Fatalf("%+v", rep)
	}
	order := []string{"b", "d", "a", "c"} // 10, 10 (by id), 7, 0
	for i, id := range order {
		if rep.Tenants[i].TenantID != id {
			t.Fatalf("tenant %d is %s, want %s (%+v)", i, rep.Tenants[i].TenantID, id, rep.Tenants)
		}
	}
	if b := rep.Tenants[0]; b.Units != 10 || len(b.Days) != 2 || b.Days[0].Date != "2026-11-01" {
		t.Errorf("tenant b: %+v", b)
	}
}
