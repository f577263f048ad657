package main

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/admincli"
	"github.com/cirasync/dsubilling/internal/localstack"
)

// admin runs dsu-admin against the local stack and returns its exit
// status and output.
func (s *localStack) dsuAdmin(args ...string) (int, string) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	cli := &admincli.CLI{Stdout: &out, Stderr: &errOut, HTTP: s.client}
	status := cli.Run(context.Background(), append([]string{"-api", s.run.URL}, args...))
	return status, out.String() + errOut.String()
}

// An operator's session through the local stack with dsu-admin: show,
// adjust (the same command twice makes one entry), release a dispute hold,
// verify; each change is in the partner's audit log with the operator as
// its actor.
func TestOperatorSessionThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "acme")
	s.call("GET", "/v1/billing", s.admin, "", 200, nil) // the partner exists from its first request

	if status, out := s.dsuAdmin("show", "acme"); status != admincli.ExitOK || !strings.Contains(out, "acme (usd)") || !strings.Contains(out, "2,000 DSUs") ||
		!regexp.MustCompile(`invariant +ok`).MatchString(out) {
		t.Fatalf("show: %d\n%s", status, out)
	}
	for range 2 {
		if status, out := s.dsuAdmin("adjust", "acme", "-units", "250", "-reason", "goodwill after the outage", "-ticket", "SUP-7"); status != admincli.ExitOK || !strings.Contains(out, "+250 DSUs") {
			t.Fatalf("adjust: %d\n%s", status, out)
		}
	}
	var bal balanceJSON
	s.call("GET", "/v1/balance", s.reader, "", 200, &bal)
	if bal.Units != 2250 {
		t.Fatalf("balance %d after the same adjustment twice, want 2,250", bal.Units)
	}
	if status, out := s.dsuAdmin("verify", "acme"); status != admincli.ExitOK || strings.TrimSpace(out) != "acme: ok" {
		t.Fatalf("verify: %d\n%s", status, out)
	}
	if status, out := s.dsuAdmin("show", "nobody"); status != admincli.ExitProblems || !strings.Contains(out, "404") {
		t.Errorf("show of an unknown partner: %d\n%s", status, out)
	}
	if status, _ := s.dsuAdmin("adjust", "acme", "-units", "0", "-reason", "x"); status != admincli.ExitUsage {
		t.Errorf("adjust without units: %d", status)
	}

	// A chargeback puts the plan on hold; the operator lifts it.
	var created struct {
		Purchase struct {
			ID, PaymentIntentID string
			Amount              struct{ Amount int64 }
		}
	}
	s.call("POST", "/v1/purchases", s.admin, `{"items":[{"packageId":"dsu-1000","quantity":1}],"paymentMethod":"new"}`, 201, &created)
	s.simulate("payment-succeeded", "-partner", "acme", "-purchase", created.Purchase.ID)
	dispute, _ := stripeEvent("charge.dispute.created", map[string]any{
		"id": "dp_local_1", "object": "dispute", "charge": chargeID(created.Purchase.PaymentIntentID), "payment_intent": created.Purchase.PaymentIntentID,
		"status": "needs_response", "reason": "fraudulent", "amount": created.Purchase.Amount.Amount, "currency": "usd",
	}, nil)
	if status, body, err := localstack.PostWebhook(context.Background(), s.run.URL, s.env["STRIPE_WEBHOOK_SECRET"], dispute, time.Now()); err != nil || status != 200 {
		t.Fatalf("dispute: %d %s %v", status, body, err)
	}
	if _, out := s.dsuAdmin("show", "acme"); !strings.Contains(out, "DISPUTE HOLD") {
		t.Fatalf("no hold after the dispute:\n%s", out)
	}
	if status, out := s.dsuAdmin("release-dispute-hold", "acme"); status != admincli.ExitOK || !strings.Contains(out, "dispute hold released") {
		t.Fatalf("release: %d\n%s", status, out)
	}
	if _, out := s.dsuAdmin("show", "acme"); strings.Contains(out, "DISPUTE HOLD") {
		t.Fatalf("still held:\n%s", out)
	}

	var audit struct {
		Events []struct {
			Action string
			Actor  struct{ Sub string }
		}
	}
	s.call("GET", "/v1/audit", s.admin, "", 200, &audit)
	var seen []string
	for _, ev := range audit.Events {
		if ev.Actor.Sub == "local-operator" {
			seen = append(seen, ev.Action)
		}
	}
	if fmt.Sprint(seen) != "[dispute_hold.released adjustment.created]" {
		t.Errorf("the operator's audit events, newest first: %v", seen)
	}
	s.call("GET", "/v1/audit", s.reader, "", 403, nil)

	// -json gives the API's answer for scripts.
	if status, out := s.dsuAdmin("-json", "verify", "acme", "acme"); status == admincli.ExitUsage || strings.Count(out, `"partnerId":"acme"`) != 2 {
		t.Errorf("verify -json: %d\n%s", status, out)
	}
}
