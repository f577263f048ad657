// Package openapitest checks the responses tests receive against
// docs/openapi.yaml, the contract the partner portal codes against: the
// status must be documented for the operation, the content type documented
// for that status, and the body must match its schema. The document's
// response schemas are closed (additionalProperties: false), so a field the
// code sends and the document lacks fails the test that received it.
//
// Handler tests call CheckResponse with the Lambda response; tests that talk
// HTTP to the local stack use Client (or Transport), which checks every
// response of an API route.
package openapitest

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"

	"github.com/cirasync/dsubilling/internal/routes"
)

// DocumentPath is the document's path inside the module.
const DocumentPath = "docs/openapi.yaml"

// load reads and validates the document once per test binary; the loaded
// document is only read afterwards.
var load = sync.OnceValues(func() (*openapi3.T, error) {
	root, err := moduleRoot()
	if err != nil {
		return nil, err
	}
	return Load(filepath.Join(root, DocumentPath))
})

// Load reads an OpenAPI document, resolves its references and validates it.
func Load(path string) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromFile(path)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", path, err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		return nil, fmt.Errorf("%s is not a valid OpenAPI document: %w", path, err)
	}
	return doc, nil
}

// moduleRoot is the nearest directory above the working directory (a test's
// package directory) that holds go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// Document returns docs/openapi.yaml, loaded and validated.
func Document(t testing.TB) *openapi3.T {
	t.Helper()
	doc, err := load()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// Operation finds the documented operation of a route: a route key such as
// "GET /v1/purchases/{id}", or a method and concrete path such as
// "GET /v1/purchases/pur_1". ok is false when the route table has no such
// route; an error means the table has it but the document does not.
func Operation(doc *openapi3.T, route string) (key string, op *openapi3.Operation, ok bool, err error) {
	method, path, _ := strings.Cut(route, " ")
	r, _, found := allRoutes().MatchPath(method, path)
	if !found {
		return "", nil, false, nil
	}
	item := doc.Paths.Value(r.Path)
	if item == nil || item.GetOperation(r.Method) == nil {
		return r.Key(), nil, true, fmt.Errorf("%s is served but not documented", r.Key())
	}
	return r.Key(), item.GetOperation(r.Method), true, nil
}

// Validate checks one response of route (see Operation) against doc.
func Validate(doc *openapi3.T, route string, status int, header http.Header, body []byte) error {
	key, op, ok, err := Operation(doc, route)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%s: no such route", route)
	}
	return validate(doc, key, op, status, header, body)
}

// options fail undocumented statuses (kin-openapi lets them pass by default)
// and report every mismatch of a body, each by its path and reason: the
// body is in the test's message, the document at hand.
var options = func() *openapi3filter.Options {
	o := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	o.WithCustomSchemaErrorFunc(schemaErrorMessage)
	return o
}()

func schemaErrorMessage(err *openapi3.SchemaError) string {
	reason := err.Reason
	if err.Origin != nil {
		reason = err.Origin.Error()
	}
	if reason == "" {
		reason = "does not match the schema's " + err.SchemaField
	}
	if p := "/" + strings.Join(err.JSONPointer(), "/"); p != "/" && !strings.Contains(reason, p) {
		reason = p + ": " + reason
	}
	return reason
}

func validate(doc *openapi3.T, key string, op *openapi3.Operation, status int, header http.Header, body []byte) error {
	method, path, _ := strings.Cut(key, " ")
	req, err := http.NewRequest(method, path, nil)
	if err != nil {
		return err
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request: req,
			Route:   &routers.Route{Spec: doc, Path: path, PathItem: doc.Paths.Value(path), Method: method, Operation: op},
		},
		Status:  status,
		Header:  header,
		Options: options,
	}
	in.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		return err
	}
	// kin-openapi checks nothing of a body where the document promises none.
	if r := op.Responses.Status(status); r != nil && r.Value != nil && len(r.Value.Content) == 0 && len(bytes.TrimSpace(body)) > 0 {
		return errors.New("a body where the document describes none")
	}
	return nil
}

// CheckResponse fails the test when resp, the answer to route (a route key
// or a method and concrete path), disagrees with the document.
func CheckResponse(t testing.TB, route string, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			t.Errorf("openapi: %s → %d: the body is not valid base64: %v", route, resp.StatusCode, err)
			return
		}
		body = b
	}
	status := resp.StatusCode
	if status == 0 { // API Gateway's default
		status = http.StatusOK
	}
	check(t, route, status, lambdaHeader(resp), body)
}

