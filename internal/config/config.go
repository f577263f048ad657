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
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("configuration: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
