package dsu

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
)

func TestBilledDays(t *testing.T) {
	for day := 1; day <= 31; day++ {
		d := time.Date(2026, time.January, day, 0, 0, 0, 0, time.UTC)
		want := day <= 25
		if got := IsBilledDay(d); got != want {
			t.Errorf("day %d billed = %v, want %v", day, got, want)
		}
		units := UsageUnits(d, 7)
		if want && units != 7 || !want && units != 0 {
			t.Errorf("day %d: 7 users consume %d DSUs", day, units)
		}
	}
	// Day boundaries are UTC: 23:30 on the 25th in New York is the 26th in UTC.
	ny, _ := time.LoadLocation("America/New_York")
	if ny != nil && IsBilledDay(time.Date(2026, 3, 25, 23, 30, 0, 0, ny)) {
		t.Error("billed-day rule must use the UTC date")
	}
}

func TestParseUsageDate(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 0, time.UTC)
	for _, ok := range []string{"2026-11-29", "2026-11-01", "2026-10-31", "2026-10-01"} {
		if _, err := ParseUsageDate(ok, now); err != nil {
			t.Errorf("%s rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"2026-11-30", "2027-01-01", "2026-09-30", "2020-02-29", "2026-1-5", "2026-02-30", "29.11.2026", "", "2026-11-29T00:00:00Z", " 2026-11-29"} {
		if _, err := ParseUsageDate(bad, now); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	// Across the year boundary: in January, December is the previous month.
	jan := time.Date(2027, 1, 5, 23, 59, 0, 0, time.UTC)
	for date, ok := range map[string]bool{"2026-12-01": true, "2027-01-05": true, "2026-11-30": false, "2027-01-06": false} {
		if _, err := ParseUsageDate(date, jan); (err == nil) != ok {
			t.Errorf("in January, %s accepted = %v, want %v", date, err == nil, ok)
		}
	}
}

func TestCheckInvariant(t *testing.T) {
	entries := []Entry{
		{Seq: 1, Units: 2000, BalanceAfter: 2000, Reference: WelcomeGrantRef},
		{Seq: 2, Units: -2500, BalanceAfter: -500, Reference: UsageRef("p", "2026-11-02", 2)},
		{Seq: 3, Units: 5000, BalanceAfter: 4500, Reference: PurchaseRef("pur_1")},
	}
	if err := CheckInvariant(4500, entries); err != nil {
		t.Fatal(err)
	}
	if err := CheckInvariant(4501, entries); err == nil {
		t.Error("a balance that is not the sum passed")
	}
	broken := append([]Entry(nil), entries...)
	broken[1].BalanceAfter = 0
	if err := CheckInvariant(4500, broken); err == nil {
		t.Error("a wrong running balance passed")
	}
	gap := []Entry{entries[0], entries[2]}
	gap[1].BalanceAfter = 7000
	if err := CheckInvariant(7000, gap); err == nil {
		t.Error("a gap in sequence numbers passed")
	}
}

func TestLedgerChangeValidate(t *testing.T) {
	good := LedgerChange{PartnerID: "p1", Type: EntryUsage, Units: -3, Reference: "usage:p1:t:2026-11-01"}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]LedgerChange{
		"no partner":    {Type: EntryUsage, Reference: "x"},
		"bad type":      {PartnerID: "p", Type: "gift", Reference: "x"},
		"no reference":  {PartnerID: "p", Type: EntryGrant},
		"long ref":      {PartnerID: "p", Type: EntryGrant, Reference: strings.Repeat("r", MaxReferenceLength+1)},
		"hash in party": {PartnerID: "p#1", Type: EntryGrant, Reference: "x"},
	} {
		if c.Validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestValidatePartnerID(t *testing.T) {
	for _, ok := range []string{"p1", "8d1e2c3a-1b2c-4d5e-8f90-123456789abc", "acme.corp_01:eu"} {
		if err := ValidatePartnerID(ok); err != nil {
			t.Errorf("%q rejected: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a b", "a#b", "é", strings.Repeat("x", 129), "tab\t", "\x00"} {
		if ValidatePartnerID(bad) == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestOverflowChecks(t *testing.T) {
	if _, ok := MulInt(math.MaxInt64/2+1, 2); ok {
		t.Error("multiplication overflow not reported")
	}
	if v, ok := MulInt(375000, 100); !ok || v != 37500000 {
		t.Errorf("MulInt = %d %v", v, ok)
	}
	if _, ok := MulInt(-1, 2); ok {
		t.Error("negative factors must be refused")
	}
	if _, ok := AddInt(math.MaxInt64, 1); ok {
		t.Error("addition overflow not reported")
	}
	if _, ok := AddInt(math.MinInt64, -1); ok {
		t.Error("negative addition overflow not reported")
	}
	if v, ok := AddInt(-5, 3); !ok || v != -2 {
		t.Errorf("AddInt = %d %v", v, ok)
	}
}

func TestParseCurrency(t *testing.T) {
	for _, c := range []string{"usd", "eur"} {
		if _, err := ParseCurrency(c); err != nil {
			t.Error(err)
		}
	}
	for _, c := range []string{"USD", "gbp", "", "us"} {
		if _, err := ParseCurrency(c); err == nil {
			t.Errorf("%q accepted", c)
		}
	}
}

func TestRandomIDsSortByTime(t *testing.T) {
	clock := dsutest.NewFixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	g := RandomIDs{Clock: clock}
	var ids []string
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		id := g.NewID("pur_")
		if !strings.HasPrefix(id, "pur_") || len(id) != 4+26 {
			t.Fatalf("bad id %q", id)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
		ids = append(ids, id)
		clock.Advance(time.Millisecond)
	}
	if !sort.StringsAreSorted(ids) {
		t.Error("ids issued later do not sort later")
	}
}

func TestSweepAt(t *testing.T) {
	now := time.Date(2026, 11, 2, 12, 0, 0, 0, time.UTC)
	active := AutoRefill{Enabled: true, Status: AutoRefillActive, Threshold: 0, PackageID: "dsu-1000", MonthlyLimit: 5}
	stuck := 15 * time.Minute
	cases := []struct {
		name   string
		acc    Account
		wantOK bool
		wantAt time.Time
		needs  bool
	}{
		{"plenty left", Account{Units: 10, UpdatedAt: now, AutoRefill: active}, false, time.Time{}, false},
		{"used up", Account{Units: 0, UpdatedAt: now, AutoRefill: active}, true, now, true},
		{"negative", Account{Units: -40, UpdatedAt: now, AutoRefill: active}, true, now, true},
		{"plan off", Account{Units: -40, UpdatedAt: now, AutoRefill: AutoRefill{Status: AutoRefillOff}}, false, time.Time{}, false},
		{"paused", Account{Units: -40, UpdatedAt: now, AutoRefill: AutoRefill{Status: AutoRefillPaused}}, false, time.Time{}, false},
		{"in flight", Account{Units: -40, UpdatedAt: now, AutoRefill: active, Refill: RefillState{Phase: RefillInFlight, StartedAt: now}}, true, now.Add(stuck), false},
		{"paused in flight", Account{Units: -40, AutoRefill: AutoRefill{Status: AutoRefillPaused}, Refill: RefillState{Phase: RefillInFlight, StartedAt: now}}, true, now.Add(stuck), false},
		{"failed", Account{Units: -40, UpdatedAt: now, AutoRefill: active, Refill: RefillState{Phase: RefillFailed, NextAttemptAt: now.Add(time.Hour)}}, true, now.Add(time.Hour), false},
	}
	for _, c := range cases {
		at, ok := c.acc.SweepAt(stuck)
		if ok != c.wantOK || !at.Equal(c.wantAt) {
			t.Errorf("%s: SweepAt = %v %v, want %v %v", c.name, at, ok, c.wantAt, c.wantOK)
		}
		if got := c.acc.NeedsRefill(); got != c.needs {
			t.Errorf("%s: NeedsRefill = %v", c.name, got)
		}
	}
}

func TestFormatUnitsAndDescriptions(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 7: "7", 999: "999", 1000: "1,000", 12500: "12,500", 1234567: "1,234,567", -2500: "-2,500", -100: "-100"} {
		if got := FormatUnits(n); got != want {
			t.Errorf("FormatUnits(%d) = %q, want %q", n, got, want)
		}
	}
	p := Purchase{ID: "pur_1", Kind: KindManual, Items: []LineItem{{Name: "5,000 DSUs", Quantity: 2}, {Name: "1,000 DSUs", Quantity: 1}}}
	if got := PurchaseDescription(p); got != "Purchase pur_1 (2 × 5,000 DSUs, 1 × 1,000 DSUs)" {
		t.Errorf("purchase: %q", got)
	}
	p.Kind = KindAutoRefill
	if got := PurchaseDescription(p); got != "Automatic purchase pur_1 (2 × 5,000 DSUs, 1 × 1,000 DSUs)" {
		t.Errorf("refill: %q", got)
	}
	if got := UsageDescription("2026-11-20", 49); got != "Usage on 2026-11-20 across 49 tenants" {
		t.Errorf("usage: %q", got)
	}
	if got := UsageDescription("2026-11-20", 1); got != "Usage on 2026-11-20 across 1 tenant" {
		t.Errorf("usage of one tenant: %q", got)
	}
	if got := RefundDescription("re_1", "pur_1"); got != "Refund re_1 of pur_1" {
		t.Errorf("refund: %q", got)
	}
	if got := RefundReversalDescription("re_1", "pur_1"); got != "Refund re_1 of pur_1 did not go through; DSUs returned" {
		t.Errorf("refund reversal: %q", got)
	}
	if got := RefundReversalKeptDescription("re_1", "pur_1", 1000, 0); got != "Refund re_1 of pur_1 did not go through; DSUs returned" {
		t.Errorf("refund reversal, nothing kept: %q", got)
	}
	if got := RefundReversalKeptDescription("re_1", "pur_1", 0, 1000); got != "Refund re_1 of pur_1 did not go through; its DSUs stay debited, as a lost dispute returned the money" {
		t.Errorf("refund reversal, all kept: %q", got)
	}
	if got := RefundReversalKeptDescription("re_1", "pur_1", 1500, 2500); got != "Refund re_1 of pur_1 did not go through; 1,500 DSUs returned, 2,500 stay debited, as a lost dispute returned the money" {
		t.Errorf("refund reversal, part kept: %q", got)
	}
	if c := (LedgerChange{PartnerID: "p1", Type: EntryRefundReversal, Units: 5, Reference: RefundReversalRef("re_1")}); c.Validate() != nil || c.Reference != "refund_reversal:re_1" {
		t.Errorf("refund reversal change %+v: %v", c, c.Validate())
	}
}
