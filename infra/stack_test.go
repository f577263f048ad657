package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/metrics"
	"github.com/cirasync/dsubilling/internal/routes"
)

// ---- Table (docs/RULES.md, "DynamoDB") ----

func TestTableFromSharedSchema(t *testing.T) {
	sc := dynamo.Schema
	variants(t, func(t *testing.T, s *synthed) {
		assert(t, "one table", func() { s.template.ResourceCountIs(jsii.String("AWS::DynamoDB::Table"), jsii.Number(1)) })
		p := s.props(s.id(s.stack.Table))
		want := map[string]interface{}{
			"KeySchema": []interface{}{
				map[string]interface{}{"AttributeName": sc.PartitionKey, "KeyType": "HASH"},
				map[string]interface{}{"AttributeName": sc.SortKey, "KeyType": "RANGE"},
			},
			"BillingMode":                      "PAY_PER_REQUEST",
			"StreamSpecification":              map[string]interface{}{"StreamViewType": sc.StreamView},
			"TimeToLiveSpecification":          map[string]interface{}{"AttributeName": sc.TTLAttribute, "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]interface{}{"PointInTimeRecoveryEnabled": true},
			"GlobalSecondaryIndexes": []interface{}{map[string]interface{}{
				"IndexName": sc.GSIName,
				"KeySchema": []interface{}{
					map[string]interface{}{"AttributeName": sc.GSIPartitionKey, "KeyType": "HASH"},
					map[string]interface{}{"AttributeName": sc.GSISortKey, "KeyType": "RANGE"},
				},
				"Projection": map[string]interface{}{"ProjectionType": "KEYS_ONLY"},
			}},
		}
		for k, v := range want {
			if !jsonEq(p[k], v) {
				t.Errorf("%s = %s, want %s", k, canon(p[k]), canon(v))
			}
		}
		var attrs []string
		for _, a := range asList(p["AttributeDefinitions"]) {
			m := a.(map[string]interface{})
			if m["AttributeType"] != "S" {
				t.Errorf("attribute %v is %v, want S", m["AttributeName"], m["AttributeType"])
			}
			attrs = append(attrs, m["AttributeName"].(string))
		}
		if want := sortedCopy([]string{sc.PartitionKey, sc.SortKey, sc.GSIPartitionKey, sc.GSISortKey}); !reflect.DeepEqual(sortedCopy(attrs), want) {
			t.Errorf("attribute definitions %v, want %v", attrs, want)
		}
		if _, named := p["TableName"]; named {
			t.Error("the table has a fixed name; let CloudFormation name it (one stack per stage and account)")
		}
	})
}

func TestTableRetentionByStage(t *testing.T) {
	dev, prod := devVariant.get(t), prodVariant.get(t)
	for _, c := range []struct {
		s          *synthed
		protection bool
		policy     string
	}{{dev, false, "Delete"}, {prod, true, "Retain"}} {
		id := c.s.id(c.s.stack.Table)
		if got := c.s.props(id)["DeletionProtectionEnabled"]; got != c.protection {
			t.Errorf("%s: DeletionProtectionEnabled = %v, want %v", c.s.name, got, c.protection)
		}
		for _, k := range []string{"DeletionPolicy", "UpdateReplacePolicy"} {
			if got := c.s.res[id][k]; got != c.policy {
				t.Errorf("%s: table %s = %v, want %s", c.s.name, k, got, c.policy)
			}
		}
		// The secrets and the log groups follow the table.
		for _, sec := range c.s.secrets() {
			if got := c.s.res[sec]["DeletionPolicy"]; got != c.policy {
				t.Errorf("%s: secret %s DeletionPolicy = %v, want %s", c.s.name, sec, got, c.policy)
			}
		}
		for fn, lg := range c.s.stack.LogGroups {
			if got := c.s.res[c.s.id(lg)]["DeletionPolicy"]; got != c.policy {
				t.Errorf("%s: %s log group DeletionPolicy = %v, want %s", c.s.name, fn, got, c.policy)
			}
		}
	}
}

// ---- Catalog seeding ----

func TestCatalogSeededFromDataFile(t *testing.T) {
	items, pointer, err := CatalogItems()
	if err != nil {
		t.Fatal(err)
	}
	if len(items) == 0 {
		t.Fatal("empty catalog")
	}
	variants(t, func(t *testing.T, s *synthed) {
		table := s.id(s.stack.Table)
		seeds := s.ofType("Custom::CatalogPackage")
		if len(seeds) != len(items) {
			t.Fatalf("%d catalog resources, want one per package (%d)", len(seeds), len(items))
		}
		got := map[string]bool{}
		for _, id := range seeds {
			p := s.props(id)
			for _, phase := range []string{"Create", "Update"} {
				var call struct {
					Service, Action string
					Parameters      struct {
						TableName string
						Item      map[string]interface{}
					}
				}
				text := joined(p[phase])
				if err := json.Unmarshal([]byte(text), &call); err != nil {
					t.Fatalf("%s %s: %v in %s", id, phase, err, text)
				}
				if call.Service != "DynamoDB" || call.Action != "PutItem" || call.Parameters.TableName != "<Ref "+table+">" {
					t.Errorf("%s %s: %s %s on %s", id, phase, call.Service, call.Action, call.Parameters.TableName)
				}
				got[canon(call.Parameters.Item)] = true
			}
			if p["InstallLatestAwsSdk"] != false {
				t.Errorf("%s: InstallLatestAwsSdk = %v; deployments must not download the SDK", id, p["InstallLatestAwsSdk"])
			}
		}
		// Every item of dynamo.CatalogItems, attribute for attribute: a change
		// of the data file changes the resource's properties and so re-runs it.
		for _, it := range items {
			if !got[canon(it)] {
				t.Errorf("item %s is not seeded", canon(it))
			}
		}
		// The version pointer is written last, after every package.
		versions := s.ofType("Custom::CatalogVersion")
		if len(versions) != 1 {
			t.Fatalf("%d catalog version resources, want 1", len(versions))
		}
		var call struct {
			Parameters struct{ Item map[string]interface{} }
		}
		if err := json.Unmarshal([]byte(joined(s.props(versions[0])["Create"])), &call); err != nil || canon(call.Parameters.Item) != canon(pointer) {
			t.Errorf("the version pointer seeds %v (%v), want %s", call.Parameters.Item, err, canon(pointer))
		}
		deps := canon(s.res[versions[0]]["DependsOn"])
		for _, id := range seeds {
			if !strings.Contains(deps, `"`+id+`"`) {
				t.Errorf("the version pointer does not wait for %s (depends on %s)", id, deps)
			}
		}
		// The seeding may only put items into this table.
		for _, st := range s.statements() {
			for _, a := range st.actions {
				if strings.HasPrefix(a, "dynamodb:") && strings.HasPrefix(st.policy, "CatalogPackage") &&
					(a != "dynamodb:PutItem" || !jsonEq(st.resources, []interface{}{getAtt(table, "Arn")})) {
					t.Errorf("%s: %s on %s", st.policy, a, canon(st.resources))
				}
			}
		}
	})
}

func TestItemJSON(t *testing.T) {
	items, _, err := CatalogItems()
	if err != nil {
		t.Fatal(err)
	}
	first := items[0]
	for _, k := range []string{dynamo.AttrPK, dynamo.AttrSK, dynamo.AttrType, "id", "name"} {
		if _, ok := first[k].(map[string]interface{})["S"].(string); !ok {
			t.Errorf("%s = %v, want a string attribute", k, first[k])
		}
	}
	if _, ok := first["units"].(map[string]interface{})["N"].(string); !ok {
		t.Errorf("units = %v, want a number attribute", first["units"])
	}
	prices := first["prices"].(map[string]interface{})["M"].(map[string]interface{})
	if _, ok := prices["usd"].(map[string]interface{})["N"]; !ok {
		t.Errorf("prices = %v", prices)
	}
}

// ---- Functions ----

// expectedFunctions is what each function must look like, written down
// independently of functionSpecs.
var expectedFunctions = map[string]struct {
	timeout, memory float64
	stripe, webhook bool
	extraEnv        []string // set to internal/config's defaults
	table           []string // table actions
	sweepIndex      bool
}{
	routes.Billing: {timeout: 15, memory: 256, stripe: true,
		table: []string{"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}},
	routes.Purchases: {timeout: 15, memory: 256, stripe: true,
		table: []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}},
	routes.StripeWebhook: {timeout: 15, memory: 256, stripe: true, webhook: true,
		table: []string{"dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem"}},
	routes.AutoRefill: {timeout: 60, memory: 256, stripe: true, extraEnv: []string{config.EnvSweepStripeRate, config.EnvRefillMaxPackages},
		table: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"}, sweepIndex: true},
	routes.Usage: {timeout: 25, memory: 256,
		table: []string{"dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem"}},
	routes.Admin: {timeout: 25, memory: 256, stripe: true,
		table: []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}},
}

func TestEveryFunctionDeployed(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		// The deployed functions are exactly routes.Functions plus the CDK's
		// own custom-resource provider.
		var ours []string
		for _, id := range s.ofType("AWS::Lambda::Function") {
			if s.props(id)["Runtime"] == "provided.al2023" {
				ours = append(ours, id)
			}
		}
		if len(ours) != len(routes.Functions) {
			t.Errorf("%d Go functions, want %d (routes.Functions)", len(ours), len(routes.Functions))
		}
		for _, fn := range routes.Functions {
			if _, ok := expectedFunctions[fn]; !ok {
				t.Errorf("no expectation for function %s: add it to expectedFunctions", fn)
			}
		}
	})
}

