package main

// Shared fixtures of the assertion tests: each stack variant is synthesized
// once (jsii round trips are slow) and its template shared by all tests.
// Nothing here compiles Go, needs Docker, the network or AWS credentials:
// the functions' code is a directory of dummy bootstrap files.

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/cirasync/dsubilling/internal/routes"
)

var fakeCodeDir string

func TestMain(m *testing.M) {
	// The machine's Node.js may be past its end of life; jsii's banner about
	// it would bury the test output.
	if os.Getenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == "" {
		os.Setenv("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "18,20")
	}
	dir, err := os.MkdirTemp("", "dsu-infra-code-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	for _, fn := range routes.Functions {
		if err := os.MkdirAll(filepath.Join(dir, fn), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		// Distinct content per function, so each gets its own asset.
		if err := os.WriteFile(filepath.Join(dir, fn, "bootstrap"), []byte("#!/bin/sh\n# fake "+fn+"\n"), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	fakeCodeDir = dir
	code := m.Run()
	jsii.Close()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fullRoutes is the full route table of docs/API.md:
// the prod variant is generated from it, so the stack is checked against the
// whole API even while routes.All is still growing.
var fullRoutes = []routes.Route{
	rt("GET", "/v1/billing", routes.Billing, routes.AuthJWT),
	rt("PUT", "/v1/billing/contact", routes.Billing, routes.AuthJWT),
	rt("POST", "/v1/billing/card/setup-intent", routes.Billing, routes.AuthJWT),
	rt("PUT", "/v1/billing/card", routes.Billing, routes.AuthJWT),
	rt("DELETE", "/v1/billing/card", routes.Billing, routes.AuthJWT),
	rt("PUT", "/v1/billing/auto-refill", routes.Billing, routes.AuthJWT),
	rt("GET", "/v1/audit", routes.Billing, routes.AuthJWT),
	rt("GET", "/v1/packages", routes.Purchases, routes.AuthJWT),
	rt("POST", "/v1/purchases", routes.Purchases, routes.AuthJWT),
	rt("GET", "/v1/purchases", routes.Purchases, routes.AuthJWT),
	rt("GET", "/v1/purchases/{id}", routes.Purchases, routes.AuthJWT),
	rt("POST", "/v1/purchases/{id}/confirm", routes.Purchases, routes.AuthJWT),
	rt("GET", "/v1/balance", routes.Purchases, routes.AuthJWT),
	rt("GET", "/v1/ledger", routes.Purchases, routes.AuthJWT),
	rt("GET", "/v1/usage", routes.Purchases, routes.AuthJWT),
	rt("GET", "/v1/statements/{month}", routes.Purchases, routes.AuthJWT),
	rt("POST", "/v1/stripe/webhook", routes.StripeWebhook, routes.AuthNone),
	rt("POST", "/v1/internal/usage", routes.Usage, routes.AuthIAM),
	rt("GET", "/v1/admin/partners/{partnerId}", routes.Admin, routes.AuthIAM),
	rt("POST", "/v1/admin/partners/{partnerId}/adjustments", routes.Admin, routes.AuthIAM),
	rt("POST", "/v1/admin/partners/{partnerId}/dispute-hold/release", routes.Admin, routes.AuthIAM),
	rt("GET", "/v1/admin/partners/{partnerId}/verify", routes.Admin, routes.AuthIAM),
}

func rt(method, path, fn string, auth routes.Auth) routes.Route {
	return routes.Route{Method: method, Path: path, Function: fn, Auth: auth}
}

// The variants.
func devConfig() Config {
	return Config{
		StackName: "DsuBilling-dev", Stage: "dev",
		PortalOrigins: []string{DefaultDevPortalOrigin}, CodeDir: fakeCodeDir,
		AutoRefillConcurrency: DefaultAutoRefillReserved, UsageConcurrency: DefaultUsageReserved,
	}
}

const (
	testIssuer   = "https://login.example.com/tenant/v2.0"
	testAudience = "portal-client-id"
	testOrigin   = "https://portal.example.com"
	testEmail    = "oncall@example.com"
	testAccount  = "123456789012"
)

func prodConfig() Config {
	return Config{
		StackName: "DsuBilling-prod", Stage: "prod",
		JWTIssuer: testIssuer, JWTAudience: []string{testAudience},
		PortalOrigins: []string{testOrigin}, AlarmEmail: testEmail, CodeDir: fakeCodeDir,
		AutoRefillConcurrency: DefaultAutoRefillReserved, UsageConcurrency: DefaultUsageReserved, UsageReporterPrincipal: testAccount,
		Routes: fullRoutes,
	}
}

// synthed is one synthesized stack.
type synthed struct {
	name     string
	cfg      Config
	stack    *BillingStack
	template assertions.Template
	res      map[string]map[string]interface{} // logical id → resource
	outputs  map[string]interface{}
}

type variant struct {
	once sync.Once
	s    *synthed
	err  error
	cfg  func() Config
}

var (
	devVariant  = &variant{cfg: devConfig}
	prodVariant = &variant{cfg: prodConfig}
)

func (v *variant) get(t *testing.T) *synthed {
	t.Helper()
	v.once.Do(func() { v.s, v.err = synth(v.cfg()) })
	if v.err != nil {
		t.Fatalf("synth: %v", v.err)
	}
	return v.s
}

// variants runs f for each stack variant as subtests.
func variants(t *testing.T, f func(t *testing.T, s *synthed)) {
	for _, v := range []*variant{devVariant, prodVariant} {
		s := v.get(t)
		t.Run(s.name, func(t *testing.T) { f(t, s) })
	}
}

// cdkJSONContext is the context of cdk.json (the feature flags), so the
// tests synthesize what `cdk synth` synthesizes.
func cdkJSONContext() (map[string]interface{}, error) {
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		return nil, err
	}
	var f struct {
		Context map[string]interface{} `json:"context"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, err
	}
	return f.Context, nil
}

func synth(cfg Config) (s *synthed, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	ctx, err := cdkJSONContext()
	if err != nil {
		return nil, err
	}
	app := awscdk.NewApp(&awscdk.AppProps{Context: &ctx})
	stack, err := NewBillingStack(app, cfg.StackName, cfg)
	if err != nil {
		return nil, err
	}
	tmpl := assertions.Template_FromStack(stack.Stack, nil)
	b, err := json.Marshal(tmpl.ToJSON())
	if err != nil {
		return nil, err
	}
	var doc struct {
		Resources map[string]map[string]interface{}
		Outputs   map[string]interface{}
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	return &synthed{name: cfg.Stage, cfg: cfg, stack: stack, template: tmpl, res: doc.Resources, outputs: doc.Outputs}, nil
}

// assert runs a jsii assertion, turning its panic into a test error.
func assert(t *testing.T, what string, f func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	f()
}

// id is the logical id of a construct's CloudFormation resource.
func (s *synthed) id(c constructs.IConstruct) string {
	return *s.stack.GetLogicalId(c.Node().DefaultChild().(awscdk.CfnElement))
}

func ref(id string) map[string]interface{} { return map[string]interface{}{"Ref": id} }
func getAtt(id, attr string) map[string]interface{} {
	return map[string]interface{}{"Fn::GetAtt": []interface{}{id, attr}}
}

// env is the synthesized Environment.Variables of a function.
func (s *synthed) env(fn string) map[string]interface{} {
	e, _ := s.props(s.id(s.stack.Functions[fn]))["Environment"].(map[string]interface{})
	vars, _ := e["Variables"].(map[string]interface{})
	return vars
}

// plausible is a value CloudFormation could resolve a template value to: a
// string as it is, a reference as a made-up name or ARN of the kind the
// resource's Ref returns.
func (s *synthed) plausible(v interface{}) (string, error) {
	switch v := v.(type) {
	case string:
		return v, nil
	case map[string]interface{}:
		if id, ok := v["Ref"].(string); ok && len(v) == 1 {
			switch typ, _ := s.res[id]["Type"].(string); typ {
			case "AWS::DynamoDB::Table":
				return s.cfg.StackName + "-" + id + "-1X2Y3Z4W5V6U", nil
			case "AWS::Events::EventBus":
				return s.cfg.StackName + id + "A1B2C3D4", nil
			case "AWS::SecretsManager::Secret":
				return "arn:aws:secretsmanager:eu-west-1:" + testAccount + ":secret:" + id + "-AbCdEf", nil
			default:
				return "", fmt.Errorf("Ref %s of type %q: give it a plausible value in plausible()", id, typ)
			}
		}
		if join, ok := v["Fn::Join"].([]interface{}); ok && len(v) == 1 && len(join) == 2 {
			sep, _ := join[0].(string)
			var parts []string
			for _, p := range asList(join[1]) {
				part, err := s.plausible(p)
				if err != nil {
					return "", err
				}
				parts = append(parts, part)
			}
			return strings.Join(parts, sep), nil
		}
	}
	return "", fmt.Errorf("%s: give it a plausible value in plausible()", canon(v))
}

// ofType lists the resources of a type, sorted by logical id.
func (s *synthed) ofType(typ string) []string {
	var ids []string
	for id, r := range s.res {
		if r["Type"] == typ {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (s *synthed) props(id string) map[string]interface{} {
	p, _ := s.res[id]["Properties"].(map[string]interface{})
	return p
}

// jsonEq compares values after a JSON round trip.
func jsonEq(a, b interface{}) bool { return canon(a) == canon(b) }

func canon(v interface{}) string {
	b, _ := json.Marshal(v)
	var x interface{}
	_ = json.Unmarshal(b, &x)
	b, _ = json.Marshal(x)
	return string(b)
}

// statement is one IAM statement and the roles its policy is attached to.
type statement struct {
	policy    string
	roles     []string
	actions   []string
	resources []interface{}
	raw       map[string]interface{}
}

func asList(v interface{}) []interface{} {
	if l, ok := v.([]interface{}); ok {
		return l
	}
	if v == nil {
		return nil
	}
	return []interface{}{v}
}

// statements lists every statement of every AWS::IAM::Policy and inline
// role policy.
func (s *synthed) statements() []statement {
	var out []statement
	add := func(policy string, roles []string, doc interface{}) {
		d, _ := doc.(map[string]interface{})
		for _, st := range asList(d["Statement"]) {
			m := st.(map[string]interface{})
			var acts []string
			for _, a := range asList(m["Action"]) {
				acts = append(acts, a.(string))
			}
			out = append(out, statement{policy: policy, roles: roles, actions: acts, resources: asList(m["Resource"]), raw: m})
		}
	}
	for _, id := range s.ofType("AWS::IAM::Policy") {
		p := s.props(id)
		var roles []string
		for _, r := range asList(p["Roles"]) {
			if m, ok := r.(map[string]interface{}); ok {
				roles = append(roles, fmt.Sprint(m["Ref"]))
			}
		}
		add(id, roles, p["PolicyDocument"])
	}
	for _, id := range s.ofType("AWS::IAM::Role") {
		for _, p := range asList(s.props(id)["Policies"]) {
			add(id, []string{id}, p.(map[string]interface{})["PolicyDocument"])
		}
	}
	return out
}

// functionRoles maps each function name to its role's logical id.
func (s *synthed) functionRoles(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, fn := range routes.Functions {
		role := s.props(s.id(s.stack.Functions[fn]))["Role"].(map[string]interface{})["Fn::GetAtt"].([]interface{})[0].(string)
		out[fn] = role
	}
	return out
}

func (s *synthed) roleStatements(role string) []statement {
	var out []statement
	for _, st := range s.statements() {
		for _, r := range st.roles {
			if r == role {
				out = append(out, st)
			}
		}
	}
	return out
}

func hasAction(st statement, action string) bool {
	for _, a := range st.actions {
		if a == action {
			return true
		}
	}
	return false
}

func refersTo(resources []interface{}, v interface{}) bool {
	for _, r := range resources {
		if jsonEq(r, v) {
			return true
		}
	}
	return false
}

func keys(m map[string]interface{}) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sortedCopy(l []string) []string {
	out := append([]string(nil), l...)
	sort.Strings(out)
	return out
}

// joined flattens an Fn::Join into a string, writing references as <Ref id>
// or <GetAtt id.attr>.
func joined(v interface{}) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]interface{}:
		if j, ok := x["Fn::Join"].([]interface{}); ok {
			var parts []string
			for _, p := range j[1].([]interface{}) {
				parts = append(parts, joined(p))
			}
			return strings.Join(parts, j[0].(string))
		}
		if r, ok := x["Ref"]; ok {
			return fmt.Sprintf("<Ref %v>", r)
		}
		if g, ok := x["Fn::GetAtt"].([]interface{}); ok {
			return fmt.Sprintf("<GetAtt %v.%v>", g[0], g[1])
		}
	}
	return canon(v)
}
