package stripeapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/stripe/stripe-go/v76"
)

// APIError is the redacted cause of an error Stripe returned: the fields an
// operator needs, never the objects Stripe embeds in errors (a PaymentIntent
// with its client secret, a payment method with its billing address). It is
// the Err of the *dsu.Error the Client returns; find it with errors.As.
type APIError struct {
	Op          string // what the adapter was doing: "create payment intent", ...
	HTTPStatus  int
	Type        string // card_error, invalid_request_error, api_error, idempotency_error, ...
	Code        string // card_declined, resource_missing, rate_limit, ...
	DeclineCode string // insufficient_funds, ... (card errors only)
	Param       string
	RequestID   string // req_..., for Stripe support
	Message     string // Stripe's message
}

// Is makes Stripe's idempotency_error (a key reused with other parameters
// than its first request's) match app.ErrIdempotencyKeyReused: the first
// request ran at Stripe, so the use cases look up what it created rather
// than take it as a refusal. The kind stays internal.
func (e *APIError) Is(target error) bool {
	return target == app.ErrIdempotencyKeyReused && e.Type == string(stripe.ErrorTypeIdempotency)
}

func (e *APIError) Error() string {
	var b strings.Builder
	b.WriteString("stripe: ")
	b.WriteString(e.Op)
	b.WriteString(": status ")
	b.WriteString(strconv.Itoa(e.HTTPStatus))
	for _, kv := range [][2]string{
		{"type", e.Type}, {"code", e.Code}, {"decline_code", e.DeclineCode},
		{"param", e.Param}, {"request", e.RequestID},
	} {
		if kv[1] != "" {
			b.WriteString(", ")
			b.WriteString(kv[0])
			b.WriteString(" ")
			b.WriteString(kv[1])
		}
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Caller-safe messages.
const (
	msgDeclined       = "the card was declined"
	msgAuthentication = "the card issuer requires the cardholder to authenticate this payment on-session"
	msgUnavailable    = "the payment service is unavailable, try again later"
	msgNotFound       = "the payment object was not found"
	msgInternal       = "the payment service rejected the request"
)

// translateError turns any error of a stripe-go call into a *dsu.Error. It is
// the one place that decides kinds:
//
//   - card_error with code or decline_code authentication_required →
//     KindAuthenticationRequired (the partner must confirm on-session; no
//     blind retry)
//   - any other card_error → KindCardDeclined, DeclineCode = decline_code, or
//     the error code when there is none (expired_card, incorrect_number,
//     processing_error, ...); Message is Stripe's, which Stripe writes to be
//     shown to cardholders
//   - HTTP 429 / rate_limit / lock_timeout, 5xx / api_error, 409
//     idempotency_key_in_use (a concurrent request with the same key: the
//     retry replays it), network errors, timeouts, cancellations →
//     KindUpstreamUnavailable
//   - resource_missing (or any 404) → KindNotFound
//   - authentication_error (bad key, 401), permission errors (403),
//     idempotency_error (which also matches app.ErrIdempotencyKeyReused:
//     APIError.Is), every other invalid_request_error, malformed
//     responses → KindInternal
//
// The cause kept in Err is a redacted *APIError for Stripe's errors, the
// network error itself (method and URL, no body) for transport failures, and
// a body-free description for malformed responses.
func translateError(err error, op string) error {
	if err == nil {
		return nil
	}
	if de, ok := errors.AsType[*dsu.Error](err); ok {
		return de
	}
	if se, ok := errors.AsType[*stripe.Error](err); ok {
		return translateStripeError(se, op)
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return dsu.Wrap(fmt.Errorf("stripe: %s: %w", op, err), dsu.KindUpstreamUnavailable, msgUnavailable)
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		if ue.Op == "parse" {
			return dsu.Wrap(fmt.Errorf("stripe: %s: %w", op, err), dsu.KindInternal, msgInternal)
		}
		return dsu.Wrap(fmt.Errorf("stripe: %s: %w", op, err), dsu.KindUpstreamUnavailable, msgUnavailable)
	}
	if ne, ok := errors.AsType[net.Error](err); ok {
		return dsu.Wrap(fmt.Errorf("stripe: %s: %w", op, ne), dsu.KindUpstreamUnavailable, msgUnavailable)
	}
	// stripe-go reports a body it cannot decode as "Couldn't deserialize
	// JSON (response status: N, body sample: '...')": keep the status, drop
	// the body (it may hold customer data).
	if m := undecodableRE.FindStringSubmatch(err.Error()); m != nil {
		status, _ := strconv.Atoi(m[1])
		cause := fmt.Errorf("stripe: %s: undecodable response (status %d)", op, status)
		if status == http.StatusTooManyRequests || status >= 500 {
			return dsu.Wrap(cause, dsu.KindUpstreamUnavailable, msgUnavailable)
		}
		return dsu.Wrap(cause, dsu.KindInternal, msgInternal)
	}
	// Anything else from stripe-go is an error body without an "error"
	// object, or something as unexpected: its text may be a response body,
	// so it is not kept.
	return dsu.Wrap(fmt.Errorf("stripe: %s: unexpected %T error", op, err), dsu.KindInternal, msgInternal)
}

var undecodableRE = regexp.MustCompile(`^Couldn't deserialize JSON \(response status: (\d+)`)

func translateStripeError(se *stripe.Error, op string) error {
	cause := &APIError{
		Op:          op,
		HTTPStatus:  se.HTTPStatusCode,
		Type:        string(se.Type),
		Code:        string(se.Code),
		DeclineCode: string(se.DeclineCode),
		Param:       se.Param,
		RequestID:   se.RequestID,
		Message:     se.Msg,
	}
	code, decline := string(se.Code), string(se.DeclineCode)
	switch {
	case se.Type == stripe.ErrorTypeCard &&
		(code == string(stripe.ErrorCodeAuthenticationRequired) || decline == string(stripe.DeclineCodeAuthenticationRequired)):
		e := dsu.Wrap(cause, dsu.KindAuthenticationRequired, msgAuthentication)
		e.DeclineCode = string(stripe.DeclineCodeAuthenticationRequired)
		return e
	case se.Type == stripe.ErrorTypeCard:
		msg := se.Msg
		if msg == "" {
			msg = msgDeclined
		}
		e := dsu.Wrap(cause, dsu.KindCardDeclined, msg)
		e.DeclineCode = decline
		if e.DeclineCode == "" {
			e.DeclineCode = code
		}
		return e
	case se.HTTPStatusCode == http.StatusTooManyRequests,
		code == string(stripe.ErrorCodeRateLimit),
		code == string(stripe.ErrorCodeLockTimeout),
		se.HTTPStatusCode >= 500,
		se.Type == stripe.ErrorTypeAPI,
		se.HTTPStatusCode == http.StatusConflict && code == string(stripe.ErrorCodeIdempotencyKeyInUse):
		return dsu.Wrap(cause, dsu.KindUpstreamUnavailable, msgUnavailable)
	case code == string(stripe.ErrorCodeResourceMissing), se.HTTPStatusCode == http.StatusNotFound:
		return dsu.Wrap(cause, dsu.KindNotFound, msgNotFound)
	default:
		return dsu.Wrap(cause, dsu.KindInternal, msgInternal)
	}
}

// Decline codes of off-session charges (RULES.md, "Error kinds and decline classes"). A code is at most one of
// retryable and permanent; a code that is neither (do_not_honor,
// card_not_supported, ...) is not retried blindly either: the partner has to
// act, like for a permanent one, but the card is not known to be dead.
// authentication_required is neither: it has its own kind,
// dsu.KindAuthenticationRequired, and needs the partner on-session.
var (
	retryableDeclines = map[string]bool{
		"insufficient_funds":   true,
		"try_again_later":      true,
		"processing_error":     true,
		"issuer_not_available": true,
		// generic_decline: the issuer gave no reason. Stripe counts it among
		// the soft declines its own retry logic retries, and the caller's
		// retries are bounded (backoff, monthly limit), so it is retried.
		"generic_decline": true,
	}
	permanentDeclines = map[string]bool{
		"lost_card":        true,
		"stolen_card":      true,
		"expired_card":     true,
		"fraudulent":       true,
		"do_not_try_again": true,
		"incorrect_number": true,
		"pickup_card":      true,
		"restricted_card":  true,
	}
)

// RetryableDecline reports whether an off-session charge declined with code
// (a dsu.Error's DeclineCode) may be retried with backoff: insufficient_funds,
// try_again_later, processing_error, issuer_not_available and
// generic_decline.
func RetryableDecline(code string) bool { return retryableDeclines[code] }

// PermanentDecline reports whether code means the card will never be charged
// again: lost_card, stolen_card, expired_card, fraudulent, do_not_try_again,
// incorrect_number, pickup_card, restricted_card. The partner must save
// another card.
func PermanentDecline(code string) bool { return permanentDeclines[code] }
