// Package wiring builds each function's handler from configuration and
// clients. The Lambda entry points (functions/*/main.go) and the local stack
// (cmd/dsu-local) both use it, so both run the same handlers.
package wiring

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/awsjson"
	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/notify"
	"github.com/cirasync/dsubilling/internal/routes"
	"github.com/cirasync/dsubilling/internal/stripeapi"
	"github.com/cirasync/dsubilling/internal/triggers"
)

// Deps are the clients and settings a function is built from. Build them
// once per process (Lambda init), never per request.
type Deps struct {
	Config   config.Config
	DynamoDB dynamo.API
	// Stripe is nil for functions that never call Stripe.
	Stripe         *stripeapi.Client
	WebhookSecrets []string
	Events         app.Publisher
	Clock          dsu.Clock
	IDs            dsu.IDGenerator
	Log            *slog.Logger
	// MetricsOut receives the functions' EMF lines (docs/ARCHITECTURE.md,
	// "Metrics"): standard output in Lambda, where CloudWatch Logs extracts
	// them. nil records no metrics.
	MetricsOut io.Writer
}

// Needs says which secrets a function loads at init.
type Needs struct {
	Stripe         bool // the Stripe secret key
	WebhookSecrets bool // the webhook signing secrets
}

// FromEnvironment builds the dependencies of a function inside Lambda (or
// against emulators when DYNAMODB_ENDPOINT / STRIPE_API_BASE say so). The
// only network I/O is reading the secrets the function needs.
func FromEnvironment(ctx context.Context, cfg config.Config, getenv config.Getenv, log *slog.Logger, needs Needs) (Deps, error) {
	clock := dsu.SystemClock{}
	d := Deps{Config: cfg, Clock: clock, IDs: dsu.RandomIDs{Clock: clock}, Log: log}
	var awsCfg aws.Config
	if cfg.DynamoDBEndpoint == "" || cfg.CursorKeyARN != "" || cfg.StripeSecretKeyARN != "" || cfg.StripeWebhookSecretARN != "" || cfg.EventBusName != "" {
		var err error
		if awsCfg, err = LambdaAWSConfig(getenv); err != nil {
			return Deps{}, err
		}
	}
	// Both clients time out each attempt (dynamo.AttemptTimeout); the store
	// ends every call before the invocation's deadline (dynamo.New).
	if cfg.DynamoDBEndpoint != "" {
		d.DynamoDB = dynamo.NewEndpointClient(cfg.DynamoDBEndpoint)
	} else {
		d.DynamoDB = dynamodb.NewFromConfig(awsCfg, func(o *dynamodb.Options) { o.HTTPClient = dynamo.HTTPClient() })
	}
	key, err := cursorKey(ctx, cfg, awsCfg)
	if err != nil {
		return Deps{}, err
	}
	d.Config.CursorKey = key
	if needs.Stripe {
		key := cfg.StripeSecretKey
		if key == "" && cfg.StripeSecretKeyARN != "" {
			var err error
			if key, err = awsjson.SecretString(ctx, awsCfg, cfg.StripeSecretKeyARN); err != nil {
				return Deps{}, err
			}
		}
		if key == "" {
			return Deps{}, fmt.Errorf("configuration: STRIPE_SECRET_KEY_ARN (or STRIPE_SECRET_KEY locally) is required")
		}
		d.Stripe = NewStripe(key, cfg.StripeAPIBase)
	}
	if needs.WebhookSecrets {
		d.WebhookSecrets = cfg.StripeWebhookSecrets
		if len(d.WebhookSecrets) == 0 && cfg.StripeWebhookSecretARN != "" {
			v, err := awsjson.SecretString(ctx, awsCfg, cfg.StripeWebhookSecretARN)
			if err != nil {
				return Deps{}, err
			}
			d.WebhookSecrets = config.SplitSecrets(v)
		}
		if len(d.WebhookSecrets) == 0 {
			return Deps{}, fmt.Errorf("configuration: STRIPE_WEBHOOK_SECRET_ARN (or STRIPE_WEBHOOK_SECRET locally) is required")
		}
	}
	if cfg.EventBusName != "" {
		d.Events = &notify.EventBridge{Client: &awsjson.Client{Config: awsCfg, Service: "events", TargetPrefix: "AWSEvents"}, Bus: cfg.EventBusName, Log: log}
	} else {
		d.Events = app.LogPublisher{Log: log}
	}
	return d, nil
}

// MinCursorKeyLength is the shortest cursor key a function accepts against
// AWS DynamoDB; the stack generates 64 characters.
const MinCursorKeyLength = 32

