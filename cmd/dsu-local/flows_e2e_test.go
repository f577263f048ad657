package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/localstack"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/openapitest"
)

// localStack runs the stack in process, as `make dev` runs it, with the
// real handlers, the stream emulation and stripe-mock.
type localStack struct {
	t      *testing.T
	run    *localstack.Running
	client *http.Client // checks every answer against docs/openapi.yaml
	env    map[string]string
	admin  string
	reader string
	// metrics holds the EMF lines the functions wrote.
	metrics *logtest.Buffer
}

func startLocal(t *testing.T, partner string) *localStack {
	t.Helper()
	return startLocalLogging(t, partner, logging.Discard())
}

// startLocalLogging starts the stack with every component and function
// logging to log.
func startLocalLogging(t *testing.T, partner string, log *slog.Logger) *localStack {
	t.Helper()
	env := map[string]string{"DSU_LOCAL_ADDR": "127.0.0.1:0", "DSU_LOCAL_JWT_SECRET": "flows-secret", "STRIPE_WEBHOOK_SECRET": "whsec_flows"}
	e := localEnv(func(k string) string { return env[k] })
	cfg, err := e.functionsConfig()
	if err != nil {
		t.Fatal(err)
	}
	emf := &logtest.Buffer{}
	run, err := localstack.Start(context.Background(), localstack.Options{
		Addr: e.addr, JWTSecret: e.jwtSecret, WebhookSecret: e.webhookSecret, Functions: cfg, Log: log,
		Local: portalHandler(e, log), Metrics: emf,
	}, localFunctions)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(run.Close)
	env["DSU_LOCAL_ADDR"] = strings.TrimPrefix(run.URL, "http://")
	s := &localStack{t: t, run: run, client: openapitest.Client(t, 30*time.Second), env: env, metrics: emf}
	s.admin = s.token(partner, true)
	s.reader = s.token(partner, false)
	return s
}

func (s *localStack) token(partner string, admin bool) string {
	var out bytes.Buffer
	args := []string{"token", "-partner", partner}
	if admin {
		args = append(args, "-admin")
	}
	if err := run(args, s.getenv, &out, io.Discard); err != nil {
		s.t.Fatal(err)
	}
	return strings.TrimSpace(out.String())
}

func (s *localStack) getenv(k string) string { return s.env[k] }

// call sends a request with a token and decodes the JSON answer.
func (s *localStack) call(method, path, token, body string, want int, out any) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.run.URL+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if method == "POST" && path == "/v1/purchases" {
		req.Header.Set("Idempotency-Key", fmt.Sprintf("flow-%d", time.Now().UnixNano()))
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		s.t.Fatalf("%s %s → %d %s, want %d", method, path, resp.StatusCode, raw, want)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			s.t.Fatalf("%s %s: %v in %s", method, path, err, raw)
		}
	}
}

// simulate runs `dsu-local simulate`. The command talks to the stack through
// http.DefaultClient (the webhook it posts, the purchase it reads); for its
// duration that client's answers are checked against docs/openapi.yaml too.
// The tests of this package do not run in parallel, and nothing else in the
// process uses http.DefaultClient meanwhile.
func (s *localStack) simulate(args ...string) string {
	s.t.Helper()
	prev := http.DefaultClient.Transport
	http.DefaultClient.Transport = openapitest.Transport(s.t, prev)
	defer func() { http.DefaultClient.Transport = prev }()
	var out bytes.Buffer
	if err := run(append([]string{"simulate"}, args...), s.getenv, &out, io.Discard); err != nil {
		s.t.Fatalf("simulate %v: %v\n%s", args, err, out.String())
	}
	return out.String()
}

type balanceJSON struct {
	Units int64 `json:"units"`
}

