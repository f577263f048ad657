package stripeapi

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

const (
	secretA = "whsec_test_secretAAAAAAAAAAAAAAAAAAAAAAAA"
	secretB = "whsec_test_secretBBBBBBBBBBBBBBBBBBBBBBBB"
)

var now = time.Date(2024, 3, 5, 12, 0, 0, 0, time.UTC)

const eventPayload = `{
  "id": "evt_3OqWxYB7WZ01zgkW0abc1234",
  "object": "event",
  "api_version": "2023-10-16",
  "created": 1709640000,
  "data": {
    "object": {"id": "pi_3OqWxYB7WZ01zgkW1def5678", "object": "payment_intent", "amount": 5000, "currency": "usd", "status": "succeeded"},
    "previous_attributes": {"status": "requires_confirmation"}
  },
  "livemode": false,
  "pending_webhooks": 1,
  "request": {"id": "req_abc", "idempotency_key": "purchase:pur_01"},
  "type": "payment_intent.succeeded"
}`

// v1 is the hex v1 signature of payload at t under secret, computed
// independently of the code under test.
func v1(secret string, t time.Time, payload string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(strconv.FormatInt(t.Unix(), 10) + "." + payload))
	return hex.EncodeToString(m.Sum(nil))
}

func ts(t time.Time) string { return "t=" + strconv.FormatInt(t.Unix(), 10) }

func TestVerifyEventAccepts(t *testing.T) {
	tests := []struct {
		name    string
		header  string
		secrets []string
	}{
		{"SignPayload", SignPayload(secretA, []byte(eventPayload), now), []string{secretA}},
		{"independent signature", ts(now) + ",v1=" + v1(secretA, now, eventPayload), []string{secretA}},
		{"with a v0 scheme", ts(now) + ",v1=" + v1(secretA, now, eventPayload) + ",v0=" + v1(secretB, now, eventPayload), []string{secretA}},
		{"rotation: two v1, old secret configured", ts(now) + ",v1=" + v1(secretA, now, eventPayload) + ",v1=" + v1(secretB, now, eventPayload), []string{secretA}},
		{"rotation: two v1, new secret configured", ts(now) + ",v1=" + v1(secretA, now, eventPayload) + ",v1=" + v1(secretB, now, eventPayload), []string{secretB}},
		{"rotation: two secrets, signed with the first", SignPayload(secretA, []byte(eventPayload), now), []string{secretA, secretB}},
		{"rotation: two secrets, signed with the second", SignPayload(secretB, []byte(eventPayload), now), []string{secretA, secretB}},
		{"rotation: matching v1 second", ts(now) + ",v1=" + v1("whsec_other", now, eventPayload) + ",v1=" + v1(secretB, now, eventPayload), []string{secretA, secretB}},
		{"empty secret ignored", SignPayload(secretA, []byte(eventPayload), now), []string{"", secretA}},
		{"order and junk v1", "v1=zz,v1=" + v1(secretA, now, eventPayload) + "," + ts(now) + ",v1=abcd", []string{secretA}},
		{"just inside the past tolerance", SignPayload(secretA, []byte(eventPayload), now.Add(-300*time.Second)), []string{secretA}},
		{"just inside the future tolerance", SignPayload(secretA, []byte(eventPayload), now.Add(300*time.Second)), []string{secretA}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := VerifyEvent([]byte(eventPayload), tt.header, tt.secrets, now, 300*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if ev.ID != "evt_3OqWxYB7WZ01zgkW0abc1234" || ev.Type != "payment_intent.succeeded" || ev.APIVersion != "2023-10-16" {
				t.Errorf("event = %+v", ev)
			}
			if !ev.Created.Equal(time.Unix(1709640000, 0)) || ev.Livemode || ev.APIVersionMismatch() {
				t.Errorf("event = %+v", ev)
			}
			pi, err := ParsePaymentIntent(ev.Object)
			if err != nil || pi.ID != "pi_3OqWxYB7WZ01zgkW1def5678" || pi.Status != "succeeded" {
				t.Errorf("object = %+v, %v", pi, err)
			}
			if string(ev.PreviousAttributes) != `{"status": "requires_confirmation"}` {
				t.Errorf("previous attributes = %s", ev.PreviousAttributes)
			}
		})
	}
}

