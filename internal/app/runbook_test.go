package app_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
)

// The RefillFailureRateAlarm's runbook query (DEPLOYMENT.md, Runbook,
// "RefillFailureRateAlarm") filters the autorefill log group on
// msg in ["refill failed", "refill refused by Stripe; plan paused"]. Every
// refill counted in RefillsFailed should show up there, with its partner:
// otherwise a page caused by refills needing authentication (an issuer
// turning on 3-D Secure) shows an empty result at 3 a.m.
func TestEveryFailedRefillIsInTheRunbookQuery(t *testing.T) {
	r := newRefillWorld(t)
	var logs logtest.Buffer
	log := logs.Logger()
	r.outcomes.Log, r.settler.Log, r.refiller.Log = log, log, log
	r.planPartner("p1", "pm_3ds", 5)
	r.pay.outcome["pm_3ds"] = "requires_action"
	r.use("p1", "t", 2000)
	if err := r.refiller.Refill(context.Background(), "p1"); err != nil {
		t.Fatal(err)
	}
	if err := r.metrics.Flush(); err != nil {
		t.Fatal(err)
	}
	failed := metricstest.Sum(r.recorded(), metrics.RefillsFailed)
	if failed != 1 {
		t.Fatalf("RefillsFailed = %v, want 1 (the alarm counts it)", failed)
	}
	matched := 0
	for line := range strings.Lines(logs.String()) {
		var l map[string]any
		if json.Unmarshal([]byte(line), &l) != nil {
			continue
		}
		if msg := l["msg"]; (msg == "refill failed" || msg == "refill refused by Stripe; plan paused") && l["partner"] == "p1" {
			matched++
		}
	}
	if matched == 0 {
		t.Errorf("a refill counted in RefillsFailed has no line the runbook's query finds; the lines:\n%s", logs.String())
	}
}
