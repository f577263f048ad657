package dsu

import (
	"fmt"
	"time"
)

// RateLimit is a fixed-window limit: at most Max events of one subject
// within each Window (windows start at multiples of Window since the Unix
// epoch). A fixed window is one counter per subject and window, at the
// price of allowing up to 2×Max across a window boundary.
type RateLimit struct {
	Name   string // names the counter: purchases, ...
	Max    int
	Window time.Duration
}

// ManualPurchasesPerPartner is how many manual purchases one partner may
// create per minute (RULES.md, "Manual purchase"). A person in the portal
// buys once or twice; a script creating PaymentIntents in a loop is stopped
// at the tenth, before Stripe is called, and the other partners keep
// buying.
var ManualPurchasesPerPartner = RateLimit{Name: "purchases", Max: 10, Window: time.Minute}

// WindowOf is the start of the window now falls in.
func (l RateLimit) WindowOf(now time.Time) time.Time { return now.Truncate(l.Window) }

// Exceeded is the error of a request over the limit at now: KindTooManyRequests,
// retryable when the window ends.
func (l RateLimit) Exceeded(now time.Time) *Error {
	wait := l.WindowOf(now).Add(l.Window).Sub(now)
	return &Error{
		Kind:       KindTooManyRequests,
		Message:    fmt.Sprintf("at most %d %s per %s; try again in %d s", l.Max, l.Name, l.Window, RetrySeconds(wait)),
		RetryAfter: wait,
	}
}

// RetrySeconds is a wait in whole seconds, rounded up and at least 1, as
// Retry-After states it.
func RetrySeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
