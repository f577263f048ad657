package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// get calls a read route of the purchases function as the partner, with
// an Accept header when accept is set.
func (w *world) get(routeKey, path, partner, accept string, query, params map[string]string) events.APIGatewayV2HTTPResponse {
	w.t.Helper()
	ev := purchaseRequest(routeKey, partner, "", "", params)
	// As API Gateway sends a query: raw (which the handler reads) and decoded.
	ev.RawPath, ev.QueryStringParameters = path, query
	values := url.Values{}
	for k, v := range query {
		values.Set(k, v)
	}
	ev.RawQueryString = values.Encode()
	delete(ev.Headers, "content-type")
	if accept != "" {
		ev.Headers["accept"] = accept
	}
	resp, err := w.purchasesFunction().Handle(context.Background(), ev)
	if err != nil {
		w.t.Fatal(err)
	}
	return resp
}

type statementJSON struct {
	Month                          string
	Currency                       string
	OpeningBalance, ClosingBalance int64
	Totals                         map[string]int64
	Purchases                      []struct {
		ID, Kind, Status string
		Units            int64
		ReceiptURL       *string
	}
	UsageUnits int64
	Entries    int
}

func (w *world) statement(partner, month string) (statementJSON, events.APIGatewayV2HTTPResponse) {
	w.t.Helper()
	resp := w.get("GET /v1/statements/{month}", "/v1/statements/"+month, partner, "", nil, map[string]string{"month": month})
	var st statementJSON
	if resp.StatusCode == 200 {
		if err := json.Unmarshal([]byte(resp.Body), &st); err != nil {
			w.t.Fatal(err)
		}
	}
	return st, resp
}

func readCSV(t *testing.T, resp events.APIGatewayV2HTTPResponse) [][]string {
	t.Helper()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Headers["Content-Type"], "text/csv") {
		t.Fatalf("CSV answer: %d %v %s", resp.StatusCode, resp.Headers, resp.Body)
	}
	if !strings.Contains(resp.Body, "\r\n") {
		t.Errorf("RFC 4180 lines end with CRLF: %q", resp.Body)
	}
	rows, err := csv.NewReader(strings.NewReader(resp.Body)).ReadAll()
	if err != nil {
		t.Fatalf("not CSV: %v\n%s", err, resp.Body)
	}
	return rows
}

