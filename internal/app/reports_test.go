package app_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/url"
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
