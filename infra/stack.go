package main

import (
	"fmt"
	"path/filepath"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsapigatewayv2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscognito"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambdaeventsources"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/routes"
)

// Stream trigger and sweep settings of autorefill (docs/DEPLOYMENT.md).
const (
	refillBatchSize      = 25 // one refill per record; bounded by the 60 s timeout at SWEEP_STRIPE_RATE
	refillRetryAttempts  = 5  // bounded: a poisoned record cannot block its shard for long
	refillMaxRecordAge   = 1  // hours; older balance changes are left to the sweep
	sweepIntervalMinutes = 5
	failureRetentionDays = 14 // the SQS maximum: time for an operator to look
	cursorKeyLength      = 64 // characters of the generated cursor key (letters and digits)
)

// BillingStack is the whole deployment: one stack per stage.
type BillingStack struct {
	awscdk.Stack
	Config    Config
	Table     awsdynamodb.Table
	Functions map[string]awslambda.Function
	LogGroups map[string]awslogs.LogGroup
	API       awsapigatewayv2.HttpApi
	// AccessLogs holds the API's access log, one JSON line per request
	// (accessLogFormat).
	AccessLogs awslogs.LogGroup
	EventBus   awsevents.EventBus
	// StripeKeys are the functions' own Stripe keys, one secret per
	// function that calls Stripe.
	StripeKeys    map[string]awssecretsmanager.Secret
	WebhookSecret awssecretsmanager.Secret
	CursorKey     awssecretsmanager.Secret
	FailureQueue  awssqs.Queue
	SweepSchedule awsevents.Rule
	// SweepDLQ holds the schedule's events that could not invoke autorefill.
	SweepDLQ     awssqs.Queue
	AlarmTopic   awssns.Topic
	Alarms       []awscloudwatch.Alarm
	Dashboard    awscloudwatch.Dashboard
	UserPool     awscognito.UserPool // nil when jwtIssuer is configured
	PortalClient awscognito.UserPoolClient
	// OperatorRole may call the /v1/admin/* routes; nil while the route
	// table has none.
	OperatorRole awsiam.Role
}

