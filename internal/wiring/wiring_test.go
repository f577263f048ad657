package wiring

import (
	"context"
	"testing"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cirasync/dsubilling/internal/config"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/logging"
)

// Both DynamoDB clients a function can get time out each HTTP attempt, so
// a hung table never holds a call without an end, even one made without a
// deadline (the store adds the invocation's; dynamo.New).
func TestDynamoDBClientsTimeOutEachAttempt(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"AWS": {"TABLE_NAME": "t", "AWS_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s",
			"CURSOR_KEY": "a-cursor-key-of-at-least-32-characters"},
		"endpoint": {"TABLE_NAME": "t", "DYNAMODB_ENDPOINT": "http://127.0.0.1:1"},
	} {
		getenv := func(k string) string { return env[k] }
		cfg, err := config.FromEnv(getenv)
		if err != nil {
			t.Fatal(err)
		}
		d, err := FromEnvironment(context.Background(), cfg, getenv, logging.Discard(), Needs{})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		client, ok := d.DynamoDB.(*dynamodb.Client)
		if !ok {
			t.Fatalf("%s: %T", name, d.DynamoDB)
		}
		hc, ok := client.Options().HTTPClient.(*awshttp.BuildableClient)
		if !ok || hc.GetTimeout() != dynamo.AttemptTimeout {
			t.Fatalf("%s: HTTP client %T without the attempt timeout", name, client.Options().HTTPClient)
		}
	}
}
