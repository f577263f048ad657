// Package config reads the functions' configuration from the environment.
// Every variable is listed in README.md; the CDK stack sets them in AWS
// (from Default and Environment, so the names and defaults live here only)
// and the local stack sets them for itself.
package config

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

// The environment variables FromEnv reads.
const (
	EnvTableName              = "TABLE_NAME"
	EnvDynamoDBEndpoint       = "DYNAMODB_ENDPOINT"
	EnvLogLevel               = "LOG_LEVEL"
	EnvPartnerClaim           = "PARTNER_CLAIM"
	EnvGroupsClaim            = "GROUPS_CLAIM"
	EnvAdminGroup             = "ADMIN_GROUP"
	EnvDefaultCurrency        = "DEFAULT_CURRENCY"
	EnvWelcomeGrantUnits      = "WELCOME_GRANT_UNITS"
	EnvCatalogCacheTTL        = "CATALOG_CACHE_TTL"
	EnvCursorKey              = "CURSOR_KEY"
	EnvStripeSecretKey        = "STRIPE_SECRET_KEY"
	EnvStripeSecretKeyARN     = "STRIPE_SECRET_KEY_ARN"
	EnvStripeAPIBase          = "STRIPE_API_BASE"
	EnvStripeWebhookSecret    = "STRIPE_WEBHOOK_SECRET"
	EnvStripeWebhookSecretARN = "STRIPE_WEBHOOK_SECRET_ARN"
	EnvEventBusName           = "EVENT_BUS_NAME"
	EnvSweepStripeRate        = "SWEEP_STRIPE_RATE"
	EnvRefillMaxPackages      = "REFILL_MAX_PACKAGES"
)

// The values of unset variables.
const (
	DefaultLogLevel = "info"
	// The claims of a Cognito ID token: a custom attribute "x" arrives as
	// the claim "custom:x".
	DefaultPartnerClaim                = "custom:partner_id"
	DefaultGroupsClaim                 = "cognito:groups"
	DefaultAdminGroup                  = "billing-admin"
	DefaultCurrency                    = dsu.USD
	DefaultWelcomeGrantUnits dsu.Units = 2000
	DefaultCatalogTTL                  = 60 * time.Second
	DefaultSweepStripeRate             = 20.0
	DefaultRefillMaxPackages int64     = 10
)

// Config is the configuration shared by all functions.
type Config struct {
	Table            string // TABLE_NAME
	DynamoDBEndpoint string // DYNAMODB_ENDPOINT: an emulator instead of AWS
	LogLevel         string // LOG_LEVEL

	PartnerClaim string // PARTNER_CLAIM
	GroupsClaim  string // GROUPS_CLAIM
	AdminGroup   string // ADMIN_GROUP

	Partner    dsu.PartnerDefaults // DEFAULT_CURRENCY, WELCOME_GRANT_UNITS
	CatalogTTL time.Duration       // CATALOG_CACHE_TTL
	CursorKey  string              // CURSOR_KEY

	// Stripe. In AWS the secrets come from Secrets Manager (the *ARN
	// variables); the plain variables are for the local stack and tests.
	StripeSecretKey        string   // STRIPE_SECRET_KEY
	StripeSecretKeyARN     string   // STRIPE_SECRET_KEY_ARN
	StripeAPIBase          string   // STRIPE_API_BASE: stripe-mock instead of api.stripe.com
	StripeWebhookSecrets   []string // STRIPE_WEBHOOK_SECRET: one, or several comma-separated while rotating
	StripeWebhookSecretARN string   // STRIPE_WEBHOOK_SECRET_ARN

	EventBusName string // EVENT_BUS_NAME: domain events; empty logs them instead

	// The automated plan.
	SweepStripeRate   float64 // SWEEP_STRIPE_RATE: items the sweep takes to Stripe per second
	RefillMaxPackages int64   // REFILL_MAX_PACKAGES: packages one automatic purchase may buy
}

// Default is the configuration of an environment that sets no variable:
// every default, and no table (which FromEnv requires).
func Default() Config {
	return Config{
		LogLevel:          DefaultLogLevel,
		PartnerClaim:      DefaultPartnerClaim,
		GroupsClaim:       DefaultGroupsClaim,
		AdminGroup:        DefaultAdminGroup,
		Partner:           dsu.PartnerDefaults{Currency: DefaultCurrency, WelcomeGrant: DefaultWelcomeGrantUnits},
		CatalogTTL:        DefaultCatalogTTL,
		SweepStripeRate:   DefaultSweepStripeRate,
		RefillMaxPackages: DefaultRefillMaxPackages,
	}
}

// Getenv is os.Getenv or a map in tests.
type Getenv func(string) string