// The README's walkthrough, end to end: billing info, a card saved by the
// setup_intent.succeeded webhook, the automated plan, usage posted by the
// sync platform, the refill started by the stream emulation and completed
// by Stripe's webhook.
func TestAutomatedPlanThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "acme")
	s.call("PUT", "/v1/billing/contact", s.admin, `{"contact":{"name":"Jane Doe","email":"jane.doe@acme.example","phone":"+1 312 555 0100"},
		"address":{"line1":"1 Main St","city":"Springfield","state":"IL","postalCode":"62701","country":"US"}}`, 200, nil)
	var setup struct{ SetupIntentID, ClientSecret string }
	s.call("POST", "/v1/billing/card/setup-intent", s.admin, "", 201, &setup)
	if setup.SetupIntentID == "" || setup.ClientSecret == "" {
		t.Fatalf("setup intent %+v", setup)
	}
	// The portal confirms the card with Stripe Elements; Stripe reports it.
	s.simulate("setup-succeeded", "-partner", "acme", "-setup-intent", setup.SetupIntentID)
	var info struct {
		Card       *struct{ Brand, Last4 string } `json:"card"`
		AutoRefill struct{ Status string }        `json:"autoRefill"`
	}
	s.call("GET", "/v1/billing", s.reader, "", 200, &info)
	if info.Card == nil || info.Card.Last4 == "" {
		t.Fatalf("card not saved: %+v", info)
	}
	s.call("PUT", "/v1/billing/auto-refill", s.admin, `{"enabled":true,"packageId":"dsu-1000","threshold":0,"monthlyLimit":5}`, 200, &info)
	if info.AutoRefill.Status != "active" {
		t.Fatalf("plan %+v", info.AutoRefill)
	}

	// The latest billed day (days 26+ are free): today, or the 25th.
	day := time.Now().UTC()
	if day.Day() > 25 {
		day = time.Date(day.Year(), day.Month(), 25, 0, 0, 0, 0, time.UTC)
	}
	var usage struct{ Results []struct{ Status string } }
	s.call("POST", "/v1/internal/usage", "", fmt.Sprintf(`{"records":[{"partnerId":"acme","tenantId":"contoso","date":%q,"users":2500}]}`, day.Format("2006-01-02")), 200, &usage)
	if len(usage.Results) != 1 || usage.Results[0].Status != "applied" {
		t.Fatalf("usage %+v", usage)
	}
	s.run.Streams.WaitIdle()

	var list struct {
		Purchases []struct {
			ID, Kind, Status, PaymentIntentID string
		} `json:"purchases"`
	}
	s.call("GET", "/v1/purchases", s.reader, "", 200, &list)
	if len(list.Purchases) != 1 || list.Purchases[0].Kind != "auto_refill" || list.Purchases[0].PaymentIntentID == "" {
		t.Fatalf("purchases after the usage: %+v", list.Purchases)
	}
	// stripe-mock does not run payments; Stripe's webhook reports success.
	s.simulate("payment-succeeded", "-partner", "acme", "-purchase", list.Purchases[0].ID)
	var bal balanceJSON
	s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
	if bal.Units != 2000-2500+1000 {
		t.Fatalf("balance %d, want 500", bal.Units)
	}
	// Delivered twice, credited once.
	s.simulate("payment-succeeded", "-partner", "acme", "-purchase", list.Purchases[0].ID)
	s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
	if bal.Units != 500 {
		t.Fatalf("balance %d after a duplicate", bal.Units)
	}
}

// A manual purchase with a new card, paid, then refunded.
func TestManualPurchaseThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "globex")
	var created struct {
		Purchase struct {
			ID, Status string
			Units      int64
		} `json:"purchase"`
		ClientSecret *string `json:"clientSecret"`
	}
	s.call("POST", "/v1/purchases", s.admin, `{"items":[{"packageId":"dsu-5000","quantity":2}],"paymentMethod":"new"}`, 201, &created)
	if created.Purchase.Status != "pending" || created.ClientSecret == nil || created.Purchase.Units != 10000 {
		t.Fatalf("created %+v", created)
	}
	s.simulate("payment-succeeded", "-partner", "globex", "-purchase", created.Purchase.ID)
	var bal balanceJSON
	s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
	if bal.Units != 12000 {
		t.Fatalf("balance %d", bal.Units)
	}
	s.simulate("refund", "-partner", "globex", "-purchase", created.Purchase.ID)
	s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
	if bal.Units != 2000 {
		t.Fatalf("balance %d after a full refund", bal.Units)
	}
	var ledger struct {
		Entries []struct {
			Type  string
			Units int64
		} `json:"entries"`
	}
	s.call("GET", "/v1/ledger?limit=10", s.reader, "", 200, &ledger)
	if len(ledger.Entries) != 3 || ledger.Entries[0].Type != "refund" || ledger.Entries[1].Type != "purchase" || ledger.Entries[2].Type != "grant" {
		t.Fatalf("ledger %+v", ledger.Entries)
	}
}

