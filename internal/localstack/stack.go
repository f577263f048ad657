// Package localstack is the local stack (docs/ARCHITECTURE.md, "The local
// stack"): the
// functions' real handlers behind an emulated API Gateway, an embedded
// DynamoDB emulator with emulated streams, stripe-mock, and the sweep's
// schedule, in one process.
package localstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	miniserver "github.com/truora/minidyn/server"

	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/routes"
	"github.com/cirasync/dsubilling/internal/stripemock"
)

// Options configure the stack; cmd/dsu-local reads them from the
// environment.
type Options struct {
	Addr             string        // DSU_LOCAL_ADDR
	JWTSecret        []byte        // DSU_LOCAL_JWT_SECRET
	SweepInterval    time.Duration // DSU_LOCAL_SWEEP_INTERVAL
	DynamoDBEndpoint string        // DYNAMODB_ENDPOINT: use it instead of the embedded emulator
	StripeSecretKey  string        // STRIPE_SECRET_KEY: real Stripe (test mode) instead of stripe-mock
	WebhookSecret    string        // STRIPE_WEBHOOK_SECRET
	Functions        config.Config // the functions' configuration
	Log              *slog.Logger
	Metrics          io.Writer // receives the functions' EMF lines; nil drops them
	Ready            io.Writer // receives the ready line
	// Local serves every path outside /v1 on the API's address, given the
	// API's URL: cmd/dsu-local mounts the reference portal and its
	// local-only endpoints here. Without it the gateway answers every path.
	// /v1 and everything under it always reach the gateway.
	Local func(apiURL string) http.Handler
}

// Functions are the handlers the stack serves, built by the wiring.
type Functions struct {
	HTTP   map[string]HTTPHandler
	Stream StreamHandler
	Sweep  func(ctx context.Context, ev events.EventBridgeEvent) error
	// StreamFilter is the event source mapping's filter pattern.
	StreamFilter string
}

// Env is what the stack hands the wiring to build functions from.
type Env struct {
	Config        config.Config
	DynamoDB      dynamo.API
	StripeKey     string
	StripeAPIBase string // empty for real Stripe
	WebhookSecret string
	Log           *slog.Logger
	Metrics       io.Writer // where the functions write their EMF lines; nil: nowhere
}

// Builder builds the functions; cmd/dsu-local passes the wiring's.
type Builder func(Env) (Functions, error)

// Running is a started stack.
type Running struct {
	URL       string // the API, http://<addr>
	StripeURL string // stripe-mock, when it runs
	Streams   *StreamDispatcher

	closers []func() // backends, stopped last to first
	stopAPI func()   // the API, stopped first
	cancel  context.CancelFunc
	bg      sync.WaitGroup // stream delivery and the sweep
}