func TestFunctionProperties(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		assetKeys := map[string]string{} // each fake bootstrap differs
		retention := 30.0
		if s.cfg.Prod() {
			retention = 90
		}
		for _, fn := range routes.Functions {
			want := expectedFunctions[fn]
			id := s.id(s.stack.Functions[fn])
			p := s.props(id)
			t.Run(fn, func(t *testing.T) {
				if p["Runtime"] != "provided.al2023" || p["Handler"] != "bootstrap" || !jsonEq(p["Architectures"], []string{"arm64"}) {
					t.Errorf("runtime %v, handler %v, architectures %v", p["Runtime"], p["Handler"], p["Architectures"])
				}
				if p["Timeout"] != want.timeout || p["MemorySize"] != want.memory {
					t.Errorf("timeout %v memory %v, want %v %v", p["Timeout"], p["MemorySize"], want.timeout, want.memory)
				}
				code, _ := p["Code"].(map[string]interface{})
				if key, _ := code["S3Key"].(string); !strings.HasSuffix(key, ".zip") || code["S3Bucket"] == nil || assetKeys[key] != "" {
					t.Errorf("code %v is not its own asset (also %s's)", code, assetKeys[key])
				} else {
					assetKeys[key] = fn
				}
				lc, _ := p["LoggingConfig"].(map[string]interface{})
				if lc["LogFormat"] != "JSON" {
					t.Errorf("LogFormat = %v", lc["LogFormat"])
				}
				lg := s.id(s.stack.LogGroups[fn])
				if !jsonEq(lc["LogGroup"], ref(lg)) {
					t.Errorf("LogGroup = %v, want Ref %s", lc["LogGroup"], lg)
				}
				if got := s.props(lg)["RetentionInDays"]; got != retention {
					t.Errorf("log retention %v days, want %v", got, retention)
				}
				_, reserved := p["ReservedConcurrentExecutions"]
				switch fn {
				case routes.AutoRefill:
					if p["ReservedConcurrentExecutions"] != float64(DefaultAutoRefillReserved) {
						t.Errorf("ReservedConcurrentExecutions = %v, want %d", p["ReservedConcurrentExecutions"], DefaultAutoRefillReserved)
					}
				case routes.Usage:
					// A flood of usage must not take the table from purchases.
					if p["ReservedConcurrentExecutions"] != float64(DefaultUsageReserved) {
						t.Errorf("ReservedConcurrentExecutions = %v, want %d", p["ReservedConcurrentExecutions"], DefaultUsageReserved)
					}
				default:
					if reserved {
						t.Errorf("unexpected reserved concurrency %v", p["ReservedConcurrentExecutions"])
					}
				}
			})
		}
	})
}

func TestFunctionEnvironment(t *testing.T) {
	defaults := config.Default().Environment()
	variants(t, func(t *testing.T, s *synthed) {
		table, bus := s.id(s.stack.Table), s.id(s.stack.EventBus)
		hook, cursor := s.id(s.stack.WebhookSecret), s.id(s.stack.CursorKey)
		for _, fn := range routes.Functions {
			want := expectedFunctions[fn]
			env := map[string]interface{}{
				config.EnvTableName:    ref(table),
				config.EnvEventBusName: ref(bus),
				config.EnvCursorKeyARN: ref(cursor),
			}
			for _, name := range append([]string{
				config.EnvLogLevel, config.EnvPartnerClaim, config.EnvGroupsClaim, config.EnvAdminGroup,
				config.EnvDefaultCurrency, config.EnvWelcomeGrantUnits,
			}, want.extraEnv...) {
				env[name] = defaults[name]
			}
			if want.stripe {
				// Its own secret, under the same variable everywhere.
				env[config.EnvStripeSecretKeyARN] = ref(s.id(s.stack.StripeKeys[fn]))
			}
			if want.webhook {
				env[config.EnvStripeWebhookSecretARN] = ref(hook)
			}
			if got := s.env(fn); !jsonEq(got, env) {
				t.Errorf("%s environment\n got %s\nwant %s", fn, canon(got), canon(env))
			}
		}
	})
}

// What each function is deployed with is what its code reads: every
// function's synthesized variables, with plausible values for the
// CloudFormation references, make a valid internal/config configuration,
// and every variable is one that internal/config reads.
func TestFunctionEnvironmentIsAValidConfig(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		for _, fn := range routes.Functions {
			t.Run(fn, func(t *testing.T) {
				env := map[string]string{}
				for name, v := range s.env(fn) {
					resolved, err := s.plausible(v)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					env[name] = resolved
				}
				read := map[string]bool{}
				cfg, err := config.FromEnv(func(name string) string { read[name] = true; return env[name] })
				if err != nil {
					t.Fatalf("the deployed environment is rejected: %v\n%v", err, env)
				}
				readBack := cfg.Environment()
				for name, v := range env {
					if !read[name] {
						t.Errorf("%s is deployed but internal/config never reads it", name)
					} else if readBack[name] != v {
						t.Errorf("%s=%q is read as %q: not in internal/config's spelling", name, v, readBack[name])
					}
				}
				// What wiring requires of these functions beyond FromEnv.
				want := expectedFunctions[fn]
				if want.stripe && !strings.HasPrefix(cfg.StripeSecretKeyARN, "arn:aws:secretsmanager:") {
					t.Errorf("calls Stripe but %s is %q", config.EnvStripeSecretKeyARN, cfg.StripeSecretKeyARN)
				}
				if want.webhook && !strings.HasPrefix(cfg.StripeWebhookSecretARN, "arn:aws:secretsmanager:") {
					t.Errorf("verifies webhooks but %s is %q", config.EnvStripeWebhookSecretARN, cfg.StripeWebhookSecretARN)
				}
				// Against AWS DynamoDB wiring refuses to start without it.
				if cfg.DynamoDBEndpoint != "" || !strings.HasPrefix(cfg.CursorKeyARN, "arn:aws:secretsmanager:") {
					t.Errorf("%s is %q (endpoint %q)", config.EnvCursorKeyARN, cfg.CursorKeyARN, cfg.DynamoDBEndpoint)
				}
			})
		}
	})
}

