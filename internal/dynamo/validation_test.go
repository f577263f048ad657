package dynamo_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cirasync/dsubilling/internal/dsu"
	"github.com/cirasync/dsubilling/internal/dynamo"
	"github.com/cirasync/dsubilling/internal/dynamo/dynamotest"
)

// refusingDynamoDB answers every request as DynamoDB answers a value it
// cannot hold, through the real SDK client.
func refusingDynamoDB(t *testing.T, errorBody string) *dynamo.Store {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(errorBody))
	}))
	t.Cleanup(srv.Close)
	return dynamo.New(dynamo.NewEndpointClient(srv.URL), dynamo.Options{Table: dynamotest.Table})
}

// A ValidationException is the request's fault: a 400, never a 503 that
// invites retrying, and nothing of the refused value in the error.
func TestValidationExceptionIsAClientError(t *testing.T) {
	long := "p" + strings.Repeat("4242424242424242", 130) // over the 2,048-byte partition key limit
	store := refusingDynamoDB(t, `{"__type":"com.amazon.coral.validate#ValidationException","message":"One or more parameter values were invalid: Size of hashkey has exceeded the maximum size limit of 2048 bytes"}`)
	_, err := store.GetAccount(context.Background(), long)
	if dsu.ErrorKind(err) != dsu.KindInvalid || !errors.Is(err, dsu.ErrNotStorable) {
		t.Fatalf("ValidationException → %v", err)
	}
	if strings.Contains(err.Error(), "4242424242424242") {
		t.Fatalf("the error repeats the key: %v", err)
	}

	// The same refusal of one item of a transaction.
	store = refusingDynamoDB(t, `{"__type":"com.amazonaws.dynamodb.v20120810#TransactionCanceledException","message":"Transaction cancelled, please refer cancellation reasons for specific reasons [ValidationError]","CancellationReasons":[{"Code":"ValidationError","Message":"Item size has exceeded the maximum allowed size"}]}`)
	p := dsu.NewPartner("p1", dsu.PartnerDefaults{Currency: dsu.USD}, t0)
	if _, err := store.CreatePartner(context.Background(), p, 0); dsu.ErrorKind(err) != dsu.KindInvalid || !errors.Is(err, dsu.ErrNotStorable) {
		t.Fatalf("a transaction item refused → %v", err)
	}

	// Anything else the database says is still transient.
	store = refusingDynamoDB(t, `{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}`)
	if _, err := store.GetAccount(context.Background(), "p1"); dsu.ErrorKind(err) != dsu.KindUpstreamUnavailable {
		t.Fatalf("ResourceNotFoundException → %v", err)
	}
}

// A purchase id this system could not have issued is not found without a
// round trip, however long or strange.
func TestMalformedPurchaseIDsAreNotFoundWithoutAReadIn(t *testing.T) {
	f := newFixture(t)
	f.createPartner(t, "p1", 0)
	f.api.Reset()
	for _, id := range []string{strings.Repeat("pur_", 600), "pur_" + strings.Repeat("9", 2000), "pur_\xff\xfe", "pur_a#b", "", "PURCHASE#x", "pur_../x", "4242424242424242"} {
		if _, err := f.store.GetPurchase(context.Background(), "p1", id); dsu.ErrorKind(err) != dsu.KindNotFound {
			t.Errorf("%.20q: %v", id, err)
		}
	}
	if c := f.api.Counts(); c.Reads != 0 {
		t.Fatalf("%d reads for ids that cannot exist", c.Reads)
	}
}