// CheckEvent is CheckResponse for the response to the API Gateway event ev.
func CheckEvent(t testing.TB, ev events.APIGatewayV2HTTPRequest, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	CheckResponse(t, ev.RouteKey, resp)
}

func lambdaHeader(resp events.APIGatewayV2HTTPResponse) http.Header {
	h := http.Header{}
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			h.Add(k, v)
		}
	}
	return h
}

func check(t testing.TB, route string, status int, header http.Header, body []byte) {
	t.Helper()
	doc := Document(t)
	err := Validate(doc, route, status, header, body)
	if err == nil {
		return
	}
	// Name the operation as the document does.
	if key, op, _, _ := Operation(doc, route); op != nil {
		route = key + " (" + op.OperationID + ")"
	}
	t.Errorf("openapi: %s → %d (%s) disagrees with %s: %v\nbody: %s", route, status, header.Get("Content-Type"), DocumentPath, err, clip(body))
}

func clip(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "…"
	}
	return string(b)
}

// CheckProblem fails the test unless resp is an application/problem+json
// body matching the document's Problem schema. It is for handlers behind
// routes the document does not have (a test's own route table).
func CheckProblem(t testing.TB, resp events.APIGatewayV2HTTPResponse) {
	t.Helper()
	if err := ValidateProblem(Document(t), lambdaHeader(resp), []byte(resp.Body)); err != nil {
		t.Errorf("openapi: a %d problem disagrees with %s: %v\nbody: %s", resp.StatusCode, DocumentPath, err, clip([]byte(resp.Body)))
	}
}

// ValidateProblem checks a problem response against the Problem schema.
func ValidateProblem(doc *openapi3.T, header http.Header, body []byte) error {
	if ct := header.Get("Content-Type"); ct != "application/problem+json" {
		return fmt.Errorf("content type %q, want application/problem+json", ct)
	}
	schema := doc.Components.Schemas["Problem"]
	if schema == nil {
		return errors.New("the document has no Problem schema")
	}
	value, err := openapi3filter.JSONBodyDecoder(bytes.NewReader(body), header, schema, nil)
	if err != nil {
		return err
	}
	return schema.Value.VisitJSON(value, openapi3.EnableJSONSchema2020(), openapi3.VisitAsResponse(), openapi3.MultiErrors(),
		openapi3.SetSchemaErrorMessageCustomizer(schemaErrorMessage))
}

// Transport wraps base (http.DefaultTransport when nil) so that every
// response to a request of an API route is checked against the document.
// Requests that match no route (stripe-mock, the gateway's own 404s) and
// CORS preflights pass unchecked.
func Transport(t testing.TB, base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base}
}

// Client is an HTTP client whose responses are checked (see Transport).
func Client(t testing.TB, timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: Transport(t, nil)}
}

type transport struct {
	t    testing.TB
	base http.RoundTripper
}

func (c *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.base.RoundTrip(req)
	if err != nil || req.Method == http.MethodOptions || req.Method == http.MethodHead {
		return resp, err
	}
	// By the route key the request matched: its path may hold anything
	// percent-encoded ('#', invalid UTF-8), which a path string would lose.
	r, _, ok := allRoutes().Match(req)
	if !ok {
		return resp, nil
	}
	route := r.Key()
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check(c.t, route, resp.StatusCode, resp.Header, body)
	return resp, nil
}

// Handler is a Lambda handler of API Gateway HTTP events, such as
// *httpapi.Function.
type Handler interface {
	Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)
}

// Checked wraps h so that every response it answers is checked against the
// document (CheckEvent).
func Checked(t testing.TB, h Handler) Handler { return checked{t: t, h: h} }

type checked struct {
	t testing.TB
	h Handler
}

func (c checked) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	resp, err := c.h.Handle(ctx, ev)
	if err == nil {
		CheckEvent(c.t, ev, resp)
	}
	return resp, err
}

// allRoutes matches concrete requests against the route table.
var allRoutes = sync.OnceValue(func() *routes.Matcher {
	m, err := routes.NewMatcher(routes.All)
	if err != nil {
		panic(err) // the route table is a constant; its own tests catch this
	}
	return m
})
