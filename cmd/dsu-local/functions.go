package main

import (
	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/httpapi"
	"github.com/cirasync/dsubilling/internal/localstack"
	"github.com/cirasync/dsubilling/internal/routes"
	"github.com/cirasync/dsubilling/internal/wiring"
)

// httpFunctions builds every HTTP function by name. The local stack serves
// all of them; a new HTTP function is one line here.
var httpFunctions = map[string]func(wiring.Deps) (*httpapi.Function, error){
	routes.Billing:       wiring.Billing,
	routes.Purchases:     wiring.Purchases,
	routes.StripeWebhook: wiring.StripeWebhook,
	routes.Usage:         wiring.Usage,
	routes.Admin:         wiring.Admin,
}

// localFunctions builds the functions for the local stack, on the clients and
// configuration the stack provides.
func localFunctions(env localstack.Env) (localstack.Functions, error) {
	clock := dsu.SystemClock{}
	d := wiring.Deps{
		Config: env.Config, DynamoDB: env.DynamoDB, Clock: clock, IDs: dsu.RandomIDs{Clock: clock}, Log: env.Log,
		Stripe:         wiring.NewStripe(env.StripeKey, env.StripeAPIBase),
		WebhookSecrets: config.SplitSecrets(env.WebhookSecret),
		Events:         app.LogPublisher{Log: env.Log},
		MetricsOut:     env.Metrics,
	}
	fns := localstack.Functions{HTTP: map[string]localstack.HTTPHandler{}}
	for name, build := range httpFunctions {
		f, err := build(d)
		if err != nil {
			return localstack.Functions{}, err
		}
		fns.HTTP[name] = f.Handle
	}
	autorefill := wiring.AutoRefill(d)
	fns.Stream, fns.StreamFilter = autorefill.Stream, dynamo.RefillStreamFilter
	fns.Sweep = autorefill.Sweep
	return fns, nil
}