func TestReservedConcurrencyConfigurable(t *testing.T) {
	for _, fn := range []string{routes.AutoRefill, routes.Usage} {
		if specFor(fn).Reserved == nil {
			t.Errorf("%s does not limit its concurrency", fn)
		}
	}
	c, err := ConfigFromContext(ctxOf(map[string]string{CtxAutoRefillConcurrency: "0", CtxUsageConcurrency: "7"}))
	if err != nil || c.AutoRefillConcurrency != 0 || c.UsageConcurrency != 7 {
		t.Errorf("autorefillConcurrency=0 usageConcurrency=7: %+v %v", c, err)
	}
	if specFor(routes.AutoRefill).Reserved(c) != 0 || specFor(routes.Usage).Reserved(c) != 7 {
		t.Error("the functions do not take their reserved concurrency from the configuration")
	}
	for _, key := range []string{CtxAutoRefillConcurrency, CtxUsageConcurrency} {
		if _, err := ConfigFromContext(ctxOf(map[string]string{key: "-1"})); err == nil {
			t.Errorf("negative %s accepted", key)
		}
	}
}

// ---- Autorefill triggers ----

func TestAutoRefillStreamTrigger(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		esms := s.ofType("AWS::Lambda::EventSourceMapping")
		if len(esms) != 1 {
			t.Fatalf("%d event source mappings, want 1", len(esms))
		}
		p := s.props(esms[0])
		queue := s.id(s.stack.FailureQueue)
		want := map[string]interface{}{
			"FunctionName":               ref(s.id(s.stack.Functions[routes.AutoRefill])),
			"EventSourceArn":             getAtt(s.id(s.stack.Table), "StreamArn"),
			"StartingPosition":           "LATEST",
			"BatchSize":                  25,
			"BisectBatchOnFunctionError": true,
			"FunctionResponseTypes":      []string{"ReportBatchItemFailures"},
			"MaximumRetryAttempts":       5,
			"MaximumRecordAgeInSeconds":  3600,
			"DestinationConfig":          map[string]interface{}{"OnFailure": map[string]interface{}{"Destination": getAtt(queue, "Arn")}},
			// Byte for byte the pattern the local stack filters with.
			"FilterCriteria": map[string]interface{}{"Filters": []interface{}{map[string]interface{}{"Pattern": dynamo.RefillStreamFilter}}},
		}
		for k, v := range want {
			if !jsonEq(p[k], v) {
				t.Errorf("%s = %s, want %s", k, canon(p[k]), canon(v))
			}
		}
		assert(t, "failure queue", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]interface{}{
				"SqsManagedSseEnabled":   true,
				"MessageRetentionPeriod": 14 * 24 * 3600,
			})
		})
		// autorefill may send to that queue and read the table's stream.
		role := s.functionRoles(t)[routes.AutoRefill]
		var send, stream bool
		for _, st := range s.roleStatements(role) {
			if hasAction(st, "sqs:SendMessage") && refersTo(st.resources, getAtt(queue, "Arn")) {
				send = true
			}
			if hasAction(st, "dynamodb:GetRecords") && refersTo(st.resources, getAtt(s.id(s.stack.Table), "StreamArn")) {
				stream = true
			}
		}
		if !send || !stream {
			t.Errorf("autorefill can send to the failure queue: %v, read the stream: %v", send, stream)
		}
	})
}

func TestSweepSchedule(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		fn := s.id(s.stack.Functions[routes.AutoRefill])
		assert(t, "schedule rule", func() {
			s.template.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
				"ScheduleExpression": "rate(5 minutes)",
				"State":              "ENABLED",
				"Targets":            assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{"Arn": getAtt(fn, "Arn")})}),
			})
		})
		// Events that cannot invoke autorefill go to a dead-letter queue
		// (alarmed in TestAlarms).
		dlq := getAtt(s.id(s.stack.SweepDLQ), "Arn")
		assert(t, "schedule dead-letter queue", func() {
			s.template.HasResourceProperties(jsii.String("AWS::Events::Rule"), map[string]interface{}{
				"Targets": []interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
					"Arn": getAtt(fn, "Arn"), "DeadLetterConfig": map[string]interface{}{"Arn": dlq},
					"RetryPolicy": map[string]interface{}{"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 300},
				})},
			})
		})
		assert(t, "dead-letter queue encrypted", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SQS::Queue"), map[string]interface{}{"SqsManagedSseEnabled": true})
		})
		assert(t, "events may invoke autorefill", func() {
			s.template.HasResourceProperties(jsii.String("AWS::Lambda::Permission"), map[string]interface{}{
				"Action": "lambda:InvokeFunction", "Principal": "events.amazonaws.com", "FunctionName": getAtt(fn, "Arn"),
			})
		})
	})
}

// ---- Event bus ----

func TestDomainEventBus(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		assert(t, "one bus", func() { s.template.ResourceCountIs(jsii.String("AWS::Events::EventBus"), jsii.Number(1)) })
		bus := getAtt(s.id(s.stack.EventBus), "Arn")
		roles := s.functionRoles(t)
		for _, fn := range routes.Functions {
			ok := false
			for _, st := range s.roleStatements(roles[fn]) {
				if hasAction(st, "events:PutEvents") && refersTo(st.resources, bus) {
					ok = true
				}
			}
			if !ok {
				t.Errorf("%s cannot put events on the domain bus", fn)
			}
		}
		for _, st := range s.statements() {
			if hasAction(st, "events:PutEvents") && !jsonEq(st.resources, []interface{}{bus}) {
				t.Errorf("%s: events:PutEvents on %s, want the domain bus only", st.policy, canon(st.resources))
			}
		}
	})
}

// ---- IAM ----

func TestNoWildcardsInPolicies(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		table := s.id(s.stack.Table)
		allowed := []interface{}{
			getAtt(table, "Arn"),
			map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{getAtt(table, "Arn"), "/index/" + dynamo.Schema.GSIName}}},
			getAtt(table, "StreamArn"),
		}
		for _, st := range s.statements() {
			if st.raw["Effect"] != "Allow" {
				continue
			}
			for _, a := range st.actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %s", st.policy, a)
				}
				if !strings.HasPrefix(a, "dynamodb:") {
					continue
				}
				for _, r := range st.resources {
					// ListStreams has no resource type: IAM needs "*".
					if r == "*" && a == "dynamodb:ListStreams" {
						continue
					}
					if !refersTo(allowed, r) {
						t.Errorf("%s: %s on %s, want the table, its index or its stream", st.policy, a, canon(r))
					}
				}
			}
			for _, r := range st.resources {
				// ListStreams and X-Ray's writes have no resource type: IAM needs "*".
				for _, a := range st.actions {
					if r == "*" && a != "dynamodb:ListStreams" && a != "xray:PutTraceSegments" && a != "xray:PutTelemetryRecords" {
						t.Errorf("%s: %s on every resource", st.policy, a)
					}
				}
			}
		}
		// No managed *FullAccess policies anywhere.
		for _, id := range s.ofType("AWS::IAM::Role") {
			for _, arn := range asList(s.props(id)["ManagedPolicyArns"]) {
				if text := joined(arn); strings.Contains(text, "FullAccess") || strings.Contains(text, "AdministratorAccess") {
					t.Errorf("role %s has managed policy %s", id, text)
				}
			}
		}
	})
}

