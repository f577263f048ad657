package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cirasync/dsubilling/internal/localstack"
)

// The scenarios build Stripe events (API version 2023-10-16) from the local
// stack's own data, read through its API with a token for the partner, the
// way Stripe would send them for that purchase or customer.

func init() {
	for _, s := range []struct {
		name, status, help string
	}{
		{"payment-succeeded", "succeeded", "a purchase's payment succeeds: -partner P -purchase ID"},
		{"payment-failed", "requires_payment_method", "a purchase's payment is declined: -partner P -purchase ID [-code insufficient_funds]"},
		{"payment-requires-action", "requires_action", "a purchase's payment needs 3-D Secure: -partner P -purchase ID"},
	} {
		status := s.status
		scenarios[s.name] = scenario{help: s.help, build: func(ctx context.Context, sim *simulation, args []string) ([]byte, error) {
			return sim.paymentEvent(ctx, args, status)
		}}
	}
	scenarios["refund"] = scenario{help: "a purchase is refunded: -partner P -purchase ID [-amount minor units, default all]", build: func(ctx context.Context, sim *simulation, args []string) ([]byte, error) {
		return sim.refundEvent(ctx, args)
	}}
	scenarios["setup-succeeded"] = scenario{help: "a card is saved for the partner's customer: -partner P [-setup-intent seti_...]", build: func(ctx context.Context, sim *simulation, args []string) ([]byte, error) {
		return sim.setupEvent(ctx, args)
	}}
}

type purchaseView struct {
	ID              string `json:"id"`
	Kind            string `json:"kind"`
	Status          string `json:"status"`
	PaymentIntentID string `json:"paymentIntentId"`
	Amount          struct {
		Amount   int64  `json:"amount"`
		Currency string `json:"currency"`
	} `json:"amount"`
}

func (sim *simulation) purchaseArgs(name string, args []string, extra func(*flag.FlagSet)) (partner, purchase string, err error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	p := fs.String("partner", "", "partner id (required)")
	id := fs.String("purchase", "", "purchase id (required)")
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return "", "", usageError{err}
	}
	if *p == "" || *id == "" {
		return "", "", usageError{errors.New(name + ": -partner and -purchase are required")}
	}
	return *p, *id, nil
}

