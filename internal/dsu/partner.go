package dsu

import (
	"fmt"
	"time"
)

// Partner is a reseller's billing record: who pays, how, and in which
// currency. The DSU balance and the automated plan live on Account.
type Partner struct {
	ID               string
	Currency         Currency
	StripeCustomerID string
	Contact          *Contact
	Address          *Address
	VATID            string
	Card             *Card
	// CardSetup is the SetupIntent that saved the newest card: the current
	// one, or the last one removed. A SetupIntent created no later than it
	// never saves a card (Partner.SaveCard).
	CardSetup *SetupRef
	// ReplacedCards are payment methods a newer card replaced that are not
	// detached at Stripe yet. They are never saved again, and detaching
	// them is retried from DetachRetryAt on.
	ReplacedCards []string
	DetachRetryAt time.Time
	CreatedAt     time.Time
	// FirstPurchaseAt is set by the first purchase; from then on the
	// currency is fixed.
	FirstPurchaseAt *time.Time
	// Version guards read-modify-write updates of the billing record.
	Version int64
}

// Contact is the partner's billing point of contact: a real person.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email"`
	Phone string `json:"phone"`
}

// Address is the billing address; Country is ISO 3166-1 alpha-2.
type Address struct {
	Line1      string `json:"line1"`
	Line2      string `json:"line2"`
	City       string `json:"city"`
	State      string `json:"state"`
	PostalCode string `json:"postalCode"`
	Country    string `json:"country"`
}

// Card is all this system ever knows of a card: enough to show it, nothing
// to charge it. Stripe holds the rest.
type Card struct {
	PaymentMethodID string `json:"-"`
	Brand           string `json:"brand"`
	Last4           string `json:"last4"`
	ExpMonth        int    `json:"expMonth"`
	ExpYear         int    `json:"expYear"`
	// ExpiringNoticed and ExpiredNoticed say that card.expiring and
	// card.expired were announced for this card and this expiry.
	ExpiringNoticed bool `json:"-"`
	ExpiredNoticed  bool `json:"-"`
}

// MaxPartnerIDLength bounds partner ids taken from tokens.
const MaxPartnerIDLength = 128

// ValidatePartnerID accepts the printable ASCII ids identity providers issue.
// '#' is refused because it separates parts of storage keys.
func ValidatePartnerID(id string) error {
	if id == "" {
		return fmt.Errorf("partner id is empty")
	}
	if len(id) > MaxPartnerIDLength {
		return fmt.Errorf("partner id is longer than %d characters", MaxPartnerIDLength)
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; c <= ' ' || c > '~' || c == '#' {
			return fmt.Errorf("partner id has a character that is not allowed at position %d", i)
		}
	}
	return nil
}

// PartnerDefaults configure how a partner unknown until now is created.
type PartnerDefaults struct {
	Currency     Currency
	WelcomeGrant Units // DSUs granted once, on creation (RULES.md, "Welcome grant"); 0 disables it
}

// NewPartner is the billing record of a partner seen for the first time.
func NewPartner(id string, d PartnerDefaults, now time.Time) Partner {
	return Partner{ID: id, Currency: d.Currency, CreatedAt: now.UTC(), Version: 1}
}
