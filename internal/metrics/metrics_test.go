package metrics_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
)

var (
	_ metrics.Recorder = (*metrics.EMF)(nil)
	_ metrics.Recorder = metrics.Discard{}
)

var now = time.Date(2026, 3, 14, 9, 26, 53, 589_000_000, time.UTC)

func newEMF(w *bytes.Buffer, fn string) *metrics.EMF {
	return metrics.NewEMF(w, fn, func() time.Time { return now })
}

func lines(b *bytes.Buffer) []string {
	return strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
}

// The line CloudWatch Logs reads, member by member: the _aws metadata
// (timestamp, namespace, dimension sets, metric names and units) and the
// dimension and metric values as top-level members.
func TestOneFlushIsOneEMFLine(t *testing.T) {
	var out bytes.Buffer
	e := newEMF(&out, "purchases")
	e.Add(metrics.PurchasesCreated, 1, metrics.Kind("manual"))
	e.Add(metrics.UnitsCredited, 5000)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	ls := lines(&out)
	if len(ls) != 1 {
		t.Fatalf("%d lines, want 1:\n%s", len(ls), out.String())
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(ls[0]), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"_aws": map[string]any{
			"Timestamp": float64(now.UnixMilli()),
			"CloudWatchMetrics": []any{
				map[string]any{
					"Namespace":  "DSUBilling",
					"Dimensions": []any{[]any{}, []any{"Function"}},
					"Metrics":    []any{map[string]any{"Name": "UnitsCredited", "Unit": "Count"}},
				},
				map[string]any{
					"Namespace":  "DSUBilling",
					"Dimensions": []any{[]any{}, []any{"Function"}, []any{"Function", "Kind"}},
					"Metrics":    []any{map[string]any{"Name": "PurchasesCreated", "Unit": "Count"}},
				},
			},
		},
		"Function":         "purchases",
		"Kind":             "manual",
		"PurchasesCreated": 1.0,
		"UnitsCredited":    5000.0,
	}
	if !jsonEqual(got, want) {
		t.Errorf("line\n got %s\nwant %s", ls[0], mustJSON(want))
	}
	// A second Flush writes nothing new.
	out.Reset()
	if err := e.Flush(); err != nil || out.Len() != 0 {
		t.Errorf("an empty flush wrote %q (%v)", out.String(), err)
	}
}

func TestPointsPerDimensionSet(t *testing.T) {
	var out bytes.Buffer
	e := newEMF(&out, "stripewebhook")
	e.Add(metrics.WebhookEvents, 1, metrics.Type("payment_intent.succeeded"), metrics.Outcome("processed"))
	e.Add(metrics.WebhookEvents, 1, metrics.Type("payment_intent.succeeded"), metrics.Outcome("duplicate"))
	e.Add(metrics.WebhookEvents, 1, metrics.Type("charge.refunded"), metrics.Outcome("processed"))
	e.Add(metrics.PurchasesSucceeded, 1, metrics.Kind("manual"))
	e.Add(metrics.PurchasesSucceeded, 1, metrics.Kind("auto_refill"))
	e.Add(metrics.PurchasesSucceeded, 1, metrics.Kind("manual"))
	e.Add(metrics.CreditMismatches, 1, metrics.Reason("amount"))
	e.Add(metrics.DoubleChargesRefunded, 1)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	points, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	fn := []string{"Function", "stripewebhook"}
	sum := func(name string, dims ...string) float64 {
		return metricstest.Sum(points, name, append(slices.Clone(fn), dims...)...)
	}
	for _, c := range []struct {
		name string
		dims []string
		want float64
	}{
		{metrics.WebhookEvents, nil, 3},
		{metrics.WebhookEvents, []string{"Type", "payment_intent.succeeded"}, 2},
		{metrics.WebhookEvents, []string{"Type", "charge.refunded"}, 1},
		{metrics.WebhookEvents, []string{"Outcome", "processed"}, 2},
		{metrics.WebhookEvents, []string{"Outcome", "duplicate"}, 1},
		{metrics.PurchasesSucceeded, nil, 3},
		{metrics.PurchasesSucceeded, []string{"Kind", "manual"}, 2},
		{metrics.PurchasesSucceeded, []string{"Kind", "auto_refill"}, 1},
		{metrics.CreditMismatches, nil, 1},
		{metrics.CreditMismatches, []string{"Reason", "amount"}, 1},
		{metrics.DoubleChargesRefunded, nil, 1},
	} {
		if got := sum(c.name, c.dims...); got != c.want {
			t.Errorf("%s %v = %v, want %v; series %v", c.name, c.dims, got, c.want, metricstest.Series(points))
		}
	}
	// The service's totals, which the alarms watch, have no dimension.
	for name, want := range map[string]float64{metrics.WebhookEvents: 3, metrics.PurchasesSucceeded: 3, metrics.CreditMismatches: 1, metrics.DoubleChargesRefunded: 1} {
		if got := metricstest.Sum(points, name); got != want {
			t.Errorf("%s total = %v, want %v", name, got, want)
		}
	}
	// Few dimensions: none, the function, or the function and one breakdown.
	for _, p := range points {
		if len(p.Dimensions) > 2 || len(p.Dimensions) > 0 && p.Dimensions["Function"] != "stripewebhook" {
			t.Errorf("%s published under %v", p.Name, p.Dimensions)
		}
		if p.Timestamp != now.UnixMilli() {
			t.Errorf("timestamp %d, want %d", p.Timestamp, now.UnixMilli())
		}
	}
	// Two values of a dimension cannot share a line; values that can, do.
	if n := len(lines(&out)); n != 3 {
		t.Errorf("%d lines, want 3 (Type×Outcome combinations, Kind values):\n%s", n, out.String())
	}
}