// A partner created mid-month with purchases, usage and a refund: the
// statement of the current month closes at today's balance, its totals add
// up, it lists the purchases its entries credited, and its CSV has one row
// per entry. The month before the partner existed is all zero; a future or
// malformed month is refused.
func TestStatements(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.clock.Set(time.Date(2026, 11, 12, 9, 0, 0, 0, time.UTC))
	p := r.partner("acct", "pm_card")
	res, err := r.buy(p, "k1", app.PayWithSavedCard, 2)
	if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("purchase %+v %v", res, err)
	}
	r.use("acct", "tenant-a", 120)
	r.use("acct", "tenant-b", 30)
	pi, _ := r.pay.IntentFor(res.Purchase.ID)
	// Stripe's charge.succeeded brings the receipt the statement lists.
	if err := r.webhooks.Handle(ctx, app.WebhookEvent{ID: "evt_receipt", Type: app.EvChargeSucceeded, Charge: &app.Charge{
		ID: pi.LatestChargeID, PaymentIntentID: pi.ID, Status: "succeeded", Amount: pi.Amount.Amount, Currency: pi.Amount.Currency,
		ReceiptURL: receiptOf(pi.LatestChargeID), Metadata: pi.Metadata,
	}}); err != nil {
		t.Fatal(err)
	}
	r.pay.Refund(pi.ID, res.Purchase.Amount.Amount/2)
	if err := r.webhooks.Handle(ctx, refundEvent(pi, res.Purchase.Amount.Amount, res.Purchase.Amount.Amount/2)); err != nil {
		t.Fatal(err)
	}

	st, resp := r.statement("acct", "2026-11")
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	balance := r.balance("acct")
	var sum int64
	for _, u := range st.Totals {
		sum += u
	}
	if st.OpeningBalance != 0 || st.ClosingBalance != balance || st.ClosingBalance != st.OpeningBalance+sum {
		t.Errorf("opening %d closing %d Σ totals %d, balance %d", st.OpeningBalance, st.ClosingBalance, sum, balance)
	}
	if st.Totals["grant"] != 2000 || st.Totals["purchase"] != 2000 || st.Totals["usage"] != -150 || st.Totals["refund"] != -1000 || st.UsageUnits != 150 {
		t.Errorf("totals %v usage %d", st.Totals, st.UsageUnits)
	}
	if st.Entries != 5 || st.Currency != "usd" || len(st.Purchases) != 1 || st.Purchases[0].ID != res.Purchase.ID || st.Purchases[0].Status != "partially_refunded" ||
		st.Purchases[0].ReceiptURL == nil || *st.Purchases[0].ReceiptURL != receiptOf(pi.LatestChargeID) {
		t.Errorf("statement %+v", st)
	}

	rows := readCSV(t, r.get("GET /v1/statements/{month}", "/v1/statements/2026-11", "acct", "text/csv", nil, map[string]string{"month": "2026-11"}))
	if len(rows) != 1+st.Entries || strings.Join(rows[0], ",") != "created_at,type,units,balance_after,reference,description" {
		t.Fatalf("CSV rows %v", rows)
	}
	if rows[1][1] != "grant" || rows[1][5] != "Welcome grant of 2,000 DSUs" || rows[len(rows)-1][1] != "refund" {
		t.Errorf("CSV %v", rows)
	}

	// October: before the partner existed.
	if st, resp := r.statement("acct", "2026-10"); resp.StatusCode != 200 || st.OpeningBalance != 0 || st.ClosingBalance != 0 || st.Entries != 0 || len(st.Totals) != 0 {
		t.Errorf("a month before the partner: %d %+v", resp.StatusCode, st)
	}
	for _, bad := range []string{"2026-12", "2027-01", "2026-1", "november", "2026-11-01"} {
		if _, resp := r.statement("acct", bad); resp.StatusCode != 400 || !strings.Contains(resp.Body, `"month"`) {
			t.Errorf("month %q: %d %s", bad, resp.StatusCode, resp.Body)
		}
	}
	// December, the month after, once it comes: nothing happened yet.
	r.clock.Set(time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC))
	if st, _ := r.statement("acct", "2026-12"); st.OpeningBalance != balance || st.ClosingBalance != balance || st.Entries != 0 {
		t.Errorf("an empty month: %+v", st)
	}
}

