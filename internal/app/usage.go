package app

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/metrics"
)

type usageStore interface {
	RecordUsageDay(ctx context.Context, partnerID, date string, recs []dsu.UsageRecord) (dsu.UsageDay, error)
}

type partnerEnsurer interface {
	Ensure(ctx context.Context, partnerID string) (dsu.Partner, error)
}

// Usage records the daily consumption the sync platform reports (API.md,
// "POST /v1/internal/usage"): one DSU per synced user on days 1–25, nothing
// on the free days, exactly once per (partner, tenant, date). Consumption
// is never lost: the balance may go below zero (the automated plan refills
// it). A request is applied per partner, partners in parallel, and one
// partner's records of one date in as few transactions as DynamoDB allows.
type Usage struct {
	Store    usageStore
	Partners partnerEnsurer
	Events   Publisher
	Clock    dsu.Clock
	Log      *slog.Logger
	// Parallel bounds the partners applied at once.
	Parallel int
	// Metrics takes the business metrics of what is committed; nil records none.
	Metrics metricsRecorder
}

// MaxUsageRecords is the most records one request may carry.
const MaxUsageRecords = 500

// UsageInput is one reported record.
type UsageInput struct {
	PartnerID string
	TenantID  string
	Date      string
	Users     int64
}

// Usage statuses (API.md, "POST /v1/internal/usage").
const (
	UsageApplied   = "applied"
	UsageDuplicate = "duplicate"
	UsageNotBilled = "not_billed"
	UsageConflict  = "conflict"
)

// UsageResult is the outcome of one record.
type UsageResult struct {
	UsageInput
	Units  dsu.Units
	Status string
}