// NewBillingStack builds the stack for cfg.
func NewBillingStack(scope constructs.Construct, id string, cfg Config) (*BillingStack, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if !contains(routes.Functions, routes.AutoRefill) {
		return nil, fmt.Errorf("routes.Functions lacks %s, which the stream and the sweep trigger", routes.AutoRefill)
	}
	for _, r := range cfg.RouteTable() {
		if !contains(routes.Functions, r.Function) {
			return nil, fmt.Errorf("route %s: unknown function %q", r.Key(), r.Function)
		}
	}

	stack := awscdk.NewStack(scope, jsii.String(id), &awscdk.StackProps{
		Description: jsii.String("DSU Billing (" + cfg.Stage + "): prepaid DSU packages, Stripe payments and automatic refills"),
	})
	awscdk.Tags_Of(stack).Add(jsii.String("project"), jsii.String("dsu-billing"), nil)
	awscdk.Tags_Of(stack).Add(jsii.String("stage"), jsii.String(cfg.Stage), nil)
	addNagChecks(stack)
	s := &BillingStack{Stack: stack, Config: cfg, Functions: map[string]awslambda.Function{}, LogGroups: map[string]awslogs.LogGroup{},
		StripeKeys: map[string]awssecretsmanager.Secret{}}

	// Data is kept in production; a dev stack cleans up after itself.
	removal := awscdk.RemovalPolicy_DESTROY
	retention := awslogs.RetentionDays_ONE_MONTH
	if cfg.Prod() {
		removal = awscdk.RemovalPolicy_RETAIN
		retention = awslogs.RetentionDays_THREE_MONTHS
	}

	s.Table = newTable(stack, cfg, removal)
	if err := seedCatalog(stack, s.Table, removal, retention); err != nil {
		return nil, err
	}

	s.EventBus = awsevents.NewEventBus(stack, jsii.String("DomainEvents"), &awsevents.EventBusProps{
		Description: jsii.String("DSU Billing domain events: refill succeeded/failed, needs authentication, paused, balance low"),
	})

	// The secrets are created with a random placeholder value, never a value
	// typed into the template; operators put the real values afterwards
	// (docs/DEPLOYMENT.md). Each Stripe-calling function has its own key
	// secret (created with the function), meant for a restricted key with
	// only the permissions that function's calls need.
	s.WebhookSecret = awssecretsmanager.NewSecret(stack, jsii.String("StripeWebhookSecret"), &awssecretsmanager.SecretProps{
		Description:   jsii.String("DSU Billing " + cfg.Stage + ": Stripe webhook signing secret(s) whsec_…, comma-separated while rotating"),
		RemovalPolicy: removal,
	})
	nagSuppress(s.WebhookSecret, nag("AwsSolutions-SMG4",
		"Stripe issues the webhook signing secret; it is rolled in the Stripe Dashboard and put here by hand (docs/DEPLOYMENT.md, \"Rotating the webhook secret\"), which no rotation Lambda can do."))
	// The cursor key is generated here and never leaves AWS: nothing to
	// fill in.
	s.CursorKey = awssecretsmanager.NewSecret(stack, jsii.String("CursorKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("DSU Billing " + cfg.Stage + ": HMAC key of pagination cursors (generated)"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			PasswordLength:     jsii.Number(cursorKeyLength),
			ExcludePunctuation: jsii.Bool(true),
		},
		RemovalPolicy: removal,
	})
	nagSuppress(s.CursorKey, nag("AwsSolutions-SMG4",
		"Rotating the cursor key only invalidates the cursors clients hold (docs/DEPLOYMENT.md, \"The cursor key\"); it protects the integrity of page positions, not data, so it is rotated by hand when needed rather than by a rotation Lambda."))

	s.FailureQueue = deadLetterQueue(stack, "AutoRefillFailures", removal)
	nagSuppress(s.FailureQueue, nag("AwsSolutions-SQS3",
		"This queue is itself the dead-letter destination of the autorefill stream trigger. Nothing consumes it: an operator reads and purges it (docs/DEPLOYMENT.md, \"Alarms and the failure queue\"), so no message is received repeatedly and a dead-letter queue behind it would never be used. Its alarm fires on the first message."))
	// The schedule's target gets a dead-letter queue too: an event that
	// EventBridge could not deliver to autorefill (invocation refused or
	// throttled, permissions, after its retries) is kept and alarmed on
	// rather than dropped.
	s.SweepDLQ = deadLetterQueue(stack, "SweepScheduleDeadLetters", removal)
	nagSuppress(s.SweepDLQ, nag("AwsSolutions-SQS3",
		"This queue is itself the dead-letter queue of the sweep schedule's target. Nothing consumes it: its alarm fires on the first message and an operator reads and purges it."))

	indexArn := jsii.String(*s.Table.TableArn() + "/index/" + dynamo.Schema.GSIName)
	for _, fn := range routes.Functions {
		if err := s.addFunction(fn, cfg, indexArn, removal, retention); err != nil {
			return nil, err
		}
	}
	// The stream event source grants dynamodb:ListStreams, which has no
	// resource type in IAM.
	nagSuppressTree(s.Functions[routes.AutoRefill].Role(), nag("AwsSolutions-IAM5",
		"dynamodb:ListStreams has no resource type in IAM and is granted on * by the stream event source; it lists stream ARNs only. X-Ray's PutTraceSegments and PutTelemetryRecords have no resource type either.",
		"Resource::*"))

	// autorefill: the balance stream, filtered to balance items whose plan
	// is active, and the sweep schedule.
	refill := s.Functions[routes.AutoRefill]
	refill.AddEventSource(awslambdaeventsources.NewDynamoEventSource(s.Table, &awslambdaeventsources.DynamoEventSourceProps{
		StartingPosition:        awslambda.StartingPosition_LATEST,
		BatchSize:               jsii.Number(refillBatchSize),
		BisectBatchOnError:      jsii.Bool(true),
		ReportBatchItemFailures: jsii.Bool(true),
		RetryAttempts:           jsii.Number(refillRetryAttempts),
		MaxRecordAge:            awscdk.Duration_Hours(jsii.Number(refillMaxRecordAge)),
		OnFailure:               awslambdaeventsources.NewSqsDlq(s.FailureQueue),
		// The raw pattern, byte for byte the one the local stack filters with.
		Filters: &[]*map[string]interface{}{{"pattern": dynamo.RefillStreamFilter}},
	}))
	s.SweepSchedule = awsevents.NewRule(stack, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("The autorefill sweep: partners whose balance needs attention"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(sweepIntervalMinutes))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(refill, &awseventstargets.LambdaFunctionProps{
			// The next sweep comes soon; a stale one is worthless.
			RetryAttempts:   jsii.Number(2),
			MaxEventAge:     awscdk.Duration_Minutes(jsii.Number(sweepIntervalMinutes)),
			DeadLetterQueue: s.SweepDLQ,
		})},
	})

	if err := s.addAPI(cfg, removal, retention); err != nil {
		return nil, err
	}
	s.addAlarms(cfg)
	s.addDashboard(cfg)

	out := func(id, value, desc string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Value: jsii.String(value), Description: jsii.String(desc)})
	}
	out("ApiUrl", *s.API.ApiEndpoint(), "Base URL of the HTTP API (routes start with /v1)")
	out("WebhookUrl", *s.API.ApiEndpoint()+webhookPath, "Stripe webhook endpoint URL")
	out("TableName", *s.Table.TableName(), "DynamoDB table")
	for _, fn := range routes.Functions {
		if key, ok := s.StripeKeys[fn]; ok {
			out(pascal(fn)+"StripeKeyArn", *key.SecretArn(), "Secret to put "+fn+"'s restricted Stripe key (rk_…) into")
		}
	}
	out("StripeWebhookSecretArn", *s.WebhookSecret.SecretArn(), "Secret to put the Stripe webhook signing secret(s) into")
	out("CursorKeyArn", *s.CursorKey.SecretArn(), "The generated key of pagination cursors (nothing to fill in)")
	out("DashboardName", *s.Dashboard.DashboardName(), "CloudWatch dashboard of the business metrics and the functions, API and table")
	out("EventBusName", *s.EventBus.EventBusName(), "EventBridge bus of the domain events")
	out("FailureQueueUrl", *s.FailureQueue.QueueUrl(), "Stream batches autorefill gave up on")
	out("AlarmTopicArn", *s.AlarmTopic.TopicArn(), "SNS topic of the alarms")
	if s.UserPool != nil {
		out("UserPoolId", *s.UserPool.UserPoolId(), "Cognito user pool of the portal users")
		out("PortalClientId", *s.PortalClient.UserPoolClientId(), "Cognito app client of the portal (the JWT audience)")
	}
	return s, nil
}

