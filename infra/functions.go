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
	config.EnvCursorKeyARN,
}

// PartnerAttribute is the Cognito custom attribute behind the partner
// claim: Cognito puts a custom attribute "x" into tokens as "custom:x".
var PartnerAttribute = strings.TrimPrefix(config.DefaultPartnerClaim, cognitoCustomPrefix)

const cognitoCustomPrefix = "custom:"

// fnSpec is how one function is deployed. Every function of
// routes.Functions is deployed; one without an entry here gets defaultSpec,
// so a new function is one line in routes.Functions (plus one here when it
// needs more than the defaults, such as any access to the table).
type fnSpec struct {
	Description string
	TimeoutSec  int
	MemoryMB    int
	// Table is what the function may do on the table: exactly the calls
	// its code can make, which TestTableAccessIsWhatTheCodeCalls derives
	// from the code itself.
	Table TableAccess
	// Stripe is the permissions of the function's own restricted Stripe key
	// (docs/DEPLOYMENT.md, "Stripe keys and their permissions"), by
	// resource: exactly the calls its code can make, which
	// TestStripePermissionsAreWhatTheCodeCalls derives from the code. A
	// function with none gets no Stripe secret at all.
	Stripe map[string]StripeAccess
	// WebhookSecret: the function verifies Stripe signatures.
	WebhookSecret bool
	// Reserved is the function's reserved concurrency from the stack's
	// configuration; nil or 0 reserves none.
	Reserved func(Config) int
	// Env: variables of internal/config beyond sharedEnv, set to their
	// defaults there.
	Env []string
}

// TableAccess is what a function may do on the table.
type TableAccess struct {
	// Actions are IAM actions on the table. A TransactWriteItems is
	// authorized per item, by the item's PutItem, UpdateItem, DeleteItem or
	// ConditionCheckItem: there is no IAM action of its own.
	Actions []string
	// SweepIndex: the function queries the sparse sweep index.
	SweepIndex bool
}

// StripeAccess is a restricted key's permission on one Stripe resource.
// Write includes read.
type StripeAccess string

const (
	StripeRead  StripeAccess = "Read"
	StripeWrite StripeAccess = "Write"
)

// The Stripe resources of the restricted keys, as the Dashboard names them.
const (
	stripeCustomers      = "Customers"
	stripeSetupIntents   = "SetupIntents"
	stripePaymentMethods = "PaymentMethods"
	stripePaymentIntents = "PaymentIntents"
	stripeRefunds        = "Refunds"
	stripeCharges        = "Charges"
)

// Table actions.
const (
	ddbGetItem            = "dynamodb:GetItem"
	ddbBatchGetItem       = "dynamodb:BatchGetItem"
	ddbQuery              = "dynamodb:Query"
	ddbPutItem            = "dynamodb:PutItem"
	ddbUpdateItem         = "dynamodb:UpdateItem"
	ddbDeleteItem         = "dynamodb:DeleteItem"
	ddbConditionCheckItem = "dynamodb:ConditionCheckItem"
)

// Memory: the functions are small Go binaries that wait on DynamoDB and
// Stripe; 256 MB is far above their heap and buys a proportionally larger CPU
// share (faster cold starts and TLS handshakes) for little cost.
var defaultSpec = fnSpec{TimeoutSec: 15, MemoryMB: 256}

