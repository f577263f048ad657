package app_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
)

// tenants is n records of one partner and one date, 1 + i%7 users each.
func tenants(partnerID, date string, n int, prefix string) []app.UsageInput {
	out := make([]app.UsageInput, n)
	for i := range out {
		out[i] = app.UsageInput{PartnerID: partnerID, TenantID: fmt.Sprintf("%s-%03d", prefix, i), Date: date, Users: int64(1 + i%7)}
	}
	return out
}

func sumUsers(recs []app.UsageInput) int64 {
	var n int64
	for _, r := range recs {
		n += r.Users
	}
	return n
}

// 500 records of one partner and one date cost ⌈500/98⌉ = 6 transactions,
// none over DynamoDB's 100 items; the ledger gets one usage line per
// transaction; sending them again writes nothing.
func TestUsageOfOnePartnerInAHandfulOfTransactions(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.partner("msp", "")
	today := r.clock.Now().Format(dsu.DateLayout)
	recs := tenants("msp", today, 500, "tenant")
	before := r.balance("msp")
	r.api.Reset()

	res, err := r.usage.Record(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	c := r.api.Counts()
	if c.Transactions > 6 {
		t.Errorf("500 records of one partner took %d transactions, want at most 6", c.Transactions)
	}
	if c.MaxTransactionItems > dynamo.MaxTransactionItems {
		t.Errorf("a transaction carried %d items, DynamoDB takes at most %d", c.MaxTransactionItems, dynamo.MaxTransactionItems)
	}
	for i, res := range res {
		if res.Status != app.UsageApplied || res.Units != recs[i].Users || res.TenantID != recs[i].TenantID {
			t.Fatalf("record %d: %+v, want applied in request order", i, res)
		}
	}
	if got := r.balance("msp"); got != before-sumUsers(recs) {
		t.Fatalf("balance %d, want %d", got, before-sumUsers(recs))
	}
	entries, _ := r.store.AllLedgerEntries(ctx, "msp")
	usage := entries[1:] // after the welcome grant
	if len(usage) != 6 {
		t.Fatalf("%d usage entries, want one per transaction (6)", len(usage))
	}
	tenantsCounted := 0
	for _, e := range usage {
		if e.Type != dsu.EntryUsage || e.Description == "" {
			t.Errorf("entry %+v", e)
		}
		var n int
		fmt.Sscanf(e.Description, "Usage on "+today+" across %d tenants", &n)
		tenantsCounted += n
	}
	if tenantsCounted != 500 {
		t.Errorf("descriptions count %d tenants, want 500: %q", tenantsCounted, usage[0].Description)
	}

	// The same 500 again: every record a duplicate, nothing written.
	acc, _ := r.store.GetAccount(ctx, "msp")
	r.api.Reset()
	again, err := r.usage.Record(ctx, recs)
	if err != nil {
		t.Fatal(err)
	}
	for i, res := range again {
		if res.Status != app.UsageDuplicate || res.Units != recs[i].Users {
			t.Fatalf("record %d again: %+v", i, res)
		}
	}
	after, _ := r.store.GetAccount(ctx, "msp")
	entriesAfter, _ := r.store.AllLedgerEntries(ctx, "msp")
	if after.Version != acc.Version || len(entriesAfter) != len(entries) {
		t.Fatalf("a resent report wrote: version %d → %d, entries %d → %d", acc.Version, after.Version, len(entries), len(entriesAfter))
	}
	if c := r.api.Counts(); c.Transactions > 6 || c.Writes != 0 {
		t.Errorf("resent report: %+v, want at most one (refused) attempt per chunk", c)
	}
}

// Duplicates, a conflict, and new records on two dates in one request:
// each answered as such, only the new ones debited, results in request
// order.
func TestUsageMixedRequest(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.partner("p1", "")
	day1 := r.clock.Now().AddDate(0, 0, -2).Format(dsu.DateLayout)
	day2 := r.clock.Now().AddDate(0, 0, -1).Format(dsu.DateLayout)
	if _, err := r.usage.Record(ctx, []app.UsageInput{
		{PartnerID: "p1", TenantID: "a", Date: day1, Users: 10},
		{PartnerID: "p1", TenantID: "b", Date: day1, Users: 20},
	}); err != nil {
		t.Fatal(err)
	}
	before := r.balance("p1")
	mixed := []app.UsageInput{
		{PartnerID: "p1", TenantID: "new1", Date: day2, Users: 3},
		{PartnerID: "p1", TenantID: "a", Date: day1, Users: 10},   // duplicate
		{PartnerID: "p1", TenantID: "b", Date: day1, Users: 99},   // conflict
		{PartnerID: "p1", TenantID: "new2", Date: day1, Users: 4}, // new, on the first date
		{PartnerID: "p1", TenantID: "new1", Date: day2, Users: 3}, // the request's own repeat
		{PartnerID: "p1", TenantID: "new3", Date: day2, Users: 5},
		{PartnerID: "p1", TenantID: "new3", Date: day2, Users: 6}, // its own repeat, another count
	}
	res, err := r.usage.Record(ctx, mixed)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status string
		units  int64
	}{{app.UsageApplied, 3}, {app.UsageDuplicate, 10}, {app.UsageConflict, 20}, {app.UsageApplied, 4},
		{app.UsageDuplicate, 3}, {app.UsageApplied, 5}, {app.UsageConflict, 5}}
	for i, w := range want {
		if res[i].Status != w.status || res[i].Units != w.units || res[i].TenantID != mixed[i].TenantID {
			t.Errorf("record %d (%s): %s %d, want %s %d", i, mixed[i].TenantID, res[i].Status, res[i].Units, w.status, w.units)
		}
	}
	if got := r.balance("p1"); got != before-3-4-5 {
		t.Fatalf("balance %d, want %d: only the new records are debited", got, before-12)
	}
}

