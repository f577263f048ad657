package stripeapi

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// Webhook verification follows Stripe's scheme
// (https://docs.stripe.com/webhooks#verify-manually). stripe-go's webhook
// package does the same for one secret (and, with
// ConstructEventWithOptions{IgnoreAPIVersionMismatch}, for events of other
// API versions too); this checks every configured secret in one pass, so a
// secret can be rotated without refusing deliveries, reads only the
// envelope fields the handler uses, and answers with this project's error
// kinds.

// SignatureHeader is the header Stripe signs webhook deliveries in.
const SignatureHeader = "Stripe-Signature"

// DefaultTolerance is how far a signature's timestamp may be from now.
const DefaultTolerance = 300 * time.Second

// Why a delivery was rejected. VerifyEvent returns them as the Err of a
// *dsu.Error of KindInvalid (field "Stripe-Signature" or "body"); test with
// errors.Is.
var (
	ErrMissingSignature   = errors.New("stripe webhook: Stripe-Signature header missing")
	ErrMalformedSignature = errors.New("stripe webhook: Stripe-Signature header malformed")
	ErrNoValidSignature   = errors.New("stripe webhook: no signature matches the payload and the webhook secrets")
	ErrStaleTimestamp     = errors.New("stripe webhook: signature timestamp outside the tolerance")
	ErrMalformedEvent     = errors.New("stripe webhook: body is not a Stripe event")
	// ErrNoSecret is the Err of a KindInternal error: the endpoint has no
	// webhook secret configured, a deployment fault rather than a bad
	// request.
	ErrNoSecret = errors.New("stripe webhook: no webhook secret configured")
)

// Event is a verified Stripe event, reduced to what the handler reads.
type Event struct {
	ID         string
	Type       string // payment_intent.succeeded, ...
	APIVersion string // the version the event was rendered in
	Created    time.Time
	Livemode   bool
	// Object is data.object, for ParsePaymentIntent, ParseCharge, ...
	Object json.RawMessage
	// PreviousAttributes is data.previous_attributes (absent except on
	// *.updated events).
	PreviousAttributes json.RawMessage
}

// APIVersionMismatch reports whether the event was rendered in another API
// version than the one this code reads (2023-10-16). Such an event is still
// processed (the parsers read only the fields they use); the caller logs a
// warning.
func (e Event) APIVersionMismatch() bool { return e.APIVersion != APIVersion }

