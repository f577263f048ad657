package functions_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
	"github.com/cirasync/dsubilling/internal/eventfixtures"
	"github.com/cirasync/dsubilling/internal/lambdatest"
	"github.com/cirasync/dsubilling/internal/openapitest"
)

// A DynamoDB endpoint that accepts the connection and never answers: the
// real function binary answers this API's 503 upstream_unavailable before
// the invocation's deadline, instead of running into the Lambda timeout
// (after which API Gateway would answer its own bare error).
func TestAHungTableIsA503BeforeTheDeadline(t *testing.T) {
	env := map[string]string{
		"TABLE_NAME": dynamotest.Table, "DYNAMODB_ENDPOINT": dynamotest.Unresponsive(t),
		"STRIPE_SECRET_KEY": "sk_test_functions", "STRIPE_API_BASE": stripeURL, "STRIPE_WEBHOOK_SECRET": webhookSecret,
	}
	for _, c := range []struct{ function, fixture string }{
		{"purchases", "purchases/get-balance.json"},
		{"billing", "billing/put-contact.json"},
		{"usage", "usage/post-usage.json"},
	} {
		t.Run(c.function, func(t *testing.T) {
			rt := lambdatest.Start(t, lambdatest.Build(t, c.function), env)
			payload := eventfixtures.Read(t, c.fixture)
			var req events.APIGatewayV2HTTPRequest
			if err := json.Unmarshal(payload, &req); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(3 * time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			out, err := rt.InvokeBy(ctx, payload, deadline)
			arrived := time.Now()
			if err != nil {
				t.Fatal(err)
			}
			if arrived.After(deadline) {
				t.Fatalf("the answer arrived %v after the deadline", arrived.Sub(deadline))
			}
			var resp events.APIGatewayV2HTTPResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("not an API Gateway response: %s", out)
			}
			openapitest.CheckEvent(t, req, resp)
			var problem struct {
				Status int    `json:"status"`
				Code   string `json:"code"`
			}
			if err := json.Unmarshal([]byte(resp.Body), &problem); err != nil || resp.StatusCode != 503 || problem.Code != "upstream_unavailable" {
				t.Fatalf("%d %s", resp.StatusCode, resp.Body)
			}
		})
	}
}
