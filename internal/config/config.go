// Package config reads the functions' configuration from the environment.
// Every variable is listed in README.md; the CDK stack sets them in AWS and
// the local stack sets them for itself.
package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
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
	SweepStripeRate   float64 // SWEEP_STRIPE_RATE: refills the sweep starts per second
	RefillMaxPackages int64   // REFILL_MAX_PACKAGES: packages one automatic purchase may buy
}

// Getenv is os.Getenv or a map in tests.
type Getenv func(string) string

// FromEnv reads and validates the configuration.
func FromEnv(env Getenv) (Config, error) {
	c := Config{
		Table:            env("TABLE_NAME"),
		DynamoDBEndpoint: env("DYNAMODB_ENDPOINT"),
		LogLevel:         or(env("LOG_LEVEL"), "info"),
		PartnerClaim:     or(env("PARTNER_CLAIM"), "custom:partner_id"),
		GroupsClaim:      or(env("GROUPS_CLAIM"), "cognito:groups"),
		AdminGroup:       or(env("ADMIN_GROUP"), "billing-admin"),
		CursorKey:        env("CURSOR_KEY"),
	}
	var errs []string
	if c.Table == "" {
		errs = append(errs, "TABLE_NAME is required")
	}
	cur, err := dsu.ParseCurrency(strings.ToLower(or(env("DEFAULT_CURRENCY"), "usd")))
	if err != nil {
		errs = append(errs, "DEFAULT_CURRENCY: "+err.Error())
	}
	c.Partner.Currency = cur
	grant, err := strconv.ParseInt(or(env("WELCOME_GRANT_UNITS"), "2000"), 10, 64)
	if err != nil || grant < 0 {
		errs = append(errs, "WELCOME_GRANT_UNITS must be a whole number ≥ 0")
	}
	c.Partner.WelcomeGrant = grant
	if c.CatalogTTL, err = time.ParseDuration(or(env("CATALOG_CACHE_TTL"), "60s")); err != nil || c.CatalogTTL < 0 {
		errs = append(errs, "CATALOG_CACHE_TTL must be a duration such as 60s")
	}
	c.StripeSecretKey = env("STRIPE_SECRET_KEY")
	c.StripeSecretKeyARN = env("STRIPE_SECRET_KEY_ARN")
	c.StripeAPIBase = env("STRIPE_API_BASE")
	c.StripeWebhookSecrets = SplitSecrets(env("STRIPE_WEBHOOK_SECRET"))
	c.StripeWebhookSecretARN = env("STRIPE_WEBHOOK_SECRET_ARN")
	c.EventBusName = env("EVENT_BUS_NAME")
	if c.SweepStripeRate, err = strconv.ParseFloat(or(env("SWEEP_STRIPE_RATE"), "20"), 64); err != nil || c.SweepStripeRate <= 0 {
		errs = append(errs, "SWEEP_STRIPE_RATE must be a number of refills per second > 0")
	}
	if c.RefillMaxPackages, err = strconv.ParseInt(or(env("REFILL_MAX_PACKAGES"), "10"), 10, 64); err != nil || c.RefillMaxPackages < 1 {
		errs = append(errs, "REFILL_MAX_PACKAGES must be a whole number ≥ 1")
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// SplitSecrets reads a comma-separated list of webhook secrets, ignoring
// blanks (an empty secret would let anyone sign).
func SplitSecrets(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
