package dsu

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for callers. Every HTTP-facing kind is also the
// problem "code" of docs/API.md, "Errors"; the HTTP adapter owns the one table
// from kinds to statuses.
type Kind string

const (
	KindUnauthenticated       Kind = "unauthenticated"
	KindForbidden             Kind = "forbidden"
	KindNotFound              Kind = "not_found"
	KindInvalid               Kind = "validation_failed"
	KindPayloadTooLarge       Kind = "payload_too_large"
	KindUnsupportedMediaType  Kind = "unsupported_media_type"
	KindIdempotencyKeyMissing Kind = "idempotency_key_missing"
	KindIdempotencyKeyReused  Kind = "idempotency_key_reused"
	KindRequestInProgress     Kind = "request_in_progress"
	KindContactRequired       Kind = "contact_required"
	KindPaymentMethodRequired Kind = "payment_method_required"
	KindConflict              Kind = "conflict"
	KindTooManyRequests       Kind = "too_many_requests"
	KindUpstreamUnavailable   Kind = "upstream_unavailable"
	KindInternal              Kind = "internal"

	// Payment outcomes reported by the payment provider. Use cases turn them
	// into purchase states; they reach HTTP only by mistake.
	KindCardDeclined           Kind = "card_declined"
	KindAuthenticationRequired Kind = "authentication_required"
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the one error type of the domain and its use cases.
type Error struct {
	Kind    Kind
	Message string       // safe to show to the caller
	Fields  []FieldError // for KindInvalid
	// DeclineCode is the card issuer's reason for KindCardDeclined
	// (insufficient_funds, lost_card, ...).
	DeclineCode string
	// RetryAfter is how long to wait before trying again, for
	// KindTooManyRequests.
	RetryAfter time.Duration
	Err        error // the cause, for logs only
}

func (e *Error) Error() string {
	msg := string(e.Kind)
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.DeclineCode != "" {
		msg += " (" + e.DeclineCode + ")"
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf builds an *Error of the given kind with a caller-safe message.
func Errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

// Wrap attaches a kind and a caller-safe message to a cause.
func Wrap(err error, kind Kind, message string) *Error {
	return &Error{Kind: kind, Message: message, Err: err}
}

// Invalid reports validation failures, one per field.
func Invalid(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Message: "the request is not valid", Fields: fields}
}

// InvalidField is Invalid for a single field.
func InvalidField(field, message string) *Error {
	return Invalid(FieldError{Field: field, Message: message})
}

// ErrorKind returns the kind of err, KindInternal for anything that is not an
// *Error.
func ErrorKind(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return KindInternal
}

// IsKind reports whether err is an *Error of kind k.
func IsKind(err error, k Kind) bool { return err != nil && ErrorKind(err) == k }

// Validation collects field errors so a request reports all of them at once.
type Validation struct{ fields []FieldError }

// Add records a failure for field.
func (v *Validation) Add(field, message string) {
	v.fields = append(v.fields, FieldError{field, message})
}

// Check records a failure for field when ok is false.
func (v *Validation) Check(ok bool, field, message string) {
	if !ok {
		v.Add(field, message)
	}
}

// Err returns nil when nothing failed.
func (v *Validation) Err() error {
	if len(v.fields) == 0 {
		return nil
	}
	return Invalid(v.fields...)
}

// ErrNoChange is returned by a mutation that finds nothing to change; the
// store then writes nothing.
var ErrNoChange = errors.New("nothing to change")
