package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2authorizers"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2integrations"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Throttle is an API Gateway token bucket: steady requests per second and
// burst. HTTP API limits apply to all callers of a route together.
type Throttle struct{ Rate, Burst float64 }

// stageThrottle is the stage's default, for any route without its own.
var stageThrottle = Throttle{Rate: 100, Burst: 200}

// routeThrottles are per-route limits by route key; routes not listed get
// throttleFor's class default. Keys not in the route table are ignored (a
// stage cannot name a route that does not exist).
var routeThrottles = map[string]Throttle{
	// Creating purchases creates PaymentIntents: tight, so a runaway portal
	// or script cannot flood Stripe with charges.
	"POST /v1/purchases":                 {Rate: 5, Burst: 10},
	"POST /v1/purchases/{id}/confirm":    {Rate: 5, Burst: 10},
	"POST /v1/billing/card/setup-intent": {Rate: 5, Burst: 10},
	// Stripe delivers webhooks in bursts (retries after an outage): loose,
	// since a throttled webhook is only retried later.
	"POST /v1/stripe/webhook": {Rate: 50, Burst: 100},
	// The sync platform reports usage in batches of up to 500 records.
	"POST /v1/internal/usage": {Rate: 10, Burst: 20},
}

// throttleFor is a route's limit: its own entry, else writes 10/20 and
// reads 50/100.
func throttleFor(r routes.Route) Throttle {
	if t, ok := routeThrottles[r.Key()]; ok {
		return t
	}
	if r.Write() {
		return Throttle{Rate: 10, Burst: 20}
	}
	return Throttle{Rate: 50, Burst: 100}
}

// CORS for the portal: the headers and methods the API uses (docs/API.md).
var (
	corsAllowHeaders = []string{"authorization", "content-type", "idempotency-key"}
	corsAllowMethods = []awsapigatewayv2.CorsHttpMethod{
		awsapigatewayv2.CorsHttpMethod_GET, awsapigatewayv2.CorsHttpMethod_POST, awsapigatewayv2.CorsHttpMethod_PUT,
		awsapigatewayv2.CorsHttpMethod_DELETE, awsapigatewayv2.CorsHttpMethod_OPTIONS,
	}
)

// accessLogFormat is one JSON object per request ($context variables of
// HTTP APIs). It names no claims, tokens or bodies.
var accessLogFormat = mustJSON(map[string]string{
	"requestId":          "$context.requestId",
	"requestTime":        "$context.requestTime",
	"routeKey":           "$context.routeKey",
	"httpMethod":         "$context.httpMethod",
	"path":               "$context.path",
	"status":             "$context.status",
	"protocol":           "$context.protocol",
	"responseLength":     "$context.responseLength",
	"responseLatency":    "$context.responseLatency",
	"integrationLatency": "$context.integrationLatency",
	"integrationStatus":  "$context.integrationStatus",
	"integrationError":   "$context.integrationErrorMessage",
	"authorizerError":    "$context.authorizer.error",
	"errorMessage":       "$context.error.message",
	"sourceIp":           "$context.identity.sourceIp",
	"userAgent":          "$context.identity.userAgent",
})