func TestManyValuesOfOneMetricStayWithinTheFormat(t *testing.T) {
	var out bytes.Buffer
	e := newEMF(&out, "usage")
	for range 250 {
		e.Add(metrics.UsageRecords, 1, metrics.Status("applied"))
	}
	e.Add(metrics.UnitsDebited, 2500)
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	points, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := metricstest.Sum(points, metrics.UsageRecords, "Function", "usage", "Status", "applied"); got != 250 {
		t.Errorf("UsageRecords = %v, want 250", got)
	}
	if got := metricstest.Sum(points, metrics.UnitsDebited, "Function", "usage"); got != 2500 {
		t.Errorf("UnitsDebited = %v, want 2500", got)
	}
	if n := len(lines(&out)); n != 3 {
		t.Errorf("%d lines, want 3 (100 values per metric and line)", n)
	}
}

func TestRefusedValuesAreReportedNotWritten(t *testing.T) {
	var out bytes.Buffer
	e := newEMF(&out, "purchases")
	e.Add("Purchases", 1)                                                    // unknown metric
	e.Add(metrics.PurchasesCreated, 1, metrics.Reason("x"))                  // not a breakdown of it
	e.Add(metrics.PurchasesCreated, 1, metrics.Kind("partner-P-1042"))       // an id, not a label
	e.Add(metrics.PurchasesCreated, 1, metrics.Kind("a"), metrics.Kind("b")) // twice
	e.Add(metrics.UnitsCredited, math.NaN())
	e.Add(metrics.PurchasesCreated, 1, metrics.Kind("manual"))
	err := e.Flush()
	if err == nil {
		t.Fatal("no error for refused values")
	}
	for _, want := range []string{`unknown metric "Purchases"`, `no dimension "Reason"`, `"partner-P-1042" is not a label`, "given twice", "not a finite number"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	points, perr := metricstest.Parse(out.Bytes())
	if perr != nil {
		t.Fatal(perr)
	}
	if series := metricstest.Series(points); !slices.Equal(series, []string{"PurchasesCreated", "PurchasesCreated Function=purchases", "PurchasesCreated Function=purchases Kind=manual"}) {
		t.Errorf("series %v, want only the valid value", series)
	}
	// The refusals were reported once.
	if err := e.Flush(); err != nil {
		t.Errorf("second flush: %v", err)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestWriteErrorIsReturned(t *testing.T) {
	e := metrics.NewEMF(failingWriter{}, "purchases", func() time.Time { return now })
	e.Add(metrics.RefillsStarted, 1)
	if err := e.Flush(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("Flush = %v", err)
	}
}

func TestConcurrentRecording(t *testing.T) {
	var out bytes.Buffer
	e := newEMF(&out, "autorefill")
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			e.Add(metrics.RefillsStarted, 1)
			if i%4 == 0 {
				e.Add(metrics.RefillsPaused, 1, metrics.Reason("payment_failed"))
			}
		})
	}
	wg.Wait()
	if err := e.Flush(); err != nil {
		t.Fatal(err)
	}
	points, err := metricstest.Parse(out.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if got := metricstest.Sum(points, metrics.RefillsStarted, "Function", "autorefill"); got != 40 {
		t.Errorf("RefillsStarted = %v, want 40", got)
	}
	if got := metricstest.Sum(points, metrics.RefillsPaused, "Function", "autorefill", "Reason", "payment_failed"); got != 10 {
		t.Errorf("RefillsPaused = %v, want 10", got)
	}
}

func TestSpecs(t *testing.T) {
	known := []string{metrics.DimKind, metrics.DimOutcome, metrics.DimReason, metrics.DimType, metrics.DimStatus}
	names := metrics.Names()
	if len(names) != 13 || len(names) >= 100 {
		t.Errorf("%d metrics: %v", len(names), names)
	}
	for _, name := range names {
		s := metrics.Specs[name]
		if s.Unit != metrics.Count {
			t.Errorf("%s: %+v", name, s)
		}
		for _, b := range s.Breakdowns {
			if !slices.Contains(known, b) {
				t.Errorf("%s: unknown breakdown %s", name, b)
			}
		}
	}
	// The breakdowns docs/ARCHITECTURE.md ("Metrics") lists.
	for name, want := range map[string][]string{
		metrics.PurchasesCreated: {"Kind"}, metrics.PurchasesSucceeded: {"Kind"}, metrics.PurchasesFailed: {"Kind"},
		metrics.RefillsPaused: {"Reason"}, metrics.WebhookEvents: {"Type", "Outcome"}, metrics.UsageRecords: {"Status"},
		metrics.RefillsFailed: nil, metrics.DoubleChargesRefunded: nil,
	} {
		if got := metrics.Specs[name].Breakdowns; !slices.Equal(got, want) {
			t.Errorf("%s breakdowns %v, want %v", name, got, want)
		}
	}
}

// The checker itself: each rule of the format it enforces rejects a line
// that breaks it.
func TestParseRejectsInvalidEMF(t *testing.T) {
	valid := `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"DSUBilling","Dimensions":[["Function"]],"Metrics":[{"Name":"RefillsFailed","Unit":"Count"}]}]},"Function":"autorefill","RefillsFailed":1}`
	if p, err := metricstest.Parse([]byte(`{"level":"INFO","msg":"not a metric"}` + "\n" + valid)); err != nil || len(p) != 1 {
		t.Fatalf("valid line: %v %v", p, err)
	}
	for name, line := range map[string]string{
		"no timestamp":      strings.Replace(valid, `"Timestamp":1,`, ``, 1),
		"no directives":     `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[]}}`,
		"other namespace":   strings.Replace(valid, `"DSUBilling"`, `"Other"`, 1),
		"dimension missing": strings.Replace(valid, `"Function":"autorefill",`, ``, 1),
		"dimension number":  strings.Replace(valid, `"Function":"autorefill"`, `"Function":3`, 1),
		"value missing":     strings.Replace(valid, `,"RefillsFailed":1`, ``, 1),
		"value a string":    strings.Replace(valid, `"RefillsFailed":1}`, `"RefillsFailed":"1"}`, 1),
		"bad unit":          strings.Replace(valid, `"Count"`, `"Counts"`, 1),
		"no dimensions":     strings.Replace(valid, `"Dimensions":[["Function"]],`, ``, 1),
		"not JSON":          `_aws`,
	} {
		if _, err := metricstest.Parse([]byte(line)); err == nil {
			t.Errorf("%s: accepted %s", name, line)
		}
	}
}

func jsonEqual(a, b any) bool { return mustJSON(a) == mustJSON(b) }

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	var x any
	_ = json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}
