// The race detector makes the in-process DynamoDB emulator about three
// times slower (it copies the whole table on every transaction), enough to
// push this load's slowest answers toward the emulated API Gateway's 30 s
// limit: what would be measured is the emulator. make test runs this file
// in a pass of its own without -race; the concurrency of the same code
// paths is race-tested in internal/app and internal/dynamo.

//go:build !race

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/localstack"
)

// loadCounts tallies the responses of a load run by status.
type loadCounts struct {
	mu      sync.Mutex
	status  map[int]int
	failed  []string
	slowest time.Duration
}

func (c *loadCounts) add(what string, status int, body []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.status[status]++
	if status >= 500 && len(c.failed) < 10 {
		c.failed = append(c.failed, fmt.Sprintf("%s → %d %s", what, status, body))
	}
}

// send makes one request through the stack's client, which checks the
// answer against docs/openapi.yaml, and records its status; out, when
// given, gets a 2xx answer.
func (s *localStack) send(c *loadCounts, method, path, token, key, body string, out any) int {
	header := http.Header{}
	if token != "" {
		header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		header.Set("Content-Type", "application/json")
	}
	if key != "" {
		header.Set("Idempotency-Key", key)
	}
	return s.sendWith(c, method, path, header, []byte(body), out)
}

// sendWebhook delivers a signed Stripe event as Stripe does, through the
// same checking client.
func (s *localStack) sendWebhook(c *loadCounts, secret string, payload []byte) int {
	header := http.Header{}
	header.Set("Content-Type", "application/json; charset=utf-8")
	header.Set("Stripe-Signature", localstack.SignWebhook(secret, payload, time.Now()))
	return s.sendWith(c, "POST", localstack.WebhookPath, header, payload, nil)
}

func (s *localStack) sendWith(c *loadCounts, method, path string, header http.Header, body []byte, out any) int {
	req, _ := http.NewRequest(method, s.run.URL+path, bytes.NewReader(body))
	req.Header = header
	start := time.Now()
	resp, err := s.client.Do(req)
	c.mu.Lock()
	c.slowest = max(c.slowest, time.Since(start))
	c.mu.Unlock()
	if err != nil {
		c.add(method+" "+path+": "+err.Error(), 599, nil)
		return 599
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	c.add(method+" "+path, resp.StatusCode, raw)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Errorf("%s %s: %v", method, path, err)
		}
	}
	return resp.StatusCode
}