// VerifyEvent checks the Stripe-Signature header against the raw payload
// (base64-decoded already when API Gateway says isBase64Encoded) and parses
// the event envelope.
//
// Every v1 signature of the header is compared (in constant time) with the
// HMAC-SHA256 of "<t>.<payload>" under every configured secret; one match
// accepts. Several secrets (and several v1 signatures in the header) cover
// secret rotation. Other schemes (v0) are ignored. A matching signature whose
// timestamp is further than tolerance (DefaultTolerance when ≤ 0) from now,
// in either direction, is rejected. The event's API version is not checked.
func VerifyEvent(payload []byte, sigHeader string, secrets []string, now time.Time, tolerance time.Duration) (Event, error) {
	keys := make([][]byte, 0, len(secrets))
	for _, s := range secrets {
		// An empty key would let anyone sign: never use one.
		if s != "" {
			keys = append(keys, []byte(s))
		}
	}
	if len(keys) == 0 {
		return Event{}, dsu.Wrap(ErrNoSecret, dsu.KindInternal, "the webhook endpoint is not configured")
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	if strings.TrimSpace(sigHeader) == "" {
		return Event{}, sigError(ErrMissingSignature, "the Stripe-Signature header is missing")
	}
	h, err := parseSignatureHeader(sigHeader)
	if err != nil {
		return Event{}, sigError(err, "the Stripe-Signature header is malformed")
	}
	if len(h.v1) == 0 {
		return Event{}, sigError(ErrNoValidSignature, "the Stripe-Signature header has no v1 signature")
	}
	if !h.matches(payload, keys) {
		return Event{}, sigError(ErrNoValidSignature, "no signature matches the payload")
	}
	if d := now.Sub(time.Unix(h.timestamp, 0)); d > tolerance || d < -tolerance {
		return Event{}, sigError(ErrStaleTimestamp, "the signature timestamp is outside the tolerance")
	}
	return parseEvent(payload)
}

func sigError(err error, msg string) error {
	e := dsu.InvalidField(SignatureHeader, msg)
	e.Err = err
	return e
}

func bodyError(msg string) error {
	e := dsu.InvalidField("body", msg)
	e.Err = ErrMalformedEvent
	return e
}

// signatureHeader is a parsed Stripe-Signature header.
type signatureHeader struct {
	timestamp int64
	v1        [][]byte // decoded v1 signatures; undecodable ones are dropped
}

// maxSignatures bounds the work a hostile header can cause.
const maxSignatures = 16

// parseSignatureHeader parses "t=<unix>,v1=<hex>,v1=<hex>,v0=<hex>": exactly
// one t (a positive decimal), any number of v1 (up to maxSignatures), other
// schemes ignored. A v1 that is not 64 hex digits can never match and is
// dropped.
func parseSignatureHeader(header string) (signatureHeader, error) {
	var h signatureHeader
	haveT := false
	for item := range strings.SplitSeq(header, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, value, ok := strings.Cut(item, "=")
		if !ok {
			return signatureHeader{}, ErrMalformedSignature
		}
		switch strings.TrimSpace(key) {
		case "t":
			value = strings.TrimSpace(value)
			if haveT || value == "" || value[0] < '0' || value[0] > '9' {
				return signatureHeader{}, ErrMalformedSignature
			}
			t, err := strconv.ParseInt(value, 10, 64)
			if err != nil || t <= 0 {
				return signatureHeader{}, ErrMalformedSignature
			}
			h.timestamp, haveT = t, true
		case "v1":
			sig, err := hex.DecodeString(strings.TrimSpace(value))
			if err != nil || len(sig) != sha256.Size {
				continue
			}
			if len(h.v1) == maxSignatures {
				return signatureHeader{}, ErrMalformedSignature
			}
			h.v1 = append(h.v1, sig)
		}
	}
	if !haveT {
		return signatureHeader{}, ErrMalformedSignature
	}
	return h, nil
}

// matches compares every v1 signature with the expected one of every key.
func (h signatureHeader) matches(payload []byte, keys [][]byte) bool {
	ok := false
	for _, key := range keys {
		want := computeSignature(key, h.timestamp, payload)
		for _, sig := range h.v1 {
			if hmac.Equal(want, sig) {
				ok = true
			}
		}
	}
	return ok
}

func computeSignature(key []byte, t int64, payload []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(strconv.AppendInt(nil, t, 10))
	m.Write([]byte{'.'})
	m.Write(payload)
	return m.Sum(nil)
}

// SignPayload returns a valid Stripe-Signature header for payload at time t,
// "t=<unix>,v1=<hex HMAC-SHA256>", as Stripe sends it. For tests and the
// local simulator.
func SignPayload(secret string, payload []byte, t time.Time) string {
	ts := t.Unix()
	return "t=" + strconv.FormatInt(ts, 10) + ",v1=" + hex.EncodeToString(computeSignature([]byte(secret), ts, payload))
}

// eventEnvelope is the part of an event this system reads.
type eventEnvelope struct {
	ID         string  `json:"id"`
	Object     string  `json:"object"`
	Type       string  `json:"type"`
	APIVersion *string `json:"api_version"`
	Created    int64   `json:"created"`
	Livemode   bool    `json:"livemode"`
	Data       *struct {
		Object             json.RawMessage `json:"object"`
		PreviousAttributes json.RawMessage `json:"previous_attributes"`
	} `json:"data"`
}

func parseEvent(payload []byte) (Event, error) {
	var env eventEnvelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return Event{}, bodyError("the body is not a JSON Stripe event")
	}
	switch {
	case env.Object != "" && env.Object != "event":
		return Event{}, bodyError("the body is not a Stripe event")
	case env.ID == "" || env.Type == "":
		return Event{}, bodyError("the event has no id or type")
	case env.Data == nil || !isJSONObject(env.Data.Object):
		return Event{}, bodyError("the event has no data.object")
	}
	ev := Event{
		ID:       env.ID,
		Type:     env.Type,
		Livemode: env.Livemode,
		Object:   env.Data.Object,
	}
	if env.APIVersion != nil {
		ev.APIVersion = *env.APIVersion
	}
	if env.Created > 0 {
		ev.Created = time.Unix(env.Created, 0).UTC()
	}
	if isJSONObject(env.Data.PreviousAttributes) {
		ev.PreviousAttributes = env.Data.PreviousAttributes
	}
	return ev, nil
}

func isJSONObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}
