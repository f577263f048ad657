package app_test

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

func TestUsageStatuses(t *testing.T) {
	r := newRefillWorld(t)
	ctx := context.Background()
	r.clock.Set(time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC))
	records := []app.UsageInput{
		{PartnerID: "newcomer", TenantID: "t1", Date: "2026-11-25", Users: 120}, // billed, unknown partner
		{PartnerID: "newcomer", TenantID: "t2", Date: "2026-11-26", Users: 80},  // the free true-up days
		{PartnerID: "newcomer", TenantID: "t1", Date: "2026-11-24", Users: 0},   // a billed day nobody synced
	}
	res, err := r.usage.Record(ctx, records)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status string
		units  int64
	}{{app.UsageApplied, 120}, {app.UsageNotBilled, 0}, {app.UsageApplied, 0}}
	for i, w := range want {
		if res[i].Status != w.status || res[i].Units != w.units {
			t.Errorf("record %d: %+v, want %+v", i, res[i], w)
		}
	}
	// The unknown partner got its welcome grant once, then the debit.
	if b := r.balance("newcomer"); b != 2000-120 {
		t.Fatalf("balance %d", b)
	}
	// The same report again: duplicates; another count: conflict, nothing changes.
	again, _ := r.usage.Record(ctx, records[:2])
	if again[0].Status != app.UsageDuplicate || again[0].Units != 120 || again[1].Status != app.UsageDuplicate {
		t.Fatalf("again %+v", again)
	}
	changed, _ := r.usage.Record(ctx, []app.UsageInput{{PartnerID: "newcomer", TenantID: "t1", Date: "2026-11-25", Users: 999}})
	if changed[0].Status != app.UsageConflict {
		t.Fatalf("changed count %+v", changed)
	}
	if b := r.balance("newcomer"); b != 1880 {
		t.Fatalf("balance %d after duplicates and a conflict", b)
	}
}

func TestUsageMayTakeTheBalanceBelowZero(t *testing.T) {
	r := newRefillWorld(t)
	r.partner("p1", "")
	r.use("p1", "big-tenant", 5000)
	if b := r.balance("p1"); b != -3000 {
		t.Fatalf("balance %d: consumption is never lost", b)
	}
	if len(r.events.Of(app.EventBalanceLow)) != 1 {
		t.Fatal("no balance.low event for a partner without an active plan")
	}
}

func TestUsageValidation(t *testing.T) {
	r := newRefillWorld(t)
	today := r.clock.Now().Format(dsu.DateLayout)
	tomorrow := r.clock.Now().AddDate(0, 0, 1).Format(dsu.DateLayout)
	cases := map[string]struct {
		in    app.UsageInput
		field string
	}{
		"future date":       {app.UsageInput{PartnerID: "p", TenantID: "t", Date: tomorrow, Users: 1}, "records[0].date"},
		"bad date":          {app.UsageInput{PartnerID: "p", TenantID: "t", Date: "11/29/2026", Users: 1}, "records[0].date"},
		"negative":          {app.UsageInput{PartnerID: "p", TenantID: "t", Date: today, Users: -1}, "records[0].users"},
		"no partner":        {app.UsageInput{TenantID: "t", Date: today, Users: 1}, "records[0].partnerId"},
		"no tenant":         {app.UsageInput{PartnerID: "p", Date: today, Users: 1}, "records[0].tenantId"},
		"hash partner":      {app.UsageInput{PartnerID: "p#1", TenantID: "t", Date: today, Users: 1}, "records[0].partnerId"},
		"long tenant":       {app.UsageInput{PartnerID: "p", TenantID: strings.Repeat("t", 129), Date: today, Users: 1}, "records[0].tenantId"},
		"control chars":     {app.UsageInput{PartnerID: "p", TenantID: "t\n", Date: today, Users: 1}, "records[0].tenantId"},
		"too many users":    {app.UsageInput{PartnerID: "p", TenantID: "t", Date: today, Users: 1_000_001}, "records[0].users"},
		"max int64 users":   {app.UsageInput{PartnerID: "p", TenantID: "t", Date: today, Users: math.MaxInt64}, "records[0].users"},
		"before last month": {app.UsageInput{PartnerID: "p", TenantID: "t", Date: "2026-09-30", Users: 1}, "records[0].date"},
	}
	for name, c := range cases {
		_, err := r.usage.Record(context.Background(), []app.UsageInput{c.in})
		e, ok := err.(*dsu.Error)
		if !ok || e.Kind != dsu.KindInvalid || e.Fields[0].Field != c.field {
			t.Errorf("%s: %v", name, err)
		}
	}
	tooMany := make([]app.UsageInput, 501)
	for i := range tooMany {
		tooMany[i] = app.UsageInput{PartnerID: "p", TenantID: fmt.Sprint(i), Date: today, Users: 1}
	}
	if _, err := r.usage.Record(context.Background(), tooMany); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Errorf("501 records: %v", err)
	}
	if _, err := r.usage.Record(context.Background(), nil); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Errorf("no records: %v", err)
	}
	// One bad record refuses the whole request: nothing is applied.
	mixed := []app.UsageInput{{PartnerID: "p", TenantID: "ok", Date: today, Users: 5}, {PartnerID: "p", TenantID: "bad", Date: tomorrow, Users: 5}}
	if _, err := r.usage.Record(context.Background(), mixed); dsu.ErrorKind(err) != dsu.KindInvalid {
		t.Fatal(err)
	}
	if _, err := r.store.GetAccount(context.Background(), "p"); dsu.ErrorKind(err) != dsu.KindNotFound {
		t.Fatal("a refused request created the partner")
	}
	// 500 records in one request are fine.
	res, err := r.usage.Record(context.Background(), tooMany[:500])
	if err != nil || len(res) != 500 || r.balance("p") != 2000-500 {
		t.Fatalf("500 records: %v, balance %d", err, r.balance("p"))
	}
}