func (s *BillingStack) addAPI(cfg Config, removal awscdk.RemovalPolicy, retention awslogs.RetentionDays) error {
	stack := s.Stack
	s.API = awsapigatewayv2.NewHttpApi(stack, jsii.String("Api"), &awsapigatewayv2.HttpApiProps{
		Description: jsii.String("DSU Billing API (" + cfg.Stage + ")"),
		CorsPreflight: &awsapigatewayv2.CorsPreflightOptions{
			AllowOrigins: jsii.Strings(cfg.PortalOrigins...),
			AllowHeaders: jsii.Strings(corsAllowHeaders...),
			AllowMethods: &corsAllowMethods,
			MaxAge:       awscdk.Duration_Hours(jsii.Number(1)),
		},
		CreateDefaultStage: jsii.Bool(true),
	})

	jwt, err := s.jwtAuthorizer(cfg, removal)
	if err != nil {
		return err
	}
	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	var iamRoutes []routes.Route
	routeSettings := map[string]interface{}{}
	stage := s.API.DefaultStage()
	for _, r := range cfg.RouteTable() {
		integ, ok := integrations[r.Function]
		if !ok {
			integ = awsapigatewayv2integrations.NewHttpLambdaIntegration(jsii.String(constructID(r.Function)+"Integration"), s.Functions[r.Function], nil)
			integrations[r.Function] = integ
		}
		var auth awsapigatewayv2.IHttpRouteAuthorizer
		switch r.Auth {
		case routes.AuthJWT:
			auth = jwt
		case routes.AuthIAM:
			auth = awsapigatewayv2authorizers.NewHttpIamAuthorizer()
			iamRoutes = append(iamRoutes, r)
		case routes.AuthNone:
			auth = awsapigatewayv2.NewHttpNoneAuthorizer()
		default:
			return fmt.Errorf("route %s: unknown auth %q", r.Key(), r.Auth)
		}
		created := s.API.AddRoutes(&awsapigatewayv2.AddRoutesOptions{
			Path:        jsii.String(r.Path),
			Methods:     &[]awsapigatewayv2.HttpMethod{awsapigatewayv2.HttpMethod(r.Method)},
			Integration: integ,
			Authorizer:  auth,
		})
		// The stage names the routes in its route settings: create them first.
		for _, rt := range *created {
			stage.Node().AddDependency(rt)
		}
		t := throttleFor(r)
		routeSettings[r.Key()] = map[string]interface{}{"ThrottlingRateLimit": t.Rate, "ThrottlingBurstLimit": t.Burst}
	}

	// Access logs and throttling through the L1 stage (the L2 default stage
	// takes neither).
	accessLogs := awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: accessLogs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})
	cfnStage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit:  jsii.Number(stageThrottle.Rate),
		ThrottlingBurstLimit: jsii.Number(stageThrottle.Burst),
	})
	cfnStage.SetRouteSettings(routeSettings)

	// Each IAM caller gets a role for its own routes only: the sync
	// platform the usage route, operators the operator routes.
	var internal, admin []routes.Route
	for _, r := range iamRoutes {
		switch {
		case strings.HasPrefix(r.Path, routes.InternalPrefix):
			internal = append(internal, r)
		case strings.HasPrefix(r.Path, routes.AdminPrefix):
			admin = append(admin, r)
		default:
			return fmt.Errorf("route %s: an IAM route neither internal nor operator has no caller role", r.Key())
		}
	}
	if len(internal) > 0 {
		s.addUsageReporterRole(cfg, internal)
	}
	if len(admin) > 0 {
		s.addOperatorRole(admin)
	}
	return nil
}

// addOperatorRole creates the role operators assume to call the operator
// routes (dsu-admin signs with it), allowed to invoke those routes and no
// others. Who may assume it is the account's to decide (its root
// principal delegates to IAM policies).
func (s *BillingStack) addOperatorRole(adminRoutes []routes.Route) {
	var arns []*string
	for _, r := range adminRoutes {
		arns = append(arns, s.API.ArnForExecuteApi(jsii.String(r.Method), jsii.String(pathWithWildcards(r.Path)), jsii.String("$default")))
	}
	role := awsiam.NewRole(s.Stack, jsii.String("OperatorRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewAccountRootPrincipal(),
		Description: jsii.String("Assumed by on-call operators to call the operator routes /v1/admin/* (dsu-admin)"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("execute-api:Invoke"),
		Resources: &arns,
	}))
	awscdk.NewCfnOutput(s.Stack, jsii.String("OperatorRoleArn"), &awscdk.CfnOutputProps{
		Value:       role.RoleArn(),
		Description: jsii.String("Role operators assume to call /v1/admin/* with dsu-admin (SigV4, service execute-api)"),
	})
}

// jwtAuthorizer is the portal's authorizer: the configured issuer and
// audience, or a Cognito user pool created here.
func (s *BillingStack) jwtAuthorizer(cfg Config, removal awscdk.RemovalPolicy) (awsapigatewayv2.IHttpRouteAuthorizer, error) {
	issuer, audience := cfg.JWTIssuer, cfg.JWTAudience
	if issuer == "" {
		s.addUserPool(cfg, removal)
		// The issuer (iss) of Cognito's tokens, as HttpUserPoolAuthorizer
		// builds it.
		issuer = "https://cognito-idp." + *s.Stack.Region() + "." + *s.Stack.UrlSuffix() + "/" + *s.UserPool.UserPoolId()
		audience = []string{*s.PortalClient.UserPoolClientId()}
	}
	return awsapigatewayv2authorizers.NewHttpJwtAuthorizer(jsii.String("PortalJwt"), jsii.String(issuer), &awsapigatewayv2authorizers.HttpJwtAuthorizerProps{
		AuthorizerName: jsii.String("portal-jwt"),
		JwtAudience:    jsii.Strings(audience...),
		IdentitySource: jsii.Strings("$request.header.Authorization"),
	}), nil
}

