package httpapi

import (
	"strconv"
	"time"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// JSON shapes of docs/API.md ("Objects"). Responses are built from these views only, so what a
// partner sees is decided here and nowhere else (never a payment method id,
// never a Stripe secret).

// timeJSON renders times as RFC 3339 UTC with milliseconds.
func timeJSON(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func timePtrJSON(t *time.Time) *string {
	if t == nil {
		return nil
	}
	s := timeJSON(*t)
	return &s
}

// zeroTimeJSON renders a time, or null for the zero time.
func zeroTimeJSON(t time.Time) *string {
	if t.IsZero() {
		return nil
	}
	return timePtrJSON(&t)
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

type contactJSON struct {
	Name  string  `json:"name"`
	Email string  `json:"email"`
	Phone *string `json:"phone"`
}

type addressJSON struct {
	Line1      string  `json:"line1"`
	Line2      *string `json:"line2"`
	City       string  `json:"city"`
	State      *string `json:"state"`
	PostalCode string  `json:"postalCode"`
	Country    string  `json:"country"`
}

type cardJSON struct {
	Brand    string `json:"brand"`
	Last4    string `json:"last4"`
	ExpMonth int    `json:"expMonth"`
	ExpYear  int    `json:"expYear"`
	// ExpiresSoon: the last valid day is within 30 days, or past.
	ExpiresSoon bool `json:"expiresSoon"`
}

type autoRefillJSON struct {
	Enabled      bool    `json:"enabled"`
	PackageID    *string `json:"packageId"`
	Threshold    int64   `json:"threshold"`
	MonthlyLimit *int    `json:"monthlyLimit"`
	Status       string  `json:"status"`
	PausedReason *string `json:"pausedReason"`
}

type billingInfoJSON struct {
	PartnerID        string         `json:"partnerId"`
	Currency         dsu.Currency   `json:"currency"`
	StripeCustomerID *string        `json:"stripeCustomerId"`
	Contact          *contactJSON   `json:"contact"`
	Address          *addressJSON   `json:"address"`
	VATID            *string        `json:"vatId"`
	Card             *cardJSON      `json:"card"`
	AutoRefill       autoRefillJSON `json:"autoRefill"`
	Balance          struct {
		Units int64 `json:"units"`
	} `json:"balance"`
}

func billingInfoView(info app.BillingInfo) billingInfoJSON {
	p, a := info.Partner, info.Account
	v := billingInfoJSON{PartnerID: p.ID, Currency: p.Currency, StripeCustomerID: strPtr(p.StripeCustomerID), VATID: strPtr(p.VATID)}
	if c := p.Contact; c != nil {
		v.Contact = &contactJSON{Name: c.Name, Email: c.Email, Phone: strPtr(c.Phone)}
	}
	if ad := p.Address; ad != nil {
		v.Address = &addressJSON{Line1: ad.Line1, Line2: strPtr(ad.Line2), City: ad.City, State: strPtr(ad.State), PostalCode: ad.PostalCode, Country: ad.Country}
	}
	if c := p.Card; c != nil {
		v.Card = &cardJSON{Brand: c.Brand, Last4: c.Last4, ExpMonth: c.ExpMonth, ExpYear: c.ExpYear, ExpiresSoon: info.CardExpiresSoon}
	}
	ar := a.AutoRefill
	status := ar.Status
	if status == "" {
		status = dsu.AutoRefillOff
	}
	v.AutoRefill = autoRefillJSON{Enabled: ar.Enabled, PackageID: strPtr(ar.PackageID), Threshold: ar.Threshold, Status: string(status), PausedReason: strPtr(string(ar.PausedReason))}
	if ar.MonthlyLimit > 0 {
		limit := ar.MonthlyLimit
		v.AutoRefill.MonthlyLimit = &limit
	}
	v.Balance.Units = a.Units
	return v
}

type lineJSON struct {
	PackageID string    `json:"packageId"`
	Name      string    `json:"name"`
	Quantity  int64     `json:"quantity"`
	Units     int64     `json:"units"`
	Amount    dsu.Money `json:"amount"`
}

type failureJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type purchaseJSON struct {
	ID              string       `json:"id"`
	Kind            string       `json:"kind"`
	Status          string       `json:"status"`
	Items           []lineJSON   `json:"items"`
	Units           int64        `json:"units"`
	Amount          dsu.Money    `json:"amount"`
	PaymentIntentID *string      `json:"paymentIntentId"`
	ReceiptURL      *string      `json:"receiptUrl"`
	Failure         *failureJSON `json:"failure"`
	CreatedAt       string       `json:"createdAt"`
	CompletedAt     *string      `json:"completedAt"`
}

func purchaseView(p dsu.Purchase) purchaseJSON {
	v := purchaseJSON{
		ID: p.ID, Kind: string(p.Kind), Status: string(p.Status), Items: make([]lineJSON, 0, len(p.Items)),
		Units: p.Units, Amount: p.Amount, PaymentIntentID: strPtr(p.PaymentIntentID),
		CreatedAt: timeJSON(p.CreatedAt), CompletedAt: timePtrJSON(p.CompletedAt),
	}
	if p.Status.Paid() {
		// A receipt stored early (charge.succeeded before the payment's
		// own event) shows once the purchase is paid.
		v.ReceiptURL = strPtr(p.ReceiptURL)
	}
	for _, l := range p.Items {
		v.Items = append(v.Items, lineJSON{PackageID: l.PackageID, Name: l.Name, Quantity: l.Quantity, Units: l.Units, Amount: l.Amount})
	}
	if f := p.Failure; f != nil {
		v.Failure = &failureJSON{Code: f.Code, Message: f.Message}
	}
	return v
}

type purchaseResultJSON struct {
	Purchase     purchaseJSON `json:"purchase"`
	ClientSecret *string      `json:"clientSecret"`
}

func purchaseResultView(r app.PurchaseResult) purchaseResultJSON {
	return purchaseResultJSON{Purchase: purchaseView(r.Purchase), ClientSecret: strPtr(r.ClientSecret)}
}

type entryJSON struct {
	ID           string `json:"id"`
	Type         string `json:"type"`
	Units        int64  `json:"units"`
	BalanceAfter int64  `json:"balanceAfter"`
	Reference    string `json:"reference"`
	Description  string `json:"description"`
	CreatedAt    string `json:"createdAt"`
}

func entryView(e dsu.Entry) entryJSON {
	return entryJSON{ID: e.ID, Type: string(e.Type), Units: e.Units, BalanceAfter: e.BalanceAfter, Reference: e.Reference,
		Description: e.Summary(), CreatedAt: timeJSON(e.CreatedAt)}
}

// ParsePage reads ?limit= (1–100, default 25) and ?cursor= (API.md, "Lists and
// pagination") from the query parseQuery read; the cursor itself is checked
// by the store, which issued it.
func ParsePage(q map[string]string) (dsu.Page, error) {
	page := dsu.Page{Limit: 25, Cursor: q["cursor"]}
	if s, ok := q["limit"]; ok {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 100 {
			return dsu.Page{}, dsu.InvalidField("limit", "must be a whole number from 1 to 100")
		}
		page.Limit = n
	}
	return page, nil
}