func TestFunctionRolesOwnLogsOnly(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		for fn, role := range s.functionRoles(t) {
			if m := s.props(role)["ManagedPolicyArns"]; m != nil {
				t.Errorf("%s: managed policies %v (AWSLambdaBasicExecutionRole may write every log group)", fn, m)
			}
			lg := getAtt(s.id(s.stack.LogGroups[fn]), "Arn")
			var writes bool
			for _, st := range s.roleStatements(role) {
				for _, a := range st.actions {
					if strings.HasPrefix(a, "logs:") {
						if !jsonEq(st.resources, []interface{}{lg}) {
							t.Errorf("%s: %s on %s, want its own log group", fn, a, canon(st.resources))
						}
						writes = writes || a == "logs:PutLogEvents"
					}
				}
			}
			if !writes {
				t.Errorf("%s cannot write its logs", fn)
			}
		}
	})
}

// Per function, only the table actions its code calls: no DeleteItem or
// Scan (nothing deletes or scans), ConditionCheckItem only where a card is
// saved, and the sweep index only for autorefill.
// (TestTableAccessIsWhatTheCodeCalls derives the same from the code.)
func TestFunctionsTableAccessIsLeast(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		table := getAtt(s.id(s.stack.Table), "Arn")
		index := map[string]interface{}{"Fn::Join": []interface{}{"", []interface{}{table, "/index/" + dynamo.Schema.GSIName}}}
		for fn, role := range s.functionRoles(t) {
			want := expectedFunctions[fn]
			var onTable, onIndex []string
			for _, st := range s.roleStatements(role) {
				for _, a := range st.actions {
					if !strings.HasPrefix(a, "dynamodb:") {
						continue
					}
					for _, r := range st.resources {
						switch {
						case jsonEq(r, table):
							onTable = append(onTable, a)
						case jsonEq(r, index):
							onIndex = append(onIndex, a)
						}
					}
				}
			}
			if !reflect.DeepEqual(sortedCopy(onTable), want.table) {
				t.Errorf("%s: table actions %v, want %v", fn, sortedCopy(onTable), want.table)
			}
			for _, a := range onTable {
				if a == "dynamodb:DeleteItem" || a == "dynamodb:Scan" {
					t.Errorf("%s may %s, which no function calls", fn, a)
				}
				if a == "dynamodb:ConditionCheckItem" && fn != routes.Billing && fn != routes.StripeWebhook {
					t.Errorf("%s may %s, which only saving a card calls", fn, a)
				}
			}
			wantIndex := []string(nil)
			if want.sweepIndex {
				wantIndex = []string{"dynamodb:Query"}
			}
			if !reflect.DeepEqual(onIndex, wantIndex) {
				t.Errorf("%s: actions on the sweep index %v, want %v", fn, onIndex, wantIndex)
			}
		}
		if !expectedFunctions[routes.AutoRefill].sweepIndex {
			t.Error("autorefill must query the sweep index")
		}
	})
}

func TestSecretsAndWhoReadsThem(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		// A Stripe key per Stripe-calling function, the webhook secret, the
		// cursor key.
		var stripeFns []string
		for _, fn := range routes.Functions {
			if expectedFunctions[fn].stripe {
				stripeFns = append(stripeFns, fn)
			}
		}
		if len(stripeFns) != len(routes.Functions)-1 || len(s.stack.StripeKeys) != len(stripeFns) {
			t.Errorf("Stripe keys for %v, want one for each of %v", keysOf(s.stack.StripeKeys), stripeFns)
		}
		assert(t, "secrets", func() {
			s.template.ResourceCountIs(jsii.String("AWS::SecretsManager::Secret"), jsii.Number(float64(len(stripeFns)+2)))
		})
		hook, cursor := s.id(s.stack.WebhookSecret), s.id(s.stack.CursorKey)
		want := map[string][]string{
			canon(ref(hook)):   {routes.StripeWebhook},
			canon(ref(cursor)): sortedCopy(routes.Functions),
		}
		distinct := map[string]bool{}
		for _, fn := range stripeFns {
			key, ok := s.stack.StripeKeys[fn]
			if !ok {
				t.Errorf("%s has no Stripe key of its own", fn)
				continue
			}
			id := s.id(key)
			distinct[id] = true
			want[canon(ref(id))] = []string{fn}
		}
		if len(distinct) != len(stripeFns) {
			t.Errorf("%d distinct Stripe key secrets for %d functions", len(distinct), len(stripeFns))
		}
		for _, id := range s.secrets() {
			p := s.props(id)
			if _, ok := p["SecretString"]; ok {
				t.Errorf("secret %s has a value in the template", id)
			}
		}
		// The cursor key is generated: 64 letters and digits.
		gen, _ := s.props(cursor)["GenerateSecretString"].(map[string]interface{})
		if gen["PasswordLength"] != 64.0 || gen["ExcludePunctuation"] != true {
			t.Errorf("cursor key generated with %v", gen)
		}
		roleFn := map[string]string{}
		for fn, role := range s.functionRoles(t) {
			roleFn[role] = fn
		}
		readers := map[string][]string{}
		for _, st := range s.statements() {
			var secretActions bool
			for _, a := range st.actions {
				if strings.HasPrefix(a, "secretsmanager:") {
					secretActions = true
				}
			}
			if !secretActions {
				continue
			}
			for _, r := range st.resources {
				for _, role := range st.roles {
					who, ok := roleFn[role]
					if !ok {
						who = "role " + role
					}
					readers[canon(r)] = append(readers[canon(r)], who)
				}
			}
		}
		got := map[string][]string{}
		for r, who := range readers {
			got[r] = sortedCopy(who)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("secret readers\n got %v\nwant %v", got, want)
		}
	})
}

// secrets lists the stack's secrets.
func (s *synthed) secrets() []string { return s.ofType("AWS::SecretsManager::Secret") }

