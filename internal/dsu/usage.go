package dsu

import (
	"fmt"
	"time"
)

// DateLayout is the calendar-day format of usage records (UTC).
const DateLayout = "2006-01-02"

// LastBilledDay is the last day of a month that consumes DSUs; the days after
// it are a free true-up period (RULES.md, "DSUs and billed days").
const LastBilledDay = 25

// IsBilledDay reports whether usage on day d (UTC) consumes DSUs.
func IsBilledDay(d time.Time) bool { return d.UTC().Day() <= LastBilledDay }

// UsageUnits is the DSUs consumed by users synced on day d: one per user on
// days 1–25, none afterwards.
func UsageUnits(d time.Time, users int64) Units {
	if !IsBilledDay(d) {
		return 0
	}
	return users
}

// ParseUsageDate parses a YYYY-MM-DD date of a usage report: no later than
// today and no earlier than the first day of the previous calendar month
// (UTC), the window in which the sync platform may still report or correct
// a day.
func ParseUsageDate(s string, now time.Time) (time.Time, error) {
	d, err := time.Parse(DateLayout, s)
	if err != nil || d.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("must be a date as YYYY-MM-DD")
	}
	now = now.UTC()
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	if d.After(today) {
		return time.Time{}, fmt.Errorf("must not be after today (UTC)")
	}
	if earliest := time.Date(now.Year(), now.Month()-1, 1, 0, 0, 0, 0, time.UTC); d.Before(earliest) {
		return time.Time{}, fmt.Errorf("must not be before %s, the first day of the previous month (UTC)", earliest.Format(DateLayout))
	}
	return d, nil
}

// MaxUsageUsers bounds the users of one usage record: far above any tenant,
// and small enough that no sum of a request's records can overflow a
// balance.
const MaxUsageUsers = 1_000_000

// UsageRecord is one tenant's synced users on one day, as the sync platform
// reports it, and the DSUs that consumed.
type UsageRecord struct {
	PartnerID  string
	TenantID   string
	Date       string // YYYY-MM-DD, UTC
	Users      int64
	Units      Units // Users on billed days, 0 on the free days
	RecordedAt time.Time
}

// UsageWrite is what storage did with one usage record.
type UsageWrite struct {
	// Applied is true when this call wrote the record. Otherwise First is
	// the record written before for its (partner, tenant, date).
	Applied bool
	First   UsageRecord
}

// BalanceDebit is one move of a balance by a usage transaction: the units
// debited and the account it left.
type BalanceDebit struct {
	Units Units
	After Account
}

// UsageDay is what storage did with one partner's records of one date.
type UsageDay struct {
	Writes []UsageWrite // in the order of the records given
	Debits []BalanceDebit
}