var functionSpecs = map[string]fnSpec{
	// API functions: a request makes a few DynamoDB round trips and at most
	// one or two Stripe calls; 15 s leaves room for Stripe's slow tail and
	// the SDK's retries while staying under the HTTP API's 30 s
	// integration timeout, so a hung call ends as our 5xx, not a gateway 503.
	routes.Billing: {Description: "Billing contact, card and auto-refill settings", TimeoutSec: 15, MemoryMB: 256,
		// ConditionCheckItem: saving a card with no plan to resume checks
		// the account's version instead of writing it.
		Table: TableAccess{Actions: []string{ddbGetItem, ddbQuery, ddbPutItem, ddbConditionCheckItem}},
		// The customer and its default card; SetupIntents to save a card;
		// reading a card's details and detaching a replaced card.
		Stripe: map[string]StripeAccess{stripeCustomers: StripeWrite, stripeSetupIntents: StripeWrite, stripePaymentMethods: StripeWrite}},
	routes.Purchases: {Description: "Catalog, manual purchases, purchase history, balance and ledger", TimeoutSec: 15, MemoryMB: 256,
		// BatchGetItem: a statement's purchases, one tenant's usage report.
		Table: TableAccess{Actions: []string{ddbGetItem, ddbBatchGetItem, ddbQuery, ddbPutItem, ddbUpdateItem}},
		// Create a PaymentIntent; read it back (confirm, resume a key) and
		// its charge's receipt.
		Stripe: map[string]StripeAccess{stripePaymentIntents: StripeWrite, stripeCharges: StripeRead}},
	// Stripe waits about 10-20 s for a webhook answer and retries on a
	// timeout; processing one event is a few round trips, so 15 s.
	routes.StripeWebhook: {Description: "Verified Stripe webhook events", TimeoutSec: 15, MemoryMB: 256, WebhookSecret: true,
		// ConditionCheckItem: as billing's, when setup_intent.succeeded saves a card.
		Table: TableAccess{Actions: []string{ddbGetItem, ddbPutItem, ddbConditionCheckItem}},
		// Card events (default card, replaced card, card details, a
		// SetupIntent's creation time), the refunds of a charge, and the
		// full refund of a double charge.
		Stripe: map[string]StripeAccess{stripeCustomers: StripeWrite, stripePaymentMethods: StripeWrite, stripeSetupIntents: StripeRead, stripeRefunds: StripeWrite}},
	// A stream batch (up to 25 records) or a sweep page makes one off-session
	// charge per partner, paced at SWEEP_STRIPE_RATE calls per second: 60 s.
	// Reserved concurrency caps parallel refills so they cannot outrun
	// Stripe's rate limit (100 live requests/s shared with the API).
	routes.AutoRefill: {Description: "Automatic refills from the balance stream and the sweep", TimeoutSec: 60, MemoryMB: 256,
		Table: TableAccess{Actions: []string{ddbGetItem, ddbQuery, ddbPutItem, ddbUpdateItem}, SweepIndex: true},
		// Off-session PaymentIntents; finding, reading and canceling them to
		// reconcile (abandoned manual purchases); their charges' receipts;
		// detaching replaced cards the sweep retries.
		Stripe:   map[string]StripeAccess{stripePaymentIntents: StripeWrite, stripeCharges: StripeRead, stripePaymentMethods: StripeWrite},
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
		Table:    TableAccess{Actions: []string{ddbGetItem, ddbBatchGetItem, ddbPutItem}},
		Reserved: func(c Config) int { return c.UsageConcurrency }},
	// Operator routes: verify reads a partner's whole ledger and asks
	// Stripe about each purchase of 90 days, one call after another; 25 s
	// ends before the HTTP API's 30 s.
	routes.Admin: {Description: "Operator routes: show, adjust, release dispute holds, verify", TimeoutSec: 25, MemoryMB: 256,
		Table: TableAccess{Actions: []string{ddbGetItem, ddbQuery, ddbPutItem}},
		// verify reads each purchase's PaymentIntent.
		Stripe: map[string]StripeAccess{stripePaymentIntents: StripeRead}},
}

func specFor(fn string) fnSpec {
	if s, ok := functionSpecs[fn]; ok {
		return s
	}
	s := defaultSpec
	s.Description = "DSU Billing " + fn
	return s
}

// callsStripe reports whether the function gets a Stripe key.
func (s fnSpec) callsStripe() bool { return len(s.Stripe) > 0 }