func keysOf[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

// ---- HTTP API ----

// TestRoutesGeneratedFromTable checks every variant against the route table
// it was built from: routes.All for dev, the full table of docs/API.md for prod.
func TestRoutesGeneratedFromTable(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		table := s.cfg.RouteTable()
		byKey := map[string]string{}
		for _, id := range s.ofType("AWS::ApiGatewayV2::Route") {
			byKey[s.props(id)["RouteKey"].(string)] = id
		}
		if len(byKey) != len(table) {
			t.Errorf("%d routes, want %d: %v", len(byKey), len(table), byKey)
		}
		integrationFn := map[string]string{}
		for _, id := range s.ofType("AWS::ApiGatewayV2::Integration") {
			p := s.props(id)
			if p["IntegrationType"] != "AWS_PROXY" || p["PayloadFormatVersion"] != "2.0" {
				t.Errorf("integration %s: %v %v", id, p["IntegrationType"], p["PayloadFormatVersion"])
			}
			uri := p["IntegrationUri"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
			integrationFn[id] = uri
		}
		authorizers := s.ofType("AWS::ApiGatewayV2::Authorizer")
		for _, r := range table {
			id, ok := byKey[r.Key()]
			if !ok {
				t.Errorf("route %s missing", r.Key())
				continue
			}
			p := s.props(id)
			want := map[routes.Auth]string{routes.AuthJWT: "JWT", routes.AuthIAM: "AWS_IAM", routes.AuthNone: "NONE"}[r.Auth]
			if p["AuthorizationType"] != want {
				t.Errorf("%s: AuthorizationType %v, want %s", r.Key(), p["AuthorizationType"], want)
			}
			if r.Auth == routes.AuthJWT {
				if len(authorizers) != 1 || !jsonEq(p["AuthorizerId"], ref(authorizers[0])) {
					t.Errorf("%s: authorizer %v, want the JWT authorizer %v", r.Key(), p["AuthorizerId"], authorizers)
				}
			} else if _, ok := p["AuthorizerId"]; ok {
				t.Errorf("%s: has an authorizer", r.Key())
			}
			target := joined(p["Target"])
			integ := strings.TrimSuffix(strings.TrimPrefix(target, "integrations/<Ref "), ">")
			if got, want := integrationFn[integ], s.id(s.stack.Functions[r.Function]); got != want {
				t.Errorf("%s: integrated with %s, want %s (%s)", r.Key(), got, want, r.Function)
			}
		}
		// Each route's function may be invoked by the API for that route.
		for _, r := range table {
			found := false
			for _, id := range s.ofType("AWS::Lambda::Permission") {
				p := s.props(id)
				if p["Principal"] == "apigateway.amazonaws.com" && jsonEq(p["FunctionName"], getAtt(s.id(s.stack.Functions[r.Function]), "Arn")) &&
					strings.HasSuffix(joined(p["SourceArn"]), "/*/*"+r.Path) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no invoke permission for %s", r.Key(), r.Function)
			}
		}
	})
}

func TestFullRouteTableExpectation(t *testing.T) {
	s := prodVariant.get(t)
	// The full table has every auth kind, every function but autorefill, and
	// routes.All is a subset of it (the final table is exactly this list).
	kinds := map[routes.Auth]bool{}
	fns := map[string]bool{}
	for _, r := range fullRoutes {
		kinds[r.Auth] = true
		fns[r.Function] = true
	}
	if len(kinds) != 3 || len(fns) != len(routes.Functions)-1 || fns[routes.AutoRefill] {
		t.Errorf("fullRoutes covers auth %v, functions %v", kinds, fns)
	}
	for _, r := range routes.All {
		if !slices.Contains(fullRoutes, r) {
			t.Errorf("routes.All has %s (%s, %s) that docs/API.md does not", r.Key(), r.Function, r.Auth)
		}
	}
	assert(t, "webhook route without authorizer", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Route"), map[string]interface{}{
			"RouteKey": "POST /v1/stripe/webhook", "AuthorizationType": "NONE",
		})
	})
	assert(t, "usage route with IAM", func() {
		s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Route"), map[string]interface{}{
			"RouteKey": "POST /v1/internal/usage", "AuthorizationType": "AWS_IAM",
		})
	})
	assert(t, "usage reporter role", func() {
		s.template.HasResourceProperties(jsii.String("AWS::IAM::Role"), map[string]interface{}{
			"AssumeRolePolicyDocument": assertions.Match_ObjectLike(&map[string]interface{}{
				"Statement": assertions.Match_ArrayWith(&[]interface{}{assertions.Match_ObjectLike(&map[string]interface{}{
					"Principal": map[string]interface{}{"AWS": assertions.Match_AnyValue()},
				})}),
			}),
		})
	})
	// The reporter may invoke the usage route and nothing else; the
	// operators the operator routes and nothing else.
	invoke := map[string][]string{}
	for _, st := range s.statements() {
		if !hasAction(st, "execute-api:Invoke") {
			continue
		}
		for _, role := range st.roles {
			for _, r := range st.resources {
				j := joined(r)
				invoke[role] = append(invoke[role], j[strings.Index(j, "/$default/")+len("/$default/"):])
			}
		}
	}
	var reporter, operator []string
	for role, res := range invoke {
		switch {
		case strings.HasPrefix(role, "UsageReporterRole"):
			reporter = res
		case strings.HasPrefix(role, "OperatorRole"):
			operator = sortedCopy(res)
		default:
			t.Errorf("role %s may invoke %v", role, res)
		}
	}
	if fmt.Sprint(reporter) != "[POST/v1/internal/usage]" {
		t.Errorf("the usage reporter may invoke %v", reporter)
	}
	if want := "[GET/v1/admin/partners/* GET/v1/admin/partners/*/verify POST/v1/admin/partners/*/adjustments POST/v1/admin/partners/*/dispute-hold/release]"; fmt.Sprint(operator) != want {
		t.Errorf("the operators may invoke %v, want %s", operator, want)
	}
	if _, ok := s.outputs["OperatorRoleArn"]; !ok {
		t.Error("no OperatorRoleArn output")
	}
	if _, ok := s.outputs["UsageReporterRoleArn"]; !ok {
		t.Error("no UsageReporterRoleArn output")
	}
	dev := devVariant.get(t)
	hasIAM := slices.ContainsFunc(routes.All, func(r routes.Route) bool { return r.Auth == routes.AuthIAM })
	if _, ok := dev.outputs["UsageReporterRoleArn"]; ok != hasIAM {
		t.Errorf("dev: usage reporter role %v, IAM routes %v", ok, hasIAM)
	}
}

func TestThrottling(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		stages := s.ofType("AWS::ApiGatewayV2::Stage")
		if len(stages) != 1 {
			t.Fatalf("stages %v", stages)
		}
		p := s.props(stages[0])
		if p["StageName"] != "$default" || p["AutoDeploy"] != true {
			t.Errorf("stage %v autoDeploy %v", p["StageName"], p["AutoDeploy"])
		}
		def := p["DefaultRouteSettings"].(map[string]interface{})
		if def["ThrottlingRateLimit"] == nil || def["ThrottlingBurstLimit"] == nil {
			t.Errorf("no stage throttling: %v", def)
		}
		settings, _ := p["RouteSettings"].(map[string]interface{})
		var wantKeys []string
		for _, r := range s.cfg.RouteTable() {
			wantKeys = append(wantKeys, r.Key())
		}
		if !reflect.DeepEqual(keys(settings), sortedCopy(wantKeys)) {
			t.Errorf("route settings for %v, want every route %v", keys(settings), sortedCopy(wantKeys))
		}
		rate := func(key string) float64 {
			m, _ := settings[key].(map[string]interface{})
			if m["ThrottlingBurstLimit"] == nil {
				t.Errorf("%s: no burst limit", key)
			}
			f, _ := m["ThrottlingRateLimit"].(float64)
			return f
		}
		for k := range settings {
			if r := rate(k); r <= 0 || r > def["ThrottlingRateLimit"].(float64) {
				t.Errorf("%s: rate %v outside (0, stage %v]", k, r, def["ThrottlingRateLimit"])
			}
		}
		if _, ok := settings["POST /v1/purchases"]; ok {
			if rate("POST /v1/purchases") >= rate("POST /v1/stripe/webhook") {
				t.Error("POST /v1/purchases is not tighter than the webhook")
			}
			if rate("POST /v1/purchases") >= rate("GET /v1/purchases") {
				t.Error("POST /v1/purchases is not tighter than reads")
			}
			// Sized to traffic (docs/ARCHITECTURE.md, "Throttling"): room for
			// 20 times the design peak of manual purchases (1/s), so that one
			// partner emptying the shared bucket takes a deliberate flood
			// (the handler stops each partner at 10 purchases a minute), and
			// the Stripe writes the API and the sweep can start together stay
			// within three quarters of Stripe's live limit of 100 per second.
			if rate("POST /v1/purchases") < 20 {
				t.Errorf("POST /v1/purchases at %v/s has no headroom over a peak of 1/s", rate("POST /v1/purchases"))
			}
			perPartner := float64(dsu.ManualPurchasesPerPartner.Max) / dsu.ManualPurchasesPerPartner.Window.Seconds()
			if perPartner*100 > rate("POST /v1/purchases") {
				t.Errorf("one partner may create %v purchases/s: more than 1%% of the route's %v/s", perPartner, rate("POST /v1/purchases"))
			}
			stripeWrites := rate("POST /v1/purchases") + rate("POST /v1/billing/card/setup-intent") + config.DefaultSweepStripeRate
			if stripeWrites > 75 {
				t.Errorf("the API and the sweep may start %v Stripe writes per second: more than three quarters of Stripe's 100", stripeWrites)
			}
			// The webhook takes the settlements of a full-speed sweep twice over.
			if rate("POST /v1/stripe/webhook") < 2*config.DefaultSweepStripeRate {
				t.Errorf("the webhook's %v/s cannot take a sweep's settlements", rate("POST /v1/stripe/webhook"))
			}
		}
		// The stage names routes: it must be created after them.
		deps := asList(s.res[stages[0]]["DependsOn"])
		for _, id := range s.ofType("AWS::ApiGatewayV2::Route") {
			if !slices.ContainsFunc(deps, func(d interface{}) bool { return d == id }) {
				t.Errorf("stage does not depend on route %s", id)
			}
		}
	})
}