// cursorKey is the key of pagination cursors: CURSOR_KEY, else the secret
// CURSOR_KEY_ARN names. With neither, the store's built-in key is used, but
// only against an emulated table (DYNAMODB_ENDPOINT: the local stack and
// tests): against AWS a key anyone can read in the source would let anyone
// forge cursors, so the function refuses to start.
func cursorKey(ctx context.Context, cfg config.Config, awsCfg aws.Config) (string, error) {
	key := cfg.CursorKey
	if key == "" && cfg.CursorKeyARN != "" {
		var err error
		if key, err = awsjson.SecretString(ctx, awsCfg, cfg.CursorKeyARN); err != nil {
			return "", err
		}
	}
	if cfg.DynamoDBEndpoint != "" {
		return key, nil
	}
	if key == "" {
		return "", fmt.Errorf("configuration: %s is required against AWS DynamoDB (the built-in cursor key is for the local stack and tests only)", config.EnvCursorKeyARN)
	}
	if len(key) < MinCursorKeyLength {
		return "", fmt.Errorf("configuration: the cursor key has %d characters, want at least %d", len(key), MinCursorKeyLength)
	}
	return key, nil
}

// NewStripe is the one Stripe client of a process. Network retries reuse
// the request's idempotency key, so a retried charge is never doubled. Two
// attempts of 6 s fit the API functions' 15 s timeout, so a slow Stripe
// ends in a clean 503 with a resumable key rather than a killed Lambda.
func NewStripe(key, apiBase string) *stripeapi.Client {
	return stripeapi.New(stripeapi.Config{
		SecretKey: key, APIBase: apiBase, MaxNetworkRetries: 1,
		HTTPClient: &http.Client{Timeout: 6 * time.Second},
	})
}

// LambdaAWSConfig is the SDK configuration inside Lambda: region and the
// execution role's credentials come from the environment Lambda sets. The
// SDK's general config loader (profiles, SSO, IMDS, STS) is not linked: it
// would add megabytes to every bootstrap for sources Lambda never uses.
func LambdaAWSConfig(getenv config.Getenv) (aws.Config, error) {
	region := getenv("AWS_REGION")
	creds := aws.Credentials{
		AccessKeyID:     getenv("AWS_ACCESS_KEY_ID"),
		SecretAccessKey: getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken:    getenv("AWS_SESSION_TOKEN"),
		Source:          "lambda-environment",
	}
	if region == "" || creds.AccessKeyID == "" || creds.SecretAccessKey == "" {
		return aws.Config{}, fmt.Errorf("AWS_REGION, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set (Lambda sets them)")
	}
	return aws.Config{
		Region: region,
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return creds, nil
		}),
		RetryMaxAttempts: 3,
	}, nil
}

// ---- use cases ----

// metrics is the recorder of function fn: every value its use cases record
// during an invocation, written as EMF lines when the invocation ends.
func (d Deps) metrics(fn string) *metrics.EMF {
	out := d.MetricsOut
	if out == nil {
		out = io.Discard
	}
	return metrics.NewEMF(out, fn, d.Clock.Now)
}

// events publishes the domain events of a function, counting those that
// are metrics.
func (d Deps) events(m *metrics.EMF) app.Publisher {
	return app.EventMetrics{Next: d.Events, Metrics: m}
}

func (d Deps) store() *dynamo.Store {
	return dynamo.New(d.DynamoDB, dynamo.Options{
		Table: d.Config.Table, Clock: d.Clock, IDs: d.IDs, CursorKey: []byte(d.Config.CursorKey),
		RefillStuckAfter: dsu.DefaultRefillPolicy.StuckAfter,
	})
}

func (d Deps) catalog(store *dynamo.Store) *app.CachedCatalog {
	return &app.CachedCatalog{Source: store, Clock: d.Clock, TTL: d.Config.CatalogTTL}
}

func (d Deps) refillPolicy() dsu.RefillPolicy {
	p := dsu.DefaultRefillPolicy
	if d.Config.RefillMaxPackages > 0 {
		p.MaxPackages = d.Config.RefillMaxPackages
	}
	return p
}

func (d Deps) refillOutcomes(m *metrics.EMF) *app.RefillOutcomes {
	return &app.RefillOutcomes{Policy: d.refillPolicy(), Clock: d.Clock, Events: d.events(m), Log: d.Log, Retryable: stripeapi.RetryableDecline}
}

func (d Deps) settler(store *dynamo.Store, outcomes *app.RefillOutcomes, m *metrics.EMF) *app.Settler {
	return &app.Settler{Store: store, Refills: outcomes, Clock: d.Clock, Log: d.Log, Metrics: m}
}

func (d Deps) billing(store *dynamo.Store, m *metrics.EMF) *app.Billing {
	return &app.Billing{Store: store, Payments: d.Stripe, Catalog: d.catalog(store), IDs: d.IDs, Events: d.events(m), Log: d.Log, Clock: d.Clock}
}

func (d Deps) partners(store *dynamo.Store, m *metrics.EMF) *app.Partners {
	return &app.Partners{Store: store, Defaults: d.Config.Partner, Clock: d.Clock, Metrics: m}
}

func (d Deps) httpConfig(store *dynamo.Store, fn string, m *metrics.EMF) httpapi.Config {
	return httpapi.Config{
		Claims:   httpapi.ClaimNames{Partner: d.Config.PartnerClaim, Groups: d.Config.GroupsClaim, AdminGroup: d.Config.AdminGroup},
		Partners: d.partners(store, m),
		Log:      d.Log.With("function", fn),
		Metrics:  m,
	}
}

