// Package httpapi adapts API Gateway HTTP API events (payload format 2.0) to
// the use cases: decoding and the input rules of docs/API.md,
// identity from JWT claims, problem+json errors, and one handler per
// function that dispatches by the route table.
package httpapi

import (
	"encoding/base64"
	"strings"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/dsu"
)

// maxAnyBody is the largest body any endpoint accepts.
const maxAnyBody = 1 << 20

// Request is an API Gateway request after decoding.
type Request struct {
	RouteKey   string
	Method     string
	Path       string
	PathParams map[string]string
	// Query holds the query parameters the route accepts, read strictly
	// from rawQueryString (parseQuery).
	Query   map[string]string
	headers map[string]string // lower-case names
	// Body is the raw body, base64-decoded when API Gateway encoded it.
	Body   []byte
	Claims map[string]string
	// RequestID is API Gateway's id of the request.
	RequestID string
	// CallerARN is the IAM identity that signed the request, on
	// IAM-authorized routes in AWS; "" when none did (the local stack).
	CallerARN string

	// Set by Function before the endpoint runs.
	Identity Identity
	Partner  dsu.Partner
}

// NewRequest decodes an API Gateway HTTP API event.
func NewRequest(ev *events.APIGatewayV2HTTPRequest) (*Request, error) {
	r := &Request{
		RouteKey:   ev.RouteKey,
		Method:     ev.RequestContext.HTTP.Method,
		Path:       ev.RawPath,
		PathParams: ev.PathParameters,
		headers:    make(map[string]string, len(ev.Headers)),
		RequestID:  ev.RequestContext.RequestID,
	}
	if r.Path == "" {
		r.Path = ev.RequestContext.HTTP.Path
	}
	for k, v := range ev.Headers {
		r.headers[strings.ToLower(k)] = v
	}
	query, err := parseQuery(ev.RawQueryString, queryParameters[ev.RouteKey])
	if err != nil {
		return r, err
	}
	r.Query = query
	if a := ev.RequestContext.Authorizer; a != nil {
		if a.JWT != nil {
			r.Claims = a.JWT.Claims
		}
		if a.IAM != nil {
			r.CallerARN = a.IAM.UserARN
		}
	}
	if ev.IsBase64Encoded {
		// Decode nothing huge; each endpoint applies its own, smaller limit.
		if len(ev.Body) > base64.StdEncoding.EncodedLen(maxAnyBody) {
			return r, dsu.Errorf(dsu.KindPayloadTooLarge, "the request body is larger than %d bytes", maxAnyBody)
		}
		b, err := base64.StdEncoding.DecodeString(ev.Body)
		if err != nil {
			return r, dsu.InvalidField("body", "is not valid base64 although marked so")
		}
		r.Body = b
	} else {
		r.Body = []byte(ev.Body)
	}
	return r, nil
}

// Header returns a request header, case-insensitively. API Gateway joins
// repeated headers with commas.
func (r *Request) Header(name string) string { return r.headers[strings.ToLower(name)] }
