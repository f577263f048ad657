package localstack

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/logging"
	"github.com/cirasync/dsubilling/internal/logging/logtest"
	"github.com/cirasync/dsubilling/internal/routes"
)

func TestGatewayBuildsAPIGatewayEvents(t *testing.T) {
	secret := []byte("s")
	var got events.APIGatewayV2HTTPRequest
	var gotRequestID string
	fn := func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got = ev
		if lc, ok := lambdacontext.FromContext(ctx); ok {
			gotRequestID = lc.AwsRequestID
		}
		if ev.RouteKey == "GET /v1/fail" {
			return events.APIGatewayV2HTTPResponse{}, errors.New("crash")
		}
		return events.APIGatewayV2HTTPResponse{StatusCode: 201, Headers: map[string]string{"Content-Type": "application/json"},
			Body: base64.StdEncoding.EncodeToString([]byte(`{"ok":true}`)), IsBase64Encoded: true, Cookies: []string{"a=b"}}, nil
	}
	gw := &Gateway{
		Routes: []routes.Route{
			{Method: "POST", Path: "/v1/things/{id}/do", Function: "f", Auth: routes.AuthJWT},
			{Method: "POST", Path: "/v1/internal/x", Function: "f", Auth: routes.AuthIAM},
			{Method: "POST", Path: "/v1/hook", Function: "f", Auth: routes.AuthNone},
			{Method: "GET", Path: "/v1/fail", Function: "f", Auth: routes.AuthNone},
		},
		Functions: map[string]HTTPHandler{"f": fn},
		JWTSecret: secret, Clock: dsutest.NewFixedClock(now), Log: logging.Discard(),
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	tok, _ := SignToken(secret, claimsFor(true), now)

	req, _ := http.NewRequest("POST", srv.URL+"/v1/things/t-1/do?limit=5&tag=a&tag=b", strings.NewReader(`{"x":1}`))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", "k1")
	req.Header.Add("Cookie", "c1=v1; c2=v2")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || string(body) != `{"ok":true}` || resp.Header.Get("Set-Cookie") != "a=b" {
		t.Fatalf("response %d %s %v", resp.StatusCode, body, resp.Header)
	}
	if got.Version != "2.0" || got.RouteKey != "POST /v1/things/{id}/do" || got.RequestContext.RouteKey != got.RouteKey {
		t.Fatalf("route %q / %q", got.RouteKey, got.RequestContext.RouteKey)
	}
	if got.PathParameters["id"] != "t-1" || got.QueryStringParameters["tag"] != "a,b" || got.RawQueryString != "limit=5&tag=a&tag=b" {
		t.Fatalf("params %v %v", got.PathParameters, got.QueryStringParameters)
	}
	if got.Headers["idempotency-key"] != "k1" || got.Headers["content-type"] != "application/json" || len(got.Cookies) != 2 {
		t.Fatalf("headers %v cookies %v", got.Headers, got.Cookies)
	}
	if got.Body != `{"x":1}` || got.IsBase64Encoded {
		t.Fatalf("a JSON body must arrive as text: %q %v", got.Body, got.IsBase64Encoded)
	}
	if got.RequestContext.Authorizer.JWT.Claims["cognito:groups"] != "[billing-admin]" || got.RequestContext.HTTP.Method != "POST" {
		t.Fatalf("claims %v", got.RequestContext.Authorizer.JWT.Claims)
	}
	if gotRequestID == "" || gotRequestID != got.RequestContext.RequestID {
		t.Fatalf("the Lambda context must carry the request id: %q vs %q", gotRequestID, got.RequestContext.RequestID)
	}

	// Binary bodies arrive base64-encoded, as API Gateway sends them.
	resp, _ = http.Post(srv.URL+"/v1/hook", "application/octet-stream", strings.NewReader("\x00\x01"))
	resp.Body.Close()
	if !got.IsBase64Encoded || got.Body != base64.StdEncoding.EncodeToString([]byte("\x00\x01")) || got.RequestContext.Authorizer != nil {
		t.Fatalf("binary body %q %v", got.Body, got.IsBase64Encoded)
	}

	for _, c := range []struct {
		method, path, auth string
		status             int
	}{
		{"POST", "/v1/things/t-1/do", "", 401},
		{"POST", "/v1/things/t-1/do", "Bearer nonsense", 401},
		{"GET", "/v1/things/t-1/do", "Bearer " + tok, 404},
		{"POST", "/v1/nowhere", "", 404},
		{"POST", "/v1/internal/x", "", 201}, // IAM guards it in AWS; open locally
		{"GET", "/v1/fail", "", 500},
	} {
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s %s → %d %s, want %d", c.method, c.path, resp.StatusCode, b, c.status)
		}
	}
}