// Record validates all records, then applies them. A transient failure of
// any partner fails the request (the platform retries it; the records
// already applied answer duplicate then).
func (u *Usage) Record(ctx context.Context, records []UsageInput) ([]UsageResult, error) {
	units, err := u.validate(records)
	if err != nil {
		return nil, err
	}
	now := u.Clock.Now()

	// Group by partner, then by date, keeping the first record of each
	// (partner, tenant, date); a repeat within the request is answered
	// against the first.
	type key struct{ partner, tenant, date string }
	firstOf := make(map[key]int, len(records))
	repeats := map[int]int{}
	byPartner := map[string]map[string][]int{}
	var partners []string
	for i, r := range records {
		k := key{r.PartnerID, r.TenantID, r.Date}
		if j, ok := firstOf[k]; ok {
			repeats[i] = j
			continue
		}
		firstOf[k] = i
		dates := byPartner[r.PartnerID]
		if dates == nil {
			dates = map[string][]int{}
			byPartner[r.PartnerID] = dates
			partners = append(partners, r.PartnerID)
		}
		dates[r.Date] = append(dates[r.Date], i)
	}

	results := make([]UsageResult, len(records))
	stored := make([]dsu.UsageRecord, len(records)) // what each first record found or wrote
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(u.Parallel, 1))
	for _, partnerID := range partners {
		g.Go(func() error {
			return u.applyPartner(gctx, partnerID, byPartner[partnerID], records, units, now, results, stored)
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	for i, j := range repeats {
		results[i] = u.answer(ctx, records[i], dsu.UsageWrite{First: stored[j]}, false)
		recorderOr(u.Metrics).Add(metrics.UsageRecords, 1, metrics.Status(results[i].Status))
	}
	return results, nil
}

// validate checks every record before anything is applied: one bad record
// refuses the whole request. It returns the DSUs each record consumes.
func (u *Usage) validate(records []UsageInput) ([]dsu.Units, error) {
	var v dsu.Validation
	if len(records) == 0 || len(records) > MaxUsageRecords {
		v.Add("records", fmt.Sprintf("must hold 1 to %d records", MaxUsageRecords))
		return nil, v.Err()
	}
	now := u.Clock.Now()
	units := make([]dsu.Units, len(records))
	for i, r := range records {
		field := fmt.Sprintf("records[%d]", i)
		if err := dsu.ValidatePartnerID(r.PartnerID); err != nil {
			v.Add(field+".partnerId", "must be a partner id (printable, no '#', at most 128 characters)")
		}
		if r.TenantID == "" || len(r.TenantID) > 128 || strings.ContainsFunc(r.TenantID, func(c rune) bool { return c < ' ' || c == 0x7f }) {
			v.Add(field+".tenantId", "must be a non-empty tenant id of at most 128 characters")
		}
		d, err := dsu.ParseUsageDate(r.Date, now)
		if err != nil {
			v.Add(field+".date", err.Error())
		}
		if r.Users < 0 || r.Users > dsu.MaxUsageUsers {
			v.Add(field+".users", "must be a whole number from 0 to 1,000,000")
		}
		units[i] = dsu.UsageUnits(d, r.Users)
	}
	return units, v.Err()
}

// applyPartner makes sure the partner exists (a new one gets its grant)
// and records its dates one after the other: each date's records go in as
// few transactions as DynamoDB allows.
func (u *Usage) applyPartner(ctx context.Context, partnerID string, dates map[string][]int, records []UsageInput, units []dsu.Units, now time.Time, results []UsageResult, stored []dsu.UsageRecord) error {
	if _, err := u.Partners.Ensure(ctx, partnerID); err != nil {
		return err
	}
	days := make([]string, 0, len(dates))
	for d := range dates {
		days = append(days, d)
	}
	slices.Sort(days)
	var debits []dsu.BalanceDebit
	for _, date := range days {
		idx := dates[date]
		recs := make([]dsu.UsageRecord, len(idx))
		for k, i := range idx {
			r := records[i]
			recs[k] = dsu.UsageRecord{PartnerID: partnerID, TenantID: r.TenantID, Date: date, Users: r.Users, Units: units[i], RecordedAt: now}
		}
		day, err := u.Store.RecordUsageDay(ctx, partnerID, date, recs)
		if err != nil {
			return err
		}
		for k, i := range idx {
			stored[i] = day.Writes[k].First
			results[i] = u.answer(ctx, records[i], day.Writes[k], dsu.IsBilledDay(mustDate(date)))
			recorderOr(u.Metrics).Add(metrics.UsageRecords, 1, metrics.Status(results[i].Status))
			if results[i].Status == UsageApplied {
				countUnits(u.Metrics, -day.Writes[k].First.Units)
			}
		}
		debits = append(debits, day.Debits...)
	}
	u.balanceLow(ctx, debits)
	return nil
}

// answer is a record's result from what storage did with it.
func (u *Usage) answer(ctx context.Context, r UsageInput, w dsu.UsageWrite, billed bool) UsageResult {
	res := UsageResult{UsageInput: r, Units: w.First.Units}
	switch {
	case w.Applied && !billed:
		res.Status = UsageNotBilled // days 26+: recorded, free
	case w.Applied:
		res.Status = UsageApplied
	case w.First.Users == r.Users:
		res.Status = UsageDuplicate
	default:
		res.Status = UsageConflict
		u.Log.WarnContext(ctx, "usage reported again with another count; the first stands", "partner", r.PartnerID, "tenant", r.TenantID, "date", r.Date, "first", w.First.Users, "now", r.Users)
	}
	return res
}

func mustDate(s string) time.Time {
	d, _ := time.Parse(dsu.DateLayout, s) // validated before
	return d
}

// balanceLow tells the partner's notifications, once per request, that
// the request's usage took the balance to its threshold while no
// automated plan will refill it.
func (u *Usage) balanceLow(ctx context.Context, debits []dsu.BalanceDebit) {
	if u.Events == nil {
		return
	}
	for _, d := range debits {
		acc, threshold := d.After, d.After.AutoRefill.Threshold
		crossed := acc.Units <= threshold && acc.Units+d.Units > threshold
		if crossed && acc.AutoRefill.Status != dsu.AutoRefillActive {
			u.Events.Publish(ctx, DomainEvent{Type: EventBalanceLow, PartnerID: acc.PartnerID, Units: debits[len(debits)-1].After.Units, At: u.Clock.Now()})
			return
		}
	}
}
