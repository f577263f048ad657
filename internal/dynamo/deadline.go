package dynamo

import (
	"context"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// Storage calls end before the invocation does (ARCHITECTURE.md,
// "Timeouts"). A DynamoDB endpoint that accepts the connection and never
// answers would otherwise hold a call until Lambda kills the function, and
// the caller would get API Gateway's bare error instead of this API's 503.

// DefaultAnswerMargin is the time every storage call leaves before the
// invocation's deadline: enough to render the 503 and hand it to Lambda.
const DefaultAnswerMargin = time.Second

// AttemptTimeout bounds one HTTP attempt of a DynamoDB call, whatever its
// context: the backstop for calls without a deadline (tools, tests) and
// the point at which the SDK retries a hung attempt on a new connection.
// DynamoDB answers in milliseconds; a transaction of 100 items in well
// under a second.
const AttemptTimeout = 5 * time.Second

// HTTPClient is the HTTP client of every DynamoDB client this system
// builds, with AttemptTimeout.
func HTTPClient() *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTimeout(AttemptTimeout)
}

// withDeadlines wraps api so that each call's context ends margin before
// the deadline of the context it is given (the Lambda invocation's, which
// aws-lambda-go sets from the Runtime API). A call whose context has no
// deadline runs as it is; one made with less than margin left fails at
// once, as unavailable.
func withDeadlines(api API, margin time.Duration) API {
	return deadlineAPI{api: api, margin: margin}
}

var _ API = deadlineAPI{}

type deadlineAPI struct {
	api    API
	margin time.Duration
}

func (d deadlineAPI) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		return ctx, func() {}
	}
	return context.WithDeadline(ctx, deadline.Add(-d.margin))
}

func (d deadlineAPI) GetItem(ctx context.Context, in *dynamodb.GetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.api.GetItem(ctx, in, opts...)
}

func (d deadlineAPI) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.api.BatchGetItem(ctx, in, opts...)
}

func (d deadlineAPI) PutItem(ctx context.Context, in *dynamodb.PutItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.api.PutItem(ctx, in, opts...)
}

func (d deadlineAPI) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.api.UpdateItem(ctx, in, opts...)
}

func (d deadlineAPI) Query(ctx context.Context, in *dynamodb.QueryInput, opts ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.api.Query(ctx, in, opts...)
}

func (d deadlineAPI) TransactWriteItems(ctx context.Context, in *dynamodb.TransactWriteItemsInput, opts ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error) {
	ctx, cancel := d.bound(ctx)
	defer cancel()
	return d.api.TransactWriteItems(ctx, in, opts...)
}
