package main

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/routes"
)

func ctxOf(m map[string]string) func(*string) interface{} {
	return func(k *string) interface{} {
		if v, ok := m[*k]; ok {
			return v
		}
		return nil
	}
}

func TestConfigDefaults(t *testing.T) {
	c, err := ConfigFromContext(ctxOf(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		StackName: "DsuBilling-dev", Stage: "dev", PortalOrigins: []string{DefaultDevPortalOrigin},
		CodeDir: "dist", AutoRefillConcurrency: 5, UsageConcurrency: 3,
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults\n got %+v\nwant %+v", c, want)
	}
	if c.Prod() || c.JWTIssuer != "" {
		t.Error("the default is a production stage or has an issuer")
	}
	if !reflect.DeepEqual(c.RouteTable(), routes.All) {
		t.Error("the default route table is not routes.All")
	}
}

func TestConfigFromContext(t *testing.T) {
	c, err := ConfigFromContext(ctxOf(map[string]string{
		CtxStage: "prod", CtxJWTIssuer: "https://idp.example.com", CtxJWTAudience: "a, b",
		CtxPortalOrigin: "https://portal.example.com,https://beta.example.com", CtxAlarmEmail: "x@example.com",
		CtxSkipBuild: "true", CtxCodeDir: "/tmp/x", CtxAutoRefillConcurrency: "0", CtxUsageReporterPrincipal: "arn:aws:iam::111122223333:role/sync",
		CtxStackName: "Billing", CtxOperatorPrincipal: "111122223333",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		StackName: "Billing", Stage: "prod", JWTIssuer: "https://idp.example.com", JWTAudience: []string{"a", "b"},
		PortalOrigins: []string{"https://portal.example.com", "https://beta.example.com"}, AlarmEmail: "x@example.com",
		CodeDir: "/tmp/x", SkipBuild: true, AutoRefillConcurrency: 0, UsageConcurrency: 3, UsageReporterPrincipal: "arn:aws:iam::111122223333:role/sync",
		OperatorPrincipal: "111122223333",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("\n got %+v\nwant %+v", c, want)
	}
	if !c.Prod() {
		t.Error("prod is not a production stage")
	}
}

func TestConfigRejects(t *testing.T) {
	for name, ctx := range map[string]map[string]string{
		"prod without portal origin": {CtxStage: "prod"},
		"issuer without audience":    {CtxJWTIssuer: "https://idp.example.com"},
		"audience without issuer":    {CtxJWTAudience: "x"},
		"http issuer":                {CtxJWTIssuer: "http://idp.example.com", CtxJWTAudience: "x"},
		"http origin":                {CtxPortalOrigin: "http://portal.example.com"},
		"origin with a slash":        {CtxPortalOrigin: "https://portal.example.com/"},
		"bad stage":                  {CtxStage: "Prod_1"},
		"bad skipBuild":              {CtxSkipBuild: "maybe"},
		"bad concurrency":            {CtxAutoRefillConcurrency: "five"},
		"bad operator principal":     {CtxOperatorPrincipal: "oncall"},
		"bad reporter principal":     {CtxUsageReporterPrincipal: "12345"},
	} {
		if _, err := ConfigFromContext(ctxOf(ctx)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestFunctionSpecsNameRealFunctions(t *testing.T) {
	for fn := range functionSpecs {
		if !contains(routes.Functions, fn) {
			t.Errorf("functionSpecs has %s, which routes.Functions lacks", fn)
		}
	}
	if s := specFor("newfunction"); s.TimeoutSec == 0 || s.MemoryMB == 0 || s.callsStripe() {
		t.Errorf("a new function's default spec %+v", s)
	}
	if got := constructID(routes.StripeWebhook); got != "StripewebhookFunction" {
		t.Errorf("constructID = %s", got)
	}
}

func TestBuildFunctionsNeedsEveryMainPackage(t *testing.T) {
	root := t.TempDir()
	err := BuildFunctions(root, "dist", os.Stderr)
	if err == nil {
		t.Fatal("built functions that do not exist")
	}
	for _, fn := range routes.Functions {
		if !strings.Contains(err.Error(), "functions/"+fn) {
			t.Errorf("error %q does not name functions/%s", err, fn)
		}
	}
	if _, statErr := os.Stat(filepath.Join(root, "dist")); statErr == nil {
		t.Error("created dist although nothing could be built")
	}
}

func TestBuildFlags(t *testing.T) {
	// docs/DEPLOYMENT.md: the flags of `make build`, plus -buildvcs=false for stable hashes.
	got := strings.Join(BuildFlags, " ")
	for _, want := range []string{"-tags lambda.norpc", "-trimpath", "-ldflags -s -w", "-buildvcs=false"} {
		if !strings.Contains(got, want) {
			t.Errorf("build flags %q lack %q", got, want)
		}
	}
}

func TestCDKJSON(t *testing.T) {
	ctx, err := cdkJSONContext()
	if err != nil {
		t.Fatal(err)
	}
	if len(ctx) == 0 {
		t.Error("cdk.json has no feature flags")
	}
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"app": "go run ./infra"`) {
		t.Errorf("cdk.json does not run go run ./infra")
	}
}
