package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/cirasync/dsubilling/internal/app"
	"github.com/cirasync/dsubilling/internal/awsjson"
	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/logging"
)

func publisher(t *testing.T, answer string, got *map[string]any) (*EventBridge, *bytes.Buffer) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Amz-Target") != "AWSEvents.PutEvents" {
			t.Errorf("target %q", r.Header.Get("X-Amz-Target"))
		}
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, got)
		w.Write([]byte(answer))
	}))
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "us-east-1", Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
		return aws.Credentials{AccessKeyID: "a", SecretAccessKey: "b"}, nil
	})}
	var logs bytes.Buffer
	return &EventBridge{Client: &awsjson.Client{Config: cfg, Service: "events", TargetPrefix: "AWSEvents", Endpoint: srv.URL},
		Bus: "dsu-events", Log: logging.New(&logs, "info")}, &logs
}

func TestPublishPutsOneEntry(t *testing.T) {
	var got map[string]any
	p, logs := publisher(t, `{"FailedEntryCount":0,"Entries":[{"EventId":"e1"}]}`, &got)
	p.Publish(context.Background(), app.DomainEvent{Type: app.EventRefillSucceeded, PartnerID: "p1", PurchaseID: "pur_1",
		Units: 1000, Amount: &dsu.Money{Amount: 5000, Currency: dsu.USD}, At: time.Date(2026, 11, 29, 0, 0, 0, 0, time.UTC)})
	entries := got["Entries"].([]any)
	e := entries[0].(map[string]any)
	if e["EventBusName"] != "dsu-events" || e["Source"] != Source || e["DetailType"] != "refill.succeeded" {
		t.Fatalf("entry %v", e)
	}
	var detail map[string]any
	json.Unmarshal([]byte(e["Detail"].(string)), &detail)
	if detail["partnerId"] != "p1" || detail["purchaseId"] != "pur_1" || detail["units"] != float64(1000) {
		t.Fatalf("detail %v", detail)
	}
	if logs.Len() != 0 {
		t.Fatalf("logged %s", logs.String())
	}
}

func TestRejectedEventsAreLoggedNotReturned(t *testing.T) {
	var got map[string]any
	p, logs := publisher(t, `{"FailedEntryCount":1,"Entries":[{"ErrorCode":"ThrottlingException","ErrorMessage":"slow down"}]}`, &got)
	p.Publish(context.Background(), app.DomainEvent{Type: app.EventAutoRefillPaused, PartnerID: "p1", Reason: "dispute"})
	if !strings.Contains(logs.String(), "ThrottlingException") || !strings.Contains(logs.String(), `"level":"ERROR"`) {
		t.Fatalf("logs %s", logs.String())
	}
}
