package dsu

import (
	"fmt"
	"math"
)

// Currency is a lower-case ISO 4217 code supported for billing.
type Currency string

const (
	USD Currency = "usd"
	EUR Currency = "eur"
)

// Currencies lists the billing currencies in a stable order.
var Currencies = []Currency{USD, EUR}

// ParseCurrency accepts exactly the supported lower-case codes.
func ParseCurrency(s string) (Currency, error) {
	switch c := Currency(s); c {
	case USD, EUR:
		return c, nil
	}
	return "", fmt.Errorf("unsupported currency %q (use usd or eur)", s)
}

// Money is an amount in the currency's minor units (cents). Never a float.
type Money struct {
	Amount   int64    `json:"amount"`
	Currency Currency `json:"currency"`
}

// Units are Daily Subscription Units: one synced user for one day.
type Units = int64

// MulInt multiplies two non-negative int64 values, reporting overflow.
func MulInt(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

// AddInt adds two int64 values, reporting overflow.
func AddInt(a, b int64) (int64, bool) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, false
	}
	return s, true
}