// get reads a local API resource as the partner.
func (sim *simulation) get(ctx context.Context, partner, path string, v any) error {
	cfg, err := sim.env.functionsConfig()
	if err != nil {
		return err
	}
	tok, err := localstack.SignToken(sim.env.jwtSecret, localstack.TokenClaims{
		PartnerID: partner, TTL: time.Minute, PartnerClaim: cfg.PartnerClaim, GroupsClaim: cfg.GroupsClaim, AdminGroup: cfg.AdminGroup,
	}, time.Now())
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, sim.baseURL+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("is the local stack running on %s? %w", sim.baseURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return json.Unmarshal(body, v)
}

func (sim *simulation) purchase(ctx context.Context, partner, id string) (purchaseView, error) {
	var p purchaseView
	if err := sim.get(ctx, partner, "/v1/purchases/"+id, &p); err != nil {
		return p, err
	}
	if p.PaymentIntentID == "" {
		return p, fmt.Errorf("purchase %s has no PaymentIntent yet", id)
	}
	return p, nil
}

func (sim *simulation) paymentEvent(ctx context.Context, args []string, status string) ([]byte, error) {
	var code string
	partner, id, err := sim.purchaseArgs("payment", args, func(fs *flag.FlagSet) {
		fs.StringVar(&code, "code", "insufficient_funds", "decline code (payment-failed)")
	})
	if err != nil {
		return nil, err
	}
	p, err := sim.purchase(ctx, partner, id)
	if err != nil {
		return nil, err
	}
	pi := map[string]any{
		"id": p.PaymentIntentID, "object": "payment_intent", "amount": p.Amount.Amount, "currency": p.Amount.Currency,
		"status": status, "metadata": map[string]string{"partner_id": partner, "purchase_id": p.ID, "kind": p.Kind},
		"payment_method": "pm_card_visa", "livemode": false,
	}
	typ := "payment_intent." + status
	switch status {
	case "succeeded":
		pi["amount_received"], pi["latest_charge"] = p.Amount.Amount, chargeID(p.PaymentIntentID)
	case "requires_payment_method":
		typ = "payment_intent.payment_failed"
		pi["last_payment_error"] = map[string]string{"type": "card_error", "code": "card_declined", "decline_code": code, "message": "Your card was declined."}
		if code == "authentication_required" {
			pi["last_payment_error"] = map[string]string{"type": "card_error", "code": "authentication_required", "decline_code": code, "message": "Your card requires authentication."}
		}
	case "requires_action":
		pi["next_action"] = map[string]any{"type": "use_stripe_sdk"}
	}
	return stripeEvent(typ, pi, nil)
}

func (sim *simulation) refundEvent(ctx context.Context, args []string) ([]byte, error) {
	var amount int64
	partner, id, err := sim.purchaseArgs("refund", args, func(fs *flag.FlagSet) {
		fs.Int64Var(&amount, "amount", 0, "refunded amount in minor units (default: all)")
	})
	if err != nil {
		return nil, err
	}
	p, err := sim.purchase(ctx, partner, id)
	if err != nil {
		return nil, err
	}
	if amount <= 0 || amount > p.Amount.Amount {
		amount = p.Amount.Amount
	}
	// The charge carries its refunds (as in API versions before
	// 2022-11-15), so the local webhook does not ask stripe-mock, whose
	// refund list is a fixed fixture.
	charge := map[string]any{
		"id": chargeID(p.PaymentIntentID), "object": "charge", "amount": p.Amount.Amount, "amount_refunded": amount,
		"currency": p.Amount.Currency, "payment_intent": p.PaymentIntentID, "refunded": amount == p.Amount.Amount,
		"refunds": map[string]any{"object": "list", "has_more": false, "data": []map[string]any{
			{"id": "re_sim_" + randomID(), "object": "refund", "amount": amount, "status": "succeeded"},
		}},
	}
	return stripeEvent("charge.refunded", charge, map[string]any{"amount_refunded": 0})
}

func (sim *simulation) setupEvent(ctx context.Context, args []string) ([]byte, error) {
	fs := flag.NewFlagSet("setup-succeeded", flag.ContinueOnError)
	partner := fs.String("partner", "", "partner id (required)")
	setupIntent := fs.String("setup-intent", "", "SetupIntent id (default: a new one)")
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err}
	}
	if *partner == "" {
		return nil, usageError{errors.New("setup-succeeded: -partner is required")}
	}
	var billing struct {
		StripeCustomerID *string `json:"stripeCustomerId"`
	}
	if err := sim.get(ctx, *partner, "/v1/billing", &billing); err != nil {
		return nil, err
	}
	if billing.StripeCustomerID == nil {
		return nil, errors.New("the partner has no Stripe customer yet: PUT /v1/billing/contact first")
	}
	if *setupIntent == "" {
		*setupIntent = "seti_sim_" + randomID()
	}
	si := map[string]any{
		"id": *setupIntent, "object": "setup_intent", "customer": *billing.StripeCustomerID, "status": "succeeded",
		"usage": "off_session", "payment_method": "pm_sim_" + randomID(), "metadata": map[string]string{"partner_id": *partner},
		// The newest SetupIntent's card wins: a simulated card is created now.
		"created": time.Now().Unix(),
	}
	return stripeEvent("setup_intent.succeeded", si, nil)
}

func stripeEvent(typ string, object, previous map[string]any) ([]byte, error) {
	data := map[string]any{"object": object}
	if previous != nil {
		data["previous_attributes"] = previous
	}
	return json.Marshal(map[string]any{
		"id": "evt_sim_" + randomID(), "object": "event", "api_version": "2023-10-16", "created": time.Now().Unix(),
		"livemode": false, "pending_webhooks": 1, "type": typ, "data": data,
		"request": map[string]any{"id": nil, "idempotency_key": nil},
	})
}

func chargeID(paymentIntentID string) string { return "ch_sim_" + paymentIntentID }

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
