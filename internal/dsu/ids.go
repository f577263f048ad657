package dsu

import (
	"errors"
	"strings"
)

// Ids that arrive from outside (a path, a body) are checked for their shape
// before anything is looked up: an id this system could never have issued
// is simply not there, without a round trip, and never reaches storage in a
// form it cannot hold (API.md, "Ids in paths and bodies").

// MaxPurchaseIDLength bounds purchase ids; issued ones are "pur_" and 26
// characters.
const MaxPurchaseIDLength = 64

// ValidPurchaseID reports an id of the shape purchase ids have: "pur_"
// followed by ASCII letters and digits, at most 64 characters in all.
func ValidPurchaseID(id string) bool {
	rest, ok := strings.CutPrefix(id, "pur_")
	return ok && len(id) <= MaxPurchaseIDLength && rest != "" && alnum(rest)
}

// MaxSetupIntentIDLength bounds SetupIntent ids as Stripe bounds object ids.
const MaxSetupIntentIDLength = 255

// ValidSetupIntentID reports an id of the shape of Stripe's SetupIntent ids:
// "seti_" followed by ASCII letters and digits, at most 255 characters. A
// client secret ("seti_…_secret_…") is not one.
func ValidSetupIntentID(id string) bool {
	rest, ok := strings.CutPrefix(id, "seti_")
	return ok && len(id) <= MaxSetupIntentIDLength && rest != "" && alnum(rest)
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// ErrNotStorable is the cause of a validation error the storage itself
// raised: a value of the request it cannot hold (a key too long, a string
// it refuses). Input is checked before it gets that far, so this marks a
// rule the checks missed; operators see it logged as such.
var ErrNotStorable = errors.New("the database refused a value of the request as invalid")
