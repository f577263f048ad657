package dsu

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// MonthLayout is the calendar-month format of statements and usage
// reports (UTC).
const MonthLayout = "2006-01"

// ParseMonth parses a YYYY-MM month and refuses months after the current
// one (UTC). It returns the month's first instant.
func ParseMonth(s string, now time.Time) (time.Time, error) {
	m, err := time.Parse(MonthLayout, s)
	if err != nil || m.Format(MonthLayout) != s {
		return time.Time{}, fmt.Errorf("must be a month as YYYY-MM")
	}
	now = now.UTC()
	if m.After(time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)) {
		return time.Time{}, fmt.Errorf("must not be after the current month (UTC)")
	}
	return m, nil
}

// MonthOf is the calendar month (UTC) of t, as YYYY-MM.
func MonthOf(t time.Time) string { return t.UTC().Format(MonthLayout) }

// NextMonth is the month after m (YYYY-MM).
func NextMonth(m string) string {
	t, _ := time.Parse(MonthLayout, m)
	return t.AddDate(0, 1, 0).Format(MonthLayout)
}

// Statement is a partner's month: how the balance moved and why.
type Statement struct {
	Month          string
	OpeningBalance Units
	ClosingBalance Units
	// Totals sums the month's entries per type (signed).
	Totals map[EntryType]Units
	// UsageUnits is the DSUs the month's usage consumed.
	UsageUnits Units
	// Entries are the month's ledger entries, oldest first.
	Entries []Entry
}

// NewStatement sums a month's entries (oldest first) from the balance it
// opened with. Closing = opening + Σ totals, always.
func NewStatement(month string, opening Units, entries []Entry) Statement {
	st := Statement{Month: month, OpeningBalance: opening, ClosingBalance: opening, Totals: map[EntryType]Units{}, Entries: entries}
	for _, e := range entries {
		st.Totals[e.Type] += e.Units
		st.ClosingBalance += e.Units
	}
	st.UsageUnits = -st.Totals[EntryUsage]
	return st
}

// CreditedPurchases are the ids of the purchases the month's entries
// credited, in ledger order.
func (st Statement) CreditedPurchases() []string {
	var ids []string
	for _, e := range st.Entries {
		if e.Type != EntryPurchase && e.Type != EntryRefill {
			continue
		}
		if id, ok := strings.CutPrefix(e.Reference, "purchase:"); ok && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	return ids
}

// TenantUsage is one tenant's usage records of a month, for the usage
// report.
type TenantUsage struct {
	TenantID string
	Units    Units
	Days     []UsageRecord // by date
}

// UsageReport is a partner's usage of one month, per tenant.
type UsageReport struct {
	Month      string
	TotalUnits Units
	// Tenants are sorted by units consumed, most first (ties by tenant id).
	Tenants []TenantUsage
}

// NewUsageReport groups a month's usage records by tenant.
func NewUsageReport(month string, records []UsageRecord) UsageReport {
	byTenant := map[string]*TenantUsage{}
	var order []string
	rep := UsageReport{Month: month}
	for _, r := range records {
		t := byTenant[r.TenantID]
		if t == nil {
			t = &TenantUsage{TenantID: r.TenantID}
			byTenant[r.TenantID] = t
			order = append(order, r.TenantID)
		}
		t.Units += r.Units
		t.Days = append(t.Days, r)
		rep.TotalUnits += r.Units
	}
	for _, id := range order {
		t := byTenant[id]
		slices.SortFunc(t.Days, func(a, b UsageRecord) int { return strings.Compare(a.Date, b.Date) })
		rep.Tenants = append(rep.Tenants, *t)
	}
	slices.SortFunc(rep.Tenants, func(a, b TenantUsage) int {
		if a.Units != b.Units {
			if a.Units > b.Units {
				return -1
			}
			return 1
		}
		return strings.Compare(a.TenantID, b.TenantID)
	})
	return rep
}