// addUserPool creates the portal's user pool: partners' users with the
// immutable custom attribute partner_id (claim custom:partner_id), the group
// billing-admin (claim cognito:groups), which are the default claims of
// internal/config, and an app client for the portal.
func (s *BillingStack) addUserPool(cfg Config, removal awscdk.RemovalPolicy) {
	pool := awscognito.NewUserPool(s.Stack, jsii.String("PortalUsers"), &awscognito.UserPoolProps{
		// Operators create users (AdminCreateUser) with their partner id; a
		// user can neither sign up nor change partner_id.
		SelfSignUpEnabled: jsii.Bool(false),
		SignInAliases:     &awscognito.SignInAliases{Email: jsii.Bool(true)},
		AutoVerify:        &awscognito.AutoVerifiedAttrs{Email: jsii.Bool(true)},
		CustomAttributes: &map[string]awscognito.ICustomAttribute{
			PartnerAttribute: awscognito.NewStringAttribute(&awscognito.StringAttributeProps{
				Mutable: jsii.Bool(false), MinLen: jsii.Number(1), MaxLen: jsii.Number(64),
			}),
		},
		PasswordPolicy: &awscognito.PasswordPolicy{
			MinLength: jsii.Number(12), RequireLowercase: jsii.Bool(true), RequireUppercase: jsii.Bool(true),
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(false),
		},
		Mfa:                awscognito.Mfa_OPTIONAL,
		MfaSecondFactor:    &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		DeletionProtection: jsii.Bool(cfg.Prod()),
		RemovalPolicy:      removal,
	})
	awscognito.NewCfnUserPoolGroup(s.Stack, jsii.String("BillingAdminGroup"), &awscognito.CfnUserPoolGroupProps{
		UserPoolId:  pool.UserPoolId(),
		GroupName:   jsii.String(config.DefaultAdminGroup),
		Description: jsii.String("May change billing settings and buy DSUs (POST, PUT, DELETE routes)"),
	})
	s.UserPool = pool
	s.PortalClient = pool.AddClient(jsii.String("PortalClient"), &awscognito.UserPoolClientOptions{
		// A browser app: no secret, SRP sign-in. The portal sends the ID
		// token (it carries custom:partner_id; its aud is this client).
		GenerateSecret:             jsii.Bool(false),
		AuthFlows:                  &awscognito.AuthFlow{UserSrp: jsii.Bool(true)},
		DisableOAuth:               jsii.Bool(true),
		PreventUserExistenceErrors: jsii.Bool(true),
		EnableTokenRevocation:      jsii.Bool(true),
		IdTokenValidity:            awscdk.Duration_Hours(jsii.Number(1)),
		AccessTokenValidity:        awscdk.Duration_Hours(jsii.Number(1)),
		RefreshTokenValidity:       awscdk.Duration_Days(jsii.Number(30)),
		// Users may not write custom:partner_id (it is immutable anyway).
		WriteAttributes: awscognito.NewClientAttributes().WithStandardAttributes(&awscognito.StandardAttributesMask{
			Email: jsii.Bool(true), Fullname: jsii.Bool(true), PhoneNumber: jsii.Bool(true),
		}),
	})
}

// addUsageReporterRole creates the role the sync platform assumes to call
// the IAM-authorized routes, allowed to invoke those routes and no others.
func (s *BillingStack) addUsageReporterRole(cfg Config, iamRoutes []routes.Route) {
	var principal awsiam.IPrincipal
	switch p := cfg.UsageReporterPrincipal; {
	case p == "":
		principal = awsiam.NewAccountRootPrincipal()
	case regexp.MustCompile(`^\d{12}$`).MatchString(p):
		principal = awsiam.NewAccountPrincipal(jsii.String(p))
	default:
		principal = awsiam.NewArnPrincipal(jsii.String(p))
	}
	var arns []*string
	for _, r := range iamRoutes {
		arns = append(arns, s.API.ArnForExecuteApi(jsii.String(r.Method), jsii.String(pathWithWildcards(r.Path)), jsii.String("$default")))
	}
	role := awsiam.NewRole(s.Stack, jsii.String("UsageReporterRole"), &awsiam.RoleProps{
		AssumedBy:   principal,
		Description: jsii.String("Assumed by the sync platform to report DSU usage (IAM-authorized routes only)"),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("execute-api:Invoke"),
		Resources: &arns,
	}))
	awscdk.NewCfnOutput(s.Stack, jsii.String("UsageReporterRoleArn"), &awscdk.CfnOutputProps{
		Value:       role.RoleArn(),
		Description: jsii.String("Role the sync platform assumes to call POST /v1/internal/usage (SigV4, service execute-api)"),
	})
}

var pathParam = regexp.MustCompile(`\{[^}]+\}`)

// pathWithWildcards turns /v1/x/{id} into /v1/x/* for an execute-api ARN.
func pathWithWildcards(p string) string { return pathParam.ReplaceAllString(p, "*") }

func mustJSON(v interface{}) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return strings.TrimSpace(string(b))
}
