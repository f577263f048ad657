package app_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// BenchmarkUsageIngest is the usage quality bar (README, "Quality bars"):
// 500 new records of one partner and one date against 500 records spread
// over 500 existing partners, through the use case and the real store on
// the in-process emulator. txn/record comes from the counting client;
// ms/request is the wall time of one request of 500 records.
func BenchmarkUsageIngest(b *testing.B) {
	b.Run("one-partner-500", func(b *testing.B) {
		r := newRefillWorld(b)
		r.partner("msp", "")
		date := r.clock.Now().Format(dsu.DateLayout)
		benchUsage(b, r, func(n int) []app.UsageInput {
			recs := make([]app.UsageInput, 500)
			for i := range recs {
				recs[i] = app.UsageInput{PartnerID: "msp", TenantID: fmt.Sprintf("run%d-tenant%03d", n, i), Date: date, Users: 3}
			}
			return recs
		})
	})
	b.Run("500-partners", func(b *testing.B) {
		r := newRefillWorld(b)
		ctx := context.Background()
		for i := range 500 {
			if _, err := r.partners.Ensure(ctx, fmt.Sprintf("partner%03d", i)); err != nil {
				b.Fatal(err)
			}
		}
		date := r.clock.Now().Format(dsu.DateLayout)
		benchUsage(b, r, func(n int) []app.UsageInput {
			recs := make([]app.UsageInput, 500)
			for i := range recs {
				recs[i] = app.UsageInput{PartnerID: fmt.Sprintf("partner%03d", i), TenantID: fmt.Sprintf("run%d", n), Date: date, Users: 3}
			}
			return recs
		})
	})
}

func benchUsage(b *testing.B, r *refillWorld, request func(n int) []app.UsageInput) {
	ctx := context.Background()
	r.api.Reset()
	var records int
	var elapsed time.Duration
	b.ResetTimer()
	for n := 0; b.Loop(); n++ {
		b.StopTimer()
		recs := request(n)
		b.StartTimer()
		start := time.Now()
		res, err := r.usage.Record(ctx, recs)
		elapsed += time.Since(start)
		if err != nil {
			b.Fatal(err)
		}
		for _, x := range res {
			if x.Status != app.UsageApplied {
				b.Fatalf("%+v", x)
			}
		}
		records += len(recs)
	}
	b.ReportMetric(float64(r.api.Counts().Transactions)/float64(records), "txn/record")
	b.ReportMetric(float64(elapsed.Milliseconds())/float64(records/500), "ms/request")
}
