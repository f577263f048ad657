package localstack

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cirasync/dsubilling/internal/dsu/dsutest"
	"github.com/cirasync/dsubilling/internal/logging"
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
