package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

var updateExamples = flag.Bool("update-examples", false, "rewrite docs/examples/ with what the code answers")

// API.md's statement example and the example CSVs it links to are what the
// code answers, the CSVs byte for byte (CRLF line ends included): one
// MSP's November, with the usage of
// October 25 reported late on November 1 (a ledger entry written in
// November, so on November's statement), a purchase, a partial refund and
// usage on free days (recorded, no ledger entry). After a change to what
// the reports write, regenerate them with
//
//	go test ./internal/app -run TestDocExamples -update-examples
func TestDocExamples(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	const partner = "P-1042"
	at := func(s string) {
		t.Helper()
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		r.clock.Set(tm)
	}
	type tenantUsers struct {
		tenant string
		users  int64
	}
	// report sends one day's usage; want is its records' status (applied,
	// or not_billed on a free day).
	report := func(date, want string, usage ...tenantUsers) {
		t.Helper()
		var in []app.UsageInput
		for _, u := range usage {
			in = append(in, app.UsageInput{PartnerID: partner, TenantID: u.tenant, Date: date, Users: u.users})
		}
		res, err := r.usage.Record(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range res {
			if x.Status != want {
				t.Fatalf("usage of %s: %+v", date, res)
			}
		}
	}
	const northwind = "northwind, ltd" // a comma: the CSV quotes it

	// October: the partner joins (the welcome grant of 2,000) and reports
	// every day; November opens at 1,200.
	at("2026-10-12T16:40:00Z")
	p := r.partner(partner, "pm_card")
	for day := 13; day <= 24; day++ {
		contoso := int64(48)
		if day == 13 {
			contoso = 44
		}
		at(fmt.Sprintf("2026-10-%02dT23:58:00Z", day))
		report(fmt.Sprintf("2026-10-%02d", day), app.UsageApplied, tenantUsers{"contoso", contoso}, tenantUsers{"fabrikam", 12}, tenantUsers{northwind, 7})
	}

	// November.
	at("2026-11-01T00:04:12.311Z")
	report("2026-10-25", app.UsageApplied, tenantUsers{"contoso", 49}, tenantUsers{"fabrikam", 12}, tenantUsers{northwind, 7})
	at("2026-11-01T23:58:40.002Z")
	report("2026-11-01", app.UsageApplied, tenantUsers{"contoso", 49}, tenantUsers{"fabrikam", 12}, tenantUsers{northwind, 7})
	at("2026-11-02T09:15:03.870Z")
	// Ids as production issues them (26 characters after "pur_").
	purchases := *r.purchases
	purchases.IDs = oneID("pur_01jc9x2m3q4r5s6t7v8w9xyzab")
	body := `{"items":[{"packageId":"dsu-5000","quantity":2}],"paymentMethod":"saved"}`
	res, err := purchases.Create(ctx, p, app.CreatePurchaseInput{
		IdempotencyKey: "k-nov", Fingerprint: dsu.Fingerprint("POST /v1/purchases", []byte(body)),
		Lines: []dsu.PurchaseLine{{PackageID: "dsu-5000", Quantity: 2}}, PaymentMethod: app.PayWithSavedCard,
	})
	if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("purchase %+v %v", res, err)
	}
	pi, _ := r.pay.IntentFor(res.Purchase.ID)
	// Stripe's charge.succeeded brings the receipt the statement lists.
	if err := r.webhooks.Handle(ctx, app.WebhookEvent{ID: "evt_receipt", Type: app.EvChargeSucceeded, Charge: &app.Charge{
		ID: pi.LatestChargeID, PaymentIntentID: pi.ID, Status: "succeeded", Amount: pi.Amount.Amount, Currency: pi.Amount.Currency,
		ReceiptURL: "https://pay.stripe.com/receipts/payment/CAcaFwoVYWNjdF8xUTJtWmIyZVp2S1lsbzJD", Metadata: pi.Metadata,
	}}); err != nil {
		t.Fatal(err)
	}
	at("2026-11-02T23:59:01.114Z")
	report("2026-11-02", app.UsageApplied, tenantUsers{"contoso", 49}, tenantUsers{"fabrikam", 13}, tenantUsers{northwind, 7})
	at("2026-11-03T23:58:52.406Z")
	report("2026-11-03", app.UsageApplied, tenantUsers{"contoso", 51}, tenantUsers{"fabrikam", 13})
	// A tenth of the purchase refunded: a tenth of its DSUs debited.
	at("2026-11-05T14:22:47.530Z")
	if err := r.webhooks.Handle(ctx, app.WebhookEvent{ID: "evt_refund", Type: app.EvRefundUpdated, Refund: &app.Refund{
		ID: "re_3Q2mZb2eZvKYlo2C0x8Yt1fa", Status: app.RefundSucceeded, Amount: res.Purchase.Amount.Amount / 10,
		ChargeID: pi.LatestChargeID, PaymentIntentID: pi.ID, Currency: pi.Amount.Currency,
	}}); err != nil {
		t.Fatal(err)
	}
	for _, day := range []struct{ date, want string }{
		{"2026-11-25", app.UsageApplied}, {"2026-11-26", app.UsageNotBilled}, {"2026-11-27", app.UsageNotBilled},
	} {
		at(day.date + "T23:57:30.018Z")
		report(day.date, day.want, tenantUsers{"contoso", 52})
	}

	at("2026-12-01T08:00:00Z")
	month := map[string]string{"month": "2026-11"}

	// API.md shows this month's statement as JSON.
	statement := r.get("GET /v1/statements/{month}", "/v1/statements/2026-11", partner, "", nil, month).Body
	if doc := apiExample(t, "### GET /v1/statements/{month}"); !sameJSON(t, doc, statement) {
		t.Errorf("API.md's statement example is not what the code answers:\n%s\nthe code:\n%s", doc, statement)
	}

	for file, body := range map[string]string{
		"statement-P-1042-2026-11.csv": r.get("GET /v1/statements/{month}", "/v1/statements/2026-11", partner, "text/csv", nil, month).Body,
		"usage-P-1042-2026-11.csv":     r.get("GET /v1/usage", "/v1/usage", partner, "text/csv", month, nil).Body,
	} {
		path := filepath.Join("..", "..", "docs", "examples", file)
		if *updateExamples {
			if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(want, []byte(body)) {
			t.Errorf("docs/examples/%s is not what the code answers (regenerate it with -update-examples):\n%q\nthe code:\n%q", file, want, body)
		}
	}
}

// oneID issues the same id every time: for a use case that issues one.
type oneID string

func (id oneID) NewID(string) string { return string(id) }

// apiExample is the first answer example ("200 {…}") in the fenced blocks
// of an API.md section, without its status.
func apiExample(t *testing.T, heading string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "API.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n"+heading+"\n")
	if !ok {
		t.Fatalf("API.md has no %q", heading)
	}
	section, _, _ = strings.Cut(section, "\n### ")
	for i, block := range strings.Split(section, "```") {
		if json, ok := strings.CutPrefix(strings.TrimSpace(block), "200 "); ok && i%2 == 1 {
			return json
		}
	}
	t.Fatalf("API.md, %q, shows no 200 answer", heading)
	return ""
}

// sameJSON reports whether two JSON texts hold the same value.
func sameJSON(t *testing.T, a, b string) bool {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal([]byte(a), &va); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, a)
	}
	if err := json.Unmarshal([]byte(b), &vb); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return reflect.DeepEqual(va, vb)
}