// The money edges a developer plays locally: a receipt, a refund that
// fails after all, a second payment for a paid purchase (refunded at
// stripe-mock), and a partial dispute that is lost.
func TestMoneyEdgesThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "initech")
	var created struct {
		Purchase struct{ ID string } `json:"purchase"`
	}
	s.call("POST", "/v1/purchases", s.admin, `{"items":[{"packageId":"dsu-1000","quantity":2}],"paymentMethod":"new"}`, 201, &created)
	id := created.Purchase.ID
	s.simulate("payment-succeeded", "-partner", "initech", "-purchase", id)
	s.simulate("charge-succeeded", "-partner", "initech", "-purchase", id)
	var pur struct {
		Status     string  `json:"status"`
		ReceiptURL *string `json:"receiptUrl"`
	}
	s.call("GET", "/v1/purchases/"+id, s.reader, "", 200, &pur)
	if pur.Status != "succeeded" || pur.ReceiptURL == nil || !strings.HasPrefix(*pur.ReceiptURL, "https://") {
		t.Fatalf("purchase %+v", pur)
	}
	balance := func() int64 {
		var bal balanceJSON
		s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
		return bal.Units
	}
	if b := balance(); b != 4000 {
		t.Fatalf("balance %d", b)
	}

	s.simulate("refund", "-partner", "initech", "-purchase", id)
	if b := balance(); b != 2000 {
		t.Fatalf("balance %d after the refund", b)
	}
	s.simulate("refund-failed", "-partner", "initech", "-purchase", id)
	s.call("GET", "/v1/purchases/"+id, s.reader, "", 200, &pur)
	if b := balance(); b != 4000 || pur.Status != "succeeded" {
		t.Fatalf("balance %d, status %s after the refund failed", b, pur.Status)
	}

	s.simulate("duplicate-payment", "-partner", "initech", "-purchase", id)
	if b := balance(); b != 4000 {
		t.Fatalf("balance %d: a second payment credited", b)
	}

	s.simulate("dispute-created", "-partner", "initech", "-purchase", id, "-amount", "2500")
	s.simulate("dispute-lost", "-partner", "initech", "-purchase", id, "-amount", "2500")
	s.call("GET", "/v1/purchases/"+id, s.reader, "", 200, &pur)
	if b := balance(); b != 3500 || pur.Status != "disputed" {
		t.Fatalf("balance %d, status %s after a lost dispute of a quarter", b, pur.Status)
	}
	var ledger struct {
		Entries []struct{ Type string } `json:"entries"`
	}
	s.call("GET", "/v1/ledger?limit=10", s.reader, "", 200, &ledger)
	var types []string
	for _, e := range ledger.Entries {
		types = append(types, e.Type)
	}
	if got := strings.Join(types, ","); got != "dispute,refund_reversal,refund,purchase,grant" {
		t.Fatalf("ledger %s", got)
	}
}

// One partner creating purchases in a loop is stopped at its limit with
// 429 and Retry-After; another partner keeps buying.
func TestPurchaseLimitThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "looper")
	other := s.token("bystander", true)
	buy := func(token, key string) *http.Response {
		req, _ := http.NewRequest("POST", s.run.URL+"/v1/purchases", strings.NewReader(`{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	limit := dsu.ManualPurchasesPerPartner.Max
	// The limit counts per clock minute: a run that straddles a minute
	// boundary is repeated once, in the next minute.
	for attempt := 0; ; attempt++ {
		minute := time.Now().Truncate(time.Minute)
		var statuses []int
		var refused *http.Response
		for i := range limit + 1 {
			resp := buy(s.admin, fmt.Sprintf("loop-%d-%d", attempt, i))
			statuses = append(statuses, resp.StatusCode)
			refused = resp
		}
		if !time.Now().Truncate(time.Minute).Equal(minute) && attempt == 0 {
			time.Sleep(time.Until(time.Now().Truncate(time.Minute).Add(time.Minute)))
			continue
		}
		for i, st := range statuses[:limit] {
			if st != 201 {
				t.Fatalf("purchase %d: %d (%v)", i+1, st, statuses)
			}
		}
		if refused.StatusCode != 429 || refused.Header.Get("Content-Type") != "application/problem+json" {
			t.Fatalf("purchase %d in a minute: %d %v", limit+1, refused.StatusCode, refused.Header)
		}
		if ra, err := strconv.Atoi(refused.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
			t.Fatalf("Retry-After %q", refused.Header.Get("Retry-After"))
		}
		break
	}
	if resp := buy(other, "bystander-1"); resp.StatusCode != 201 {
		t.Fatalf("another partner: %d", resp.StatusCode)
	}
}