func TestCORSAndAccessLogs(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		cors := s.props(s.id(s.stack.API))["CorsConfiguration"].(map[string]interface{})
		want := map[string]interface{}{
			"AllowOrigins":  s.cfg.PortalOrigins,
			"AllowHeaders":  []string{"authorization", "content-type", "idempotency-key"},
			"ExposeHeaders": []string{"retry-after"},
			"AllowMethods":  []string{"GET", "POST", "PUT", "DELETE", "OPTIONS"},
		}
		for k, v := range want {
			if !jsonEq(cors[k], v) {
				t.Errorf("CORS %s = %v, want %v", k, cors[k], v)
			}
		}
		if cors["AllowCredentials"] == true {
			t.Error("CORS allows credentials; the portal sends a bearer token")
		}
		stage := s.props(s.ofType("AWS::ApiGatewayV2::Stage")[0])
		al := stage["AccessLogSettings"].(map[string]interface{})
		dest := al["DestinationArn"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
		if s.res[dest]["Type"] != "AWS::Logs::LogGroup" || s.props(dest)["RetentionInDays"] == nil {
			t.Errorf("access logs go to %s (%v)", dest, s.res[dest])
		}
		var format map[string]string
		if err := json.Unmarshal([]byte(al["Format"].(string)), &format); err != nil {
			t.Fatalf("access log format is not JSON: %v", err)
		}
		for _, k := range []string{"requestId", "routeKey", "status", "integrationError"} {
			if !strings.HasPrefix(format[k], "$context.") {
				t.Errorf("access log lacks %s: %v", k, format)
			}
		}
	})
}

func TestJWTAuthorizer(t *testing.T) {
	t.Run("cognito fallback", func(t *testing.T) {
		s := devVariant.get(t)
		if s.stack.UserPool == nil {
			t.Fatal("no user pool without jwtIssuer")
		}
		pool, client := s.id(s.stack.UserPool), s.id(s.stack.PortalClient)
		p := s.props(pool)
		var partner map[string]interface{}
		for _, a := range asList(p["Schema"]) {
			if m := a.(map[string]interface{}); m["Name"] == PartnerAttribute {
				partner = m
			}
		}
		if partner == nil || partner["AttributeDataType"] != "String" || partner["Mutable"] != false {
			t.Errorf("custom attribute partner_id: %v", partner)
		}
		// The pool's tokens carry the claims the functions read.
		for _, fn := range routes.Functions {
			env := s.env(fn)
			if claim := "custom:" + PartnerAttribute; env[config.EnvPartnerClaim] != claim {
				t.Errorf("%s reads the partner from %v; the pool's tokens have %s", fn, env[config.EnvPartnerClaim], claim)
			}
			if env[config.EnvAdminGroup] != config.DefaultAdminGroup {
				t.Errorf("%s wants the admin group %v; the pool has %s", fn, env[config.EnvAdminGroup], config.DefaultAdminGroup)
			}
		}
		if ac, _ := p["AdminCreateUserConfig"].(map[string]interface{}); ac["AllowAdminCreateUserOnly"] != true {
			t.Errorf("self sign-up is open: %v", ac)
		}
		assert(t, "admin group", func() {
			s.template.HasResourceProperties(jsii.String("AWS::Cognito::UserPoolGroup"), map[string]interface{}{
				"GroupName": config.DefaultAdminGroup, "UserPoolId": ref(pool),
			})
		})
		cp := s.props(client)
		if cp["GenerateSecret"] == true {
			t.Error("the portal client has a secret")
		}
		for _, a := range asList(cp["WriteAttributes"]) {
			if strings.HasPrefix(a.(string), "custom:") {
				t.Errorf("the portal client may write %v", a)
			}
		}
		auths := s.ofType("AWS::ApiGatewayV2::Authorizer")
		if len(auths) != 1 {
			t.Fatalf("authorizers %v", auths)
		}
		ap := s.props(auths[0])
		if ap["AuthorizerType"] != "JWT" || !jsonEq(ap["IdentitySource"], []string{"$request.header.Authorization"}) {
			t.Errorf("authorizer %v", canon(ap))
		}
		jc := ap["JwtConfiguration"].(map[string]interface{})
		if !jsonEq(jc["Audience"], []interface{}{ref(client)}) {
			t.Errorf("audience %v, want the portal client", jc["Audience"])
		}
		if iss := joined(jc["Issuer"]); iss != "https://cognito-idp.<Ref AWS::Region>.<Ref AWS::URLSuffix>/<Ref "+pool+">" {
			t.Errorf("issuer %s, want the user pool's", iss)
		}
		for _, o := range []string{"UserPoolId", "PortalClientId"} {
			if _, ok := s.outputs[o]; !ok {
				t.Errorf("no %s output", o)
			}
		}
	})
	t.Run("configured issuer", func(t *testing.T) {
		s := prodVariant.get(t)
		assert(t, "no user pool", func() { s.template.ResourceCountIs(jsii.String("AWS::Cognito::UserPool"), jsii.Number(0)) })
		assert(t, "authorizer", func() {
			s.template.HasResourceProperties(jsii.String("AWS::ApiGatewayV2::Authorizer"), map[string]interface{}{
				"AuthorizerType":   "JWT",
				"IdentitySource":   []string{"$request.header.Authorization"},
				"JwtConfiguration": map[string]interface{}{"Issuer": testIssuer, "Audience": []string{testAudience}},
			})
		})
	})
}

// ---- Alarms ----