const webhookPath = "/v1/stripe/webhook"

func newTable(stack awscdk.Stack, cfg Config, removal awscdk.RemovalPolicy) awsdynamodb.Table {
	sc := dynamo.Schema
	str := awsdynamodb.AttributeType_STRING
	table := awsdynamodb.NewTable(stack, jsii.String("Table"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(sc.PartitionKey), Type: str},
		SortKey:             &awsdynamodb.Attribute{Name: jsii.String(sc.SortKey), Type: str},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(sc.TTLAttribute),
		Stream:              awsdynamodb.StreamViewType(sc.StreamView),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		DeletionProtection: jsii.Bool(cfg.Prod()),
		RemovalPolicy:      removal,
	})
	// Sparse: only items that need the sweep carry gsi1pk/gsi1sk. The sweep
	// reads keys only (as dynamo.CreateTableInput).
	table.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(sc.GSIName),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(sc.GSIPartitionKey), Type: str},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(sc.GSISortKey), Type: str},
		ProjectionType: awsdynamodb.ProjectionType_KEYS_ONLY,
	})
	return table
}

func (s *BillingStack) addFunction(fn string, cfg Config, indexArn *string, removal awscdk.RemovalPolicy, retention awslogs.RetentionDays) error {
	spec := specFor(fn)
	id := constructID(fn)
	logs := awslogs.NewLogGroup(s.Stack, jsii.String(id+"Logs"), &awslogs.LogGroupProps{
		Retention:     retention,
		RemovalPolicy: removal,
	})
	if spec.callsStripe() {
		key := awssecretsmanager.NewSecret(s.Stack, jsii.String(pascal(fn)+"StripeKey"), &awssecretsmanager.SecretProps{
			Description:   jsii.String("DSU Billing " + cfg.Stage + ": " + fn + "'s restricted Stripe key (rk_…), the whole SecretString; permissions in docs/DEPLOYMENT.md"),
			RemovalPolicy: removal,
		})
		nagSuppress(key, nag("AwsSolutions-SMG4",
			"Stripe issues the key: it is rolled in the Stripe Dashboard and put here by hand (docs/DEPLOYMENT.md, \"Rotating the API keys\"), which no rotation Lambda can do."))
		s.StripeKeys[fn] = key
	}
	env, err := s.functionEnvironment(fn, spec)
	if err != nil {
		return fmt.Errorf("function %s: %w", fn, err)
	}
	// A role of its own without AWSLambdaBasicExecutionRole (which may
	// write to every log group): logs go to this function's group only.
	role := awsiam.NewRole(s.Stack, jsii.String(id+"Role"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
		Description: jsii.String("DSU Billing " + fn + " function"),
	})
	logs.GrantWrite(role)
	props := &awslambda.FunctionProps{
		Role:          role,
		Description:   jsii.String(spec.Description),
		Runtime:       awslambda.Runtime_PROVIDED_AL2023(),
		Architecture:  awslambda.Architecture_ARM_64(),
		Handler:       jsii.String("bootstrap"),
		Code:          awslambda.Code_FromAsset(jsii.String(filepath.Join(cfg.CodeDir, fn)), nil),
		Timeout:       awscdk.Duration_Seconds(jsii.Number(float64(spec.TimeoutSec))),
		MemorySize:    jsii.Number(float64(spec.MemoryMB)),
		Environment:   &env,
		LoggingFormat: awslambda.LoggingFormat_JSON,
		LogGroup:      logs,
		// Active tracing: Lambda records each invocation (init, handler,
		// duration) in X-Ray; the role gets X-Ray's two write actions.
		Tracing: awslambda.Tracing_ACTIVE,
	}
	if spec.Reserved != nil && spec.Reserved(cfg) > 0 {
		props.ReservedConcurrentExecutions = jsii.Number(float64(spec.Reserved(cfg)))
	}
	f := awslambda.NewFunction(s.Stack, jsii.String(id), props)

	// Least privilege: the table actions this function's code calls (and
	// the sweep index only where it queries it), the domain bus, and only
	// its own secrets.
	if len(spec.Table.Actions) > 0 {
		f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("BillingTable"),
			Actions:   jsii.Strings(spec.Table.Actions...),
			Resources: &[]*string{s.Table.TableArn()},
		}))
	}
	if spec.Table.SweepIndex {
		f.AddToRolePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:       jsii.String("SweepIndex"),
			Actions:   jsii.Strings(ddbQuery),
			Resources: &[]*string{indexArn},
		}))
	}
	s.EventBus.GrantPutEventsTo(f, nil)
	if key, ok := s.StripeKeys[fn]; ok {
		key.GrantRead(f, nil)
	}
	if spec.WebhookSecret {
		s.WebhookSecret.GrantRead(f, nil)
	}
	s.CursorKey.GrantRead(f, nil)
	if fn != routes.AutoRefill { // autorefill's suppression also names the stream's ListStreams
		nagSuppressTree(role, nag("AwsSolutions-IAM5",
			"X-Ray's PutTraceSegments and PutTelemetryRecords, granted by active tracing, have no resource type in IAM.",
			"Resource::*"))
	}
	s.Functions[fn] = f
	s.LogGroups[fn] = logs
	return nil
}

