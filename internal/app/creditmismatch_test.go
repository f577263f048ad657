package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
)

// Every log line written when CreditMismatchAlarm's metric is recorded
// names the partner: the metric carries no id, and every operator route
// (dsu-admin show, verify, adjust) is keyed by partner id. The on-call
// engineer finds the line (DEPLOYMENT.md, "CreditMismatchAlarm") and runs
// dsu-admin verify on its partner.
func TestEveryCreditMismatchLogNamesThePartner(t *testing.T) {
	ctx := context.Background()
	succeeded := func(w *world, p dsu.Partner) app.PaymentIntent {
		_, pi := w.pendingPurchase(p, "k1", 1)
		return w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	}
	handle := func(w *world, ev app.WebhookEvent) {
		w.t.Helper()
		if err := w.webhooks.Handle(ctx, ev); err != nil {
			w.t.Fatal(err)
		}
	}
	for _, c := range []struct {
		reason   string
		mismatch func(w *world, p dsu.Partner)
	}{
		{"amount", func(w *world, p dsu.Partner) {
			pi := succeeded(w, p)
			pi.Amount.Amount--
			handle(w, piEvent(app.EvPaymentSucceeded, pi))
		}},
		{"currency", func(w *world, p dsu.Partner) {
			pi := succeeded(w, p)
			pi.Amount.Currency = dsu.EUR
			handle(w, piEvent(app.EvPaymentSucceeded, pi))
		}},
		{"partner", func(w *world, p dsu.Partner) {
			// Found by its PaymentIntent, but the metadata names another partner.
			pi := succeeded(w, p)
			pi.Metadata = map[string]string{"partner_id": "p2"}
			handle(w, piEvent(app.EvPaymentSucceeded, pi))
		}},
		{"payment_intent", func(w *world, p dsu.Partner) {
			// A purchase that never learned its PaymentIntent is offered
			// the one that already paid another purchase.
			paid := succeeded(w, p)
			handle(w, piEvent(app.EvPaymentSucceeded, paid))
			other, _ := w.pendingPurchase(p, "k2", 1)
			other.PaymentIntentID = ""
			if _, err := w.settler.Settle(ctx, other, paid, ""); err == nil {
				w.t.Fatal("a PaymentIntent paid two purchases")
			}
		}},
		{"unpayable_purchase", func(w *world, p dsu.Partner) {
			_, pi := w.pendingPurchase(p, "k1", 1)
			handle(w, piEvent(app.EvPaymentCanceled, w.pay.SetIntentStatus(pi.ID, app.PICanceled, nil)))
			handle(w, piEvent(app.EvPaymentSucceeded, w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)))
		}},
		{"unknown_purchase", func(w *world, p dsu.Partner) {
			pi := succeeded(w, p)
			pi.Metadata = map[string]string{"partner_id": p.ID, "purchase_id": "pur_nope"}
			handle(w, piEvent(app.EvPaymentSucceeded, pi))
		}},
		{"duplicate_not_refunded", func(w *world, p dsu.Partner) {
			first := succeeded(w, p)
			handle(w, piEvent(app.EvPaymentSucceeded, first))
			second := first
			second.ID = "pi_second" // unknown to the fake Stripe: the refund is refused
			handle(w, piEvent(app.EvPaymentSucceeded, second))
		}},
	} {
		t.Run(c.reason, func(t *testing.T) {
			w := newWorld(t)
			var logs logtest.Buffer
			w.settler.Log, w.webhooks.Log = logs.Logger(), logs.Logger()
			c.mismatch(w, w.partner("p1", ""))
			pts := w.recorded()
			if got := by(pts, metrics.CreditMismatches, metrics.DimReason, c.reason); got != 1 {
				t.Fatalf("CreditMismatches{Reason=%s} = %v, want 1\n%v", c.reason, got, metricstest.Series(pts))
			}
			errorLines := 0
			for dec := json.NewDecoder(bytes.NewReader(logs.Bytes())); dec.More(); {
				var line map[string]any
				if err := dec.Decode(&line); err != nil {
					t.Fatalf("log line: %v", err)
				}
				if line["level"] != slog.LevelError.String() {
					continue
				}
				errorLines++
				if line["partner"] != "p1" {
					t.Errorf("an error line does not name the partner: %v", line)
				}
			}
			if errorLines == 0 {
				t.Fatalf("no error line for the mismatch:\n%s", logs.String())
			}
		})
	}
}