func TestVerifyEventRejects(t *testing.T) {
	good := SignPayload(secretA, []byte(eventPayload), now)
	tests := []struct {
		name    string
		payload string
		header  string
		secrets []string
		cause   error
		field   string
	}{
		{"wrong secret", eventPayload, good, []string{secretB}, ErrNoValidSignature, SignatureHeader},
		{"tampered payload", strings.Replace(eventPayload, "5000", "500000", 1), good, []string{secretA}, ErrNoValidSignature, SignatureHeader},
		{"tampered timestamp", eventPayload, strings.Replace(good, ts(now), ts(now.Add(time.Second)), 1), []string{secretA}, ErrNoValidSignature, SignatureHeader},
		{"stale", eventPayload, SignPayload(secretA, []byte(eventPayload), now.Add(-301*time.Second)), []string{secretA}, ErrStaleTimestamp, SignatureHeader},
		{"future", eventPayload, SignPayload(secretA, []byte(eventPayload), now.Add(301*time.Second)), []string{secretA}, ErrStaleTimestamp, SignatureHeader},
		{"missing header", eventPayload, "", []string{secretA}, ErrMissingSignature, SignatureHeader},
		{"blank header", eventPayload, "  ", []string{secretA}, ErrMissingSignature, SignatureHeader},
		{"no timestamp", eventPayload, "v1=" + v1(secretA, now, eventPayload), []string{secretA}, ErrMalformedSignature, SignatureHeader},
		{"non-numeric timestamp", eventPayload, "t=abc,v1=" + v1(secretA, now, eventPayload), []string{secretA}, ErrMalformedSignature, SignatureHeader},
		{"signed timestamp", eventPayload, "t=+" + strconv.FormatInt(now.Unix(), 10) + ",v1=" + v1(secretA, now, eventPayload), []string{secretA}, ErrMalformedSignature, SignatureHeader},
		{"two timestamps", eventPayload, good + "," + ts(now), []string{secretA}, ErrMalformedSignature, SignatureHeader},
		{"item without =", eventPayload, good + ",garbage", []string{secretA}, ErrMalformedSignature, SignatureHeader},
		{"not a signature header", eventPayload, "Bearer abc", []string{secretA}, ErrMalformedSignature, SignatureHeader},
		{"no v1", eventPayload, ts(now) + ",v0=" + v1(secretA, now, eventPayload), []string{secretA}, ErrNoValidSignature, SignatureHeader},
		{"v1 not hex", eventPayload, ts(now) + ",v1=" + strings.Repeat("g", 64), []string{secretA}, ErrNoValidSignature, SignatureHeader},
		{"signed with an empty secret", eventPayload, SignPayload("", []byte(eventPayload), now), []string{"", secretA}, ErrNoValidSignature, SignatureHeader},
		{"malformed JSON", `{"id": "evt_1", "type":`, SignPayload(secretA, []byte(`{"id": "evt_1", "type":`), now), []string{secretA}, ErrMalformedEvent, "body"},
		{"not an event", `{"id": "pi_1", "object": "payment_intent", "type": "x", "data": {"object": {}}}`, SignPayload(secretA, []byte(`{"id": "pi_1", "object": "payment_intent", "type": "x", "data": {"object": {}}}`), now), []string{secretA}, ErrMalformedEvent, "body"},
		{"no data.object", `{"id": "evt_1", "type": "x", "data": {}}`, SignPayload(secretA, []byte(`{"id": "evt_1", "type": "x", "data": {}}`), now), []string{secretA}, ErrMalformedEvent, "body"},
		{"no type", `{"id": "evt_1", "data": {"object": {}}}`, SignPayload(secretA, []byte(`{"id": "evt_1", "data": {"object": {}}}`), now), []string{secretA}, ErrMalformedEvent, "body"},
		{"JSON array", `[]`, SignPayload(secretA, []byte(`[]`), now), []string{secretA}, ErrMalformedEvent, "body"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyEvent([]byte(tt.payload), tt.header, tt.secrets, now, 300*time.Second)
			de := dsuError(t, err, dsu.KindInvalid)
			if !errors.Is(err, tt.cause) {
				t.Errorf("err = %v, want cause %v", err, tt.cause)
			}
			if len(de.Fields) != 1 || de.Fields[0].Field != tt.field || de.Fields[0].Message == "" {
				t.Errorf("fields = %+v, want one for %s", de.Fields, tt.field)
			}
			if strings.Contains(err.Error(), secretA) || strings.Contains(err.Error(), "5000") {
				t.Errorf("error text leaks the secret or the body: %v", err)
			}
		})
	}
}

func TestVerifyEventWithoutSecret(t *testing.T) {
	for _, secrets := range [][]string{nil, {""}} {
		_, err := VerifyEvent([]byte(eventPayload), SignPayload("", []byte(eventPayload), now), secrets, now, 0)
		dsuError(t, err, dsu.KindInternal)
		if !errors.Is(err, ErrNoSecret) {
			t.Errorf("err = %v, want ErrNoSecret", err)
		}
	}
}

func TestVerifyEventDefaultTolerance(t *testing.T) {
	h := SignPayload(secretA, []byte(eventPayload), now.Add(-299*time.Second))
	if _, err := VerifyEvent([]byte(eventPayload), h, []string{secretA}, now, 0); err != nil {
		t.Errorf("within the default tolerance: %v", err)
	}
	h = SignPayload(secretA, []byte(eventPayload), now.Add(-301*time.Second))
	if _, err := VerifyEvent([]byte(eventPayload), h, []string{secretA}, now, 0); !errors.Is(err, ErrStaleTimestamp) {
		t.Errorf("outside the default tolerance: %v", err)
	}
}

