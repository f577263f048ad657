package config

import (
	"reflect"
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
	if c.LogLevel != "info" || c.SweepStripeRate != 20 || c.RefillMaxPackages != 10 {
		t.Errorf("defaults %+v", c)
	}
	want := Default()
	want.Table = "t"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("FromEnv of only the table\n got %+v\nwant Default() %+v", c, want)
	}
}

func TestInvalid(t *testing.T) {
	_, err := FromEnv(env(map[string]string{
		"DEFAULT_CURRENCY": "gbp", "WELCOME_GRANT_UNITS": "-1", "CATALOG_CACHE_TTL": "soon",
		"SWEEP_STRIPE_RATE": "NaN", "REFILL_MAX_PACKAGES": "0",
	}))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"TABLE_NAME", "DEFAULT_CURRENCY", "WELCOME_GRANT_UNITS", "CATALOG_CACHE_TTL", "SWEEP_STRIPE_RATE", "REFILL_MAX_PACKAGES"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s: %v", want, err)
		}
	}
}

// The CDK stack deploys Environment(); what the functions read back must be
// the configuration it was rendered from.
func TestEnvironmentReadsBack(t *testing.T) {
	deployed := Default()
	deployed.Table = "DsuBilling-dev-Table-1X2Y3Z"
	everything := Config{
		Table: "t", DynamoDBEndpoint: "http://127.0.0.1:8000", LogLevel: "debug",
		PartnerClaim: "partner", GroupsClaim: "groups", AdminGroup: "admins",
		Partner:    dsu.PartnerDefaults{Currency: dsu.EUR, WelcomeGrant: 0},
		CatalogTTL: 90 * time.Second, CursorKey: "cursor-key",
		CursorKeyARN:    "arn:aws:secretsmanager:eu-west-1:123456789012:secret:cursor-AbCdEf",
		StripeSecretKey: "sk_test_1", StripeSecretKeyARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:key-AbCdEf",
		StripeAPIBase: "http://127.0.0.1:12111", StripeWebhookSecrets: []string{"whsec_new", "whsec_old"},
		StripeWebhookSecretARN: "arn:aws:secretsmanager:eu-west-1:123456789012:secret:hook-AbCdEf",
		EventBusName:           "bus", SweepStripeRate: 2.5, RefillMaxPackages: 3,
	}
	for name, c := range map[string]Config{"defaults": deployed, "every setting": everything} {
		t.Run(name, func(t *testing.T) {
			vars := c.Environment()
			read := map[string]bool{}
			got, err := FromEnv(func(name string) string { read[name] = true; return vars[name] })
			if err != nil {
				t.Fatalf("%v\nenvironment %v", err, vars)
			}
			for name := range vars {
				if !read[name] {
					t.Errorf("Environment renders %s, which FromEnv never reads", name)
				}
			}
			if !reflect.DeepEqual(got, c) {
				t.Errorf("read back\n got %+v\nwant %+v\nenvironment %v", got, c, vars)
			}
		})
	}
	// Unset settings are left out, not rendered as empty variables.
	vars := deployed.Environment()
	for _, unset := range []string{EnvDynamoDBEndpoint, EnvCursorKey, EnvCursorKeyARN, EnvStripeSecretKey, EnvStripeSecretKeyARN, EnvStripeAPIBase, EnvStripeWebhookSecret, EnvStripeWebhookSecretARN, EnvEventBusName} {
		if v, ok := vars[unset]; ok {
			t.Errorf("unset %s rendered as %q", unset, v)
		}
	}
}

func TestSplitList(t *testing.T) {
	for in, want := range map[string][]string{
		"":                nil,
		" , ,":            nil,
		"a":               {"a"},
		" a , b ,, c ":    {"a", "b", "c"},
		"whsec_1,whsec_2": {"whsec_1", "whsec_2"},
	} {
		if got := SplitList(in); !reflect.DeepEqual(got, want) {
			t.Errorf("SplitList(%q) = %q, want %q", in, got, want)
		}
	}
}
