package config

import (
	"strings"
	"testing"
	"time"

	"github.com/cirasync/dsubilling/internal/dsu"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestDefaults(t *testing.T) {
	c, err := FromEnv(env(map[string]string{"TABLE_NAME": "t"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.PartnerClaim != "custom:partner_id" || c.GroupsClaim != "cognito:groups" || c.AdminGroup != "billing-admin" {
		t.Errorf("claims %+v", c)
	}
	if c.Partner.WelcomeGrant != 2000 || c.Partner.Currency != dsu.USD || c.CatalogTTL != time.Minute {
		t.Errorf("defaults %+v", c)
	}
}

func TestInvalid(t *testing.T) {
	_, err := FromEnv(env(map[string]string{"DEFAULT_CURRENCY": "gbp", "WELCOME_GRANT_UNITS": "-1", "CATALOG_CACHE_TTL": "soon"}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"TABLE_NAME", "DEFAULT_CURRENCY", "WELCOME_GRANT_UNITS", "CATALOG_CACHE_TTL"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}