// Usage by tenant: per-tenant totals sorted by units, days by date, the
// CSV with escaping (a comma, a quote and a line break in tenant ids), the
// attachment name, and one tenant on its own.
func TestUsageReport(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.clock.Set(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	r.partner("msp", "")
	// Tenant ids are the sync platform's: a comma and a quote are allowed
	// (control characters are not; the CSV writer's own test covers a line
	// break).
	odd := []string{"acme, inc", `say "hi"`}
	if _, err := r.usage.Record(ctx, []app.UsageInput{
		{PartnerID: "msp", TenantID: odd[0], Date: "2026-11-02", Users: 10},
		{PartnerID: "msp", TenantID: odd[0], Date: "2026-11-03", Users: 12},
		{PartnerID: "msp", TenantID: odd[1], Date: "2026-11-02", Users: 40},
		{PartnerID: "msp", TenantID: "free-day", Date: "2026-11-27", Users: 99},
		{PartnerID: "msp", TenantID: odd[1], Date: "2026-10-20", Users: 5}, // last month
	}); err != nil {
		t.Fatal(err)
	}
	resp := r.get("GET /v1/usage", "/v1/usage", "msp", "", map[string]string{"month": "2026-11"}, nil)
	var rep struct {
		Month      string
		TotalUnits int64
		Tenants    []struct {
			TenantID string
			Units    int64
			Days     []struct {
				Date         string
				Users, Units int64
			}
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &rep) != nil {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if rep.TotalUnits != 62 || len(rep.Tenants) != 3 || rep.Tenants[0].TenantID != odd[1] || rep.Tenants[0].Units != 40 ||
		rep.Tenants[1].Units != 22 || len(rep.Tenants[1].Days) != 2 || rep.Tenants[1].Days[0].Date != "2026-11-02" ||
		rep.Tenants[2].TenantID != "free-day" || rep.Tenants[2].Units != 0 || rep.Tenants[2].Days[0].Users != 99 {
		t.Errorf("report %+v", rep)
	}

	csvResp := r.get("GET /v1/usage", "/v1/usage", "msp", "text/csv", map[string]string{"month": "2026-11"}, nil)
	rows := readCSV(t, csvResp)
	if got := csvResp.Headers["Content-Disposition"]; got != `attachment; filename="usage-msp-2026-11.csv"` {
		t.Errorf("Content-Disposition %q", got)
	}
	want := [][]string{{"date", "tenant_id", "users", "units", "billed"},
		{"2026-11-02", odd[0], "10", "10", "true"}, {"2026-11-02", odd[1], "40", "40", "true"}, {"2026-11-03", odd[0], "12", "12", "true"},
		{"2026-11-27", "free-day", "99", "0", "false"}}
	if len(rows) != len(want) {
		t.Fatalf("CSV rows %q", rows)
	}
	if !strings.Contains(csvResp.Body, `"acme, inc"`) || !strings.Contains(csvResp.Body, `"say ""hi"""`) {
		t.Errorf("fields with a comma or a quote are not quoted: %s", csvResp.Body)
	}
	for i := range want {
		if strings.Join(rows[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("row %d: %q, want %q", i, rows[i], want[i])
		}
	}

	// One tenant; October; a future month; a missing month.
	one := r.get("GET /v1/usage", "/v1/usage", "msp", "", map[string]string{"month": "2026-11", "tenantId": odd[0]}, nil)
	if !strings.Contains(one.Body, `"totalUnits":22`) || strings.Contains(one.Body, "hi") {
		t.Errorf("one tenant: %s", one.Body)
	}
	if oct := r.get("GET /v1/usage", "/v1/usage", "msp", "", map[string]string{"month": "2026-10"}, nil); !strings.Contains(oct.Body, `"totalUnits":5`) {
		t.Errorf("October: %s", oct.Body)
	}
	for _, q := range []map[string]string{{"month": "2026-12"}, {"month": "2026-13"}, {}} {
		if resp := r.get("GET /v1/usage", "/v1/usage", "msp", "", q, nil); resp.StatusCode != 400 {
			t.Errorf("%v: %d %s", q, resp.StatusCode, resp.Body)
		}
	}
}

// adjust writes an adjustment entry of units straight through the store.
func (w *world) adjust(partnerID string, units int64, ref string) {
	w.t.Helper()
	if _, _, err := w.store.ApplyLedger(context.Background(), dsu.LedgerChange{
		PartnerID: partnerID, Type: dsu.EntryAdjustment, Units: units, Reference: "adjustment:" + ref, Description: "Test adjustment",
	}); err != nil {
		w.t.Fatal(err)
	}
}

// The usage report reads the partner's profile and its month's records as
// one key range, a Query per page (ARCHITECTURE.md, "Access patterns and
// round trips"): 23 records in pages of 5 are 5 queries, and the records
// of other months and partners are never read, in JSON or in CSV.
func TestUsageReportIsOneQueryPerPage(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.clock.Set(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	r.partner("msp", "")
	r.partner("other", "")
	var records []app.UsageInput
	var units int64
	for day := range 6 { // 4 tenants on 5 billed days and 3 on the 6th: 23 records
		for tenant := range 4 - day/5 {
			records = append(records, app.UsageInput{PartnerID: "msp", TenantID: fmt.Sprintf("tenant-%d", tenant),
				Date: fmt.Sprintf("2026-11-%02d", 20+day), Users: int64(10 + tenant)})
			units += int64(10 + tenant)
		}
	}
	const month = 23
	records = append(records,
		app.UsageInput{PartnerID: "msp", TenantID: "tenant-0", Date: "2026-10-30", Users: 7},   // October
		app.UsageInput{PartnerID: "other", TenantID: "tenant-0", Date: "2026-11-20", Users: 9}, // another partner
	)
	if len(records) != month+2 {
		t.Fatalf("%d records", len(records))
	}
	if _, err := r.usage.Record(ctx, records); err != nil {
		t.Fatal(err)
	}

	const page = 5
	r.faults.queryPage.Store(page)
	for _, accept := range []string{"", "text/csv"} {
		r.api.Reset()
		resp := r.get("GET /v1/usage", "/v1/usage", "msp", accept, map[string]string{"month": "2026-11"}, nil)
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, resp.Body)
		}
		// The profile, then ⌈23/5⌉ = 5 pages of the month's records.
		c := r.api.Counts()
		if c.Reads != 1+5 || c.ItemsRead != 1+month || c.FilteredQueries != 0 || c.Writes+c.Transactions != 0 {
			t.Errorf("accept %q: %+v; want 6 reads (profile + 5 pages) of 24 items, nothing written", accept, c)
		}
		if accept == "" && !strings.Contains(resp.Body, fmt.Sprintf(`"totalUnits":%d,`, units)) {
			t.Errorf("report %s", resp.Body)
		}
		if accept != "" {
			if rows := readCSV(t, resp); len(rows) != 1+month {
				t.Errorf("%d CSV rows, want a header and %d records", len(rows), month)
			}
		}
	}
}

// One tenant's report (the way past the report's cap) costs what that
// tenant's month holds, not what the partner's month holds: its at most 31
// keys in one BatchGetItem, with 50 tenants on the month's days (a filtered
// query would read all 250 records to answer with 5). Its rows are the
// full report's rows of that tenant, in date order, and a tenant with no
// record gets an empty report.
func TestOneTenantsUsageReadsOnlyThatTenant(t *testing.T) {
	r := newRefillWorld(t)
	r.clock.Set(time.Date(2026, 11, 28, 9, 0, 0, 0, time.UTC))
	r.partner("msp", "")
	r.partner("other", "")
	var records []app.UsageInput
	for day := range 5 {
		for tenant := range 50 {
			records = append(records, app.UsageInput{PartnerID: "msp", TenantID: fmt.Sprintf("tenant-%02d", tenant),
				Date: fmt.Sprintf("2026-11-%02d", 14-2*day), Users: int64(1 + tenant)})
		}
	}
	records = append(records,
		app.UsageInput{PartnerID: "msp", TenantID: "tenant-07", Date: "2026-10-31", Users: 3},   // October
		app.UsageInput{PartnerID: "msp", TenantID: "tenant-08", Date: "2026-10-30", Users: 3},   // October, another tenant
		app.UsageInput{PartnerID: "other", TenantID: "tenant-07", Date: "2026-11-10", Users: 9}, // another partner
	)
	if _, err := r.usage.Record(context.Background(), records); err != nil {
		t.Fatal(err)
	}
	full := r.get("GET /v1/usage", "/v1/usage", "msp", "text/csv", map[string]string{"month": "2026-11"}, nil)
	var want [][]string
	for _, row := range readCSV(t, full)[1:] {
		if slices.Contains(row, "tenant-07") {
			want = append(want, row)
		}
	}
	if len(want) != 5 {
		t.Fatalf("the full report has %d rows of tenant-07, want 5", len(want))
	}

	r.faults.queryPage.Store(10)
	r.api.Reset()
	resp := r.get("GET /v1/usage", "/v1/usage", "msp", "text/csv", map[string]string{"month": "2026-11", "tenantId": "tenant-07"}, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, resp.Body)
	}
	if c := r.api.Counts(); c.Reads != 2 || c.ItemsRead != 1+5 || c.FilteredQueries != 0 {
		t.Errorf("one tenant's 5 records: %+v; want 2 reads (profile, one BatchGetItem) of 6 items, unfiltered", c)
	}
	got := readCSV(t, resp)[1:]
	if !slices.EqualFunc(got, want, slices.Equal) || !slices.IsSortedFunc(got, func(a, b []string) int { return strings.Compare(a[0], b[0]) }) {
		t.Errorf("tenant-07's report:\n%v\nwant the full report's rows of tenant-07 in date order:\n%v", got, want)
	}

	none := r.get("GET /v1/usage", "/v1/usage", "msp", "", map[string]string{"month": "2026-11", "tenantId": "tenant-99"}, nil)
	if none.StatusCode != 200 || !strings.Contains(none.Body, `"totalUnits":0,`) {
		t.Errorf("a tenant with no record: %d %s", none.StatusCode, none.Body)
	}
}

// A statement reads the partner's profile, its month's marker, the next
// month's marker, its month's entries as one key range a Query per page,
// and the purchases its entries credited in one BatchGetItem
// (ARCHITECTURE.md, "Access patterns and round trips"), never the older
// history: with 40 entries in October, November's 17 entries in pages of
// 4 cost 3 + 5 + 1 reads. The current month has no next marker: its
// entries run to the ledger's end; a month with no entry at all reads the
// balance instead.
func TestStatementReadsOnlyItsMonth(t *testing.T) {
	r := newRefillWorld(t)
	r.clock.Set(time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC))
	p := r.partner("acct", "pm_card") // the welcome grant: October's first entry
	for i := range 40 {
		r.clock.Advance(time.Hour)
		r.adjust("acct", int64(i%7-3), fmt.Sprintf("oct%02d", i))
	}
	// November: 3 purchases, 4 days of usage, 10 adjustments.
	r.clock.Set(time.Date(2026, 11, 3, 9, 0, 0, 0, time.UTC))
	var bought []string
	for i := range 3 {
		res, err := r.buy(p, fmt.Sprintf("nov-%d", i), app.PayWithSavedCard, int64(i+1))
		if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
			t.Fatalf("purchase %+v %v", res, err)
		}
		bought = append(bought, res.Purchase.ID)
		r.clock.Advance(24 * time.Hour)
	}
	for range 4 {
		r.use("acct", "tenant-a", 25)
		r.clock.Advance(24 * time.Hour)
	}
	for i := range 10 {
		r.adjust("acct", int64(i+1), fmt.Sprintf("nov%02d", i))
	}
	const novemberEntries = 3 + 4 + 10
	// December has begun: November has a next marker.
	r.clock.Set(time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC))
	r.adjust("acct", -5, "dec00")
	r.adjust("acct", -6, "dec01")

	const page = 4
	r.faults.queryPage.Store(page)
	r.api.Reset()
	st, resp := r.statement("acct", "2026-11")
	if resp.StatusCode != 200 || st.Entries != novemberEntries || len(st.Purchases) != len(bought) {
		t.Fatalf("November: %d, %d entries, %d purchases: %s", resp.StatusCode, st.Entries, len(st.Purchases), resp.Body)
	}
	// Profile, marker, next marker, ⌈17/4⌉ = 5 pages, 1 BatchGetItem.
	if c := r.api.Counts(); c.Reads != 3+5+1 || c.ItemsRead != 3+novemberEntries+3 || c.FilteredQueries != 0 || c.Writes+c.Transactions != 0 {
		t.Errorf("November: %+v; want 9 reads of %d items, nothing written", c, 3+novemberEntries+3)
	}
	r.api.Reset()
	st, resp = r.statement("acct", "2026-12")
	if resp.StatusCode != 200 || st.Entries != 2 || len(st.Purchases) != 0 {
		t.Fatalf("December: %d %s", resp.StatusCode, resp.Body)
	}
	// Profile, marker, no next marker, one page; no purchase.
	if c := r.api.Counts(); c.Reads != 4 || c.ItemsRead != 1+1+0+2 || c.Writes+c.Transactions != 0 {
		t.Errorf("December: %+v; want 4 reads of 4 items", c)
	}
	// January, nothing yet: profile, no marker, no next marker, the balance.
	r.clock.Set(time.Date(2027, 1, 5, 9, 0, 0, 0, time.UTC))
	balance := r.balance("acct")
	r.api.Reset()
	st, resp = r.statement("acct", "2027-01")
	if resp.StatusCode != 200 || st.Entries != 0 || st.OpeningBalance != balance || st.ClosingBalance != balance {
		t.Fatalf("January: %d %s", resp.StatusCode, resp.Body)
	}
	if c := r.api.Counts(); c.Reads != 4 || c.ItemsRead != 2 || c.Writes+c.Transactions != 0 {
		t.Errorf("January: %+v; want 4 reads of 2 items", c)
	}
}

