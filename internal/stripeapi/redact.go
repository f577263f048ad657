package stripeapi

import (
	"fmt"
	"log/slog"
)

// Client secrets let a browser confirm a payment: they must never reach
// logs (§5). PaymentIntent and SetupIntent carry one for the portal, so
// both print and log without it, whether logged with slog or formatted
// with %v / %+v.

const redacted = "[redacted]"

func secretMark(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// LogValue logs the PaymentIntent without its client secret.
func (p PaymentIntent) LogValue() slog.Value {
	attrs := []slog.Attr{
		slog.String("id", p.ID),
		slog.String("status", p.Status),
		slog.Int64("amount", p.Amount.Amount),
		slog.String("currency", string(p.Amount.Currency)),
		slog.String("customer", p.CustomerID),
		slog.String("paymentMethod", p.PaymentMethodID),
		slog.String("latestCharge", p.LatestChargeID),
	}
	if p.LastError != nil {
		attrs = append(attrs, slog.String("errorCode", p.LastError.Code), slog.String("declineCode", p.LastError.DeclineCode))
	}
	return slog.GroupValue(attrs...)
}

// String formats the PaymentIntent without its client secret.
func (p PaymentIntent) String() string {
	return fmt.Sprintf("{ID:%s Status:%s ClientSecret:%s CustomerID:%s PaymentMethodID:%s LatestChargeID:%s Amount:%d %s Metadata:%v LastError:%+v}",
		p.ID, p.Status, secretMark(p.ClientSecret), p.CustomerID, p.PaymentMethodID, p.LatestChargeID,
		p.Amount.Amount, p.Amount.Currency, p.Metadata, p.LastError)
}

// LogValue logs the SetupIntent without its client secret.
func (s SetupIntent) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("id", s.ID),
		slog.String("status", s.Status),
		slog.String("customer", s.CustomerID),
		slog.String("paymentMethod", s.PaymentMethodID),
	)
}

// String formats the SetupIntent without its client secret.
func (s SetupIntent) String() string {
	return fmt.Sprintf("{ID:%s ClientSecret:%s CustomerID:%s Status:%s PaymentMethodID:%s Metadata:%v}",
		s.ID, secretMark(s.ClientSecret), s.CustomerID, s.Status, s.PaymentMethodID, s.Metadata)
}