// Many partners at once through the local stack: purchases whose key is
// sent twice, each payment's webhook delivered three times, and usage
// reported by concurrent requests, each sent twice. Every answer must match
// docs/openapi.yaml, nothing may answer with a 5xx, and every balance must
// end at exactly 2,000 + purchases − usage, which is also the sum of its
// ledger.
func TestConcurrentLoadThroughTheLocalStack(t *testing.T) {
	const partners, purchasesEach, tenantsEach = 40, 3, 10
	s := startLocal(t, "load-admin")
	counts := &loadCounts{status: map[int]int{}}
	secret := s.env["STRIPE_WEBHOOK_SECRET"]
	// Three billed days of the previous month: always inside the window
	// the usage route accepts, whatever today is.
	now := time.Now().UTC()
	first := time.Date(now.Year(), now.Month()-1, 10, 0, 0, 0, 0, time.UTC)
	dates := []string{first.Format("2006-01-02"), first.AddDate(0, 0, 1).Format("2006-01-02"), first.AddDate(0, 0, 2).Format("2006-01-02")}

	type want struct{ purchased, used int64 }
	wants := make([]want, partners)
	tokens := make([]string, partners)
	for p := range partners {
		tokens[p] = s.token(fmt.Sprintf("load-%02d", p), true)
	}
	var wg sync.WaitGroup
	for p := range partners {
		partner := fmt.Sprintf("load-%02d", p)
		// Purchases: each key twice at once; then the payment's webhook
		// three times at once.
		wg.Go(func() {
			for k := range purchasesEach {
				qty := k + 1
				body := fmt.Sprintf(`{"items":[{"packageId":"dsu-1000","quantity":%d}],"paymentMethod":"new"}`, qty)
				key := fmt.Sprintf("%s-buy-%d", partner, k)
				var created [2]struct {
					Purchase struct {
						ID, PaymentIntentID, Kind string
						Amount                    struct {
							Amount   int64
							Currency string
						}
					}
				}
				var pair sync.WaitGroup
				var statuses [2]int
				for i := range 2 {
					pair.Go(func() { statuses[i] = s.send(counts, "POST", "/v1/purchases", tokens[p], key, body, &created[i]) })
				}
				pair.Wait()
				got := created[0].Purchase
				if statuses[0] != 201 {
					got = created[1].Purchase
				}
				if got.ID == "" || got.PaymentIntentID == "" {
					t.Errorf("%s: no purchase from %v", key, statuses)
					continue
				}
				if statuses[0] == 201 && statuses[1] == 201 && created[0].Purchase.ID != created[1].Purchase.ID {
					t.Errorf("%s: one key made two purchases", key)
				}
				event, err := stripeEvent("payment_intent.succeeded", map[string]any{
					"id": got.PaymentIntentID, "object": "payment_intent", "amount": got.Amount.Amount, "currency": got.Amount.Currency,
					"status": "succeeded", "metadata": map[string]string{"partner_id": partner, "purchase_id": got.ID, "kind": got.Kind},
					"latest_charge": chargeID(got.PaymentIntentID),
				}, nil)
				if err != nil {
					t.Error(err)
					continue
				}
				var deliveries sync.WaitGroup
				for range 3 {
					deliveries.Go(func() { s.sendWebhook(counts, secret, event) })
				}
				deliveries.Wait()
				wants[p].purchased += int64(qty) * 1000
			}
		})
		// Usage: every date reported by two concurrent requests.
		for _, date := range dates {
			var recs []string
			for i := range tenantsEach {
				users := int64(5 + p%3 + i)
				recs = append(recs, fmt.Sprintf(`{"partnerId":%q,"tenantId":"tenant-%d","date":%q,"users":%d}`, partner, i, date, users))
				wants[p].used += users
			}
			body := `{"records":[` + strings.Join(recs, ",") + `]}`
			for range 2 {
				wg.Go(func() {
					var res struct{ Results []struct{ Status string } }
					if status := s.send(counts, "POST", "/v1/internal/usage", "", "", body, &res); status == 200 {
						for _, r := range res.Results {
							if r.Status != "applied" && r.Status != "duplicate" {
								t.Errorf("usage of %s on %s: %s", partner, date, r.Status)
							}
						}
					}
				})
			}
		}
	}
	wg.Wait()
	s.run.Streams.WaitIdle()

	server := 0
	for status, n := range counts.status {
		if status >= 500 {
			server += n
		}
	}
	if server > 0 {
		t.Errorf("%d responses ≥ 500 (of %v): %s", server, counts.status, strings.Join(counts.failed, "\n"))
	}
	for p := range partners {
		var bal balanceJSON
		s.call("GET", "/v1/balance", tokens[p], "", 200, &bal)
		expected := 2000 + wants[p].purchased - wants[p].used
		if bal.Units != expected {
			t.Errorf("load-%02d: balance %d, want 2,000 + %d − %d = %d", p, bal.Units, wants[p].purchased, wants[p].used, expected)
		}
		if sum := s.ledgerSum(tokens[p]); sum != bal.Units {
			t.Errorf("load-%02d: Σ ledger %d, balance %d", p, sum, bal.Units)
		}
	}
	t.Logf("responses by status: %v; slowest %v", counts.status, counts.slowest)
}

// ledgerSum adds up every entry of the token's partner's ledger, page by
// page.
func (s *localStack) ledgerSum(token string) int64 {
	var sum int64
	cursor := ""
	for {
		var page struct {
			Entries    []struct{ Units int64 }
			NextCursor *string
		}
		path := "/v1/ledger?limit=100"
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		s.call("GET", path, token, "", 200, &page)
		for _, e := range page.Entries {
			sum += e.Units
		}
		if page.NextCursor == nil || *page.NextCursor == "" {
			return sum
		}
		cursor = *page.NextCursor
	}
}
