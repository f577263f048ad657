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
// burst. HTTP API limits apply to all callers of a route together: they
// protect Stripe, the table and the functions, not one partner from
// another (docs/ARCHITECTURE.md, "Throttling").
type Throttle struct{ Rate, Burst float64 }

// stageThrottle is the stage's default, for any route without its own
// (every route of the table gets one from throttleFor).
var stageThrottle = Throttle{Rate: 100, Burst: 200}

// routeThrottles are per-route limits by route key; routes not listed get
// throttleFor's class default. Keys not in the route table are ignored (a
// stage cannot name a route that does not exist). The traffic they are
// sized for is in docs/ARCHITECTURE.md, "Throttling".
var routeThrottles = map[string]Throttle{
	// Each creates a PaymentIntent (a Stripe write; Stripe allows 100 live
	// writes per second for the whole account, shared with refills and card
	// flows) or reads one back. 40/s is 40 times the design peak of manual
	// purchases, so the shared bucket takes a deliberate flood to empty;
	// the handler's per-partner limit (dsu.ManualPurchasesPerPartner) keeps
	// any one partner's purchases to 10 a minute, whatever the bucket lets
	// through.
	"POST /v1/purchases":              {Rate: 40, Burst: 80},
	"POST /v1/purchases/{id}/confirm": {Rate: 40, Burst: 80},
	// A SetupIntent per card change: rare.
	"POST /v1/billing/card/setup-intent": {Rate: 10, Burst: 20},
	// Stripe delivers a burst when many refills settle at once (the sweep
	// starts up to SWEEP_STRIPE_RATE = 20 per second) or after an outage; a
	// throttled event is only retried later. Unauthenticated (Stripe signs
	// it), so the limit also bounds what junk traffic costs.
	"POST /v1/stripe/webhook": {Rate: 100, Burst: 200},
	// The sync platform reports up to 500 records per request; usage's
	// reserved concurrency (3) bounds the table writes, this the queue.
	"POST /v1/internal/usage": {Rate: 10, Burst: 20},
}

// throttleFor is a route's limit: its own entry, else writes 10/20 (a
// settings change is a handful per partner per month) and reads 50/100
// (the portal's pages, about 25 times the design peak).
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
	// Retry-After of a 429 too_many_requests, which a browser hides from
	// the portal's script unless exposed.
	corsExposeHeaders = []string{"retry-after"}
	corsAllowMethods  = []awsapigatewayv2.CorsHttpMethod{
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
			AllowOrigins:  jsii.Strings(cfg.PortalOrigins...),
			AllowHeaders:  jsii.Strings(corsAllowHeaders...),
			ExposeHeaders: jsii.Strings(corsExposeHeaders...),
			AllowMethods:  &corsAllowMethods,
			MaxAge:        awscdk.Duration_Hours(jsii.Number(1)),
		},
		CreateDefaultStage: jsii.Bool(true),
	})

	jwt, err := s.jwtAuthorizer(cfg, removal)
	if err != nil {
		return err
	}
	integrations := map[string]awsapigatewayv2integrations.HttpLambdaIntegration{}
	var reporterRoutes, operatorRoutes []routes.Route
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
			if isOperatorRoute(r) {
				operatorRoutes = append(operatorRoutes, r)
			} else {
				reporterRoutes = append(reporterRoutes, r)
			}
		case routes.AuthNone:
			auth = awsapigatewayv2.NewHttpNoneAuthorizer()
		default:
			return fmt.Errorf("route %s: unknown auth %q", r.Key(), r.Auth)
		}
		if isOperatorRoute(r) && r.Auth != routes.AuthIAM {
			return fmt.Errorf("route %s: an operator route must use IAM authorization, not %q", r.Key(), r.Auth)
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
			if r.Auth == routes.AuthNone {
				nagSuppress(rt, nag("AwsSolutions-APIG4",
					"Stripe calls this route and cannot present a JWT or a SigV4 signature: every request is authenticated by its Stripe-Signature header (an HMAC with the webhook secret, 300 s tolerance), which the function verifies before reading the body (docs/RULES.md, \"Webhook verification\")."))
			}
		}
		t := throttleFor(r)
		routeSettings[r.Key()] = map[string]interface{}{"ThrottlingRateLimit": t.Rate, "ThrottlingBurstLimit": t.Burst}
	}

	// Access logs and throttling through the L1 stage (the L2 default stage
	// takes neither).
	s.AccessLogs = awslogs.NewLogGroup(stack, jsii.String("ApiAccessLogs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	cfnStage := stage.Node().DefaultChild().(awsapigatewayv2.CfnStage)
	cfnStage.SetAccessLogSettings(&awsapigatewayv2.CfnStage_AccessLogSettingsProperty{
		DestinationArn: s.AccessLogs.LogGroupArn(),
		Format:         jsii.String(accessLogFormat),
	})
	cfnStage.SetDefaultRouteSettings(&awsapigatewayv2.CfnStage_RouteSettingsProperty{
		ThrottlingRateLimit:  jsii.Number(stageThrottle.Rate),
		ThrottlingBurstLimit: jsii.Number(stageThrottle.Burst),
	})
	cfnStage.SetRouteSettings(routeSettings)

	if len(reporterRoutes) > 0 {
		s.addUsageReporterRole(cfg, reporterRoutes)
	}
	if len(operatorRoutes) > 0 {
		s.addOperatorRole(cfg, operatorRoutes)
	}
	return nil
}

// isOperatorRoute reports an operator route: IAM-authorized, callable by
// the operator role and no other role of the stack.
func isOperatorRoute(r routes.Route) bool { return strings.HasPrefix(r.Path, routes.AdminPrefix) }

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
			RequireDigits: jsii.Bool(true), RequireSymbols: jsii.Bool(true),
		},
		Mfa:                awscognito.Mfa_OPTIONAL,
		MfaSecondFactor:    &awscognito.MfaSecondFactor{Otp: jsii.Bool(true), Sms: jsii.Bool(false)},
		AccountRecovery:    awscognito.AccountRecovery_EMAIL_ONLY,
		DeletionProtection: jsii.Bool(cfg.Prod()),
		RemovalPolicy:      removal,
	})
	nagSuppress(pool,
		nag("AwsSolutions-COG2",
			"MFA (TOTP) is offered to every user. Requiring it is a decision for the portal's sign-in flow, which must then handle Cognito's MFA setup challenge; the pool is the fallback when the portal brings no identity provider of its own (docs/DEPLOYMENT.md, \"5. The portal's JWTs\")."),
		nag("AwsSolutions-COG8",
			"Threat protection needs the paid Plus feature plan. Users cannot sign up (operators create them with their partner id), passwords need 12 characters of four classes, and MFA is offered; the plan can be switched on per stage when the portal's audience grows."))
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
// the IAM-authorized routes other than the operators', allowed to invoke
// those routes and no others.
func (s *BillingStack) addUsageReporterRole(cfg Config, reporterRoutes []routes.Route) {
	role := s.invokeRole("UsageReporterRole", cfg.UsageReporterPrincipal, reporterRoutes,
		"Assumed by the sync platform to report DSU usage (IAM-authorized routes only)")
	awscdk.NewCfnOutput(s.Stack, jsii.String("UsageReporterRoleArn"), &awscdk.CfnOutputProps{
		Value:       role.RoleArn(),
		Description: jsii.String("Role the sync platform assumes to call POST /v1/internal/usage (SigV4, service execute-api)"),
	})
}

