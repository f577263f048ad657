package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// problemTable is the one mapping from error kinds to HTTP: status and the
// title shown with it. The problem code is the kind itself (API.md, "Errors").
var problemTable = map[dsu.Kind]struct {
	status int
	title  string
}{
	dsu.KindUnauthenticated:       {http.StatusUnauthorized, "Authentication required"},
	dsu.KindForbidden:             {http.StatusForbidden, "Not allowed"},
	dsu.KindNotFound:              {http.StatusNotFound, "Not found"},
	dsu.KindInvalid:               {http.StatusBadRequest, "Invalid request"},
	dsu.KindPayloadTooLarge:       {http.StatusRequestEntityTooLarge, "Request body too large"},
	dsu.KindUnsupportedMediaType:  {http.StatusUnsupportedMediaType, "Unsupported media type"},
	dsu.KindIdempotencyKeyMissing: {http.StatusBadRequest, "Idempotency-Key required"},
	dsu.KindIdempotencyKeyReused:  {http.StatusUnprocessableEntity, "Idempotency-Key reused"},
	dsu.KindRequestInProgress:     {http.StatusConflict, "Request in progress"},
	dsu.KindContactRequired:       {http.StatusConflict, "Billing contact required"},
	dsu.KindPaymentMethodRequired: {http.StatusConflict, "Payment method required"},
	dsu.KindConflict:              {http.StatusConflict, "Conflict"},
	dsu.KindTooManyRequests:       {http.StatusTooManyRequests, "Too many requests"},
	dsu.KindUpstreamUnavailable:   {http.StatusServiceUnavailable, "Temporarily unavailable"},
	dsu.KindInternal:              {http.StatusInternalServerError, "Internal error"},
}

// publicKind is the kind an error is reported as. Payment outcomes are
// handled by the use cases; one that escapes is a conflict for the caller,
// and anything unknown is internal.
func publicKind(err error) dsu.Kind {
	k := dsu.ErrorKind(err)
	switch k {
	case dsu.KindCardDeclined, dsu.KindAuthenticationRequired:
		return dsu.KindConflict
	}
	if _, ok := problemTable[k]; !ok {
		return dsu.KindInternal
	}
	return k
}

// StatusOf is the HTTP status an error is answered with.
func StatusOf(err error) int { return problemTable[publicKind(err)].status }

// Problem is an application/problem+json body (RFC 9457) with the code of API.md, "Errors".
type Problem struct {
	Type   string           `json:"type"`
	Title  string           `json:"title"`
	Status int              `json:"status"`
	Detail string           `json:"detail"`
	Code   string           `json:"code"`
	Errors []dsu.FieldError `json:"errors,omitempty"`
}

// ProblemOf renders an error. Internal errors never show their cause, only
// the request id an operator can search the logs for.
func ProblemOf(err error, requestID string) Problem {
	kind := publicKind(err)
	row := problemTable[kind]
	p := Problem{Type: "urn:dsu-billing:problem:" + string(kind), Title: row.title, Status: row.status, Code: string(kind)}
	if e, ok := errors.AsType[*dsu.Error](err); ok && kind != dsu.KindInternal {
		p.Detail = e.Message
		p.Errors = e.Fields
	}
	if kind == dsu.KindInternal {
		p.Detail = "An internal error occurred. Quote request id " + requestID + " to support."
	}
	if p.Detail == "" {
		p.Detail = row.title
	}
	if kind == dsu.KindInvalid && len(p.Errors) == 0 {
		p.Errors = []dsu.FieldError{{Field: "body", Message: p.Detail}}
	}
	return p
}

// baseHeaders go on every response: billing data is never cached.
func baseHeaders(contentType string) map[string]string {
	return map[string]string{
		"Content-Type":           contentType,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
}

// ErrorResponse renders err as problem+json.
func ErrorResponse(err error, requestID string) events.APIGatewayV2HTTPResponse {
	p := ProblemOf(err, requestID)
	body, _ := json.Marshal(p)
	headers := baseHeaders("application/problem+json")
	if e, ok := errors.AsType[*dsu.Error](err); ok && p.Status == http.StatusTooManyRequests && e.RetryAfter > 0 {
		headers["Retry-After"] = strconv.Itoa(dsu.RetrySeconds(e.RetryAfter))
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: p.Status,
		Headers:    headers,
		Body:       string(body),
	}
}

// JSONResponse renders v as JSON with the given status.
func JSONResponse(status int, v any) (events.APIGatewayV2HTTPResponse, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	return events.APIGatewayV2HTTPResponse{
		StatusCode: status,
		Headers:    baseHeaders("application/json"),
		Body:       string(body),
	}, nil
}
