package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/metrics/metricstest"
)

// The EMF lines a purchase produces, from the functions' real wiring:
// valid embedded metric format that CloudWatch turns into the purchase's
// metrics, under the function that recorded each.
func TestPurchaseMetricsThroughTheLocalStack(t *testing.T) {
	s := startLocal(t, "metered")
	var created struct {
		Purchase struct{ ID string } `json:"purchase"`
	}
	s.call("POST", "/v1/purchases", s.admin, `{"items":[{"packageId":"dsu-5000","quantity":1}],"paymentMethod":"new"}`, 201, &created)
	s.simulate("payment-succeeded", "-partner", "metered", "-purchase", created.Purchase.ID)

	out := s.metrics.String()
	var lines []string
	for l := range strings.Lines(out) {
		if strings.Contains(l, `"_aws"`) {
			lines = append(lines, l)
		}
	}
	if len(lines) == 0 {
		t.Fatalf("no EMF line written:\n%s", out)
	}
	// Each line as the embedded metric format specifies it: a directive
	// naming the namespace, dimension sets whose members are on the line,
	// metrics with units, and a number for each metric.
	for _, l := range lines {
		var obj map[string]any
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		aws, _ := obj["_aws"].(map[string]any)
		if _, ok := aws["Timestamp"].(float64); !ok {
			t.Errorf("no Timestamp: %s", l)
		}
		directives, _ := aws["CloudWatchMetrics"].([]any)
		if len(directives) == 0 {
			t.Fatalf("no CloudWatchMetrics: %s", l)
		}
		for _, d := range directives {
			d := d.(map[string]any)
			if d["Namespace"] != metrics.Namespace {
				t.Errorf("namespace %v: %s", d["Namespace"], l)
			}
			sets, _ := d["Dimensions"].([]any)
			defs, _ := d["Metrics"].([]any)
			if len(sets) == 0 || len(defs) == 0 {
				t.Fatalf("a directive without dimensions or metrics: %s", l)
			}
			for _, set := range sets {
				for _, dim := range set.([]any) {
					if _, ok := obj[dim.(string)].(string); !ok {
						t.Errorf("dimension %v has no value on the line: %s", dim, l)
					}
				}
			}
			for _, def := range defs {
				def := def.(map[string]any)
				if def["Unit"] != string(metrics.Count) {
					t.Errorf("metric %v unit %v", def["Name"], def["Unit"])
				}
				switch v := obj[def["Name"].(string)].(type) {
				case float64:
				case []any:
					if len(v) == 0 {
						t.Errorf("metric %v has no values: %s", def["Name"], l)
					}
				default:
					t.Errorf("metric %v has no value: %s", def["Name"], l)
				}
			}
		}
	}

	points, err := metricstest.Parse([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		want float64
		name string
		dims []string
	}{
		{1, metrics.PurchasesCreated, []string{"Function", "purchases", "Kind", "manual"}},
		{1, metrics.PurchasesSucceeded, []string{"Function", "stripewebhook", "Kind", "manual"}},
		{5000, metrics.UnitsCredited, []string{"Function", "stripewebhook"}},
		{1, metrics.WebhookEvents, []string{"Function", "stripewebhook", "Type", "payment_intent.succeeded"}},
		{1, metrics.PurchasesCreated, nil}, // the service total the alarms watch
	} {
		if got := metricstest.Sum(points, c.name, c.dims...); got != c.want {
			t.Errorf("%s %v = %v, want %v\n%v", c.name, c.dims, got, c.want, metricstest.Series(points))
		}
	}
}
