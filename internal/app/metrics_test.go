package app_test

import (
	"context"
	"testing"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
)

// recorded ends an "invocation": it flushes the world's metrics and reads
// every EMF line written so far as CloudWatch would, failing on any line
// that is not valid EMF or any value the recorder refused.
func (w *world) recorded() []metricstest.Point {
	w.t.Helper()
	if err := w.metrics.Flush(); err != nil {
		w.t.Fatal(err)
	}
	points, err := metricstest.Parse(w.emfOut.Bytes())
	if err != nil {
		w.t.Fatal(err)
	}
	return points
}

// by is a metric's sum under [Function, dim]; total (metricstest.Sum
// without dimensions) is the service-wide sum.
func by(points []metricstest.Point, name, dim, value string) float64 {
	return metricstest.Sum(points, name, metrics.DimFunction, "test", dim, value)
}

// metricWant is a metric's expected sum under [Function, dim].
type metricWant struct {
	name, dim, value string
	want             float64
}

func checkBy(t *testing.T, points []metricstest.Point, wants []metricWant) {
	t.Helper()
	for _, c := range wants {
		if got := by(points, c.name, c.dim, c.value); got != c.want {
			t.Errorf("%s{%s=%s} = %v, want %v\n%v", c.name, c.dim, c.value, got, c.want, metricstest.Series(points))
		}
	}
}

// unitsMoved sums the ledgers of the partners: credits and debits.
func (w *world) unitsMoved(partners ...string) (credited, debited float64) {
	w.t.Helper()
	for _, id := range partners {
		entries, err := w.store.AllLedgerEntries(context.Background(), id)
		if err != nil {
			w.t.Fatal(err)
		}
		for _, e := range entries {
			if e.Units > 0 {
				credited += float64(e.Units)
			} else {
				debited -= float64(e.Units)
			}
		}
	}
	return credited, debited
}

// checkUnits: the DSUs the metrics say were credited and debited are what
// the ledgers hold, so a replay or a redelivery is never counted twice.
func (w *world) checkUnits(points []metricstest.Point, partners ...string) {
	w.t.Helper()
	credited, debited := w.unitsMoved(partners...)
	if got := metricstest.Sum(points, metrics.UnitsCredited); got != credited {
		w.t.Errorf("UnitsCredited %v, the ledgers credited %v", got, credited)
	}
	if got := metricstest.Sum(points, metrics.UnitsDebited); got != debited {
		w.t.Errorf("UnitsDebited %v, the ledgers debited %v", got, debited)
	}
}

