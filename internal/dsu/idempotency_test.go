package dsu

import (
	"strings"
	"testing"
	"time"
)

func TestValidateIdempotencyKey(t *testing.T) {
	if k := ErrorKind(ValidateIdempotencyKey("")); k != KindIdempotencyKeyMissing {
		t.Errorf("missing key: %s", k)
	}
	for _, ok := range []string{"a", strings.Repeat("k", 255), "order 42 / retry #1 ~"} {
		if err := ValidateIdempotencyKey(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{strings.Repeat("k", 256), "tab\there", "ключ", "nl\n"} {
		if k := ErrorKind(ValidateIdempotencyKey(bad)); k != KindInvalid {
			t.Errorf("%q: kind %s", bad, k)
		}
	}
}

func TestDecideIdempotency(t *testing.T) {
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	fp := Fingerprint("POST /v1/purchases", []byte(`{"a":1}`))
	rec := func(state IdempotencyState, started time.Time) IdempotencyRecord {
		return IdempotencyRecord{IdempotencyClaim: IdempotencyClaim{Fingerprint: fp, StartedAt: started}, State: state}
	}
	if d, err := DecideIdempotency(rec(IdemCompleted, now), fp, now); err != nil || d != IdemReplay {
		t.Errorf("completed: %v %v", d, err)
	}
	if _, err := DecideIdempotency(rec(IdemCompleted, now), Fingerprint("POST /v1/purchases", []byte(`{"a":2}`)), now); ErrorKind(err) != KindIdempotencyKeyReused {
		t.Errorf("other body: %v", err)
	}
	if _, err := DecideIdempotency(rec(IdemInProgress, now.Add(-time.Second)), fp, now); ErrorKind(err) != KindRequestInProgress {
		t.Errorf("running: %v", err)
	}
	if d, err := DecideIdempotency(rec(IdemInProgress, now.Add(-IdempotencyStaleAfter)), fp, now); err != nil || d != IdemResume {
		t.Errorf("abandoned: %v %v", d, err)
	}
	if d, err := DecideIdempotency(rec(IdemRetryable, now), fp, now); err != nil || d != IdemResume {
		t.Errorf("retryable: %v %v", d, err)
	}
	if Fingerprint("POST /a", []byte("x")) == Fingerprint("POST /b", []byte("x")) {
		t.Error("the operation must be part of the fingerprint")
	}
}
