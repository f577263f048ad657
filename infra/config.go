package main

import (
	"cmp"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Context keys (`npx cdk synth -c key=value`, or "context" in cdk.json).
// docs/DEPLOYMENT.md documents each of them.
const (
	CtxStage                  = "stage"                  // dev (default), staging, prod, …
	CtxStackName              = "stackName"              // default DsuBilling-<stage>
	CtxJWTIssuer              = "jwtIssuer"              // the portal's OIDC issuer; none → a Cognito user pool
	CtxJWTAudience            = "jwtAudience"            // comma-separated audiences (client ids); required with jwtIssuer
	CtxPortalOrigin           = "portalOrigin"           // comma-separated CORS origins of the portal
	CtxAlarmEmail             = "alarmEmail"             // optional e-mail subscribed to the alarm topic
	CtxCodeDir                = "codeDir"                // where dist/<fn>/bootstrap lives (default dist)
	CtxSkipBuild              = "skipBuild"              // true: use codeDir as it is, build nothing
	CtxAutoRefillConcurrency  = "autorefillConcurrency"  // reserved concurrency of autorefill (default 5, 0 = none)
	CtxUsageConcurrency       = "usageConcurrency"       // reserved concurrency of usage (default 3, 0 = none)
	CtxUsageReporterPrincipal = "usageReporterPrincipal" // account id or ARN allowed to assume the usage reporter role
	CtxOperatorPrincipal      = "operatorPrincipal"      // account id or ARN allowed to assume the operator role
)

// Defaults.
const (
	DefaultStage               = "dev"
	DefaultCodeDir             = "dist"
	DefaultDevPortalOrigin     = "http://localhost:3000"
	DefaultAutoRefillReserved  = 5
	DefaultUsageReserved       = 3
	stackNamePrefix            = "DsuBilling-"
	productionStageName        = "prod"
	productionStageAlternative = "production"
)

// Config is everything the stack is built from.
type Config struct {
	StackName string
	Stage     string

	// JWTIssuer and JWTAudience configure the portal's JWT authorizer. With
	// no issuer the stack creates a Cognito user pool and uses it.
	JWTIssuer   string
	JWTAudience []string

	PortalOrigins []string
	AlarmEmail    string

	// CodeDir holds one directory per function with its bootstrap binary.
	CodeDir   string
	SkipBuild bool

	// AutoRefillConcurrency is the reserved concurrency of autorefill; 0
	// reserves none (accounts with the default concurrency quota of 10
	// cannot reserve any).
	AutoRefillConcurrency int
	// UsageConcurrency is the reserved concurrency of usage: at most this
	// many usage reports run at once, each writing for at most
	// wiring.UsageParallelPartners partners at a time, so a flood of usage
	// cannot take the table's capacity from purchases. 0 reserves none.
	UsageConcurrency int

	// UsageReporterPrincipal may assume the role that can call the
	// IAM-authorized routes: a 12-digit account id or an IAM ARN. Empty
	// means the stack's own account.
	UsageReporterPrincipal string
	// OperatorPrincipal may assume the role that can call the operator
	// routes (/v1/admin/*): an account id or an IAM ARN, such as the
	// on-call engineers' SSO role. Empty means the stack's own account.
	OperatorPrincipal string

	// Routes is the HTTP route table; nil means routes.All.
	Routes []routes.Route
}

// Prod reports whether the stage is a production stage: retained data,
// deletion protection, longer log retention.
func (c Config) Prod() bool {
	return c.Stage == productionStageName || c.Stage == productionStageAlternative
}

// RouteTable is the route table the API is generated from.
func (c Config) RouteTable() []routes.Route {
	if c.Routes == nil {
		return routes.All
	}
	return c.Routes
}

var (
	stageRe   = regexp.MustCompile(`^[a-z][a-z0-9-]{0,19}$`)
	accountRe = regexp.MustCompile(`^\d{12}$`)
)

// ConfigFromContext reads the configuration from CDK context values
// (app.Node().TryGetContext).
func ConfigFromContext(get func(key *string) interface{}) (Config, error) {
	str := func(key string) string {
		v := get(&key)
		if v == nil {
			return ""
		}
		return strings.TrimSpace(fmt.Sprint(v))
	}
	stage := cmp.Or(str(CtxStage), DefaultStage)
	c := Config{
		Stage:                  stage,
		StackName:              cmp.Or(str(CtxStackName), stackNamePrefix+stage),
		JWTIssuer:              str(CtxJWTIssuer),
		JWTAudience:            config.SplitList(str(CtxJWTAudience)),
		PortalOrigins:          config.SplitList(str(CtxPortalOrigin)),
		AlarmEmail:             str(CtxAlarmEmail),
		CodeDir:                cmp.Or(str(CtxCodeDir), DefaultCodeDir),
		UsageReporterPrincipal: str(CtxUsageReporterPrincipal),
		OperatorPrincipal:      str(CtxOperatorPrincipal),
		AutoRefillConcurrency:  DefaultAutoRefillReserved,
		UsageConcurrency:       DefaultUsageReserved,
	}
	var errs []string
	if s := str(CtxSkipBuild); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			errs = append(errs, CtxSkipBuild+" must be true or false")
		}
		c.SkipBuild = b
	}
	for key, dst := range map[string]*int{CtxAutoRefillConcurrency: &c.AutoRefillConcurrency, CtxUsageConcurrency: &c.UsageConcurrency} {
		if s := str(key); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 0 {
				errs = append(errs, key+" must be a whole number ≥ 0")
			}
			*dst = n
		}
	}
	if len(c.PortalOrigins) == 0 && !c.Prod() {
		c.PortalOrigins = []string{DefaultDevPortalOrigin}
	}
	if err := c.Validate(); err != nil {
		errs = append(errs, err.Error())
	}
	if len(errs) > 0 {
		return Config{}, fmt.Errorf("context: %s", strings.Join(errs, "; "))
	}
	return c, nil
}

