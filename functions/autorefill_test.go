package functions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/lambdatest"
)

func TestUsageReportedAndRefillStartedFromTheStream(t *testing.T) {
	emu := seededTable(t)
	store := fixtureWorld(t, emu) // partner-acme with a card, balance 2000
	ctx := context.Background()
	if _, _, err := store.ChangeAccount(ctx, "partner-acme", func(a *dsu.Account) (dsu.PlanChange, error) {
		a.AutoRefill = dsu.AutoRefill{Enabled: true, Status: dsu.AutoRefillActive, PackageID: "dsu-1000", Threshold: 0, MonthlyLimit: 5}
		return dsu.PlanChange{}, nil
	}); err != nil {
		t.Fatal(err)
	}

	// The sync platform reports usage (IAM-authorized route).
	usage := lambdatest.Start(t, lambdatest.Build(t, "usage"), baseEnv(emu))
	resp := invokeHTTP(t, usage, "usage/post-usage.json")
	if resp.StatusCode != 200 {
		t.Fatalf("usage: %d %s", resp.StatusCode, resp.Body)
	}
	var out struct {
		Results []struct {
			PartnerID, Status string
			Units             int64
		} `json:"results"`
	}
	json.Unmarshal([]byte(resp.Body), &out)
	if len(out.Results) != 2 || out.Results[0].Status != "applied" || out.Results[0].Units != 2100 || out.Results[1].Status != "not_billed" {
		t.Fatalf("results %s", resp.Body)
	}
	acc, _ := store.GetAccount(ctx, "partner-acme")
	if acc.Units != -100 {
		t.Fatalf("balance %d", acc.Units)
	}
	if _, err := store.GetAccount(ctx, "partner-new"); err != nil {
		t.Fatalf("the unknown partner was not created: %v", err)
	}

	// The stream delivers the balance change: autorefill starts one refill.
	autorefill := lambdatest.Start(t, lambdatest.Build(t, "autorefill"), baseEnv(emu))
	invoke := func(payload []byte) []byte {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := autorefill.Invoke(ctx, payload)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	batch := eventfixtures.Read(t, "autorefill/stream-balance-used-up.json")
	var batchResp events.DynamoDBEventResponse
	if err := json.Unmarshal(invoke(batch), &batchResp); err != nil || len(batchResp.BatchItemFailures) != 0 {
		t.Fatalf("stream batch: %+v %v", batchResp, err)
	}
	invoke(batch) // delivered again: still one refill
	invoke(eventfixtures.Read(t, "autorefill/scheduled-sweep.json"))

	list, _, _ := store.ListPurchases(ctx, "partner-acme", dsu.Page{Limit: 10})
	var autos []dsu.Purchase
	for _, p := range list {
		if p.Kind == dsu.KindAutoRefill {
			autos = append(autos, p)
		}
	}
	// stripe-mock answers a confirmed PaymentIntent with
	// requires_payment_method and no error: the refill waits in flight for
	// Stripe's webhook (or the sweep's reconciliation).
	if len(autos) != 1 || autos[0].PaymentIntentID == "" || autos[0].Units != 1000 || autos[0].Amount != (dsu.Money{Amount: 5000, Currency: dsu.USD}) {
		t.Fatalf("automatic purchases %+v", autos)
	}
	acc, _ = store.GetAccount(ctx, "partner-acme")
	if acc.Refill.Phase != dsu.RefillInFlight || acc.Refill.PurchaseID != autos[0].ID {
		t.Fatalf("refill state %+v", acc.Refill)
	}
}