// A manual purchase counts once however it is learned and however often:
// replays of its key and redeliveries of its webhook add nothing.
func TestManualPurchaseMetrics(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	p := w.partner("p1", "pm_card")
	for range 2 { // the second is a replay of the key
		if _, err := w.buy(p, "saved", app.PayWithSavedCard, 1); err != nil {
			t.Fatal(err)
		}
	}
	_, pi := w.pendingPurchase(p, "new", 2)
	ev := piEvent(app.EvPaymentSucceeded, w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil))
	for range 3 {
		if err := w.webhooks.Handle(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.webhooks.Handle(ctx, app.WebhookEvent{ID: "evt_other", Type: "customer.created"}); err != nil {
		t.Fatal(err)
	}

	pts := w.recorded()
	checkBy(t, pts, []metricWant{
		{metrics.PurchasesCreated, metrics.DimKind, "manual", 2},
		{metrics.PurchasesSucceeded, metrics.DimKind, "manual", 2},
		{metrics.PurchasesFailed, metrics.DimKind, "manual", 0},
		{metrics.WebhookEvents, metrics.DimType, app.EvPaymentSucceeded, 3},
		{metrics.WebhookEvents, metrics.DimOutcome, app.WebhookProcessed, 3},
		// Unhandled types are one series, not one per Stripe type.
		{metrics.WebhookEvents, metrics.DimType, "other", 1},
		{metrics.WebhookEvents, metrics.DimOutcome, app.WebhookIgnored, 1},
		{metrics.WebhookEvents, metrics.DimType, "customer.created", 0},
	})
	if got := metricstest.Sum(pts, metrics.PurchasesCreated); got != 2 {
		t.Errorf("PurchasesCreated total %v, want 2", got)
	}
	w.checkUnits(pts, "p1") // the grant and both purchases
}

// A payment that does not match its purchase is counted by reason, and a
// successful payment naming no known purchase too: each is an alarm.
func TestCreditMismatchMetrics(t *testing.T) {
	w := newWorld(t)
	p := w.partner("p1", "")
	_, pi := w.pendingPurchase(p, "k1", 1)
	pi = w.pay.SetIntentStatus(pi.ID, app.PISucceeded, nil)
	for _, tamper := range []func(app.PaymentIntent) app.PaymentIntent{
		func(x app.PaymentIntent) app.PaymentIntent { x.Amount.Amount--; return x },
		func(x app.PaymentIntent) app.PaymentIntent { x.Amount.Currency = dsu.EUR; return x },
		func(x app.PaymentIntent) app.PaymentIntent {
			x.Metadata = map[string]string{"partner_id": "p1", "purchase_id": "pur_nope"}
			return x
		},
	} {
		if err := w.webhooks.Handle(context.Background(), piEvent(app.EvPaymentSucceeded, tamper(pi))); err != nil {
			t.Fatal(err)
		}
	}
	pts := w.recorded()
	for _, reason := range []string{"amount", "currency", "unknown_purchase"} {
		if got := by(pts, metrics.CreditMismatches, metrics.DimReason, reason); got != 1 {
			t.Errorf("CreditMismatches{Reason=%s} = %v, want 1\n%v", reason, got, metricstest.Series(pts))
		}
	}
	if got := metricstest.Sum(pts, metrics.CreditMismatches); got != 3 {
		t.Errorf("CreditMismatches total %v, want 3", got)
	}
	if got := metricstest.Sum(pts, metrics.PurchasesSucceeded); got != 0 {
		t.Errorf("PurchasesSucceeded %v after mismatches only", got)
	}
	w.checkUnits(pts, "p1")
}

// Automatic refills: started, credited, failed, the plan paused by reason,
// and the usage that drove them, each counted once.
func TestRefillAndUsageMetrics(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.planPartner("ok", "pm_ok", 5)
	r.planPartner("lost", "pm_lost", 5)
	r.pay.outcome["pm_lost"] = "lost_card"
	for _, id := range []string{"ok", "lost"} {
		r.use(id, "t", 3000)
		for range 2 { // a second trigger finds nothing to do
			if err := r.refiller.Refill(ctx, id); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The platform reports the same record again: a duplicate, no debit.
	res, err := r.usage.Record(ctx, []app.UsageInput{{PartnerID: "ok", TenantID: "t", Date: r.clock.Now().Format(dsu.DateLayout), Users: 3000}})
	if err != nil || res[0].Status != app.UsageDuplicate {
		t.Fatalf("usage again: %+v %v", res, err)
	}

	pts := r.recorded()
	checkBy(t, pts, []metricWant{
		{metrics.PurchasesCreated, metrics.DimKind, "auto_refill", 2},
		{metrics.PurchasesSucceeded, metrics.DimKind, "auto_refill", 1},
		{metrics.PurchasesFailed, metrics.DimKind, "auto_refill", 1},
		{metrics.RefillsPaused, metrics.DimReason, string(dsu.PausedPaymentFailed), 1},
		{metrics.UsageRecords, metrics.DimStatus, app.UsageApplied, 2},
		{metrics.UsageRecords, metrics.DimStatus, app.UsageDuplicate, 1},
	})
	for name, want := range map[string]float64{metrics.RefillsStarted: 2, metrics.RefillsSucceeded: 1, metrics.RefillsFailed: 1, metrics.RefillsPaused: 1} {
		if got := metricstest.Sum(pts, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	r.checkUnits(pts, "ok", "lost")
}
