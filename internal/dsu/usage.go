package dsu

import (
	"fmt"
	"time"
)

// DateLayout is the calendar-day format of usage records (UTC).
const DateLayout = "2006-01-02"

// LastBilledDay is the last day of a month that consumes DSUs; the days after
// it are a free true-up period (§1).
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

// ParseUsageDate parses a YYYY-MM-DD date and refuses days after today (UTC).
func ParseUsageDate(s string, now time.Time) (time.Time, error) {
	d, err := time.Parse(DateLayout, s)
	if err != nil || d.Format(DateLayout) != s {
		return time.Time{}, fmt.Errorf("must be a date as YYYY-MM-DD")
	}
	today := now.UTC().Truncate(24 * time.Hour)
	if d.After(today) {
		return time.Time{}, fmt.Errorf("must not be after today (UTC)")
	}
	return d, nil
}

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
