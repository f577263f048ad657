package app

import (
	"context"
	"strings"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// reportStore is what the partner's month reports read.
type reportStore interface {
	MonthLedger(ctx context.Context, partnerID, month string) (dsu.Units, []dsu.Entry, error)
	PurchasesByID(ctx context.Context, partnerID string, ids []string) ([]dsu.Purchase, error)
	MonthUsage(ctx context.Context, partnerID, month, tenantID string) ([]dsu.UsageRecord, error)
}

// Reports are what the partner's accountant asks for at month end (API.md,
// "GET /v1/statements/{month}", "GET /v1/usage"): the month's statement
// and its usage per customer tenant. Both read only their month.
type Reports struct {
	Store reportStore
	Clock dsu.Clock
}

// MonthStatement is a statement with the purchases its entries credited.
type MonthStatement struct {
	dsu.Statement
	Currency  dsu.Currency
	Purchases []dsu.Purchase
}

// Statement is the partner's statement of month (YYYY-MM; the current
// month so far). A month before the partner existed is all zero.
func (r *Reports) Statement(ctx context.Context, p dsu.Partner, month string) (MonthStatement, error) {
	if _, err := dsu.ParseMonth(month, r.Clock.Now()); err != nil {
		return MonthStatement{}, dsu.InvalidField("month", err.Error())
	}
	out := MonthStatement{Currency: p.Currency}
	if month < dsu.MonthOf(p.CreatedAt) {
		out.Statement = dsu.NewStatement(month, 0, nil)
		return out, nil
	}
	opening, entries, err := r.Store.MonthLedger(ctx, p.ID, month)
	if err != nil {
		return MonthStatement{}, err
	}
	out.Statement = dsu.NewStatement(month, opening, entries)
	if ids := out.CreditedPurchases(); len(ids) > 0 {
		if out.Purchases, err = r.Store.PurchasesByID(ctx, p.ID, ids); err != nil {
			return MonthStatement{}, err
		}
	}
	return out, nil
}

// Usage is the partner's usage of month per tenant, of one tenant when
// tenantID is set. (Usage may be reported for days before the partner's
// first request: its records are read whatever the partner's age.)
func (r *Reports) Usage(ctx context.Context, p dsu.Partner, month, tenantID string) (dsu.UsageReport, error) {
	var v dsu.Validation
	if _, err := dsu.ParseMonth(month, r.Clock.Now()); err != nil {
		v.Add("month", err.Error())
	}
	if tenantID != "" && (len(tenantID) > 128 || strings.ContainsFunc(tenantID, func(c rune) bool { return c < ' ' || c == 0x7f })) {
		v.Add("tenantId", "must be a tenant id of at most 128 characters")
	}
	if err := v.Err(); err != nil {
		return dsu.UsageReport{}, err
	}
	records, err := r.Store.MonthUsage(ctx, p.ID, month, tenantID)
	if err != nil {
		return dsu.UsageReport{}, err
	}
	return dsu.NewUsageReport(month, records), nil
}
