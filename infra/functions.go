package main

import (
	"strings"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/routes"
)

// sharedEnv are the variables of internal/config every function gets: the
// resources the stack creates and the defaults an operator may want to read
// (or change) in the console. Their values come from internal/config.
var sharedEnv = []string{
	config.EnvTableName,
	config.EnvLogLevel,
	config.EnvPartnerClaim,
	config.EnvGroupsClaim,
	config.EnvAdminGroup,
	config.EnvDefaultCurrency,
	config.EnvWelcomeGrantUnits,
	config.EnvEventBusName,
}

// PartnerAttribute is the Cognito custom attribute behind the partner
// claim: Cognito puts a custom attribute "x" into tokens as "custom:x".
var PartnerAttribute = strings.TrimPrefix(config.DefaultPartnerClaim, cognitoCustomPrefix)

const cognitoCustomPrefix = "custom:"

// fnSpec is how one function is deployed. Every function of
// routes.Functions is deployed; one without an entry here gets defaultSpec,
// so a new function is one line in routes.Functions (plus one here when it
// needs more than the defaults).
type fnSpec struct {
	Description string
	TimeoutSec  int
	MemoryMB    int
	// StripeKey: the function calls Stripe and may read the secret key.
	StripeKey bool
	// WebhookSecret: the function verifies Stripe signatures.
	WebhookSecret bool
	// Reserved is the function's reserved concurrency from the stack's
	// configuration; nil or 0 reserves none.
	Reserved func(Config) int
	// Env: variables of internal/config beyond sharedEnv, set to their
	// defaults there.
	Env []string
}

// Memory: the functions are small Go binaries that wait on DynamoDB and
// Stripe; 256 MB is far above their heap and buys a proportionally larger CPU
// share (faster cold starts and TLS handshakes) for little cost.
var defaultSpec = fnSpec{TimeoutSec: 15, MemoryMB: 256}

var functionSpecs = map[string]fnSpec{
	// API functions: a request makes a few DynamoDB round trips and at most
	// one or two Stripe calls; 15 s leaves room for Stripe's slow tail and
	// the SDK's retries while staying under the HTTP API's 30 s
	// integration timeout, so a hung call ends as our 5xx, not a gateway 503.
	routes.Billing:   {Description: "Billing contact, card and auto-refill settings", TimeoutSec: 15, MemoryMB: 256, StripeKey: true},
	routes.Purchases: {Description: "Catalog, manual purchases, purchase history, balance and ledger", TimeoutSec: 15, MemoryMB: 256, StripeKey: true},
	// Stripe waits about 10-20 s for a webhook answer and retries on a
	// timeout; processing one event is a few round trips, so 15 s.
	routes.StripeWebhook: {Description: "Verified Stripe webhook events", TimeoutSec: 15, MemoryMB: 256, StripeKey: true, WebhookSecret: true},
	// A stream batch (up to 25 records) or a sweep page makes one off-session
	// charge per partner, paced at SWEEP_STRIPE_RATE calls per second: 60 s.
	// Reserved concurrency caps parallel refills so they cannot outrun
	// Stripe's rate limit (100 live requests/s shared with the API).
	routes.AutoRefill: {Description: "Automatic refills from the balance stream and the sweep", TimeoutSec: 60, MemoryMB: 256, StripeKey: true,
		Reserved: func(c Config) int { return c.AutoRefillConcurrency },
		Env:      []string{config.EnvSweepStripeRate, config.EnvRefillMaxPackages}},
	// A usage report has up to 500 records; its worst case is 500 new
	// partners, each a profile read, the creation transaction, a balance
	// read and a usage transaction (about 50 ms), 16 partners at a time:
	// 32 rounds, under 2 s. 25 s leaves room for throttling and retries
	// and still ends before the HTTP API's 30 s integration timeout, so a
	// slow table answers with this API's 503, not the gateway's. Reserved
	// concurrency bounds the table writes usage can make at once
	// (docs/ARCHITECTURE.md, "Access patterns and round trips").
	routes.Usage: {Description: "Daily DSU consumption reported by the sync platform", TimeoutSec: 25, MemoryMB: 256,
		Reserved: func(c Config) int { return c.UsageConcurrency }},
	// Operator routes: verify reads a partner's whole ledger and asks
	// Stripe about each purchase of 90 days, one call after another; 25 s
	// ends before the HTTP API's 30 s.
	routes.Admin: {Description: "Operator routes: show, adjust, release dispute holds, verify", TimeoutSec: 25, MemoryMB: 256, StripeKey: true},
}

func specFor(fn string) fnSpec {
	if s, ok := functionSpecs[fn]; ok {
		return s
	}
	s := defaultSpec
	s.Description = "DSU Billing " + fn
	return s
}

// dynamoActions are the only DynamoDB actions a function may call: the
// store's API (internal/dynamo.API). TransactWriteItems is not an IAM
// action; a transaction is authorized per item by PutItem, UpdateItem,
// DeleteItem and ConditionCheckItem. Query also runs on the GSI.
var dynamoActions = []string{
	"dynamodb:GetItem",
	"dynamodb:PutItem",
	"dynamodb:UpdateItem",
	"dynamodb:DeleteItem",
	"dynamodb:ConditionCheckItem",
	"dynamodb:Query",
}
