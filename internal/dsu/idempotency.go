package dsu

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// Idempotency-Key rules (API.md, "Idempotency-Key"): a creating request carries a key; the same key
// with the same body gets the first response again, with another body 422,
// and while the first is still running 409.
//
// The record is claimed in the same storage transaction that creates the
// resource and completed in the same transaction that finishes it, so an
// idempotent request costs no extra round trip.

// IdempotencyState is where the request that claimed a key is.
type IdempotencyState string

const (
	IdemInProgress IdempotencyState = "in_progress"
	IdemCompleted  IdempotencyState = "completed"
	// IdemRetryable means the first attempt stopped on a transient failure
	// after creating its resource; the next request with the key resumes it.
	IdemRetryable IdempotencyState = "retryable"
)

// IdempotencyTTL is how long a key is remembered. It matches Stripe's own
// idempotency window, so a resumed request never creates a second charge.
const IdempotencyTTL = 24 * time.Hour

// IdempotencyStaleAfter is when an in-progress claim is presumed abandoned
// (its Lambda died): well past the function timeout.
const IdempotencyStaleAfter = 2 * time.Minute

// MaxIdempotencyKeyLength is the longest key accepted.
const MaxIdempotencyKeyLength = 255

// ValidateIdempotencyKey accepts 1–255 printable ASCII characters.
func ValidateIdempotencyKey(key string) error {
	if key == "" {
		return Errorf(KindIdempotencyKeyMissing, "the Idempotency-Key header is required")
	}
	if len(key) > MaxIdempotencyKeyLength {
		return InvalidField("Idempotency-Key", "must be at most 255 characters")
	}
	for i := 0; i < len(key); i++ {
		if key[i] < ' ' || key[i] > '~' {
			return InvalidField("Idempotency-Key", "must be printable ASCII")
		}
	}
	return nil
}

// Fingerprint identifies a request body for the reuse check.
func Fingerprint(operation string, body []byte) string {
	h := sha256.New()
	h.Write([]byte(operation))
	h.Write([]byte{0})
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// IdempotencyClaim is what a request asserts when it starts: this key, for
// this partner and body, is mine.
type IdempotencyClaim struct {
	PartnerID   string
	Key         string
	Fingerprint string
	ResourceID  string // the resource the request creates, e.g. a purchase id
	StartedAt   time.Time
	// ExpiresAt is fixed by the first claim (StartedAt + IdempotencyTTL);
	// a takeover keeps it, so resuming never stretches the key's life past
	// Stripe's own idempotency window.
	ExpiresAt time.Time
}

// Expiry is when the claim's key is forgotten.
func (c IdempotencyClaim) Expiry() time.Time {
	if c.ExpiresAt.IsZero() {
		return c.StartedAt.Add(IdempotencyTTL)
	}
	return c.ExpiresAt
}

// IdempotencyRecord is a claim as stored, with its outcome once completed.
type IdempotencyRecord struct {
	IdempotencyClaim
	State IdempotencyState
	// Result is the use case's outcome, in the use case's own encoding; the
	// endpoint renders the replayed response from it.
	Result []byte
}

// ErrIdempotencyKeyTaken is returned by a claim when a record for the key
// exists already; DecideIdempotency says what to do then.
var ErrIdempotencyKeyTaken = &Error{Kind: KindConflict, Message: "the Idempotency-Key is taken"}

// IdempotencyDecision says what to do with a request whose key is taken.
type IdempotencyDecision int

const (
	IdemReplay IdempotencyDecision = iota + 1 // answer with the stored result
	IdemResume                                // take over and finish the stored resource
)

// DecideIdempotency applies the rules to a request whose claim found an
// existing record. It returns an error of the kind the caller must answer
// with, or what to do instead.
func DecideIdempotency(existing IdempotencyRecord, fingerprint string, now time.Time) (IdempotencyDecision, error) {
	if existing.Fingerprint != fingerprint {
		return 0, Errorf(KindIdempotencyKeyReused, "this Idempotency-Key was used with a different request body")
	}
	switch existing.State {
	case IdemCompleted:
		return IdemReplay, nil
	case IdemRetryable:
		return IdemResume, nil
	}
	if now.Sub(existing.StartedAt) < IdempotencyStaleAfter {
		return 0, Errorf(KindRequestInProgress, "a request with this Idempotency-Key is still being processed")
	}
	return IdemResume, nil
}