// RULES.md, "Webhook verification": a correctly signed event of another API version is accepted; the
// caller logs a warning.
func TestVerifyEventAcceptsOtherAPIVersions(t *testing.T) {
	for _, version := range []string{"2024-06-20", "2020-08-27", "2025-03-31.basil"} {
		payload := strings.Replace(eventPayload, `"2023-10-16"`, `"`+version+`"`, 1)
		ev, err := VerifyEvent([]byte(payload), SignPayload(secretA, []byte(payload), now), []string{secretA}, now, 0)
		if err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		if ev.APIVersion != version || !ev.APIVersionMismatch() {
			t.Errorf("%s: APIVersion %q mismatch %v", version, ev.APIVersion, ev.APIVersionMismatch())
		}
	}
	// A null api_version is a mismatch too, not a failure.
	payload := strings.Replace(eventPayload, `"2023-10-16"`, `null`, 1)
	ev, err := VerifyEvent([]byte(payload), SignPayload(secretA, []byte(payload), now), []string{secretA}, now, 0)
	if err != nil || ev.APIVersion != "" || !ev.APIVersionMismatch() {
		t.Errorf("null api_version: %+v, %v", ev, err)
	}
}

func TestSignPayloadFormat(t *testing.T) {
	h := SignPayload(secretA, []byte("{}"), now)
	want := ts(now) + ",v1=" + v1(secretA, now, "{}")
	if h != want {
		t.Errorf("SignPayload = %q, want %q", h, want)
	}
}

func TestParseSignatureHeaderLimitsSignatures(t *testing.T) {
	sig := ",v1=" + strings.Repeat("ab", 32)
	if _, err := parseSignatureHeader(ts(now) + strings.Repeat(sig, maxSignatures)); err != nil {
		t.Errorf("%d signatures: %v", maxSignatures, err)
	}
	if _, err := parseSignatureHeader(ts(now) + strings.Repeat(sig, maxSignatures+1)); !errors.Is(err, ErrMalformedSignature) {
		t.Errorf("%d signatures: %v, want malformed", maxSignatures+1, err)
	}
}

// signedBy reports whether header carries a v1 signature of payload under
// secret for one of its t= values, computed independently.
func signedBy(header string, payload []byte, secret string) bool {
	for item := range strings.SplitSeq(header, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(item), "=")
		if strings.TrimSpace(k) != "t" {
			continue
		}
		m := hmac.New(sha256.New, []byte(secret))
		m.Write([]byte(strings.TrimSpace(v) + "."))
		m.Write(payload)
		if strings.Contains(strings.ToLower(header), hex.EncodeToString(m.Sum(nil))) {
			return true
		}
	}
	return false
}

func FuzzVerifyEvent(f *testing.F) {
	f.Add([]byte(eventPayload), SignPayload(secretA, []byte(eventPayload), now))
	f.Add([]byte(eventPayload), SignPayload(secretB, []byte(eventPayload), now))
	f.Add([]byte(eventPayload), ts(now)+",v1="+v1(secretA, now, eventPayload)+",v1="+v1(secretB, now, eventPayload))
	f.Add([]byte(`{"id":"evt_1","type":"x","data":{"object":{"id":"pi_1"}}}`), SignPayload(secretA, []byte(`{"id":"evt_1","type":"x","data":{"object":{"id":"pi_1"}}}`), now))
	f.Add([]byte(`{}`), "t=1,v1=00")
	f.Add([]byte(``), ``)
	f.Add([]byte(`null`), `t=,v1=,v0=`)
	f.Add([]byte(eventPayload), "t=9223372036854775807,v1="+strings.Repeat("0", 64))
	f.Fuzz(func(t *testing.T, payload []byte, header string) {
		ev, err := VerifyEvent(payload, header, []string{secretA}, now, 300*time.Second)
		if err != nil {
			var de *dsu.Error
			if !errors.As(err, &de) || de.Kind != dsu.KindInvalid {
				t.Fatalf("err = %v, want a KindInvalid *dsu.Error", err)
			}
			return
		}
		if !signedBy(header, payload, secretA) {
			t.Fatalf("accepted a payload not signed with the secret: header %q", header)
		}
		if ev.ID == "" || ev.Type == "" || len(ev.Object) == 0 {
			t.Fatalf("accepted an event without id, type or object: %+v", ev)
		}
	})
}

func FuzzParseSignatureHeader(f *testing.F) {
	f.Add(SignPayload(secretA, []byte(eventPayload), now))
	f.Add("t=1,v1=" + strings.Repeat("ab", 32) + ",v1=" + strings.Repeat("cd", 32) + ",v0=00")
	f.Add("t=1,t=2")
	f.Add("t=-5,v1=")
	f.Add(",,,=,t")
	f.Add("t=99999999999999999999999")
	f.Fuzz(func(t *testing.T, header string) {
		h, err := parseSignatureHeader(header)
		if err != nil {
			if !errors.Is(err, ErrMalformedSignature) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		if h.timestamp <= 0 {
			t.Fatalf("timestamp %d accepted", h.timestamp)
		}
		if len(h.v1) > maxSignatures {
			t.Fatalf("%d signatures kept", len(h.v1))
		}
		for _, s := range h.v1 {
			if len(s) != sha256.Size {
				t.Fatalf("signature of %d bytes kept", len(s))
			}
		}
	})
}