// 50 concurrent requests for one partner, each with distinct records:
// every record applied exactly once, and Σ ledger = balance.
func TestConcurrentUsageRequestsOfOnePartner(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.partner("p1", "")
	today := r.clock.Now().Format(dsu.DateLayout)
	var wg sync.WaitGroup
	var total int64
	results := make([][]app.UsageResult, 50)
	errs := make([]error, 50)
	for i := range 50 {
		recs := tenants("p1", today, 5, fmt.Sprintf("req%02d", i))
		total += sumUsers(recs)
		wg.Go(func() { results[i], errs[i] = r.usage.Record(ctx, recs) })
	}
	wg.Wait()
	for i := range 50 {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		for _, res := range results[i] {
			if res.Status != app.UsageApplied {
				t.Fatalf("request %d: %+v", i, res)
			}
		}
	}
	if got := r.balance("p1"); got != 2000-total {
		t.Fatalf("balance %d, want %d", got, 2000-total)
	}
}

// The same records sent by concurrent requests: each applied once, the
// other requests answer duplicate.
func TestConcurrentUsageRequestsOfTheSameRecords(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.partner("p1", "")
	recs := tenants("p1", r.clock.Now().Format(dsu.DateLayout), 150, "t")
	var wg sync.WaitGroup
	results := make([][]app.UsageResult, 8)
	for i := range results {
		wg.Go(func() {
			var err error
			if results[i], err = r.usage.Record(ctx, recs); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for k := range recs {
		applied := 0
		for i := range results {
			switch results[i][k].Status {
			case app.UsageApplied:
				applied++
			case app.UsageDuplicate:
			default:
				t.Fatalf("record %d in request %d: %+v", k, i, results[i][k])
			}
		}
		if applied != 1 {
			t.Fatalf("record %d applied by %d requests, want exactly 1", k, applied)
		}
	}
	if got := r.balance("p1"); got != 2000-sumUsers(recs) {
		t.Fatalf("balance %d", got)
	}
}

// The free days record the usage items without any ledger entry, in
// transactions of up to 100 items.
func TestFreeDaysWriteNoLedger(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.clock.Set(time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC))
	r.partner("p1", "")
	r.api.Reset()
	res, err := r.usage.Record(ctx, tenants("p1", "2026-11-27", 250, "t"))
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range res {
		if x.Status != app.UsageNotBilled || x.Units != 0 {
			t.Fatalf("%+v", x)
		}
	}
	if c := r.api.Counts(); c.Transactions != 3 || c.MaxTransactionItems > dynamo.MaxTransactionItems {
		t.Errorf("%+v, want 3 transactions of at most 100 items", c)
	}
	if entries, _ := r.store.AllLedgerEntries(ctx, "p1"); len(entries) != 1 || r.balance("p1") != 2000 {
		t.Fatalf("free days changed the ledger: %d entries", len(entries))
	}
}

// The balance-low event goes out once per partner per request, however
// many transactions the request took.
func TestBalanceLowOncePerRequest(t *testing.T) {
	r := newRefillWorld(t)
	r.partner("p1", "")
	today := r.clock.Now().Format(dsu.DateLayout)
	// 2 × 250 records of 10 users: the 2,000 DSUs cross 0 in the second
	// of the first date's 3 transactions and stay below on the second date.
	recs := append(tenants("p1", today, 250, "t"), tenants("p1", r.clock.Now().AddDate(0, 0, -1).Format(dsu.DateLayout), 250, "y")...)
	for i := range recs {
		recs[i].Users = 10
	}
	if _, err := r.usage.Record(context.Background(), recs); err != nil {
		t.Fatal(err)
	}
	if b := r.balance("p1"); b != 2000-5000 {
		t.Fatalf("balance %d", b)
	}
	if n := len(r.events.Of(app.EventBalanceLow)); n != 1 {
		t.Fatalf("%d balance.low events, want 1", n)
	}
}
