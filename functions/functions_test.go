// Tests of the Lambda entry points: each function's real binary, built as
// for deployment, started against an emulated Runtime API and invoked with
// the sample events under events/.
package functions_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/catalog"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/lambdatest"
	"github.com/cirasync/dsubilling/internal/openapitest"
	"github.com/cirasync/dsubilling/internal/stripemock"
)

var stripeURL string

func TestMain(m *testing.M) {
	mock, err := stripemock.Shared()
	if err != nil {
		fmt.Fprintln(os.Stderr, "stripe-mock:", err)
		os.Exit(1)
	}
	stripeURL = mock.URL
	code := m.Run()
	stripemock.StopShared()
	os.Exit(code)
}

// webhookSecret is the signing secret the functions are configured with.
const webhookSecret = "whsec_functions_test"

// seededTable is an emulated table with the catalog, as after deployment.
func seededTable(t *testing.T) *dynamotest.Emulator {
	t.Helper()
	emu := dynamotest.New(t)
	cat, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	if err := dynamo.New(emu.Client, dynamo.Options{Table: dynamotest.Table}).PutCatalog(context.Background(), cat); err != nil {
		t.Fatal(err)
	}
	return emu
}

// baseEnv configures a function against the emulated table and
// stripe-mock, the way the CDK stack configures it against AWS and Stripe.
func baseEnv(emu *dynamotest.Emulator) map[string]string {
	return map[string]string{
		"TABLE_NAME": dynamotest.Table, "DYNAMODB_ENDPOINT": emu.URL,
		"STRIPE_SECRET_KEY": "sk_test_functions", "STRIPE_API_BASE": stripeURL,
		"STRIPE_WEBHOOK_SECRET": webhookSecret,
	}
}

func invokeHTTP(t *testing.T, rt *lambdatest.RuntimeAPI, fixture string) events.APIGatewayV2HTTPResponse {
	t.Helper()
	return invokeEvent(t, rt, eventfixtures.Read(t, fixture))
}

// invokeEvent sends an API Gateway event and checks the function's response
// against docs/openapi.yaml.
func invokeEvent(t *testing.T, rt *lambdatest.RuntimeAPI, payload []byte) events.APIGatewayV2HTTPResponse {
	t.Helper()
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(payload, &req); err != nil || req.RouteKey == "" {
		t.Fatalf("not an API Gateway HTTP event (%v): %s", err, payload)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := rt.Invoke(ctx, payload)
	if err != nil {
		t.Fatal(err)
	}
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("not an API Gateway response: %s", out)
	}
	openapitest.CheckEvent(t, req, resp)
	return resp
}

func TestPurchasesListsPackages(t *testing.T) {
	emu := seededTable(t)
	rt := lambdatest.Start(t, lambdatest.Build(t, "purchases"), baseEnv(emu))
	resp := invokeHTTP(t, rt, "purchases/get-packages.json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var body struct {
		Currency string `json:"currency"`
		Packages []struct {
			ID             string `json:"id"`
			Units          int64  `json:"units"`
			SavingsPercent int    `json:"savingsPercent"`
			Price          struct {
				Amount   int64  `json:"amount"`
				Currency string `json:"currency"`
			} `json:"price"`
		} `json:"packages"`
	}
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
		t.Fatal(err)
	}
	if body.Currency != "usd" || len(body.Packages) != 5 || body.Packages[1].ID != "dsu-5000" ||
		body.Packages[1].Price.Amount != 23750 || body.Packages[1].SavingsPercent != 5 {
		t.Fatalf("body %s", resp.Body)
	}
	// The fixture's partner was unknown: its first request created it with
	// the welcome grant.
	acc, err := dynamo.New(emu.Client, dynamo.Options{Table: dynamotest.Table}).GetAccount(context.Background(), "partner-acme")
	if err != nil || acc.Units != 2000 {
		t.Fatalf("partner-acme account %+v, %v", acc, err)
	}
}

func TestMisconfiguredFunctionFailsInit(t *testing.T) {
	// Without TABLE_NAME the function refuses to start rather than fail
	// every request: Lambda reports the init failure.
	rt := lambdatest.NewRuntimeAPI(t)
	cmd := exec.Command(lambdatest.Build(t, "purchases"))
	cmd.Env = []string{"AWS_LAMBDA_RUNTIME_API=" + rt.Addr(), "AWS_REGION=us-east-1"}
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatal("the function started without a table name")
	}
	if !strings.Contains(string(out), "TABLE_NAME is required") {
		t.Fatalf("the log does not say what is missing: %s", out)
	}
}
