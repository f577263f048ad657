package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/cirasync/dsubilling/internal/dsu"
)

type usageStore interface {
	RecordUsage(ctx context.Context, u dsu.UsageRecord) (dsu.UsageRecord, dsu.Account, bool, error)
}

type partnerEnsurer interface {
	Ensure(ctx context.Context, partnerID string) (dsu.Partner, error)
}

// Usage records the daily consumption the sync platform reports (§3 POST
// /v1/internal/usage): one DSU per synced user on days 1–25, nothing on the
// free days, exactly once per (partner, tenant, date). Consumption is never
// lost: the balance may go below zero (the automated plan refills it).
type Usage struct {
	Store    usageStore
	Partners partnerEnsurer
	Events   Publisher
	Clock    dsu.Clock
	Log      *slog.Logger
	// Parallel bounds the records applied at once.
	Parallel int
}

// MaxUsageRecords is the most records one request may carry (§3).
const MaxUsageRecords = 500

// UsageInput is one reported record.
type UsageInput struct {
	PartnerID string
	TenantID  string
	Date      string
	Users     int64
}

// Usage statuses (§3).
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
// any record fails the request (the platform retries it; the records
// already applied answer duplicate then).
func (u *Usage) Record(ctx context.Context, records []UsageInput) ([]UsageResult, error) {
	var v dsu.Validation
	if len(records) == 0 || len(records) > MaxUsageRecords {
		v.Add("records", fmt.Sprintf("must hold 1 to %d records", MaxUsageRecords))
		return nil, v.Err()
	}
	now := u.Clock.Now()
	units := make([]dsu.Units, len(records))
	billed := make([]bool, len(records))
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
		if r.Users < 0 {
			v.Add(field+".users", "must be a whole number ≥ 0")
		}
		units[i], billed[i] = dsu.UsageUnits(d, r.Users), dsu.IsBilledDay(d)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}

	results := make([]UsageResult, len(records))
	ensured := sync.Map{} // partner → error, so each partner is ensured once
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(u.Parallel, 1))
	for i, r := range records {
		g.Go(func() (err error) {
			results[i], err = u.apply(gctx, r, units[i], billed[i], now, &ensured)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return results, nil
}

func (u *Usage) apply(ctx context.Context, r UsageInput, units dsu.Units, billed bool, now time.Time, ensured *sync.Map) (UsageResult, error) {
	once, _ := ensured.LoadOrStore(r.PartnerID, &onceErr{})
	if err := once.(*onceErr).do(func() error { _, err := u.Partners.Ensure(ctx, r.PartnerID); return err }); err != nil {
		return UsageResult{}, err
	}
	rec := dsu.UsageRecord{PartnerID: r.PartnerID, TenantID: r.TenantID, Date: r.Date, Users: r.Users, Units: units, RecordedAt: now}
	first, acc, applied, err := u.Store.RecordUsage(ctx, rec)
	if err != nil {
		return UsageResult{}, err
	}
	res := UsageResult{UsageInput: r, Units: first.Units}
	switch {
	case applied && !billed:
		res.Status = UsageNotBilled // days 26+: recorded, free
	case applied:
		res.Status = UsageApplied
		if units > 0 {
			u.balanceLow(ctx, acc, units)
		}
	case first.Users == r.Users:
		res.Status = UsageDuplicate
	default:
		res.Status = UsageConflict
		u.Log.WarnContext(ctx, "usage reported again with another count; the first stands", "partner", r.PartnerID, "tenant", r.TenantID, "date", r.Date, "first", first.Users, "now", r.Users)
	}
	return res, nil
}

// balanceLow tells the partner's notifications that the balance just fell
// to its threshold while no automated plan will refill it.
func (u *Usage) balanceLow(ctx context.Context, acc dsu.Account, debited dsu.Units) {
	threshold := acc.AutoRefill.Threshold
	crossed := acc.Units <= threshold && acc.Units+debited > threshold
	if !crossed || acc.AutoRefill.Status == dsu.AutoRefillActive || u.Events == nil {
		return
	}
	u.Events.Publish(ctx, DomainEvent{Type: EventBalanceLow, PartnerID: acc.PartnerID, Units: acc.Units, At: u.Clock.Now()})
}

// onceErr runs a function once and remembers its error.
type onceErr struct {
	once sync.Once
	err  error
}

func (o *onceErr) do(f func() error) error {
	o.once.Do(func() { o.err = f() })
	return o.err
}