// ---- functions ----

// Billing builds the billing function.
func Billing(d Deps) (*httpapi.Function, error) {
	store, m := d.store(), d.metrics(routes.Billing)
	return httpapi.NewFunction(routes.Billing, routes.ForFunction(routes.Billing), d.httpConfig(store, routes.Billing, m),
		httpapi.BillingEndpoints(d.billing(store, m), &app.AuditLog{Store: store}))
}

// Purchases builds the purchases function.
func Purchases(d Deps) (*httpapi.Function, error) {
	store, m := d.store(), d.metrics(routes.Purchases)
	catalog := d.catalog(store)
	return httpapi.NewFunction(routes.Purchases, routes.ForFunction(routes.Purchases), d.httpConfig(store, routes.Purchases, m), httpapi.PurchasesEndpoints(httpapi.PurchasesDeps{
		Packages:  &app.Packages{Catalog: catalog},
		Purchases: &app.Purchases{Store: store, Payments: d.Stripe, Catalog: catalog, Clock: d.Clock, IDs: d.IDs, Log: d.Log, Metrics: m},
		Balances:  &app.Balances{Store: store, Clock: d.Clock},
		Reports:   &app.Reports{Store: store, Clock: d.Clock},
	}))
}

// StripeWebhook builds the stripewebhook function.
func StripeWebhook(d Deps) (*httpapi.Function, error) {
	store, m := d.store(), d.metrics(routes.StripeWebhook)
	secrets := d.WebhookSecrets
	outcomes := d.refillOutcomes(m)
	webhooks := &app.Webhooks{Store: store, Settle: d.settler(store, outcomes, m), Refunds: d.Stripe, Cards: d.billing(store, m), Refills: outcomes,
		Events: d.events(m), Livemode: d.Stripe.Livemode(), Clock: d.Clock, Log: d.Log, Metrics: m}
	return httpapi.NewFunction(routes.StripeWebhook, routes.ForFunction(routes.StripeWebhook), d.httpConfig(store, routes.StripeWebhook, m), httpapi.WebhookEndpoints(httpapi.WebhookDeps{
		Parse: func(payload []byte, signature string, now time.Time) (app.WebhookEvent, string, error) {
			ev, raw, err := stripeapi.ParseWebhook(payload, signature, secrets, now)
			return ev, raw.APIVersion, err
		},
		ExpectedAPIVersion: stripeapi.APIVersion,
		Webhooks:           webhooks,
		Clock:              d.Clock,
		Log:                d.Log,
	}))
}

// UsageParallelPartners is how many partners one usage request writes for
// at once: each partner's records go in a few sequential transactions, so
// a request of 500 records over 500 partners takes about 32 rounds of
// round trips (docs/ARCHITECTURE.md, "Access patterns and round trips").
const UsageParallelPartners = 16

// Usage builds the usage function.
func Usage(d Deps) (*httpapi.Function, error) {
	store, m := d.store(), d.metrics(routes.Usage)
	return httpapi.NewFunction(routes.Usage, routes.ForFunction(routes.Usage), d.httpConfig(store, routes.Usage, m),
		httpapi.UsageEndpoints(&app.Usage{Store: store, Partners: d.partners(store, m), Events: d.events(m), Clock: d.Clock, Log: d.Log,
			Parallel: UsageParallelPartners, Metrics: m}))
}

// Admin builds the admin function: the operator routes.
func Admin(d Deps) (*httpapi.Function, error) {
	store, m := d.store(), d.metrics(routes.Admin)
	return httpapi.NewFunction(routes.Admin, routes.ForFunction(routes.Admin), d.httpConfig(store, routes.Admin, m), httpapi.AdminEndpoints(&app.Admin{
		Store: store, Payments: d.Stripe, Clock: d.Clock, ReconcileWindow: time.Hour, Log: d.Log, Metrics: m,
	}))
}

// AutoRefill builds the autorefill function: stream batches and the sweep.
func AutoRefill(d Deps) *triggers.AutoRefill {
	store, m := d.store(), d.metrics(routes.AutoRefill)
	outcomes := d.refillOutcomes(m)
	settler := d.settler(store, outcomes, m)
	refiller := &app.Refiller{
		Store: store, Payments: d.Stripe, Catalog: d.catalog(store), Settle: settler,
		Outcomes: outcomes, Clock: d.Clock, IDs: d.IDs, Log: d.Log, Metrics: m,
	}
	return &triggers.AutoRefill{
		Refiller: refiller,
		Sweeper: &app.Sweeper{
			Store: store, Refiller: refiller,
			Purchases: &app.PurchaseReconciler{Store: store, Payments: d.Stripe, Settle: settler, Clock: d.Clock, Log: d.Log, Metrics: m},
			Cards:     d.billing(store, m),
			Clock:     d.Clock, Log: d.Log, Rate: d.Config.SweepStripeRate,
		},
		Log:      d.Log.With("function", routes.AutoRefill),
		Metrics:  m,
		Parallel: 5,
	}
}