// Statements over random ledgers, checked against the ledger as stored:
// for every month from the partner's first to the current one, the
// opening balance is the balance the partner had at the end of the month
// before (0 for the first), the closing balance the balance it had at the
// month's end (today's for the current month, the last entry's
// balanceAfter for a month with entries), each month opens where the one
// before closed, and the entries are exactly the month's entries of the
// whole ledger, read on its own. The balances expected come from the
// operations the test made, not from the statement's arithmetic.
func TestStatementsAgreeWithTheStoredLedger(t *testing.T) {
	for seed := range uint64(3) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			r := newRefillWorld(t)
			ctx := context.Background()
			rnd := rand.New(rand.NewPCG(seed, 42))
			start := time.Date(2026, 9, 1+rnd.IntN(28), rnd.IntN(24), 0, 0, 0, time.UTC)
			r.clock.Set(start)
			p := r.partner("acct", "pm_card")
			balance := int64(2000) // the welcome grant
			atMonthEnd := map[string]int64{dsu.MonthOf(start): balance}
			for step := range 80 {
				switch rnd.IntN(10) {
				case 0: // a month with nothing at all
					r.clock.Advance(35 * 24 * time.Hour)
				case 1: // the last instant of a month
					now := r.clock.Now()
					r.clock.Set(time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC).Add(-time.Millisecond))
				default:
					r.clock.Advance(time.Duration(rnd.IntN(3*24)) * time.Hour)
				}
				if r.clock.Now().After(time.Date(2027, 8, 1, 0, 0, 0, 0, time.UTC)) {
					break
				}
				switch op := rnd.IntN(3); op {
				case 0:
					q := int64(1 + rnd.IntN(3))
					res, err := r.buy(p, fmt.Sprintf("k%d", step), app.PayWithSavedCard, q)
					if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
						t.Fatalf("purchase %+v %v", res, err)
					}
					balance += res.Purchase.Units
				case 1: // days 26+ are free: no entry
					users := int64(1 + rnd.IntN(300))
					res, err := r.usage.Record(ctx, []app.UsageInput{{PartnerID: "acct", TenantID: fmt.Sprintf("tenant-%d", step),
						Date: r.clock.Now().Format(dsu.DateLayout), Users: users}})
					if err != nil || (res[0].Status != app.UsageApplied && res[0].Status != app.UsageNotBilled) {
						t.Fatalf("usage: %+v %v", res, err)
					}
					balance -= int64(dsu.UsageUnits(r.clock.Now(), users))
				case 2:
					units := int64(rnd.IntN(4001) - 2000)
					if units == 0 {
						units = 1
					}
					r.adjust("acct", units, fmt.Sprint(step))
					balance += units
				}
				atMonthEnd[dsu.MonthOf(r.clock.Now())] = balance
			}
			if got := r.balance("acct"); got != balance {
				t.Fatalf("balance %d, the operations made %d", got, balance)
			}
			ledger, err := r.store.AllLedgerEntries(ctx, "acct")
			if err != nil {
				t.Fatal(err)
			}
			reports := &app.Reports{Store: r.store, Clock: r.clock}
			current := dsu.MonthOf(r.clock.Now())
			expected := int64(0) // before the partner's first month
			prevClosing := int64(0)
			months := 0
			for month := dsu.MonthOf(start); month <= current; month = dsu.NextMonth(month) {
				months++
				opening := expected
				if b, ok := atMonthEnd[month]; ok {
					expected = b
				}
				st, err := reports.Statement(ctx, p, month)
				if err != nil {
					t.Fatalf("%s: %v", month, err)
				}
				if st.OpeningBalance != opening || st.OpeningBalance != prevClosing || st.ClosingBalance != expected {
					t.Errorf("%s: opening %d, closing %d; the partner had %d at the month before's end and %d at this one's (the month before closed at %d)",
						month, st.OpeningBalance, st.ClosingBalance, opening, expected, prevClosing)
				}
				var want []dsu.Entry
				for _, e := range ledger {
					if dsu.MonthOf(e.CreatedAt) == month {
						want = append(want, e)
					}
				}
				if len(st.Entries) != len(want) {
					t.Fatalf("%s: %d entries, the ledger has %d that month", month, len(st.Entries), len(want))
				}
				for i := range want {
					if st.Entries[i].Seq != want[i].Seq || st.Entries[i].Units != want[i].Units || st.Entries[i].Reference != want[i].Reference {
						t.Fatalf("%s: entry %d is %+v, the ledger's is %+v", month, i, st.Entries[i], want[i])
					}
				}
				if len(want) > 0 && st.ClosingBalance != want[len(want)-1].BalanceAfter {
					t.Errorf("%s: closing %d, the month's last entry leaves %d", month, st.ClosingBalance, want[len(want)-1].BalanceAfter)
				}
				prevClosing = st.ClosingBalance
			}
			if prevClosing != balance {
				t.Errorf("the current month closes at %d, the balance is %d", prevClosing, balance)
			}
			t.Logf("%d entries over %d months", len(ledger), months)
		})
	}
}