// Validate checks a configuration built in code (tests) or from context.
func (c Config) Validate() error {
	var errs []string
	if !stageRe.MatchString(c.Stage) {
		errs = append(errs, CtxStage+" must be lower-case letters, digits and dashes, starting with a letter")
	}
	if c.JWTIssuer != "" && !strings.HasPrefix(c.JWTIssuer, "https://") {
		errs = append(errs, CtxJWTIssuer+" must be an https:// URL")
	}
	if c.JWTIssuer != "" && len(c.JWTAudience) == 0 {
		errs = append(errs, CtxJWTAudience+" is required with "+CtxJWTIssuer)
	}
	if c.JWTIssuer == "" && len(c.JWTAudience) > 0 {
		errs = append(errs, CtxJWTAudience+" needs "+CtxJWTIssuer+" (without both the stack creates a Cognito user pool)")
	}
	if len(c.PortalOrigins) == 0 {
		errs = append(errs, CtxPortalOrigin+" is required for the stage "+c.Stage)
	}
	for _, o := range c.PortalOrigins {
		if !strings.HasPrefix(o, "https://") && !strings.HasPrefix(o, "http://localhost") && !strings.HasPrefix(o, "http://127.0.0.1") {
			errs = append(errs, CtxPortalOrigin+" "+o+" must be an https:// origin (http only for localhost)")
		}
		if strings.HasSuffix(o, "/") {
			errs = append(errs, CtxPortalOrigin+" "+o+" must not end with a slash")
		}
	}
	if c.AutoRefillConcurrency < 0 {
		errs = append(errs, CtxAutoRefillConcurrency+" must be ≥ 0")
	}
	if c.UsageConcurrency < 0 {
		errs = append(errs, CtxUsageConcurrency+" must be ≥ 0")
	}
	if c.CodeDir == "" {
		errs = append(errs, CtxCodeDir+" is empty")
	}
	for key, p := range map[string]string{CtxUsageReporterPrincipal: c.UsageReporterPrincipal, CtxOperatorPrincipal: c.OperatorPrincipal} {
		if p != "" && !accountRe.MatchString(p) && !strings.HasPrefix(p, "arn:") {
			errs = append(errs, key+" must be a 12-digit account id or an IAM ARN")
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}
