package functions_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/lambdatest"
)

// TestPurchasesServesItsSampleEvents runs functions/purchases as Lambda
// does against the emulated table and stripe-mock with the sample events
// under events/purchases/.
func TestPurchasesServesItsSampleEvents(t *testing.T) {
	emu := seededTable(t)
	fixtureWorld(t, emu) // partner-acme: 2,000 DSUs, a card, a pending $50 purchase
	rt := lambdatest.Start(t, lambdatest.Build(t, "purchases"), baseEnv(emu))

	type purchase struct {
		ID, Kind, Status string
		Units            int64
		Amount           struct {
			Amount   int64
			Currency string
		}
		PaymentIntentID *string `json:"paymentIntentId"`
	}
	var created struct {
		Purchase     purchase `json:"purchase"`
		ClientSecret *string  `json:"clientSecret"`
	}
	resp := invokeHTTP(t, rt, "purchases/post-purchase.json")
	if resp.StatusCode != 201 || json.Unmarshal([]byte(resp.Body), &created) != nil {
		t.Fatalf("POST /v1/purchases: %d %s", resp.StatusCode, resp.Body)
	}
	// 2 × 5,000 + 1 × 1,000 DSUs, priced by the server in USD.
	if created.Purchase.Units != 11000 || created.Purchase.Amount.Amount != 2*23750+5000 || created.Purchase.Amount.Currency != "usd" ||
		created.Purchase.Status != "pending" || created.ClientSecret == nil || created.Purchase.PaymentIntentID == nil {
		t.Fatalf("created %s", resp.Body)
	}
	// The same Idempotency-Key and body: the same answer, no second purchase.
	again := invokeHTTP(t, rt, "purchases/post-purchase.json")
	if again.StatusCode != 201 || again.Body != resp.Body {
		t.Fatalf("replay: %d %s\nfirst: %s", again.StatusCode, again.Body, resp.Body)
	}

	var list struct {
		Purchases  []purchase `json:"purchases"`
		NextCursor *string    `json:"nextCursor"`
	}
	resp = invokeHTTP(t, rt, "purchases/get-purchases.json")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &list) != nil || len(list.Purchases) != 2 || list.NextCursor != nil {
		t.Fatalf("GET /v1/purchases: %d %s", resp.StatusCode, resp.Body)
	}
	ids := map[string]bool{list.Purchases[0].ID: true, list.Purchases[1].ID: true}
	if !ids[created.Purchase.ID] || !ids["pur_fixture0000000001"] {
		t.Fatalf("list %s", resp.Body)
	}

	var one purchase
	resp = invokeHTTP(t, rt, "purchases/get-purchase.json")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &one) != nil || one.ID != "pur_fixture0000000001" || one.Kind != "manual" {
		t.Fatalf("GET /v1/purchases/{id}: %d %s", resp.StatusCode, resp.Body)
	}
	// Only a purchase that needs the partner's authentication can be confirmed.
	if resp = invokeHTTP(t, rt, "purchases/post-confirm.json"); resp.StatusCode != 409 {
		t.Fatalf("confirm of a pending purchase: %d %s", resp.StatusCode, resp.Body)
	}

	var bal struct {
		Units        int64  `json:"units"`
		DailyAverage *int64 `json:"dailyAverage"`
		AsOf         string `json:"asOf"`
	}
	resp = invokeHTTP(t, rt, "purchases/get-balance.json")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &bal) != nil || bal.Units != 2000 || bal.DailyAverage != nil || bal.AsOf == "" {
		t.Fatalf("GET /v1/balance: %d %s", resp.StatusCode, resp.Body)
	}
	var ledger struct {
		Entries []struct {
			Type         string `json:"type"`
			Units        int64  `json:"units"`
			BalanceAfter int64  `json:"balanceAfter"`
			Reference    string `json:"reference"`
		} `json:"entries"`
		NextCursor *string `json:"nextCursor"`
	}
	resp = invokeHTTP(t, rt, "purchases/get-ledger.json")
	if resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &ledger) != nil || len(ledger.Entries) != 1 ||
		ledger.Entries[0].Type != "grant" || ledger.Entries[0].Reference != "grant:welcome" || ledger.NextCursor != nil {
		t.Fatalf("GET /v1/ledger: %d %s", resp.StatusCode, resp.Body)
	}

	// The month reports: November of the fixtures has no usage yet; the
	// statement of a month before the partner existed is all zero.
	if resp = invokeHTTP(t, rt, "purchases/get-usage.json"); resp.StatusCode != 200 || !strings.Contains(resp.Body, `"month":"2026-11"`) {
		t.Fatalf("GET /v1/usage: %d %s", resp.StatusCode, resp.Body)
	}
	if resp = invokeHTTP(t, rt, "purchases/get-usage-csv.json"); resp.StatusCode != 200 || resp.Body != "date,tenant_id,users,units,billed\r\n" ||
		resp.Headers["Content-Disposition"] != `attachment; filename="usage-partner-acme-2026-11.csv"` {
		t.Fatalf("GET /v1/usage as CSV: %d %v %q", resp.StatusCode, resp.Headers, resp.Body)
	}
	var st struct {
		Month                          string
		OpeningBalance, ClosingBalance int64
	}
	if resp = invokeHTTP(t, rt, "purchases/get-statement.json"); resp.StatusCode != 200 || json.Unmarshal([]byte(resp.Body), &st) != nil || st.Month != "2026-11" {
		t.Fatalf("GET /v1/statements/{month}: %d %s", resp.StatusCode, resp.Body)
	}
}
