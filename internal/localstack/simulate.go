package localstack

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The local counterpart of `stripe trigger`: events built from the local
// stack's own data, signed with the local webhook secret like Stripe signs
// them, and posted to the local webhook route.

// WebhookPath is the route Stripe posts events to.
const WebhookPath = "/v1/stripe/webhook"

// SignWebhook returns a Stripe-Signature header for payload at time t:
// "t=<unix>,v1=<hex HMAC-SHA256 of "<unix>.<payload>">".
func SignWebhook(secret string, payload []byte, t time.Time) string {
	ts := strconv.FormatInt(t.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(ts))
	m.Write([]byte{'.'})
	m.Write(payload)
	return "t=" + ts + ",v1=" + hex.EncodeToString(m.Sum(nil))
}

// PostWebhook signs payload and posts it to the stack's webhook route.
func PostWebhook(ctx context.Context, baseURL, secret string, payload []byte, now time.Time) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+WebhookPath, bytes.NewReader(payload))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	req.Header.Set("Stripe-Signature", SignWebhook(secret, payload, now))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("post webhook: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, nil
}