// routedTo serves every function of routes.All with a handler that answers
// 200 and records the route key and path parameters it received.
type routedTo struct {
	routeKey string
	params   map[string]string
}

func routingGateway(t *testing.T, table []routes.Route) (*httptest.Server, *routedTo) {
	t.Helper()
	got := &routedTo{}
	fn := func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got.routeKey, got.params = ev.RouteKey, ev.PathParameters
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	fns := map[string]HTTPHandler{}
	for _, r := range table {
		fns[r.Function] = fn
	}
	secret := []byte("s")
	gw := &Gateway{Routes: table, Functions: fns, JWTSecret: secret, Clock: dsutest.NewFixedClock(now), Log: logging.Discard()}
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return srv, got
}

func do(t *testing.T, srv *httptest.Server, method, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	tok, _ := SignToken([]byte("s"), claimsFor(true), now)
	req.Header.Set("Authorization", "Bearer "+tok)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// Every route of the table reaches its function with its route key and path
// parameters; every other method and path gets API Gateway's 404.
func TestGatewayRoutesByTheRouteTable(t *testing.T) {
	srv, got := routingGateway(t, routes.All)
	for _, r := range routes.All {
		// A concrete path: each {name} becomes "name-1".
		want := map[string]string{}
		var segs []string
		for seg := range strings.SplitSeq(r.Path, "/") {
			if name, ok := strings.CutPrefix(seg, "{"); ok {
				name = strings.TrimSuffix(name, "}")
				want[name] = name + "-1"
				seg = name + "-1"
			}
			segs = append(segs, seg)
		}
		*got = routedTo{}
		resp, body := do(t, srv, r.Method, strings.Join(segs, "/"), nil)
		if resp.StatusCode != 200 || got.routeKey != r.Key() {
			t.Errorf("%s: %d %s, routed to %q", r.Key(), resp.StatusCode, body, got.routeKey)
		}
		if len(want) == 0 && got.params != nil || len(want) > 0 && !maps.Equal(got.params, want) {
			t.Errorf("%s: path parameters %v, want %v", r.Key(), got.params, want)
		}
	}

	for _, miss := range []struct{ method, path string }{
		{"POST", "/v1/packages"},                 // wrong method: 404 like API Gateway, not 405
		{"HEAD", "/v1/packages"},                 // ServeMux lets GET patterns match HEAD; API Gateway does not
		{"GET", "/v1/packages/x"},                // extra segment
		{"GET", "/v1/packages/"},                 // trailing slash
		{"GET", "/v2/packages"},                  // unknown prefix
		{"GET", "/"},                             // root
		{"GET", "/v1/purchases/"},                // empty path parameter
		{"POST", "/v1/purchases//confirm"},       // empty path parameter inside
		{"GET", "//v1/packages"},                 // unclean: no redirect, as API Gateway
		{"GET", "/v1/./packages"},                // unclean
		{"GET", "/v1/purchases/../packages"},     // unclean
		{"PATCH", "/v1/billing/contact"},         // a method no route has
		{"GET", "/v1/purchases/pur-1/confirm/x"}, // longer than any template
	} {
		*got = routedTo{}
		resp, body := do(t, srv, miss.method, miss.path, nil)
		wantBody := `{"message":"Not Found"}` + "\n"
		if miss.method == "HEAD" {
			wantBody = ""
		}
		if resp.StatusCode != 404 || body != wantBody || resp.Header.Get("Content-Type") != "application/json" || got.routeKey != "" {
			t.Errorf("%s %s → %d %q %v, routed to %q; want API Gateway's 404", miss.method, miss.path, resp.StatusCode, body, resp.Header, got.routeKey)
		}
	}

	// An encoded slash stays inside its parameter, decoded, as API Gateway
	// passes path parameters.
	*got = routedTo{}
	if resp, body := do(t, srv, "GET", "/v1/purchases/a%2Fb", nil); resp.StatusCode != 200 || got.params["id"] != "a/b" {
		t.Errorf("encoded slash: %d %s, params %v", resp.StatusCode, body, got.params)
	}
}

func TestGatewayPrefersLiteralSegmentsOverParameters(t *testing.T) {
	table := []routes.Route{
		{Method: "GET", Path: "/v1/purchases/{id}", Function: "f", Auth: routes.AuthNone},
		{Method: "GET", Path: "/v1/purchases/latest", Function: "f", Auth: routes.AuthNone},
	}
	srv, got := routingGateway(t, table)
	if resp, _ := do(t, srv, "GET", "/v1/purchases/latest", nil); resp.StatusCode != 200 || got.routeKey != "GET /v1/purchases/latest" || got.params != nil {
		t.Errorf("a literal segment lost to a parameter: %q %v", got.routeKey, got.params)
	}
	if resp, _ := do(t, srv, "GET", "/v1/purchases/pur-1", nil); resp.StatusCode != 200 || got.routeKey != "GET /v1/purchases/{id}" || got.params["id"] != "pur-1" {
		t.Errorf("parameter route: %q %v", got.routeKey, got.params)
	}
}

// Routes that ServeMux cannot tell apart are a broken table: every request
// answers 500 (and the error is logged) instead of the gateway panicking.
func TestGatewayRefusesAnAmbiguousRouteTable(t *testing.T) {
	table := []routes.Route{
		{Method: "GET", Path: "/v1/{a}/x", Function: "f", Auth: routes.AuthNone},
		{Method: "GET", Path: "/v1/x/{b}", Function: "f", Auth: routes.AuthNone},
	}
	srv, got := routingGateway(t, table)
	for range 2 {
		if resp, body := do(t, srv, "GET", "/v1/x/x", nil); resp.StatusCode != 500 || got.routeKey != "" {
			t.Errorf("%d %s, routed to %q", resp.StatusCode, body, got.routeKey)
		}
	}
}

// A browser's CORS preflight is answered by the gateway, for any path, with
// the headers the deployed API's CORS configuration sends.
func TestGatewayAnswersCORSPreflight(t *testing.T) {
	srv, got := routingGateway(t, routes.All)
	for _, path := range []string{"/v1/purchases", "/v1/purchases/pur-1/confirm", "/v1/nowhere"} {
		*got = routedTo{}
		resp, _ := do(t, srv, "OPTIONS", path, http.Header{
			"Origin": {"http://localhost:5173"}, "Access-Control-Request-Method": {"POST"},
		})
		if resp.StatusCode != 204 || got.routeKey != "" ||
			resp.Header.Get("Access-Control-Allow-Origin") != "http://localhost:5173" ||
			resp.Header.Get("Access-Control-Allow-Methods") != "GET,POST,PUT,DELETE,OPTIONS" ||
			resp.Header.Get("Access-Control-Allow-Headers") != "authorization,content-type,idempotency-key" ||
			resp.Header.Get("Access-Control-Expose-Headers") != "retry-after" {
			t.Errorf("preflight %s: %d %v, routed to %q", path, resp.StatusCode, resp.Header, got.routeKey)
		}
	}
	// An OPTIONS request that is not a preflight is routed like any other.
	if resp, _ := do(t, srv, "OPTIONS", "/v1/purchases", nil); resp.StatusCode != 404 {
		t.Errorf("plain OPTIONS: %d", resp.StatusCode)
	}
}

// The function gets the query string exactly as sent, malformed or
// repeated, so its strict parser can refuse it as it does in AWS; and the
// gateway's log line names the route, never the caller's path or query.
func TestGatewayPassesTheRawQueryStringAndLogsNoInput(t *testing.T) {
	var got events.APIGatewayV2HTTPRequest
	fn := func(_ context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		got = ev
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}
	var logs logtest.Buffer
	gw := &Gateway{
		Routes:    []routes.Route{{Method: "GET", Path: "/v1/things/{id}", Function: "f", Auth: routes.AuthNone}},
		Functions: map[string]HTTPHandler{"f": fn}, Clock: dsutest.NewFixedClock(now), Log: logging.New(&logs, "debug"),
	}
	srv := httptest.NewServer(gw)
	defer srv.Close()
	for _, raw := range []string{"cursor=%%%garbage", "limit=1&limit=2", "a;b&&c", "cursor=4242424242424242"} {
		resp, err := http.Get(srv.URL + "/v1/things/4000056655665556?" + raw)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 || got.RawQueryString != raw {
			t.Fatalf("%q arrived as %q (%d)", raw, got.RawQueryString, resp.StatusCode)
		}
	}
	if got.QueryStringParameters["cursor"] != "4242424242424242" || got.PathParameters["id"] != "4000056655665556" {
		t.Fatalf("parameters %v %v", got.QueryStringParameters, got.PathParameters)
	}
	resp, err := http.Get(srv.URL + "/v1/nowhere/5555555555554444?x=1")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	out := logs.String()
	if !strings.Contains(out, `"route":"GET /v1/things/{id}"`) {
		t.Fatalf("the log does not name the route: %s", out)
	}
	for _, hostile := range []string{"4000056655665556", "5555555555554444", "4242424242424242", "garbage", "nowhere"} {
		if strings.Contains(out, hostile) {
			t.Errorf("the gateway logged %q: %s", hostile, out)
		}
	}
}
