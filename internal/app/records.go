package app

import (
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// purchaseRecord is a purchase as an Idempotency-Key record keeps it, so
// a replay renders exactly the first response.
type purchaseRecord struct {
	ID              string         `json:"id"`
	PartnerID       string         `json:"partnerId"`
	Kind            string         `json:"kind"`
	Status          string         `json:"status"`
	Items           []lineRecord   `json:"items"`
	Units           int64          `json:"units"`
	Amount          dsu.Money      `json:"amount"`
	PaymentIntentID string         `json:"paymentIntentId,omitempty"`
	Failure         *failureRecord `json:"failure,omitempty"`
	CreatedAt       time.Time      `json:"createdAt"`
	CompletedAt     *time.Time     `json:"completedAt,omitempty"`
	RefundedAmount  int64          `json:"refundedAmount,omitempty"`
	RefundedUnits   int64          `json:"refundedUnits,omitempty"`
	ReceiptURL      string         `json:"receiptUrl,omitempty"`
}

type lineRecord struct {
	PackageID string    `json:"packageId"`
	Name      string    `json:"name"`
	Quantity  int64     `json:"quantity"`
	Units     int64     `json:"units"`
	Amount    dsu.Money `json:"amount"`
}

type failureRecord struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

func toRecord(p dsu.Purchase) purchaseRecord {
	r := purchaseRecord{
		ID: p.ID, PartnerID: p.PartnerID, Kind: string(p.Kind), Status: string(p.Status), Units: p.Units,
		Amount: p.Amount, PaymentIntentID: p.PaymentIntentID, CreatedAt: p.CreatedAt, CompletedAt: p.CompletedAt,
		RefundedAmount: p.RefundedAmount, RefundedUnits: p.RefundedUnits, ReceiptURL: p.ReceiptURL,
	}
	for _, l := range p.Items {
		r.Items = append(r.Items, lineRecord{PackageID: l.PackageID, Name: l.Name, Quantity: l.Quantity, Units: l.Units, Amount: l.Amount})
	}
	if p.Failure != nil {
		r.Failure = &failureRecord{Code: p.Failure.Code, Message: p.Failure.Message}
	}
	return r
}

func (r purchaseRecord) purchase() dsu.Purchase {
	p := dsu.Purchase{
		ID: r.ID, PartnerID: r.PartnerID, Kind: dsu.PurchaseKind(r.Kind), Status: dsu.PurchaseStatus(r.Status), Units: r.Units,
		Amount: r.Amount, PaymentIntentID: r.PaymentIntentID, CreatedAt: r.CreatedAt, CompletedAt: r.CompletedAt,
		RefundedAmount: r.RefundedAmount, RefundedUnits: r.RefundedUnits, ReceiptURL: r.ReceiptURL,
	}
	for _, l := range r.Items {
		p.Items = append(p.Items, dsu.LineItem{PackageID: l.PackageID, Name: l.Name, Quantity: l.Quantity, Units: l.Units, Amount: l.Amount})
	}
	if r.Failure != nil {
		p.Failure = &dsu.Failure{Code: r.Failure.Code, Message: r.Failure.Message}
	}
	return p
}