// FromEnv reads and validates the configuration. An unset (empty) variable
// has its value of Default.
func FromEnv(env Getenv) (Config, error) {
	c := Default()
	c.Table = env(EnvTableName)
	c.DynamoDBEndpoint = env(EnvDynamoDBEndpoint)
	c.LogLevel = cmp.Or(env(EnvLogLevel), c.LogLevel)
	c.PartnerClaim = cmp.Or(env(EnvPartnerClaim), c.PartnerClaim)
	c.GroupsClaim = cmp.Or(env(EnvGroupsClaim), c.GroupsClaim)
	c.AdminGroup = cmp.Or(env(EnvAdminGroup), c.AdminGroup)
	c.CursorKey = env(EnvCursorKey)
	c.StripeSecretKey = env(EnvStripeSecretKey)
	c.StripeSecretKeyARN = env(EnvStripeSecretKeyARN)
	c.StripeAPIBase = env(EnvStripeAPIBase)
	c.StripeWebhookSecrets = SplitSecrets(env(EnvStripeWebhookSecret))
	c.StripeWebhookSecretARN = env(EnvStripeWebhookSecretARN)
	c.EventBusName = env(EnvEventBusName)

	var errs []string
	if c.Table == "" {
		errs = append(errs, EnvTableName+" is required")
	}
	if v := env(EnvDefaultCurrency); v != "" {
		cur, err := dsu.ParseCurrency(strings.ToLower(v))
		if err != nil {
			errs = append(errs, EnvDefaultCurrency+": "+err.Error())
		}
		c.Partner.Currency = cur
	}
	if v := env(EnvWelcomeGrantUnits); v != "" {
		grant, err := strconv.ParseInt(v, 10, 64)
		if err != nil || grant < 0 {
			errs = append(errs, EnvWelcomeGrantUnits+" must be a whole number ≥ 0")
		}
		c.Partner.WelcomeGrant = grant
	}
	if v := env(EnvCatalogCacheTTL); v != "" {
		ttl, err := time.ParseDuration(v)
		if err != nil || ttl < 0 {
			errs = append(errs, EnvCatalogCacheTTL+" must be a duration such as 60s")
		}
		c.CatalogTTL = ttl
	}
	if v := env(EnvSweepStripeRate); v != "" {
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil || !(rate > 0) {
			errs = append(errs, EnvSweepStripeRate+" must be a number of refills per second > 0")
		}
		c.SweepStripeRate = rate
	}
	if v := env(EnvRefillMaxPackages); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			errs = append(errs, EnvRefillMaxPackages+" must be a whole number ≥ 1")
		}
		c.RefillMaxPackages = n
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// Environment is c as variables: FromEnv(Environment()) reads c back.
// Settings that are empty (unset) are left out. The CDK stack sets each
// function's variables from it, so the names and the spelling of the values
// are this package's alone.
func (c Config) Environment() map[string]string {
	env := map[string]string{}
	set := func(name, v string) {
		if v != "" {
			env[name] = v
		}
	}
	set(EnvTableName, c.Table)
	set(EnvDynamoDBEndpoint, c.DynamoDBEndpoint)
	set(EnvLogLevel, c.LogLevel)
	set(EnvPartnerClaim, c.PartnerClaim)
	set(EnvGroupsClaim, c.GroupsClaim)
	set(EnvAdminGroup, c.AdminGroup)
	set(EnvDefaultCurrency, string(c.Partner.Currency))
	set(EnvWelcomeGrantUnits, strconv.FormatInt(c.Partner.WelcomeGrant, 10))
	set(EnvCatalogCacheTTL, c.CatalogTTL.String())
	set(EnvCursorKey, c.CursorKey)
	set(EnvStripeSecretKey, c.StripeSecretKey)
	set(EnvStripeSecretKeyARN, c.StripeSecretKeyARN)
	set(EnvStripeAPIBase, c.StripeAPIBase)
	set(EnvStripeWebhookSecret, strings.Join(c.StripeWebhookSecrets, ","))
	set(EnvStripeWebhookSecretARN, c.StripeWebhookSecretARN)
	set(EnvEventBusName, c.EventBusName)
	set(EnvSweepStripeRate, strconv.FormatFloat(c.SweepStripeRate, 'g', -1, 64))
	set(EnvRefillMaxPackages, strconv.FormatInt(c.RefillMaxPackages, 10))
	return env
}

// SplitSecrets reads a comma-separated list of webhook secrets, ignoring
// blanks (an empty secret would let anyone sign).
func SplitSecrets(v string) []string { return SplitList(v) }

// SplitList reads a comma-separated list, trimming each element and
// ignoring blanks.
func SplitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
