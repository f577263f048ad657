package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"slices"

	"github.com/aws/aws-lambda-go/events"
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Endpoint serves one route: decode, call the use case, encode. Errors are
// rendered by the function from their kind.
type Endpoint func(ctx context.Context, r *Request) (events.APIGatewayV2HTTPResponse, error)

// PartnerResolver finds or creates the partner behind a token.
type PartnerResolver interface {
	Ensure(ctx context.Context, partnerID string) (dsu.Partner, error)
}

// Config is what every HTTP function shares.
type Config struct {
	Claims   ClaimNames
	Partners PartnerResolver
	Log      *slog.Logger
	// Metrics writes the business metrics the invocation recorded, once
	// at its end; nil when the function records none.
	Metrics Flusher
}

// Flusher writes what was recorded since the last Flush (*metrics.EMF).
type Flusher interface {
	Flush() error
}

// Function is the Lambda handler of one HTTP function: it dispatches by
// route key and applies what API.md says of every route.
type Function struct {
	name      string
	cfg       Config
	endpoints map[string]Endpoint
	routes    map[string]routes.Route
}

// NewFunction builds the handler of function name from its routes in the
// route table (routes.ForFunction). The endpoints must be exactly those
// routes: a route without an endpoint, or an endpoint without a route, is a
// wiring bug caught at start.
func NewFunction(name string, table []routes.Route, cfg Config, endpoints map[string]Endpoint) (*Function, error) {
	f := &Function{name: name, cfg: cfg, endpoints: endpoints, routes: map[string]routes.Route{}}
	for _, r := range table {
		if endpoints[r.Key()] == nil {
			return nil, fmt.Errorf("function %s: route %s has no endpoint", name, r.Key())
		}
		f.routes[r.Key()] = r
	}
	for k := range endpoints {
		if _, ok := f.routes[k]; !ok {
			return nil, fmt.Errorf("function %s: endpoint %s is not in the route table", name, k)
		}
	}
	if cfg.Log == nil {
		return nil, fmt.Errorf("function %s: no logger", name)
	}
	if err := checkAdminGroup(cfg.Claims.AdminGroup); err != nil {
		return nil, fmt.Errorf("function %s: %w", name, err)
	}
	return f, nil
}

// RouteKeys lists the route keys the function serves, sorted.
func (f *Function) RouteKeys() []string {
	keys := make([]string, 0, len(f.routes))
	for k := range f.routes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Handle is the Lambda handler. It always answers with a response: an error
// returned to Lambda would become API Gateway's bare 500.
func (f *Function) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse, _ error) {
	// API Gateway's request id is the one a 500 tells the caller to quote;
	// the Lambda request id is added by the logger.
	log := f.cfg.Log.With("route", ev.RouteKey, "apiRequestId", ev.RequestContext.RequestID)
	if f.cfg.Metrics != nil {
		defer func() {
			if err := f.cfg.Metrics.Flush(); err != nil {
				log.ErrorContext(ctx, "metrics not written", "error", err.Error())
			}
		}()
	}
	// The partner the token names, once read: an operator going from a
	// failed request to dsu-admin needs it (an id, not a person's detail).
	var partnerID string
	defer func() {
		if p := recover(); p != nil {
			log.ErrorContext(ctx, "panic", "partner", partnerID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp = ErrorResponse(dsu.Errorf(dsu.KindInternal, "panic"), ev.RequestContext.RequestID)
		}
	}()
	resp, err := f.serve(ctx, &ev, &partnerID)
	if partnerID != "" {
		log = log.With("partner", partnerID)
	}
	if err != nil {
		resp = ErrorResponse(err, ev.RequestContext.RequestID)
		switch {
		case resp.StatusCode >= 500:
			log.ErrorContext(ctx, "request failed", "status", resp.StatusCode, "error", err.Error())
		case errors.Is(err, dsu.ErrNotStorable):
			// The database refused a value the input rules let through:
			// the caller's fault, but a rule to tighten. Nothing of the
			// value is logged.
			log.WarnContext(ctx, "request refused by the database's own validation", "status", resp.StatusCode)
		default:
			log.InfoContext(ctx, "request refused", "status", resp.StatusCode, "code", string(publicKind(err)))
		}
		return resp, nil
	}
	log.InfoContext(ctx, "request served", "status", resp.StatusCode)
	return resp, nil
}

// serve answers ev; *partnerID is set as soon as the token names a partner.
func (f *Function) serve(ctx context.Context, ev *events.APIGatewayV2HTTPRequest, partnerID *string) (events.APIGatewayV2HTTPResponse, error) {
	route, ok := f.routes[ev.RouteKey]
	if !ok {
		return events.APIGatewayV2HTTPResponse{}, dsu.Errorf(dsu.KindNotFound, "no such route")
	}
	r, err := NewRequest(ev)
	if err != nil {
		return events.APIGatewayV2HTTPResponse{}, err
	}
	if route.Auth == routes.AuthJWT {
		id, err := f.cfg.Claims.Identify(r.Claims)
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		if route.NeedsAdminGroup() && !id.Admin {
			what := "changing billing"
			if !route.Write() {
				what = "reading the audit log"
			}
			return events.APIGatewayV2HTTPResponse{}, dsu.Errorf(dsu.KindForbidden, "%s needs the %s group", what, f.cfg.Claims.AdminGroup)
		}
		r.Identity = id
		*partnerID = id.PartnerID
		if r.Partner, err = f.cfg.Partners.Ensure(ctx, id.PartnerID); err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		// The person behind the token, for the audit log.
		ctx = app.WithActor(ctx, dsu.Actor{Sub: r.Claims["sub"], Email: r.Claims["email"]})
	}
	resp, err := f.endpoints[route.Key()](ctx, r)
	if dsu.IsKind(err, dsu.KindTooManyRequests) {
		// Who is flooding: what an operator needs to disable the user.
		f.cfg.Log.WarnContext(ctx, "partner over its rate limit", "route", ev.RouteKey, "apiRequestId", ev.RequestContext.RequestID, "partner", r.Partner.ID, "sub", r.Claims["sub"])
	}
	return resp, err
}
