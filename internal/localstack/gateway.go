package localstack

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/routes"
)

// HTTPHandler is a Lambda handler for API Gateway HTTP API events.
type HTTPHandler func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Gateway emulates an API Gateway HTTP API (payload format 2.0) in front of
// in-process function handlers, generated from the same route table as the
// deployed API: requests become the events Lambda would receive.
type Gateway struct {
	Routes    []routes.Route
	Functions map[string]HTTPHandler
	JWTSecret []byte
	Clock     dsu.Clock
	Log       *slog.Logger
	// Timeout bounds one invocation, like a Lambda timeout.
	Timeout time.Duration

	seq      atomic.Int64
	muxOnce  sync.Once
	mux      *routes.Matcher // Routes as ServeMux patterns, built on first use
	muxError error
}

// API Gateway's payload limit; the functions enforce their own, smaller one.
const gatewayMaxBody = 10 << 20

// ServeHTTP serves one request and logs it by its route key: the path and
// query are the caller's input (ids, cursors, anything a hostile caller
// puts there) and are never logged.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	start := time.Now()
	setCORS(w, req)
	if req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != "" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	route, params, ok, err := g.match(req)
	var status int
	switch {
	case err != nil:
		g.Log.Error("route table", "error", err.Error())
		status = gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
	case !ok:
		status = gatewayError(w, http.StatusNotFound, "Not Found")
	default:
		status = g.serve(w, req, route, params)
	}
	routeKey := "" // no route matched
	if ok {
		routeKey = route.Key()
	}
	g.Log.Info("http", "method", req.Method, "route", routeKey, "status", status, "ms", time.Since(start).Milliseconds())
}

func (g *Gateway) serve(w http.ResponseWriter, req *http.Request, route routes.Route, params map[string]string) int {
	body, err := io.ReadAll(io.LimitReader(req.Body, gatewayMaxBody+1))
	if err != nil {
		return gatewayError(w, http.StatusBadRequest, "Bad Request")
	}
	if len(body) > gatewayMaxBody {
		return gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
	}
	var claims map[string]string
	if route.Auth == routes.AuthJWT {
		token := strings.TrimSpace(strings.TrimPrefix(req.Header.Get("Authorization"), "Bearer "))
		if token == "" {
			return gatewayError(w, http.StatusUnauthorized, "Unauthorized")
		}
		if claims, err = VerifyToken(g.JWTSecret, token, g.Clock.Now()); err != nil {
			return gatewayError(w, http.StatusUnauthorized, "Unauthorized")
		}
	}
	handler := g.Functions[route.Function]
	if handler == nil {
		g.Log.Error("no handler for function", "function", route.Function)
		return gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
	}
	ev := g.event(req, route, params, body, claims)

	ctx, cancel := context.WithTimeout(req.Context(), g.timeout())
	defer cancel()
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       ev.RequestContext.RequestID,
		InvokedFunctionArn: "arn:aws:lambda:local:000000000000:function:" + route.Function,
	})
	resp, err := handler(ctx, ev)
	if err != nil {
		g.Log.Error("function failed", "function", route.Function, "error", err.Error())
		return gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
	}
	return writeResponse(w, resp)
}

// match finds the route of a request and its path parameters, with the
// route table's matcher (routes.Matcher).
func (g *Gateway) match(req *http.Request) (routes.Route, map[string]string, bool, error) {
	g.muxOnce.Do(func() { g.mux, g.muxError = routes.NewMatcher(g.Routes) })
	if g.muxError != nil {
		return routes.Route{}, nil, false, g.muxError
	}
	r, params, ok := g.mux.Match(req)
	return r, params, ok, nil
}

func (g *Gateway) timeout() time.Duration {
	if g.Timeout > 0 {
		return g.Timeout
	}
	return 30 * time.Second
}

// event builds the request exactly as API Gateway's payload format 2.0 does.
func (g *Gateway) event(req *http.Request, route routes.Route, params map[string]string, body []byte, claims map[string]string) events.APIGatewayV2HTTPRequest {
	now := g.Clock.Now()
	reqID := fmt.Sprintf("local-%d-%d", now.UnixMilli(), g.seq.Add(1))
	headers := map[string]string{}
	var cookies []string
	for name, values := range req.Header {
		lname := strings.ToLower(name)
		if lname == "cookie" {
			for _, v := range values {
				cookies = append(cookies, strings.Split(v, "; ")...)
			}
			continue
		}
		headers[lname] = strings.Join(values, ",")
	}
	headers["host"] = req.Host
	// Like API Gateway: repeated values joined with commas, pairs that do
	// not decode left out.
	var query map[string]string
	if q := req.URL.Query(); len(q) > 0 {
		query = map[string]string{}
		for k, v := range q {
			query[k] = strings.Join(v, ",")
		}
	}
	sourceIP, _, _ := net.SplitHostPort(req.RemoteAddr)
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: route.Key(),
		RawPath:  req.URL.EscapedPath(),
		// Verbatim, malformed or not: the handler reads it strictly.
		RawQueryString:        req.URL.RawQuery,
		Cookies:               cookies,
		Headers:               headers,
		QueryStringParameters: query,
		PathParameters:        params,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     route.Key(),
			AccountID:    "000000000000",
			Stage:        "$default",
			RequestID:    reqID,
			APIID:        "local",
			DomainName:   req.Host,
			DomainPrefix: strings.Split(req.Host, ".")[0],
			Time:         now.Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    req.Method,
				Path:      req.URL.Path,
				Protocol:  req.Proto,
				SourceIP:  sourceIP,
				UserAgent: req.UserAgent(),
			},
		},
	}
	if claims != nil {
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	if len(body) > 0 {
		if isTextual(req.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body = base64.StdEncoding.EncodeToString(body)
			ev.IsBase64Encoded = true
		}
	}
	return ev
}

// isTextual reports the content types API Gateway passes through as text;
// it base64-encodes everything else.
func isTextual(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return strings.HasPrefix(mt, "text/") || mt == "application/json" || strings.HasSuffix(mt, "+json") ||
		mt == "application/xml" || strings.HasSuffix(mt, "+xml") || mt == "application/javascript"
}

func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse) int {
	keys := make([]string, 0, len(resp.Headers))
	for k := range resp.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		w.Header().Set(k, resp.Headers[k])
	}
	for k, vs := range resp.MultiValueHeaders {
		for _, v := range vs {
			w.Header().Add(k, v)
		}
	}
	for _, c := range resp.Cookies {
		w.Header().Add("Set-Cookie", c)
	}
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		b, err := base64.StdEncoding.DecodeString(resp.Body)
		if err != nil {
			return gatewayError(w, http.StatusBadGateway, "Internal Server Error")
		}
		body = b
	}
	status := resp.StatusCode
	if status == 0 {
		status = http.StatusOK
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return status
}

// gatewayError answers like API Gateway itself does, before any function.
func gatewayError(w http.ResponseWriter, status int, message string) int {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": message})
	return status
}

// setCORS lets a portal on another local origin call the stack, as the
// deployed API's CORS configuration lets the real portal.
func setCORS(w http.ResponseWriter, req *http.Request) {
	origin := req.Header.Get("Origin")
	if origin == "" {
		return
	}
	h := w.Header()
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Vary", "Origin")
	h.Set("Access-Control-Allow-Headers", "authorization,content-type,idempotency-key")
	h.Set("Access-Control-Allow-Methods", "GET,POST,PUT,DELETE,OPTIONS")
	h.Set("Access-Control-Expose-Headers", "retry-after")
	h.Set("Access-Control-Max-Age", "600")
}