func TestAlarms(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		topic := ref(s.id(s.stack.AlarmTopic))
		type key struct{ ns, metric, dim string }
		alarms := map[key]map[string]interface{}{}
		for _, id := range s.ofType("AWS::CloudWatch::Alarm") {
			p := s.props(id)
			if !jsonEq(p["AlarmActions"], []interface{}{topic}) {
				t.Errorf("alarm %s actions %v, want the alarm topic", id, p["AlarmActions"])
			}
			dim := ""
			for _, d := range asList(p["Dimensions"]) {
				dim = canon(d.(map[string]interface{})["Value"])
			}
			if ns, ok := p["Namespace"].(string); ok {
				alarms[key{ns, p["MetricName"].(string), dim}] = p
			}
		}
		for _, fn := range routes.Functions {
			f := canon(ref(s.id(s.stack.Functions[fn])))
			for _, m := range []string{"Errors", "Throttles"} {
				if a, ok := alarms[key{"AWS/Lambda", m, f}]; !ok || a["Threshold"] != 1.0 {
					t.Errorf("%s: no %s alarm (%v)", fn, m, a)
				}
			}
		}
		q := alarms[key{"AWS/SQS", "ApproximateNumberOfMessagesVisible", canon(getAtt(s.id(s.stack.FailureQueue), "QueueName"))}]
		if q == nil || q["Threshold"] != 0.0 || q["ComparisonOperator"] != "GreaterThanThreshold" {
			t.Errorf("failure queue alarm %v", q)
		}
		d := alarms[key{"AWS/SQS", "ApproximateNumberOfMessagesVisible", canon(getAtt(s.id(s.stack.SweepDLQ), "QueueName"))}]
		if d == nil || d["Threshold"] != 0.0 || d["ComparisonOperator"] != "GreaterThanThreshold" {
			t.Errorf("sweep dead-letter alarm %v", d)
		}
		if a := alarms[key{"AWS/ApiGateway", "5xx", canon(ref(s.id(s.stack.API)))}]; a == nil {
			t.Error("no API 5xx alarm")
		}
		// Any single credit mismatch or double charge pages: the service's
		// totals (no dimensions), whichever function records them.
		for _, m := range []string{"CreditMismatches", "DoubleChargesRefunded"} {
			a := alarms[key{"DSUBilling", m, ""}]
			if a == nil || a["Threshold"] != 1.0 || a["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" ||
				a["Statistic"] != "Sum" || a["Period"] != 300.0 || a["Dimensions"] != nil {
				t.Errorf("%s alarm %v", m, a)
			}
		}
		// One log metric filter: the purchases route's 429s in the access
		// log (every business alarm reads the EMF metrics).
		filters := s.ofType("AWS::Logs::MetricFilter")
		if len(filters) != 1 {
			t.Fatalf("metric filters %v, want the purchases route's 429s only", filters)
		}
		f := s.props(filters[0])
		pattern, _ := f["FilterPattern"].(string)
		transform := asList(f["MetricTransformations"])
		if !jsonEq(f["LogGroupName"], ref(s.id(s.stack.AccessLogs))) || len(transform) != 1 ||
			!strings.Contains(pattern, `$.routeKey = "POST /v1/purchases"`) || !strings.Contains(pattern, `$.status = "429"`) || !strings.Contains(pattern, "&&") {
			t.Errorf("the 429 filter %v", f)
		}
		if !slices.ContainsFunc(s.cfg.RouteTable(), func(r routes.Route) bool { return r.Key() == purchasesRouteKey }) {
			t.Errorf("the 429 filter names %q, no route of the table", purchasesRouteKey)
		}
		mt := transform[0].(map[string]interface{})
		flood := alarms[key{mt["MetricNamespace"].(string), mt["MetricName"].(string), ""}]
		if mt["MetricValue"] != "1" || flood == nil || flood["Threshold"] != 20.0 || flood["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" ||
			flood["Statistic"] != "Sum" || flood["Period"] != 300.0 {
			t.Errorf("the purchases 429 alarm %v (filter %v)", flood, mt)
		}
		// The refill failure rate: failed / (failed + succeeded), over an
		// hour, once enough refills ended.
		var rate map[string]interface{}
		for _, id := range s.ofType("AWS::CloudWatch::Alarm") {
			if p := s.props(id); p["Metrics"] != nil && strings.Contains(canon(p["Metrics"]), "RefillsFailed") {
				rate = p
			}
		}
		if rate == nil {
			t.Fatal("no refill failure rate alarm")
		}
		text := canon(rate["Metrics"])
		for _, q := range asList(rate["Metrics"]) {
			if e, ok := q.(map[string]interface{})["Expression"].(string); ok {
				text += " " + e
			}
		}
		for _, want := range []string{"RefillsFailed", "RefillsSucceeded", "100 * failed / (failed + succeeded)", "(failed + succeeded) >= 3", `"Period":3600`, `"Namespace":"DSUBilling"`} {
			if !strings.Contains(text, want) {
				t.Errorf("refill failure rate alarm lacks %s: %s", want, text)
			}
		}
		if rate["Threshold"] != 50.0 || rate["ComparisonOperator"] != "GreaterThanOrEqualToThreshold" || !jsonEq(rate["AlarmActions"], []interface{}{topic}) {
			t.Errorf("refill failure rate alarm %v", rate)
		}
		subs := 0
		if s.cfg.AlarmEmail != "" {
			subs = 1
			assert(t, "e-mail subscription", func() {
				s.template.HasResourceProperties(jsii.String("AWS::SNS::Subscription"), map[string]interface{}{
					"Protocol": "email", "Endpoint": s.cfg.AlarmEmail, "TopicArn": topic,
				})
			})
		}
		assert(t, "subscriptions", func() { s.template.ResourceCountIs(jsii.String("AWS::SNS::Subscription"), jsii.Number(float64(subs))) })
	})
}

// ---- Outputs ----

func TestOutputs(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		api := s.id(s.stack.API)
		val := func(name string) string {
			o, ok := s.outputs[name].(map[string]interface{})
			if !ok {
				t.Errorf("no output %s", name)
				return ""
			}
			return joined(o["Value"])
		}
		if got := val("ApiUrl"); got != "<GetAtt "+api+".ApiEndpoint>" {
			t.Errorf("ApiUrl = %s", got)
		}
		if got := val("WebhookUrl"); got != "<GetAtt "+api+".ApiEndpoint>/v1/stripe/webhook" {
			t.Errorf("WebhookUrl = %s", got)
		}
		if got := val("TableName"); got != "<Ref "+s.id(s.stack.Table)+">" {
			t.Errorf("TableName = %s", got)
		}
		for _, name := range []string{"StripeWebhookSecretArn", "CursorKeyArn", "EventBusName", "FailureQueueUrl", "AlarmTopicArn", "DashboardName"} {
			val(name)
		}
		// One output per function's Stripe key, named after the function.
		for fn, key := range s.stack.StripeKeys {
			if got := val(pascal(fn) + "StripeKeyArn"); got != "<Ref "+s.id(key)+">" {
				t.Errorf("%s's key output = %s", fn, got)
			}
		}
		if _, ok := s.outputs["StripeSecretKeyArn"]; ok {
			t.Error("the shared StripeSecretKeyArn output is still there")
		}
	})
}

// ---- Environment agnosticism ----

func TestNoLookupsNoFixedEnvironment(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		b, _ := json.Marshal(s.template.ToJSON())
		text := string(b)
		for _, bad := range []string{"123456789012:", "us-east-1", "eu-west-1"} {
			if bad == "123456789012:" && s.cfg.UsageReporterPrincipal != "" {
				continue
			}
			if strings.Contains(text, bad) {
				t.Errorf("template hard-codes %q", bad)
			}
		}
		if !awsTokenUnresolved(s) {
			t.Error("the stack has a concrete account or region")
		}
	})
}

