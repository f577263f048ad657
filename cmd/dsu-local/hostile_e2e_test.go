package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/localstack"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/logging/logtest"
)

// Hostile input through the local stack as `make dev` serves it, every
// component and function logging: each request gets its 4xx, and neither
// the answer nor any log line repeats the hostile key or value (API.md,
// "Input rules").
func TestHostileInputIsRefusedWithoutATrace(t *testing.T) {
	logs := &logtest.Buffer{}
	s := startLocalLogging(t, "p-hostile", logging.New(logs, "debug"))
	cfg, _ := localEnv(s.getenv).functionsConfig()
	// A group whose name holds the admin group's after a quote: the token
	// renders it "[x\"billing-admin]".
	quoted, err := localstack.SignToken([]byte(s.env["DSU_LOCAL_JWT_SECRET"]), localstack.TokenClaims{
		PartnerID: "p-hostile", Admin: true, TTL: time.Hour,
		PartnerClaim: cfg.PartnerClaim, GroupsClaim: cfg.GroupsClaim, AdminGroup: `x"` + cfg.AdminGroup,
	}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	nines := strings.Repeat("9", 3000)

	cases := []struct {
		name, method, path, token, body string
		status                          int
		hostile                         []string // in neither the answer nor the logs
	}{
		{"keys in two cases", "POST", "/v1/purchases", s.admin, `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new","PaymentMethod":"saved"}`, 400, nil},
		{"card number as a key", "POST", "/v1/purchases", s.admin, `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new","4242424242424242":"x"}`, 400, []string{"4242424242424242"}},
		{"card number in a nested key", "PUT", "/v1/billing/contact", s.admin, `{"contact":{"name":"A B","email":"a.b@example.com","4000056655665556":"1"}}`, 400, []string{"4000056655665556"}},
		{"grouped card number in a key", "PUT", "/v1/billing/auto-refill", s.admin, `{"enabled":false,"card 5555 5555 5555 4444":1}`, 400, []string{"5555 5555 5555 4444", "5555 4444"}},
		{"card value in an unknown key", "PUT", "/v1/billing/auto-refill", s.admin, `{"enabled":false,"my note":"378282246310005"}`, 400, []string{"378282246310005", "my note"}},
		{"bad percent-encoding", "GET", "/v1/ledger?cursor=%%%garbage", s.reader, "", 400, []string{"garbage"}},
		{"repeated parameter", "GET", "/v1/ledger?limit=1&limit=100", s.reader, "", 400, nil},
		{"card number as a cursor", "GET", "/v1/purchases?cursor=4242424242424242", s.reader, "", 400, []string{"4242424242424242"}},
		{"another partner in the query", "GET", "/v1/purchases?partnerId=p-victim", s.reader, "", 400, []string{"p-victim"}},
		{"query on a route without one", "GET", "/v1/billing?x=%FF", s.reader, "", 400, nil},
		{"id longer than a key", "GET", "/v1/purchases/pur_" + nines, s.reader, "", 404, []string{nines[:40]}},
		{"id not UTF-8", "GET", "/v1/purchases/pur_%FF%FE", s.reader, "", 404, nil},
		{"card number as an id", "GET", "/v1/purchases/6011111111111117", s.reader, "", 404, []string{"6011111111111117"}},
		{"key separator in an id", "POST", "/v1/purchases/pur_a%23PROFILE/confirm", s.admin, "", 404, []string{"PROFILE"}},
		{"path in a SetupIntent id", "PUT", "/v1/billing/card", s.admin, `{"setupIntentId":"seti_../../v1/customers/cus_evil"}`, 400, []string{"cus_evil"}},
		{"admin group after a quote", "PUT", "/v1/billing/auto-refill", quoted, `{"enabled":false}`, 403, nil},
	}
	for _, c := range cases {
		req, err := http.NewRequest(c.method, s.run.URL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		req.Header.Set("Authorization", "Bearer "+c.token)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		req.Header.Set("Idempotency-Key", "hostile-"+strings.ReplaceAll(c.name, " ", "-"))
		resp, err := s.client.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d %s, want %d", c.name, resp.StatusCode, body, c.status)
		}
		for _, h := range c.hostile {
			if strings.Contains(string(body), h) {
				t.Errorf("%s: the answer repeats %q: %s", c.name, h, body)
			}
		}
	}

	// Nothing of it was bought, saved or changed.
	var list struct {
		Purchases []struct{} `json:"purchases"`
	}
	s.call("GET", "/v1/purchases", s.reader, "", 200, &list)
	if len(list.Purchases) != 0 {
		t.Fatalf("a refused request bought something: %+v", list)
	}

	out := logs.String()
	if !strings.Contains(out, `"status":400`) || !strings.Contains(out, `"code":"validation_failed"`) {
		t.Fatalf("the refusals were not logged: %s", out)
	}
	for _, c := range cases {
		for _, h := range c.hostile {
			if strings.Contains(out, h) {
				t.Errorf("%s: a log line repeats %q", c.name, h)
			}
		}
	}
}