// functionEnvironment is the variables a function is deployed with:
// internal/config renders them from its defaults and the stack's resources
// (tokens that CloudFormation resolves), and spec picks which are set.
func (s *BillingStack) functionEnvironment(fn string, spec fnSpec) (map[string]*string, error) {
	deployed := config.Default()
	deployed.Table = *s.Table.TableName()
	deployed.EventBusName = *s.EventBus.EventBusName()
	deployed.CursorKeyARN = *s.CursorKey.SecretArn()
	names := append(append([]string{}, sharedEnv...), spec.Env...)
	if key, ok := s.StripeKeys[fn]; ok {
		// The same variable in every function; each names its own secret.
		deployed.StripeSecretKeyARN = *key.SecretArn()
		names = append(names, config.EnvStripeSecretKeyARN)
	}
	if spec.WebhookSecret {
		deployed.StripeWebhookSecretARN = *s.WebhookSecret.SecretArn()
		names = append(names, config.EnvStripeWebhookSecretARN)
	}
	rendered := deployed.Environment()
	env := make(map[string]*string, len(names))
	for _, name := range names {
		v, ok := rendered[name]
		if !ok {
			return nil, fmt.Errorf("%s is not a variable of internal/config, or the stack gives it no value", name)
		}
		env[name] = jsii.String(v)
	}
	return env, nil
}

// pascal turns a function name into the start of a construct id:
// "stripewebhook" → "Stripewebhook".
func pascal(fn string) string {
	b := []byte(fn)
	if len(b) > 0 && b[0] >= 'a' && b[0] <= 'z' {
		b[0] -= 'a' - 'A'
	}
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') {
			out = append(out, c)
		}
	}
	return string(out)
}

// constructID turns a function name into a construct id: "stripewebhook" →
// "StripewebhookFunction".
func constructID(fn string) string { return pascal(fn) + "Function" }

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// deadLetterQueue is a queue where what could not be delivered waits for an
// operator: encrypted, TLS only, kept failureRetentionDays.
func deadLetterQueue(stack awscdk.Stack, id string, removal awscdk.RemovalPolicy) awssqs.Queue {
	return awssqs.NewQueue(stack, jsii.String(id), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(failureRetentionDays)),
		RemovalPolicy:   removal,
	})
}