func awsTokenUnresolved(s *synthed) bool {
	return strings.HasPrefix(*s.stack.Account(), "${Token[") && strings.HasPrefix(*s.stack.Region(), "${Token[")
}

// ---- Tracing ----

func TestActiveTracing(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		for fn, role := range s.functionRoles(t) {
			p := s.props(s.id(s.stack.Functions[fn]))
			if !jsonEq(p["TracingConfig"], map[string]string{"Mode": "Active"}) {
				t.Errorf("%s: TracingConfig %v", fn, p["TracingConfig"])
			}
			var xray bool
			for _, st := range s.roleStatements(role) {
				if hasAction(st, "xray:PutTraceSegments") && hasAction(st, "xray:PutTelemetryRecords") {
					xray = true
				}
			}
			if !xray {
				t.Errorf("%s cannot write traces", fn)
			}
		}
	})
}

// ---- Dashboard ----

func TestDashboard(t *testing.T) {
	variants(t, func(t *testing.T, s *synthed) {
		boards := s.ofType("AWS::CloudWatch::Dashboard")
		if len(boards) != 1 {
			t.Fatalf("dashboards %v", boards)
		}
		p := s.props(boards[0])
		if p["DashboardName"] != s.cfg.StackName {
			t.Errorf("DashboardName %v", p["DashboardName"])
		}
		body := joined(p["DashboardBody"])
		var want []string
		// Every business metric, as the service's total or by breakdown.
		for _, name := range metrics.Names() {
			want = append(want, `"DSUBilling","`+name+`"`)
			for _, b := range metrics.Specs[name].Breakdowns {
				want = append(want, `{DSUBilling,Function,`+b+`} MetricName=\"`+name+`\"`)
			}
		}
		// The Lambda, API and DynamoDB essentials.
		for _, fn := range routes.Functions {
			f := "<Ref " + s.id(s.stack.Functions[fn]) + ">"
			for _, m := range []string{"Invocations", "Errors", "Throttles", "Duration"} {
				want = append(want, `"AWS/Lambda","`+m+`","FunctionName","`+f+`"`)
			}
		}
		api := "<Ref " + s.id(s.stack.API) + ">"
		for _, m := range []string{"Count", "4xx", "5xx", "Latency", "IntegrationLatency"} {
			want = append(want, `"AWS/ApiGateway","`+m+`","ApiId","`+api+`"`)
		}
		table := "<Ref " + s.id(s.stack.Table) + ">"
		for _, m := range []string{"ThrottledRequests", "SystemErrors", "ReadThrottleEvents", "WriteThrottleEvents", "ConsumedReadCapacityUnits", "ConsumedWriteCapacityUnits"} {
			want = append(want, `"AWS/DynamoDB","`+m+`"`)
		}
		want = append(want, `"TableName","`+table+`"`, `"type":"alarm"`)
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Errorf("the dashboard lacks %s", w)
			}
		}
		// Its alarm widget shows every alarm.
		for _, id := range s.ofType("AWS::CloudWatch::Alarm") {
			if !strings.Contains(body, "<GetAtt "+id+".Arn>") {
				t.Errorf("the dashboard does not show alarm %s", id)
			}
		}
	})
}

// Every metric of internal/metrics and each of its breakdowns has a
// panel: a new metric shows up on the dashboard or fails here.
func TestDashboardShowsEveryBusinessMetric(t *testing.T) {
	totals, breakdowns := map[string]bool{}, map[string]bool{}
	for _, p := range businessPanels {
		for _, m := range p.totals {
			totals[m] = true
		}
		for _, m := range p.metrics {
			if p.breakdown == "" || !slices.Contains(metrics.Specs[m].Breakdowns, p.breakdown) {
				t.Errorf("panel %q: %s has no breakdown %q", p.title, m, p.breakdown)
			}
			breakdowns[m+" by "+p.breakdown] = true
		}
	}
	for _, name := range metrics.Names() {
		if !totals[name] {
			t.Errorf("no panel shows the total of %s", name)
		}
		for _, b := range metrics.Specs[name].Breakdowns {
			if !breakdowns[name+" by "+b] {
				t.Errorf("no panel shows %s by %s", name, b)
			}
		}
	}
}

// ---- Operators ----

// The operator routes (/v1/admin/*) use IAM authorization, and the operator
// role may invoke them and nothing else; the usage reporter role cannot.
// Derived from the route table: the role appears with the first operator
// route.
func TestOperatorRole(t *testing.T) {
	for _, v := range []*variant{devVariant, prodVariant} {
		s := v.get(t)
		hasOps := slices.ContainsFunc(s.cfg.RouteTable(), isOperatorRoute)
		if _, ok := s.outputs["OperatorRoleArn"]; ok != hasOps || (s.stack.OperatorRole != nil) != hasOps {
			t.Errorf("%s: operator role %v, operator routes %v", s.name, ok, hasOps)
		}
	}
	s := operatorVariant.get(t)
	byKey := map[string]string{}
	for _, id := range s.ofType("AWS::ApiGatewayV2::Route") {
		byKey[s.props(id)["RouteKey"].(string)] = id
	}
	var want []string
	for _, r := range operatorRoutes {
		if got := s.props(byKey[r.Key()])["AuthorizationType"]; got != "AWS_IAM" {
			t.Errorf("%s: AuthorizationType %v, want AWS_IAM", r.Key(), got)
		}
		want = append(want, "/$default/"+r.Method+pathWithWildcards(r.Path))
	}
	role := s.id(s.stack.OperatorRole)
	invoke := map[string][]string{}
	for _, st := range s.statements() {
		if !hasAction(st, "execute-api:Invoke") {
			continue
		}
		if len(st.actions) != 1 || st.raw["Effect"] != "Allow" {
			t.Errorf("%s: %v", st.policy, st.actions)
		}
		for _, r := range st.resources {
			text := joined(r)
			_, path, _ := strings.Cut(text, "/$default/")
			for _, who := range st.roles {
				invoke[who] = append(invoke[who], "/$default/"+path)
			}
		}
	}
	if got := sortedCopy(invoke[role]); !reflect.DeepEqual(got, sortedCopy(want)) {
		t.Errorf("the operator role may invoke %v, want exactly %v", got, sortedCopy(want))
	}
	for who, paths := range invoke {
		if who == role {
			continue
		}
		for _, p := range paths {
			if strings.Contains(p, routes.AdminPrefix) {
				t.Errorf("%s may invoke the operator route %s", who, p)
			}
		}
	}
	// Only the configured principal may assume it.
	trust := canon(s.props(role)["AssumeRolePolicyDocument"])
	if !strings.Contains(trust, `"AWS":"`+testOperatorPrincipal+`"`) {
		t.Errorf("operator role trust %s, want %s", trust, testOperatorPrincipal)
	}
	if _, ok := s.outputs["OperatorRoleArn"]; !ok {
		t.Error("no OperatorRoleArn output")
	}
}

// An operator route that is not IAM-authorized is refused at synth.
func TestOperatorRouteMustUseIAM(t *testing.T) {
	cfg := devConfig()
	cfg.StackName = "DsuBilling-bad"
	cfg.Routes = append(append([]routes.Route{}, fullRoutes...), rt("GET", "/v1/admin/partners/{partnerId}", routes.Purchases, routes.AuthJWT))
	_, err := NewBillingStack(awscdk.NewApp(nil), cfg.StackName, cfg)
	if err == nil || !strings.Contains(err.Error(), "must use IAM") {
		t.Errorf("an operator route with JWT auth: %v", err)
	}
}
