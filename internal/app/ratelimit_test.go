package app_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/httpapi"
)

// One partner creating manual purchases in a loop is stopped at the limit
// before Stripe is called; the partner's replays, the other partners and
// the next minute are not affected.
func TestManualPurchasesAreLimitedPerPartner(t *testing.T) {
	w := newWorld(t)
	w.clock.Set(worldStart.Add(45 * time.Second)) // 15 s before the window ends
	p1, p2 := w.partner("p1", "pm_1"), w.partner("p2", "pm_2")
	limit := dsu.ManualPurchasesPerPartner.Max
	first := map[string]app.PurchaseResult{}
	for i := range limit {
		key := fmt.Sprintf("k%d", i)
		res, err := w.buy(p1, key, app.PayWithSavedCard, 1)
		if err != nil {
			t.Fatalf("purchase %d of %d: %v", i+1, limit, err)
		}
		first[key] = res
	}

	_, err := w.buy(p1, "one-too-many", app.PayWithSavedCard, 1)
	e, ok := errors.AsType[*dsu.Error](err)
	if !ok || e.Kind != dsu.KindTooManyRequests {
		t.Fatalf("purchase %d in a minute: %v, want too_many_requests", limit+1, err)
	}
	if e.RetryAfter != 15*time.Second {
		t.Errorf("retry after %v, want the 15 s left in the window", e.RetryAfter)
	}
	if n := w.pay.Calls("CreatePaymentIntent"); n != limit {
		t.Errorf("%d PaymentIntents, want %d: the refused purchase reached Stripe", n, limit)
	}
	if list, _, _ := w.purchases.List(context.Background(), p1, dsu.Page{Limit: 100}); len(list) != limit {
		t.Errorf("%d purchases stored, want %d: the refused one left a purchase", len(list), limit)
	}

	// A replay of an answered key is answered, not refused.
	again, err := w.buy(p1, "k3", app.PayWithSavedCard, 1)
	if err != nil || again.Purchase.ID != first["k3"].Purchase.ID {
		t.Fatalf("replay over the limit: %+v %v", again.Purchase, err)
	}
	// Another partner buys in the same minute.
	if _, err := w.buy(p2, "k0", app.PayWithSavedCard, 1); err != nil {
		t.Fatalf("another partner is refused: %v", err)
	}

	// The refused key was not claimed: it works in the next window.
	w.clock.Advance(15 * time.Second)
	res, err := w.buy(p1, "one-too-many", app.PayWithSavedCard, 1)
	if err != nil || res.Purchase.Status != dsu.StatusSucceeded {
		t.Fatalf("next minute: %+v %v", res.Purchase, err)
	}
	if got := w.balance("p1"); got != 2000+int64(limit+1)*1000 {
		t.Errorf("balance %d", got)
	}
}

// Concurrent purchases of one partner never get past the limit together.
func TestConcurrentPurchasesStayWithinTheLimit(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "pm_1")
	limit := dsu.ManualPurchasesPerPartner.Max
	var wg sync.WaitGroup
	var mu sync.Mutex
	created := 0
	for i := range 3 * limit {
		wg.Go(func() {
			_, err := w.buy(p, fmt.Sprintf("k%d", i), app.PayWithSavedCard, 1)
			if err == nil {
				mu.Lock()
				created++
				mu.Unlock()
				return
			}
			// Refused, or a retryable collision on the counter.
			if k := dsu.ErrorKind(err); k != dsu.KindTooManyRequests && k != dsu.KindUpstreamUnavailable {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	t.Logf("%d of %d concurrent purchases created", created, 3*limit)
	if n := w.pay.Calls("CreatePaymentIntent"); n > limit || n != created || created == 0 {
		t.Fatalf("%d PaymentIntents, %d purchases answered; the limit is %d", n, created, limit)
	}
}

// Through the endpoint: 429 too_many_requests with Retry-After, as
// docs/openapi.yaml describes it.
func TestTooManyPurchasesIs429WithRetryAfter(t *testing.T) {
	w := newWorld(t)
	w.clock.Set(worldStart.Add(20*time.Second + 500*time.Millisecond))
	w.partner("p1", "")
	f := w.purchasesFunction()
	body := `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`
	var resp events.APIGatewayV2HTTPResponse
	for i := range dsu.ManualPurchasesPerPartner.Max + 1 {
		resp, _ = f.Handle(context.Background(), purchaseRequest("POST /v1/purchases", "p1", fmt.Sprintf("k%d", i), body, nil))
		if i < dsu.ManualPurchasesPerPartner.Max && resp.StatusCode != 201 {
			t.Fatalf("purchase %d: %d %s", i+1, resp.StatusCode, resp.Body)
		}
	}
	var p httpapi.Problem
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil || resp.StatusCode != 429 || p.Code != "too_many_requests" {
		t.Fatalf("over the limit: %d %s", resp.StatusCode, resp.Body)
	}
	if got := resp.Headers["Retry-After"]; got != "40" {
		t.Errorf("Retry-After %q, want the 40 s left in the minute (39.5 rounded up)", got)
	}
}