// Start brings the stack up and returns once it accepts requests.
func Start(ctx context.Context, opts Options, build Builder) (_ *Running, err error) {
	ctx, cancel := context.WithCancel(ctx)
	r := &Running{cancel: cancel}
	defer func() {
		if err != nil {
			r.Close()
		}
	}()
	log := opts.Log

	// DynamoDB: the embedded emulator or the configured endpoint, behind
	// the stream tap the functions talk to.
	var backend http.Handler
	backendURL := opts.DynamoDBEndpoint
	if backendURL == "" {
		mini := miniserver.NewServer()
		u, stop, err := serve(mini, "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("dynamodb emulator: %w", err)
		}
		r.closers = append(r.closers, stop)
		backend, backendURL = mini, u
		log.Info("dynamodb: embedded emulator", "url", u)
	} else {
		target, err := url.Parse(backendURL)
		if err != nil {
			return nil, fmt.Errorf("DYNAMODB_ENDPOINT: %w", err)
		}
		backend = httputil.NewSingleHostReverseProxy(target)
		log.Info("dynamodb: external endpoint", "url", backendURL)
	}
	table := opts.Functions.Table
	admin := dynamo.NewEndpointClient(backendURL)
	if err := dynamo.CreateTable(ctx, admin, table); err != nil {
		return nil, err
	}
	cat, err := catalog.Default()
	if err != nil {
		return nil, err
	}
	if err := dynamo.New(admin, dynamo.Options{Table: table}).PutCatalog(ctx, cat); err != nil {
		return nil, fmt.Errorf("seed catalog: %w", err)
	}

	r.Streams = &StreamDispatcher{BatchSize: 100, MaxRetries: 3, Log: log.With("component", "streams")}
	tap := NewStreamTap(backend, backendURL, table, r.Streams.Emit, log.With("component", "streams"))
	tapURL, stopTap, err := serve(tap, "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.closers = append(r.closers, stopTap)

	// Stripe: the real test-mode API when a key is given, else stripe-mock.
	env := Env{Config: opts.Functions, DynamoDB: dynamo.NewEndpointClient(tapURL), StripeKey: opts.StripeSecretKey, WebhookSecret: opts.WebhookSecret, Log: log, Metrics: opts.Metrics}
	env.Config.DynamoDBEndpoint = tapURL
	if env.StripeKey == "" {
		mock, err := stripemock.Start(ctx)
		if err != nil {
			return nil, fmt.Errorf("stripe-mock: %w", err)
		}
		r.closers = append(r.closers, mock.Stop)
		r.StripeURL, env.StripeAPIBase, env.StripeKey = mock.URL, mock.URL, "sk_test_local"
		log.Info("stripe: stripe-mock", "url", mock.URL)
	} else {
		log.Info("stripe: test-mode API with STRIPE_SECRET_KEY")
	}

	fns, err := build(env)
	if err != nil {
		return nil, err
	}
	r.Streams.Handler, r.Streams.Filter = fns.Stream, fns.StreamFilter
	r.bg.Go(func() { r.Streams.Run(ctx) })
	if fns.Sweep != nil && opts.SweepInterval > 0 {
		r.bg.Go(func() { runSweep(ctx, opts.SweepInterval, fns.Sweep, log) })
	}

	gw := &Gateway{Routes: routes.All, Functions: fns.HTTP, JWTSecret: opts.JWTSecret, Clock: dsu.SystemClock{}, Log: log.With("component", "gateway")}
	ln, apiURL, err := listen(opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", opts.Addr, err)
	}
	var front http.Handler = gw
	if opts.Local != nil {
		front = frontDoor{api: gw, local: opts.Local(apiURL)}
	}
	r.stopAPI, r.URL = serveOn(ln, front), apiURL
	if opts.Ready != nil {
		fmt.Fprintf(opts.Ready, "dsu-local ready on %s\n", apiURL)
	}
	return r, nil
}

// Close shuts the stack down gracefully: the API first, draining requests
// in flight, then stream delivery and the sweep, then stripe-mock and the
// emulator, so nothing meets a backend that is already gone.
func (r *Running) Close() {
	if r.stopAPI != nil {
		r.stopAPI()
		r.stopAPI = nil
	}
	r.cancel()
	r.bg.Wait()
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i]()
	}
	r.closers = nil
}

// frontDoor sends /v1 and everything under it to the gateway, unchanged,
// and every other path to the local-only handler.
type frontDoor struct {
	api, local http.Handler
}

func (f frontDoor) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if p := req.URL.Path; p == "/v1" || strings.HasPrefix(p, "/v1/") {
		f.api.ServeHTTP(w, req)
		return
	}
	f.local.ServeHTTP(w, req)
}

// serve runs h on addr until the returned stop is called; stop drains
// requests in flight for up to 10 seconds.
func serve(h http.Handler, addr string) (string, func(), error) {
	ln, u, err := listen(addr)
	if err != nil {
		return "", nil, err
	}
	return u, serveOn(ln, h), nil
}

// listen opens addr and returns its URL, so a handler can be built knowing
// where it is served.
func listen(addr string) (net.Listener, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	return ln, "http://" + ln.Addr().String(), nil
}

// serveOn runs h on ln until the returned stop is called.
func serveOn(ln net.Listener, h http.Handler) func() {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			slog.Default().Error("server", "addr", ln.Addr().String(), "error", err.Error())
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}
}

// runSweep invokes the sweep on its schedule, as the EventBridge rule does.
func runSweep(ctx context.Context, every time.Duration, sweep func(context.Context, events.EventBridgeEvent) error, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ev := events.EventBridgeEvent{
				Version: "0", ID: fmt.Sprintf("local-sweep-%d", now.Unix()), DetailType: "Scheduled Event",
				Source: "aws.events", AccountID: "000000000000", Time: now.UTC(), Region: "local",
				Resources: []string{"arn:aws:events:local:000000000000:rule/dsu-sweep"}, Detail: []byte("{}"),
			}
			if err := sweep(ctx, ev); err != nil {
				log.Error("sweep failed", "error", err.Error())
			}
		}
	}
}