// addOperatorRole creates the role operators assume to call the operator
// routes (dsu-admin signs with it), allowed to invoke those and no others.
func (s *BillingStack) addOperatorRole(cfg Config, operatorRoutes []routes.Route) {
	s.OperatorRole = s.invokeRole("OperatorRole", cfg.OperatorPrincipal, operatorRoutes,
		"Assumed by DSU Billing operators to call the /v1/admin/* routes (dsu-admin) and nothing else")
	awscdk.NewCfnOutput(s.Stack, jsii.String("OperatorRoleArn"), &awscdk.CfnOutputProps{
		Value:       s.OperatorRole.RoleArn(),
		Description: jsii.String("Role operators assume to call the /v1/admin/* routes (SigV4, service execute-api)"),
	})
}

// invokeRole is a role principal may assume that may invoke exactly
// these routes of the API.
func (s *BillingStack) invokeRole(id, principal string, rs []routes.Route, description string) awsiam.Role {
	var p awsiam.IPrincipal
	switch {
	case principal == "":
		p = awsiam.NewAccountRootPrincipal()
	case accountRe.MatchString(principal):
		p = awsiam.NewAccountPrincipal(jsii.String(principal))
	default:
		p = awsiam.NewArnPrincipal(jsii.String(principal))
	}
	var arns []*string
	for _, r := range rs {
		arns = append(arns, s.API.ArnForExecuteApi(jsii.String(r.Method), jsii.String(pathWithWildcards(r.Path)), jsii.String("$default")))
	}
	role := awsiam.NewRole(s.Stack, jsii.String(id), &awsiam.RoleProps{
		AssumedBy:   p,
		Description: jsii.String(description),
	})
	role.AddToPolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Actions:   jsii.Strings("execute-api:Invoke"),
		Resources: &arns,
	}))
	// A route with a path parameter has a * in its ARN: suppress exactly
	// those ARNs.
	var wildcards []string
	for _, r := range rs {
		if p := pathWithWildcards(r.Path); p != r.Path {
			wildcards = append(wildcards, regexp.QuoteMeta(r.Method+p))
		}
	}
	if len(wildcards) > 0 {
		nagSuppressTree(role, nagRegex("AwsSolutions-IAM5",
			"Each * in these execute-api ARNs stands for one path parameter of the route (such as the partner id): the role may invoke exactly these routes, for any value of the parameter, and nothing else.",
			`/^Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<Api[0-9A-F]+>/\$default/(`+strings.Join(wildcards, "|")+`)$/`))
	}
	return role
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
