package app

import (
	"context"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

type balanceStore interface {
	GetAccount(ctx context.Context, partnerID string) (dsu.Account, error)
	DailyUsage(ctx context.Context, partnerID, fromDate, toDate string) (map[string]dsu.Units, error)
	Ledger(ctx context.Context, partnerID string, page dsu.Page) ([]dsu.Entry, string, error)
}

// Balances answers GET /v1/balance and GET /v1/ledger.
type Balances struct {
	Store balanceStore
	Clock dsu.Clock
	// Window is how many recent days the daily average looks at.
	Window int
}

// BalanceView is the balance with its runway.
type BalanceView struct {
	Units        dsu.Units
	Threshold    dsu.Units
	DailyAverage *dsu.Units // DSUs a billed day consumes on average; nil without recent usage
	RunwayDays   *int       // days until the balance is used up at that pace
	AsOf         time.Time
}

// maxRunway caps the runway so a tiny consumption does not count for ever.
const maxRunway = 3650

// Balance reads the balance and estimates the runway from the average
// consumption of recent billed days (days 1–25; the rest are free).
func (b *Balances) Balance(ctx context.Context, p dsu.Partner) (BalanceView, error) {
	acc, err := b.Store.GetAccount(ctx, p.ID)
	if err != nil {
		return BalanceView{}, err
	}
	now := b.Clock.Now().UTC()
	view := BalanceView{Units: acc.Units, Threshold: acc.AutoRefill.Threshold, AsOf: now}
	window := b.Window
	if window <= 0 {
		window = 14
	}
	today := now.Truncate(24 * time.Hour)
	from, to := today.AddDate(0, 0, -window), today.AddDate(0, 0, -1)
	daily, err := b.Store.DailyUsage(ctx, p.ID, from.Format(dsu.DateLayout), to.Format(dsu.DateLayout))
	if err != nil {
		return BalanceView{}, err
	}
	avg, ok := AverageBilledDay(daily)
	if !ok {
		return view, nil
	}
	runway := Runway(acc.Units, avg, today)
	view.DailyAverage, view.RunwayDays = &avg, &runway
	return view, nil
}

// AverageBilledDay is the mean consumption of the billed days that have
// usage, rounded up; false when there are none.
func AverageBilledDay(daily map[string]dsu.Units) (dsu.Units, bool) {
	var sum dsu.Units
	days := int64(0)
	for date, units := range daily {
		d, err := time.Parse(dsu.DateLayout, date)
		if err != nil || !dsu.IsBilledDay(d) {
			continue
		}
		sum += units
		days++
	}
	if days == 0 || sum <= 0 {
		return 0, false
	}
	return (sum + days - 1) / days, true
}

// Runway counts the days from today that the balance covers when every
// billed day consumes avg and the free days consume nothing.
func Runway(balance, avg dsu.Units, today time.Time) int {
	if balance <= 0 {
		return 0
	}
	days := 0
	for d := today; days < maxRunway; d = d.AddDate(0, 0, 1) {
		if dsu.IsBilledDay(d) {
			if balance < avg {
				break
			}
			balance -= avg
		}
		days++
	}
	return days
}

// Ledger lists the partner's ledger entries, newest first.
func (b *Balances) Ledger(ctx context.Context, p dsu.Partner, page dsu.Page) ([]dsu.Entry, string, error) {
	return b.Store.Ledger(ctx, p.ID, page)
}
