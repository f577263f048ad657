package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/routes"
)

type fakePartners struct{ ensured []string }

func (f *fakePartners) Ensure(_ context.Context, id string) (dsu.Partner, error) {
	f.ensured = append(f.ensured, id)
	return dsu.Partner{ID: id, Currency: dsu.EUR}, nil
}

var testRoutes = []routes.Route{
	{Method: "GET", Path: "/v1/things", Function: "test", Auth: routes.AuthJWT},
	{Method: "POST", Path: "/v1/things", Function: "test", Auth: routes.AuthJWT},
	{Method: "GET", Path: "/v1/boom", Function: "test", Auth: routes.AuthJWT},
	{Method: "GET", Path: "/v1/panic", Function: "test", Auth: routes.AuthJWT},
	{Method: "GET", Path: "/v1/unstorable", Function: "test", Auth: routes.AuthJWT},
	{Method: "POST", Path: "/v1/hook", Function: "test", Auth: routes.AuthNone},
}

func newTestFunction(t *testing.T, logs *bytes.Buffer) (*Function, *fakePartners) {
	t.Helper()
	partners := &fakePartners{}
	echo := func(_ context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
		return JSONResponse(http.StatusOK, map[string]any{"partner": r.Partner.ID, "currency": r.Partner.Currency, "admin": r.Identity.Admin})
	}
	f, err := NewFunction("test", testRoutes, Config{Claims: DefaultClaimNames, Partners: partners, Log: logging.New(logs, "debug")}, map[string]Endpoint{
		"GET /v1/things":  echo,
		"POST /v1/things": echo,
		"GET /v1/boom": func(context.Context, *Request) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, errors.New("dial tcp 10.0.0.7:443: secret internals")
		},
		"GET /v1/panic": func(context.Context, *Request) (events.APIGatewayV2HTTPResponse, error) { panic("boom") },
		"GET /v1/unstorable": func(context.Context, *Request) (events.APIGatewayV2HTTPResponse, error) {
			return events.APIGatewayV2HTTPResponse{}, dsu.Wrap(dsu.ErrNotStorable, dsu.KindInvalid, "the request holds a value that cannot be stored")
		},
		"POST /v1/hook": func(_ context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error) {
			if r.Partner.ID != "" {
				t.Error("an unauthenticated route resolved a partner")
			}
			return JSONResponse(http.StatusOK, map[string]string{"ok": "yes"})
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return f, partners
}

func event(routeKey string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	method, path, _ := strings.Cut(routeKey, " ")
	ev := events.APIGatewayV2HTTPRequest{RouteKey: routeKey, RawPath: path}
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.RequestID = "req-1"
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev
}

func decodeProblem(t *testing.T, resp events.APIGatewayV2HTTPResponse) Problem {
	t.Helper()
	openapitest.CheckProblem(t, resp)
	if resp.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("content type %q", resp.Headers["Content-Type"])
	}
	var p Problem
	if err := json.Unmarshal([]byte(resp.Body), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != resp.StatusCode || p.Type == "" || p.Title == "" || p.Detail == "" {
		t.Fatalf("incomplete problem %+v", p)
	}
	return p
}

func TestDispatchAndIdentity(t *testing.T) {
	var logs bytes.Buffer
	f, partners := newTestFunction(t, &logs)
	ctx := context.Background()
	reader := map[string]string{"custom:partner_id": "p1", "cognito:groups": "[viewer]"}
	admin := map[string]string{"custom:partner_id": "p1", "cognito:groups": "[viewer billing-admin]"}

	resp, _ := f.Handle(ctx, event("GET /v1/things", reader))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"partner":"p1"`) || !strings.Contains(resp.Body, `"currency":"eur"`) {
		t.Fatalf("read: %d %s", resp.StatusCode, resp.Body)
	}
	if resp.Headers["Cache-Control"] != "no-store" {
		t.Error("billing responses must not be cached")
	}
	if len(partners.ensured) != 1 || partners.ensured[0] != "p1" {
		t.Fatalf("partner not ensured: %v", partners.ensured)
	}
	if !strings.Contains(logs.String(), `"msg":"request served","route":"GET /v1/things","apiRequestId":"req-1","partner":"p1","status":200`) {
		t.Errorf("the request's log line does not name its route, request and partner: %s", logs.String())
	}

	resp, _ = f.Handle(ctx, event("POST /v1/things", reader))
	if p := decodeProblem(t, resp); p.Status != 403 || p.Code != "forbidden" {
		t.Fatalf("write by a reader: %+v", p)
	}
	if len(partners.ensured) != 1 {
		t.Fatal("a refused request created the partner")
	}
	resp, _ = f.Handle(ctx, event("POST /v1/things", admin))
	if resp.StatusCode != 200 || !strings.Contains(resp.Body, `"admin":true`) {
		t.Fatalf("write by an admin: %d %s", resp.StatusCode, resp.Body)
	}

	for _, claims := range []map[string]string{nil, {"cognito:groups": "[billing-admin]"}} {
		resp, _ = f.Handle(ctx, event("GET /v1/things", claims))
		if p := decodeProblem(t, resp); p.Status != 401 || p.Code != "unauthenticated" {
			t.Fatalf("no partner: %+v", p)
		}
	}

	resp, _ = f.Handle(ctx, event("POST /v1/hook", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("public route: %d %s", resp.StatusCode, resp.Body)
	}

	resp, _ = f.Handle(ctx, event("GET /v1/elsewhere", reader))
	if p := decodeProblem(t, resp); p.Status != 404 || p.Code != "not_found" {
		t.Fatalf("unknown route: %+v", p)
	}
}

func TestInternalErrorsHideInternals(t *testing.T) {
	var logs bytes.Buffer
	f, _ := newTestFunction(t, &logs)
	claims := map[string]string{"custom:partner_id": "p1"}
	for _, route := range []string{"GET /v1/boom", "GET /v1/panic"} {
		resp, err := f.Handle(context.Background(), event(route, claims))
		if err != nil {
			t.Fatal("the handler must answer, not fail the invocation")
		}
		p := decodeProblem(t, resp)
		if p.Status != 500 || p.Code != "internal" || strings.Contains(resp.Body, "10.0.0.7") || strings.Contains(resp.Body, "boom") {
			t.Fatalf("%s: %s", route, resp.Body)
		}
		if !strings.Contains(p.Detail, "req-1") {
			t.Errorf("the detail should give the request id to quote: %q", p.Detail)
		}
	}
	if !strings.Contains(logs.String(), "secret internals") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Errorf("the operator's log lacks the cause: %s", logs.String())
	}
	for line := range strings.Lines(logs.String()) {
		if strings.Contains(line, `"level":"ERROR"`) && !strings.Contains(line, `"partner":"p1"`) {
			t.Errorf("a failed request's log line does not name its partner: %s", line)
		}
	}
}

func TestNewFunctionChecksTheRouteTable(t *testing.T) {
	cfg := Config{Claims: DefaultClaimNames, Partners: &fakePartners{}, Log: logging.Discard()}
	ok := func(context.Context, *Request) (events.APIGatewayV2HTTPResponse, error) {
		return events.APIGatewayV2HTTPResponse{}, nil
	}
	if _, err := NewFunction("test", testRoutes[:1], cfg, map[string]Endpoint{}); err == nil {
		t.Error("a route without an endpoint was accepted")
	}
	if _, err := NewFunction("test", testRoutes[:1], cfg, map[string]Endpoint{"GET /v1/things": ok, "GET /v1/extra": ok}); err == nil {
		t.Error("an endpoint without a route was accepted")
	}
}

func TestProblemTableCoversEveryKind(t *testing.T) {
	want := map[dsu.Kind]int{
		dsu.KindUnauthenticated: 401, dsu.KindForbidden: 403, dsu.KindNotFound: 404, dsu.KindInvalid: 400,
		dsu.KindPayloadTooLarge: 413, dsu.KindUnsupportedMediaType: 415, dsu.KindIdempotencyKeyMissing: 400,
		dsu.KindIdempotencyKeyReused: 422, dsu.KindRequestInProgress: 409, dsu.KindContactRequired: 409,
		dsu.KindPaymentMethodRequired: 409, dsu.KindConflict: 409, dsu.KindUpstreamUnavailable: 503, dsu.KindInternal: 500,
	}
	for kind, status := range want {
		p := ProblemOf(dsu.Errorf(kind, "x"), "r")
		if p.Status != status || p.Code != string(kind) {
			t.Errorf("%s → %d %s, want %d", kind, p.Status, p.Code, status)
		}
	}
	if p := ProblemOf(dsu.InvalidField("email", "is not an email address"), "r"); len(p.Errors) != 1 || p.Errors[0].Field != "email" {
		t.Errorf("field errors lost: %+v", p)
	}
	if p := ProblemOf(&dsu.Error{Kind: dsu.KindCardDeclined}, "r"); p.Status != 409 {
		t.Errorf("an escaped decline: %+v", p)
	}
}

// A value the table refused is the caller's 400, and a warning for the
// operator: an input rule let it through.
func TestAValueTheTableRefusesIsA400AndAWarning(t *testing.T) {
	var logs bytes.Buffer
	f, _ := newTestFunction(t, &logs)
	resp, _ := f.Handle(context.Background(), event("GET /v1/unstorable", map[string]string{"custom:partner_id": "p1"}))
	if p := decodeProblem(t, resp); p.Status != 400 || p.Code != "validation_failed" {
		t.Fatalf("%+v", p)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) || !strings.Contains(logs.String(), "database's own validation") {
		t.Fatalf("no warning: %s", logs.String())
	}
}
