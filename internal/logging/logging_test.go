package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/aws/aws-lambda-go/lambdacontext"
)

func TestLinesCarryTheRequestID(t *testing.T) {
	var buf bytes.Buffer
	log := New(&buf, "info").With("function", "purchases")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-123"})
	log.InfoContext(ctx, "hello", "n", 1)
	log.DebugContext(ctx, "not at info")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %q", buf.String())
	}
	if line["requestId"] != "req-123" || line["function"] != "purchases" || line["msg"] != "hello" {
		t.Fatalf("line = %v", line)
	}
}
