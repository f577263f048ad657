package dynamo_test

import (
	"context"
	"testing"
	"time"

	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

// A table that accepts the connection and never answers: the store gives
// up margin before the invocation's deadline, as unavailable, so the
// function still answers in time.
func TestStorageCallsEndBeforeTheInvocationsDeadline(t *testing.T) {
	const margin = 600 * time.Millisecond
	store := dynamo.New(dynamo.NewEndpointClient(dynamotest.Unresponsive(t)), dynamo.Options{Table: dynamotest.Table, AnswerMargin: margin})
	deadline := time.Now().Add(1500 * time.Millisecond)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()

	calls := map[string]func() error{
		"read": func() error { _, err := store.GetAccount(ctx, "p1"); return err },
		"transaction": func() error {
			_, err := store.CreatePartner(ctx, dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.USD}, t0), 0)
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
			t.Fatalf("%s: %v", name, err)
		}
		if left := time.Until(deadline); left < margin/2 {
			t.Fatalf("%s: gave up %v before the deadline, want about %v", name, left, margin)
		}
	}

	// With less than the margin left, a call does not start.
	ctx, cancel = context.WithDeadline(context.Background(), time.Now().Add(margin/2))
	defer cancel()
	start := time.Now()
	if _, err := store.GetAccount(ctx, "p1"); dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable || time.Since(start) > margin/4 {
		t.Fatalf("%v after %v", err, time.Since(start))
	}
}

// Each call's context ends margin before its caller's; a caller without a
// deadline imposes none (the HTTP client's attempt timeout still holds).
func TestStorageCallDeadlines(t *testing.T) {
	rec := &deadlineRecorder{}
	store := dynamo.New(rec, dynamo.Options{Table: dynamotest.Table})
	deadline := time.Now().Add(time.Minute)
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	_, _ = store.GetAccount(ctx, "p1")
	if !rec.ok || !rec.deadline.Equal(deadline.Add(-dynamo.DefaultAnswerMargin)) {
		t.Fatalf("the call's deadline %v (%v), want %v", rec.deadline, rec.ok, deadline.Add(-dynamo.DefaultAnswerMargin))
	}
	_, _ = store.GetAccount(context.Background(), "p1")
	if rec.ok {
		t.Fatalf("a deadline %v out of nowhere", rec.deadline)
	}

	client := dynamo.NewEndpointClient("http://127.0.0.1:1")
	if hc, ok := client.Options().HTTPClient.(*awshttp.BuildableClient); !ok || hc.GetTimeout() != dynamo.AttemptTimeout {
		t.Fatalf("the endpoint client's HTTP client %T has no attempt timeout", client.Options().HTTPClient)
	}
}

type deadlineRecorder struct {
	dynamo.API // unused methods panic
	deadline   time.Time
	ok         bool
}

func (r *deadlineRecorder) GetItem(ctx context.Context, _ *dynamodb.GetItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error) {
	r.deadline, r.ok = ctx.Deadline()
	return &dynamodb.GetItemOutput{}, nil
}
